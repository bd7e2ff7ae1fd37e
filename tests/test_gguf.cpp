// GGUF v3 (zaya/gguf.h): round trips of metadata of every value type and tensors of every
// supported type through write_gguf / GgufFile, the writer's argument checks and streaming, and
// hostile files built byte by byte (one case per malformation, each asserting the error code and
// the key or tensor the message names; every prefix of a valid file).
#include "test_support.h"

#include <zaya/error.h>
#include <zaya/gguf.h>
#include <zaya/mapped_file.h>
#include <zaya/quant.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <tuple>

using namespace zaya;

namespace {

// ---- raw GGUF bytes, for files the writer refuses to produce -----------------------------------
class Bytes {
 public:
  Bytes& u8(uint8_t v) { return le(v, 1); }
  Bytes& u32(uint32_t v) { return le(v, 4); }
  Bytes& u64(uint64_t v) { return le(v, 8); }
  Bytes& str(std::string_view s) {
    u64(s.size());
    s_.append(s);
    return *this;
  }
  Bytes& raw(std::string_view s) {
    s_.append(s);
    return *this;
  }
  Bytes& header(uint64_t tensors, uint64_t kvs, uint32_t version = 3) { return raw("GGUF").u32(version).u64(tensors).u64(kvs); }
  Bytes& kv(std::string_view key, GgufType type) { return str(key).u32(static_cast<uint32_t>(type)); }
  Bytes& kv_u32(std::string_view key, uint32_t v) { return kv(key, GgufType::u32).u32(v); }
  Bytes& tensor(std::string_view name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) u64(d);
    return u32(type).u64(offset);
  }
  Bytes& pad(size_t alignment = 32) {
    while (s_.size() % alignment) s_.push_back('\0');
    return *this;
  }
  Bytes& data(size_t n) {
    for (size_t i = 0; i < n; ++i) s_.push_back(static_cast<char>(i * 31 + 7));
    return *this;
  }
  const std::string& str() const { return s_; }
  size_t size() const { return s_.size(); }

 private:
  Bytes& le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    return *this;
  }
  std::string s_;
};

std::span<const std::byte> as_span(const std::string& s, size_t size = std::string::npos) {
  return {reinterpret_cast<const std::byte*>(s.data()), std::min(size, s.size())};
}

// The error GgufFile::parse raises for `bytes` (or its first `size` bytes), nullopt if accepted.
std::optional<Error> parse_error(const std::string& bytes, size_t size = std::string::npos) {
  try {
    GgufFile::parse(as_span(bytes, size), "hostile.gguf");
  } catch (const Error& e) {
    return e;
  }
  return std::nullopt;
}

void check_error(const std::string& bytes, ErrorCode code, std::initializer_list<std::string_view> needles) {
  std::string expected;
  for (auto needle : needles) expected += std::string(needle) + " | ";
  CAPTURE(expected);
  auto e = parse_error(bytes);
  REQUIRE_MESSAGE(e.has_value(), "accepted");
  CHECK_MESSAGE(e->code() == code, e->what());
  const std::string message = e->what();
  CHECK_MESSAGE(message.find("hostile.gguf") != std::string::npos, message);
  for (auto needle : needles) CHECK_MESSAGE(message.find(needle) != std::string::npos, message, " lacks ", needle);
}

template <typename F>
void check_throws(F&& f, ErrorCode code, std::string_view needle) {
  try {
    f();
    FAIL("no error, expected ", needle);
  } catch (const Error& e) {
    CHECK_MESSAGE(e.code() == code, e.what());
    CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what(), " lacks ", needle);
  }
}

std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), p.string());
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<std::byte> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> out(n);
  for (auto& b : out) b = static_cast<std::byte>(rng() & 0xff);
  return out;
}

// A small valid file: two metadata entries (one an array of strings) and two tensors.
Bytes small_valid_file() {
  Bytes b;
  b.header(2, 2).kv("general.architecture", GgufType::string).str("zaya");
  b.kv("tokenizer.ggml.tokens", GgufType::array).u32(static_cast<uint32_t>(GgufType::string)).u64(2).str("a").str("bc");
  b.tensor("w", {4, 2}, kGgmlTypeF32, 0).tensor("q", {32, 1}, kGgmlTypeQ8_0, 32).pad().data(32 + 34);
  return b;
}

std::vector<GgufKV> every_value_type() {
  return {
      {"general.architecture", "zaya"},
      {"t.u8", uint8_t{250}},
      {"t.i8", int8_t{-100}},
      {"t.u16", uint16_t{65000}},
      {"t.i16", int16_t{-32000}},
      {"t.u32", uint32_t{4000000000u}},
      {"t.i32", int32_t{-2000000000}},
      {"t.f32", 1.5e-6f},
      {"t.bool", true},
      {"t.bool_false", false},
      {"t.string", std::string("h\xc3\xa9llo {{ messages }}\n")},
      {"t.empty_string", ""},
      {"t.u64", std::numeric_limits<uint64_t>::max()},
      {"t.i64", std::numeric_limits<int64_t>::min()},
      {"t.f64", 3.141592653589793},
      {"t.nan", std::numeric_limits<float>::quiet_NaN()},
      {"t.array_u8", GgufValue::array_of(std::vector<uint8_t>{0, 1, 255})},
      {"t.array_i8", GgufValue::array_of(std::vector<int8_t>{-128, 127})},
      {"t.array_u16", GgufValue::array_of(std::vector<uint16_t>{1, 65535})},
      {"t.array_i16", GgufValue::array_of(std::vector<int16_t>{-1, 2})},
      {"t.array_u32", GgufValue::array_of(std::vector<uint32_t>{7})},
      {"t.array_i32", GgufValue::array_of(std::vector<int32_t>{-7, 0, 7})},
      {"t.array_f32", GgufValue::array_of(std::vector<float>{0.25f, -1e30f})},
      {"t.array_bool", GgufValue::array_of(std::vector<bool>{true, false, true})},
      {"t.array_string", GgufValue::array_of(std::vector<std::string>{"<s>", "", "\xe2\x96\x81the"})},
      {"t.array_u64", GgufValue::array_of(std::vector<uint64_t>{1ull << 63})},
      {"t.array_i64", GgufValue::array_of(std::vector<int64_t>{-(1ll << 62)})},
      {"t.array_f64", GgufValue::array_of(std::vector<double>{1e300})},
      {"t.array_empty", GgufValue::array(GgufType::u32, {})},
      {"t.array_nested",
       GgufValue::array(GgufType::array, {GgufValue::array_of(std::vector<std::string>{"x", "y"}),
                                          GgufValue::array(GgufType::array, {GgufValue::array_of(std::vector<int32_t>{1})}),
                                          GgufValue::array(GgufType::f64, {})})},
  };
}

