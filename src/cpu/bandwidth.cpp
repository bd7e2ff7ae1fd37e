// src/cpu/bandwidth.cpp - the read-bandwidth probe behind `zaya bench`.
#include "bandwidth.h"

#include "kernels.h"

#include <zaya/thread_pool.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sys/mman.h>
#include <vector>

namespace zaya::cpu {

BandwidthResult measure_read_bandwidth(int threads, size_t bytes, int passes) {
  const size_t huge = size_t(2) << 20;
  bytes = (bytes + huge - 1) / huge * huge;
  void* raw = std::aligned_alloc(huge, bytes);
  if (!raw) return {};
#ifdef MADV_HUGEPAGE
  ::madvise(raw, bytes, MADV_HUGEPAGE);
#endif
  float* data = static_cast<float*>(raw);
  const size_t n = bytes / sizeof(float);
  ThreadPool pool(threads);
  pool.parallel_for(n, [&](size_t b, size_t e) {  // first touch by the thread that will read it
    for (size_t i = b; i < e; ++i) data[i] = static_cast<float>(i & 1023);
  });
  const auto& k = kernels();
  // One pass: each thread sums its contiguous share of the buffer, as `streams` sub-ranges read
  // in turns of 4 KiB (streams = 1: straight through).
  auto pass = [&](int streams) {
    std::mutex mutex;
    float total = 0;
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(n, [&](size_t b, size_t e) {
      const size_t piece = 4096 / sizeof(float), part = (e - b) / static_cast<size_t>(streams) / piece * piece;
      float s = 0;
      for (size_t off = 0; off < part; off += piece)
        for (int j = 0; j < streams; ++j) s += k.stream_sum(data + b + static_cast<size_t>(j) * part + off, piece);
      s += k.stream_sum(data + b + static_cast<size_t>(streams) * part, e - b - static_cast<size_t>(streams) * part);
      std::lock_guard lock(mutex);  // once per chunk
      total += s;
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return std::pair{static_cast<double>(bytes) / seconds / 1e9, total};
  };
  volatile float sink = 0;
  sink = sink + pass(1).second;  // warm-up
  std::vector<double> rates[2];
  for (int p = 0; p < passes; ++p) {  // the two layouts alternate, so drift affects both alike
    for (int layout = 0; layout < 2; ++layout) {
      const auto [gbs, sum] = pass(layout == 0 ? 1 : kProbeStreams);
      sink = sink + sum;
      rates[layout].push_back(gbs);
    }
  }
  std::free(raw);
  BandwidthResult r;
  for (int layout = 0; layout < 2; ++layout) {
    auto& v = rates[layout];
    std::sort(v.begin(), v.end());
    if (v[v.size() / 2] > r.median_gbs) {
      r.median_gbs = v[v.size() / 2];
      r.best_gbs = v.back();
      r.streams = layout == 0 ? 1 : kProbeStreams;
    }
  }
  r.bytes_per_pass = bytes;
  r.passes = passes;
  r.threads = pool.size();
  return r;
}

}  // namespace zaya::cpu
