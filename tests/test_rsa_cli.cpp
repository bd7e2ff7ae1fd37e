// `zaya rsa` and `zaya rsa-bench` on the tiny model with the tiny chat tokenizer: the --json
// object, progress on stderr, errors, determinism by seed. Needs the zaya_cli target built.
#include "test_support.h"

#include <zaya/value.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sys/wait.h>

using namespace zaya;

namespace {

std::filesystem::path model_dir() {
  static const std::filesystem::path dir = [] {
    auto d = test::temp_dir("rsa-cli-model");
    for (const char* f : {"config.json", "model.safetensors"})
      std::filesystem::copy_file(test::checkpoint("native-f32") / f, d / f);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
      std::filesystem::copy_file(test::data_dir() / "tiny-chat" / f, d / f);
    return d;
  }();
  return dir;
}

using Run = test::CliRun;
Run zaya_cli(const std::string& arguments) { return test::run_cli(arguments); }

std::string rsa_args(int seed) {
  return "rsa --model " + model_dir().string() +
         " --prompt 'What is 2+3?' --n 3 --c 2 --t 2 --beta 12 --tau 4 --think --threads 1 --seed " + std::to_string(seed);
}

// The JSON without the timing fields, for comparing runs.
std::string without_seconds(const Value& v) {
  Value copy = v;
  copy.as_object().erase("seconds");
  for (auto& st : copy["stages"].as_array()) st.as_object().erase("seconds");
  return copy.to_json();
}

}  // namespace

TEST_CASE("zaya rsa --json: one object with T+1 stages of N candidates") {
  const Run r = zaya_cli(rsa_args(5) + " --json --quiet");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(r.err.empty());  // --quiet
  const Value v = Value::parse_json(r.out);
  for (const char* key : {"answer", "votes", "stages", "decode_tokens", "prefill_tokens", "stopped_by", "seconds"})
    CHECK_MESSAGE(v.find(key) != nullptr, key);
  CHECK(v.find("stopped_by")->as_string() == "done");
  const auto& stages = v.find("stages")->as_array();
  REQUIRE(stages.size() == 3);
  int64_t decode = 0;
  for (size_t s = 0; s < 3; ++s) {
    CHECK(stages[s].find("round")->as_int() == static_cast<int64_t>(s));
    const auto& cands = stages[s].find("candidates")->as_array();
    REQUIRE(cands.size() == 3);
    for (const auto& c : cands) {
      const int64_t generated = c.find("generated_tokens")->as_int();
      CHECK(generated >= 1);
      CHECK(generated <= 12);
      CHECK(c.find("tail_tokens")->as_int() <= 4);
      CHECK(c.find("answer")->is_string());
      const auto& sources = c.find("sources")->as_array();
      CHECK(sources.size() == (s == 0 ? 0u : 2u));
      std::set<int64_t> distinct;
      for (const auto& src : sources) {
        CHECK((src.as_int() >= 0 && src.as_int() < 3));
        distinct.insert(src.as_int());
      }
      CHECK(distinct.size() == sources.size());
      decode += generated;
    }
  }
  CHECK(v.find("decode_tokens")->as_int() == decode);
  CHECK(v.find("prefill_tokens")->as_int() > 0);

  // Same seed: the same run; another seed: another run.
  const Run again = zaya_cli(rsa_args(5) + " --json --quiet");
  REQUIRE(again.status == 0);
  CHECK(without_seconds(Value::parse_json(again.out)) == without_seconds(v));
  const Run other = zaya_cli(rsa_args(6) + " --json --quiet --text");
  REQUIRE(other.status == 0);
  const Value o = Value::parse_json(other.out);
  CHECK(without_seconds(o) != without_seconds(v));
  CHECK(o.find("stages")->as_array()[0].find("candidates")->as_array()[0].find("text")->is_string());
}

TEST_CASE("zaya rsa: progress on stderr, budgets, presets, errors") {
  const Run r = zaya_cli(rsa_args(5));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(r.err.find("rsa: stage 1/3: 3 candidates") != std::string::npos);
  CHECK(r.err.find("rsa: stage 3/3 done") != std::string::npos);
  CHECK(r.out.find("answer: ") != std::string::npos);

  const Run budget = zaya_cli(rsa_args(5) + " --json --quiet --max-decode-tokens 20");
  REQUIRE_MESSAGE(budget.status == 0, budget.err);
  const Value b = Value::parse_json(budget.out);
  CHECK(b.find("stopped_by")->as_string() == "budget");
  CHECK(b.find("decode_tokens")->as_int() == 20);

  // A preset with a smaller population: C follows N unless given.
  const Run preset = zaya_cli("rsa --model " + model_dir().string() +
                              " --prompt Q --preset light --n 2 --t 0 --beta 6 --threads 1 --json --quiet");
  REQUIRE_MESSAGE(preset.status == 0, preset.err);
  CHECK(Value::parse_json(preset.out).find("stages")->as_array().size() == 1);

  const Run bad = zaya_cli(rsa_args(5) + " --c 5");
  CHECK(bad.status == 1);
  CHECK(bad.err.find("larger than the population") != std::string::npos);
  const Run unknown = zaya_cli(rsa_args(5) + " --preset ultra");
  CHECK(unknown.status == 1);
  CHECK(unknown.err.find("unknown preset") != std::string::npos);
  const Run both = zaya_cli("rsa --model " + model_dir().string() + " --prompt Q --ids 1,2");
  CHECK(both.status == 1);
}

TEST_CASE("zaya rsa-bench --json reports decode tokens/s per population size") {
  const Run r = zaya_cli("rsa-bench --model " + model_dir().string() + " --sizes 1,2 --tokens 4 --prompt-tokens 8 --threads 1 --json");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const Value v = Value::parse_json(r.out);
  const auto& results = v.find("results")->as_array();
  REQUIRE(results.size() == 2);
  CHECK(results[0].find("n")->as_int() == 1);
  CHECK(results[1].find("n")->as_int() == 2);
  CHECK(results[0].find("decode_tokens")->as_int() == 3);  // 4 tokens, the last one is not decoded
  CHECK(results[1].find("decode_tokens")->as_int() == 6);
  CHECK(results[1].find("tokens_per_second")->as_double() > 0);
}
