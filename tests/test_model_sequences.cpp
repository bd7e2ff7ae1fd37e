// Sequence state: prefill = chunked prefill = token-by-token decode; interleaved multi-sequence
// batches; fork, truncate, clear; cancellation and failures leave every sequence unchanged.
#include "test_support.h"

#include <zaya/context.h>
#include <zaya/error.h>

using namespace zaya;
using zaya::test::checkpoint;
using zaya::test::relative_error;

namespace {

std::shared_ptr<const Model> tiny() {
  static auto model = Model::load(checkpoint("native-f32"), {.backend = "cpu"});
  return model;
}

const std::vector<int32_t> kPrompt = {2, 17, 5, 99, 300, 41, 41, 7, 250, 3, 12, 8, 64, 128, 200, 1, 9, 77, 31, 6, 150, 42};

// Logits after each token of `ids`, fed in chunks of the given sizes (cycled).
std::vector<std::vector<float>> run_chunked(Context& ctx, int32_t seq, const std::vector<int32_t>& ids,
                                            std::vector<size_t> chunks) {
  std::vector<std::vector<float>> out;
  size_t pos = 0, c = 0;
  while (pos < ids.size()) {
    size_t len = std::min(chunks[c++ % chunks.size()], ids.size() - pos);
    std::vector<BatchToken> batch;
    for (size_t i = 0; i < len; ++i) batch.push_back({seq, ids[pos + i], true});
    ctx.decode(batch);
    for (size_t i = 0; i < len; ++i) out.emplace_back(ctx.logits(i).begin(), ctx.logits(i).end());
    pos += len;
  }
  return out;
}

double max_error(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  REQUIRE(a.size() == b.size());
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i) e = std::max(e, relative_error(a[i], b[i]));
  return e;
}

}  // namespace

TEST_CASE("prefill, chunked prefill and token-by-token decode agree") {
  Context full(tiny(), {.max_context = 64});
  auto reference = run_chunked(full, 0, kPrompt, {kPrompt.size()});
  for (auto chunks : std::vector<std::vector<size_t>>{{1}, {2}, {3, 1}, {7}, {5, 2, 9}, {21, 1}}) {
    Context ctx(tiny(), {.max_context = 64});
    const double err = max_error(run_chunked(ctx, 0, kPrompt, chunks), reference);
    CAPTURE(chunks.size());
    CHECK(err <= 1e-5);
  }
  Context one(tiny(), {.max_context = 64});
  MESSAGE("token-by-token vs one-shot prefill: relative error " << max_error(run_chunked(one, 0, kPrompt, {1}), reference));
}

TEST_CASE("interleaved sequences in one batch match separate runs") {
  std::vector<int32_t> a(kPrompt.begin(), kPrompt.begin() + 9), b(kPrompt.begin() + 5, kPrompt.end());
  Context solo(tiny(), {.max_sequences = 1, .max_context = 64});
  auto ra = run_chunked(solo, 0, a, {a.size()});
  solo.clear(0);
  auto rb = run_chunked(solo, 0, b, {b.size()});

  Context ctx(tiny(), {.max_sequences = 3, .max_context = 64});
  std::vector<BatchToken> batch;
  size_t ia = 0, ib = 0;
  while (ia < a.size() || ib < b.size()) {  // a, b, b, a, b, b, ...
    if (ia < a.size()) batch.push_back({2, a[ia++], true});
    for (int k = 0; k < 2 && ib < b.size(); ++k) batch.push_back({0, b[ib++], true});
  }
  ctx.decode(batch);
  size_t row = 0;
  ia = ib = 0;
  for (const auto& t : batch) {
    auto logits = ctx.logits(row++);
    const auto& ref = t.sequence == 2 ? ra[ia++] : rb[ib++];
    CHECK(relative_error(logits, ref) <= 1e-5);
  }
  CHECK(ctx.length(2) == static_cast<int64_t>(a.size()));
  CHECK(ctx.length(0) == static_cast<int64_t>(b.size()));
  CHECK(ctx.length(1) == 0);
}

TEST_CASE("fork copies all state: both branches continue exactly") {
  std::vector<int32_t> prefix(kPrompt.begin(), kPrompt.begin() + 10);
  std::vector<int32_t> tail1 = {5, 6, 7}, tail2 = {300, 2, 11, 19};
  Context ref(tiny(), {.max_context = 64});
  auto full1 = prefix; full1.insert(full1.end(), tail1.begin(), tail1.end());
  auto full2 = prefix; full2.insert(full2.end(), tail2.begin(), tail2.end());
  auto r1 = run_chunked(ref, 0, full1, {full1.size()});
  ref.clear(0);
  auto r2 = run_chunked(ref, 0, full2, {full2.size()});

  Context ctx(tiny(), {.max_sequences = 2, .max_context = 64});
  ctx.prefill(0, prefix);
  ctx.fork(0, 1);
  CHECK(ctx.length(1) == 10);
  auto b1 = run_chunked(ctx, 0, tail1, {1});
  auto b2 = run_chunked(ctx, 1, tail2, {2});
  CHECK(max_error(b1, {r1.end() - 3, r1.end()}) <= 1e-5);
  CHECK(max_error(b2, {r2.end() - 4, r2.end()}) <= 1e-5);
}

