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

TEST_CASE("chat: a later turn answers as the whole conversation prompted afresh would (the cached prefix is reused)") {
  // The default model's template opens <think> in the generation prompt and drops reasoning from
  // the history, so turn 2's prompt shares all but the last tokens of turn 1's: chat cuts its
  // cached prompt back to that prefix and prefills the rest.
  const std::string model = test::default_model().string();
  auto chat = run("chat --model " + model + " --max-tokens 64 --greedy --hide-reasoning --threads 1",
                  "Ben has 70 apples. He eats 5. How many?\nAnd if he buys 10 more?\n/exit\n");
  REQUIRE_MESSAGE(chat.status == 0, chat.err);
  std::vector<std::string> answers;  // stdout: "> " answer "\n" per turn, then the last "> "
  for (size_t at = chat.out.find("> "); at != std::string::npos;) {
    const size_t next = chat.out.find("\n> ", at + 2);
    answers.push_back(chat.out.substr(at + 2, (next == std::string::npos ? chat.out.size() : next) - at - 2));
    at = next == std::string::npos ? next : next + 1;
  }
  REQUIRE(answers.size() >= 2);
  CHECK(answers[0] == "\\boxed{65}");  // the answer only: the reasoning is neither shown nor kept
  auto json_escape = [](const std::string& s) {
    std::string out;
    for (char ch : s) out += ch == '\\' ? std::string("\\\\") : ch == '"' ? std::string("\\\"") : std::string(1, ch);
    return out;
  };
  auto messages = test::temp_dir("cli-chat-turns") / "m.json";
  std::ofstream(messages) << R"([{"role": "user", "content": "Ben has 70 apples. He eats 5. How many?"},)"
                          << R"({"role": "assistant", "content": ")" << json_escape(answers[0]) << R"("},)"
                          << R"({"role": "user", "content": "And if he buys 10 more?"}])";
  auto fresh = run("generate --model " + model + " --chat " + messages.string() + " --max-tokens 64 --greedy --json --threads 1");
  REQUIRE_MESSAGE(fresh.status == 0, fresh.err);
  // Its text, JSON-escaped: reasoning, "</think>\n\n", the answer.
  const size_t think = fresh.out.find("</think>\\n\\n");
  const size_t end = fresh.out.find("\",\"finish\"");
  REQUIRE(think != std::string::npos);
  REQUIRE(end != std::string::npos);
  std::string answer = fresh.out.substr(think + 12, end - think - 12);
  for (size_t at = 0; (at = answer.find("\\\\", at)) != std::string::npos; ++at) answer.replace(at, 2, "\\");
  CHECK(answers[1] == answer);
}
