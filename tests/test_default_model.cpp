// The shipped default model, models/zaya-arith (trained by tools/train/, docs/DEFAULT_MODEL.md):
//   - the engine's logits equal those of the independent PyTorch implementation it was trained
//     with (tools/train/zaya_torch.py), recorded in reference_logits.safetensors;
//   - greedy accuracy on the fixed held-out set (tests/data/default-model/heldout.jsonl) equals the
//     figure recorded at training (training.json), exactly: greedy decoding is deterministic;
//   - a Markovian RSA run with a fixed seed reproduces the recorded run (rsa_reference.json):
//     every candidate's answer, sources and length, the vote and the token counts.
#include "test_support.h"

#include <zaya/chat_format.h>
#include <zaya/context.h>
#include <zaya/generator.h>
#include <zaya/model.h>
#include <zaya/rsa.h>
#include <zaya/tokenizer.h>
#include <zaya/value.h>

#include <fstream>
#include <sstream>

using namespace zaya;

namespace {

std::filesystem::path model_dir() { return test::default_model(); }

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "cannot read " << p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Value read_json(const std::filesystem::path& p) { return Value::parse_json(read_file(p)); }

std::shared_ptr<const Model> arith_model() {
  static auto m = Model::load(model_dir(), {.backend = "cpu"});
  return m;
}

std::shared_ptr<const Tokenizer> tokenizer() {
  static auto t = std::make_shared<const Tokenizer>(Tokenizer::load(model_dir()));
  return t;
}

struct Problem {
  std::string text;
  std::string answer;
};

std::vector<Problem> heldout() {
  std::vector<Problem> out;
  std::istringstream in(read_file(test::data_dir() / "default-model" / "heldout.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Value v = Value::parse_json(line);
    out.push_back({v.find("text")->as_string(), std::to_string(v.find("answer")->as_int())});
  }
  return out;
}

std::vector<int32_t> user_prompt(const std::string& text) {
  ChatRequest request;
  request.messages = Value::array({Value::object({{"role", Value("user")}, {"content", Value(text)}})});
  request.add_generation_prompt = true;
  return ChatFormatter(*tokenizer()).encode(request);
}

// The answer the evaluation counts: the last \boxed{} after </think>, normalised.
std::string answer_of(const std::string& text) {
  const size_t end = text.find("</think>");
  if (end == std::string::npos) return {};
  auto boxed = rsa::extract_boxed(std::string_view(text).substr(end + 8));
  return boxed ? rsa::normalize_answer(*boxed) : std::string();
}

}  // namespace

TEST_CASE("default model: the engine's logits match the PyTorch implementation it was trained with") {
  SafetensorsFile ref(model_dir() / "reference_logits.safetensors");
  Context ctx(arith_model(), {.max_sequences = 1, .max_context = 1024, .threads = 1});
  int prompts = 0;
  for (int i = 0;; ++i) {
    const std::string ids_name = "ids." + std::to_string(i);
    bool found = false;
    for (const auto& t : ref.tensors()) found = found || t.name == ids_name;
    if (!found) break;
    const std::vector<int32_t> ids = test::read_tensor<int32_t>(ref, ids_name);
    const std::vector<float> want = test::read_tensor<float>(ref, "logits." + std::to_string(i));
    const int64_t vocab = ctx.vocab_size();
    REQUIRE(want.size() == ids.size() * static_cast<size_t>(vocab));
    ctx.clear(0);
    std::vector<BatchToken> batch;
    for (size_t p = 0; p < ids.size(); ++p) batch.push_back({.sequence = 0, .token = ids[p], .logits = true});
    ctx.decode(batch);
    std::vector<float> got;
    for (size_t r = 0; r < ctx.logits_rows(); ++r) {
      auto row = ctx.logits(r);
      got.insert(got.end(), row.begin(), row.end());
    }
    const double err = test::relative_error(got, want);
    INFO("prompt " << i << " (" << ids.size() << " tokens): relative error " << err);
    CHECK(err < 2e-5);
    ++prompts;
  }
  CHECK(prompts >= 3);
  CHECK(ctx.skip_count() == 0);  // the skip class never wins on this model, as on ZAYA1-8B
}

TEST_CASE("default model: greedy accuracy on the held-out set is the recorded figure") {
  const Value record = read_json(model_dir() / "training.json");
  const int64_t recorded = record.find("greedy_heldout")->as_int();
  const std::vector<Problem> problems = heldout();
  REQUIRE(static_cast<int64_t>(problems.size()) == record.find("heldout_size")->as_int());

  constexpr int kBatch = 50;
  Context ctx(arith_model(), {.max_sequences = kBatch, .max_context = 512, .threads = 2});
  Generator gen(ctx, tokenizer().get());
  int64_t correct = 0;
  for (size_t start = 0; start < problems.size(); start += kBatch) {
    std::vector<GenerationRequest> requests;
    for (size_t i = start; i < std::min(problems.size(), start + kBatch); ++i) {
      const int32_t seq = static_cast<int32_t>(i - start);
      ctx.clear(seq);
      GenerationRequest r;
      r.sequence = seq;
      r.prompt = user_prompt(problems[i].text);
      r.config.max_tokens = 160;
      r.config.sampling = SamplingParams::greedy_defaults();
      requests.push_back(std::move(r));
    }
    auto results = gen.run(std::move(requests));
    for (size_t j = 0; j < results.size(); ++j) correct += answer_of(results[j].text) == problems[start + j].answer;
  }
  MESSAGE("greedy held-out accuracy: " << correct << "/" << problems.size());
  CHECK(correct == recorded);
}

TEST_CASE("default model: a seeded Markovian RSA run reproduces the recorded run") {
  const Value rec = read_json(model_dir() / "rsa_reference.json");
  const Value& cfgv = *rec.find("config");
  rsa::RsaConfig cfg;
  cfg.n = static_cast<int>(cfgv.find("n")->as_int());
  cfg.c = static_cast<int>(cfgv.find("c")->as_int());
  cfg.t = static_cast<int>(cfgv.find("t")->as_int());
  cfg.beta = cfgv.find("beta")->as_int();
  cfg.tau = cfgv.find("tau")->as_int();
  cfg.seed = static_cast<uint64_t>(cfgv.find("seed")->as_int());
  rsa::ModelEngineOptions eo;
  eo.threads = 2;
  rsa::ModelEngine engine(arith_model(), tokenizer(), eo);
  rsa::Question q;
  q.text = rec.find("question")->as_string();
  const rsa::RsaResult r = rsa::run(engine, cfg, q);

  const Value& want = *rec.find("result");
  CHECK(r.answer == want.find("answer")->as_string());
  CHECK(r.decode_tokens == want.find("decode_tokens")->as_int());
  CHECK(r.prefill_tokens == want.find("prefill_tokens")->as_int());
  const auto& stages = want.find("stages")->as_array();
  REQUIRE(r.stages.size() == stages.size());
  for (size_t s = 0; s < stages.size(); ++s) {
    const auto& cands = stages[s].find("candidates")->as_array();
    REQUIRE(r.stages[s].candidates.size() == cands.size());
    for (size_t j = 0; j < cands.size(); ++j) {
      const auto& c = r.stages[s].candidates[j];
      INFO("stage " << s << " candidate " << j);
      CHECK(c.answer == cands[j].find("answer")->as_string());
      CHECK(c.generated_tokens() == cands[j].find("generated_tokens")->as_int());
      std::vector<int64_t> sources;
      for (const auto& v : cands[j].find("sources")->as_array()) sources.push_back(v.as_int());
      CHECK(std::vector<int64_t>(c.sources.begin(), c.sources.end()) == sources);
    }
  }
  // The recorded run is one where aggregation mattered: say so if the checkpoint changes.
  MESSAGE("rsa answer " << r.answer << " (gold " << rec.find("gold")->as_string() << "), " << r.decode_tokens
                        << " decode tokens");
  CHECK(r.answer == rec.find("gold")->as_string());
}