bool same_value(const GgufValue& a, const GgufValue& b) {
  if (a.type() == GgufType::f32 && b.type() == GgufType::f32 && std::isnan(a.as_float())) return std::isnan(b.as_float());
  return a == b;
}

// Tensors of every supported type (HF shapes), with random bytes.
std::vector<OwnedTensor> every_tensor_type() {
  struct Spec {
    const char* name;
    DType dtype;
    std::vector<int64_t> shape;
  };
  const std::vector<Spec> specs = {
      {"model.embed_tokens.weight", DType::f32, {3, 5}},
      {"f16.weight", DType::f16, {2, 3, 4}},
      {"bf16.bias", DType::bf16, {7}},
      {"q4_0.weight", DType::q4_0, {2, 64}},
      {"q8_0.weight", DType::q8_0, {3, 32}},
      {"q4_k.weight", DType::q4_k, {2, 512}},
      {"scalar", DType::f32, {}},
      {"four_d", DType::f32, {2, 1, 3, 2}},
  };
  std::vector<OwnedTensor> out;
  uint32_t seed = 1;
  for (const auto& s : specs) {
    size_t count = 1;
    for (auto d : s.shape) count *= static_cast<size_t>(d);
    const size_t row = s.shape.empty() ? 1 : static_cast<size_t>(s.shape.back());
    const size_t nbytes = count / row * dtype_row_bytes(s.dtype, row);
    out.push_back({s.name, s.dtype, s.shape, random_bytes(nbytes, seed++)});
  }
  return out;
}

void check_tensors_equal(const GgufFile& file, const std::vector<OwnedTensor>& expected, size_t alignment) {
  REQUIRE(file.tensors().size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const TensorInfo& t = file.tensors()[i];
    CAPTURE(t.name);
    CHECK(t.name == expected[i].name);
    CHECK(t.dtype == expected[i].dtype);
    CHECK(t.shape == expected[i].shape);
    CHECK(t.file == file.path().filename().string());
    REQUIRE(t.nbytes == expected[i].bytes.size());
    size_t count = 1;
    for (auto d : expected[i].shape) count *= static_cast<size_t>(d);
    CHECK(t.element_count == count);
    CHECK(std::memcmp(t.data, expected[i].bytes.data(), t.nbytes) == 0);
    CHECK(file.find(t.name) == &t);
  }
  CHECK(file.alignment() == alignment);
  CHECK(file.data_offset() % alignment == 0);
}

}  // namespace

// ---- type ids -----------------------------------------------------------------------------------

TEST_CASE("gguf: ggml type ids map to DType and back") {
  for (DType t : {DType::f32, DType::f16, DType::bf16, DType::q4_0, DType::q8_0, DType::q4_k}) {
    auto id = ggml_type_of(t);
    REQUIRE(id.has_value());
    CHECK(dtype_of_ggml_type(*id) == t);
    CHECK(ggml_type_name(*id) == dtype_name(t));
  }
  CHECK(*ggml_type_of(DType::f32) == 0);
  CHECK(*ggml_type_of(DType::f16) == 1);
  CHECK(*ggml_type_of(DType::q4_0) == 2);
  CHECK(*ggml_type_of(DType::q8_0) == 8);
  CHECK(*ggml_type_of(DType::q4_k) == 12);
  CHECK(*ggml_type_of(DType::bf16) == 30);
  for (DType t : {DType::i32, DType::i64, DType::u8, DType::i8, DType::bool_}) CHECK_FALSE(ggml_type_of(t).has_value());
  CHECK_FALSE(dtype_of_ggml_type(3).has_value());
  CHECK(ggml_type_name(3) == "Q4_1");
  CHECK(ggml_type_name(14) == "Q6_K");
  CHECK(ggml_type_name(39) == "MXFP4");
  CHECK(ggml_type_name(4).empty());
  CHECK(ggml_type_name(1000).empty());
}

TEST_CASE("gguf: zaya's R16 type ids are the ggml id plus 1000, for the three block formats") {
  CHECK(*ggml_type_of(DType::q4_0, true) == 1002);
  CHECK(*ggml_type_of(DType::q8_0, true) == 1008);
  CHECK(*ggml_type_of(DType::q4_k, true) == 1012);
  for (DType t : {DType::f32, DType::f16, DType::bf16, DType::q2_0}) CHECK_FALSE(ggml_type_of(t, true).has_value());
  for (auto [id, t, name] : {std::tuple{1002u, DType::q4_0, "Q4_0_R16"}, std::tuple{1008u, DType::q8_0, "Q8_0_R16"},
                             std::tuple{1012u, DType::q4_k, "Q4_K_R16"}}) {
    CHECK(dtype_of_ggml_type(id) == t);
    CHECK(ggml_type_name(id) == name);
  }
  CHECK_FALSE(dtype_of_ggml_type(1003).has_value());
}

// ---- round trips --------------------------------------------------------------------------------

