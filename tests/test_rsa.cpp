// Markovian RSA orchestration against a scripted stand-in engine (deterministic token source):
// counting of rounds, subsets, tails, prompt contents, budgets, cancellation, progress,
// determinism; plus the pure pieces (presets, validation, subset sampler, templates, answer
// extraction, normalisation, vote).
#include <zaya/error.h>
#include <zaya/rsa.h>
#include <zaya/value.h>

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <set>
#include <thread>

using namespace zaya;
using namespace zaya::rsa;

namespace {

// ---- the stand-in engine -------------------------------------------------------------------------
//
// Tokens: 0 <pad>, 1 <|im_end|> (EOS), 2 <think>, 3 </think>, 4 <|im_start|>, 10 + b for byte b.
// Prompts render as "<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n<think>\n", so
// every generation starts inside reasoning, as with a thinking chat template.
constexpr int32_t kEos = 1, kThink = 2, kEndThink = 3, kImStart = 4, kByte = 10;

std::vector<int32_t> bytes(std::string_view s) {
  std::vector<int32_t> ids;
  for (unsigned char c : s) ids.push_back(kByte + c);
  return ids;
}

// What a candidate writes: reasoning, then (if `close`) </think> and the content, then (if
// `eos`) <|im_end|>. Anything past the end of the script is '.' filler until the budget.
struct Output {
  std::string reasoning;
  bool close = true;
  std::string content;
  bool eos = true;
};

struct Call {
  int round;  // = index of the generate_stage call
  int slot;
  uint64_t seed;
};

// The script's default: a unique marker per (round, slot), seeded filler, and an answer.
Output default_script(const Call& c) {
  std::string r = "R" + std::to_string(c.round) + "S" + std::to_string(c.slot) + " ";
  for (int i = 0; i < 6; ++i) r.push_back(static_cast<char>('a' + (c.seed >> (i * 5)) % 26));
  return {r, true, "so \\boxed{" + std::to_string(c.slot % 3) + "}", true};
}

class ScriptedEngine : public Engine {
 public:
  std::function<Output(const Call&)> script = default_script;
  std::function<void(int round, int64_t step)> on_step;  // before each lock-step step
  std::chrono::microseconds step_sleep{0};

  // Recorded.
  std::vector<std::string> rendered;             // every text passed to render_user_prompt
  std::vector<std::vector<StageJob>> stages;     // jobs of every generate_stage call
  std::vector<StageOptions> stage_options;
  std::vector<int> waves_per_stage;
  int interrupts = 0;

  std::vector<int32_t> render_user_prompt(std::string_view text) override {
    rendered.emplace_back(text);
    std::vector<int32_t> ids{kImStart};
    for (int32_t id : bytes("user\n")) ids.push_back(id);
    for (int32_t id : bytes(text)) ids.push_back(id);
    ids.push_back(kEos);
    ids.push_back(kByte + '\n');
    ids.push_back(kImStart);
    for (int32_t id : bytes("assistant\n")) ids.push_back(id);
    ids.push_back(kThink);
    ids.push_back(kByte + '\n');
    return ids;
  }

  std::string detokenize(std::span<const int32_t> ids) const override {
    std::string s;
    for (int32_t id : ids) {
      if (id == kEos) s += "<|im_end|>";
      else if (id == kThink) s += "<think>";
      else if (id == kEndThink) s += "</think>";
      else if (id == kImStart) s += "<|im_start|>";
      else if (id >= kByte) s.push_back(static_cast<char>(id - kByte));
    }
    return s;
  }

  bool is_special(int32_t id) const override { return id < kByte; }
  ThinkMarkers think_markers() const override { return {kThink, kEndThink}; }
  void interrupt() noexcept override { ++interrupts; }

