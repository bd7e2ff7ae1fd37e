// Hostile model files (docs/SECURITY.md): safetensors headers and data, the shard index,
// config.json in both schemas, and whole checkpoints with poisoned weights. Every case asserts
// the specific zaya::Error (code and the part of the message that names the culprit) and that
// the process carries on. All inputs are generated here (no committed binaries); the loader-level
// cases of tests/test_model_malformed.cpp are not repeated.
#include "test_support.h"

#include <zaya/config.h>
#include <zaya/context.h>
#include <zaya/error.h>
#include <zaya/generator.h>
#include <zaya/sampler.h>
#include <zaya/synth.h>
#include <zaya/tokenizer.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
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

std::string u64le(uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out;
}

// A safetensors file: length prefix, `header` verbatim, `data_bytes` bytes of data.
std::string safetensors_bytes(const std::string& header, size_t data_bytes) {
  std::string data(data_bytes, '\0');
  for (size_t i = 0; i < data_bytes; ++i) data[i] = static_cast<char>(i * 7 + 1);
  return u64le(header.size()) + header + data;
}

std::span<const std::byte> as_span(const std::string& s, size_t size = std::string::npos) {
  return {reinterpret_cast<const std::byte*>(s.data()), std::min(size, s.size())};
}

// The error SafetensorsFile::parse raises for `bytes`, or nullopt when it accepts them.
std::optional<Error> parse_error(const std::string& bytes, size_t size = std::string::npos) {
  try {
    std::map<std::string, std::string> metadata;
    SafetensorsFile::parse(as_span(bytes, size), "hostile.safetensors", &metadata);
  } catch (const Error& e) {
    return e;
  }
  return std::nullopt;
}

void expect_parse_error(const std::string& header, size_t data_bytes, ErrorCode code, const std::string& mention) {
  CAPTURE(header);
  auto e = parse_error(safetensors_bytes(header, data_bytes));
  REQUIRE_MESSAGE(e.has_value(), "accepted: " << header);
  CAPTURE(std::string(e->what()));
  CHECK(e->code() == code);
  CHECK(std::string(e->what()).find(mention) != std::string::npos);
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

uint64_t header_length(const std::string& bytes) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  return n;
}

}  // namespace

// ---- safetensors ------------------------------------------------------------------------------

TEST_CASE("safetensors: a real checkpoint cut at every byte of the header region fails cleanly") {
  const std::string bytes = read_bytes(test::checkpoint("native-f32") / "model.safetensors");
  const size_t header_end = 8 + header_length(bytes);
  REQUIRE(header_end < bytes.size());
  REQUIRE(!parse_error(bytes).has_value());
  size_t failures = 0;
  for (size_t cut = 0; cut <= header_end; ++cut) {
    auto e = parse_error(bytes, cut);
    if (!e) {
      FAIL_CHECK("a file cut at byte " << cut << " was accepted");
      continue;
    }
    // Up to the header's end the length prefix promises more than there is; exactly at the
    // header's end every tensor lies past the (empty) data.
    const std::string what = e->what();
    if (e->code() == ErrorCode::bad_format &&
        (what.find("truncated") != std::string::npos || what.find("past the") != std::string::npos))
      ++failures;
    else
      FAIL_CHECK("cut at " << cut << ": " << what);
  }
  CHECK(failures == header_end + 1);
}

TEST_CASE("safetensors: a header cut short with a consistent length prefix is malformed JSON") {
  const std::string bytes = read_bytes(test::checkpoint("native-f32") / "model.safetensors");
  const size_t n = header_length(bytes);
  const std::string header = bytes.substr(8, n), data = bytes.substr(8 + n);
  const size_t last_brace = header.rfind('}');
  REQUIRE(last_brace != std::string::npos);
  for (size_t cut = 0; cut <= last_brace; ++cut) {
    const std::string damaged = u64le(cut) + header.substr(0, cut) + data;
    auto e = parse_error(damaged);
    REQUIRE_MESSAGE(e.has_value(), "header cut at " << cut << " accepted");
    CHECK_MESSAGE(e->code() == ErrorCode::bad_format, "cut at " << cut << ": " << e->what());
  }
}

