// The ChatTemplate API: render_chat's variables, the injectable clock, thread safety, and
// value pass-through (insertion order, big integers, float repr) that tojson output depends on.
#include <doctest/doctest.h>

#include <zaya/chat_template.h>
#include <zaya/error.h>
#include <zaya/value.h>

#include <ctime>
#include <string>
#include <thread>
#include <vector>

namespace {

zaya::Value user_message(const std::string& text) {
  return zaya::Value::object({{"role", "user"}, {"content", text}});
}

std::tm november_22_2026() {
  std::tm tm{};
  tm.tm_year = 2026 - 1900;
  tm.tm_mon = 10;
  tm.tm_mday = 22;
  tm.tm_hour = 9;
  tm.tm_min = 5;
  tm.tm_wday = 0;
  tm.tm_yday = 325;
  return tm;
}

}  // namespace

TEST_CASE("render_chat passes messages, tools=None, documents=None and extra variables like transformers") {
  auto tmpl = zaya::ChatTemplate::parse(
      "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
      "|tools={{ tools }}|{{ tools is defined }}|docs={{ documents }}|agp={{ add_generation_prompt }}"
      "|thinking={{ enable_thinking | default('unset') }}");
  zaya::Value messages = zaya::Value::array({user_message("hi")});
  zaya::Value extra = zaya::Value::object({{"bos_token", "<s>"}, {"enable_thinking", false}});
  CHECK(tmpl.render_chat(messages, zaya::Value(), true, extra) ==
        "<s><user>hi|tools=None|True|docs=None|agp=True|thinking=False");
  CHECK(tmpl.render_chat(messages) == "<user>hi|tools=None|True|docs=None|agp=False|thinking=unset");
  zaya::Value tools = zaya::Value::array({zaya::Value::object({{"name", "f"}})});
  CHECK(tmpl.render_chat(messages, tools).find("|tools=[{'name': 'f'}]|") != std::string::npos);
}

TEST_CASE("strftime_now uses the injected clock") {
  auto tmpl = zaya::ChatTemplate::parse("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%A %H:%M') }}");
  zaya::RenderOptions options;
  options.now = november_22_2026();
  CHECK(tmpl.render(zaya::Value::object(), options) == "22 Nov 2026|Sunday 09:05");
  // Without an injected clock it is the current local time.
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  std::string year = zaya::ChatTemplate::parse("{{ strftime_now('%Y') }}").render(zaya::Value::object());
  CHECK(std::stoi(year) >= local.tm_year + 1900 - 1);
  CHECK(std::stoi(year) <= local.tm_year + 1900 + 1);
}

TEST_CASE("a parsed template renders concurrently from many threads") {
  auto tmpl = zaya::ChatTemplate::parse(
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
      "{{ m.content | upper }}{% if not loop.last %},{% endif %}{% endfor %}:{{ ns.n }}");
  zaya::Value messages = zaya::Value::array();
  for (int i = 0; i < 50; ++i) {
    std::string text = "m";
    text += std::to_string(i);  // ("m" + std::to_string(i) trips a GCC 12 -Wrestrict false positive)
    messages.push_back(user_message(text));
  }
  zaya::Value vars = zaya::Value::object({{"messages", messages}});
  const std::string expected = tmpl.render(vars);
  CHECK(expected.substr(0, 9) == "M0,M1,M2,");
  CHECK(expected.substr(expected.size() - 3) == ":50");
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      zaya::ChatTemplate copy = tmpl;  // copies share the parsed template
      for (int i = 0; i < 200; ++i) mismatches[t] += copy.render(vars) != expected;
    });
  }
  for (auto& thread : threads) thread.join();
  for (int m : mismatches) CHECK(m == 0);
}

TEST_CASE("tojson keeps insertion order, big integers and Python float formatting") {
  zaya::Value args = zaya::Value::parse_json(
      R"({"zeta": 1, "alpha": [1.0, 0.1, 1e-7, 1e16, 12345678901234567890123], "nested": {"é": "ü\n"}})");
  auto tmpl = zaya::ChatTemplate::parse("{{ args | tojson }}|{{ args.alpha[4] }}|{{ args.alpha[0] }}");
  CHECK(tmpl.render(zaya::Value::object({{"args", args}})) ==
        "{\"zeta\": 1, \"alpha\": [1.0, 0.1, 1e-07, 1e+16, 12345678901234567890123], \"nested\": {\"é\": \"ü\\n\"}}"
        "|12345678901234567890123|1.0");
}

TEST_CASE("attribute and item access fall back to each other like jinja2") {
  auto tmpl = zaya::ChatTemplate::parse(
      "{{ m.content }}/{{ m['content'] }}/{{ m.items is callable }}/{{ m['items'] }}/{{ m.missing is defined }}"
      "/{{ m.tool_calls[0].function.name }}/{{ m.tool_calls.0['function'].arguments.city }}");
  zaya::Value m = zaya::Value::parse_json(
      R"({"content": "c", "items": "stored", "tool_calls": [{"function": {"name": "f", "arguments": {"city": "Oslo"}}}]})");
  CHECK(tmpl.render(zaya::Value::object({{"m", m}})) == "c/c/True/stored/False/f/Oslo");
}

TEST_CASE("whitespace control follows trim_blocks and lstrip_blocks") {
  auto render = [](const char* source) { return zaya::ChatTemplate::parse(source).render(zaya::Value::object()); };
  // trim_blocks removes the newline after a block tag; lstrip_blocks the indentation before it.
  CHECK(render("<\n    {% if true %}\n    x\n    {% endif %}\n>") == "<\n    x\n>");
  // Variables are not blocks: neither applies to them.
  CHECK(render("<\n    {{ 'x' }}\n>") == "<\n    x\n>");
  // '-' strips all whitespace on its side, '+' opts out of lstrip/trim.
  CHECK(render("a  \n {{- 'b' -}} \n  c") == "abc");
  CHECK(render("a\n  {%+ if true %}b{% endif +%}\nc") == "a\n  b\nc");
  // One trailing newline of the template is dropped (keep_trailing_newline=False).
  CHECK(render("x\n") == "x");
  CHECK(render("x\n\n") == "x\n");
  // Newlines in the source are normalised to \n.
  CHECK(render("a\r\nb\rc") == "a\nb\nc");
}

TEST_CASE("loop controls, loop variables and namespaces") {
  auto render = [](const char* source) { return zaya::ChatTemplate::parse(source).render(zaya::Value::object()); };
  CHECK(render("{% for x in range(10) %}{% if x is odd %}{% continue %}{% endif %}{% if x > 6 %}{% break %}{% endif %}"
               "{{ x }}{% endfor %}") == "0246");
  CHECK(render("{% for x in 'ab' %}{{ loop.index }}/{{ loop.length }}{{ ',' if not loop.last }}{% endfor %}") == "1/2,2/2");
  // Assignments inside a loop stay in the loop; namespaces carry state out.
  CHECK(render("{% set n = 0 %}{% set ns = namespace(n=0) %}{% for x in range(3) %}{% set n = n + 1 %}"
               "{% set ns.n = ns.n + 1 %}{% endfor %}{{ n }}{{ ns.n }}") == "03");
}