TEST_CASE("gguf: metadata of every value type round-trips in order with exact types") {
  const auto dir = test::temp_dir("gguf-metadata");
  const auto metadata = every_value_type();
  write_gguf(dir / "m.gguf", metadata, std::vector<OwnedTensor>{});
  GgufFile file(dir / "m.gguf");
  CHECK(file.version() == 3);
  CHECK(file.tensors().empty());
  const auto& entries = file.metadata().entries();
  REQUIRE(entries.size() == metadata.size());  // alignment 32: no general.alignment added
  for (size_t i = 0; i < metadata.size(); ++i) {
    CAPTURE(metadata[i].key);
    CHECK(entries[i].key == metadata[i].key);
    CHECK(entries[i].value.type() == metadata[i].value.type());
    CHECK(same_value(entries[i].value, metadata[i].value));
  }
  const GgufMetadata& m = file.metadata();
  CHECK(m.get_string("general.architecture") == "zaya");
  CHECK(m.get_int("t.u8") == 250);
  CHECK(m.get_int("t.i8") == -100);
  CHECK(m.get_uint("t.u32") == 4000000000u);
  CHECK(m.get_int("t.i64") == std::numeric_limits<int64_t>::min());
  CHECK(m.get_uint("t.u64") == std::numeric_limits<uint64_t>::max());
  CHECK(m.get_float("t.f32") == doctest::Approx(1.5e-6));
  CHECK(static_cast<float>(m.get_float("t.f32")) == 1.5e-6f);
  CHECK(m.get_float("t.f64") == 3.141592653589793);
  CHECK(m.get_bool("t.bool"));
  CHECK_FALSE(m.get_bool("t.bool_false"));
  CHECK(m.get_string("t.empty_string").empty());
  CHECK(m.get_array_strings("t.array_string") == std::vector<std::string>{"<s>", "", "\xe2\x96\x81the"});
  CHECK(m.get_array_ints("t.array_i32") == std::vector<int64_t>{-7, 0, 7});
  CHECK(m.get_array_ints("t.array_u8") == std::vector<int64_t>{0, 1, 255});
  CHECK(m.get_array_floats("t.array_f32") == std::vector<double>{0.25, static_cast<double>(-1e30f)});
  CHECK(m.get_array_ints("t.array_empty").empty());
  const auto& nested = m.get("t.array_nested").as_array();
  REQUIRE(nested.size() == 3);
  CHECK(nested[1].as_array()[0].as_array()[0].as_int() == 1);
  CHECK(nested[2].element_type() == GgufType::f64);
  CHECK(m.find("missing") == nullptr);
  CHECK_FALSE(m.contains("missing"));
  CHECK(m.contains("t.nan"));

  // The bytes are those of an independent encoding of the same entries.
  const std::string bytes = read_bytes(dir / "m.gguf");
  CHECK(bytes.substr(0, 4) == "GGUF");
  CHECK(bytes.size() % 32 == 0);
}

TEST_CASE("gguf: typed getters name the file and key on a wrong type, a missing key or a bad range") {
  const auto dir = test::temp_dir("gguf-getters");
  write_gguf(dir / "g.gguf", every_value_type(), std::vector<OwnedTensor>{});
  GgufFile file(dir / "g.gguf");
  const GgufMetadata& m = file.metadata();
  check_throws([&] { (void)m.get_string("t.u32"); }, ErrorCode::bad_format, "g.gguf: metadata 't.u32': expected a string, found uint32");
  check_throws([&] { (void)m.get_int("t.string"); }, ErrorCode::bad_format, "metadata 't.string': expected an integer");
  check_throws([&] { (void)m.get_int("t.f32"); }, ErrorCode::bad_format, "'t.f32'");
  check_throws([&] { (void)m.get_float("t.i32"); }, ErrorCode::bad_format, "expected a float, found int32");
  check_throws([&] { (void)m.get_bool("t.u8"); }, ErrorCode::bad_format, "'t.u8': expected a bool");
  check_throws([&] { (void)m.get_int("t.u64"); }, ErrorCode::bad_format, "does not fit int64");
  check_throws([&] { (void)m.get_uint("t.i8"); }, ErrorCode::bad_format, "'t.i8': -100 is negative");
  check_throws([&] { (void)m.get_array_strings("t.array_i32"); }, ErrorCode::bad_format,
               "'t.array_i32': expected an array of strings, found array of int32");
  check_throws([&] { (void)m.get_array_ints("t.array_u64"); }, ErrorCode::bad_format, "does not fit int64");
  check_throws([&] { (void)m.get_array_floats("t.string"); }, ErrorCode::bad_format, "expected an array of floats");
  check_throws([&] { (void)m.get_string("zaya.hidden_size"); }, ErrorCode::bad_format,
               "g.gguf: metadata 'zaya.hidden_size' is missing");
}

TEST_CASE("gguf: tensors of every supported type round-trip byte for byte with HF shapes") {
  const auto dir = test::temp_dir("gguf-tensors");
  const auto tensors = every_tensor_type();
  write_gguf(dir / "t.gguf", {{"general.architecture", "zaya"}}, tensors);
  GgufFile file(dir / "t.gguf");
  check_tensors_equal(file, tensors, 32);

  // ne[] is stored reversed: the [2, 3, 4] f16 tensor is ne = {4, 3, 2} on disk.
  const std::string bytes = read_bytes(dir / "t.gguf");
  Bytes expected_info;
  expected_info.str("f16.weight").u32(3).u64(4).u64(3).u64(2).u32(kGgmlTypeF16);
  CHECK(bytes.find(expected_info.str()) != std::string::npos);
  // Tensor data at aligned offsets from the file start; the file ends padded.
  const auto& info = file.tensors();
  const std::byte* base = info[0].data - file.data_offset();
  for (const auto& t : info) CHECK(static_cast<size_t>(t.data - base) % 32 == 0);
  CHECK(file.file_size() % 32 == 0);

  // The same bytes parse in memory with the label given.
  auto contents = GgufFile::parse(as_span(bytes), "mem.gguf");
  REQUIRE(contents.tensors.size() == tensors.size());
  CHECK(contents.tensors[3].file == "mem.gguf");
  CHECK(contents.tensors[3].shape == std::vector<int64_t>{2, 64});
  CHECK(contents.tensors[3].nbytes == 2 * 2 * 18);
  CHECK(contents.tensors[5].nbytes == 2 * 2 * 144);
  CHECK(contents.tensors[6].shape.empty());
  CHECK(contents.tensors[6].element_count == 1);
}

TEST_CASE("gguf: alignments other than 32 are written, recorded and honoured") {
  const auto tensors = every_tensor_type();
  for (size_t alignment : {1, 8, 64, 4096}) {
    CAPTURE(alignment);
    const auto dir = test::temp_dir("gguf-align");
    write_gguf(dir / "a.gguf", {{"general.architecture", "zaya"}}, tensors, alignment);
    GgufFile file(dir / "a.gguf");
    check_tensors_equal(file, tensors, alignment);
    CHECK(file.metadata().get("general.alignment").type() == GgufType::u32);
    CHECK(file.metadata().get_uint("general.alignment") == alignment);
    // ggml's reader (gguf.cpp) requires each offset to be the running sum of the previous
    // tensors' sizes padded to the alignment, and reads that padded total after the header.
    const std::byte* data = file.tensors()[0].data;
    size_t running = 0;
    for (const auto& t : file.tensors()) {
      CHECK(static_cast<size_t>(t.data - data) == running);
      running += (t.nbytes + alignment - 1) / alignment * alignment;
    }
    CHECK(file.file_size() == file.data_offset() + running);
  }
  // An explicit general.alignment entry that agrees is kept (not duplicated).
  const auto dir = test::temp_dir("gguf-align-explicit");
  write_gguf(dir / "b.gguf", {{"general.alignment", uint32_t{64}}, {"general.architecture", "zaya"}}, tensors, 64);
  GgufFile file(dir / "b.gguf");
  CHECK(file.metadata().size() == 2);
  CHECK(file.metadata().entries()[0].key == "general.alignment");
  check_tensors_equal(file, tensors, 64);
}

