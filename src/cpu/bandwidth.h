// src/cpu/bandwidth.h - measures this machine's memory read bandwidth, the roofline for decode.
#pragma once

#include <cstddef>

namespace zaya::cpu {

struct BandwidthResult {
  double median_gbs = 0;  // GB/s (1e9 bytes per second)
  double best_gbs = 0;
  size_t bytes_per_pass = 0;
  int passes = 0;
  int threads = 0;
};

// Reads a buffer much larger than the caches (backed by transparent huge pages where the kernel
// allows) with `threads` threads, several SIMD streams each, `passes` times; reports the median.
BandwidthResult measure_read_bandwidth(int threads, size_t bytes = size_t(1) << 30, int passes = 15);

}  // namespace zaya::cpu
