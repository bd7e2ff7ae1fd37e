// src/cpu/bandwidth.cpp - the read-bandwidth probe behind `zaya bench`.
#include "bandwidth.h"

#include "kernels.h"

#include <zaya/thread_pool.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
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
  std::vector<double> rates;
  volatile float sink = 0;
  for (int p = 0; p < passes + 1; ++p) {
    std::vector<float> partial(static_cast<size_t>(pool.size()), 0.0f);
    auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(n, [&](size_t b, size_t e) {
      float s = k.stream_sum(data + b, e - b);
      partial[b * partial.size() / n] += s;
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (float s : partial) sink = sink + s;
    if (p > 0) rates.push_back(static_cast<double>(bytes) / seconds / 1e9);  // pass 0 warms up
  }
  std::free(raw);
  std::sort(rates.begin(), rates.end());
  BandwidthResult r;
  r.median_gbs = rates[rates.size() / 2];
  r.best_gbs = rates.back();
  r.bytes_per_pass = bytes;
  r.passes = passes;
  r.threads = pool.size();
  return r;
}

}  // namespace zaya::cpu
