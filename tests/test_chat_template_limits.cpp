// Hostile templates: every limit fails with limit_exceeded (never a crash, hang or runaway
// allocation), and broken templates fail with template_error.
#include <doctest/doctest.h>

#include <zaya/chat_template.h>
#include <zaya/error.h>
#include <zaya/value.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

struct Outcome {
  zaya::ErrorCode code = zaya::ErrorCode::ok;
  std::string text;  // output, or the error message
};

Outcome render(const std::string& source, const zaya::TemplateLimits& limits = {},
               const zaya::Value& variables = zaya::Value::object()) {
  Outcome outcome;
  try {
    outcome.text = zaya::ChatTemplate::parse(source, limits).render(variables);
  } catch (const zaya::Error& e) {
    outcome.code = e.code();
    outcome.text = e.what();
  }
  return outcome;
}

std::string repeat(std::string_view piece, size_t times) {
  std::string out;
  out.reserve(piece.size() * times);
  for (size_t i = 0; i < times; ++i) out += piece;
  return out;
}

}  // namespace

TEST_CASE("limits: the defaults are documented values") {
  zaya::TemplateLimits limits;
  CHECK(limits.max_output_bytes == 16u << 20);
  CHECK(limits.max_depth == 512);
  CHECK(limits.max_steps == 20'000'000u);
  CHECK(limits.max_seconds == 5.0);
  CHECK(limits.max_allocated_bytes == 512u << 20);
}

TEST_CASE("limits: deeply nested expressions fail to parse instead of overflowing the stack") {
  for (const std::string& source : {
           "{{ " + repeat("(", 100000) + "1" + repeat(")", 100000) + " }}",
           "{{ " + repeat("-", 100000) + "1 }}",
           "{{ " + repeat("not ", 100000) + "1 }}",
           "{{ " + repeat("[", 50000) + repeat("]", 50000) + " }}",
           "{{ " + repeat("{'a': ", 50000) + "1" + repeat("}", 50000) + " }}",
           "{{ x" + repeat("[0]", 100000) + " }}",
           "{{ x" + repeat(".a", 100000) + " }}",
           "{{ x" + repeat("|trim", 100000) + " }}",
           "{{ 1" + repeat(" + 1", 100000) + " }}",
           "{{ 1" + repeat(" if 1 else 1", 100000) + " }}",
           "{{ f" + repeat("(", 50000) + repeat(")", 50000) + " }}",
           repeat("{% if true %}", 100000) + repeat("{% endif %}", 100000),
           repeat("{% for x in [1] %}", 100000) + repeat("{% endfor %}", 100000),
       }) {
    CAPTURE(source.substr(0, 40));
    Outcome outcome = render(source);
    CHECK(outcome.code == zaya::ErrorCode::limit_exceeded);
    CHECK(outcome.text.find("deeper than the limit of 512") != std::string::npos);
  }
}

TEST_CASE("limits: nesting within max_depth renders, and max_depth is configurable") {
  std::string nested = "{{ " + repeat("(", 40) + "7" + repeat(")", 40) + " }}";
  CHECK(render(nested).text == "7");
  zaya::TemplateLimits tight;
  tight.max_depth = 20;
  CHECK(render(nested, tight).code == zaya::ErrorCode::limit_exceeded);
  tight.max_depth = 0;
  CHECK(render("x", tight).code == zaya::ErrorCode::invalid_argument);
}

TEST_CASE("limits: unbounded recursion in macros and recursive loops stops at max_depth") {
  Outcome macro = render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  CHECK(macro.code == zaya::ErrorCode::limit_exceeded);
  CHECK(macro.text.find("nests deeper than 512 levels while rendering") != std::string::npos);
  CHECK(render("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}").code == zaya::ErrorCode::limit_exceeded);
  // Legitimate recursion (a JSON-schema renderer, say) goes a hundred levels deep.
  CHECK(render("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(100) }}ok").text == "ok");
}

TEST_CASE("limits: huge loops stop at max_steps") {
  // range() is capped like jinja2's sandbox (MAX_RANGE = 100000).
  Outcome big_range = render("{% for x in range(10**9) %}{% endfor %}");
  CHECK(big_range.code == zaya::ErrorCode::limit_exceeded);
  CHECK(big_range.text.find("MAX_RANGE (100000)") != std::string::npos);
  zaya::TemplateLimits limits;
  limits.max_steps = 100000;
  Outcome nested = render("{% for x in range(100000) %}{% for y in range(100000) %}{% endfor %}{% endfor %}", limits);
  CHECK(nested.code == zaya::ErrorCode::limit_exceeded);
  CHECK(nested.text.find("more than 100000 steps") != std::string::npos);
  // Exponential macro recursion within the depth limit.
  Outcome exponential = render("{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}", limits);
  CHECK(exponential.code == zaya::ErrorCode::limit_exceeded);
}