TEST_CASE("safetensors: a file cut at each tensor boundary (and one byte short of it) fails cleanly") {
  const std::string bytes = read_bytes(test::checkpoint("native-f32") / "model.safetensors");
  const auto tensors = SafetensorsFile::parse(as_span(bytes), "full");
  const size_t data_begin = 8 + header_length(bytes);
  std::vector<size_t> ends;
  for (const auto& t : tensors) ends.push_back(static_cast<size_t>(t.data - as_span(bytes).data()) + t.nbytes);
  std::sort(ends.begin(), ends.end());
  REQUIRE(ends.size() > 50);
  REQUIRE(ends.back() == bytes.size());
  for (size_t end : ends) {
    for (size_t cut : {end - 1, end}) {
      if (cut >= bytes.size() || cut < data_begin) continue;
      auto e = parse_error(bytes, cut);
      REQUIRE_MESSAGE(e.has_value(), "cut at " << cut << " accepted");
      CHECK(e->code() == ErrorCode::bad_format);
      CHECK_MESSAGE(std::string(e->what()).find("past the") != std::string::npos, e->what());
    }
  }
}

TEST_CASE("safetensors: header lengths claiming huge sizes") {
  for (uint64_t n : {uint64_t(100 << 20) + 1, uint64_t(1) << 40, uint64_t(1) << 63, ~uint64_t(0)}) {
    const std::string bytes = u64le(n) + "{}";
    auto e = parse_error(bytes);
    REQUIRE(e.has_value());
    CHECK(e->code() == ErrorCode::bad_format);
    CHECK(std::string(e->what()).find("header length") != std::string::npos);
  }
  // Within the limit but longer than the file.
  auto e = parse_error(u64le(1000) + "{}");
  REQUIRE(e.has_value());
  CHECK(std::string(e->what()).find("truncated") != std::string::npos);
  // A zero-length header is not JSON.
  e = parse_error(u64le(0));
  REQUIRE(e.has_value());
  CHECK(e->code() == ErrorCode::bad_format);
}

