// src/io/gguf.cpp - strict GGUF v3 reader and streaming writer (format notes: zaya/gguf.h).
#include <zaya/error.h>
#include <zaya/gguf.h>
#include <zaya/quant.h>
#include <zaya/utf8.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <set>

#include <unistd.h>

namespace zaya {
namespace {

constexpr uint32_t kGgufVersion = 3;
constexpr size_t kDefaultAlignment = 32;
constexpr size_t kMaxAlignment = size_t(1) << 20;
constexpr size_t kMaxNameBytes = 65535;            // keys and tensor names
constexpr size_t kMaxArrayDepth = 8;               // an array directly in a KV is depth 1
constexpr uint64_t kMaxMetadataValues = uint64_t(1) << 24;
constexpr uint32_t kMaxDims = 4;
constexpr uint64_t kMaxReserve = 4096;             // elements reserved ahead of reading them
constexpr char kAlignmentKey[] = "general.alignment";

// Smallest encodings, used to bound counts by the bytes left before anything is allocated.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;          // key length, 1-byte key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 4 + 8;  // name length, 1-byte name, n_dims, type, offset

bool is_power_of_two(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Size of a fixed-size value type, 0 for string / array / unknown.
size_t scalar_bytes(GgufType t) {
  switch (t) {
    case GgufType::u8: case GgufType::i8: case GgufType::bool_: return 1;
    case GgufType::u16: case GgufType::i16: return 2;
    case GgufType::u32: case GgufType::i32: case GgufType::f32: return 4;
    case GgufType::u64: case GgufType::i64: case GgufType::f64: return 8;
    case GgufType::string: case GgufType::array: return 0;
  }
  return 0;
}

// Smallest encoding of one array element of type t (a string is its length, an array its
// element type and count).
uint64_t min_element_bytes(GgufType t) {
  if (t == GgufType::string) return 8;
  if (t == GgufType::array) return 12;
  return scalar_bytes(t);
}

bool known_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::f64); }

struct GgmlTypeInfo {
  std::string_view name;
  std::optional<DType> dtype;
  bool interleaved = false;  // one of zaya's R16 types
};

// ggml's type ids (ggml.h) and zaya's R16 ids; ids never assigned have an empty name.
GgmlTypeInfo ggml_type_info(uint32_t id) {
  switch (id) {
    case kZayaTypeQ4_0_R16: return {"Q4_0_R16", DType::q4_0, true};
    case kZayaTypeQ8_0_R16: return {"Q8_0_R16", DType::q8_0, true};
    case kZayaTypeQ4_K_R16: return {"Q4_K_R16", DType::q4_k, true};
    default: break;
  }
  static constexpr std::array<std::string_view, 43> names = {
      "F32",  "F16",     "Q4_0",   "Q4_1",    "",      "",       "Q5_0",  "Q5_1",  "Q8_0",   "Q8_1",  "Q2_K",
      "Q3_K", "Q4_K",    "Q5_K",   "Q6_K",    "Q8_K",  "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S",
      "IQ2_S", "IQ4_XS", "I8",     "I16",     "I32",   "I64",    "F64",   "IQ1_M", "BF16",   "",      "",
      "",     "TQ1_0",   "TQ2_0",  "",        "",      "",       "MXFP4", "NVFP4", "Q1_0",   "Q2_0"};
  GgmlTypeInfo info;
  if (id < names.size()) info.name = names[id];
  switch (id) {
    case kGgmlTypeF32: info.dtype = DType::f32; break;
    case kGgmlTypeF16: info.dtype = DType::f16; break;
    case kGgmlTypeQ4_0: info.dtype = DType::q4_0; break;
    case kGgmlTypeQ8_0: info.dtype = DType::q8_0; break;
    case kGgmlTypeQ4_K: info.dtype = DType::q4_k; break;
    case kGgmlTypeBF16: info.dtype = DType::bf16; break;
    default: break;
  }
  return info;
}

// Element count and byte size of a tensor of `dtype` with ggml dims `ne` (ne[0] contiguous);
// returns an error text or "" on success.
std::string tensor_size(DType dtype, std::span<const uint64_t> ne, size_t& count, size_t& nbytes) {
  count = 1;
  for (size_t d = 0; d < ne.size(); ++d) {
    if (ne[d] == 0) return fmt::format("dimension ne[{}] is 0", d);
    if (ne[d] > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return fmt::format("dimension ne[{}] = {} does not fit int64", d, ne[d]);
    if (__builtin_mul_overflow(count, static_cast<size_t>(ne[d]), &count) ||
        count > static_cast<size_t>(std::numeric_limits<int64_t>::max()))
      return "element count overflows 64 bits";
  }
  const size_t row = ne.empty() ? 1 : static_cast<size_t>(ne[0]);
  const size_t block = dtype_block_elems(dtype);
  if (row % block != 0)
    return fmt::format("{} rows hold {} elements, not a whole number of {}-element blocks", dtype_name(dtype), row,
                       block);
  // Not dtype_row_bytes: its product is unchecked.
  size_t row_bytes = 0;
  if (__builtin_mul_overflow(row / block, dtype_block_bytes(dtype), &row_bytes) ||
      __builtin_mul_overflow(count / row, row_bytes, &nbytes))
    return "byte size overflows 64 bits";
  return {};
}

// ---- reading ------------------------------------------------------------------------------------

class Reader {
 public:
  Reader(std::span<const std::byte> bytes, const std::string& file) : bytes_(bytes), file_(file) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }

  // `where` names what is being read ("metadata 'general.name'", "tensor 'x'", ...).
  void need(uint64_t n, std::string_view where, std::string_view what) const {
    if (n > remaining())
      fail(ErrorCode::bad_format, "{}: {}: truncated: {} needs {} bytes at offset {}, {} left", file_, where, what, n,
           pos_, remaining());
  }
  template <typename T>
  T scalar(std::string_view where, std::string_view what) {
    need(sizeof(T), where, what);
    std::make_unsigned_t<T> u = 0;
    for (size_t i = 0; i < sizeof(T); ++i)
      u = static_cast<std::make_unsigned_t<T>>(u | (static_cast<std::make_unsigned_t<T>>(bytes_[pos_ + i]) << (8 * i)));
    pos_ += sizeof(T);
    return static_cast<T>(u);
  }
  uint32_t u32(std::string_view where, std::string_view what) { return scalar<uint32_t>(where, what); }
  uint64_t u64(std::string_view where, std::string_view what) { return scalar<uint64_t>(where, what); }

  std::string_view string(std::string_view where, std::string_view what) {
    const uint64_t len = u64(where, what);
    if (len > remaining())
      fail(ErrorCode::bad_format, "{}: {}: {} of {} bytes is longer than the {} bytes left in the file", file_, where,
           what, len, remaining());
    std::string_view s(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return s;
  }

 private:
  std::span<const std::byte> bytes_;
  const std::string& file_;
  size_t pos_ = 0;
};

class Parser {
 public:
  Parser(std::span<const std::byte> bytes, const std::string& file) : in_(bytes, file), bytes_(bytes), file_(file) {}

  GgufContents run() {
    GgufContents out;
    read_header(out);
    read_metadata(out);
    read_tensors(out);
    return out;
  }

 private:
  void read_header(GgufContents& out) {
    const std::string_view where = "header";
    if (bytes_.size() < 4 || std::memcmp(bytes_.data(), "GGUF", 4) != 0)
      fail(ErrorCode::bad_format, "{}: not a GGUF file (the first 4 bytes are not \"GGUF\")", file_);
    in_.need(4, where, "magic");
    in_.scalar<uint32_t>(where, "magic");
    const uint32_t version = in_.u32(where, "version");
    if (version == 1 || version == 2)
      fail(ErrorCode::unsupported, "{}: GGUF version {} is not supported, only version 3 (convert it again with a "
           "current llama.cpp)", file_, version);
    if (version == 0x03000000u)
      fail(ErrorCode::unsupported, "{}: big-endian GGUF files are not supported", file_);
    if (version != kGgufVersion) fail(ErrorCode::bad_format, "{}: unknown GGUF version {} (expected 3)", file_, version);
    out.version = version;
    tensor_count_ = in_.u64(where, "tensor count");
    kv_count_ = in_.u64(where, "metadata count");
    // Bounded by the bytes left before anything is reserved: a count of 2^60 fails here.
    if (kv_count_ > in_.remaining() / kMinKvBytes)
      fail(ErrorCode::bad_format, "{}: {} metadata entries cannot fit in the {} bytes left", file_, kv_count_,
           in_.remaining());
    if (tensor_count_ > in_.remaining() / kMinTensorInfoBytes)
      fail(ErrorCode::bad_format, "{}: {} tensors cannot fit in the {} bytes left", file_, tensor_count_,
           in_.remaining());
  }

  std::string checked_name(std::string_view where, std::string_view what, std::string_view name) {
    if (name.empty()) fail(ErrorCode::bad_format, "{}: {}: empty {}", file_, where, what);
    if (name.size() > kMaxNameBytes)
      fail(ErrorCode::bad_format, "{}: {}: {} of {} bytes is longer than {}", file_, where, what, name.size(),
           kMaxNameBytes);
    if (!utf8::is_valid(name)) fail(ErrorCode::bad_format, "{}: {}: {} is not valid UTF-8", file_, where, what);
    return std::string(name);
  }

  void read_metadata(GgufContents& out) {
    std::vector<GgufKV> entries;
    entries.reserve(static_cast<size_t>(std::min<uint64_t>(kv_count_, kMaxReserve)));
    std::set<std::string> seen;
    for (uint64_t i = 0; i < kv_count_; ++i) {
      const std::string entry = fmt::format("metadata entry {}", i);
      const std::string key = checked_name(entry, "key", in_.string(entry, "key"));
      const std::string where = fmt::format("metadata '{}'", key);
      GgufKV kv{key, {}};
      const uint32_t type = in_.u32(where, "value type");
      if (!known_type(type)) fail(ErrorCode::bad_format, "{}: {}: unknown value type {}", file_, where, type);
      kv.value = read_value(static_cast<GgufType>(type), where, 0);
      if (!seen.insert(key).second) fail(ErrorCode::bad_format, "{}: {}: the key appears twice", file_, where);
      entries.push_back(std::move(kv));
    }
    out.metadata = GgufMetadata(std::move(entries), file_);

    if (const GgufValue* a = out.metadata.find(kAlignmentKey)) {
      const std::string where = fmt::format("metadata '{}'", kAlignmentKey);
      if (a->type() != GgufType::u32)
        fail(ErrorCode::bad_format, "{}: {}: must be a uint32, is a {}", file_, where, gguf_type_name(a->type()));
      const uint64_t v = a->as_uint();
      if (!is_power_of_two(v) || v > kMaxAlignment)
        fail(ErrorCode::bad_format, "{}: {}: {} is not a power of two between 1 and {}", file_, where, v, kMaxAlignment);
      out.alignment = static_cast<size_t>(v);
    }
  }

  GgufValue read_value(GgufType type, const std::string& where, size_t depth) {
    if (++values_ > kMaxMetadataValues)
      fail(ErrorCode::bad_format, "{}: {}: more than {} metadata values in the file", file_, where, kMaxMetadataValues);
    switch (type) {
      case GgufType::u8: return GgufValue(in_.scalar<uint8_t>(where, "uint8 value"));
      case GgufType::i8: return GgufValue(in_.scalar<int8_t>(where, "int8 value"));
      case GgufType::u16: return GgufValue(in_.scalar<uint16_t>(where, "uint16 value"));
      case GgufType::i16: return GgufValue(in_.scalar<int16_t>(where, "int16 value"));
      case GgufType::u32: return GgufValue(in_.scalar<uint32_t>(where, "uint32 value"));
      case GgufType::i32: return GgufValue(in_.scalar<int32_t>(where, "int32 value"));
      case GgufType::u64: return GgufValue(in_.scalar<uint64_t>(where, "uint64 value"));
      case GgufType::i64: return GgufValue(in_.scalar<int64_t>(where, "int64 value"));
      case GgufType::f32: return GgufValue(std::bit_cast<float>(in_.scalar<uint32_t>(where, "float32 value")));
      case GgufType::f64: return GgufValue(std::bit_cast<double>(in_.scalar<uint64_t>(where, "float64 value")));
      case GgufType::bool_: {
        const uint8_t b = in_.scalar<uint8_t>(where, "bool value");
        if (b > 1) fail(ErrorCode::bad_format, "{}: {}: bool value {} is neither 0 nor 1", file_, where, b);
        return GgufValue(b == 1);
      }
      case GgufType::string: {
        const std::string_view s = in_.string(where, "string");
        const size_t bad = utf8::first_invalid(s);
        if (bad != s.size())
          fail(ErrorCode::bad_format, "{}: {}: string is not valid UTF-8 (byte {})", file_, where, bad);
        return GgufValue(s);
      }
      case GgufType::array: {
        if (depth + 1 > kMaxArrayDepth)
          fail(ErrorCode::bad_format, "{}: {}: arrays nested more than {} deep", file_, where, kMaxArrayDepth);
        const uint32_t element_type = in_.u32(where, "array element type");
        if (!known_type(element_type))
          fail(ErrorCode::bad_format, "{}: {}: unknown array element type {}", file_, where, element_type);
        const auto et = static_cast<GgufType>(element_type);
        const uint64_t count = in_.u64(where, "array length");
        if (count > in_.remaining() / min_element_bytes(et))
          fail(ErrorCode::bad_format, "{}: {}: array of {} {} elements cannot fit in the {} bytes left", file_, where,
               count, gguf_type_name(et), in_.remaining());
        if (count > kMaxMetadataValues - values_)
          fail(ErrorCode::bad_format, "{}: {}: more than {} metadata values in the file", file_, where,
               kMaxMetadataValues);
        std::vector<GgufValue> elements;
        elements.reserve(static_cast<size_t>(std::min<uint64_t>(count, kMaxReserve)));
        for (uint64_t i = 0; i < count; ++i) elements.push_back(read_value(et, where, depth + 1));
        return GgufValue::array(et, std::move(elements));
      }
    }
    fail(ErrorCode::internal, "{}: {}: unhandled value type", file_, where);
  }

  void read_tensors(GgufContents& out) {
    struct Pending {
      uint64_t offset;
      size_t nbytes;
    };
    std::vector<Pending> pending;
    // Counts are bounded by the bytes left; reserving is capped as well, so the memory used stays
    // proportional to what is actually read.
    pending.reserve(static_cast<size_t>(std::min<uint64_t>(tensor_count_, kMaxReserve)));
    out.tensors.reserve(static_cast<size_t>(std::min<uint64_t>(tensor_count_, kMaxReserve)));
    std::set<std::string> seen;
    for (uint64_t i = 0; i < tensor_count_; ++i) {
      const std::string entry = fmt::format("tensor info {}", i);
      TensorInfo info;
      info.name = checked_name(entry, "tensor name", in_.string(entry, "tensor name"));
      info.file = file_;
      const std::string where = fmt::format("tensor '{}'", info.name);
      const uint32_t n_dims = in_.u32(where, "n_dims");
      if (n_dims > kMaxDims)
        fail(ErrorCode::bad_format, "{}: {}: {} dimensions, at most {} are allowed", file_, where, n_dims, kMaxDims);
      std::array<uint64_t, kMaxDims> ne{};
      for (uint32_t d = 0; d < n_dims; ++d) ne[d] = in_.u64(where, "dimension");
      const uint32_t type = in_.u32(where, "type");
      const GgmlTypeInfo ti = ggml_type_info(type);
      if (ti.name.empty()) fail(ErrorCode::bad_format, "{}: {}: unknown ggml type id {}", file_, where, type);
      if (!ti.dtype)
        fail(ErrorCode::unsupported, "{}: {}: ggml type {} ({}) is not supported (zaya reads F32, F16, BF16, Q4_0, "
             "Q8_0, Q4_K and its own Q4_0_R16, Q8_0_R16, Q4_K_R16)", file_, where, ti.name, type);
      info.dtype = *ti.dtype;
      info.interleaved = ti.interleaved;
      if (info.interleaved && n_dims < 2)
        fail(ErrorCode::bad_format, "{}: {}: type {} needs a matrix (2 or more dimensions), not {}", file_, where,
             ti.name, n_dims);
      const uint64_t offset = in_.u64(where, "offset");
      const std::string error = tensor_size(info.dtype, std::span(ne.data(), n_dims), info.element_count, info.nbytes);
      if (!error.empty()) fail(ErrorCode::bad_format, "{}: {}: {}", file_, where, error);
      for (uint32_t d = n_dims; d-- > 0;) info.shape.push_back(static_cast<int64_t>(ne[d]));
      if (offset % out.alignment != 0)
        fail(ErrorCode::bad_format, "{}: {}: offset {} is not a multiple of the alignment {}", file_, where, offset,
             out.alignment);
      if (!seen.insert(info.name).second) fail(ErrorCode::bad_format, "{}: {}: the name appears twice", file_, where);
      pending.push_back({offset, info.nbytes});
      out.tensors.push_back(std::move(info));
    }

    // The data section starts at the next aligned offset after the tensor infos.
    const size_t header_end = in_.pos();
    out.data_offset = (header_end + out.alignment - 1) / out.alignment * out.alignment;
    if (out.tensors.empty()) return;
    if (out.data_offset > bytes_.size())
      fail(ErrorCode::bad_format, "{}: truncated: tensor data would start at offset {} but the file has {} bytes",
           file_, out.data_offset, bytes_.size());
    const size_t data_size = bytes_.size() - out.data_offset;
    for (size_t i = 0; i < out.tensors.size(); ++i) {
      const auto [offset, nbytes] = pending[i];
      if (offset > data_size || nbytes > data_size - offset)
        fail(ErrorCode::bad_format, "{}: tensor '{}': {} bytes at data offset {} run past the {} data bytes (file "
             "truncated?)", file_, out.tensors[i].name, nbytes, offset, data_size);
      out.tensors[i].data = bytes_.data() + out.data_offset + offset;
    }
    // No two tensors may share a byte (every tensor has at least one byte: dims >= 1).
    std::vector<size_t> order(pending.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return pending[a].offset < pending[b].offset; });
    for (size_t k = 1; k < order.size(); ++k) {
      const Pending& prev = pending[order[k - 1]];
      if (pending[order[k]].offset < prev.offset + prev.nbytes)
        fail(ErrorCode::bad_format, "{}: tensors '{}' and '{}' overlap in the data section", file_,
             out.tensors[order[k - 1]].name, out.tensors[order[k]].name);
    }
  }

  Reader in_;
  std::span<const std::byte> bytes_;
  const std::string& file_;
  uint64_t tensor_count_ = 0;
  uint64_t kv_count_ = 0;
  uint64_t values_ = 0;
};

// ---- writing ------------------------------------------------------------------------------------

class Encoder {
 public:
  explicit Encoder(std::string& out) : out_(out) {}
  template <typename T>
  void scalar(T v) {
    auto u = static_cast<std::make_unsigned_t<T>>(v);
    for (size_t i = 0; i < sizeof(T); ++i) out_.push_back(static_cast<char>((u >> (8 * i)) & 0xffu));
  }
  void string(std::string_view s) {
    scalar<uint64_t>(s.size());
    out_.append(s);
  }
  void value(const GgufValue& v) {
    switch (v.type()) {
      case GgufType::u8: scalar(static_cast<uint8_t>(v.as_uint())); break;
      case GgufType::i8: scalar(static_cast<int8_t>(v.as_int())); break;
      case GgufType::u16: scalar(static_cast<uint16_t>(v.as_uint())); break;
      case GgufType::i16: scalar(static_cast<int16_t>(v.as_int())); break;
      case GgufType::u32: scalar(static_cast<uint32_t>(v.as_uint())); break;
      case GgufType::i32: scalar(static_cast<int32_t>(v.as_int())); break;
      case GgufType::u64: scalar(v.as_uint()); break;
      case GgufType::i64: scalar(v.as_int()); break;
      case GgufType::f32: scalar(std::bit_cast<uint32_t>(static_cast<float>(v.as_float()))); break;
      case GgufType::f64: scalar(std::bit_cast<uint64_t>(v.as_float())); break;
      case GgufType::bool_: scalar(static_cast<uint8_t>(v.as_bool() ? 1 : 0)); break;
      case GgufType::string: string(v.as_string()); break;
      case GgufType::array:
        scalar(static_cast<uint32_t>(v.element_type()));
        scalar<uint64_t>(v.as_array().size());
        for (const GgufValue& e : v.as_array()) value(e);
        break;
    }
  }