  StageRun generate_stage(std::span<const int32_t> question, std::vector<StageJob> jobs, const StageOptions& options,
                          const StageTokenFn& on_token, const std::atomic<bool>* stop) override {
    const int round = static_cast<int>(stages.size());
    stages.push_back(jobs);
    stage_options.push_back(options);
    StageRun run;
    run.results.resize(jobs.size());
    for (auto& r : run.results) r.finish = FinishReason::cancelled;
    bool any_question = false;
    for (const auto& job : jobs) any_question |= job.from_question;
    if (any_question) run.prefill_tokens += static_cast<int64_t>(question.size());
    const size_t wave = options.max_batch > 0 ? std::min<size_t>(jobs.size(), static_cast<size_t>(options.max_batch)) : jobs.size();
    run.wave_size = static_cast<int>(wave);
    for (size_t w0 = 0; w0 < jobs.size(); w0 += wave) {
      if (stop && stop->load()) break;
      const size_t w1 = std::min(jobs.size(), w0 + wave);
      ++run.waves;
      std::vector<std::vector<int32_t>> planned;
      for (size_t k = w0; k < w1; ++k) {
        const StageJob& job = jobs[k];
        if (!job.from_question) run.prefill_tokens += static_cast<int64_t>(job.prompt.size());
        const Output o = script(Call{round, job.slot, job.sampling.seed});
        std::vector<int32_t> ids = bytes(o.reasoning);
        if (o.close) ids.push_back(kEndThink);
        for (int32_t id : bytes(o.content)) ids.push_back(id);
        if (o.eos) ids.push_back(kEos);
        planned.push_back(std::move(ids));
        run.results[k].finish = FinishReason::none;
      }
      // Lock step: one token of every active job per step.
      std::vector<bool> active(w1 - w0, true);
      for (int64_t step = 0;; ++step) {
        if (on_step) on_step(round, step);
        if (step_sleep.count() > 0) std::this_thread::sleep_for(step_sleep);
        bool any = false;
        for (size_t k = w0; k < w1; ++k) {
          if (!active[k - w0]) continue;
          StageJobResult& out = run.results[k];
          if (step >= jobs[k].max_tokens) {
            out.finish = FinishReason::max_tokens;
            active[k - w0] = false;
            continue;
          }
          const auto& p = planned[k - w0];
          const int32_t token = step < static_cast<int64_t>(p.size()) ? p[static_cast<size_t>(step)] : kByte + '.';
          if (!on_token(k, token)) {
            out.finish = FinishReason::cancelled;
            active[k - w0] = false;
            continue;
          }
          out.tokens.push_back(token);
          if (token == kEos) {
            out.finish = FinishReason::stop_token;
            active[k - w0] = false;
            continue;
          }
          any = true;
        }
        if (!any) break;
      }
      for (size_t k = w0; k < w1; ++k)
        if (run.results[k].finish == FinishReason::none) run.results[k].finish = FinishReason::max_tokens;
    }
    waves_per_stage.push_back(run.waves);
    return run;
  }
};

RsaConfig small_config(int n = 4, int c = 2, int t = 2) {
  RsaConfig cfg;
  cfg.n = n;
  cfg.c = c;
  cfg.t = t;
  cfg.beta = 64;
  cfg.tau = 16;
  cfg.seed = 1234;
  return cfg;
}

std::string tail_of(std::string_view s, size_t n) { return std::string(s.size() > n ? s.substr(s.size() - n) : s); }

template <typename F>
void check_invalid(F&& f, const char* needle) {
  try {
    f();
    FAIL("expected invalid_argument containing '" << needle << "'");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
    CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
  }
}

}  // namespace

// ---- configuration -----------------------------------------------------------------------------

TEST_CASE("presets match the report's settings and every field stays overridable") {
  struct P { const char* name; int t, n, c; int64_t beta, tau; };
  for (const P& p : {P{"single", 0, 1, 1, 16384, 4096}, P{"light", 2, 16, 4, 8192, 4096},
                     P{"recommended", 2, 16, 4, 16384, 4096}, P{"high", 8, 16, 4, 16384, 4096},
                     P{"extra-high", 8, 32, 4, 32768, 4096}}) {
    CAPTURE(p.name);
    RsaConfig c = RsaConfig::preset(p.name);
    CHECK(c.t == p.t);
    CHECK(c.n == p.n);
    CHECK(c.c == p.c);
    CHECK(c.beta == p.beta);
    CHECK(c.tau == p.tau);
    CHECK(c.stages() == p.t + 1);
    CHECK_NOTHROW(c.validate());
    c.n = 5;
    c.c = 5;
    c.t = 1;
    c.beta = 100;
    c.tau = 100;
    CHECK_NOTHROW(c.validate());
  }
  CHECK(RsaConfig::preset_names().size() == 5);
  check_invalid([] { RsaConfig::preset("medium"); }, "unknown preset");
  CHECK(RsaConfig{}.sampling.temperature == 1.0f);
  CHECK(RsaConfig{}.sampling.top_p == 1.0f);
  CHECK(FinalStage{}.sampling.temperature == doctest::Approx(0.6));
  CHECK(FinalStage{}.sampling.top_p == doctest::Approx(0.95));
  CHECK(FinalStage{}.sampling.top_k == 40);
}

TEST_CASE("invalid configurations are clear invalid_argument errors") {
  auto with = [](std::function<void(RsaConfig&)> edit) {
    RsaConfig c = small_config();
    edit(c);
    return [c] { c.validate(); };
  };
  check_invalid(with([](RsaConfig& c) { c.n = 0; }), "n = 0");
  check_invalid(with([](RsaConfig& c) { c.c = 0; }), "c = 0");
  check_invalid(with([](RsaConfig& c) { c.c = 5; }), "larger than the population");
  check_invalid(with([](RsaConfig& c) { c.t = -1; }), "t = -1");
  check_invalid(with([](RsaConfig& c) { c.beta = 0; }), "beta = 0");
  check_invalid(with([](RsaConfig& c) { c.tau = 0; }), "tau = 0");
  check_invalid(with([](RsaConfig& c) { c.tau = 65; }), "larger than beta");
  check_invalid(with([](RsaConfig& c) { c.sampling.temperature = -1; }), "temperature");
  check_invalid(with([](RsaConfig& c) { c.round_sampling[3] = SamplingParams::defaults(); }), "round_sampling for round 3");
  check_invalid(with([](RsaConfig& c) { c.round_sampling[1].top_p = 0; }), "top_p");
  check_invalid(with([](RsaConfig& c) { c.final_stage.enabled = true; c.final_stage.n = 0; }), "final_stage.n");
  check_invalid(with([](RsaConfig& c) { c.final_stage.enabled = true; c.final_stage.beta = 0; }), "final_stage.beta");
  check_invalid(with([](RsaConfig& c) { c.budgets.decode_tokens = -1; }), "decode_tokens");
  check_invalid(with([](RsaConfig& c) { c.budgets.seconds = -2; }), "seconds");
  check_invalid(with([](RsaConfig& c) { c.max_batch = -1; }), "max_batch");
  check_invalid(with([](RsaConfig& c) { c.prompts.aggregate = "no placeholders"; }), "{problem}");
  check_invalid(with([](RsaConfig& c) { c.prompts.refine_block = "x"; }), "{text}");
  ScriptedEngine engine;
  RsaConfig bad = small_config();
  bad.c = 9;
  CHECK_THROWS_AS(Orchestrator(engine, bad), Error);
  Orchestrator ok(engine, small_config());
  check_invalid([&] { ok.run(Question{}); }, "question is empty");
  CHECK(parse_tail_source("pacore") == TailSource::answer_else_reasoning);
  CHECK(parse_tail_source("full") == TailSource::full_text);
  check_invalid([] { parse_tail_source("middle"); }, "tail source");
}