TEST_CASE("gguf: the writer streams whole rows in chunks, reports progress and renames at the end") {
  const auto dir = test::temp_dir("gguf-stream");
  // 5 rows of 2M f32 = 40 MB: the 32 MB chunks hold 4 rows, then 1.
  const std::vector<TensorSpec> specs = {{"big", DType::f32, {5, int64_t(1) << 21}},
                                         {"q", DType::q4_k, {3, 256}}};
  std::vector<std::pair<size_t, size_t>> calls;  // (tensor, first element)
  std::vector<uint64_t> progress;
  uint64_t total_seen = 0;
  write_gguf(
      dir / "s.gguf", {}, specs,
      [&](size_t index, size_t first, std::span<std::byte> out) {
        calls.emplace_back(index, first);
        const size_t row = static_cast<size_t>(specs[index].shape.back());
        const size_t row_bytes = dtype_row_bytes(specs[index].dtype, row);
        CHECK(first % row == 0);
        CHECK(out.size() % row_bytes == 0);
        CHECK_FALSE(std::filesystem::exists(dir / "s.gguf"));  // not visible until complete
        for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::byte>((first / row + i / row_bytes + index) & 0xff);
      },
      32,
      [&](uint64_t written, uint64_t total) {
        CHECK((progress.empty() || written >= progress.back()));
        progress.push_back(written);
        total_seen = total;
      });
  const std::vector<std::pair<size_t, size_t>> expected = {{0, 0}, {0, size_t(4) << 21}, {1, 0}};
  CHECK(calls == expected);
  REQUIRE_FALSE(progress.empty());
  CHECK(progress.back() == total_seen);
  CHECK(std::filesystem::file_size(dir / "s.gguf") == total_seen);
  CHECK_FALSE(std::filesystem::exists(dir / "s.gguf.partial"));
  GgufFile file(dir / "s.gguf");
  const TensorInfo* big = file.find("big");
  REQUIRE(big);
  CHECK(big->shape == std::vector<int64_t>{5, int64_t(1) << 21});
  CHECK(static_cast<uint8_t>(big->data[0]) == 0);
  CHECK(static_cast<uint8_t>(big->data[big->nbytes - 1]) == 4);
  CHECK(static_cast<uint8_t>(file.find("q")->data[144 * 2]) == 3);
  // Through the writer's 2 MiB stdio buffer: every row's bytes, sampled at a prime stride.
  const size_t row_bytes = size_t(4) << 21;
  size_t wrong = 0;
  for (size_t r = 0; r < 5; ++r) {
    for (size_t i = 0; i < row_bytes; i += 4093) wrong += static_cast<uint8_t>(big->data[r * row_bytes + i]) != r;
    wrong += static_cast<uint8_t>(big->data[(r + 1) * row_bytes - 1]) != r;
  }
  CHECK(wrong == 0);
}

TEST_CASE("MappedFile: a file of 2 MiB or more is mapped at a 2 MiB boundary, every byte in place") {
  const auto dir = test::temp_dir("mapped-file");
  const size_t huge = size_t(2) << 20;
  for (size_t size : {size_t(1), size_t(4096), huge - 1, huge, 3 * huge + 4097}) {
    CAPTURE(size);
    std::string bytes(size, '\0');
    for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 131 + i / 4096) & 0xff);
    const auto path = dir / ("f" + std::to_string(size));
    {
      std::ofstream out(path, std::ios::binary);
      out.write(bytes.data(), static_cast<std::streamsize>(size));
    }
    std::vector<MappedFile> maps;  // several at once: the slack given back does not overlap them
    for (int k = 0; k < 3; ++k) maps.emplace_back(path);
    for (const auto& m : maps) {
      REQUIRE(m.size() == size);
      if (size >= huge) CHECK(reinterpret_cast<uintptr_t>(m.data()) % huge == 0);
      CHECK(std::memcmp(m.data(), bytes.data(), size) == 0);
    }
    MappedFile moved = std::move(maps[0]);
    CHECK(moved.size() == size);
    CHECK(std::memcmp(moved.data(), bytes.data(), size) == 0);
  }
}

TEST_CASE("gguf: TensorStore::from_gguf exposes the file's tensors and keeps it alive") {
  const auto dir = test::temp_dir("gguf-store");
  const auto tensors = every_tensor_type();
  write_gguf(dir / "store.gguf", {{"general.architecture", "zaya"}}, tensors);
  std::shared_ptr<TensorStore> store;
  {
    auto file = std::make_shared<const GgufFile>(dir / "store.gguf");
    store = TensorStore::from_gguf(file);
  }
  CHECK(store->file_count() == 1);
  CHECK(store->tensors().size() == tensors.size());
  size_t total = 0;
  for (const auto& t : tensors) {
    const TensorInfo* info = store->find(t.name);
    REQUIRE(info);
    CHECK(info->shape == t.shape);
    CHECK(info->file == "store.gguf");
    CHECK(std::memcmp(info->data, t.bytes.data(), t.bytes.size()) == 0);
    total += t.bytes.size();
  }
  CHECK(store->total_bytes() == total);
  CHECK(store->find("absent") == nullptr);
  check_throws([] { TensorStore::from_gguf(nullptr); }, ErrorCode::invalid_argument, "from_gguf");
}

// ---- the writer's argument checks -----------------------------------------------------------------