TEST_CASE("safetensors: offsets, shapes and dtypes that lie") {
  const auto t = [](const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return "{\"t\":{\"dtype\":" + dtype + ",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}}";
  };
  // Offsets past the end, reversed, negative, fractional, missing.
  expect_parse_error(t("\"F32\"", "[2]", "[0,18446744073709551615]"), 8, ErrorCode::bad_format, "past the");
  expect_parse_error(t("\"F32\"", "[2]", "[8,16]"), 8, ErrorCode::bad_format, "past the");
  expect_parse_error(t("\"F32\"", "[2]", "[8,0]"), 8, ErrorCode::bad_format, "begin 8 > end 0");
  expect_parse_error(t("\"F32\"", "[2]", "[-8,0]"), 8, ErrorCode::bad_format, "non-negative integers");
  expect_parse_error(t("\"F32\"", "[2]", "[0.5,8]"), 8, ErrorCode::bad_format, "non-negative integers");
  expect_parse_error(t("\"F32\"", "[2]", "[0]"), 8, ErrorCode::bad_format, "[begin, end]");
  expect_parse_error(t("\"F32\"", "[2]", "[0,4,8]"), 8, ErrorCode::bad_format, "[begin, end]");
  expect_parse_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, ErrorCode::bad_format, "data_offsets");
  // Byte counts that disagree with shape x dtype.
  expect_parse_error(t("\"F32\"", "[2]", "[0,4]"), 8, ErrorCode::bad_format, "need 8");
  expect_parse_error(t("\"BF16\"", "[3]", "[0,8]"), 8, ErrorCode::bad_format, "need 6");
  // Shapes whose products overflow 64 bits: the element count, then the byte count.
  expect_parse_error(t("\"F32\"", "[4294967296,4294967296]", "[0,8]"), 8, ErrorCode::bad_format, "element count overflows");
  expect_parse_error(t("\"F32\"", "[4611686018427387904,4]", "[0,8]"), 8, ErrorCode::bad_format, "element count overflows");
  expect_parse_error(t("\"F32\"", "[4611686018427387904,2]", "[0,8]"), 8, ErrorCode::bad_format, "byte size overflows");
  expect_parse_error(t("\"F32\"", "[2305843009213693952,2]", "[0,8]"), 8, ErrorCode::bad_format, "byte size overflows");
  expect_parse_error(t("\"F32\"", "[18446744073709551615]", "[0,8]"), 8, ErrorCode::bad_format, "non-negative integers");
  expect_parse_error(t("\"F32\"", "[-1]", "[0,8]"), 8, ErrorCode::bad_format, "non-negative integers");
  expect_parse_error(t("\"F32\"", "[\"2\"]", "[0,8]"), 8, ErrorCode::bad_format, "non-negative integers");
  expect_parse_error(t("\"F32\"", "[1,1,1,1,1,1,1,1,2]", "[0,8]"), 8, ErrorCode::bad_format, "more than 8 dimensions");
  expect_parse_error(t("\"F32\"", "7", "[0,8]"), 8, ErrorCode::bad_format, "missing shape");
  // dtypes.
  expect_parse_error(t("5", "[2]", "[0,8]"), 8, ErrorCode::bad_format, "dtype");
  expect_parse_error(t("\"F8_E4M3\"", "[2]", "[0,2]"), 8, ErrorCode::unsupported, "F8_E4M3");
  expect_parse_error(t("\"\"", "[2]", "[0,8]"), 8, ErrorCode::unsupported, "dtype");
  // Entries and metadata of the wrong kind.
  expect_parse_error("[]", 0, ErrorCode::bad_format, "not an object");
  expect_parse_error("{\"t\":5}", 0, ErrorCode::bad_format, "entry is not an object");
  expect_parse_error("{\"__metadata__\":[1]}", 0, ErrorCode::bad_format, "__metadata__");
  expect_parse_error("{\"__metadata__\":{\"k\":1}}", 0, ErrorCode::bad_format, "__metadata__.k");
  // A scalar shape [] is one element; an empty dimension is zero bytes: both are fine.
  CHECK(!parse_error(safetensors_bytes(t("\"F32\"", "[]", "[0,4]"), 4)).has_value());
  CHECK(!parse_error(safetensors_bytes(t("\"F32\"", "[0,5]", "[0,0]"), 0)).has_value());
}

TEST_CASE("safetensors: overlapping tensors are rejected, however they are arranged") {
  const auto entry = [](const char* name, int elements, int begin) {
    return fmt::format("\"{}\":{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{},{}]}}", name, elements, begin,
                       begin + 4 * elements);
  };
  // Partial overlap, containment, identical ranges.
  expect_parse_error("{" + entry("a", 2, 0) + "," + entry("b", 2, 4) + "}", 12, ErrorCode::bad_format, "overlap");
  expect_parse_error("{" + entry("a", 4, 0) + "," + entry("b", 1, 4) + "}", 16, ErrorCode::bad_format, "overlap");
  expect_parse_error("{" + entry("a", 2, 8) + "," + entry("b", 2, 8) + "}", 16, ErrorCode::bad_format, "overlap");
  // A tensor inside an earlier, longer one that is not its neighbour in sorted order: an empty
  // tensor (or a short one) sits between them.
  expect_parse_error("{" + entry("big", 4, 0) + "," + entry("empty", 0, 8) + "," + entry("inside", 1, 12) + "}", 16,
                     ErrorCode::bad_format, "overlap");
  expect_parse_error("{" + entry("big", 8, 0) + "," + entry("small", 1, 4) + "," + entry("later", 1, 24) + "}", 32,
                     ErrorCode::bad_format, "overlap");
  // Adjacent tensors and empty tensors anywhere are fine.
  CHECK(!parse_error(safetensors_bytes("{" + entry("a", 2, 0) + "," + entry("b", 2, 8) + "," + entry("e", 0, 4) + "}", 16))
             .has_value());
}