TEST_CASE("subsets: C distinct uniform indices, a pure function of (seed, round, slot)") {
  std::set<std::vector<int>> seen;
  for (int slot = 0; slot < 50; ++slot) {
    auto s = sample_subset(7, 1, slot, 16, 4);
    REQUIRE(s.size() == 4);
    CHECK(std::set<int>(s.begin(), s.end()).size() == 4);
    for (int v : s) CHECK((v >= 0 && v < 16));
    CHECK(s == sample_subset(7, 1, slot, 16, 4));
    seen.insert(s);
  }
  CHECK(seen.size() > 40);  // different slots draw different subsets
  CHECK(sample_subset(7, 1, 0, 16, 4) != sample_subset(7, 2, 0, 16, 4));
  CHECK(sample_subset(7, 1, 0, 16, 4) != sample_subset(8, 1, 0, 16, 4));
  // C = N: a permutation.
  auto all = sample_subset(3, 1, 0, 8, 8);
  CHECK(std::set<int>(all.begin(), all.end()).size() == 8);
  // Uniform marginals, for every position in the draw: 40000 draws of 4 of 16.
  std::vector<std::vector<int>> count(4, std::vector<int>(16, 0));
  for (int slot = 0; slot < 40000; ++slot) {
    auto s = sample_subset(99, 3, slot, 16, 4);
    for (size_t k = 0; k < 4; ++k) ++count[k][static_cast<size_t>(s[k])];
  }
  for (size_t k = 0; k < 4; ++k) {
    double chi2 = 0;
    for (int v : count[k]) chi2 += (v - 2500.0) * (v - 2500.0) / 2500.0;
    CAPTURE(k);
    CHECK(chi2 < 37.7);  // chi-square, 15 degrees of freedom, p = 0.001
  }
  check_invalid([] { sample_subset(1, 1, 0, 3, 4); }, "distinct");
}

TEST_CASE("aggregation prompt: instruction, problem, numbered blocks, boxed request") {
  const auto t = PromptTemplates::defaults();
  const std::vector<std::string> two{"first tail", "second tail"};
  const std::string text = render_aggregation_text(t, "What is 1+1?", two);
  CHECK(text.find("2 earlier attempts") != std::string::npos);
  const size_t problem = text.find("Problem:\nWhat is 1+1?\n");
  const size_t b1 = text.find("---- Attempt 1 ----\nfirst tail\n\n---- Attempt 2 ----\nsecond tail\n");
  const size_t boxed = text.find("\\boxed{}.");
  REQUIRE(problem != std::string::npos);
  REQUIRE(b1 != std::string::npos);
  REQUIRE(boxed != std::string::npos);
  CHECK(problem < b1);
  CHECK(b1 < boxed);
  CHECK(text.rfind("final answer in \\boxed{}.") == text.size() - std::string("final answer in \\boxed{}.").size());
  // C = 1: the refine wording and a single unnumbered block.
  const std::vector<std::string> one{"only tail"};
  const std::string refine = render_aggregation_text(t, "Q", one);
  CHECK(refine.find("refine it") != std::string::npos);
  CHECK(refine.find("---- Attempt ----\nonly tail") != std::string::npos);
  CHECK(refine.find("Attempt 1") == std::string::npos);
  // Caller templates: placeholders substituted once, other braces kept.
  PromptTemplates custom = t;
  custom.aggregate = "P={problem}|{count}|{candidates}|\\boxed{}|{unknown}";
  custom.aggregate_block = "<{index}:{text}>";
  custom.block_separator = ",";
  const std::vector<std::string> tricky{"has {problem} inside", "x"};
  CHECK(render_aggregation_text(custom, "q", tricky) == "P=q|2|<1:has {problem} inside>,<2:x>|\\boxed{}|{unknown}");
}

// ---- answers -----------------------------------------------------------------------------------

TEST_CASE("extract_boxed: last balanced non-empty box, nested braces") {
  CHECK(extract_boxed("so \\boxed{42}") == "42");
  CHECK(extract_boxed("\\boxed{1} then \\boxed{2}") == "2");
  CHECK(extract_boxed("\\boxed{\\frac{1}{2}}") == "\\frac{1}{2}");
  CHECK(extract_boxed("\\boxed{a{b{c}}d} end") == "a{b{c}}d");
  CHECK(extract_boxed("\\boxed{7} and then \\boxed{unbalanced") == "7");
  CHECK(extract_boxed("\\boxed{5} echo: put it in \\boxed{}") == "5");
  CHECK(extract_boxed("\\boxed{ }") == std::nullopt);
  CHECK(extract_boxed("\\fbox{x}") == "x");
  CHECK(extract_boxed("$\\boxed 12$") == "12");
  CHECK(extract_boxed("\\boxedfoo{3}") == std::nullopt);
  CHECK(extract_boxed("\\boxed{\\{1,2\\}}") == "\\{1,2\\}");
  CHECK(extract_boxed("no box here") == std::nullopt);
}