 private:
  std::string& out_;
};

// Checks a value the writer is given, so that the reader accepts what is written.
void check_value(const GgufValue& v, const std::string& key, size_t depth, uint64_t& values) {
  if (++values > kMaxMetadataValues)
    fail(ErrorCode::invalid_argument, "write_gguf: more than {} metadata values", kMaxMetadataValues);
  if (v.is_string() && !utf8::is_valid(v.as_string()))
    fail(ErrorCode::invalid_argument, "write_gguf: metadata '{}': string is not valid UTF-8", key);
  if (v.is_array()) {
    if (depth + 1 > kMaxArrayDepth)
      fail(ErrorCode::invalid_argument, "write_gguf: metadata '{}': arrays nested more than {} deep", key,
           kMaxArrayDepth);
    for (const GgufValue& e : v.as_array()) check_value(e, key, depth + 1, values);
  }
}

class OutputFile {
 public:
  static constexpr size_t kWriteBlock = size_t(2) << 20;
  explicit OutputFile(std::filesystem::path path) : path_(std::move(path)) {
    file_ = std::fopen(path_.c_str(), "wb");
    if (!file_) fail(ErrorCode::io, "cannot create {}: {}", path_.string(), std::strerror(errno));
    // A 2 MiB buffer makes every write(2) start at a multiple of 2 MiB and span whole multiples
    // of it (glibc fills and flushes the buffer, then writes whole buffer sizes directly), so the
    // page cache keeps the new file in 2 MiB folios and a later mapping of it gets huge pages.
    // (glibc ignores the size unless given the buffer.)
    buffer_ = std::make_unique<char[]>(kWriteBlock);
    std::setvbuf(file_, buffer_.get(), _IOFBF, kWriteBlock);
  }
  ~OutputFile() {
    if (file_) std::fclose(file_);
    if (!committed_) {
      std::error_code ec;
      std::filesystem::remove(path_, ec);
    }
  }
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(const void* data, size_t n) {
    if (n == 0) return;
    if (std::fwrite(data, 1, n, file_) != n)
      fail(ErrorCode::io, "cannot write {} (disk full?): {}", path_.string(), std::strerror(errno));
    written_ += n;
  }
  void zeros(size_t n) {
    static constexpr char kZeros[256] = {};
    while (n > 0) {
      const size_t k = std::min(n, sizeof(kZeros));
      write(kZeros, k);
      n -= k;
    }
  }
  uint64_t written() const { return written_; }