TEST_CASE("gguf: write_gguf refuses bad arguments before creating anything") {
  const auto dir = test::temp_dir("gguf-write-errors");
  const auto path = dir / "x.gguf";
  const std::vector<OwnedTensor> none;
  auto f32 = [](const char* name, std::vector<int64_t> shape) {
    size_t n = 1;
    for (auto d : shape) n *= static_cast<size_t>(std::max<int64_t>(d, 0));
    return OwnedTensor{name, DType::f32, shape, std::vector<std::byte>(n * 4)};
  };
  check_throws([&] { write_gguf(path, {{"a", 1}, {"a", 2}}, none); }, ErrorCode::invalid_argument, "'a' appears twice");
  check_throws([&] { write_gguf(path, {{"", 1}}, none); }, ErrorCode::invalid_argument, "metadata key");
  check_throws([&] { write_gguf(path, {{"bad\xff", 1}}, none); }, ErrorCode::invalid_argument, "UTF-8");
  check_throws([&] { write_gguf(path, {{"s", "bad\xc0\x80"}}, none); }, ErrorCode::invalid_argument,
               "metadata 's': string is not valid UTF-8");
  GgufValue deep = GgufValue::array_of(std::vector<int32_t>{1});
  for (int i = 0; i < 8; ++i) deep = GgufValue::array(GgufType::array, {deep});
  check_throws([&] { write_gguf(path, {{"deep", deep}}, none); }, ErrorCode::invalid_argument, "'deep': arrays nested");
  check_throws([&] { write_gguf(path, {{"general.alignment", uint32_t{64}}}, none); }, ErrorCode::invalid_argument,
               "general.alignment");
  check_throws([&] { write_gguf(path, {{"general.alignment", uint64_t{32}}}, none); }, ErrorCode::invalid_argument,
               "uint32");
  check_throws([&] { write_gguf(path, {}, none, 3); }, ErrorCode::invalid_argument, "alignment 3");
  check_throws([&] { write_gguf(path, {}, none, 0); }, ErrorCode::invalid_argument, "alignment 0");
  check_throws([&] { write_gguf(path, {}, none, size_t(1) << 40); }, ErrorCode::invalid_argument, "power of two");
  check_throws([&] { write_gguf(path, {}, {f32("w", {2}), f32("w", {3})}); }, ErrorCode::invalid_argument,
               "'w' appears twice");
  check_throws([&] { write_gguf(path, {}, {f32("", {2})}); }, ErrorCode::invalid_argument, "tensor name");
  check_throws([&] { write_gguf(path, {}, {f32("z", {2, 0})}); }, ErrorCode::invalid_argument, "'z': dimensions must be positive");
  check_throws([&] { write_gguf(path, {}, {f32("n", {2, -1})}); }, ErrorCode::invalid_argument, "'n'");
  check_throws([&] { write_gguf(path, {}, {f32("five", {1, 1, 1, 1, 1})}); }, ErrorCode::invalid_argument, "'five': 5 dimensions");
  check_throws([&] { write_gguf(path, {}, {OwnedTensor{"i", DType::i32, {2}, std::vector<std::byte>(8)}}); },
               ErrorCode::invalid_argument, "'i': dtype I32 cannot be stored");
  check_throws([&] { write_gguf(path, {}, {OwnedTensor{"q", DType::q4_0, {2, 48}, std::vector<std::byte>(2 * 18)}}); },
               ErrorCode::invalid_argument, "'q': Q4_0 rows hold 48 elements");
  check_throws([&] { write_gguf(path, {}, {f32("o", {int64_t(1) << 40, int64_t(1) << 40})}); }, ErrorCode::invalid_argument,
               "'o': element count overflows");
  CHECK_FALSE(std::filesystem::exists(path));
  CHECK_FALSE(std::filesystem::exists(dir / "x.gguf.partial"));

  // Byte counts that disagree with the shape (convenience overload), and a filler that throws:
  // the partial file is removed and an existing file is left untouched.
  write_gguf(path, {{"v", 1}}, none);
  const std::string before = read_bytes(path);
  check_throws([&] { write_gguf(path, {}, {OwnedTensor{"w", DType::f32, {2}, std::vector<std::byte>(9)}}); },
               ErrorCode::invalid_argument, "'w': 9 bytes");
  check_throws(
      [&] {
        write_gguf(path, {}, std::vector<TensorSpec>{{"w", DType::f32, {4}}},
                   [](size_t, size_t, std::span<std::byte>) { fail(ErrorCode::cancelled, "stop"); });
      },
      ErrorCode::cancelled, "stop");
  CHECK(read_bytes(path) == before);
  CHECK_FALSE(std::filesystem::exists(dir / "x.gguf.partial"));

  // Unwritable destinations are io errors.
  check_throws([&] { write_gguf(dir / "no-such-dir" / "x.gguf", {}, none); }, ErrorCode::io, "cannot create");
}

TEST_CASE("gguf: GgufValue arrays are homogeneous and accessors are exact") {
  check_throws([] { GgufValue::array(GgufType::u32, {GgufValue(uint32_t{1}), GgufValue(int32_t{2})}); },
               ErrorCode::invalid_argument, "element 1 is a int32");
  check_throws([] { (void)GgufValue("x").as_int(); }, ErrorCode::bad_format, "expected an integer, found a string");
  check_throws([] { (void)GgufValue(int8_t{-1}).as_uint(); }, ErrorCode::bad_format, "non-negative");
  CHECK(GgufValue(uint16_t{7}).as_int() == 7);
  CHECK(GgufValue(int64_t{7}).as_uint() == 7);
  CHECK(GgufValue(1.5f).type() == GgufType::f32);
  CHECK(GgufValue(1.5).type() == GgufType::f64);
  CHECK(GgufValue(5).type() == GgufType::i32);
  CHECK(GgufValue("s").type() == GgufType::string);
  CHECK(GgufValue::array_of(std::vector<std::string>{}).element_type() == GgufType::string);
}

// ---- hostile files ----------------------------------------------------------------------------------

TEST_CASE("gguf hostile: the small valid file parses, and every prefix of it is bad_format") {
  const Bytes valid = small_valid_file();
  auto contents = GgufFile::parse(as_span(valid.str()), "hostile.gguf");
  REQUIRE(contents.tensors.size() == 2);
  CHECK(contents.tensors[0].shape == std::vector<int64_t>{2, 4});
  CHECK(contents.tensors[1].dtype == DType::q8_0);
  CHECK(contents.metadata.get_array_strings("tokenizer.ggml.tokens") == std::vector<std::string>{"a", "bc"});
  for (size_t n = 0; n < valid.size(); ++n) {
    CAPTURE(n);
    auto e = parse_error(valid.str(), n);
    REQUIRE(e.has_value());
    CHECK_MESSAGE(e->code() == ErrorCode::bad_format, e->what());
  }
  // A tensor-less file needs no data section.
  Bytes meta_only;
  meta_only.header(0, 1).kv_u32("a", 1);
  CHECK_FALSE(parse_error(meta_only.str()).has_value());
}

