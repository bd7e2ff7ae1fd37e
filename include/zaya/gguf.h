// zaya/gguf.h - the GGUF (version 3) model file format: strict reader over a memory mapping, and a
// streaming writer. zaya writes quantized models as one GGUF file and loads them like safetensors.
//
// File layout (ggml docs/gguf.md; every number little-endian):
//   "GGUF" | u32 version (3) | u64 tensor_count | u64 kv_count
//   kv_count x  { string key | u32 value type | value }
//   tensor_count x { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml type | u64 offset }
//   zero padding to `general.alignment` | tensor data (each tensor at an aligned offset from here)
// where string = u64 byte length + bytes (no NUL), and value is one of u8 i8 u16 i16 u32 i32 f32
// bool(1 byte, 0/1) string array(u32 element type | u64 count | elements; arrays may nest) u64 i64
// f64. ne[0] is the contiguous dimension: zaya exposes shapes reversed, in PyTorch / HF order
// (a [rows, cols] matrix is stored as ne = {cols, rows}).
//
// Validation (GgufFile::parse, before any tensor byte is touched; bad_format naming the file and
// the key or tensor, `unsupported` for GGUF versions 1/2, big-endian files and ggml tensor types
// zaya does not implement):
//   * every count and length is checked against the bytes left before anything is allocated (a
//     count of 2^60 fails at once); at most 2^24 metadata values in all (array elements count);
//     arrays nest at most 8 deep; value types, bools (0/1) and ggml type ids are known;
//   * keys and tensor names are non-empty valid UTF-8 of at most 65535 bytes, each used once;
//     string values are valid UTF-8;
//   * `general.alignment` (default 32) is a uint32 power of two <= 1 MiB;
//   * tensors: 0..4 dims (0 = a scalar), each dim >= 1, element and byte counts without 64-bit
//     overflow, ne[0] a whole number of blocks for the block types, offsets multiples of the
//     alignment, bytes inside the file, no two tensors sharing a byte.
// Tensors are views into the mapping, so every later access is inside the file.
//
// Tensor types: F32 (ggml 0), F16 (1), Q4_0 (2), Q8_0 (8), Q4_K (12), BF16 (30) <-> zaya::DType
// f32, f16, q4_0, q8_0, q4_k, bf16 (block layouts: zaya/dtype.h), and zaya's own Q4_0_R16 (1002),
// Q8_0_R16 (1008), Q4_K_R16 (1012): the same blocks in the CPU kernels' row-interleaved layout
// (below; TensorInfo::interleaved), only on tensors of 2+ dims. Other ggml types (Q4_1, Q5_*,
// Q6_K, the I-quants, ...) are `unsupported`, named in the message.
//
// zaya's own GGUF files (written by `zaya quantize`; the keys are the lead's convention, this layer
// is generic and does not interpret them):
//   general.architecture = "zaya"        string
//   general.alignment                    uint32 64 (kGgufExportAlignment: tensors on whole cache
//                                        lines); the reader takes any valid alignment
//   zaya.*                               the model configuration (config.json fields)
//   tokenizer.huggingface.json           string: the whole tokenizer.json, embedded verbatim
//   tokenizer.chat_template              string: the Jinja chat template
//   zaya.tensor_layout                   string: "ggml", or "r16" for a file of R16 types
//   tensors                              the Hugging Face tensor names, shapes in HF order
#pragma once

#include <zaya/dtype.h>
#include <zaya/mapped_file.h>
#include <zaya/safetensors.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace zaya {

// ---- ggml tensor types -------------------------------------------------------------------------
inline constexpr uint32_t kGgmlTypeF32 = 0;
inline constexpr uint32_t kGgmlTypeF16 = 1;
inline constexpr uint32_t kGgmlTypeQ4_0 = 2;
inline constexpr uint32_t kGgmlTypeQ8_0 = 8;
inline constexpr uint32_t kGgmlTypeQ4_K = 12;
inline constexpr uint32_t kGgmlTypeBF16 = 30;

// zaya's own tensor types: Q4_0, Q8_0 and Q4_K rows in the CPU kernels' R16 layout (zaya/quant.h,
// repack_interleaved: groups of 16 rows interleaved block by block, each [rows, cols] matrix of
// the last two dimensions on its own, the rows past its last whole group as ggml stores them).
// Same bytes per tensor as the ggml type, reordered, so a memory-mapped file runs the fastest
// kernels with no copy at load. The id is kZayaR16TypeBase + the ggml id; no ggml reader knows
// these ids, so other GGUF tools refuse such a file instead of misreading it.
inline constexpr uint32_t kZayaR16TypeBase = 1000;
inline constexpr uint32_t kZayaTypeQ4_0_R16 = kZayaR16TypeBase + kGgmlTypeQ4_0;
inline constexpr uint32_t kZayaTypeQ8_0_R16 = kZayaR16TypeBase + kGgmlTypeQ8_0;
inline constexpr uint32_t kZayaTypeQ4_K_R16 = kZayaR16TypeBase + kGgmlTypeQ4_K;