TEST_CASE("normalize_answer: light normalisation") {
  struct C { const char* in; const char* out; };
  for (const C& c : {C{" $42$ .", "42"}, C{"\\left(1, 2\\right)", "(1,2)"}, C{"\\text{abc}", "abc"}, C{"{42}", "42"},
                     C{"042", "42"}, C{"-0", "0"}, C{"+7", "7"}, C{"\\dfrac{1}{2}", "\\frac{1}{2}"},
                     C{"\\tfrac12", "\\frac12"}, C{"1,000", "1000"}, C{"12,345,678", "12345678"}, C{"(1,000)", "(1,000)"},
                     C{"2.50", "2.5"}, C{"3.0", "3"}, C{"-0.0", "0"}, C{".5", "0.5"}, C{"3\\!000", "3000"},
                     C{"90^\\circ", "90"}, C{"90^{\\circ}", "90"}, C{"50\\%", "50"}, C{"\\mathrm{cm}", "cm"},
                     C{"x \\rightarrow y", "x\\rightarrowy"}, C{"\\displaystyle \\frac{3}{4}", "\\frac{3}{4}"},
                     C{"{{5}}", "5"}, C{"{a}+{b}", "{a}+{b}"}, C{"10.", "10"}}) {
    CAPTURE(c.in);
    CHECK(normalize_answer(c.in) == c.out);
  }
}

TEST_CASE("majority vote and its tie rule") {
  std::vector<VoteInput> in{{"1", false}, {"2", true}, {"1", true}, {"", true}, {"2", false}, {"3", true}};
  auto votes = majority_vote(in);
  REQUIRE(votes.size() == 3);  // the empty answer does not vote
  // 1 and 2 both have 2 votes and 1 finished: the lower first index (0) wins.
  CHECK(votes[0].answer == "1");
  CHECK(votes[0].count == 2);
  CHECK(votes[0].first_index == 0);
  CHECK(votes[1].answer == "2");
  CHECK(votes[2].answer == "3");
  // Equal votes: more naturally finished candidates win over a lower index.
  std::vector<VoteInput> in2{{"7", false}, {"8", true}, {"7", false}, {"8", true}};
  CHECK(majority_vote(in2)[0].answer == "8");
  // More votes always win.
  std::vector<VoteInput> in3{{"a", true}, {"b", false}, {"b", false}};
  CHECK(majority_vote(in3)[0].answer == "b");
  CHECK(majority_vote(std::vector<VoteInput>{{"", true}}).empty());
}

TEST_CASE("split_output: reasoning and answer ranges") {
  const ThinkMarkers m{kThink, kEndThink};
  auto ws = [](int32_t id) { return id == kByte + ' ' || id == kByte + '\n'; };
  const std::vector<int32_t> a{kByte + 'r', kEndThink, kByte + 'c'};
  auto s = split_output(a, m, true, ws);
  CHECK(s.reasoning_started);
  CHECK(s.reasoning_finished);
  CHECK((s.reasoning_begin == 0 && s.reasoning_end == 1 && s.content_begin == 2 && s.content_end == 3));
  const std::vector<int32_t> b{kByte + '\n', kThink, kByte + 'r', kByte + 'r'};  // opened by the model, unfinished
  s = split_output(b, m, false, ws);
  CHECK(s.reasoning_started);
  CHECK_FALSE(s.reasoning_finished);
  CHECK((s.reasoning_begin == 2 && s.reasoning_end == 4 && s.content_begin == 4 && s.content_end == 4));
  const std::vector<int32_t> c{kByte + 'x', kThink};  // <think> not at the start: plain content
  s = split_output(c, m, false, ws);
  CHECK_FALSE(s.reasoning_started);
  CHECK((s.content_begin == 0 && s.content_end == 2));
  s = split_output(a, ThinkMarkers{}, false, ws);  // no markers: everything is content
  CHECK((s.content_begin == 0 && s.content_end == 3));
}

// ---- orchestration -------------------------------------------------------------------------------

TEST_CASE("rounds: T+1 stages of N, round 0 from the question, budgets and seeds per (round, slot)") {
  for (int t : {0, 1, 3}) {
    CAPTURE(t);
    ScriptedEngine engine;
    RsaConfig cfg = small_config(5, 3, t);
    cfg.round_sampling[0].temperature = 0.7f;
    auto result = run(engine, cfg, Question{"Compute it."});
    REQUIRE(engine.stages.size() == static_cast<size_t>(t + 1));
    REQUIRE(result.stages.size() == static_cast<size_t>(t + 1));
    CHECK(result.stopped_by == StoppedBy::done);
    CHECK(engine.rendered.size() == static_cast<size_t>(1 + 5 * t));  // the question + N prompts per round
    CHECK(engine.rendered[0] == "Compute it.");
    for (int r = 0; r <= t; ++r) {
      const auto& jobs = engine.stages[static_cast<size_t>(r)];
      REQUIRE(jobs.size() == 5);
      CHECK(result.stages[static_cast<size_t>(r)].round == r);
      CHECK(result.stages[static_cast<size_t>(r)].complete);
      for (int j = 0; j < 5; ++j) {
        const StageJob& job = jobs[static_cast<size_t>(j)];
        CHECK(job.slot == j);
        CHECK(job.from_question == (r == 0));
        CHECK(job.prompt.empty() == (r == 0));
        CHECK(job.max_tokens == 64);
        CHECK(job.sampling.seed == derive_seed(1234, {static_cast<uint64_t>(r), static_cast<uint64_t>(j)}));
        CHECK(job.sampling.temperature == (r == 0 ? 0.7f : 1.0f));
        const auto& cand = result.stages[static_cast<size_t>(r)].candidates[static_cast<size_t>(j)];
        CHECK(cand.sources.size() == (r == 0 ? 0u : 3u));
        CHECK(cand.generated_tokens() <= 64);
        CHECK(cand.finish == FinishReason::stop_token);
      }
    }
  }
}

