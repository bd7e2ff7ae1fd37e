// Markovian RSA end to end on the tiny golden model (tests/data/checkpoints/tiny-a, vocab 384) with
// the tiny ChatML tokenizer (tests/data/tiny-chat): the structure of the result, the real prompt
// path, budgets and cancellation through the real engine, and determinism across seeds, wave
// sizes and thread counts.
#include "test_support.h"

#include <zaya/error.h>
#include <zaya/model.h>
#include <zaya/rsa.h>
#include <zaya/tokenizer.h>

#include <filesystem>
#include <set>
#include <thread>

using namespace zaya;
using namespace zaya::rsa;

namespace {

// A model directory: tiny-a's config + weights next to the tiny chat tokenizer files.
std::filesystem::path model_dir() {
  static const std::filesystem::path dir = [] {
    auto d = test::temp_dir("rsa-model");
    for (const char* f : {"config.json", "model.safetensors"})
      std::filesystem::copy_file(test::checkpoint("native-f32") / f, d / f);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
      std::filesystem::copy_file(test::data_dir() / "tiny-chat" / f, d / f);
    return d;
  }();
  return dir;
}

std::shared_ptr<const Model> tiny_model() {
  static auto m = Model::load(model_dir(), {.backend = "cpu"});
  return m;
}

std::shared_ptr<const Tokenizer> tokenizer() {
  static auto t = std::make_shared<const Tokenizer>(Tokenizer::load(model_dir()));
  return t;
}

ModelEngine make_engine(int threads = 1, DType kv_cache = DType::f32) {
  ModelEngineOptions o;
  o.threads = threads;
  o.kv_cache_type = kv_cache;
  o.enable_thinking = true;  // the tiny template then opens <think> in the generation prompt
  return ModelEngine(tiny_model(), tokenizer(), o);
}

RsaConfig config(uint64_t seed) {
  RsaConfig c;
  c.n = 4;
  c.c = 2;
  c.t = 2;
  c.beta = 24;
  c.tau = 8;
  c.seed = seed;
  return c;
}

const char* kQuestion = "What is 2+3? Answer with a number.";

bool same_run(const RsaResult& a, const RsaResult& b) {
  if (a.stages.size() != b.stages.size() || a.answer != b.answer || a.decode_tokens != b.decode_tokens) return false;
  for (size_t s = 0; s < a.stages.size(); ++s) {
    if (a.stages[s].candidates.size() != b.stages[s].candidates.size()) return false;
    for (size_t i = 0; i < a.stages[s].candidates.size(); ++i) {
      const auto& x = a.stages[s].candidates[i];
      const auto& y = b.stages[s].candidates[i];
      if (x.tokens != y.tokens || x.sources != y.sources || x.tail != y.tail || x.finish != y.finish) return false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE("the tiny chat tokenizer loads, round-trips and renders a thinking ChatML prompt") {
  auto tok = tokenizer();
  CHECK(tok->vocab_size() <= 384);
  for (const char* text : {kQuestion, "Problem:\nx = \\frac{1}{2}, {a}!", "---- Attempt 1 ----\n\\boxed{}"})
    CHECK(tok->decode(tok->encode(text, false)) == text);
  for (const char* special : {"<|im_start|>", "<|im_end|>", "<think>", "</think>"}) CHECK(tok->token_to_id(special));
  auto engine = make_engine();
  const auto prompt = engine.render_user_prompt(kQuestion);
  CHECK(engine.detokenize(prompt) == std::string("<bos><|im_start|>user\n") + kQuestion +
                                         "<|im_end|>\n<|im_start|>assistant\n<think>\n");
  CHECK(engine.think_markers().open == tok->token_to_id("<think>"));
  CHECK(engine.think_markers().close == tok->token_to_id("</think>"));
  CHECK(engine.is_special(*tok->token_to_id("<|im_end|>")));
  CHECK(engine.is_special(*tok->token_to_id("</think>")));
  CHECK_FALSE(engine.is_special(tok->encode("a", false).at(0)));
  // Per-token cache cost: K and V of kv_dim floats in each of the 3 blocks; fixed CCA state.
  const auto& c = tiny_model()->config();
  CHECK(engine.kv_bytes_per_token() == 2u * static_cast<uint64_t>(c.kv_dim()) * 4u * static_cast<uint64_t>(c.blocks));
  CHECK(engine.fixed_bytes_per_sequence() ==
        static_cast<uint64_t>((2 * c.conv_channels() + c.value_proj_dim()) * 4 * c.blocks));
  // With the f16 KV cache half the per-token cost; the fixed state is f32 either way.
  auto half = make_engine(1, DType::f16);
  CHECK(half.kv_bytes_per_token() == engine.kv_bytes_per_token() / 2);
  CHECK(half.fixed_bytes_per_sequence() == engine.fixed_bytes_per_sequence());
}

TEST_CASE("end to end: T+1 stages of N, tails <= tau, generated <= beta, C distinct sources") {
  auto engine = make_engine();
  const RsaConfig cfg = config(7);
  std::vector<Progress> events;
  const RsaResult r = run(engine, cfg, Question{kQuestion}, [&](const Progress& p) { events.push_back(p); });
  CHECK(r.stopped_by == StoppedBy::done);
  REQUIRE(r.stages.size() == 3);
  const auto question_tokens = static_cast<int64_t>(engine.render_user_prompt(kQuestion).size());
  int64_t decode = 0, prefill = 0;
  for (int s = 0; s < 3; ++s) {
    const StageResult& st = r.stages[static_cast<size_t>(s)];
    CAPTURE(s);
    CHECK(st.round == s);
    CHECK(st.complete);
    CHECK(st.waves == 1);
    CHECK(st.wave_size == 4);
    REQUIRE(st.candidates.size() == 4);
    int64_t stage_decode = 0, stage_prompts = 0;
    for (const auto& cand : st.candidates) {
      CHECK(cand.generated_tokens() >= 1);
      CHECK(cand.generated_tokens() <= cfg.beta);
      CHECK(cand.tail_tokens <= cfg.tau);
      CHECK(cand.tail_tokens >= 0);
      CHECK(cand.finish != FinishReason::cancelled);
      if (s == 0) {
        CHECK(cand.sources.empty());
        CHECK(cand.prompt_tokens == question_tokens);
      } else {
        REQUIRE(cand.sources.size() == 2);
        CHECK(std::set<int>(cand.sources.begin(), cand.sources.end()).size() == 2);
        for (int src : cand.sources) CHECK((src >= 0 && src < 4));
        // The prompt the engine prefilled is the chat-templated aggregation of those tails.
        std::vector<std::string> tails;
        for (int src : cand.sources) tails.push_back(r.stages[static_cast<size_t>(s - 1)].candidates[static_cast<size_t>(src)].tail);
        const auto ids = engine.render_user_prompt(render_aggregation_text(cfg.prompts, kQuestion, tails));
        CHECK(cand.prompt_tokens == static_cast<int64_t>(ids.size()));
        stage_prompts += cand.prompt_tokens;
      }
      stage_decode += cand.generated_tokens();
    }
    CHECK(st.decode_tokens == stage_decode);
    CHECK(st.prefill_tokens == (s == 0 ? question_tokens : stage_prompts));  // round 0: the question once
    decode += st.decode_tokens;
    prefill += st.prefill_tokens;
  }
  CHECK(r.decode_tokens == decode);
  CHECK(r.prefill_tokens == prefill);
  CHECK(r.answer_round == 2);
  CHECK(r.best_candidate >= 0);  // a population with no boxed answer still names a candidate
  int finished_events = 0;
  for (const auto& e : events) finished_events += e.kind == ProgressKind::candidate_finished;
  CHECK(finished_events == 12);
}

TEST_CASE("end to end: same seed -> identical run, whatever the wave size or thread count; other seed differs") {
  auto engine = make_engine();
  const RsaResult a = run(engine, config(11), Question{kQuestion});
  const RsaResult again = run(engine, config(11), Question{kQuestion});
  CHECK(same_run(a, again));
  const RsaResult other = run(engine, config(12), Question{kQuestion});
  CHECK_FALSE(same_run(a, other));
  bool tokens_differ = false;
  for (size_t i = 0; i < 4; ++i) tokens_differ |= a.stages[0].candidates[i].tokens != other.stages[0].candidates[i].tokens;
  CHECK(tokens_differ);

  // One sequence at a time.
  RsaConfig one = config(11);
  one.max_batch = 1;
  const RsaResult serial = run(engine, one, Question{kQuestion});
  CHECK(serial.stages[0].waves == 4);
  CHECK(serial.stages[0].wave_size == 1);
  CHECK(same_run(a, serial));

  // Waves sized from a memory budget that holds two sequences of the longest aggregation prompt.
  int64_t longest = 0;
  for (size_t s = 1; s < a.stages.size(); ++s)
    for (const auto& c : a.stages[s].candidates) longest = std::max(longest, c.prompt_tokens);
  const uint64_t per_seq = engine.fixed_bytes_per_sequence() + static_cast<uint64_t>(longest + 24) * engine.kv_bytes_per_token();
  RsaConfig mem = config(11);
  mem.memory_budget_bytes = 2 * per_seq + per_seq / 2;
  const RsaResult waves = run(engine, mem, Question{kQuestion});
  int max_waves = 0;
  for (size_t s = 1; s < waves.stages.size(); ++s) {
    CHECK(waves.stages[s].wave_size >= 2);
    CHECK(waves.stages[s].wave_size <= 3);
    max_waves = std::max(max_waves, waves.stages[s].waves);
  }
  CHECK(max_waves == 2);
  CHECK(same_run(a, waves));

  // Two threads.
  auto engine2 = make_engine(2);
  CHECK(same_run(a, run(engine2, config(11), Question{kQuestion})));

  // On the f16 KV cache a run is just as independent of the wave size.
  auto half = make_engine(1, DType::f16);
  const RsaResult h = run(half, config(11), Question{kQuestion});
  CHECK(same_run(h, run(half, one, Question{kQuestion})));

  // A budget that cannot hold one sequence is a clear error.
  RsaConfig tiny = config(11);
  tiny.memory_budget_bytes = per_seq / 2;
  try {
    run(engine, tiny, Question{kQuestion});
    FAIL("expected out_of_memory");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::out_of_memory);
  }
}

TEST_CASE("end to end: the decode budget cuts exactly; cancel from another thread keeps the last complete round") {
  auto engine = make_engine();
  const RsaResult full = run(engine, config(3), Question{kQuestion});
  const int64_t round0 = full.stages[0].decode_tokens;

  RsaConfig budget = config(3);
  budget.budgets.decode_tokens = round0 + 5;
  const RsaResult cut = run(engine, budget, Question{kQuestion});
  CHECK(cut.stopped_by == StoppedBy::budget);
  CHECK(cut.stop_detail == "decode_tokens");
  CHECK(cut.decode_tokens == round0 + 5);
  REQUIRE(cut.stages.size() == 2);
  CHECK(cut.stages[1].decode_tokens == 5);
  CHECK_FALSE(cut.stages[1].complete);
  CHECK(cut.answer_round == 0);
  // What was generated before the cut is the same as in the full run (prefixes of its tokens).
  for (size_t i = 0; i < 4; ++i) {
    const auto& p = cut.stages[1].candidates[i].tokens;
    const auto& f = full.stages[1].candidates[i].tokens;
    REQUIRE(p.size() <= f.size());
    CHECK(std::equal(p.begin(), p.end(), f.begin()));
  }

  RsaConfig cc = config(3);
  cc.progress_every = 1;
  Orchestrator orchestrator(engine, cc);
  const RsaResult cancelled = orchestrator.run(Question{kQuestion}, [&](const Progress& p) {
    if (p.kind == ProgressKind::candidate_progress && p.round == 1 && p.candidate == 0 && p.candidate_tokens == 3)
      std::thread([&] { orchestrator.cancel(); }).join();
  });
  CHECK(cancelled.stopped_by == StoppedBy::cancel);
  REQUIRE(cancelled.stages.size() == 2);
  CHECK(cancelled.stages[0].complete);
  CHECK_FALSE(cancelled.stages[1].complete);
  CHECK(cancelled.stages[1].candidates[0].generated_tokens() == 3);
  for (const auto& c : cancelled.stages[1].candidates) CHECK(c.generated_tokens() <= 3);
  CHECK(cancelled.answer_round == 0);

  // The wall-clock budget interrupts the running stage.
  RsaConfig timed = config(3);
  timed.t = 60;
  timed.budgets.seconds = 0.3;
  const RsaResult late = run(engine, timed, Question{kQuestion});
  CHECK(late.stopped_by == StoppedBy::budget);
  CHECK(late.stop_detail == "seconds");
  CHECK(late.stages.size() < 61);
  CHECK(late.seconds < 3.0);
}

TEST_CASE("end to end: final stage, C = 1 and the ids-only engine") {
  auto engine = make_engine();
  RsaConfig cfg = config(5);
  cfg.c = 1;
  cfg.t = 1;
  cfg.final_stage.enabled = true;
  cfg.final_stage.n = 1;
  cfg.final_stage.beta = 16;
  const RsaResult r = run(engine, cfg, Question{kQuestion});
  REQUIRE(r.stages.size() == 2);
  CHECK(r.stages[0].candidates.size() == 4);
  REQUIRE(r.stages[1].candidates.size() == 1);
  CHECK(r.stages[1].final_stage);
  CHECK(r.stages[1].candidates[0].sources == std::vector<int>{0});
  CHECK(r.stages[1].candidates[0].generated_tokens() <= 16);
  CHECK(r.best_candidate == 0);

  // Without a tokenizer: round 0 from ids works, aggregation rounds need text.
  ModelEngine ids_only(tiny_model(), nullptr, {.threads = 1});
  RsaConfig t0 = config(5);
  t0.t = 0;
  Question q;
  q.prompt_ids = {2, 17, 5, 9};
  const RsaResult parallel = run(ids_only, t0, q);
  REQUIRE(parallel.stages.size() == 1);
  CHECK(parallel.stages[0].candidates.size() == 4);
  CHECK(parallel.prefill_tokens == 4);
  RsaConfig t1 = config(5);
  try {
    run(ids_only, t1, q);
    FAIL("expected unsupported");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unsupported);
  }
}

TEST_CASE("plan_wave_size") {
  CHECK(plan_wave_size(16, 100, 0, 0, 0) == 16);
  CHECK(plan_wave_size(16, 100, 0, 0, 4) == 4);
  CHECK(plan_wave_size(16, 100, 50, 450, 0) == 4);
  CHECK(plan_wave_size(16, 100, 50, 10000, 0) == 16);
  CHECK(plan_wave_size(16, 100, 50, 10000, 3) == 3);
  CHECK_THROWS_AS(plan_wave_size(16, 100, 50, 149, 0), Error);
  CHECK(plan_wave_size(0, 100, 0, 0, 0) == 0);
}
