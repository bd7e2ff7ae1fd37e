// Golden tests: real HF chat templates (gemma3, qwen3, deepseek_v3, llama3_1) rendered by
// transformers, compared byte for byte.
#include <doctest/doctest.h>

#include <zaya/chat_template.h>
#include <zaya/error.h>
#include <zaya/value.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::vector<zaya::Value> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  std::vector<zaya::Value> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    cases.push_back(zaya::Value::parse_json(line));
  }
  return cases;
}

std::tm fixed_now() {
  std::tm tm{};
  tm.tm_year = 2026 - 1900;
  tm.tm_mon = 10;  // November
  tm.tm_mday = 22;
  tm.tm_hour = 13;
  tm.tm_min = 45;
  tm.tm_sec = 7;
  tm.tm_wday = 0;  // a Sunday
  tm.tm_yday = 325;
  return tm;
}

// The variables transformers passes: special tokens, messages, tools (None when absent),
// documents=None, add_generation_prompt and extra kwargs such as enable_thinking.
zaya::Value variables_of(const zaya::Value& test_case) {
  zaya::Value vars = zaya::Value::object();
  if (const zaya::Value* tokens = test_case.find("special_tokens")) {
    for (const auto& [name, token] : tokens->as_object()) vars[name] = token;
  }
  vars["messages"] = *test_case.find("messages");
  const zaya::Value* tools = test_case.find("tools");
  vars["tools"] = tools ? *tools : zaya::Value();
  vars["documents"] = zaya::Value();
  const zaya::Value* agp = test_case.find("add_generation_prompt");
  vars["add_generation_prompt"] = agp ? *agp : zaya::Value(false);
  if (const zaya::Value* thinking = test_case.find("enable_thinking")) vars["enable_thinking"] = *thinking;
  return vars;
}

void check_golden_file(const std::string& path, size_t expected_cases) {
  std::vector<zaya::Value> cases = read_jsonl(path);
  CHECK(cases.size() == expected_cases);
  size_t passed = 0;
  for (const zaya::Value& test_case : cases) {
    std::string label = test_case.find("template_name")->as_string() + " case " + test_case.find("case")->to_json();
    CAPTURE(label);
    zaya::RenderOptions options;
    options.now = fixed_now();
    std::string output, error;
    try {
      auto tmpl = zaya::ChatTemplate::parse(test_case.find("template")->as_string());
      output = tmpl.render(variables_of(test_case), options);
    } catch (const zaya::Error& e) {
      CHECK_MESSAGE(e.code() == zaya::ErrorCode::template_error, label << ": unexpected error code: " << e.what());
      error = e.what();
    }
    if (const zaya::Value* expected = test_case.find("output")) {
      CHECK_MESSAGE(error.empty(), label << " raised: " << error);
      CHECK_MESSAGE(output == expected->as_string(), label << " rendered differently");
      if (error.empty() && output == expected->as_string()) ++passed;
    } else {
      const zaya::Value* expected_error = test_case.find("error");
      REQUIRE(expected_error != nullptr);
      CHECK_MESSAGE(!error.empty(), label << " should have raised: " << expected_error->as_string());
      if (!error.empty()) {
        CHECK_MESSAGE(error.find(expected_error->as_string()) != std::string::npos,
                      label << " raised '" << error << "', expected '" << expected_error->as_string() << "'");
        ++passed;
      }
    }
  }
  MESSAGE(path << ": " << passed << "/" << cases.size() << " golden cases match");
}

// feature_cases.jsonl (tools/chat_template/generate_cases.py): each case has `variables` and
// either the exact `output` or the `error` and `error_type` Python jinja2 raised.
void check_feature_file(const std::string& path) {
  std::vector<zaya::Value> cases = read_jsonl(path);
  REQUIRE(cases.size() > 100);
  size_t passed = 0;
  for (const zaya::Value& test_case : cases) {
    std::string label = test_case.find("template_name")->as_string() + " case " + test_case.find("case")->to_json();
    const std::string& source = test_case.find("template")->as_string();
    CAPTURE(label);
    CAPTURE(source);
    zaya::RenderOptions options;
    options.now = fixed_now();
    std::string output, error;
    zaya::ErrorCode code = zaya::ErrorCode::ok;
    try {
      output = zaya::ChatTemplate::parse(source).render(*test_case.find("variables"), options);
    } catch (const zaya::Error& e) {
      code = e.code();
      error = e.what();
    }
    if (const zaya::Value* expected = test_case.find("output")) {
      CHECK_MESSAGE(code == zaya::ErrorCode::ok, label << " raised: " << error);
      CHECK_MESSAGE(output == expected->as_string(), label << " rendered differently");
      passed += code == zaya::ErrorCode::ok && output == expected->as_string();
      continue;
    }
    const std::string& expected_error = test_case.find("error")->as_string();
    const std::string& error_type = test_case.find("error_type")->as_string();
    CAPTURE(expected_error);
    CAPTURE(error);
    bool ok = false;
    if (error_type == "TemplateError") {
      // raise_exception(): the template's own message, unchanged.
      ok = code == zaya::ErrorCode::template_error && error == expected_error;
    } else if (error_type == "OverflowError") {
      ok = code == zaya::ErrorCode::limit_exceeded && error.find(expected_error) != std::string::npos;
    } else if (error_type == "TemplateSyntaxError" || error_type == "SyntaxError") {
      ok = code == zaya::ErrorCode::template_error && error.rfind("template syntax error", 0) == 0;
    } else {
      ok = code == zaya::ErrorCode::template_error && error.find(expected_error) != std::string::npos;
    }
    CHECK_MESSAGE(ok, label << ": expected " << error_type << " '" << expected_error << "', got '" << error << "'");
    passed += ok;
  }
  MESSAGE(path << ": " << passed << "/" << cases.size() << " feature cases match");
}

}  // namespace

TEST_CASE("chat templates render byte for byte like transformers (cases.jsonl)") {
  check_golden_file(ZAYA_TEST_DATA_DIR "/chat-templates/cases.jsonl", 24);
}

TEST_CASE("template features render like jinja2 in HF's environment (feature_cases.jsonl)") {
  check_feature_file(ZAYA_TEST_DATA_DIR "/chat-templates/feature_cases.jsonl");
}
