// src/model/sequence_serialization.cpp - Context::save_state / load_state: one sequence's complete
// decode state as a self-describing byte string (what the C ABI's zaya_sequence_save/_load and
// prompt caches are built on).
//
// Format version 1 (all integers and floats in the machine's byte order, which is recorded):
//
//   offset  size  field
//   0       8     magic "ZAYASEQ1"
//   8       4     u32 format version (1)
//   12      4     u32 byte-order tag 0x01020304 as written by the saving machine
//   16      8     u64 total size of the state in bytes (header, body and checksum)
//   24      48    i64 geometry: blocks, hidden, kv_dim, conv_channels, value_proj_dim, vocab
//   72      8     i64 length (tokens in the sequence)
//   80      8     i64 history rows saved (raw CCA inputs of the last positions, for truncate)
//   88      ...   per block: keys [length, kv_dim], values [length, kv_dim], conv [2, C],
//                 vdel [kv_dim / 2], history [rows, C] (positions length-rows .. length-1)
//   end-8   8     u64 checksum of every byte before it
//
// Only the used cache rows are written (not the capacity), so a state costs
// blocks * (2 * length * kv_dim + (2 + rows) * C + kv_dim / 2) floats plus 96 bytes. The
// truncate window of the loading context may differ from the saving one: the ring keeps the
// saved rows that fit.
#include "context_impl.h"
#include "experts.h"
#include "router.h"
#include "sequence_state.h"
#include "weights.h"

#include <zaya/context.h>
#include <zaya/error.h>
#include <zaya/sampler.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <new>

namespace zaya {

using model::KvCache;
using model::LayerState;
using model::SequenceState;


namespace {

constexpr std::array<char, 8> kMagic = {'Z', 'A', 'Y', 'A', 'S', 'E', 'Q', '1'};
constexpr uint32_t kFormatVersion = 1;
constexpr uint32_t kByteOrderTag = 0x01020304u;
constexpr size_t kHeaderBytes = 88;
constexpr size_t kChecksumBytes = 8;

struct Geometry {
  int64_t blocks, hidden, kv_dim, conv_channels, value_proj_dim, vocab;
  bool operator==(const Geometry&) const = default;
};

Geometry geometry_of(const ModelConfig& c) {
  return {c.blocks, c.hidden, c.kv_dim(), c.conv_channels(), c.value_proj_dim(), c.vocab};
}

uint64_t checksum(const uint8_t* data, size_t size) noexcept {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ size;
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, data + i, 8);
    h = mix64(h + word);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, data + i, size - i);
  return mix64(h + tail + 1);
}

