// The text commands of the `zaya` CLI on a tiny model with a ChatML tokenizer: generate from a
// prompt and from chat messages (streaming), and the interactive chat reading stdin.
#include "test_support.h"

#include <cstdio>
#include <fstream>
#include <sys/wait.h>

using namespace zaya;

namespace {

std::filesystem::path tiny_chat_model() {
  static const auto dir = [] {
    auto d = test::temp_dir("cli-text-model");
    for (const char* f : {"config.json", "model.safetensors"})
      std::filesystem::copy_file(test::checkpoint("native-f32") / f, d / f);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
      std::filesystem::copy_file(test::data_dir() / "tiny-chat" / f, d / f);
    return d;
  }();
  return dir;
}

using Run = test::CliRun;
Run run(const std::string& arguments, const std::string& stdin_text = "") { return test::run_cli(arguments, stdin_text); }

}  // namespace

TEST_CASE("generate --prompt and --chat stream text; the same seed gives the same text") {
  const std::string model = tiny_chat_model().string();
  auto a = run("generate --model " + model + " --prompt \"hello there\" --max-tokens 12 --seed 5 --json");
  REQUIRE_MESSAGE(a.status == 0, a.err);
  CHECK(a.out.find("\"text\":") != std::string::npos);
  CHECK(a.out.find("\"prompt_tokens\":") != std::string::npos);
  auto b = run("generate --model " + model + " --prompt \"hello there\" --max-tokens 12 --seed 5 --json");
  CHECK(a.out == b.out);
  auto c = run("generate --model " + model + " --prompt \"hello there\" --max-tokens 12 --seed 6 --temperature 1.5 --json");
  REQUIRE(c.status == 0);

  auto messages = test::temp_dir("cli-text-messages") / "m.json";
  std::ofstream(messages) << R"([{"role": "user", "content": "hello"}])";
  auto streamed = run("generate --model " + model + " --chat " + messages.string() + " --max-tokens 8 --greedy");
  REQUIRE_MESSAGE(streamed.status == 0, streamed.err);
  auto json = run("generate --model " + model + " --chat " + messages.string() + " --max-tokens 8 --greedy --json");
  REQUIRE(json.status == 0);
  CHECK(streamed.err.find("prompt tokens") != std::string::npos);  // the stats line goes to stderr
  // The streamed text (stdout minus the final newline) is exactly the JSON's text.
  auto text_start = json.out.find("\"text\":\"") + 8;
  auto text_end = json.out.find("\",\"finish\"");
  REQUIRE(text_end != std::string::npos);
  const std::string json_text = json.out.substr(text_start, text_end - text_start);
  if (json_text.find('\\') == std::string::npos) CHECK(streamed.out == json_text + "\n");

  auto bad = run("generate --model " + model + " --prompt x --top-p 0 --max-tokens 2");
  CHECK(bad.status != 0);
  CHECK(bad.err.find("top_p") != std::string::npos);
  auto no_tokenizer = run("generate --model " + test::checkpoint("native-f32").string() + " --prompt x");
  CHECK(no_tokenizer.status != 0);
  CHECK(no_tokenizer.err.find("tokenizer.json") != std::string::npos);
}

TEST_CASE("chat answers each line of stdin and exits at end of input") {
  const std::string model = tiny_chat_model().string();
  auto r = run("chat --model " + model + " --max-tokens 6 --greedy --hide-reasoning", "hello\nhow are you\n/exit\n");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(std::count(r.out.begin(), r.out.end(), '>') >= 2);  // a prompt per turn
  auto eof = run("chat --model " + model + " --max-tokens 4 --greedy", "hi\n");
  CHECK(eof.status == 0);
}