TEST_CASE("limits: the time budget is enforced") {
  zaya::TemplateLimits limits;
  limits.max_steps = UINT64_MAX;
  limits.max_seconds = 0.05;
  auto start = std::chrono::steady_clock::now();
  Outcome outcome = render("{% for x in range(100000) %}{% for y in range(100000) %}{% endfor %}{% endfor %}", limits);
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(outcome.code == zaya::ErrorCode::limit_exceeded);
  CHECK(outcome.text.find("longer than") != std::string::npos);
  CHECK(elapsed < 2.0);
}

TEST_CASE("limits: output size and string sizes are capped") {
  zaya::TemplateLimits limits;
  limits.max_output_bytes = 1000;
  CHECK(render("{% for x in range(100) %}0123456789{% endfor %}", limits).text.size() == 1000);
  Outcome over = render("{% for x in range(101) %}0123456789{% endfor %}", limits);
  CHECK(over.code == zaya::ErrorCode::limit_exceeded);
  CHECK(over.text.find("max_output_bytes") != std::string::npos);
  // Strings built in expressions are capped too, before anything is allocated.
  for (std::string source : {"{{ 'x' * 10**12 }}", "{{ ('x' * 600) ~ ('y' * 600) }}", "{{ 'x'.center(10**12) }}",
                             "{{ '%999999999999s' % 'x' }}", "{{ '{:>999999999999}'.format('x') }}",
                             "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                             "{% macro m() %}{{ 'x' * 999 }}{% endmacro %}{{ m() ~ m() }}"}) {
    CAPTURE(source);
    CHECK(render(source, limits).code == zaya::ErrorCode::limit_exceeded);
  }
  CHECK(render("{{ [1] * 10**12 }}").code == zaya::ErrorCode::limit_exceeded);
}

TEST_CASE("limits: total bytes built during a render are capped") {
  zaya::TemplateLimits limits;
  limits.max_allocated_bytes = 1 << 20;
  // Each string is small, but together they exceed the budget.
  Outcome outcome = render("{% set ns = namespace(l=[]) %}{% for i in range(10000) %}"
                           "{% set ns.l = ns.l + ['x' * 1000] %}{% endfor %}{{ ns.l | length }}",
                           limits);
  CHECK(outcome.code == zaya::ErrorCode::limit_exceeded);
  CHECK(outcome.text.find("bytes of values") != std::string::npos);
}

TEST_CASE("limits: values cannot nest without bound") {
  Outcome lists = render("{% set ns = namespace(l=[]) %}{% for i in range(2000) %}{% set ns.l = [ns.l] %}{% endfor %}x");
  CHECK(lists.code == zaya::ErrorCode::limit_exceeded);
  // A namespace holding itself prints like Python's recursive repr and is freed afterwards.
  CHECK(render("{% set ns = namespace() %}{% set ns.self = ns %}{{ ns }}").text == "<Namespace {'self': <Namespace {...}>}>");
  // A chain of namespaces deeper than values may nest cannot make repr recurse without bound.
  Outcome chain = render("{% set head = namespace(node=none) %}{% for i in range(3000) %}"
                         "{% set head.node = namespace(next=head.node) %}{% endfor %}{{ head.node }}");
  CHECK(chain.code == zaya::ErrorCode::limit_exceeded);
  // Deeply nested input is refused rather than recursed into.
  zaya::Value deep = zaya::Value::array();
  for (int i = 0; i < 1000; ++i) deep = zaya::Value::array({deep});
  CHECK(render("{{ x | length }}", {}, zaya::Value::object({{"x", deep}})).code == zaya::ErrorCode::limit_exceeded);
}

TEST_CASE("errors: broken templates fail with template_error and say where") {
  struct Case {
    const char* source;
    const char* message;
  };
  for (const Case& c : {
           Case{"{{ 'unterminated }}", "line 1"},
           Case{"a\nb\n{% for %}", "template syntax error at line 3"},
           Case{"{% endfor %}", "unknown tag 'endfor'"},
           Case{"{% if x %}", "expected 'elif' or 'else' or 'endif'"},
           Case{"{# no end", "missing end of comment tag"},
           Case{"{% raw %} no end", "missing end of raw directive"},
           Case{"{{ (1 }}", "unexpected '}', expected ')'"},
           Case{"{% break %}", "'break' outside loop"},
           Case{"{{ x | }}", "expected token name"},
           Case{"{% include 'other.jinja' %}", "not supported"},
           Case{"{{ 1 $ 2 }}", "unexpected char '$'"},
           Case{"{{ '\\x4' }}", "truncated \\x escape"},
       }) {
    CAPTURE(c.source);
    Outcome outcome = render(c.source);
    CHECK(outcome.code == zaya::ErrorCode::template_error);
    CHECK(outcome.text.find(c.message) != std::string::npos);
  }
  Outcome runtime = render("line one\n{{ 1 }}\n{{ missing.attr }}");
  CHECK(runtime.code == zaya::ErrorCode::template_error);
  CHECK(runtime.text == "line 3: 'missing' is undefined");
}

TEST_CASE("errors: raise_exception passes the template's message through unchanged") {
  Outcome outcome = render("{% if true %}\n{{ raise_exception('Roles must alternate: ' ~ 3) }}{% endif %}");
  CHECK(outcome.code == zaya::ErrorCode::template_error);
  CHECK(outcome.text == "Roles must alternate: 3");
}

TEST_CASE("errors: template source must be valid UTF-8") {
  for (std::string bad : {std::string("ok \xff"), std::string("{{ '\xc3' }}"), std::string("\xed\xa0\x80"),
                          std::string("\xf8\x88\x80\x80\x80")}) {
    Outcome outcome = render(bad);
    CHECK(outcome.code == zaya::ErrorCode::template_error);
    CHECK(outcome.text.find("not valid UTF-8") != std::string::npos);
  }
  // NUL bytes and other control characters are plain text.
  CHECK(render(std::string("a\0b", 3)).text == std::string("a\0b", 3));
}

TEST_CASE("errors: variables must be an object") {
  auto tmpl = zaya::ChatTemplate::parse("x");
  try {
    tmpl.render(zaya::Value::array());
    FAIL("expected an error");
  } catch (const zaya::Error& e) {
    CHECK(e.code() == zaya::ErrorCode::invalid_argument);
  }
}

TEST_CASE("fuzz: mutated real templates either render or fail with zaya::Error") {
  // Seeds: the golden templates plus a few feature-dense snippets; mutations cut, duplicate and
  // splice spans and drop in Jinja syntax fragments. Deterministic (fixed seed), bounded time.
  std::vector<std::string> seeds = {
      "{% macro m(a, b=2) %}{{ a ~ b }}{% endmacro %}{% for x in xs if x %}{{ m(x) }}{{ loop.index }}{% else %}e{% endfor %}",
      "{% set ns = namespace(v=[]) %}{% for k, v in d.items() %}{% set ns.v = ns.v + [k] %}{% endfor %}{{ ns.v | join(',') }}",
      "{{ (xs | map('string') | list)[1:] | tojson(indent=2) }}{% filter upper %}{{ 'a' if xs else 'b' }}{% endfilter %}",
      "{%- raw %}{{ x }}{% endraw -%}{# c #}{{ '%s' % xs }}{{ d.a.b is defined }}{% call m() %}x{% endcall %}",
  };
  {
    std::ifstream in(ZAYA_TEST_DATA_DIR "/chat-templates/cases.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      std::string source = zaya::Value::parse_json(line).find("template")->as_string();
      if (std::find(seeds.begin(), seeds.end(), source) == seeds.end()) seeds.push_back(source);
    }
  }
  const char* fragments[] = {"{%", "%}", "{{", "}}", "{#", "#}", "(", ")", "[", "]", "{", "}", "|", "~", "-", "'",
                             "\"", "\\", ".", ",", ":", " if ", " else ", " for ", " in ", " not ", " is ", "endfor",
                             "endif", "set ", "macro ", "loop", "range(9)", "namespace(", "caller()", "*", "**", "//",
                             "%", "\n", "  ", "é", "\xf0\x9f\x98\x80", "0", "1e9", "none", "true", "-%}", "{%-"};
  zaya::Value variables = zaya::Value::parse_json(R"({
      "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                   {"role": "assistant", "content": "<think>r</think>a", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]},
                   {"role": "tool", "content": "t"}, {"role": "user", "content": [{"type": "text", "text": "v"}]}],
      "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
      "xs": [1, "two", null, [3]], "d": {"a": {"b": 1}}, "add_generation_prompt": true, "bos_token": "<s>"})");
  zaya::TemplateLimits limits;
  limits.max_steps = 20000;
  limits.max_output_bytes = 1 << 16;
  limits.max_seconds = 1.0;
  uint64_t state = 0x2545F4914F6CDD1Dull;
  auto next = [&state](uint64_t bound) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return bound ? state % bound : 0;
  };
  size_t rendered = 0, failed = 0;
  for (int iteration = 0; iteration < 3000; ++iteration) {
    std::string source = seeds[next(seeds.size())];
    for (int edits = next(3) == 0 ? 2 : 1; edits > 0; --edits) {
      size_t at = next(source.size() + 1);
      switch (next(4)) {
        case 0: source.erase(at, next(12)); break;
        case 1: source.insert(at, fragments[next(std::size(fragments))]); break;
        case 2: source.insert(at, source.substr(next(source.size() + 1), next(24))); break;
        default: source.insert(at, 1, static_cast<char>(next(256))); break;
      }
    }
    try {
      zaya::ChatTemplate::parse(source, limits).render(variables);
      ++rendered;
    } catch (const zaya::Error& e) {
      ++failed;
      bool known = e.code() == zaya::ErrorCode::template_error || e.code() == zaya::ErrorCode::limit_exceeded;
      CHECK_MESSAGE(known, "unexpected error code " << static_cast<int>(e.code()) << ": " << e.what());
    } catch (const std::exception& e) {
      FAIL("a non-zaya exception escaped: " << e.what() << " for template: " << source);
    }
  }
  MESSAGE("fuzz: " << rendered << " rendered, " << failed << " failed cleanly");
  CHECK(rendered > 50);  // plenty of mutated templates still render
  CHECK(failed > 100);
}