// The type id of a DType zaya stores in GGUF (f32, f16, bf16, q4_0, q8_0, q4_k; interleaved: the
// R16 ids of q4_0, q8_0, q4_k), or nullopt.
std::optional<uint32_t> ggml_type_of(DType t, bool interleaved = false) noexcept;
// The DType of a type id zaya reads (the R16 ids included), or nullopt (unsupported or unknown id).
std::optional<DType> dtype_of_ggml_type(uint32_t id) noexcept;
// ggml's name of a type id ("Q4_1", "IQ2_XXS", ...; zaya's "Q4_0_R16", ...), or "" for ids never
// assigned.
std::string_view ggml_type_name(uint32_t id) noexcept;

// ---- metadata values ---------------------------------------------------------------------------
enum class GgufType : uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, bool_ = 7, string = 8, array = 9,
  u64 = 10, i64 = 11, f64 = 12,
};
std::string_view gguf_type_name(GgufType t) noexcept;  // "uint8", ..., "array"; "?" if unknown
inline bool gguf_is_integer(GgufType t) noexcept {
  return t == GgufType::u8 || t == GgufType::i8 || t == GgufType::u16 || t == GgufType::i16 || t == GgufType::u32 ||
         t == GgufType::i32 || t == GgufType::u64 || t == GgufType::i64;
}

// One typed metadata value. The GGUF type is kept exactly (a uint16 is written back as a uint16);
// construct from the C++ type that names it: GgufValue(uint32_t{4096}), GgufValue(1e-6f),
// GgufValue("zaya"), GgufValue::array_of(std::vector<std::string>{...}).
class GgufValue {
 public:
  GgufValue() : GgufValue(uint32_t{0}) {}
  GgufValue(uint8_t v) : type_(GgufType::u8), value_(uint64_t{v}) {}
  GgufValue(int8_t v) : type_(GgufType::i8), value_(int64_t{v}) {}
  GgufValue(uint16_t v) : type_(GgufType::u16), value_(uint64_t{v}) {}
  GgufValue(int16_t v) : type_(GgufType::i16), value_(int64_t{v}) {}
  GgufValue(uint32_t v) : type_(GgufType::u32), value_(uint64_t{v}) {}
  GgufValue(int32_t v) : type_(GgufType::i32), value_(int64_t{v}) {}
  GgufValue(uint64_t v) : type_(GgufType::u64), value_(v) {}
  GgufValue(int64_t v) : type_(GgufType::i64), value_(v) {}
  GgufValue(float v) : type_(GgufType::f32), value_(double{v}) {}
  GgufValue(double v) : type_(GgufType::f64), value_(v) {}
  GgufValue(bool v) : type_(GgufType::bool_), value_(v) {}
  GgufValue(std::string v) : type_(GgufType::string), value_(std::move(v)) {}
  GgufValue(std::string_view v) : GgufValue(std::string(v)) {}
  GgufValue(const char* v) : GgufValue(std::string(v)) {}

  // An array whose elements all have `element_type` (invalid_argument otherwise). Arrays of
  // arrays are allowed (each inner array has its own element type).
  static GgufValue array(GgufType element_type, std::vector<GgufValue> elements);
  template <typename T>
  static GgufValue array_of(const std::vector<T>& values) {
    std::vector<GgufValue> elements;
    elements.reserve(values.size());
    for (const T& v : values) elements.emplace_back(v);
    return array(GgufValue(T{}).type(), std::move(elements));
  }

  GgufType type() const noexcept { return type_; }
  GgufType element_type() const noexcept { return element_type_; }  // arrays only
  bool is_integer() const noexcept { return gguf_is_integer(type_); }
  bool is_float() const noexcept { return type_ == GgufType::f32 || type_ == GgufType::f64; }
  bool is_bool() const noexcept { return type_ == GgufType::bool_; }
  bool is_string() const noexcept { return type_ == GgufType::string; }
  bool is_array() const noexcept { return type_ == GgufType::array; }

  // Exact accessors; a wrong type (or an integer outside the result's range) is bad_format with a
  // message naming the types, which GgufMetadata's getters prefix with the file and key.
  int64_t as_int() const;    // any integer type whose value fits int64
  uint64_t as_uint() const;  // any non-negative integer
  double as_float() const;   // f32 or f64 (an f32 is converted exactly)
  bool as_bool() const;
  const std::string& as_string() const;
  const std::vector<GgufValue>& as_array() const;

  bool operator==(const GgufValue& other) const = default;  // same type, element type and value