TEST_CASE("safetensors: invalid UTF-8, deep nesting and duplicate names in the header") {
  expect_parse_error("{\"t\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, ErrorCode::bad_format,
                     "malformed JSON");
  expect_parse_error("{\"__metadata__\":{\"k\":\"\xc3\x28\"}}", 0, ErrorCode::bad_format, "malformed JSON");
  expect_parse_error("{\"__metadata__\":" + std::string(5000, '[') + std::string(5000, ']') + "}", 0, ErrorCode::bad_format,
                     "hostile.safetensors");
  // The same name twice in one header: the store refuses to pick one.
  const auto dir = test::temp_dir("hostile-duplicate-name");
  write_bytes(dir / "model.safetensors",
              safetensors_bytes("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                                "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                                8));
  CHECK_ERROR(TensorStore::open_directory(dir), ErrorCode::bad_format, "appears twice");
}

// ---- model.safetensors.index.json -------------------------------------------------------------

TEST_CASE("index: hostile weight maps") {
  CHECK_ERROR(TensorStore::parse_index("{\"weight_map\": {\"a\": \"s1\", \"b\": \"s2\", \"a\": \"s2\"}}"), ErrorCode::bad_format,
              "'a' is listed twice");
  CHECK_ERROR(TensorStore::parse_index(std::string("{\"weight_map\": {\"a\": \"x\\u0000y\"}}")), ErrorCode::bad_format,
              "plain file name");
  for (const char* shard : {"../model.safetensors", "/etc/passwd", "sub/dir.safetensors", "..", ".", "", "a\\\\b"}) {
    CAPTURE(shard);
    CHECK_ERROR(TensorStore::parse_index(fmt::format("{{\"weight_map\": {{\"t\": \"{}\"}}}}", shard)), ErrorCode::bad_format,
                "plain file name");
  }
  CHECK_ERROR(TensorStore::parse_index("{\"weight_map\": {}}"), ErrorCode::bad_format, "empty");
  CHECK_ERROR(TensorStore::parse_index("{\"weight_map\": []}"), ErrorCode::bad_format, "weight_map");
  CHECK_ERROR(TensorStore::parse_index("{\"metadata\": {}}"), ErrorCode::bad_format, "weight_map");
  CHECK_ERROR(TensorStore::parse_index("{\"weight_map\": {\"t\": 1}}"), ErrorCode::bad_format, "not a string");
  CHECK_ERROR(TensorStore::parse_index("{\"weight_map\": {\"t\": \"s\xff\"}}"), ErrorCode::bad_format, "malformed JSON");
  CHECK_ERROR(TensorStore::parse_index(std::string(100000, '[')), ErrorCode::bad_format, "malformed JSON");
  CHECK_ERROR(TensorStore::parse_index(""), ErrorCode::bad_format, "malformed JSON");

  // More than 10000 shards fails; a long map over many shards stays fast (no quadratic dedup).
  std::string many = "{\"weight_map\": {";
  for (int i = 0; i <= 10000; ++i) many += fmt::format("{}\"t{}\": \"shard-{:06}.safetensors\"", i ? "," : "", i, i);
  many += "}}";
  CHECK_ERROR(TensorStore::parse_index(many), ErrorCode::bad_format, "more than 10000 shards");
  std::string wide = "{\"weight_map\": {";
  for (int i = 0; i < 200000; ++i)
    wide += fmt::format("{}\"model.layers.{}.weight\": \"model-{:05}-of-10000.safetensors\"", i ? "," : "", i, i % 10000);
  wide += "}}";
  const auto start = std::chrono::steady_clock::now();
  const auto index = TensorStore::parse_index(wide);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("parse_index: 200000 tensors over 10000 shards in " << seconds << " s");
  CHECK(index.shards.size() == 10000);
  CHECK(index.shard_of.size() == 200000);
  CHECK(index.shards.front() == "model-00000-of-10000.safetensors");
  CHECK(seconds < 10.0);
}

TEST_CASE("index: shards that are not files") {
  const auto dir = test::temp_dir("hostile-index-dir-shard");
  std::filesystem::create_directories(dir / "shard.safetensors");
  write_bytes(dir / "model.safetensors.index.json", "{\"weight_map\": {\"t\": \"shard.safetensors\"}}");
  const Error e = error_of([&] { TensorStore::open_directory(dir); });
  CAPTURE(std::string(e.what()));
  CHECK(e.code() == ErrorCode::io);
  CHECK(std::string(e.what()).find("shard.safetensors") != std::string::npos);
  // An index that is itself far too large is refused before it is read.
  write_bytes(dir / "model.safetensors.index.json", "");
  std::filesystem::resize_file(dir / "model.safetensors.index.json", (uintmax_t(64) << 20) + 1);
  CHECK_ERROR(TensorStore::open_directory(dir), ErrorCode::limit_exceeded, "model.safetensors.index.json");
}

