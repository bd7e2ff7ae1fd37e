// src/io/safetensors.cpp - strict safetensors reader and streaming writer.
#include <zaya/error.h>
#include <zaya/json_writer.h>
#include <zaya/safetensors.h>

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>

namespace zaya {
namespace {

constexpr uint64_t kMaxHeaderBytes = uint64_t(100) << 20;  // HF's own limit is 100 MB
constexpr size_t kMaxShards = 10000;

bool checked_mul(size_t a, size_t b, size_t& out) { return !__builtin_mul_overflow(a, b, &out); }

}  // namespace

std::vector<TensorInfo> SafetensorsFile::parse(std::span<const std::byte> bytes, const std::string& file,
                                               std::map<std::string, std::string>* metadata) {
  if (bytes.size() < 8) fail(ErrorCode::bad_format, "{}: truncated: {} bytes, no safetensors header", file, bytes.size());
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(bytes[static_cast<size_t>(i)]);
  if (header_len > kMaxHeaderBytes)
    fail(ErrorCode::bad_format, "{}: header length {} exceeds the {} byte limit", file, header_len, kMaxHeaderBytes);
  if (header_len > bytes.size() - 8)
    fail(ErrorCode::bad_format, "{}: truncated: header claims {} bytes but only {} follow", file, header_len, bytes.size() - 8);
  const char* header = reinterpret_cast<const char*>(bytes.data() + 8);
  const std::byte* data_begin = bytes.data() + 8 + header_len;
  const size_t data_size = bytes.size() - 8 - static_cast<size_t>(header_len);

  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(header, static_cast<size_t>(header_len), true).get(root))
    fail(ErrorCode::bad_format, "{}: malformed JSON header: {}", file, simdjson::error_message(err));
  simdjson::dom::object entries;
  if (root.get(entries)) fail(ErrorCode::bad_format, "{}: JSON header is not an object", file);

  std::vector<TensorInfo> tensors;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto field : entries) {
    std::string name(field.key);
    if (name == "__metadata__") {
      simdjson::dom::object meta;
      if (field.value.get(meta)) fail(ErrorCode::bad_format, "{}: __metadata__ is not an object", file);
      if (metadata) {
        for (auto m : meta) {
          std::string_view v;
          if (m.value.get(v)) fail(ErrorCode::bad_format, "{}: __metadata__.{} is not a string", file, std::string(m.key));
          (*metadata)[std::string(m.key)] = std::string(v);
        }
      }
      continue;
    }
    simdjson::dom::object obj;
    if (field.value.get(obj)) fail(ErrorCode::bad_format, "{}: tensor '{}': entry is not an object", file, name);
    std::string_view dtype_text;
    if (obj["dtype"].get(dtype_text)) fail(ErrorCode::bad_format, "{}: tensor '{}': missing or non-string dtype", file, name);
    TensorInfo info;
    info.name = name;
    info.file = file;
    if (!parse_dtype(dtype_text, info.dtype))
      fail(ErrorCode::unsupported, "{}: tensor '{}': unsupported dtype '{}'", file, name, dtype_text);
    simdjson::dom::array shape;
    if (obj["shape"].get(shape)) fail(ErrorCode::bad_format, "{}: tensor '{}': missing shape", file, name);
    size_t count = 1;
    for (auto dim : shape) {
      int64_t d = 0;
      if (dim.get(d) || d < 0) fail(ErrorCode::bad_format, "{}: tensor '{}': shape entries must be non-negative integers", file, name);
      if (info.shape.size() >= 8) fail(ErrorCode::bad_format, "{}: tensor '{}': more than 8 dimensions", file, name);
      info.shape.push_back(d);
      if (!checked_mul(count, static_cast<size_t>(d), count))
        fail(ErrorCode::bad_format, "{}: tensor '{}': shape element count overflows 64 bits", file, name);
    }
    size_t nbytes = 0;
    if (!checked_mul(count, dtype_size(info.dtype), nbytes))
      fail(ErrorCode::bad_format, "{}: tensor '{}': byte size overflows 64 bits", file, name);
    simdjson::dom::array offsets;
    if (obj["data_offsets"].get(offsets) || offsets.size() != 2)
      fail(ErrorCode::bad_format, "{}: tensor '{}': data_offsets must be [begin, end]", file, name);
    uint64_t begin = 0, end = 0;
    if (offsets.at(0).get(begin) || offsets.at(1).get(end))
      fail(ErrorCode::bad_format, "{}: tensor '{}': data_offsets must be non-negative integers", file, name);
    if (begin > end) fail(ErrorCode::bad_format, "{}: tensor '{}': data_offsets begin {} > end {}", file, name, begin, end);
    if (end > data_size)
      fail(ErrorCode::bad_format, "{}: tensor '{}': data_offsets end {} is past the {} data bytes (file truncated?)", file,
           name, end, data_size);
    if (end - begin != nbytes)
      fail(ErrorCode::bad_format, "{}: tensor '{}': {} bytes at data_offsets but shape and dtype need {}", file, name,
           end - begin, nbytes);
    info.data = data_begin + begin;
    info.nbytes = nbytes;
    info.element_count = count;
    ranges.emplace_back(begin, end);
    tensors.push_back(std::move(info));
  }
  // Overlapping tensors would alias each other: a malicious file could make one write (in a
  // future mutable use) or one interpretation corrupt another. Reject them.
  std::vector<size_t> order(ranges.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ranges[a] < ranges[b]; });
  // In begin order, each non-empty range must start at or after the furthest end seen so far
  // (comparing neighbours only misses a range inside an earlier, longer one when an empty or
  // shorter range sorts between them).
  size_t furthest = order.size();  // the non-empty range with the furthest end so far
  for (size_t i : order) {
    const auto [begin, end] = ranges[i];
    if (begin == end) continue;
    if (furthest != order.size() && begin < ranges[furthest].second)
      fail(ErrorCode::bad_format, "{}: tensors '{}' and '{}' overlap in the data buffer", file, tensors[furthest].name,
           tensors[i].name);
    if (furthest == order.size() || end > ranges[furthest].second) furthest = i;
  }
  return tensors;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : file_(path) {
  tensors_ = parse(file_.bytes(), path.filename().string(), &metadata_);
}

