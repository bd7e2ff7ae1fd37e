// Hostile text (docs/SECURITY.md): tokenizer files, prompts, chat messages, templates and stop
// strings. Each case asserts the specific zaya::Error and that everything keeps working after it.
// Malformed tokenizer.json structure (tests/test_tokenizer.cpp) and the template limits one by
// one (tests/test_chat_template_limits.cpp) are covered there; this file sweeps the inputs those
// do not: file sizes, invalid UTF-8 at every position and in every text input, nesting in every
// JSON input, and hostile templates reached through the tokenizer files (the real path).
#include "test_support.h"

#include <zaya/chat_format.h>
#include <zaya/chat_template.h>
#include <zaya/error.h>
#include <zaya/stop_strings.h>
#include <zaya/tokenizer.h>
#include <zaya/utf8.h>
#include <zaya/value.h>

#include <chrono>
#include <fstream>
#include <optional>

using namespace zaya;

namespace {

std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), p.string());
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const std::filesystem::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
  REQUIRE(out.good());
}

template <typename F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  FAIL("no zaya::Error was thrown");
  return Error(ErrorCode::ok, "");
}

#define CHECK_ERROR(expr, expected_code, mention)                                         \
  do {                                                                                    \
    const ::zaya::Error error_ = error_of([&] { (void)(expr); });                         \
    CAPTURE(std::string(error_.what()));                                                  \
    CHECK(error_.code() == (expected_code));                                              \
    CHECK(std::string(error_.what()).find(mention) != std::string::npos);                 \
  } while (0)

std::filesystem::path tiny_chat() { return test::data_dir() / "tiny-chat"; }

// A copy of the tiny ChatML tokenizer directory, to be damaged by a test.
std::filesystem::path tiny_chat_copy(const std::string& name) {
  const auto dir = test::temp_dir("hostile-text-" + name);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    std::filesystem::copy_file(tiny_chat() / f, dir / f);
  return dir;
}

// Byte sequences that are not UTF-8: lone continuation, truncated 2/3/4-byte sequences, overlong
// forms, a UTF-16 surrogate, beyond U+10FFFF, bytes that never occur.
const std::vector<std::string>& invalid_sequences() {
  static const std::vector<std::string> all = {
      "\x80", "\xbf", "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf",
      "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\xfe", "\xff"};
  return all;
}

}  // namespace

// ---- tokenizer files --------------------------------------------------------------------------

TEST_CASE("tokenizer files: absurd sizes are refused before they are read") {
  const auto dir = tiny_chat_copy("huge-json");
  // A sparse 1.5 GiB tokenizer.json: reading it whole would take that much memory.
  std::filesystem::resize_file(dir / "tokenizer.json", uintmax_t(3) << 29);
  CHECK_ERROR(Tokenizer::load(dir), ErrorCode::limit_exceeded, "tokenizer.json");
  const auto dir2 = tiny_chat_copy("huge-config");
  std::filesystem::resize_file(dir2 / "tokenizer_config.json", uintmax_t(1) << 30);
  CHECK_ERROR(Tokenizer::load(dir2), ErrorCode::limit_exceeded, "tokenizer_config.json");
  const auto dir3 = tiny_chat_copy("huge-template");
  write_bytes(dir3 / "chat_template.jinja", "");
  std::filesystem::resize_file(dir3 / "chat_template.jinja", uintmax_t(1) << 30);
  CHECK_ERROR(Tokenizer::load(dir3), ErrorCode::limit_exceeded, "chat_template.jinja");
  // Not regular files: a directory where tokenizer.json should be.
  const auto dir4 = test::temp_dir("hostile-text-dir-json");
  std::filesystem::create_directories(dir4 / "tokenizer.json");
  CHECK_ERROR(Tokenizer::load(dir4), ErrorCode::io, "tokenizer.json");
  CHECK_NOTHROW(Tokenizer::load(tiny_chat()));
}

