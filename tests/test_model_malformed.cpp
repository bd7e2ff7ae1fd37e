// Hostile and broken checkpoints: each case must be a zaya::Error with the right code and a
// message naming the culprit, never a crash or an out-of-bounds read.
#include "test_support.h"

#include <zaya/context.h>
#include <zaya/error.h>
#include <zaya/synth.h>

#include <fstream>

using namespace zaya;
using zaya::test::checkpoint;

namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_file(const std::filesystem::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

// A copy of native-f32 in a fresh directory, to be damaged by the test.
std::filesystem::path copy_of(const std::string& name, const std::string& source = "native-f32") {
  auto dir = test::temp_dir("malformed-" + name);
  for (auto& e : std::filesystem::directory_iterator(checkpoint(source)))
    if (e.path().filename() != "golden.safetensors") std::filesystem::copy_file(e.path(), dir / e.path().filename());
  return dir;
}

// Rebuilds model.safetensors with the header replaced by `header` (data bytes kept).
void replace_header(const std::filesystem::path& dir, const std::string& header) {
  std::string bytes = read_file(dir / "model.safetensors");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  std::string data = bytes.substr(8 + n);
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  write_file(dir / "model.safetensors", out + header + data);
}

std::string header_of(const std::filesystem::path& dir) {
  std::string bytes = read_file(dir / "model.safetensors");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  return bytes.substr(8, n);
}

void replace_in(std::string& s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  REQUIRE_MESSAGE(pos != std::string::npos, from);
  s.replace(pos, from.size(), to);
}

void expect_load_error(const std::filesystem::path& dir, ErrorCode code, const std::string& must_mention) {
  try {
    Model::load(dir);
    FAIL("load should have failed for " << dir.string());
  } catch (const Error& e) {
    CAPTURE(std::string(e.what()));
    CHECK(e.code() == code);
    CHECK(std::string(e.what()).find(must_mention) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("safetensors: truncated and inconsistent files") {
  SUBCASE("file shorter than the length prefix") {
    auto dir = copy_of("short");
    write_file(dir / "model.safetensors", "abc");
    expect_load_error(dir, ErrorCode::bad_format, "truncated");
  }
  SUBCASE("file cut inside the header") {
    auto dir = copy_of("cut-header");
    write_file(dir / "model.safetensors", read_file(dir / "model.safetensors").substr(0, 100));
    expect_load_error(dir, ErrorCode::bad_format, "truncated");
  }
  SUBCASE("file cut inside the tensor data") {
    auto dir = copy_of("cut-data");
    std::string bytes = read_file(dir / "model.safetensors");
    write_file(dir / "model.safetensors", bytes.substr(0, bytes.size() - 1000));
    expect_load_error(dir, ErrorCode::bad_format, "past the");
  }
  SUBCASE("header length claims 2^63 bytes") {
    auto dir = copy_of("huge-header");
    std::string bytes = read_file(dir / "model.safetensors");
    bytes[7] = static_cast<char>(0x7f);
    write_file(dir / "model.safetensors", bytes);
    expect_load_error(dir, ErrorCode::bad_format, "header length");
  }
  SUBCASE("malformed JSON header") {
    auto dir = copy_of("bad-json");
    replace_header(dir, "{\"a\": [1, 2");
    expect_load_error(dir, ErrorCode::bad_format, "malformed JSON");
  }
  SUBCASE("deeply nested JSON header") {
    auto dir = copy_of("nested-json");
    replace_header(dir, std::string(100000, '[') + std::string(100000, ']'));
    expect_load_error(dir, ErrorCode::bad_format, "model.safetensors");
  }
  SUBCASE("offsets past the end of the data") {
    auto dir = copy_of("offsets");
    std::string h = header_of(dir);
    replace_in(h, "\"data_offsets\":[0,", "\"data_offsets\":[99999999999,");
    replace_header(dir, h);
    expect_load_error(dir, ErrorCode::bad_format, "data_offsets");
  }
  SUBCASE("unknown dtype") {
    auto dir = copy_of("dtype");
    std::string h = header_of(dir);
    replace_in(h, "\"F32\"", "\"F8_E4M3\"");
    replace_header(dir, h);
    expect_load_error(dir, ErrorCode::unsupported, "F8_E4M3");
  }
  SUBCASE("shape whose element count overflows 64 bits") {
    auto dir = copy_of("overflow");
    std::string h = header_of(dir);
    replace_in(h, "\"shape\":[", "\"shape\":[4294967296,4294967296,");
    replace_header(dir, h);
    expect_load_error(dir, ErrorCode::bad_format, "overflow");
  }
  SUBCASE("overlapping tensors") {
    // Give one [64] f32 vector the data_offsets of another: same size, aliased bytes.
    auto dir = copy_of("overlap");
    std::string h = header_of(dir);
    auto offsets_of = [&](const std::string& name) {
      auto p = h.find("\"" + name + "\"");
      auto q = h.find("\"data_offsets\":[", p);
      return std::make_pair(q, h.find(']', q) + 1);
    };
    auto [aq, ar] = offsets_of("model.norm.weight");
    const std::string a_offsets = h.substr(aq, ar - aq);
    auto [bq, br] = offsets_of("model.input_hidden_states_bias");
    h.replace(bq, br - bq, a_offsets);
    replace_header(dir, h);
    expect_load_error(dir, ErrorCode::bad_format, "overlap");
  }
}

TEST_CASE("checkpoint structure: missing, misshapen and non-finite tensors") {
  SUBCASE("missing tensor") {
    auto dir = copy_of("missing");
    std::string h = header_of(dir);
    replace_in(h, "model.layers.1.self_attn.qk_norm.temp", "model.layers.1.self_attn.qk_norm.tmp");
    replace_header(dir, h);
    expect_load_error(dir, ErrorCode::bad_format, "model.layers.1.self_attn.qk_norm.temp");
  }
  SUBCASE("wrong shape for the config") {
    auto dir = copy_of("shape");
    std::string c = read_file(dir / "config.json");
    replace_in(c, "\"moe_intermediate_size\": 48", "\"moe_intermediate_size\": 40");
    write_file(dir / "config.json", c);
    expect_load_error(dir, ErrorCode::bad_format, "gate_up_proj");
  }
  SUBCASE("config describes fewer blocks than the checkpoint has") {
    auto dir = copy_of("stale");
    std::string c = read_file(dir / "config.json");
    replace_in(c, "\"num_hidden_layers\": 3", "\"num_hidden_layers\": 2");
    replace_in(c, "\"hybrid\",\n    \"hybrid\",\n    \"hybrid\"", "\"hybrid\",\n    \"hybrid\"");
    write_file(dir / "config.json", c);
    expect_load_error(dir, ErrorCode::bad_format, "layer 2");
  }
  SUBCASE("NaN in a norm weight") {
    auto dir = copy_of("nan");
    std::string bytes = read_file(dir / "model.safetensors");
    const std::string h = header_of(dir);
    auto p = h.find("\"model.norm.weight\"");
    auto q = h.find("\"data_offsets\":[", p) + std::strlen("\"data_offsets\":[");
    const size_t begin = std::stoull(h.substr(q));
    const size_t file_offset = 8 + h.size() + begin + 4 * 5;  // element 5
    const float nan = NAN;
    bytes.replace(file_offset, 4, std::string(reinterpret_cast<const char*>(&nan), 4));
    write_file(dir / "model.safetensors", bytes);
    expect_load_error(dir, ErrorCode::bad_format, "non-finite");
  }
  SUBCASE("not a ZAYA1 checkpoint at all") {
    auto dir = test::temp_dir("malformed-foreign");
    write_safetensors(dir / "model.safetensors", std::vector<OwnedTensor>{{"foo", DType::f32, {1}, std::vector<std::byte>(4)}});
    write_file(dir / "config.json", read_file(checkpoint("native-f32") / "config.json"));
    expect_load_error(dir, ErrorCode::bad_format, "not a ZAYA1 checkpoint");
  }
}

TEST_CASE("config.json problems") {
  auto with_config = [](const std::string& name, const std::string& from, const std::string& to) {
    auto dir = copy_of(name);
    std::string c = read_file(dir / "config.json");
    replace_in(c, from, to);
    write_file(dir / "config.json", c);
    return dir;
  };
  expect_load_error(with_config("cfg-json", "{", "{{"), ErrorCode::bad_format, "config.json");
  expect_load_error(with_config("cfg-zero", "\"hidden_size\": 64", "\"hidden_size\": 0"), ErrorCode::bad_format, "hidden_size");
  expect_load_error(with_config("cfg-neg", "\"num_experts\": 4", "\"num_experts\": -4"), ErrorCode::bad_format, "num_experts");
  expect_load_error(with_config("cfg-heads", "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3"), ErrorCode::bad_format,
                    "divide");
  expect_load_error(with_config("cfg-missing", "\"router_hidden_size\": 16,", ""), ErrorCode::bad_format, "router_hidden_size");
  expect_load_error(with_config("cfg-type", "\"hidden_size\": 64", "\"hidden_size\": \"64\""), ErrorCode::bad_format, "hidden_size");
  expect_load_error(with_config("cfg-topk", "\"num_experts_per_tok\": 1", "\"num_experts_per_tok\": 2"), ErrorCode::unsupported,
                    "num_experts_per_tok");
  expect_load_error(with_config("cfg-vocab", "\"vocab_size\": 384", "\"vocab_size\": 385"), ErrorCode::bad_format, "embed_tokens");
  auto dir = copy_of("cfg-none");
  std::filesystem::remove(dir / "config.json");
  expect_load_error(dir, ErrorCode::io, "config.json");
  expect_load_error(test::data_dir() / "does-not-exist", ErrorCode::io, "does-not-exist");
}

TEST_CASE("sharded checkpoints: index naming a missing shard or a misplaced tensor") {
  SUBCASE("missing shard") {
    auto dir = copy_of("shard-missing", "native-bf16-sharded");
    std::filesystem::remove(dir / "model-00002-of-00002.safetensors");
    expect_load_error(dir, ErrorCode::io, "model-00002-of-00002.safetensors");
  }
  SUBCASE("shard name escaping the directory") {
    auto dir = copy_of("shard-escape", "native-bf16-sharded");
    std::string idx = read_file(dir / "model.safetensors.index.json");
    replace_in(idx, "\"model-00002-of-00002.safetensors\"", "\"../../etc/passwd\"");
    write_file(dir / "model.safetensors.index.json", idx);
    expect_load_error(dir, ErrorCode::bad_format, "plain file name");
  }
  SUBCASE("malformed index") {
    auto dir = copy_of("shard-json", "native-bf16-sharded");
    write_file(dir / "model.safetensors.index.json", "{\"weight_map\": 7}");
    expect_load_error(dir, ErrorCode::bad_format, "weight_map");
  }
}

TEST_CASE("synthetic checkpoints round-trip in both layouts, sharded or not") {
  SynthOptions o;
  o.geometry = synth_preset("tiny");
  o.dtype = DType::f32;
  o.seed = 11;
  auto native_dir = test::temp_dir("synth-native");
  write_synthetic_checkpoint(native_dir, o);
  o.geometry.layout = CheckpointLayout::legacy;
  auto legacy_dir = test::temp_dir("synth-legacy");
  write_synthetic_checkpoint(legacy_dir, o);
  o.geometry.layout = CheckpointLayout::native;
  o.dtype = DType::bf16;
  o.shard_bytes = 64 << 10;  // force several shards
  auto sharded_dir = test::temp_dir("synth-sharded");
  write_synthetic_checkpoint(sharded_dir, o);
  CHECK(std::filesystem::exists(sharded_dir / "model.safetensors.index.json"));

  auto native = Model::load(native_dir);
  auto legacy = Model::load(legacy_dir);
  auto sharded = Model::load(sharded_dir);
  CHECK(legacy->config().layout == CheckpointLayout::legacy);
  CHECK(native->info().total_params == legacy->info().total_params);
  CHECK(sharded->info().stored_dtypes == "BF16");

  const std::vector<int32_t> ids = {2, 10, 20, 30, 40, 383, 0, 7};
  auto logits_of = [&](const std::shared_ptr<const Model>& m) {
    Context ctx(m, {.max_context = 16});
    return ctx.prefill(0, ids);
  };
  auto a = logits_of(native), b = logits_of(legacy), c = logits_of(sharded);
  CHECK(test::relative_error(b, a) == 0.0);
  const double bf16_err = test::relative_error(c, a);
  MESSAGE("synthetic bf16 vs f32 relative error " << bf16_err);
  CHECK(bf16_err < 5e-2);   // same network up to bf16 rounding of the weights
  CHECK(bf16_err > 0.0);
  for (float v : a) REQUIRE(std::isfinite(v));

  // Same seed -> same bytes; another seed -> another network.
  auto again_dir = test::temp_dir("synth-again");
  SynthOptions o2;
  o2.geometry = synth_preset("tiny");
  o2.dtype = DType::f32;
  o2.seed = 11;
  write_synthetic_checkpoint(again_dir, o2);
  CHECK(read_file(again_dir / "model.safetensors") == read_file(native_dir / "model.safetensors"));
  o2.seed = 12;
  write_synthetic_checkpoint(again_dir, o2);
  CHECK(read_file(again_dir / "model.safetensors") != read_file(native_dir / "model.safetensors"));
}
