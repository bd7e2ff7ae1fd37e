// Resource limits (docs/SECURITY.md): ContextOptions::max_cache_bytes caps the sequence state a
// context holds, over all sequences; going past it is ErrorCode::out_of_memory with nothing
// changed. Context geometry of the tiny test model: 3 blocks, kv_dim 32, conv channels 96,
// value_proj 16; so 768 bytes of KV per token and (2*96 + 16 + window*96) * 3 * 4 bytes of fixed
// state per sequence.
#include "test_support.h"

#include <zaya/context.h>
#include <zaya/error.h>

#include <numeric>

using namespace zaya;

namespace {

template <typename F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  FAIL("no zaya::Error was thrown");
  return Error(ErrorCode::ok, "");
}

std::shared_ptr<const Model> tiny_model() {
  static const auto model = Model::load(test::checkpoint("native-f32"));
  return model;
}

constexpr size_t kKvBytesPerToken = 3 * 2 * 32 * 4;
constexpr size_t fixed_bytes(size_t window) { return (2 * 96 + 16 + window * 96) * 3 * 4; }

std::vector<int32_t> tokens(size_t n) {
  std::vector<int32_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = static_cast<int32_t>(3 + (i * 37) % 300);
  return ids;
}

}  // namespace

TEST_CASE("max_cache_bytes: the fixed state of every sequence must fit at construction") {
  const size_t fixed = fixed_bytes(8);
  ContextOptions o{.max_sequences = 4, .max_context = 64, .threads = 1, .truncate_window = 8};
  o.max_cache_bytes = 4 * fixed - 1;
  const Error e = error_of([&] { Context ctx(tiny_model(), o); });
  CHECK(e.code() == ErrorCode::out_of_memory);
  CHECK(std::string(e.what()).find("max_cache_bytes") != std::string::npos);
  o.max_cache_bytes = 4 * fixed;
  Context ctx(tiny_model(), o);
  CHECK(ctx.total_state_bytes() == 4 * fixed);
}

TEST_CASE("max_cache_bytes: decode grows the caches up to the cap, exactly, and fails past it without changes") {
  const size_t fixed = fixed_bytes(8);
  ContextOptions o{.max_sequences = 2, .max_context = 64, .threads = 1, .truncate_window = 8};
  o.max_cache_bytes = 2 * fixed + 20 * kKvBytesPerToken;  // room for 20 tokens in all
  Context ctx(tiny_model(), o);
  Context reference(tiny_model(), {.max_sequences = 2, .max_context = 64, .threads = 1, .truncate_window = 8});

  // 12 tokens, then one at a time: doubling would want 24 rows, the cap leaves room for exactly
  // what is needed, and the logits equal those of an uncapped context.
  const auto prompt = tokens(12);
  CHECK(ctx.prefill(0, prompt) == reference.prefill(0, prompt));
  CHECK(ctx.total_state_bytes() == 2 * fixed + 12 * kKvBytesPerToken);
  for (int32_t t : {5, 6, 7}) {
    const std::vector<int32_t> one = {t};
    CHECK(ctx.prefill(0, one) == reference.prefill(0, one));
    CHECK(ctx.total_state_bytes() <= o.max_cache_bytes);
  }
  CHECK(ctx.length(0) == 15);
  // Sequence 1 may take the remaining 5 tokens, not 6.
  const Error e = error_of([&] { ctx.prefill(1, tokens(6)); });
  CHECK(e.code() == ErrorCode::out_of_memory);
  CHECK(std::string(e.what()).find("max_cache_bytes") != std::string::npos);
  CHECK(ctx.length(1) == 0);
  CHECK(ctx.logits_rows() == 0);
  CHECK(ctx.total_state_bytes() <= o.max_cache_bytes);
  CHECK_NOTHROW(ctx.prefill(1, tokens(5)));
  CHECK(ctx.total_state_bytes() == o.max_cache_bytes);
  // Full: one more token anywhere fails, and both sequences still work after clear().
  const std::vector<int32_t> one = {9};
  CHECK(error_of([&] { ctx.prefill(0, one); }).code() == ErrorCode::out_of_memory);
  CHECK(ctx.length(0) == 15);
  ctx.clear(1);
  CHECK(ctx.total_state_bytes() == 2 * fixed + 15 * kKvBytesPerToken);
  CHECK_NOTHROW(ctx.prefill(0, one));
  CHECK(ctx.length(0) == 16);
}

TEST_CASE("max_cache_bytes: fork counts the copy") {
  const size_t fixed = fixed_bytes(4);
  ContextOptions o{.max_sequences = 3, .max_context = 64, .threads = 1, .truncate_window = 4};
  o.max_cache_bytes = 3 * fixed + 25 * kKvBytesPerToken;
  Context ctx(tiny_model(), o);
  ctx.prefill(0, tokens(10));
  CHECK_NOTHROW(ctx.fork(0, 1));  // 20 tokens of KV now
  CHECK(ctx.length(1) == 10);
  const Error e = error_of([&] { ctx.fork(0, 2); });
  CHECK(e.code() == ErrorCode::out_of_memory);
  CHECK(ctx.length(2) == 0);
  CHECK_NOTHROW(ctx.fork(0, 1));  // replacing the target frees what it held
  CHECK(ctx.total_state_bytes() <= o.max_cache_bytes);
}

TEST_CASE("max_cache_bytes = 0 keeps the uncapped behaviour; absurd contexts are errors, not crashes") {
  Context ctx(tiny_model(), {.max_sequences = 1, .max_context = 64, .threads = 1});
  CHECK_NOTHROW(ctx.prefill(0, tokens(64)));
  CHECK(ctx.total_state_bytes() >= 64 * kKvBytesPerToken);
  // Options outside their ranges.
  CHECK(error_of([&] { Context c(tiny_model(), {.max_sequences = 0}); }).code() == ErrorCode::invalid_argument);
  CHECK(error_of([&] { Context c(tiny_model(), {.max_sequences = 65537}); }).code() == ErrorCode::invalid_argument);
  CHECK(error_of([&] { Context c(tiny_model(), {.max_context = 0}); }).code() == ErrorCode::invalid_argument);
  CHECK(error_of([&] { Context c(tiny_model(), {.threads = -1}); }).code() == ErrorCode::invalid_argument);
  CHECK(error_of([&] { Context c(nullptr); }).code() == ErrorCode::invalid_argument);
  // The largest context the options allow, with a cap the host can afford: refused up front
  // instead of allocating gigabytes of truncate rings.
  ContextOptions huge{.max_sequences = 65536, .max_context = 4096, .threads = 1, .truncate_window = 4096};
  huge.max_cache_bytes = uint64_t(1) << 30;
  const Error e = error_of([&] { Context c(tiny_model(), huge); });
  CHECK(e.code() == ErrorCode::out_of_memory);
}