TEST_CASE("final stage: round T has final_n candidates with their own sampling and budget") {
  ScriptedEngine engine;
  RsaConfig cfg = small_config(4, 2, 2);
  cfg.final_stage.enabled = true;
  cfg.final_stage.n = 1;
  cfg.final_stage.beta = 100;
  cfg.tau = 8;
  auto result = run(engine, cfg, Question{"Q"});
  REQUIRE(engine.stages.size() == 3);
  CHECK(engine.stages[0].size() == 4);
  CHECK(engine.stages[1].size() == 4);
  REQUIRE(engine.stages[2].size() == 1);
  const StageJob& fin = engine.stages[2][0];
  CHECK(fin.max_tokens == 100);
  CHECK(fin.sampling.temperature == doctest::Approx(0.6));
  CHECK(fin.sampling.top_k == 40);
  CHECK(fin.sampling.seed == derive_seed(1234, {2, 0}));
  CHECK(engine.stages[1][0].sampling.temperature == 1.0f);
  CHECK(result.stages[2].final_stage);
  CHECK_FALSE(result.stages[1].final_stage);
  CHECK(result.stages[2].candidates[0].sources.size() == 2);
  CHECK(result.answer_round == 2);
  CHECK(result.best_candidate == 0);
  CHECK(result.answer == "0");
  CHECK(result.best_text == "so \\boxed{0}");
}

TEST_CASE("aggregation prompts hold C distinct tails of round t-1 only, exactly as rendered") {
  ScriptedEngine engine;
  RsaConfig cfg = small_config(6, 3, 2);
  cfg.tau = 12;
  auto result = run(engine, cfg, Question{"What is six?"});
  REQUIRE(result.stages.size() == 3);
  size_t prompt = 1;  // engine.rendered[0] is the question
  for (int r = 1; r <= 2; ++r) {
    const auto& prev = result.stages[static_cast<size_t>(r - 1)].candidates;
    for (int j = 0; j < 6; ++j) {
      const auto& cand = result.stages[static_cast<size_t>(r)].candidates[static_cast<size_t>(j)];
      CAPTURE(r);
      CAPTURE(j);
      CHECK(cand.sources == sample_subset(1234, r, j, 6, 3));
      CHECK(std::set<int>(cand.sources.begin(), cand.sources.end()).size() == 3);
      std::vector<std::string> tails;
      for (int s : cand.sources) tails.push_back(prev[static_cast<size_t>(s)].tail);
      const std::string expected = render_aggregation_text(cfg.prompts, "What is six?", tails);
      REQUIRE(prompt < engine.rendered.size());
      CHECK(engine.rendered[prompt] == expected);
      // Markovian: the tails of round r-1 and nothing older.
      for (int s : cand.sources) CHECK(expected.find("R" + std::to_string(r - 1) + "S" + std::to_string(s) + " ") != std::string::npos);
      for (int older = 0; older < r - 1; ++older) CHECK(expected.find("R" + std::to_string(older) + "S") == std::string::npos);
      // The job's prompt is the engine's rendering of that text.
      CHECK(engine.stages[static_cast<size_t>(r)][static_cast<size_t>(j)].prompt == engine.render_user_prompt(expected));
      engine.rendered.pop_back();
      CHECK(cand.prompt_tokens == static_cast<int64_t>(engine.render_user_prompt(expected).size()));
      engine.rendered.pop_back();
      ++prompt;
    }
  }
}

TEST_CASE("C = 1 continues each candidate from its own tail with the refine wording") {
  ScriptedEngine engine;
  RsaConfig cfg = small_config(3, 1, 2);
  auto result = run(engine, cfg, Question{"Q"});
  REQUIRE(result.stages.size() == 3);
  for (int r = 1; r <= 2; ++r)
    for (int j = 0; j < 3; ++j) {
      const auto& cand = result.stages[static_cast<size_t>(r)].candidates[static_cast<size_t>(j)];
      CHECK(cand.sources == std::vector<int>{j});
      const std::string& text = engine.rendered[static_cast<size_t>(1 + (r - 1) * 3 + j)];
      CHECK(text.find("refine it") != std::string::npos);
      CHECK(text.find("R" + std::to_string(r - 1) + "S" + std::to_string(j) + " ") != std::string::npos);
    }
}