TEST_CASE("gguf hostile: magic and version") {
  check_error("GGUX" + small_valid_file().str().substr(4), ErrorCode::bad_format, {"not a GGUF file"});
  check_error("", ErrorCode::bad_format, {"not a GGUF file"});
  check_error(Bytes().header(0, 0, 2).str(), ErrorCode::unsupported, {"GGUF version 2 is not supported"});
  check_error(Bytes().header(0, 0, 1).str(), ErrorCode::unsupported, {"GGUF version 1 is not supported"});
  check_error(Bytes().header(0, 0, 4).str(), ErrorCode::bad_format, {"unknown GGUF version 4"});
  check_error(Bytes().header(0, 0, 0x03000000).str(), ErrorCode::unsupported, {"big-endian"});
}

TEST_CASE("gguf hostile: huge counts and lengths fail at once, without allocating") {
  check_error(Bytes().header(0, uint64_t(1) << 60).str(), ErrorCode::bad_format, {"metadata entries cannot fit"});
  check_error(Bytes().header(uint64_t(1) << 60, 0).str(), ErrorCode::bad_format, {"tensors cannot fit"});
  check_error(Bytes().header(0, ~uint64_t(0)).str(), ErrorCode::bad_format, {"cannot fit"});
  // An array of 2^60 strings.
  Bytes strings;
  strings.header(0, 1).kv("tokenizer.ggml.tokens", GgufType::array).u32(static_cast<uint32_t>(GgufType::string)).u64(uint64_t(1) << 60);
  check_error(strings.str(), ErrorCode::bad_format, {"metadata 'tokenizer.ggml.tokens'", "array of 1152921504606846976 string"});
  Bytes arrays;
  arrays.header(0, 1).kv("a", GgufType::array).u32(static_cast<uint32_t>(GgufType::array)).u64(~uint64_t(0));
  check_error(arrays.str(), ErrorCode::bad_format, {"metadata 'a'", "cannot fit"});
  // A string of 2^62 bytes, as a value, a key and a tensor name.
  check_error(Bytes().header(0, 1).kv("s", GgufType::string).u64(uint64_t(1) << 62).str(), ErrorCode::bad_format,
              {"metadata 's'", "longer than"});
  check_error(Bytes().header(0, 1).u64(uint64_t(1) << 62).raw("xxxxxxxxxxxxxx").str(), ErrorCode::bad_format,
              {"metadata entry 0", "key"});
  check_error(Bytes().header(1, 0).u64(~uint64_t(0)).raw(std::string(40, 'x')).str(), ErrorCode::bad_format,
              {"tensor info 0", "tensor name"});
  // More than 2^24 metadata values in all (fails before reading them).
  Bytes many;
  many.header(0, 1).kv("many", GgufType::array).u32(static_cast<uint32_t>(GgufType::u8)).u64((uint64_t(1) << 24) + 1);
  many.raw(std::string((size_t(1) << 24) + 1, '\0'));
  check_error(many.str(), ErrorCode::bad_format, {"metadata 'many'", "more than 16777216 metadata values"});
}

TEST_CASE("gguf hostile: metadata values") {
  auto nested = [](int depth) {
    Bytes b;
    b.header(0, 1).kv("deep", GgufType::array);
    for (int i = 1; i < depth; ++i) b.u32(static_cast<uint32_t>(GgufType::array)).u64(1);
    b.u32(static_cast<uint32_t>(GgufType::u8)).u64(1).u8(5);
    return b.str();
  };
  CHECK_FALSE(parse_error(nested(8)).has_value());
  check_error(nested(9), ErrorCode::bad_format, {"metadata 'deep'", "nested more than 8"});
  check_error(nested(100000), ErrorCode::bad_format, {"metadata 'deep'", "nested more than 8"});
  check_error(Bytes().header(0, 1).str("k").u32(13).u32(0).str(), ErrorCode::bad_format, {"metadata 'k'", "unknown value type 13"});
  check_error(Bytes().header(0, 1).str("k").u32(0xffffffffu).u64(0).str(), ErrorCode::bad_format,
              {"metadata 'k'", "unknown value type 4294967295"});
  check_error(Bytes().header(0, 1).kv("k", GgufType::array).u32(13).u64(0).str(), ErrorCode::bad_format,
              {"metadata 'k'", "unknown array element type 13"});
  check_error(Bytes().header(0, 1).kv("b", GgufType::bool_).u8(2).str(), ErrorCode::bad_format, {"metadata 'b'", "bool value 2"});
  check_error(Bytes().header(0, 1).kv("s", GgufType::string).str("a\xff").str(), ErrorCode::bad_format,
              {"metadata 's'", "not valid UTF-8"});
  check_error(Bytes().header(0, 1).str("").u32(0).u8(0).u8(0).str(), ErrorCode::bad_format, {"metadata entry 0", "empty key"});
  check_error(Bytes().header(0, 1).str("k\xc3").u32(0).u8(0).str(), ErrorCode::bad_format, {"metadata entry 0", "UTF-8"});
  check_error(Bytes().header(0, 1).str(std::string(65536, 'k')).u32(0).u8(0).str(), ErrorCode::bad_format,
              {"metadata entry 0", "longer than 65535"});
  check_error(Bytes().header(0, 3).kv_u32("x", 1).kv_u32("dup.key", 2).kv_u32("dup.key", 3).str(), ErrorCode::bad_format,
              {"metadata 'dup.key'", "appears twice"});
}

TEST_CASE("gguf hostile: general.alignment") {
  auto with_alignment = [](auto write_value) {
    Bytes b;
    b.header(1, 1);
    write_value(b);
    b.tensor("w", {8}, kGgmlTypeF32, 0).pad(64).data(32);
    return b.str();
  };
  for (uint32_t bad : {0u, 3u, 48u, 0x80000000u, 1u << 21}) {
    CAPTURE(bad);
    check_error(with_alignment([&](Bytes& b) { b.kv_u32("general.alignment", bad); }), ErrorCode::bad_format,
                {"metadata 'general.alignment'", "not a power of two"});
  }
  check_error(with_alignment([](Bytes& b) { b.kv("general.alignment", GgufType::u64).u64(uint64_t(1) << 40); }),
              ErrorCode::bad_format, {"metadata 'general.alignment'", "must be a uint32, is a uint64"});
  check_error(with_alignment([](Bytes& b) { b.kv("general.alignment", GgufType::string).str("32"); }),
              ErrorCode::bad_format, {"'general.alignment'", "is a string"});
  const std::string ok = with_alignment([](Bytes& b) { b.kv_u32("general.alignment", 64); });
  auto contents = GgufFile::parse(as_span(ok), "ok.gguf");
  CHECK(contents.alignment == 64);
  CHECK(contents.data_offset == 128);
}