 private:
  GgufType type_;
  GgufType element_type_ = GgufType::u8;
  std::variant<uint64_t, int64_t, double, bool, std::string, std::vector<GgufValue>> value_;
};

struct GgufKV {
  std::string key;
  GgufValue value;
};

// The metadata of one file, in file order, with typed getters. Every getter failure is a
// zaya::Error(bad_format) "<file>: metadata '<key>': ..." (missing key, wrong type, out of range).
class GgufMetadata {
 public:
  GgufMetadata() = default;
  // Keys must be unique (bad_format naming the key otherwise).
  GgufMetadata(std::vector<GgufKV> entries, std::string file_label);

  const std::vector<GgufKV>& entries() const noexcept { return entries_; }
  size_t size() const noexcept { return entries_.size(); }
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  const GgufValue* find(std::string_view key) const;  // nullptr if absent
  const GgufValue& get(std::string_view key) const;   // fails if absent

  const std::string& get_string(std::string_view key) const;
  int64_t get_int(std::string_view key) const;    // any integer type that fits int64
  uint64_t get_uint(std::string_view key) const;  // any non-negative integer
  double get_float(std::string_view key) const;   // f32 or f64
  bool get_bool(std::string_view key) const;
  // Arrays of one element type: strings; integers (any integer element type); floats (f32/f64).
  std::vector<std::string> get_array_strings(std::string_view key) const;
  std::vector<int64_t> get_array_ints(std::string_view key) const;
  std::vector<double> get_array_floats(std::string_view key) const;

 private:
  [[noreturn]] void type_error(std::string_view key, std::string_view expected, const GgufValue& v) const;
  std::vector<GgufKV> entries_;
  std::map<std::string, size_t, std::less<>> index_;
  std::string file_;
};

// ---- reading -----------------------------------------------------------------------------------
struct GgufContents {
  uint32_t version = 3;
  size_t alignment = 32;     // general.alignment, or the default
  size_t data_offset = 0;    // start of the tensor data section, from the start of the file
  GgufMetadata metadata;
  std::vector<TensorInfo> tensors;  // in file order; shapes in HF order; data points into the bytes
};

class GgufFile {
 public:
  explicit GgufFile(const std::filesystem::path& path);  // maps and validates (io / bad_format / unsupported)
  // Parses an in-memory buffer (used by the mapping constructor and by fuzzers / tests). The
  // tensors' `data` point into `bytes`; `file_label` names the file in messages and TensorInfo::file.
  static GgufContents parse(std::span<const std::byte> bytes, const std::string& file_label);

  const GgufMetadata& metadata() const noexcept { return contents_.metadata; }
  const std::vector<TensorInfo>& tensors() const noexcept { return contents_.tensors; }
  const TensorInfo* find(std::string_view name) const;
  uint32_t version() const noexcept { return contents_.version; }
  size_t alignment() const noexcept { return contents_.alignment; }
  size_t data_offset() const noexcept { return contents_.data_offset; }
  const std::filesystem::path& path() const noexcept { return file_.path(); }
  size_t file_size() const noexcept { return file_.size(); }

 private:
  MappedFile file_;
  GgufContents contents_;
  std::map<std::string, size_t, std::less<>> by_name_;
};

// ---- writing -----------------------------------------------------------------------------------
// Called after every chunk written: bytes written so far and the final file size.
using GgufProgress = std::function<void(uint64_t bytes_written, uint64_t bytes_total)>;

// Writes a GGUF v3 file: `metadata` in the given order (plus `general.alignment` when `alignment`
// is not 32 and the list lacks it), then the tensors in the given order, each at the next aligned
// offset. Shapes are in HF order (written reversed), of 0..4 dims >= 1; types: f32, f16, bf16,
// q4_0, q8_0, q4_k, with the last HF dimension a whole number of blocks. `fill` is called per
// tensor in order, in chunks of whole rows (first_element a multiple of the row length, out.size()
// = rows x row bytes; a chunk holds at least one row), so a huge model is streamed and never held
// in memory. The file is written to `path` + ".partial" and renamed over `path` when complete;
// on any failure the partial file is removed. Bad arguments (duplicate keys or names, a
// general.alignment entry that is not this uint32 alignment, bad shapes or types, invalid UTF-8,
// arrays nested > 8) are invalid_argument before anything is written; write failures (disk full,
// short writes) are io. `alignment`: a power of two <= 1 MiB.
void write_gguf(const std::filesystem::path& path, const std::vector<GgufKV>& metadata,
                const std::vector<TensorSpec>& tensors, const TensorFiller& fill, size_t alignment = 32,
                const GgufProgress& progress = {});

// Convenience for small tensors already in memory (tests, tools).
void write_gguf(const std::filesystem::path& path, const std::vector<GgufKV>& metadata,
                const std::vector<OwnedTensor>& tensors, size_t alignment = 32);

}  // namespace zaya