// ---- config.json ------------------------------------------------------------------------------

namespace {

std::string native_config() { return read_bytes(test::checkpoint("native-f32") / "config.json"); }
std::string legacy_config() { return read_bytes(test::checkpoint("legacy-f32") / "config.json"); }

// config.json text with the value of `key` replaced by `value` (the raw JSON), or the key removed.
std::string with_value(std::string text, const std::string& key, const std::optional<std::string>& value) {
  const std::string quoted = "\"" + key + "\"";
  const size_t k = text.find(quoted);
  REQUIRE_MESSAGE(k != std::string::npos, key);
  size_t v = text.find(':', k) + 1;
  size_t end = v;
  int depth = 0;
  for (; end < text.size(); ++end) {
    const char c = text[end];
    if (c == '[' || c == '{') ++depth;
    if (c == ']' || c == '}') {
      if (depth == 0) break;
      --depth;
    }
    if (c == ',' && depth == 0) break;
  }
  if (value) return text.replace(v, end - v, " " + *value);
  // Remove `"key": value` and one neighbouring comma.
  if (text[end] == ',') return text.erase(k, end + 1 - k);
  size_t comma = text.rfind(',', k);
  return text.erase(comma, end - comma);
}

}  // namespace

TEST_CASE("config: zero, negative and absurd sizes in the native schema") {
  REQUIRE_NOTHROW(ModelConfig::parse(native_config(), CheckpointLayout::native));
  const char* sized[] = {"hidden_size", "vocab_size", "num_experts", "num_hidden_layers", "num_attention_heads",
                         "num_key_value_heads", "moe_intermediate_size", "router_hidden_size", "head_dim",
                         "max_position_embeddings"};
  for (const char* key : sized) {
    for (const char* value : {"0", "-1", "-9223372036854775808", "1099511627776"}) {
      CAPTURE(key);
      CAPTURE(value);
      const Error e = error_of([&] { ModelConfig::parse(with_value(native_config(), key, std::string(value)), CheckpointLayout::native); });
      CAPTURE(std::string(e.what()));
      CHECK(e.code() == ErrorCode::bad_format);
      const std::string what = e.what();
      CHECK((what.find("must be positive") != std::string::npos || what.find("absurdly large") != std::string::npos ||
             what.find("divide") != std::string::npos || what.find("even") != std::string::npos ||
             what.find("rotary") != std::string::npos || what.find("vocab") != std::string::npos));
    }
  }
  // Values that are not integers.
  for (const char* value : {"64.5", "1e300", "\"64\"", "true", "{}", "-0.5"}) {
    CAPTURE(value);
    CHECK_ERROR(ModelConfig::parse(with_value(native_config(), "hidden_size", std::string(value)), CheckpointLayout::native),
                ErrorCode::bad_format, "hidden_size");
  }
  // Missing required fields.
  for (const char* key : {"hidden_size", "num_key_value_heads", "moe_intermediate_size", "vocab_size"}) {
    CAPTURE(key);
    CHECK_ERROR(ModelConfig::parse(with_value(native_config(), key, std::nullopt), CheckpointLayout::native),
                ErrorCode::bad_format, key);
  }
}