TEST_CASE("gguf hostile: tensor infos") {
  auto one = [](std::vector<uint64_t> ne, uint32_t type, uint64_t offset, size_t data) {
    return Bytes().header(1, 0).tensor("blk.0.w", std::move(ne), type, offset).pad().data(data).str();
  };
  CHECK_FALSE(parse_error(one({8, 2}, kGgmlTypeF32, 0, 64)).has_value());
  check_error(one({8, 0}, kGgmlTypeF32, 0, 64), ErrorCode::bad_format, {"tensor 'blk.0.w'", "ne[1] is 0"});
  check_error(one({uint64_t(1) << 32, uint64_t(1) << 32}, kGgmlTypeF32, 0, 64), ErrorCode::bad_format,
              {"tensor 'blk.0.w'", "element count overflows"});
  check_error(one({uint64_t(1) << 63}, kGgmlTypeF32, 0, 64), ErrorCode::bad_format, {"tensor 'blk.0.w'", "does not fit int64"});
  check_error(one({uint64_t(1) << 62}, kGgmlTypeF32, 0, 64), ErrorCode::bad_format, {"tensor 'blk.0.w'", "byte size overflows"});
  check_error(one({1, 1, 1, 1, 1}, kGgmlTypeF32, 0, 64), ErrorCode::bad_format, {"tensor 'blk.0.w'", "5 dimensions"});
  check_error(Bytes().header(1, 0).str("blk.0.w").u32(0xffffffffu).raw(std::string(64, '\0')).str(), ErrorCode::bad_format, {"tensor 'blk.0.w'", "dimensions"});
  check_error(one({8}, 4, 0, 64), ErrorCode::bad_format, {"tensor 'blk.0.w'", "unknown ggml type id 4"});
  check_error(one({8}, 1000, 0, 64), ErrorCode::bad_format, {"tensor 'blk.0.w'", "unknown ggml type id 1000"});
  check_error(one({32}, 3, 0, 64), ErrorCode::unsupported, {"tensor 'blk.0.w'", "Q4_1 (3) is not supported"});
  check_error(one({256}, 14, 0, 256), ErrorCode::unsupported, {"tensor 'blk.0.w'", "Q6_K"});
  check_error(one({48, 2}, kGgmlTypeQ4_0, 0, 64), ErrorCode::bad_format,
              {"tensor 'blk.0.w'", "Q4_0 rows hold 48 elements, not a whole number of 32-element blocks"});
  check_error(one({128}, kGgmlTypeQ4_K, 0, 256), ErrorCode::bad_format, {"tensor 'blk.0.w'", "256-element blocks"});
  check_error(one({8}, kGgmlTypeF32, 16, 64), ErrorCode::bad_format,
              {"tensor 'blk.0.w'", "offset 16 is not a multiple of the alignment 32"});
  check_error(one({8}, kGgmlTypeF32, 64, 64), ErrorCode::bad_format, {"tensor 'blk.0.w'", "run past the 64 data bytes"});
  check_error(one({8}, kGgmlTypeF32, uint64_t(1) << 63, 64), ErrorCode::bad_format, {"tensor 'blk.0.w'", "run past"});
  check_error(one({8, 3}, kGgmlTypeF32, 0, 64), ErrorCode::bad_format, {"tensor 'blk.0.w'", "96 bytes"});
  check_error(Bytes().header(1, 0).tensor("w", {8}, kGgmlTypeF32, 0).str(), ErrorCode::bad_format,
              {"truncated: tensor data would start at offset"});
  check_error(Bytes().header(1, 0).tensor("", {8}, kGgmlTypeF32, 0).pad().data(32).str(), ErrorCode::bad_format,
              {"tensor info 0", "empty tensor name"});
  check_error(Bytes().header(1, 0).tensor("w\xff", {8}, kGgmlTypeF32, 0).pad().data(32).str(), ErrorCode::bad_format,
              {"tensor info 0", "UTF-8"});
}

TEST_CASE("gguf hostile: duplicate and overlapping tensors") {
  check_error(Bytes().header(2, 0).tensor("w", {8}, kGgmlTypeF32, 0).tensor("w", {8}, kGgmlTypeF32, 32).pad().data(64).str(),
              ErrorCode::bad_format, {"tensor 'w'", "appears twice"});
  // Same start, partial overlap, one inside a longer earlier one (listed in any order).
  check_error(Bytes().header(2, 0).tensor("a", {8}, kGgmlTypeF32, 0).tensor("b", {8}, kGgmlTypeF32, 0).pad().data(64).str(),
              ErrorCode::bad_format, {"'a' and 'b' overlap"});
  check_error(Bytes().header(2, 0).tensor("a", {16}, kGgmlTypeF32, 32).tensor("b", {16}, kGgmlTypeF32, 0).pad().data(128).str(),
              ErrorCode::bad_format, {"'b' and 'a' overlap"});
  check_error(Bytes()
                  .header(3, 0)
                  .tensor("long", {64}, kGgmlTypeF32, 0)
                  .tensor("inner", {8}, kGgmlTypeF32, 64)
                  .tensor("next", {8}, kGgmlTypeF32, 256)
                  .pad()
                  .data(512)
                  .str(),
              ErrorCode::bad_format, {"'long' and 'inner' overlap"});
  // Adjacent is fine, in any order.
  CHECK_FALSE(parse_error(Bytes().header(2, 0).tensor("b", {8}, kGgmlTypeF32, 32).tensor("a", {8}, kGgmlTypeF32, 0).pad().data(64).str())
                  .has_value());
}

TEST_CASE("gguf hostile: random corruption of a valid file never crashes") {
  const auto dir = test::temp_dir("gguf-corrupt");
  write_gguf(dir / "c.gguf", every_value_type(), every_tensor_type());
  const std::string valid = read_bytes(dir / "c.gguf");
  std::mt19937 rng(42);
  size_t accepted = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string bytes = valid;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) bytes[rng() % bytes.size()] = static_cast<char>(rng() & 0xff);
    try {
      auto contents = GgufFile::parse(as_span(bytes), "hostile.gguf");
      ++accepted;
      for (const auto& t : contents.tensors) {
        CHECK(t.data >= as_span(bytes).data());
        CHECK(t.data + t.nbytes <= as_span(bytes).data() + bytes.size());
      }
    } catch (const Error& e) {
      CHECK_MESSAGE((e.code() == ErrorCode::bad_format || e.code() == ErrorCode::unsupported), e.what());
    }
  }
  CHECK(accepted > 0);  // flips inside tensor data or string values are still valid files
}