TEST_CASE("tails: the last tau tokens of the reasoning; PaCoRe and full-text variants") {
  const std::string long_reasoning = "step one, step two, step three, and the end";
  const std::string endless = "cut off while still thinking about it, cut off while still thinking about it, "
                              "cut off while still thinking about it";
  auto script = [&](const Call& c) {
    if (c.slot == 0) return Output{long_reasoning, true, "answer \\boxed{9}", true};
    if (c.slot == 1) return Output{"short", true, "\\boxed{9}", true};
    return Output{endless, false, "", false};  // hits beta while thinking
  };
  auto trim = [](std::string s) {
    while (!s.empty() && s.front() == ' ') s.erase(0, 1);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
  };
  auto run_with = [&](TailSource source, int64_t tau) {
    ScriptedEngine engine;
    engine.script = script;
    RsaConfig cfg = small_config(3, 2, 0);
    cfg.tail_source = source;
    cfg.tau = tau;
    cfg.beta = 80;
    return run(engine, cfg, Question{"Q"}).stages.at(0).candidates;
  };
  const std::string endless_80 = endless.substr(0, 80);
  auto c = run_with(TailSource::reasoning, 10);
  CHECK(c[0].tail_tokens == 10);
  CHECK(c[0].tail == tail_of(long_reasoning, 10));
  CHECK(c[0].reasoning == long_reasoning);
  CHECK(c[0].content == "answer \\boxed{9}");
  CHECK(c[0].reasoning_finished);
  CHECK(c[1].tail_tokens == 5);
  CHECK(c[1].tail == "short");
  CHECK(c[2].generated_tokens() == 80);  // beta
  CHECK(c[2].finish == FinishReason::max_tokens);
  CHECK_FALSE(c[2].reasoning_finished);
  CHECK(c[2].tail_tokens == 10);
  CHECK(c[2].tail == trim(tail_of(endless_80, 10)));

  c = run_with(TailSource::answer_else_reasoning, 10);
  CHECK(c[0].tail_tokens == 10);  // finished: the last 10 tokens of its answer section
  CHECK(c[0].tail == trim(tail_of("answer \\boxed{9}", 10)));
  CHECK(c[1].tail == "\\boxed{9}");
  CHECK(c[1].tail_tokens == 9);
  CHECK(c[2].tail == trim(tail_of(endless_80, 10)));  // unfinished: its reasoning

  c = run_with(TailSource::full_text, 30);
  // Reasoning + answer, with </think> and <|im_end|> removed.
  CHECK(c[1].tail == "short\\boxed{9}");
  CHECK(c[1].tail_tokens == 14);
  CHECK(c[0].tail_tokens == 30);
  CHECK(c[0].tail == trim(tail_of(long_reasoning + "answer \\boxed{9}", 30)));

  // A truncation marker when asked for.
  ScriptedEngine engine;
  engine.script = script;
  RsaConfig cfg = small_config(3, 2, 0);
  cfg.tau = 10;
  cfg.beta = 80;
  cfg.mark_truncated_tails = true;
  auto marked = run(engine, cfg, Question{"Q"}).stages[0].candidates;
  CHECK(marked[0].tail == "[...] " + tail_of(long_reasoning, 10));
  CHECK(marked[1].tail == "short");
}

TEST_CASE("answers: per-candidate extraction and the majority vote of the final population") {
  ScriptedEngine engine;
  engine.script = [](const Call& c) {
    static const char* round1[] = {"\\dfrac{1}{2}", "\\frac12", "\\frac{1}{2}", " 7 ", "7."};
    if (c.round == 0) return Output{"r", true, "\\boxed{3}", true};
    return Output{"r", true, std::string("thus \\boxed{") + round1[c.slot] + "}", true};
  };
  auto result = run(engine, small_config(5, 2, 1), Question{"Q"});
  REQUIRE(result.stages.size() == 2);
  const auto& fin = result.stages[1].candidates;
  CHECK(fin[0].raw_answer == "\\dfrac{1}{2}");
  CHECK(fin[0].answer == "\\frac{1}{2}");
  CHECK(fin[1].answer == "\\frac12");
  CHECK(fin[3].answer == "7");
  CHECK(fin[4].answer == "7");
  CHECK(result.answer_round == 1);
  REQUIRE(result.votes.size() == 3);
  // \frac{1}{2} (slots 0, 2) and 7 (slots 3, 4) tie at 2 votes, all finished: lowest index wins.
  CHECK(result.answer == "\\frac{1}{2}");
  CHECK(result.votes[0].count == 2);
  CHECK(result.votes[1].answer == "7");
  CHECK(result.best_candidate == 0);
  for (const auto& cand : result.stages[0].candidates) CHECK(cand.answer == "3");
}