  // Flushes, syncs and closes, then renames over `final_path`.
  void commit(const std::filesystem::path& final_path) {
    if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0)
      fail(ErrorCode::io, "cannot write {} (disk full?): {}", path_.string(), std::strerror(errno));
    const int rc = std::fclose(file_);
    file_ = nullptr;
    if (rc != 0) fail(ErrorCode::io, "cannot write {} (disk full?): {}", path_.string(), std::strerror(errno));
    std::error_code ec;
    std::filesystem::rename(path_, final_path, ec);
    if (ec) fail(ErrorCode::io, "cannot rename {} to {}: {}", path_.string(), final_path.string(), ec.message());
    committed_ = true;
  }

 private:
  std::filesystem::path path_;
  std::unique_ptr<char[]> buffer_;  // stdio's buffer: outlives fclose (members go after the body)
  std::FILE* file_ = nullptr;
  uint64_t written_ = 0;
  bool committed_ = false;
};

size_t align_up(size_t v, size_t alignment) { return (v + alignment - 1) / alignment * alignment; }

}  // namespace

// ---- type ids -----------------------------------------------------------------------------------

std::optional<uint32_t> ggml_type_of(DType t, bool interleaved) noexcept {
  if (interleaved) {
    switch (t) {
      case DType::q4_0: return kZayaTypeQ4_0_R16;
      case DType::q8_0: return kZayaTypeQ8_0_R16;
      case DType::q4_k: return kZayaTypeQ4_K_R16;
      default: return std::nullopt;
    }
  }
  switch (t) {
    case DType::f32: return kGgmlTypeF32;
    case DType::f16: return kGgmlTypeF16;
    case DType::bf16: return kGgmlTypeBF16;
    case DType::q4_0: return kGgmlTypeQ4_0;
    case DType::q8_0: return kGgmlTypeQ8_0;
    case DType::q4_k: return kGgmlTypeQ4_K;
    default: return std::nullopt;
  }
}

