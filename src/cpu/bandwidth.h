// src/cpu/bandwidth.h - measures this machine's memory read bandwidth, the roofline for decode.
#pragma once

#include <cstddef>

namespace zaya::cpu {

struct BandwidthResult {
  double median_gbs = 0;  // GB/s (1e9 bytes per second), of the faster stream count
  double best_gbs = 0;    // the fastest pass of that stream count
  int streams = 0;        // address streams per thread of the faster layout: 1 or kProbeStreams
  size_t bytes_per_pass = 0;
  int passes = 0;  // per stream count
  int threads = 0;
};

inline constexpr int kProbeStreams = 4;

// Reads a buffer much larger than the caches (backed by transparent huge pages where the kernel
// allows) with `threads` threads, `passes` times each way: every thread reading its share as one
// sequential stream, and as kProbeStreams streams (its share cut in kProbeStreams parts read in
// turns of 4 KiB, as a kernel walking several matrices or row groups at once would). Every read
// keeps four SIMD loads in flight. Reports the median of the layout whose median is higher, so the
// roofline is the best this machine's memory delivered to either access pattern.
BandwidthResult measure_read_bandwidth(int threads, size_t bytes = size_t(1) << 30, int passes = 15);

}  // namespace zaya::cpu