TEST_CASE("decode budget: stops exactly at the budget; the answer comes from the last complete stage") {
  ScriptedEngine engine;
  RsaConfig cfg = small_config(4, 2, 2);
  auto full = run(engine, cfg, Question{"Q"});
  const int64_t round0 = full.stages[0].decode_tokens;
  REQUIRE(round0 > 0);
  ScriptedEngine engine2;
  cfg.budgets.decode_tokens = round0 + 7;
  auto result = run(engine2, cfg, Question{"Q"});
  CHECK(result.stopped_by == StoppedBy::budget);
  CHECK(result.stop_detail == "decode_tokens");
  CHECK(result.decode_tokens == round0 + 7);
  REQUIRE(result.stages.size() == 2);
  CHECK(result.stages[0].complete);
  CHECK_FALSE(result.stages[1].complete);
  CHECK(result.stages[1].decode_tokens == 7);
  // Lock step over 4 candidates: 7 tokens are 2, 2, 2, 1.
  CHECK(result.stages[1].candidates[0].generated_tokens() == 2);
  CHECK(result.stages[1].candidates[3].generated_tokens() == 1);
  for (const auto& c : result.stages[1].candidates) CHECK(c.finish == FinishReason::cancelled);
  CHECK(result.answer_round == 0);
  CHECK(result.answer == "0");  // round 0 answers slot % 3: 0, 1, 2, 0
  CHECK(engine2.interrupts >= 1);
  std::string json = to_json(result);
  CHECK(json.find("\"stopped_by\":\"budget\"") != std::string::npos);

  // A budget that is exactly enough is not a stop.
  ScriptedEngine engine3;
  cfg.budgets.decode_tokens = full.decode_tokens;
  auto exact = run(engine3, cfg, Question{"Q"});
  CHECK(exact.stopped_by == StoppedBy::done);
  CHECK(exact.decode_tokens == full.decode_tokens);

  // Budget reached inside round 0: vote over its naturally finished candidates only.
  ScriptedEngine engine4;
  engine4.script = [](const Call& c) {
    if (c.slot == 1) return Output{"", true, "\\boxed{5}", true};  // 10 tokens
    return Output{std::string(30, 'x'), true, "\\boxed{6}", true};
  };
  cfg.budgets.decode_tokens = 60;
  auto partial = run(engine4, cfg, Question{"Q"});
  CHECK(partial.stopped_by == StoppedBy::budget);
  REQUIRE(partial.stages.size() == 1);
  CHECK(partial.stages[0].candidates[1].finish == FinishReason::stop_token);
  CHECK(partial.answer == "5");
  CHECK(partial.answer_round == 0);
  CHECK(partial.best_candidate == 1);
}

TEST_CASE("prefill budget: a stage that would exceed it is not started") {
  ScriptedEngine engine;
  RsaConfig cfg = small_config(4, 2, 2);
  auto full = run(engine, cfg, Question{"Q"});
  REQUIRE(full.stages.size() == 3);
  CHECK(full.stages[0].prefill_tokens == static_cast<int64_t>(engine.render_user_prompt("Q").size()));  // once
  int64_t stage1 = 0;
  for (const auto& c : full.stages[1].candidates) stage1 += c.prompt_tokens;
  CHECK(full.stages[1].prefill_tokens == stage1);
  CHECK(full.prefill_tokens == full.stages[0].prefill_tokens + full.stages[1].prefill_tokens + full.stages[2].prefill_tokens);

  ScriptedEngine engine2;
  cfg.budgets.prefill_tokens = full.stages[0].prefill_tokens + stage1 + 1;  // not enough for round 2
  auto result = run(engine2, cfg, Question{"Q"});
  CHECK(result.stopped_by == StoppedBy::budget);
  CHECK(result.stop_detail == "prefill_tokens");
  CHECK(result.stages.size() == 2);
  CHECK(engine2.stages.size() == 2);
  CHECK(result.prefill_tokens <= cfg.budgets.prefill_tokens);
  CHECK(result.answer_round == 1);
  CHECK(result.stages[1].complete);
}

TEST_CASE("wall-clock budget stops the run cleanly") {
  ScriptedEngine engine;
  engine.step_sleep = std::chrono::microseconds(2000);
  RsaConfig cfg = small_config(4, 2, 8);
  cfg.budgets.seconds = 0.15;
  const auto t0 = std::chrono::steady_clock::now();
  auto result = run(engine, cfg, Question{"Q"});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(result.stopped_by == StoppedBy::budget);
  CHECK(result.stop_detail == "seconds");
  CHECK(result.stages.size() < 9);
  CHECK(seconds < 2.0);
  CHECK(engine.interrupts >= 1);
}

TEST_CASE("cancel from another thread returns the best answer so far") {
  ScriptedEngine engine;
  RsaConfig cfg = small_config(4, 2, 3);
  Orchestrator orchestrator(engine, cfg);
  engine.on_step = [&](int round, int64_t step) {
    if (round == 2 && step == 3) std::thread([&] { orchestrator.cancel(); }).join();
  };
  auto result = orchestrator.run(Question{"Q"});
  CHECK(result.stopped_by == StoppedBy::cancel);
  REQUIRE(result.stages.size() == 3);
  CHECK(result.stages[1].complete);
  CHECK_FALSE(result.stages[2].complete);
  for (const auto& c : result.stages[2].candidates) CHECK(c.generated_tokens() == 3);
  CHECK(result.answer_round == 1);
  CHECK_FALSE(result.answer.empty());
  CHECK(engine.interrupts == 1);
  // The cancel was consumed: the same orchestrator runs to the end next time.
  engine.on_step = nullptr;
  engine.stages.clear();
  auto again = orchestrator.run(Question{"Q"});
  CHECK(again.stopped_by == StoppedBy::done);
  CHECK(again.stages.size() == 4);
  // Cancel before run: nothing is generated.
  orchestrator.cancel();
  engine.stages.clear();
  auto none = orchestrator.run(Question{"Q"});
  CHECK(none.stopped_by == StoppedBy::cancel);
  CHECK(none.stages.empty());
  CHECK(engine.stages.empty());
  CHECK(none.answer.empty());
}