std::optional<DType> dtype_of_ggml_type(uint32_t id) noexcept { return ggml_type_info(id).dtype; }

std::string_view ggml_type_name(uint32_t id) noexcept { return ggml_type_info(id).name; }

std::string_view gguf_type_name(GgufType t) noexcept {
  switch (t) {
    case GgufType::u8: return "uint8";
    case GgufType::i8: return "int8";
    case GgufType::u16: return "uint16";
    case GgufType::i16: return "int16";
    case GgufType::u32: return "uint32";
    case GgufType::i32: return "int32";
    case GgufType::f32: return "float32";
    case GgufType::bool_: return "bool";
    case GgufType::string: return "string";
    case GgufType::array: return "array";
    case GgufType::u64: return "uint64";
    case GgufType::i64: return "int64";
    case GgufType::f64: return "float64";
  }
  return "?";
}

// ---- GgufValue ----------------------------------------------------------------------------------

GgufValue GgufValue::array(GgufType element_type, std::vector<GgufValue> elements) {
  if (!known_type(static_cast<uint32_t>(element_type)))
    fail(ErrorCode::invalid_argument, "GGUF array: unknown element type {}", static_cast<uint32_t>(element_type));
  for (size_t i = 0; i < elements.size(); ++i)
    if (elements[i].type() != element_type)
      fail(ErrorCode::invalid_argument, "GGUF array of {}: element {} is a {}", gguf_type_name(element_type), i,
           gguf_type_name(elements[i].type()));
  GgufValue v;
  v.type_ = GgufType::array;
  v.element_type_ = element_type;
  v.value_ = std::move(elements);
  return v;
}

