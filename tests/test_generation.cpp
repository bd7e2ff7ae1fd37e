// The generation loop on the tiny golden model (ids only): greedy parity with the golden
// continuation, batch-independence of seeded sampling, shared-prefix forks, stop conditions.
#include "test_support.h"

#include <zaya/error.h>
#include <zaya/generator.h>

using namespace zaya;

namespace {

std::shared_ptr<const Model> tiny() {
  static auto model = Model::load(test::checkpoint("native-f32"), {.backend = "cpu"});
  return model;
}

struct Golden {
  std::vector<int32_t> input_ids, greedy_ids;
};

Golden golden() {
  SafetensorsFile f(test::checkpoint("native-f32") / "golden.safetensors");
  return {test::read_tensor<int32_t>(f, "input_ids"), test::read_tensor<int32_t>(f, "greedy_ids")};
}

GenerationConfig sampled(uint64_t seed, int64_t max_tokens) {
  GenerationConfig c;
  c.max_tokens = max_tokens;
  c.sampling.temperature = 1.0f;
  c.sampling.seed = seed;
  c.stop_at_eos = false;
  return c;
}

}  // namespace

TEST_CASE("greedy generation reproduces the golden continuation") {
  auto g = golden();
  Context ctx(tiny(), {.max_context = 64});
  Generator gen(ctx, nullptr);
  GenerationConfig c;
  c.max_tokens = static_cast<int64_t>(g.greedy_ids.size());
  c.sampling = SamplingParams::greedy_defaults();
  c.stop_at_eos = false;
  auto results = gen.run({GenerationRequest{0, g.input_ids, nullptr, c}});
  REQUIRE(results.size() == 1);
  CHECK(results[0].tokens == g.greedy_ids);
  CHECK(results[0].finish == FinishReason::max_tokens);
  CHECK(gen.prefill_tokens() == static_cast<int64_t>(g.input_ids.size()));
  CHECK(gen.decode_tokens() == static_cast<int64_t>(g.greedy_ids.size()) - 1);
}

TEST_CASE("seeded sampling gives the same tokens alone or in a batch") {
  auto g = golden();
  std::vector<std::vector<int32_t>> alone;
  for (uint64_t seed : {1, 2, 3}) {
    Context ctx(tiny(), {.max_context = 64});
    Generator gen(ctx, nullptr);
    alone.push_back(gen.run({GenerationRequest{0, g.input_ids, nullptr, sampled(seed, 10)}})[0].tokens);
  }
  CHECK(alone[0] != alone[1]);  // different seeds differ (overwhelmingly likely with 384 ids)
  Context ctx(tiny(), {.max_sequences = 3, .max_context = 64, .threads = 1});
  Generator gen(ctx, nullptr);
  std::vector<GenerationRequest> batch;
  for (int32_t s = 0; s < 3; ++s) batch.push_back(GenerationRequest{s, g.input_ids, nullptr, sampled(uint64_t(s) + 1, 10)});
  batch[1].config.max_tokens = 4;  // requests of different lengths in one batch
  auto together = gen.run(batch);
  CHECK(together[0].tokens == alone[0]);
  CHECK(together[1].tokens == std::vector<int32_t>(alone[1].begin(), alone[1].begin() + 4));
  CHECK(together[2].tokens == alone[2]);
}

TEST_CASE("one prefill forked to many sequences equals separate prefills") {
  auto g = golden();
  Context ctx(tiny(), {.max_sequences = 4, .max_context = 64});
  auto logits = std::make_shared<const std::vector<float>>(ctx.prefill(0, g.input_ids));
  for (int32_t s = 1; s < 4; ++s) ctx.fork(0, s);
  Generator gen(ctx, nullptr);
  std::vector<GenerationRequest> batch;
  for (int32_t s = 0; s < 4; ++s) batch.push_back(GenerationRequest{s, {}, logits, sampled(uint64_t(s) + 1, 10)});
  auto forked = gen.run(batch);
  CHECK(gen.prefill_tokens() == 0);
  for (int32_t s = 0; s < 3; ++s) {
    Context solo(tiny(), {.max_context = 64});
    Generator one(solo, nullptr);
    CHECK(one.run({GenerationRequest{0, g.input_ids, nullptr, sampled(uint64_t(s) + 1, 10)}})[0].tokens == forked[size_t(s)].tokens);
  }
}

TEST_CASE("stop tokens, callbacks and context limits end requests with the right reason") {
  auto g = golden();
  Context ctx(tiny(), {.max_sequences = 2, .max_context = 24});
  Generator gen(ctx, nullptr);
  GenerationConfig c;
  c.sampling = SamplingParams::greedy_defaults();
  c.max_tokens = 100;
  c.stop_at_eos = false;
  size_t first_new = 1;  // a continuation token that does not occur before its position
  while (std::find(g.greedy_ids.begin(), g.greedy_ids.begin() + static_cast<long>(first_new), g.greedy_ids[first_new]) !=
         g.greedy_ids.begin() + static_cast<long>(first_new))
    ++first_new;
  REQUIRE(first_new < g.greedy_ids.size());
  c.stop_tokens = {g.greedy_ids[first_new]};
  auto r = gen.run({GenerationRequest{0, g.input_ids, nullptr, c}});
  CHECK(r[0].finish == FinishReason::stop_token);
  CHECK(r[0].tokens.size() == first_new + 1);
  CHECK(r[0].tokens.back() == g.greedy_ids[first_new]);

  ctx.clear(0);
  c.stop_tokens.clear();
  size_t events = 0;
  r = gen.run({GenerationRequest{0, g.input_ids, nullptr, c}}, [&](const TokenEvent&) { return ++events < 3; });
  CHECK(r[0].finish == FinishReason::cancelled);
  CHECK(r[0].tokens.size() == 3);

  ctx.clear(0);
  r = gen.run({GenerationRequest{0, g.input_ids, nullptr, c}});  // 20-token prompt, context of 24
  CHECK(r[0].finish == FinishReason::context_full);
  CHECK(ctx.length(0) == 24);

  CHECK_THROWS_AS(gen.run({GenerationRequest{5, g.input_ids, nullptr, c}}), Error);          // no such sequence
  CHECK_THROWS_AS(gen.run({GenerationRequest{1, {}, nullptr, c}}), Error);                   // nothing to start from
  CHECK_THROWS_AS(gen.run({GenerationRequest{1, {9999}, nullptr, c}}), Error);               // id out of range
  auto bad = c;
  bad.sampling.top_p = 0.0f;
  CHECK_THROWS_AS(gen.run({GenerationRequest{1, {2}, nullptr, bad}}), Error);
  CHECK(ctx.length(1) == 0);  // rejected requests touch nothing
}