TEST_CASE("tokenizer files: invalid UTF-8 and deep nesting in every file") {
  const std::string json = read_bytes(tiny_chat() / "tokenizer.json");
  const std::string config = read_bytes(tiny_chat() / "tokenizer_config.json");
  REQUIRE_NOTHROW(Tokenizer::from_json(json, config));
  // A vocabulary entry, an added token, the config's chat template: each gets a bad byte.
  for (const std::string& bad : invalid_sequences()) {
    CAPTURE(bad);
    std::string damaged = json;
    const size_t vocab = damaged.find("\"vocab\"");
    REQUIRE(vocab != std::string::npos);
    damaged.insert(damaged.find('"', damaged.find('{', vocab) + 1) + 1, bad);
    CHECK_ERROR(Tokenizer::from_json(damaged, config), ErrorCode::bad_format, "JSON");
    std::string damaged_config = config;
    damaged_config.insert(damaged_config.find("{%") + 2, bad);
    CHECK_ERROR(Tokenizer::from_json(json, damaged_config), ErrorCode::bad_format, "tokenizer_config.json");
  }
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK_ERROR(Tokenizer::from_json(deep), ErrorCode::bad_format, "JSON");
  CHECK_ERROR(Tokenizer::from_json(json, deep), ErrorCode::bad_format, "tokenizer_config.json");
  std::string nested_config = config;
  nested_config.insert(nested_config.find('{') + 1, "\"x\": " + deep + ",");
  CHECK_ERROR(Tokenizer::from_json(json, nested_config), ErrorCode::bad_format, "tokenizer_config.json");
  // chat_template.jinja with invalid UTF-8: loading keeps the text, parsing it refuses.
  const auto dir = tiny_chat_copy("jinja-utf8");
  write_bytes(dir / "chat_template.jinja", "{{ bos_token }}\xff{% for m in messages %}{{ m.content }}{% endfor %}");
  const Tokenizer tok = Tokenizer::load(dir);
  CHECK_ERROR(ChatFormatter(tok), ErrorCode::template_error, "UTF-8");
}

TEST_CASE("tokenizer files: merges naming unknown tokens, in both spellings") {
  const auto json_with = [](const std::string& merges) {
    return R"({"version":"1.0","added_tokens":[],"normalizer":null,"pre_tokenizer":null,"post_processor":null,
      "decoder":null,"model":{"type":"BPE","unk_token":null,"fuse_unk":false,"byte_fallback":false,
      "vocab":{"a":0,"b":1,"ab":2,"a b":3},"merges":)" + merges + "}}";
  };
  REQUIRE_NOTHROW(Tokenizer::from_json(json_with(R"(["a b"])")));
  CHECK_ERROR(Tokenizer::from_json(json_with(R"(["a zz"])")), ErrorCode::bad_format, "'zz' is not in the vocabulary");
  CHECK_ERROR(Tokenizer::from_json(json_with(R"([["zz", "b"]])")), ErrorCode::bad_format, "'zz' is not in the vocabulary");
  CHECK_ERROR(Tokenizer::from_json(json_with(R"(["a b", "b a"])")), ErrorCode::bad_format, "'ba', which is not in the vocabulary");
  CHECK_ERROR(Tokenizer::from_json(json_with(R"(["a ÿ"])")), ErrorCode::bad_format, "not in the vocabulary");
  CHECK_ERROR(Tokenizer::from_json(json_with(R"([["a", "b", "c"]])")), ErrorCode::bad_format, "model.merges[0]");
  CHECK_ERROR(Tokenizer::from_json(json_with(R"([""])")), ErrorCode::bad_format, "model.merges[0]");
  CHECK_ERROR(Tokenizer::from_json(json_with(R"([7])")), ErrorCode::bad_format, "model.merges[0]");
}

// ---- encoding and decoding --------------------------------------------------------------------