int64_t GgufValue::as_int() const {
  if (const auto* s = std::get_if<int64_t>(&value_)) return *s;
  if (const auto* u = std::get_if<uint64_t>(&value_)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(ErrorCode::bad_format, "{} value {} does not fit int64", gguf_type_name(type_), *u);
    return static_cast<int64_t>(*u);
  }
  fail(ErrorCode::bad_format, "expected an integer, found a {}", gguf_type_name(type_));
}

uint64_t GgufValue::as_uint() const {
  if (const auto* u = std::get_if<uint64_t>(&value_)) return *u;
  if (const auto* s = std::get_if<int64_t>(&value_)) {
    if (*s < 0) fail(ErrorCode::bad_format, "expected a non-negative integer, found {}", *s);
    return static_cast<uint64_t>(*s);
  }
  fail(ErrorCode::bad_format, "expected an integer, found a {}", gguf_type_name(type_));
}

double GgufValue::as_float() const {
  if (const auto* d = std::get_if<double>(&value_)) return *d;
  fail(ErrorCode::bad_format, "expected a float, found a {}", gguf_type_name(type_));
}

bool GgufValue::as_bool() const {
  if (const auto* b = std::get_if<bool>(&value_)) return *b;
  fail(ErrorCode::bad_format, "expected a bool, found a {}", gguf_type_name(type_));
}