TEST_CASE("config: head counts that do not divide and other inconsistent geometry") {
  const auto parse = [](const std::string& text) { return ModelConfig::parse(text, CheckpointLayout::native); };
  std::string c = with_value(native_config(), "num_attention_heads", "6");
  CHECK_ERROR(parse(with_value(c, "num_key_value_heads", "4")), ErrorCode::bad_format, "do not divide");
  CHECK_ERROR(parse(with_value(with_value(native_config(), "num_attention_heads", "3"), "num_key_value_heads", "3")),
              ErrorCode::bad_format, "even number of key/value heads");
  // head_dim derived from hidden_size / heads rounds down to 0.
  c = with_value(native_config(), "head_dim", std::nullopt);
  CHECK_ERROR(parse(with_value(with_value(c, "hidden_size", "2"), "num_attention_heads", "4")), ErrorCode::bad_format,
              "head_dim");
  // Rotary fraction: zero, above one, or leaving an odd rotary width.
  for (const char* f : {"0", "1.5", "-0.5"})
    CHECK_ERROR(parse(with_value(native_config(), "partial_rotary_factor", f)), ErrorCode::bad_format, "partial_rotary_factor");
  CHECK_ERROR(parse(with_value(native_config(), "partial_rotary_factor", "0.0625")), ErrorCode::bad_format, "rotary dimension");
  for (const char* eps : {"0", "1", "-1e-5"})
    CHECK_ERROR(parse(with_value(native_config(), "rms_norm_eps", eps)), ErrorCode::bad_format, "epsilon");
  for (const char* theta : {"0", "1", "-5"}) CHECK_ERROR(parse(with_value(native_config(), "rope_theta", theta)), ErrorCode::bad_format, "rope_theta");
  // Special token ids outside the vocabulary.
  CHECK_ERROR(parse(with_value(native_config(), "bos_token_id", "384")), ErrorCode::bad_format, "bos_token_id");
  CHECK_ERROR(parse(with_value(native_config(), "eos_token_id", "[1, 384]")), ErrorCode::bad_format, "eos_token_id 384");
  CHECK_ERROR(parse(with_value(native_config(), "eos_token_id", "-3")), ErrorCode::bad_format, "eos_token_id -3");
  CHECK_ERROR(parse(with_value(native_config(), "eos_token_id", "\"</s>\"")), ErrorCode::bad_format, "eos_token_id");
  // Features ZAYA1 does not have.
  CHECK_ERROR(parse(with_value(native_config(), "num_experts_per_tok", "0")), ErrorCode::unsupported, "num_experts_per_tok");
}

TEST_CASE("config: the legacy schema's own traps") {
  const auto parse = [](const std::string& text) { return ModelConfig::parse(text, CheckpointLayout::legacy); };
  REQUIRE_NOTHROW(parse(legacy_config()));
  CHECK_ERROR(parse(with_value(legacy_config(), "num_hidden_layers", "5")), ErrorCode::bad_format, "even number of sub-layers");
  CHECK_ERROR(parse(with_value(legacy_config(), "num_hidden_layers", "0")), ErrorCode::bad_format, "even number of sub-layers");
  CHECK_ERROR(parse(with_value(legacy_config(), "num_hidden_layers", "-6")), ErrorCode::bad_format, "even number of sub-layers");
  CHECK_ERROR(parse(with_value(legacy_config(), "ffn_hidden_size", "95")), ErrorCode::bad_format, "not even");
  CHECK_ERROR(parse(with_value(legacy_config(), "ffn_hidden_size", "-96")), ErrorCode::bad_format, "expert width");
  // ZAYA1-base style: the block count comes from the length of zaya_layers.
  std::string base = legacy_config();
  base.insert(base.find('{') + 1, "\"zaya_layers\": [],");
  CHECK_ERROR(parse(base), ErrorCode::bad_format, "even number of sub-layers");
  std::string huge = "[0";
  for (int i = 1; i < 200000; ++i) huge += ",0";
  huge += "]";
  base = legacy_config();
  base.insert(base.find('{') + 1, "\"zaya_layers\": " + huge + ",");
  CHECK_ERROR(parse(base), ErrorCode::bad_format, "absurdly large");
  // Head size derived from a zero head count.
  std::string c = with_value(with_value(legacy_config(), "head_dim", std::nullopt), "kv_channels", std::nullopt);
  CHECK_ERROR(parse(with_value(c, "num_attention_heads", "0")), ErrorCode::bad_format, "num_attention_heads");
}