TEST_CASE("encode: invalid UTF-8 at every position is refused and names the byte offset") {
  const Tokenizer tok = Tokenizer::load(tiny_chat());
  const std::string base = "Hi \xc3\xa9t\xc3\xa9 <|im_start|> \xf0\x9f\x98\x80!";
  REQUIRE(utf8::is_valid(base));
  size_t checked = 0;
  for (size_t at = 0; at <= base.size(); ++at) {
    // Only between characters, so that the base text itself stays valid around the insertion.
    if (at < base.size() && (static_cast<unsigned char>(base[at]) & 0xc0) == 0x80) continue;
    for (const std::string& bad : invalid_sequences()) {
      std::string text = base;
      text.insert(at, bad);
      REQUIRE(!utf8::is_valid(text));
      for (bool add_special : {false, true}) {
        const Error e = error_of([&] { tok.encode(text, add_special); });
        CHECK(e.code() == ErrorCode::invalid_argument);
        CHECK_MESSAGE(std::string(e.what()).find(fmt::format("byte offset {}", utf8::first_invalid(text))) != std::string::npos,
                      e.what());
        ++checked;
      }
    }
  }
  CHECK(checked > 300);
  // Embedded NUL bytes are valid UTF-8 and encode.
  CHECK_NOTHROW(tok.encode(std::string("a\0b", 3)));
}

TEST_CASE("decode: ids outside the vocabulary, in one-shot and streaming decoding") {
  const Tokenizer tok = Tokenizer::load(tiny_chat());
  const int32_t vocab = static_cast<int32_t>(tok.vocab_size());
  for (int32_t bad : {-1, vocab, vocab + 1, std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min()}) {
    CAPTURE(bad);
    const std::vector<int32_t> ids = {40, bad, 41};
    CHECK_ERROR(tok.decode(ids), ErrorCode::out_of_range, std::to_string(bad));
    CHECK_ERROR(tok.id_to_token(bad), ErrorCode::out_of_range, std::to_string(bad));
    // The streaming decoder refuses the id and stays exactly where it was.
    StreamingDecoder stream(tok);
    std::string text = stream.push(40);
    CHECK_ERROR(stream.push(bad), ErrorCode::out_of_range, std::to_string(bad));
    text += stream.push(41);
    text += stream.finish();
    const std::vector<int32_t> good = {40, 41};
    CHECK(text == tok.decode(good));
  }
}

TEST_CASE("encode: long hostile prompts stay linear") {
  const Tokenizer tok = Tokenizer::load(tiny_chat());
  for (const std::string& unit : {std::string("a"), std::string(" "), std::string("\xf0\x9f\x98\x80"),
                                  std::string("<|im_start|>"), std::string("<|im_sta")}) {
    std::string text;
    while (text.size() < (size_t(1) << 20)) text += unit;
    const auto start = std::chrono::steady_clock::now();
    const auto ids = tok.encode(text);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    MESSAGE("1 MiB of '" << unit << "': " << ids.size() << " ids in " << seconds << " s");
    CHECK(!ids.empty());
    CHECK(seconds < 30.0);  // ~0.5 s in a release build; quadratic behaviour would take hours
  }
}

// ---- chat messages, templates, stop strings ---------------------------------------------------

TEST_CASE("messages JSON: invalid UTF-8, lone surrogates and deep nesting") {
  for (const std::string& bad : invalid_sequences()) {
    CAPTURE(bad);
    CHECK_ERROR(Value::parse_json("[{\"role\": \"user\", \"content\": \"hi" + bad + "\"}]"), ErrorCode::bad_format, "");
    CHECK_ERROR(Value::parse_json("{\"k" + bad + "\": 1}"), ErrorCode::bad_format, "");
  }
  // Escaped lone surrogates cannot become UTF-8: refused (or, if accepted, never produce
  // invalid bytes that would then reach the tokenizer).
  for (const char* escaped : {"\"\\ud800\"", "\"\\udc00x\"", "\"\\ud83d\\u0041\""}) {
    CAPTURE(escaped);
    try {
      const Value v = Value::parse_json(escaped);
      CHECK(utf8::is_valid(v.as_string()));
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::bad_format);
    }
  }
  CHECK_ERROR(Value::parse_json(std::string(200000, '[') + std::string(200000, ']')), ErrorCode::bad_format, "nested deeper");
  std::string deep_objects;
  for (int i = 0; i < 100000; ++i) deep_objects += "{\"a\":";
  deep_objects += "1" + std::string(100000, '}');
  CHECK_ERROR(Value::parse_json(deep_objects), ErrorCode::bad_format, "nested deeper");
}

