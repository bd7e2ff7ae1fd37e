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
  // The KV caches grow in key blocks of 16 positions (zaya/backend.h, kv_key_block).
  const size_t fixed = fixed_bytes(8), block = 16 * kKvBytesPerToken;
  ContextOptions o{.max_sequences = 2, .max_context = 64, .threads = 1, .truncate_window = 8};
  o.max_cache_bytes = 2 * fixed + 4 * block;  // room for 64 tokens in all
  Context ctx(tiny_model(), o);
  Context reference(tiny_model(), {.max_sequences = 2, .max_context = 64, .threads = 1, .truncate_window = 8});
  auto step = [&](int32_t sequence, std::vector<int32_t> ids) {
    CHECK(ctx.prefill(sequence, ids) == reference.prefill(sequence, ids));  // same logits as uncapped
    CHECK(ctx.total_state_bytes() <= o.max_cache_bytes);
  };

  // 20 tokens take two blocks; one at a time up to 32 tokens they do not grow.
  step(0, tokens(20));
  CHECK(ctx.total_state_bytes() == 2 * fixed + 2 * block);
  for (int32_t t = 0; t < 12; ++t) step(0, {5 + t});
  CHECK(ctx.total_state_bytes() == 2 * fixed + 2 * block);
  step(1, tokens(6));
  CHECK(ctx.total_state_bytes() == 2 * fixed + 3 * block);
  // Token 33 of sequence 0: doubling would want 64 positions (four blocks, five in all); the cap
  // leaves room for exactly the block that is needed.
  step(0, {9});
  CHECK(ctx.length(0) == 33);
  CHECK(ctx.total_state_bytes() == o.max_cache_bytes);
  // Sequence 1 may fill its block (16 tokens), not more.
  step(1, tokens(10));
  const Error e = error_of([&] { ctx.prefill(1, tokens(1)); });
  CHECK(e.code() == ErrorCode::out_of_memory);
  CHECK(std::string(e.what()).find("max_cache_bytes") != std::string::npos);
  CHECK(ctx.length(1) == 16);
  CHECK(ctx.logits_rows() == 0);
  CHECK(ctx.total_state_bytes() == o.max_cache_bytes);
  // Sequence 0 fills its third block; one more token fails and changes nothing.
  for (int32_t t = 0; t < 15; ++t) step(0, {20 + t});
  CHECK(ctx.length(0) == 48);
  const std::vector<int32_t> one = {9};
  CHECK(error_of([&] { ctx.prefill(0, one); }).code() == ErrorCode::out_of_memory);
  CHECK(ctx.length(0) == 48);
  // clear() makes room: sequence 0 grows to max_context (64 positions, its fourth block).
  ctx.clear(1);
  CHECK(ctx.total_state_bytes() == 2 * fixed + 3 * block);
  step(0, one);
  CHECK(ctx.length(0) == 49);
  CHECK(ctx.total_state_bytes() == o.max_cache_bytes);
}

TEST_CASE("max_cache_bytes: fork counts the copy") {
  const size_t fixed = fixed_bytes(4), block = 16 * kKvBytesPerToken;
  ContextOptions o{.max_sequences = 3, .max_context = 64, .threads = 1, .truncate_window = 4};
  o.max_cache_bytes = 3 * fixed + 2 * block;
  Context ctx(tiny_model(), o);
  ctx.prefill(0, tokens(10));
  CHECK_NOTHROW(ctx.fork(0, 1));  // two blocks of KV now
  CHECK(ctx.length(1) == 10);
  CHECK(ctx.total_state_bytes() == o.max_cache_bytes);
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