TEST_CASE("config: malformed JSON, invalid UTF-8 and deep nesting") {
  for (auto layout : {CheckpointLayout::native, CheckpointLayout::legacy}) {
    CHECK_ERROR(ModelConfig::parse("", layout), ErrorCode::bad_format, "config.json");
    CHECK_ERROR(ModelConfig::parse("[]", layout), ErrorCode::bad_format, "not an object");
    CHECK_ERROR(ModelConfig::parse(std::string(100000, '[') + std::string(100000, ']'), layout), ErrorCode::bad_format,
                "config.json");
    CHECK_ERROR(ModelConfig::parse("{\"model_type\": \"zaya\xff\"}", layout), ErrorCode::bad_format, "malformed JSON");
    std::string truncated = native_config();
    for (size_t cut = 0; cut + 1 < truncated.size(); cut += 7) {
      const Error e = error_of([&] { ModelConfig::parse(std::string_view(truncated).substr(0, cut), layout); });
      CHECK_MESSAGE(e.code() == ErrorCode::bad_format, "cut at " << cut << ": " << e.what());
    }
  }
}

// ---- whole checkpoints: non-finite weights, vocabularies that disagree, long prompts ----------

namespace {

// The tiny synthetic checkpoint (f32) with `vocab` embedding rows, written once per vocab size.
std::filesystem::path synthetic_checkpoint(const std::string& name, int64_t vocab) {
  SynthOptions o;
  o.geometry = synth_preset("tiny");
  o.geometry.vocab = vocab;
  o.dtype = DType::f32;
  o.seed = 5;
  const auto dir = test::temp_dir("hostile-" + name);
  write_synthetic_checkpoint(dir, o);
  return dir;
}

// Overwrites element `element` of tensor `name` in dir/model.safetensors with `value`.
void poison(const std::filesystem::path& dir, const std::string& name, size_t element, float value) {
  std::string bytes = read_bytes(dir / "model.safetensors");
  const auto tensors = SafetensorsFile::parse(as_span(bytes), "poison");
  for (const auto& t : tensors) {
    if (t.name != name) continue;
    REQUIRE(t.dtype == DType::f32);
    REQUIRE(element < t.element_count);
    const size_t offset = static_cast<size_t>(t.data - as_span(bytes).data()) + element * 4;
    std::memcpy(bytes.data() + offset, &value, 4);
    write_bytes(dir / "model.safetensors", bytes);
    return;
  }
  FAIL("no tensor " << name);
}

}  // namespace

TEST_CASE("non-finite weights: small tensors are refused at load, large ones cannot corrupt sampling") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  SUBCASE("+inf in a router matrix") {
    const auto dir = synthetic_checkpoint("inf-router", 384);
    poison(dir, "model.layers.1.mlp.gate.router_mlp.fc1.weight", 3, inf);
    CHECK_ERROR(Model::load(dir), ErrorCode::bad_format, "non-finite value at element 3");
  }
  SUBCASE("-inf in a residual scale") {
    const auto dir = synthetic_checkpoint("inf-scale", 384);
    poison(dir, "model.layers.0.post_mlp_residual_scale.hidden_states_scale", 0, -inf);
    CHECK_ERROR(Model::load(dir), ErrorCode::bad_format, "non-finite");
  }
  SUBCASE("NaN in one embedding row: the broken logits are an error, not a token") {
    const auto dir = synthetic_checkpoint("nan-embedding", 384);
    const int64_t H = synth_preset("tiny").hidden;
    poison(dir, "model.embed_tokens.weight", static_cast<size_t>(17 * H + 3), nan);
    auto model = Model::load(dir);  // large matrices are zero-copy views: not scanned at load
    Context ctx(model, {.max_context = 16, .threads = 1});
    const std::vector<int32_t> healthy = {2, 10, 11};
    const auto logits = ctx.prefill(0, healthy);
    // The poisoned row is also the tied LM head row 17: its logit is NaN for every input.
    CHECK(std::isnan(logits[17]));
    Sampler sampler(SamplingParams::greedy_defaults());
    CHECK_ERROR(sampler.sample(logits, {}, 0), ErrorCode::invalid_argument, "logits[17] is NaN");
    Generator generator(ctx, nullptr);
    GenerationRequest request;
    request.sequence = 0;
    request.prompt = {17};
    request.config.max_tokens = 2;
    request.config.sampling = SamplingParams::greedy_defaults();
    ctx.clear(0);
    CHECK_ERROR(generator.run({request}), ErrorCode::invalid_argument, "NaN");
    CHECK(ctx.length(0) >= 0);  // the context is still usable
    CHECK_NOTHROW(ctx.prefill(0, healthy));
  }
}