const std::string& GgufValue::as_string() const {
  if (const auto* s = std::get_if<std::string>(&value_)) return *s;
  fail(ErrorCode::bad_format, "expected a string, found a {}", gguf_type_name(type_));
}

const std::vector<GgufValue>& GgufValue::as_array() const {
  if (const auto* a = std::get_if<std::vector<GgufValue>>(&value_)) return *a;
  fail(ErrorCode::bad_format, "expected an array, found a {}", gguf_type_name(type_));
}

// ---- GgufMetadata -------------------------------------------------------------------------------

GgufMetadata::GgufMetadata(std::vector<GgufKV> entries, std::string file_label)
    : entries_(std::move(entries)), file_(std::move(file_label)) {
  for (size_t i = 0; i < entries_.size(); ++i)
    if (!index_.emplace(entries_[i].key, i).second)
      fail(ErrorCode::bad_format, "{}: metadata '{}': the key appears twice", file_, entries_[i].key);
}

const GgufValue* GgufMetadata::find(std::string_view key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &entries_[it->second].value;
}

const GgufValue& GgufMetadata::get(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) fail(ErrorCode::bad_format, "{}: metadata '{}' is missing", file_, key);
  return *v;
}

void GgufMetadata::type_error(std::string_view key, std::string_view expected, const GgufValue& v) const {
  std::string found(gguf_type_name(v.type()));
  if (v.is_array()) found = fmt::format("array of {}", gguf_type_name(v.element_type()));
  fail(ErrorCode::bad_format, "{}: metadata '{}': expected {}, found {}", file_, key, expected, found);
}

const std::string& GgufMetadata::get_string(std::string_view key) const {
  const GgufValue& v = get(key);
  if (!v.is_string()) type_error(key, "a string", v);
  return v.as_string();
}

