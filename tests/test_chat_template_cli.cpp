// `zaya template render` end to end: the golden cases piped through the CLI binary.
#include <doctest/doctest.h>

#include <zaya/value.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

TEST_CASE("zaya template render renders cases.jsonl like transformers and reports errors per line") {
  struct stat info {};
  if (stat(ZAYA_CLI_PATH, &info) != 0) {
    WARN_MESSAGE(false, "the zaya CLI is not built (" ZAYA_CLI_PATH "); build target zaya_cli to run this test");
    return;
  }
  const std::string input_path = ZAYA_TEST_DATA_DIR "/chat-templates/cases.jsonl";
  std::vector<zaya::Value> expected;
  {
    std::ifstream in(input_path);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) expected.push_back(zaya::Value::parse_json(line));
  }
  // Append lines that must fail: a raising template, a syntax error and a malformed request.
  char extra_path_buffer[] = "/tmp/zaya_template_cli_XXXXXX";
  int fd = mkstemp(extra_path_buffer);
  REQUIRE(fd >= 0);
  close(fd);
  const std::string extra_path = extra_path_buffer;
  {
    std::ifstream in(input_path);
    std::ofstream out(extra_path);
    out << in.rdbuf();
    out << R"({"template": "{{ raise_exception('no system role') }}", "messages": []})" << "\n";
    out << R"({"template": "{% for %}", "messages": []})" << "\n";
    out << "not json\n";
    out << R"({"template": "{{ strftime_now('%d %b %Y') }}", "messages": [], "now": "2026-11-22"})" << "\n";
  }
  std::string command = std::string(ZAYA_CLI_PATH) + " template render < " + extra_path;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::vector<zaya::Value> lines;
  std::string line;
  int c;
  while ((c = std::fgetc(pipe)) != EOF) {
    if (c == '\n') {
      lines.push_back(zaya::Value::parse_json(line));
      line.clear();
    } else {
      line.push_back(static_cast<char>(c));
    }
  }
  int status = pclose(pipe);
  std::remove(extra_path.c_str());
  CHECK(status == 0);
  REQUIRE(lines.size() == expected.size() + 4);
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    REQUIRE(lines[i].find("output") != nullptr);
    CHECK(lines[i].find("output")->as_string() == expected[i].find("output")->as_string());
  }
  const zaya::Value& raised = lines[expected.size()];
  CHECK(raised.find("error")->as_string() == "no system role");
  CHECK(raised.find("code")->as_string() == "template error");
  CHECK(lines[expected.size() + 1].find("error")->as_string().find("syntax error") != std::string::npos);
  CHECK(lines[expected.size() + 2].find("code")->as_string() == "bad format");
  CHECK(lines[expected.size() + 3].find("output")->as_string() == "22 Nov 2026");
}