TEST_CASE("chat formatting: invalid UTF-8 handed over as values never reaches the model") {
  const Tokenizer tok = Tokenizer::load(tiny_chat());
  const ChatFormatter formatter(tok);
  for (const std::string& bad : invalid_sequences()) {
    CAPTURE(bad);
    ChatRequest request;
    request.messages = Value::array({Value::object({{"role", Value("user")}, {"content", Value("hi " + bad)}})});
    const Error e = error_of([&] { formatter.encode(request); });
    CHECK((e.code() == ErrorCode::invalid_argument || e.code() == ErrorCode::template_error));
    request.messages = Value::array({Value::object({{"role", Value("us" + bad)}, {"content", Value("hi")}})});
    const Error e2 = error_of([&] { formatter.encode(request); });
    CHECK((e2.code() == ErrorCode::invalid_argument || e2.code() == ErrorCode::template_error));
  }
  ChatRequest fine;
  fine.messages = Value::array({Value::object({{"role", Value("user")}, {"content", Value("hi")}})});
  CHECK(!formatter.encode(fine).empty());
}

TEST_CASE("chat formatting: templates from tokenizer files that loop, recurse or blow up") {
  TemplateLimits limits;
  limits.max_steps = 200'000;
  limits.max_seconds = 5.0;
  limits.max_output_bytes = size_t{1} << 20;
  limits.max_allocated_bytes = size_t{64} << 20;
  struct Case {
    const char* name;
    std::string source;
    ErrorCode code;
    const char* mention;
  };
  const std::vector<Case> cases = {
      {"huge range", "{% for i in range(1000000000) %}{{ i }}{% endfor %}", ErrorCode::limit_exceeded, "MAX_RANGE"},
      {"nested loops", "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
       ErrorCode::limit_exceeded, "steps"},
      {"recursive macro", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", ErrorCode::limit_exceeded, "nests deeper"},
      {"recursive loop", "{% for m in messages recursive %}{{ loop(messages) }}{% endfor %}", ErrorCode::limit_exceeded,
       "nests deeper"},
      {"string doubling", "{% set ns = namespace(s='xx') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
       ErrorCode::limit_exceeded, ""},
      {"huge repeat", "{{ 'x' * 1000000000 }}", ErrorCode::limit_exceeded, ""},
      {"raise", "{{ raise_exception('no system messages allowed') }}", ErrorCode::template_error,
       "no system messages allowed"},
      {"syntax", "{% for %}", ErrorCode::template_error, ""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const auto dir = tiny_chat_copy("template");
    write_bytes(dir / "chat_template.jinja", c.source);
    const Tokenizer tok = Tokenizer::load(dir);
    const auto start = std::chrono::steady_clock::now();
    const Error e = error_of([&] {
      const ChatFormatter formatter(tok, limits);
      ChatRequest request;
      request.messages = Value::array({Value::object({{"role", Value("user")}, {"content", Value("hi")}})});
      formatter.encode(request);
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CAPTURE(std::string(e.what()));
    CHECK(e.code() == c.code);
    CHECK(std::string(e.what()).find(c.mention) != std::string::npos);
    CHECK(seconds < 10.0);
  }
}

TEST_CASE("stop strings: invalid UTF-8 and empty strings are refused") {
  for (const std::string& bad : invalid_sequences()) {
    CAPTURE(bad);
    CHECK_ERROR(StopStringMatcher({"ok", "x" + bad}), ErrorCode::invalid_argument, "stop_strings[1] is not valid UTF-8");
  }
  CHECK_ERROR(StopStringMatcher({""}), ErrorCode::invalid_argument, "stop_strings[0] is empty");
}

// ---- regressions found by the fuzzers ---------------------------------------------------------

TEST_CASE("streaming decode: a Strip of leading characters after Fuse spans the first windows (fuzz_tokenizer_json)") {
  // Found by fuzz_tokenizer_json: the first window decoded to "" (its one space stripped) and
  // the streaming decoder then treated the start of the text as done, so the second space, which
  // decode() strips too, was emitted.
  const std::string json = R"({"version":"1.0","added_tokens":[{"id":0,"content":"<unk>","special":true}],
    "normalizer":null,"pre_tokenizer":null,"post_processor":null,
    "decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"\u2581"},"content":" "},
      {"type":"Fuse"},{"type":"Strip","content":" ","start":2,"stop":0}]},
    "model":{"type":"BPE","unk_token":"<unk>","fuse_unk":true,"byte_fallback":false,
      "vocab":{"<unk>":0,"\u2581":1,"a":2,"b":3},"merges":[]}})";
  const Tokenizer tok = Tokenizer::from_json(json);
  const std::vector<std::vector<int32_t>> cases = {{1, 1, 2}, {1, 1, 1, 2}, {1, 2, 1}, {1, 0, 1, 2}, {1}, {1, 1}, {2, 1, 1}};
  for (const auto& ids : cases) {
    for (bool skip : {false, true}) {
      CAPTURE(skip);
      const std::string whole = tok.decode(ids, skip);
      StreamingDecoder stream(tok, skip);
      std::string pieces;
      for (int32_t id : ids) pieces += stream.push(id);
      pieces += stream.finish();
      CHECK(pieces == whole);
    }
  }
  CHECK(tok.decode(std::vector<int32_t>{1, 1, 2}) == "a");
}