int64_t GgufMetadata::get_int(std::string_view key) const {
  const GgufValue& v = get(key);
  if (!v.is_integer()) type_error(key, "an integer", v);
  if (v.type() == GgufType::u64 && v.as_uint() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    fail(ErrorCode::bad_format, "{}: metadata '{}': {} does not fit int64", file_, key, v.as_uint());
  return v.as_int();
}

uint64_t GgufMetadata::get_uint(std::string_view key) const {
  const GgufValue& v = get(key);
  if (!v.is_integer()) type_error(key, "an integer", v);
  if (v.type() != GgufType::u64 && v.as_int() < 0)
    fail(ErrorCode::bad_format, "{}: metadata '{}': {} is negative", file_, key, v.as_int());
  return v.as_uint();
}

double GgufMetadata::get_float(std::string_view key) const {
  const GgufValue& v = get(key);
  if (!v.is_float()) type_error(key, "a float", v);
  return v.as_float();
}

bool GgufMetadata::get_bool(std::string_view key) const {
  const GgufValue& v = get(key);
  if (!v.is_bool()) type_error(key, "a bool", v);
  return v.as_bool();
}

std::vector<std::string> GgufMetadata::get_array_strings(std::string_view key) const {
  const GgufValue& v = get(key);
  if (!v.is_array() || v.element_type() != GgufType::string) type_error(key, "an array of strings", v);
  std::vector<std::string> out;
  out.reserve(v.as_array().size());
  for (const GgufValue& e : v.as_array()) out.push_back(e.as_string());
  return out;
}

std::vector<int64_t> GgufMetadata::get_array_ints(std::string_view key) const {
  const GgufValue& v = get(key);
  if (!v.is_array() || !gguf_is_integer(v.element_type())) type_error(key, "an array of integers", v);
  std::vector<int64_t> out;
  out.reserve(v.as_array().size());
  for (size_t i = 0; i < v.as_array().size(); ++i) {
    const GgufValue& e = v.as_array()[i];
    if (e.type() == GgufType::u64 && e.as_uint() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(ErrorCode::bad_format, "{}: metadata '{}': element {} = {} does not fit int64", file_, key, i, e.as_uint());
    out.push_back(e.as_int());
  }
  return out;
}

std::vector<double> GgufMetadata::get_array_floats(std::string_view key) const {
  const GgufValue& v = get(key);
  if (!v.is_array() || (v.element_type() != GgufType::f32 && v.element_type() != GgufType::f64))
    type_error(key, "an array of floats", v);
  std::vector<double> out;
  out.reserve(v.as_array().size());
  for (const GgufValue& e : v.as_array()) out.push_back(e.as_float());
  return out;
}

// ---- GgufFile -----------------------------------------------------------------------------------

GgufContents GgufFile::parse(std::span<const std::byte> bytes, const std::string& file_label) {
  return Parser(bytes, file_label).run();
}

GgufFile::GgufFile(const std::filesystem::path& path) : file_(path) {
  contents_ = parse(file_.bytes(), path.filename().string());
  for (size_t i = 0; i < contents_.tensors.size(); ++i) by_name_.emplace(contents_.tensors[i].name, i);
}

const TensorInfo* GgufFile::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &contents_.tensors[it->second];
}

std::shared_ptr<TensorStore> TensorStore::from_gguf(std::shared_ptr<const GgufFile> file) {
  if (!file) fail(ErrorCode::invalid_argument, "TensorStore::from_gguf: no file");
  auto store = std::make_shared<TensorStore>();
  for (const TensorInfo& t : file->tensors()) {
    auto [it, inserted] = store->by_name_.emplace(t.name, &t);
    if (!inserted) fail(ErrorCode::bad_format, "tensor '{}' appears twice in {}", t.name, t.file);
  }
  store->gguf_files_.push_back(std::move(file));
  return store;
}

// ---- writer -------------------------------------------------------------------------------------

void write_gguf(const std::filesystem::path& path, const std::vector<GgufKV>& metadata,
                const std::vector<TensorSpec>& tensors, const TensorFiller& fill, size_t alignment,
                const GgufProgress& progress) {
  if (!is_power_of_two(alignment) || alignment > kMaxAlignment)
    fail(ErrorCode::invalid_argument, "write_gguf: alignment {} is not a power of two between 1 and {}", alignment,
         kMaxAlignment);

  // Validate everything and lay out the header before creating any file.
  std::string header;
  Encoder enc(header);
  enc.scalar<uint32_t>(0x46554747u);  // "GGUF"
  enc.scalar<uint32_t>(kGgufVersion);
  enc.scalar<uint64_t>(tensors.size());
  const GgufValue* alignment_entry = nullptr;
  std::set<std::string_view> keys;
  uint64_t values = 0;
  for (const GgufKV& kv : metadata) {
    if (kv.key.empty() || kv.key.size() > kMaxNameBytes || !utf8::is_valid(kv.key))
      fail(ErrorCode::invalid_argument, "write_gguf: metadata key '{}' must be 1..{} bytes of valid UTF-8", kv.key,
           kMaxNameBytes);
    if (!keys.insert(kv.key).second)
      fail(ErrorCode::invalid_argument, "write_gguf: metadata key '{}' appears twice", kv.key);
    check_value(kv.value, kv.key, 0, values);
    if (kv.key == kAlignmentKey) alignment_entry = &kv.value;
  }
  if (alignment_entry && (alignment_entry->type() != GgufType::u32 || alignment_entry->as_uint() != alignment))
    fail(ErrorCode::invalid_argument, "write_gguf: metadata '{}' must be the uint32 {} (the alignment written)",
         kAlignmentKey, alignment);
  const bool add_alignment = !alignment_entry && alignment != kDefaultAlignment;
  enc.scalar<uint64_t>(metadata.size() + (add_alignment ? 1 : 0));
  for (const GgufKV& kv : metadata) {
    enc.string(kv.key);
    enc.scalar(static_cast<uint32_t>(kv.value.type()));
    enc.value(kv.value);
  }
  if (add_alignment) {
    enc.string(kAlignmentKey);
    enc.scalar(static_cast<uint32_t>(GgufType::u32));
    enc.scalar(static_cast<uint32_t>(alignment));
  }

  struct Layout {
    size_t offset = 0, nbytes = 0, count = 0, row = 1, row_bytes = 0;
    size_t slice_rows = 0;  // interleaved: rows of each matrix of the last two dimensions
  };
  std::vector<Layout> layout(tensors.size());
  std::set<std::string_view> names;
  size_t data_size = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorSpec& t = tensors[i];
    if (t.name.empty() || t.name.size() > kMaxNameBytes || !utf8::is_valid(t.name))
      fail(ErrorCode::invalid_argument, "write_gguf: tensor name '{}' must be 1..{} bytes of valid UTF-8", t.name,
           kMaxNameBytes);
    if (!names.insert(t.name).second) fail(ErrorCode::invalid_argument, "write_gguf: tensor '{}' appears twice", t.name);
    const std::optional<uint32_t> type = ggml_type_of(t.dtype, t.interleaved);
    if (!type)
      fail(ErrorCode::invalid_argument, "write_gguf: tensor '{}': dtype {}{} cannot be stored in GGUF", t.name,
           dtype_name(t.dtype), t.interleaved ? " (interleaved)" : "");
    if (t.interleaved && t.shape.size() < 2)
      fail(ErrorCode::invalid_argument, "write_gguf: tensor '{}': only a matrix can be interleaved", t.name);
    if (t.shape.size() > kMaxDims)
      fail(ErrorCode::invalid_argument, "write_gguf: tensor '{}': {} dimensions, at most {}", t.name, t.shape.size(),
           kMaxDims);
    std::array<uint64_t, kMaxDims> ne{};
    for (size_t d = 0; d < t.shape.size(); ++d) {
      const int64_t dim = t.shape[t.shape.size() - 1 - d];
      if (dim <= 0) fail(ErrorCode::invalid_argument, "write_gguf: tensor '{}': dimensions must be positive", t.name);
      ne[d] = static_cast<uint64_t>(dim);
    }
    Layout& l = layout[i];
    const std::string error = tensor_size(t.dtype, std::span(ne.data(), t.shape.size()), l.count, l.nbytes);
    if (!error.empty()) fail(ErrorCode::invalid_argument, "write_gguf: tensor '{}': {}", t.name, error);
    l.row = t.shape.empty() ? 1 : static_cast<size_t>(ne[0]);
    l.row_bytes = dtype_row_bytes(t.dtype, l.row);
    if (t.interleaved) l.slice_rows = static_cast<size_t>(ne[1]);
    l.offset = align_up(data_size, alignment);
    if (l.offset < data_size || __builtin_add_overflow(l.offset, l.nbytes, &data_size))
      fail(ErrorCode::invalid_argument, "write_gguf: the data section overflows 64 bits");
    enc.string(t.name);
    enc.scalar(static_cast<uint32_t>(t.shape.size()));
    for (size_t d = 0; d < t.shape.size(); ++d) enc.scalar(ne[d]);
    enc.scalar(*type);
    enc.scalar<uint64_t>(l.offset);
  }
  const size_t data_offset = align_up(header.size(), alignment);
  const uint64_t total = data_offset + align_up(data_size, alignment);

  auto tmp = path;
  tmp += ".partial";
  OutputFile out(tmp);
  out.write(header.data(), header.size());
  out.zeros(data_offset - header.size());
  if (progress) progress(out.written(), total);
  constexpr size_t kChunkBytes = size_t(32) << 20;
  std::vector<std::byte> buffer;
  size_t data_written = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Layout& l = layout[i];
    out.zeros(l.offset - data_written);
    const size_t rows = l.count / l.row;
    if (l.slice_rows == 0) {
      const size_t rows_per_chunk = std::max<size_t>(1, kChunkBytes / l.row_bytes);
      for (size_t first_row = 0; first_row < rows; first_row += rows_per_chunk) {
        const size_t n_rows = std::min(rows_per_chunk, rows - first_row);
        buffer.resize(n_rows * l.row_bytes);
        fill(i, first_row * l.row, buffer);
        out.write(buffer.data(), buffer.size());
        if (progress) progress(out.written(), total);
      }
    } else {
      // R16: chunks of whole groups that never cross a matrix; each group is interleaved after
      // the filler wrote its plain rows, the rows past a matrix's last whole group stay plain.
      const size_t G = interleave_rows(tensors[i].dtype);
      const size_t rows_per_chunk = std::max<size_t>(1, kChunkBytes / l.row_bytes / G) * G;
      std::vector<std::byte> group(G * l.row_bytes);
      for (size_t slice = 0; slice < rows; slice += l.slice_rows) {
        for (size_t first = 0; first < l.slice_rows; first += rows_per_chunk) {
          const size_t n_rows = std::min(rows_per_chunk, l.slice_rows - first);
          buffer.resize(n_rows * l.row_bytes);
          fill(i, (slice + first) * l.row, buffer);
          for (size_t g = 0; g + G <= n_rows; g += G) {
            std::memcpy(group.data(), buffer.data() + g * l.row_bytes, group.size());
            repack_interleaved(tensors[i].dtype, group.data(), G, l.row, buffer.data() + g * l.row_bytes);
          }
          out.write(buffer.data(), buffer.size());
          if (progress) progress(out.written(), total);
        }
      }
    }
    data_written = l.offset + l.nbytes;
  }
  out.zeros(align_up(data_written, alignment) - data_written);  // ggml reads the padded data size
  if (out.written() != total) fail(ErrorCode::internal, "write_gguf: wrote {} bytes, expected {}", out.written(), total);
  out.commit(path);
  if (progress) progress(total, total);
}

void write_gguf(const std::filesystem::path& path, const std::vector<GgufKV>& metadata,
                const std::vector<OwnedTensor>& tensors, size_t alignment) {
  std::vector<TensorSpec> specs;
  specs.reserve(tensors.size());
  for (const auto& t : tensors) specs.push_back(TensorSpec{t.name, t.dtype, t.shape, t.interleaved});
  write_gguf(
      path, metadata, specs,
      [&](size_t index, size_t first_element, std::span<std::byte> out) {
        // Called only once write_gguf has validated the shapes, so these products do not overflow.
        const OwnedTensor& t = tensors[index];
        const size_t row = t.shape.empty() ? 1 : static_cast<size_t>(t.shape.back());
        const size_t row_bytes = dtype_row_bytes(t.dtype, row);
        const size_t total = specs[index].element_count() / row * row_bytes;
        if (t.bytes.size() != total)
          fail(ErrorCode::invalid_argument, "write_gguf: tensor '{}': {} bytes, its shape and dtype need {}", t.name,
               t.bytes.size(), total);
        std::memcpy(out.data(), t.bytes.data() + first_element / row * row_bytes, out.size());
      },
      alignment);
}

}  // namespace zaya