// ---- TensorStore --------------------------------------------------------------------------------

void TensorStore::add(std::unique_ptr<SafetensorsFile> file) {
  for (const auto& t : file->tensors()) {
    auto [it, inserted] = by_name_.emplace(t.name, &t);
    if (!inserted)
      fail(ErrorCode::bad_format, "tensor '{}' appears twice (in {} and {})", t.name, it->second->file, t.file);
  }
  files_.push_back(std::move(file));
}

std::shared_ptr<TensorStore> TensorStore::open_file(const std::filesystem::path& file) {
  auto store = std::make_shared<TensorStore>();
  store->add(std::make_unique<SafetensorsFile>(file));
  return store;
}

TensorStore::Index TensorStore::parse_index(std::string_view text) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(text.data(), text.size(), true).get(root))
    fail(ErrorCode::bad_format, "model.safetensors.index.json: malformed JSON: {}", simdjson::error_message(err));
  simdjson::dom::object weight_map;
  if (root["weight_map"].get(weight_map))
    fail(ErrorCode::bad_format, "model.safetensors.index.json: missing \"weight_map\" object");
  Index index;
  std::set<std::string> seen_shards;  // a set: a long weight_map must not make the dedup quadratic
  for (auto entry : weight_map) {
    std::string_view shard;
    if (entry.value.get(shard))
      fail(ErrorCode::bad_format, "model.safetensors.index.json: weight_map entry '{}' is not a string", std::string(entry.key));
    std::string shard_name(shard);
    if (shard_name.find('\0') != std::string::npos)
      fail(ErrorCode::bad_format, "model.safetensors.index.json: a shard name contains a NUL byte (not a plain file name)");
    if (shard_name.empty() || shard_name.find('/') != std::string::npos || shard_name.find('\\') != std::string::npos ||
        shard_name == "." || shard_name == "..")
      fail(ErrorCode::bad_format, "model.safetensors.index.json: shard name '{}' must be a plain file name", shard_name);
    // A tensor listed twice is ambiguous (which shard holds it?) and would leave a shard opened
    // that no tensor maps to.
    if (!index.shard_of.emplace(std::string(entry.key), shard_name).second)
      fail(ErrorCode::bad_format, "model.safetensors.index.json: tensor '{}' is listed twice", std::string(entry.key));
    if (!seen_shards.count(shard_name)) {
      if (index.shards.size() == kMaxShards)
        fail(ErrorCode::bad_format, "model.safetensors.index.json: more than {} shards is absurd", kMaxShards);
      seen_shards.insert(shard_name);
      index.shards.push_back(shard_name);
    }
  }
  if (index.shards.empty()) fail(ErrorCode::bad_format, "model.safetensors.index.json: weight_map is empty");
  return index;
}