TEST_CASE("vocabulary sizes that disagree: a tokenizer larger than the model's embedding") {
  // The model has 256 rows; the ChatML test tokenizer has 384 ids. Decision (docs/SECURITY.md):
  // nothing fails at load (models routinely pad their vocabulary, and a smaller tokenizer is
  // normal); the Generator checks every prompt id against the model (out_of_range) and never
  // samples an id the tokenizer or the model lacks.
  const auto dir = synthetic_checkpoint("small-vocab", 256);
  auto model = Model::load(dir);
  const Tokenizer tokenizer = Tokenizer::load(test::data_dir() / "tiny-chat");
  REQUIRE(tokenizer.vocab_size() > 256);
  // A token text whose id is beyond the model's embedding.
  std::optional<std::string> high;
  for (int32_t id = 383; id >= 256 && !high; --id) {
    const std::string text(tokenizer.id_to_token(id));
    if (text.empty() || tokenizer.is_special(id)) continue;
    const auto ids = tokenizer.encode(text, false);
    if (ids.size() == 1 && ids[0] >= 256) high = tokenizer.decode(ids);
  }
  REQUIRE(high.has_value());
  Context ctx(model, {.max_context = 64, .threads = 1});
  Generator generator(ctx, &tokenizer);
  GenerationRequest request;
  request.prompt = tokenizer.encode("hello " + *high, false);
  request.config.max_tokens = 4;
  request.config.sampling = SamplingParams::greedy_defaults();
  CHECK_ERROR(generator.run({request}), ErrorCode::out_of_range, "outside [0, 256)");
  CHECK(ctx.length(0) == 0);  // nothing was appended
  // Prompts inside both vocabularies generate, and every generated id decodes.
  request.prompt = {10, 20, 30};
  request.config.stop_at_eos = false;
  const auto results = generator.run({request});
  REQUIRE(results.size() == 1);
  CHECK(results[0].tokens.size() == 4);
  for (int32_t id : results[0].tokens) CHECK(id < 256);
  CHECK_NOTHROW(tokenizer.decode(results[0].tokens));
}

TEST_CASE("prompts longer than the context") {
  auto model = Model::load(test::checkpoint("native-f32"));
  Context ctx(model, {.max_sequences = 2, .max_context = 8, .threads = 1});
  std::vector<int32_t> nine(9, 5);
  CHECK_ERROR(ctx.prefill(0, nine), ErrorCode::limit_exceeded, "more than the context's 8");
  CHECK(ctx.length(0) == 0);
  std::vector<int32_t> eight(8, 5);
  CHECK_NOTHROW(ctx.prefill(0, eight));
  CHECK_ERROR(ctx.prefill(0, std::vector<int32_t>{5}), ErrorCode::limit_exceeded, "would reach 9 tokens");
  CHECK(ctx.length(0) == 8);
  // Through the generator: a prompt that does not fit is refused before anything runs; one that
  // fits exactly ends with context_full instead of overrunning.
  Generator generator(ctx, nullptr);
  GenerationRequest request;
  request.sequence = 1;
  request.prompt = nine;
  request.config.sampling = SamplingParams::greedy_defaults();
  CHECK_ERROR(generator.run({request}), ErrorCode::limit_exceeded, "prompt of 9 tokens does not fit");
  CHECK(ctx.length(1) == 0);
  request.prompt.assign(7, 5);
  request.config.max_tokens = 100;
  request.config.stop_at_eos = false;
  const auto results = generator.run({request});
  CHECK(results[0].finish == FinishReason::context_full);
  CHECK(ctx.length(1) == 8);
  // Token ids outside the vocabulary are refused, whatever their sign.
  ctx.clear(0);
  for (int32_t bad : {-1, 384, std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min()}) {
    const BatchToken token{0, bad, true};
    CHECK_ERROR(ctx.decode(std::span<const BatchToken>(&token, 1)), ErrorCode::out_of_range, "outside the vocabulary");
  }
  CHECK(ctx.length(0) == 0);
}
