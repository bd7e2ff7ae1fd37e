// src/model/head_shortlist.cpp - the opt-in cheaper LM head: a Q4_0 (or Q2_0) pass over the
// vocabulary, then the model's own head over each row's K best candidates (see head_shortlist.h).
#include "head_shortlist.h"

#include <zaya/error.h>
#include <zaya/quant.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>
#include <sys/mman.h>
#include <thread>

namespace zaya::model {

namespace {

// The K largest of v[0, n) (ties: the lower index first; NaN never chosen over a number), in
// no particular order. One pass with a min-heap of K: after the first few thousand elements
// almost every element is rejected by one comparison.
void top_k(const float* v, size_t n, size_t k, uint32_t* out) {
  using Entry = std::pair<float, uint32_t>;
  // The heap's front is the worst kept entry: the smallest value, the higher index on ties.
  auto worse = [](const Entry& a, const Entry& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  std::vector<Entry> heap;
  heap.reserve(k);
  size_t i = 0;
  for (; i < n && heap.size() < k; ++i) heap.emplace_back(std::isnan(v[i]) ? -INFINITY : v[i], static_cast<uint32_t>(i));
  std::make_heap(heap.begin(), heap.end(), worse);
  for (; i < n; ++i) {
    if (!(v[i] > heap.front().first)) continue;
    std::pop_heap(heap.begin(), heap.end(), worse);
    heap.back() = {v[i], static_cast<uint32_t>(i)};
    std::push_heap(heap.begin(), heap.end(), worse);
  }
  for (size_t j = 0; j < heap.size(); ++j) out[j] = heap[j].second;
}

}  // namespace

DType approximation_type(DType head) noexcept {
  return head == DType::q4_0 || head == DType::q4_k ? DType::q2_0 : DType::q4_0;
}

HeadShortlist build_head_shortlist(const WeightMatrix& head, size_t k) {
  HeadShortlist s;
  if (k == 0) return s;
  if (head.dtype != DType::f32 && head.dtype != DType::bf16 && head.dtype != DType::q8_0 && head.dtype != DType::q4_0 &&
      head.dtype != DType::q4_k)
    fail(ErrorCode::invalid_argument, "head_shortlist: an LM head stored as {} is not supported", dtype_name(head.dtype));
  const DType approx = approximation_type(head.dtype);
  const size_t rows = static_cast<size_t>(head.rows), cols = static_cast<size_t>(head.cols);
  if (cols % dtype_block_elems(approx) != 0)
    fail(ErrorCode::invalid_argument, "head_shortlist: the hidden size {} is not a whole number of {} blocks", cols,
         dtype_name(approx));
  if (rows > UINT32_MAX) fail(ErrorCode::invalid_argument, "head_shortlist: {} vocabulary rows", rows);

  const size_t out_row = dtype_row_bytes(approx, cols), in_row = head.row_bytes();
  const size_t huge = size_t(2) << 20;
  const size_t bytes = std::max(huge, (rows * out_row + huge - 1) / huge * huge);
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) fail(ErrorCode::out_of_memory, "head_shortlist: cannot allocate {} bytes", bytes);
  s.storage = std::unique_ptr<void, ArenaFree>(p, ArenaFree{bytes});
#ifdef MADV_HUGEPAGE
  ::madvise(p, bytes, MADV_HUGEPAGE);
#endif
  auto* out = static_cast<std::byte*>(p);
  const auto* src = static_cast<const std::byte*>(head.data);