std::shared_ptr<TensorStore> TensorStore::open_directory(const std::filesystem::path& dir) {
  auto index_path = dir / "model.safetensors.index.json";
  auto single_path = dir / "model.safetensors";
  if (std::filesystem::exists(index_path)) {
    const Index index = parse_index(read_text_file(index_path, size_t(64) << 20));
    auto store = std::make_shared<TensorStore>();
    for (const auto& shard : index.shards) {
      auto path = dir / shard;
      if (!std::filesystem::exists(path))
        fail(ErrorCode::io, "model.safetensors.index.json names shard '{}', which does not exist in {}", shard, dir.string());
      store->add(std::make_unique<SafetensorsFile>(path));
    }
    for (const auto& [name, shard] : index.shard_of) {
      const TensorInfo* t = store->find(name);
      if (!t) fail(ErrorCode::bad_format, "model.safetensors.index.json: tensor '{}' is not in shard '{}'", name, shard);
      if (t->file != shard)
        fail(ErrorCode::bad_format, "model.safetensors.index.json: tensor '{}' is listed in '{}' but found in '{}'", name, shard, t->file);
    }
    return store;
  }
  if (std::filesystem::exists(single_path)) return open_file(single_path);
  fail(ErrorCode::io, "{}: no model.safetensors or model.safetensors.index.json", dir.string());
}

const TensorInfo* TensorStore::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

size_t TensorStore::total_bytes() const noexcept {
  size_t total = 0;
  for (const auto& [name, t] : by_name_) total += t->nbytes;
  return total;
}

// ---- writer ---------------------------------------------------------------------------------------

size_t TensorSpec::element_count() const {
  size_t n = 1;
  for (auto d : shape) n *= static_cast<size_t>(d);
  return n;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorSpec>& specs,
                       const TensorFiller& fill, const std::map<std::string, std::string>& metadata) {
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!first) header += ',';
      first = false;
      json::append_string(header, k);
      header += ':';
      json::append_string(header, v);
    }
    header += "}";
    if (!specs.empty()) header += ',';
  }
  size_t offset = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const auto& s = specs[i];
    if (s.interleaved)
      fail(ErrorCode::invalid_argument, "write_safetensors: tensor '{}': the interleaved layout exists only in GGUF", s.name);
    size_t nbytes = s.element_count() * dtype_size(s.dtype);
    if (i) header += ',';
    json::append_string(header, s.name);
    header += fmt::format(":{{\"dtype\":\"{}\",\"shape\":[", dtype_name(s.dtype));
    for (size_t d = 0; d < s.shape.size(); ++d) header += fmt::format("{}{}", d ? "," : "", s.shape[d]);
    header += fmt::format("],\"data_offsets\":[{},{}]}}", offset, offset + nbytes);
    offset += nbytes;
  }
  header += "}";
  while ((8 + header.size()) % 8 != 0) header += ' ';  // keep tensor data 8-byte aligned, as HF does

  auto tmp = path;
  tmp += ".partial";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail(ErrorCode::io, "cannot create {}", tmp.string());
    uint64_t n = header.size();
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    constexpr size_t kChunkBytes = size_t(32) << 20;
    std::vector<std::byte> buffer;
    for (size_t i = 0; i < specs.size(); ++i) {
      size_t esize = dtype_size(specs[i].dtype);
      size_t count = specs[i].element_count();
      size_t per_chunk = std::max<size_t>(1, kChunkBytes / esize);
      for (size_t first = 0; first < count; first += per_chunk) {
        size_t n_el = std::min(per_chunk, count - first);
        buffer.resize(n_el * esize);
        fill(i, first, buffer);
        out.write(reinterpret_cast<const char*>(buffer.data()), static_cast<std::streamsize>(buffer.size()));
      }
    }
    out.flush();
    if (!out) fail(ErrorCode::io, "cannot write {} (disk full?)", tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) fail(ErrorCode::io, "cannot rename {} to {}: {}", tmp.string(), path.string(), ec.message());
}

void write_safetensors(const std::filesystem::path& path, const std::vector<OwnedTensor>& tensors) {
  std::vector<TensorSpec> specs;
  for (const auto& t : tensors) {
    TensorSpec s{t.name, t.dtype, t.shape};
    if (s.element_count() * dtype_size(t.dtype) != t.bytes.size())
      fail(ErrorCode::invalid_argument, "tensor '{}': {} bytes do not match its shape", t.name, t.bytes.size());
    specs.push_back(std::move(s));
  }
  write_safetensors(path, specs, [&](size_t index, size_t first, std::span<std::byte> out) {
    std::memcpy(out.data(), tensors[index].bytes.data() + first * dtype_size(tensors[index].dtype), out.size());
  });
}

}  // namespace zaya