TEST_CASE("templates: infinite or huge float arguments where an integer is expected (fuzz_chat_template)") {
  // Found by fuzz_chat_template under UBSan: batch(272e5789) converted inf to int64 (undefined
  // behaviour). Every filter argument read as an integer now refuses non-finite and out-of-range
  // floats, and the even / odd tests compute value % 2 as Python does (3.5 is neither, inf is
  // neither) instead of casting fmod(inf, 2) to an integer.
  const auto render = [](std::string_view source) { return ChatTemplate::parse(source).render(Value::object()); };
  for (const char* source : {"{{ [1,2,3] | batch(272e5789, 'x') | list }}", "{{ [1,2,3] | batch(-1e300) | list }}",
                             "{{ [1,2,3] | slice(1e19) | list }}", "{{ 'abc' | truncate(1e400) }}",
                             "{{ 'a\nb' | indent(9.3e18) }}", "{{ 1.5 | round(1e400) }}", "{{ '7' | int(0, -1e400) }}",
                             "{{ {'a': 1} | tojson(indent=1e308) }}"}) {
    CAPTURE(source);
    CHECK_ERROR(render(source), ErrorCode::template_error, "is not a usable integer");
  }
  CHECK(render("{{ [1,2,3,4,5] | batch(2.0) | list }}") == "[[1, 2], [3, 4], [5]]");
  CHECK(render("{{ 1e400 is even }} {{ 1e400 is odd }} {{ 3.5 is odd }} {{ 3.0 is odd }} {{ -3 is odd }} {{ -4.0 is even }}") ==
        "False False False True True True");
}

TEST_CASE("templates: str.format fields with indices beyond 64 bits (fuzz_chat_template)") {
  // Found by fuzz_chat_template: "{333...3}" (a 117-digit field) and "{0[999...9]}" went through
  // std::stoul / std::stoll, whose std::out_of_range escaped the renderer instead of a zaya::Error.
  const auto render = [](std::string_view source) { return ChatTemplate::parse(source).render(Value::object()); };
  const std::string huge(117, '3');
  CHECK_ERROR(render("{{ '{" + huge + "!r}'.format(3.14159, 47) }}"), ErrorCode::template_error, "Replacement index");
  CHECK_ERROR(render("{{ '{0[99999999999999999999]}'.format([1]) }}"), ErrorCode::template_error, "out of range");
  CHECK_ERROR(render("{{ '{2}'.format(1, 2) }}"), ErrorCode::template_error, "Replacement index 2 out of range");
  CHECK(render("{{ '{1}-{0[1]}-{2[x]}'.format(['a', 'b'], 7, {'x': 'y'}) }}") == "7-b-y");
}

