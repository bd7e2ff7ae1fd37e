// src/model/weight_arena.cpp - WeightStorage::copied and quantize-on-load: every weight matrix in
// one anonymous, 2 MiB-aligned region advised for transparent huge pages, optionally converted to
// a block-quantized format on the way (QuantizationPlan).
//
// Why a copy at all: decode streams ~1.3 GB of weights per token on ZAYA1-8B; with 4 KiB file
// pages every 4 KiB costs a TLB miss, with 2 MiB pages 512x fewer (ik_llama.cpp measured 34 -> 60
// tok/s for Q4_0 from this alone; zaya measured 64% -> 80% of the read roofline in BF16).
// While copying, each source range is dropped from this process's page tables (MADV_DONTNEED on
// the read-only file mapping) so the resident set never holds the files and the copy together.
#include "weights.h"

#include <zaya/error.h>
#include <zaya/quant.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>

namespace zaya::model {

void ArenaFree::operator()(void* p) const noexcept {
  if (p) ::munmap(p, bytes);
}

void release_file_pages(const void* p, size_t bytes) noexcept {
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

void run_on_threads(unsigned workers, const std::function<void()>& work) {
  std::exception_ptr first;
  std::mutex mutex;
  auto guarded = [&] {
    try {
      work();
    } catch (...) {
      std::lock_guard lock(mutex);
      if (!first) first = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < workers; ++t) {
    try {
      pool.emplace_back(guarded);
    } catch (...) {  // no more threads: the ones running (and this one) share the work
      break;
    }
  }
  guarded();
  for (auto& t : pool) t.join();
  if (first) std::rethrow_exception(first);
}

void store_weights_in_arena(ModelWeights& w, const QuantizationPlan& plan, bool repack_for_cpu, int threads,
                            const std::function<bool(float)>& progress) {
  // Which sources are file-mapped tensor bytes (safe to drop from the page tables after use).
  std::vector<std::pair<uintptr_t, uintptr_t>> file_ranges;
  if (w.store)
    for (const auto& [name, t] : w.store->tensors())
      file_ranges.emplace_back(reinterpret_cast<uintptr_t>(t->data), reinterpret_cast<uintptr_t>(t->data) + t->nbytes);
  auto in_file = [&](const void* p, size_t bytes) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    for (const auto& [b, e] : file_ranges)
      if (a >= b && a + bytes <= e) return true;
    return false;
  };

  // Each distinct source (a tied LM head is the embedding) gets one 64-byte aligned slot.
  struct Slot {
    size_t offset = 0;
    DType target = DType::f32;
    bool done = false;
    bool interleaved = false;
  };
  std::map<const void*, Slot> slots;
  size_t total = 0, source_total = 0;
  for_each_matrix(w, [&](WeightMatrix& m, MatrixClass c) {
    if (!m.data || slots.count(m.data)) return;
    Slot s;
    s.target = plan.resolve(c, m.dtype, m.cols);
    s.offset = total;
    slots.emplace(m.data, s);
    total += (static_cast<size_t>(m.rows) * dtype_row_bytes(s.target, static_cast<size_t>(m.cols)) + 63) / 64 * 64;
    source_total += m.bytes();
  });
  const size_t huge = size_t(2) << 20;
  const size_t bytes = std::max<size_t>((total + huge - 1) / huge * huge, huge);
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) fail(ErrorCode::out_of_memory, "cannot allocate {} bytes for the weights", bytes);
  std::unique_ptr<void, ArenaFree> arena(p, ArenaFree{bytes});
#ifdef MADV_HUGEPAGE
  ::madvise(p, bytes, MADV_HUGEPAGE);
#endif
  auto* base = static_cast<std::byte*>(p);
  const unsigned workers = static_cast<unsigned>(
      std::max(1, threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))));
  size_t done = 0;
  std::map<std::string, size_t> formats;  // for ModelInfo
  for_each_matrix(w, [&](WeightMatrix& m, MatrixClass) {
    if (!m.data) return;
    const void* source = m.data;
    Slot& s = slots.at(source);
    std::byte* target = base + s.offset;
    if (!s.done) {
      const int64_t rows = m.rows;
      const bool heavy = s.target != m.dtype && rows >= 64;
      const auto G = static_cast<int64_t>(interleave_rows(s.target));
      if (m.interleaved && s.target == m.dtype && repack_for_cpu) {
        std::memcpy(target, m.data, m.bytes());  // already the layout the CPU kernels read
        s.interleaved = true;
      } else if (m.interleaved) {
        // Back to ggml's rows group by group (then converted, and interleaved again below for
        // the CPU if the target format has the layout).
        const auto S = static_cast<int64_t>(interleave_rows(m.dtype));
        const size_t in_row = dtype_row_bytes(m.dtype, static_cast<size_t>(m.cols));
        const size_t out_row = dtype_row_bytes(s.target, static_cast<size_t>(m.cols));
        std::vector<std::byte> plain(static_cast<size_t>(S) * in_row);
        int64_t r = 0;
        for (; r + S <= rows; r += S) {
          unpack_interleaved(m.dtype, m.row(r), static_cast<size_t>(S), static_cast<size_t>(m.cols), plain.data());
          convert_matrix_rows(plain.data(), m.dtype, static_cast<size_t>(m.cols), s.target,
                              target + static_cast<size_t>(r) * out_row, static_cast<size_t>(S));
        }
        convert_matrix_rows(m.row(r), m.dtype, static_cast<size_t>(m.cols), s.target, target + static_cast<size_t>(r) * out_row,
                            static_cast<size_t>(rows - r));
      } else if (heavy && workers > 1) {
        // Rows in chunks handed out atomically: quantization costs far more than the copy.
        std::atomic<int64_t> next{0};
        const int64_t chunk = std::max<int64_t>(16, rows / (8 * static_cast<int64_t>(workers)));
        const size_t out_row = dtype_row_bytes(s.target, static_cast<size_t>(m.cols));
        auto work = [&] {
          for (int64_t r0; (r0 = next.fetch_add(chunk)) < rows;)
            convert_matrix_rows(m.row(r0), m.dtype, static_cast<size_t>(m.cols), s.target,
                                target + static_cast<size_t>(r0) * out_row, static_cast<size_t>(std::min(rows, r0 + chunk) - r0));
        };
        run_on_threads(workers, work);
      } else {
        convert_matrix_rows(m.row(0), m.dtype, static_cast<size_t>(m.cols), s.target, target, static_cast<size_t>(rows));
      }
      if (!s.interleaved && repack_for_cpu && G > 0 && rows >= G) {
        // Each group of G rows is interleaved in place (zaya/quant.h, repack_interleaved).
        const size_t row_bytes = dtype_row_bytes(s.target, static_cast<size_t>(m.cols));
        std::vector<std::byte> group(static_cast<size_t>(G) * row_bytes);
        for (int64_t g = 0; g < rows / G; ++g) {
          std::byte* at = target + static_cast<size_t>(g) * group.size();
          std::memcpy(group.data(), at, group.size());
          repack_interleaved(s.target, group.data(), static_cast<size_t>(G), static_cast<size_t>(m.cols), at);
        }
        s.interleaved = true;
      }
      if (in_file(source, m.bytes())) release_file_pages(source, m.bytes());
      s.done = true;
      done += m.bytes();
      formats[std::string(dtype_name(s.target))] += static_cast<size_t>(m.rows) * static_cast<size_t>(m.cols);
      if (progress && !progress(static_cast<float>(done) / static_cast<float>(std::max<size_t>(1, source_total))))
        fail(ErrorCode::cancelled, "model load cancelled");
    }
    m.data = target;
    m.dtype = s.target;
    m.interleaved = s.interleaved;
  });
  w.arena = std::move(arena);
  w.store.reset();  // unmaps the files
  w.stored_bytes = total;
  if (!plan.empty()) {
    std::string text;
    for (const auto& [name, count] : formats) text += (text.empty() ? "" : "+") + name;
    w.stored_dtypes = text;
  }
}

}  // namespace zaya::model