// ---- fuzz seeds ----------------------------------------------------------------------------------

// fuzz/corpus/gguf holds small valid files (regenerate: ZAYA_WRITE_GGUF_SEEDS=fuzz/corpus/gguf
// build-gguf/test_gguf -tc='*seeds*'); every one of them must parse.
TEST_CASE("gguf: fuzz seeds") {
  if (const char* out = std::getenv("ZAYA_WRITE_GGUF_SEEDS")) {
    const std::filesystem::path dir = out;
    std::filesystem::create_directories(dir);
    write_gguf(dir / "metadata_every_type", every_value_type(), std::vector<OwnedTensor>{});
    write_gguf(dir / "tensors_every_type", {{"general.architecture", "zaya"}}, every_tensor_type());
    write_gguf(dir / "alignment_8", {{"general.architecture", "zaya"}}, every_tensor_type(), 8);
    std::ofstream(dir / "small_valid", std::ios::binary) << small_valid_file().str();
    auto q = every_tensor_type();
    q.resize(6);
    write_gguf(dir / "zaya_like",
               {{"general.architecture", "zaya"},
                {"zaya.hidden_size", uint32_t{64}},
                {"zaya.rope.freq_base", 10000.0f},
                {"tokenizer.huggingface.json", "{\"model\":{\"type\":\"BPE\"}}"},
                {"tokenizer.chat_template", "{% for m in messages %}{{ m.content }}{% endfor %}"}},
               q, 64);
  }
  const auto corpus = std::filesystem::path(ZAYA_SOURCE_DIR) / "fuzz" / "corpus" / "gguf";
  REQUIRE(std::filesystem::is_directory(corpus));
  size_t seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(corpus)) {
    CAPTURE(entry.path().string());
    GgufFile file(entry.path());
    CHECK(file.version() == 3);
    ++seeds;
  }
  CHECK(seeds >= 5);
}

TEST_CASE("gguf: interleaved tensors are written in the R16 layout, each matrix of the last two dimensions on its own") {
  const auto dir = test::temp_dir("gguf-r16");
  // Matrices of 40 rows (two whole groups of 16 and 8 plain rows), several per tensor; plain
  // tensors alongside.
  struct Spec {
    const char* name;
    DType dtype;
    std::vector<int64_t> shape;
    bool interleaved;
  };
  const std::vector<Spec> specs = {{"q4_0.experts", DType::q4_0, {3, 40, 64}, true},
                                   {"q8_0.weight", DType::q8_0, {20, 32}, true},
                                   {"q4_k.weight", DType::q4_k, {17, 256}, true},
                                   {"q4_0.plain", DType::q4_0, {16, 32}, false},
                                   {"bf16.weight", DType::bf16, {4, 8}, false}};
  std::vector<OwnedTensor> tensors;
  uint32_t seed = 11;
  for (const auto& s : specs) {
    size_t count = 1;
    for (auto d : s.shape) count *= static_cast<size_t>(d);
    const size_t row = static_cast<size_t>(s.shape.back());
    tensors.push_back({s.name, s.dtype, s.shape, random_bytes(count / row * dtype_row_bytes(s.dtype, row), seed++), s.interleaved});
  }
  write_gguf(dir / "r16.gguf", {{"general.architecture", "zaya"}}, tensors);
  GgufFile file(dir / "r16.gguf");
  REQUIRE(file.tensors().size() == specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorInfo& t = file.tensors()[i];
    CAPTURE(t.name);
    CHECK(t.dtype == specs[i].dtype);
    CHECK(t.shape == specs[i].shape);
    CHECK(t.interleaved == specs[i].interleaved);
    REQUIRE(t.nbytes == tensors[i].bytes.size());
    std::vector<std::byte> expected = tensors[i].bytes;
    if (specs[i].interleaved) {
      const size_t cols = static_cast<size_t>(specs[i].shape.back());
      const size_t rows = static_cast<size_t>(specs[i].shape[specs[i].shape.size() - 2]);
      const size_t matrix_bytes = rows * dtype_row_bytes(specs[i].dtype, cols);
      for (size_t at = 0; at < expected.size(); at += matrix_bytes)
        repack_interleaved(specs[i].dtype, tensors[i].bytes.data() + at, rows, cols, expected.data() + at);
      CHECK(expected != tensors[i].bytes);  // the layout really differs
    }
    CHECK(std::memcmp(t.data, expected.data(), t.nbytes) == 0);
  }
  // The type ids on disk are zaya's.
  const std::string bytes = read_bytes(dir / "r16.gguf");
  CHECK(bytes.find(Bytes().str("q8_0.weight").u32(2).u64(32).u64(20).u32(kZayaTypeQ8_0_R16).str()) != std::string::npos);
  CHECK(bytes.find(Bytes().str("q4_0.plain").u32(2).u64(32).u64(16).u32(kGgmlTypeQ4_0).str()) != std::string::npos);

  // Only block-format matrices can be interleaved, and only in GGUF.
  auto refused = [&](OwnedTensor t, const char* what) {
    CAPTURE(what);
    try {
      write_gguf(dir / "bad.gguf", {{"general.architecture", "zaya"}}, std::vector<OwnedTensor>{std::move(t)});
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_argument);
    }
    CHECK_FALSE(std::filesystem::exists(dir / "bad.gguf"));
  };
  refused({"v", DType::q4_0, {64}, std::vector<std::byte>(36), true}, "a vector");
  refused({"w", DType::bf16, {2, 32}, std::vector<std::byte>(128), true}, "bf16");
  try {
    write_safetensors(dir / "x.safetensors", std::vector<TensorSpec>{{"w", DType::q4_0, {16, 32}, true}},
                      [](size_t, size_t, std::span<std::byte>) {});
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
    CHECK(std::string(e.what()).find("only in GGUF") != std::string::npos);
  }
}

TEST_CASE("gguf hostile: an R16 type on a vector") {
  const auto file = Bytes().header(1, 0).tensor("blk.0.w", {64}, kZayaTypeQ4_0_R16, 0).pad().data(64).str();
  check_error(file, ErrorCode::bad_format, {"tensor 'blk.0.w'", "Q4_0_R16 needs a matrix"});
  const auto matrix = Bytes().header(1, 0).tensor("blk.0.w", {32, 2}, kZayaTypeQ4_0_R16, 0).pad().data(64).str();
  CHECK_FALSE(parse_error(matrix).has_value());
}