TEST_CASE("truncate rewinds exactly within the window, and refuses beyond it") {
  Context ctx(tiny(), {.max_context = 64, .truncate_window = 8});
  auto reference = run_chunked(ctx, 0, kPrompt, {kPrompt.size()});
  const int64_t n = static_cast<int64_t>(kPrompt.size());
  for (int64_t cut : {n - 1, n - 3, n - 6}) {
    ctx.truncate(0, cut);
    CHECK(ctx.length(0) == cut);
    std::vector<int32_t> rest(kPrompt.begin() + cut, kPrompt.end());
    auto again = run_chunked(ctx, 0, rest, {2});
    CHECK(max_error(again, {reference.begin() + cut, reference.end()}) <= 1e-5);
  }
  try {
    ctx.truncate(0, 3);
    FAIL("truncating past the window must fail");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::out_of_range);
  }
  CHECK(ctx.length(0) == n);  // a refused truncate changes nothing
  CHECK_THROWS_AS(ctx.truncate(0, n + 1), Error);
  ctx.truncate(0, 0);
  CHECK(ctx.length(0) == 0);
  auto fresh = run_chunked(ctx, 0, kPrompt, {4});
  CHECK(max_error(fresh, reference) <= 1e-5);
}

TEST_CASE("invalid batches are rejected before any state changes") {
  Context ctx(tiny(), {.max_sequences = 2, .max_context = 12});
  ctx.prefill(0, std::vector<int32_t>{2, 3, 4});
  auto expect = [&](std::vector<BatchToken> batch, ErrorCode code) {
    try {
      ctx.decode(batch);
      FAIL("decode should have failed");
    } catch (const Error& e) {
      CHECK(e.code() == code);
    }
    CHECK(ctx.length(0) == 3);
    CHECK(ctx.length(1) == 0);
  };
  expect({}, ErrorCode::invalid_argument);
  expect({{0, 5, false}, {1, 384, true}}, ErrorCode::out_of_range);   // token id == vocab
  expect({{0, -1, true}}, ErrorCode::out_of_range);
  expect({{2, 5, true}}, ErrorCode::out_of_range);                     // no sequence 2
  expect({{-1, 5, true}}, ErrorCode::out_of_range);
  std::vector<BatchToken> too_long(10, BatchToken{0, 5, false});      // 3 + 10 > 12
  expect(too_long, ErrorCode::limit_exceeded);
  CHECK_THROWS_AS(ctx.logits(0), Error);  // failed decodes leave no logits
  CHECK_THROWS_AS(Context(tiny(), {.max_sequences = 0}), Error);
  CHECK_THROWS_AS(Context(tiny(), {.max_context = 0}), Error);
}

TEST_CASE("cancel stops a decode and leaves the sequence exactly as before") {
  Context ctx(tiny(), {.max_context = 64});
  auto reference = run_chunked(ctx, 0, kPrompt, {kPrompt.size()});
  ctx.clear(0);
  std::vector<int32_t> first(kPrompt.begin(), kPrompt.begin() + 8), second(kPrompt.begin() + 8, kPrompt.end());
  ctx.prefill(0, first);
  ctx.cancel();
  try {
    ctx.prefill(0, second);
    FAIL("cancelled decode must throw");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::cancelled);
  }
  CHECK(ctx.length(0) == 8);
  auto resumed = run_chunked(ctx, 0, second, {second.size()});
  CHECK(max_error(resumed, {reference.begin() + 8, reference.end()}) <= 1e-5);
}

TEST_CASE("f16 KV cache: close to the f32 cache, exact in itself under chunking, fork, truncate and save/load") {
  const ContextOptions half{.max_sequences = 2, .max_context = 64, .truncate_window = 16, .kv_cache_type = DType::f16};
  ContextOptions full = half;
  full.kv_cache_type = DType::f32;
  Context exact(tiny(), full);
  const auto reference = run_chunked(exact, 0, kPrompt, {kPrompt.size()});
  Context ctx(tiny(), half);
  const auto f16 = run_chunked(ctx, 0, kPrompt, {kPrompt.size()});
  const double err = max_error(f16, reference);
  MESSAGE("f16 vs f32 KV cache, 22 positions: max relative logit error " << err);
  CHECK(err > 0);  // the cache really holds halves
  CHECK(err <= 5e-3);
  // Half the KV bytes: the state above the fixed part (what a cleared sequence holds).
  const size_t fixed = ctx.state_bytes(1);
  CHECK(exact.state_bytes(0) - fixed == 2 * (ctx.state_bytes(0) - fixed));

  // Within the f16 cache, every way of getting to a position gives the same logits.
  Context chunked(tiny(), half);
  CHECK(max_error(run_chunked(chunked, 0, kPrompt, {1}), f16) <= 1e-5);
  CHECK(max_error(run_chunked(chunked, 1, kPrompt, {5, 2, 9}), f16) <= 1e-5);
  const int64_t n = static_cast<int64_t>(kPrompt.size());
  ctx.truncate(0, n - 5);
  CHECK(max_error(run_chunked(ctx, 0, {kPrompt.end() - 5, kPrompt.end()}, {2}), {f16.end() - 5, f16.end()}) <= 1e-5);
  ctx.truncate(0, 12);
  ctx.fork(0, 1);
  const auto state = ctx.save_state(1);
  CHECK(max_error(run_chunked(ctx, 1, {kPrompt.begin() + 12, kPrompt.end()}, {3}), {f16.begin() + 12, f16.end()}) <= 1e-5);
  ctx.clear(0);
  ctx.load_state(0, state);
  CHECK(max_error(run_chunked(ctx, 0, {kPrompt.begin() + 12, kPrompt.end()}, {10}), {f16.begin() + 12, f16.end()}) <= 1e-5);

  ContextOptions bad = half;
  bad.kv_cache_type = DType::bf16;
  try {
    Context c(tiny(), bad);
    FAIL("a bf16 KV cache must be refused");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
  }
}