TEST_CASE("progress events: stages, throttled candidate progress, finishes, rates") {
  ScriptedEngine engine;
  RsaConfig cfg = small_config(3, 2, 1);
  cfg.progress_every = 5;
  std::vector<Progress> events;
  auto result = run(engine, cfg, Question{"Q"}, [&](const Progress& p) { events.push_back(p); });
  int started = 0, finished = 0, cand_progress = 0, cand_finished = 0;
  int64_t expected_progress = 0;
  for (const auto& s : result.stages)
    for (const auto& c : s.candidates) expected_progress += c.generated_tokens() / 5;
  for (const auto& e : events) {
    CHECK(e.stages == 2);
    CHECK(e.stage_size == 3);
    switch (e.kind) {
      case ProgressKind::stage_started: ++started; break;
      case ProgressKind::stage_finished:
        ++finished;
        CHECK(e.tokens_per_second > 0);
        CHECK(e.stage_decode_tokens == result.stages[static_cast<size_t>(e.round)].decode_tokens);
        break;
      case ProgressKind::candidate_progress:
        ++cand_progress;
        CHECK(e.candidate_tokens % 5 == 0);
        break;
      case ProgressKind::candidate_finished:
        ++cand_finished;
        CHECK(e.candidate_tokens == result.stages[static_cast<size_t>(e.round)].candidates[static_cast<size_t>(e.candidate)].generated_tokens());
        break;
    }
  }
  CHECK(started == 2);
  CHECK(finished == 2);
  CHECK(cand_finished == 6);
  CHECK(cand_progress == expected_progress);
  REQUIRE_FALSE(events.empty());
  CHECK(events.back().kind == ProgressKind::stage_finished);
  CHECK(events.back().total_decode_tokens == result.decode_tokens);
}

TEST_CASE("determinism: same seed, same run whatever the wave size; another seed differs") {
  auto go = [](uint64_t seed, int max_batch) {
    ScriptedEngine engine;
    RsaConfig cfg = small_config(6, 3, 2);
    cfg.seed = seed;
    cfg.max_batch = max_batch;
    auto r = run(engine, cfg, Question{"Q"});
    if (max_batch > 0) CHECK(engine.waves_per_stage.front() == (6 + max_batch - 1) / max_batch);
    return r;
  };
  auto a = go(5, 0), b = go(5, 4), c = go(5, 1), d = go(6, 0);
  auto same = [](const RsaResult& x, const RsaResult& y) {
    if (x.stages.size() != y.stages.size() || x.answer != y.answer) return false;
    for (size_t s = 0; s < x.stages.size(); ++s)
      for (size_t i = 0; i < x.stages[s].candidates.size(); ++i) {
        const auto& p = x.stages[s].candidates[i];
        const auto& q = y.stages[s].candidates[i];
        if (p.tokens != q.tokens || p.sources != q.sources || p.tail != q.tail || p.answer != q.answer) return false;
      }
    return true;
  };
  CHECK(same(a, b));
  CHECK(same(a, c));
  CHECK_FALSE(same(a, d));
  bool sources_differ = false;
  for (size_t i = 0; i < 6; ++i) sources_differ |= a.stages[1].candidates[i].sources != d.stages[1].candidates[i].sources;
  CHECK(sources_differ);
}

TEST_CASE("keep_outputs = false drops earlier stages' ids and text, nothing else") {
  ScriptedEngine e1, e2;
  RsaConfig cfg = small_config(4, 2, 2);
  auto kept = run(e1, cfg, Question{"Q"});
  cfg.keep_outputs = false;
  auto dropped = run(e2, cfg, Question{"Q"});
  REQUIRE(dropped.stages.size() == 3);
  CHECK(dropped.answer == kept.answer);
  CHECK(dropped.decode_tokens == kept.decode_tokens);
  for (size_t s = 0; s < 3; ++s)
    for (size_t i = 0; i < 4; ++i) {
      const auto& d = dropped.stages[s].candidates[i];
      const auto& k = kept.stages[s].candidates[i];
      CHECK(d.generated_tokens() == k.generated_tokens());
      CHECK(d.generated_tokens() > 0);
      CHECK(d.tail == k.tail);
      CHECK(d.answer == k.answer);
      CHECK(d.content == k.content);
      CHECK(d.sources == k.sources);
      CHECK(d.tokens.empty() == (s < 2));
      CHECK(d.text.empty() == (s < 2));
      if (s == 2) CHECK(d.tokens == k.tokens);
    }
}

TEST_CASE("to_json: one object with the documented fields") {
  ScriptedEngine engine;
  auto result = run(engine, small_config(3, 2, 1), Question{"Q"});
  const Value v = Value::parse_json(to_json(result));
  CHECK(v.find("answer")->as_string() == result.answer);
  CHECK(v.find("votes")->is_array());
  CHECK(v.find("stopped_by")->as_string() == "done");
  CHECK(v.find("decode_tokens")->as_int() == result.decode_tokens);
  CHECK(v.find("prefill_tokens")->as_int() == result.prefill_tokens);
  CHECK(v.find("seconds")->as_double() >= 0);
  const auto& stages = v.find("stages")->as_array();
  REQUIRE(stages.size() == 2);
  CHECK(stages[1].find("round")->as_int() == 1);
  const auto& cands = stages[1].find("candidates")->as_array();
  REQUIRE(cands.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(cands[i].find("generated_tokens")->as_int() == result.stages[1].candidates[i].generated_tokens());
    CHECK(cands[i].find("tail_tokens")->as_int() == result.stages[1].candidates[i].tail_tokens);
    CHECK(cands[i].find("answer")->as_string() == result.stages[1].candidates[i].answer);
    CHECK(cands[i].find("sources")->size() == 2);
  }
}