class Writer {
 public:
  explicit Writer(size_t size) : bytes_(size) {}
  template <typename T>
  void put(const T& value) {
    std::memcpy(bytes_.data() + pos_, &value, sizeof(T));
    pos_ += sizeof(T);
  }
  void put_floats(const float* data, size_t count) {
    if (count) std::memcpy(bytes_.data() + pos_, data, count * sizeof(float));
    pos_ += count * sizeof(float);
  }
  size_t pos() const noexcept { return pos_; }
  std::vector<uint8_t>& bytes() noexcept { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
  size_t pos_ = 0;
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  template <typename T>
  T get() {
    T value;
    need(sizeof(T));
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  void get_floats(float* out, size_t count) {
    need(count * sizeof(float));
    if (count) std::memcpy(out, bytes_.data() + pos_, count * sizeof(float));
    pos_ += count * sizeof(float);
  }

 private:
  void need(size_t n) const {
    if (bytes_.size() - pos_ < n) fail(ErrorCode::bad_format, "sequence state: truncated at byte {}", pos_);
  }
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

// Floats per block for a state of `length` tokens with `rows` history rows.
uint64_t floats_per_block(const Geometry& g, uint64_t length, uint64_t rows) {
  return 2 * length * static_cast<uint64_t>(g.kv_dim) + (2 + rows) * static_cast<uint64_t>(g.conv_channels) +
         static_cast<uint64_t>(g.value_proj_dim);
}

}  // namespace

namespace {

// The sequence's state, after validating the id and cross-checking the bookkeeping.
const SequenceState& checked_state(const Context& ctx, const Context::Impl& impl, int32_t sequence) {
  const int64_t length = ctx.length(sequence);  // validates the id; computed by forward.cpp
  if (impl.sequences.size() != static_cast<size_t>(ctx.max_sequences()))
    fail(ErrorCode::internal, "sequence state: inconsistent context bookkeeping");
  const SequenceState& s = impl.sequences[static_cast<size_t>(sequence)];
  if (s.length != length || s.layers.size() != static_cast<size_t>(ctx.model().config().blocks))
    fail(ErrorCode::internal, "sequence state: inconsistent context bookkeeping");
  return s;
}

}  // namespace

std::vector<uint8_t> Context::save_state(int32_t sequence) const {
  const SequenceState& s = checked_state(*this, *impl_, sequence);
  const ModelConfig& c = model_->config();
  const Geometry g = geometry_of(c);
  const size_t KD = static_cast<size_t>(g.kv_dim), C = static_cast<size_t>(g.conv_channels);
  const size_t VH = static_cast<size_t>(g.value_proj_dim);
  const size_t length = static_cast<size_t>(s.length);
  const size_t window = static_cast<size_t>(options_.truncate_window);
  const int64_t first = window ? std::max<int64_t>(s.history_begin, s.length - static_cast<int64_t>(window)) : s.length;
  const size_t rows = static_cast<size_t>(s.length - std::min(first, s.length));

  const uint64_t total = kHeaderBytes + kChecksumBytes +
                         static_cast<uint64_t>(g.blocks) * floats_per_block(g, length, rows) * sizeof(float);
  std::vector<uint8_t> out;
  try {
    std::vector<float> kv_row(KD);
    Writer w(static_cast<size_t>(total));
    w.put(kMagic);
    w.put(kFormatVersion);
    w.put(kByteOrderTag);
    w.put(total);
    w.put(g);
    w.put(static_cast<int64_t>(length));
    w.put(static_cast<int64_t>(rows));
    for (const LayerState& l : s.layers) {
      if (l.kv.capacity() < length || l.conv.size() != 2 * C || l.vdel.size() != VH || l.history.size() != window * C)
        fail(ErrorCode::internal, "sequence state: unexpected buffer sizes in sequence {}", sequence);
      // Keys, then values, as [length, kv_dim] rows (the file keeps the logical order, whatever
      // the cache's layout).
      for (size_t p = 0; p < length; ++p) {
        l.kv.load_key(p, kv_row.data());
        w.put_floats(kv_row.data(), KD);
      }
      for (size_t p = 0; p < length; ++p) {
        l.kv.load_value(p, kv_row.data());
        w.put_floats(kv_row.data(), KD);
      }
      w.put_floats(l.conv.data(), 2 * C);
      w.put_floats(l.vdel.data(), VH);
      for (size_t p = length - rows; p < length; ++p) w.put_floats(l.history.data() + (p % window) * C, C);
    }
    const uint64_t sum = checksum(w.bytes().data(), w.pos());
    w.put(sum);
    out = std::move(w.bytes());
  } catch (const std::bad_alloc&) {
    fail(ErrorCode::out_of_memory, "sequence state: cannot allocate {} bytes", total);
  }
  return out;
}

void Context::load_state(int32_t sequence, std::span<const uint8_t> bytes) {
  checked_state(*this, *impl_, sequence);
  const ModelConfig& c = model_->config();
  const Geometry mine = geometry_of(c);

  if (bytes.size() < kHeaderBytes + kChecksumBytes)
    fail(ErrorCode::bad_format, "sequence state: {} bytes is too short for a state", bytes.size());
  Reader r(bytes);
  if (r.get<std::array<char, 8>>() != kMagic) fail(ErrorCode::bad_format, "sequence state: not a zaya sequence state");
  if (uint32_t v = r.get<uint32_t>(); v != kFormatVersion)
    fail(ErrorCode::unsupported, "sequence state: format version {} (this build reads {})", v, kFormatVersion);
  if (r.get<uint32_t>() != kByteOrderTag)
    fail(ErrorCode::unsupported, "sequence state: saved on a machine with another byte order");
  const uint64_t total = r.get<uint64_t>();
  if (total != bytes.size())
    fail(ErrorCode::bad_format, "sequence state: {} bytes given, the state says {}", bytes.size(), total);
  uint64_t stored_sum;
  std::memcpy(&stored_sum, bytes.data() + bytes.size() - kChecksumBytes, kChecksumBytes);
  if (checksum(bytes.data(), bytes.size() - kChecksumBytes) != stored_sum)
    fail(ErrorCode::bad_format, "sequence state: checksum mismatch (damaged bytes)");

  const Geometry g = r.get<Geometry>();
  if (!(g == mine))
    fail(ErrorCode::invalid_argument,
         "sequence state: saved for a model with blocks={} hidden={} kv_dim={} vocab={}, this model has "
         "blocks={} hidden={} kv_dim={} vocab={}",
         g.blocks, g.hidden, g.kv_dim, g.vocab, mine.blocks, mine.hidden, mine.kv_dim, mine.vocab);
  const int64_t length = r.get<int64_t>();
  const int64_t rows = r.get<int64_t>();
  if (length < 0 || rows < 0 || rows > length)
    fail(ErrorCode::bad_format, "sequence state: length {} with {} history rows", length, rows);
  if (length > options_.max_context)
    fail(ErrorCode::limit_exceeded, "sequence state: {} tokens do not fit this context's max_context of {}", length,
         options_.max_context);
  const uint64_t expected = kHeaderBytes + kChecksumBytes +
                            static_cast<uint64_t>(g.blocks) *
                                floats_per_block(g, static_cast<uint64_t>(length), static_cast<uint64_t>(rows)) *
                                sizeof(float);
  if (expected != total)
    fail(ErrorCode::bad_format, "sequence state: {} bytes, {} expected for {} tokens", total, expected, length);

  const size_t KD = static_cast<size_t>(g.kv_dim), C = static_cast<size_t>(g.conv_channels);
  const size_t VH = static_cast<size_t>(g.value_proj_dim), L = static_cast<size_t>(length);
  const size_t window = static_cast<size_t>(options_.truncate_window);
  // Rows of the saved history that this context's ring can hold.
  const int64_t saved_first = length - rows;
  const int64_t first = window ? std::max<int64_t>(saved_first, length - static_cast<int64_t>(window)) : length;

  SequenceState s;
  try {
    s.length = length;
    s.history_begin = first;
    s.layers.resize(static_cast<size_t>(g.blocks));
    std::vector<float> row(C), kv_row(KD);
    for (LayerState& l : s.layers) {
      l.kv = KvCache(static_cast<size_t>(c.kv_heads), static_cast<size_t>(c.head_dim), options_.kv_cache_type);
      l.kv.reserve(L);
      l.conv.resize(2 * C);
      l.vdel.resize(VH);
      l.history.assign(window * C, 0.0f);
      for (size_t p = 0; p < L; ++p) {
        r.get_floats(kv_row.data(), KD);
        l.kv.store_key(p, kv_row.data());
      }
      for (size_t p = 0; p < L; ++p) {
        r.get_floats(kv_row.data(), KD);
        l.kv.store_value(p, kv_row.data());
      }
      r.get_floats(l.conv.data(), 2 * C);
      r.get_floats(l.vdel.data(), VH);
      for (int64_t p = saved_first; p < length; ++p) {
        r.get_floats(row.data(), C);
        if (p >= first) std::memcpy(l.history.data() + (static_cast<size_t>(p) % window) * C, row.data(), C * sizeof(float));
      }
    }
  } catch (const std::bad_alloc&) {
    fail(ErrorCode::out_of_memory, "sequence state: cannot allocate the caches of {} tokens", length);
  }
  impl_->sequences[static_cast<size_t>(sequence)] = std::move(s);  // nothrow move: all or nothing
}

}  // namespace zaya