  // In groups of 16 rows, the R16 layout's (zaya/quant.h): an interleaved head's groups are
  // unpacked to ggml rows first, every whole output group is interleaved, a last partial group
  // stays in ggml rows (as the layout has it).
  const size_t G = interleave_rows(approx);
  const bool unpack = head.interleaved && interleave_rows(head.dtype) == G;
  const size_t groups = (rows + G - 1) / G;
  std::atomic<size_t> next{0};
  auto work = [&] {
    std::vector<std::byte> plain(G * in_row), quantized(G * out_row);
    for (size_t g; (g = next.fetch_add(1)) < groups;) {
      const size_t r0 = g * G, n = std::min(G, rows - r0);
      const std::byte* from = src + r0 * in_row;
      if (n < G) {
        convert_matrix_rows(from, head.dtype, cols, approx, out + r0 * out_row, n);
        continue;
      }
      if (unpack) {
        unpack_interleaved(head.dtype, from, G, cols, plain.data());
        from = plain.data();
      }
      convert_matrix_rows(from, head.dtype, cols, approx, quantized.data(), G);
      repack_interleaved(approx, quantized.data(), G, cols, out + r0 * out_row);
    }
  };
  run_on_threads(static_cast<unsigned>(std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), groups)), work);

  s.k = std::min(k, rows);
  s.approx = WeightMatrix{approx, out, head.rows, head.cols, rows >= G};
  return s;
}

size_t shortlist_logits(const Backend& backend, Workspace& ws, const HeadShortlist& shortlist, const WeightMatrix& head,
                        const float* x, size_t n, float* logits, ShortlistScratch& scratch) {
  const size_t V = static_cast<size_t>(head.rows), H = static_cast<size_t>(head.cols), K = shortlist.k;
  backend.matmul(ws, shortlist.approx, x, H, n, logits, V);

  scratch.candidates.resize(n * K);
  ws.pool.parallel_for(n, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) top_k(logits + i * V, V, K, scratch.candidates.data() + i * K);
  });

  // The units to rescore: a candidate in an interleaved group brings its whole group (the
  // kernels read groups); any other candidate its row. Groups first, then single rows, so the
  // gathered matrix has the head's layout: whole interleaved groups, then plain rows.
  const size_t G = head.interleaved ? interleave_rows(head.dtype) : 0;
  const size_t grouped = G ? V / G * G : 0;
  scratch.units.clear();
  for (const uint32_t r : scratch.candidates) scratch.units.push_back(r < grouped ? r / G * G : r);
  std::sort(scratch.units.begin(), scratch.units.end());
  scratch.units.erase(std::unique(scratch.units.begin(), scratch.units.end()), scratch.units.end());
  auto unit_rows = [&](uint32_t unit) { return unit < grouped ? G : size_t(1); };
  scratch.unit_offsets.resize(scratch.units.size());
  size_t U = 0;  // rows gathered; unit u's start at unit_offsets[u]
  for (size_t u = 0; u < scratch.units.size(); ++u) {
    scratch.unit_offsets[u] = static_cast<uint32_t>(U);
    U += unit_rows(scratch.units[u]);
  }
  const size_t row_bytes = head.row_bytes();
  scratch.gathered.resize((U * row_bytes + sizeof(float) - 1) / sizeof(float));
  auto* to = reinterpret_cast<std::byte*>(scratch.gathered.data());
  const auto* from = static_cast<const std::byte*>(head.data);
  for (const uint32_t u : scratch.units) {  // a group's rows are contiguous, at its ggml offset
    std::memcpy(to, from + static_cast<size_t>(u) * row_bytes, unit_rows(u) * row_bytes);
    to += unit_rows(u) * row_bytes;
  }
  WeightMatrix rescored{head.dtype, scratch.gathered.data(), static_cast<int64_t>(U), head.cols, head.interleaved};
  scratch.exact.resize(n * U);
  backend.matmul(ws, rescored, x, H, n, scratch.exact.data(), U);
  // Each row takes the exact logits of its own candidates' units only, so a row's logits do not
  // depend on which other rows share the step (batched decode equals decoding alone).
  for (size_t i = 0; i < n; ++i)
    for (size_t c = 0; c < K; ++c) {
      const uint32_t r = scratch.candidates[i * K + c], key = r < grouped ? r / G * G : r;
      const size_t u = static_cast<size_t>(std::lower_bound(scratch.units.begin(), scratch.units.end(), key) - scratch.units.begin());
      for (size_t j = 0; j < unit_rows(key); ++j)
        logits[i * V + key + j] = scratch.exact[i * U + scratch.unit_offsets[u] + j];
    }
  return shortlist.approx.bytes() + U * row_bytes;
}

}  // namespace zaya::model
