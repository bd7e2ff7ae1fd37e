// tools/bench/bench_kernels.cpp - weight-streaming throughput of the CPU matmul kernels.
//
//   bench_kernels [THREADS...]      (default: 1 2; ZAYA_CPU_ISA picks the kernel table,
//                                    BENCH_HOT=1 keeps one cache-resident copy: compute bound)
//
// For 2048x2048 and 4096x2048 weights in bf16 / q8_0 / q4_0 / q4_k, times CpuBackend::matmul
// (activation quantization included) for n = 1 (matvec) and n = 16 rows (BENCH_N=1,4,64,256 and
// BENCH_DTYPES=q4_0,bf16 choose), cycling through enough copies of the matrix (>= 128 MiB) that
// the weights stream from DRAM rather than the L3, and prints GB/s of weight bytes and GFLOP/s.
// The quantized formats are also run in their row-interleaved layout (CpuBackend::matmul_interleaved,
// rows "*_r16"; BENCH_DTYPES=q2_0 adds the shortlist's Q2_0 in that layout);
// bf16 uses the vdpbf16ps prefill kernel from its threshold on (BENCH_BF16_DP=0: the exact f32
// path). The first line is one thread's plain sequential read speed, for reference.
// BENCH_PROBE=1 also runs zaya bench's read-bandwidth probe per thread count, for ratios taken in
// the same run. BENCH_HUGE=1 advises huge pages for the weight copies (as the model arena has; a mapped GGUF
// gets them when its page cache holds 2 MiB folios).
// BENCH_ATTENTION=600 times the attention kernel instead (see bench_attention). Not a test:
// numbers depend on the machine and its load.
#include "cpu/bandwidth.h"
#include "cpu/cpu_backend.h"
#include "cpu/kernels.h"

#include <zaya/dtype.h>
#include <zaya/quant.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <sys/mman.h>

using namespace zaya;

namespace {
std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
}  // namespace

// BENCH_ATTENTION=LEN: the attention kernel instead (KernelTable::attend / attend_f16, one thread):
// 4 query heads per kv head, head_dim 128, LEN cached positions in the head-major layout of
// zaya/backend.h, 1 or 2 kv heads per call (a decode split by kv head, or a whole row), f32 and
// f16 caches; "dram" cycles through >= 256 MiB of caches, "hot" repeats one.
int bench_attention(size_t len) {
  const auto& k = cpu::kernels();
  const size_t d = 128, group = 4, capacity = (len + kv_key_block - 1) / kv_key_block * kv_key_block;
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::printf("kernels: %s, attention over %zu positions, 1 thread\n", k.isa, len);
  std::printf("%-6s %-8s %-5s %10s %10s\n", "cache", "kv heads", "from", "us/call", "GB/s");
  for (size_t kv_heads : {1, 2}) {
    for (bool half : {false, true}) {
      const size_t element = half ? 2 : 4, stride = capacity * d;
      const size_t bytes = 2 * kv_heads * stride * element;  // keys + values
      const size_t copies = std::max<size_t>(2, (size_t(256) << 20) / bytes + 1);
      std::vector<std::vector<uint8_t>> keys(copies, std::vector<uint8_t>(bytes / 2)), values = keys;
      for (auto* set : {&keys, &values})
        for (auto& v : *set)
          for (size_t i = 0; i < kv_heads * stride; ++i) {
            const float x = g(rng);
            if (half) {
              const uint16_t h = f32_to_f16(x);
              std::memcpy(v.data() + 2 * i, &h, 2);
            } else {
              std::memcpy(v.data() + 4 * i, &x, 4);
            }
          }
      std::vector<float> q(kv_heads * group * d), out(q.size()), scores(kv_heads * group * capacity);
      for (auto& x : q) x = g(rng) * 0.1f;
      auto call = [&](size_t c) {
        if (half)
          k.attend_f16(q.data(), kv_heads, group, d, reinterpret_cast<const uint16_t*>(keys[c].data()),
                       reinterpret_cast<const uint16_t*>(values[c].data()), stride, len, 0.088f, scores.data(), out.data());
        else
          k.attend(q.data(), kv_heads, group, d, reinterpret_cast<const float*>(keys[c].data()),
                   reinterpret_cast<const float*>(values[c].data()), stride, len, 0.088f, scores.data(), out.data());
      };
      for (bool hot : {false, true}) {
        size_t calls = 0;
        const auto t0 = std::chrono::steady_clock::now();
        double secs = 0;
        while (secs < 0.4 || calls < copies) {
          call(hot ? 0 : calls % copies);
          ++calls;
          secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        }
        const double us = 1e6 * secs / double(calls);
        const double used = 2.0 * double(kv_heads * len * d * element);  // the bytes that count
        std::printf("%-6s %-8zu %-5s %10.1f %10.2f\n", half ? "f16" : "f32", kv_heads, hot ? "hot" : "dram", us,
                    used / us / 1e3);
      }
    }
  }
  return 0;
}

int main(int argc, char** argv) {
  if (const char* e = std::getenv("BENCH_ATTENTION"); e && *e) return bench_attention(std::strtoul(e, nullptr, 10));
  std::vector<int> thread_counts;
  for (int i = 1; i < argc; ++i) thread_counts.push_back(std::atoi(argv[i]));
  if (thread_counts.empty()) thread_counts = {1, 2};
  cpu::CpuBackend backend;
  // bf16 x bf16 prefill kernel on by default here (BENCH_BF16_DP=0: the exact f32 path).
  if (!std::getenv("ZAYA_CPU_BF16_PREFILL")) {
    const char* e = std::getenv("BENCH_BF16_DP");
    cpu::set_bf16_prefill_min_rows(e && std::string_view(e) == "0" ? 0 : cpu::kernels().bf16_dp_min_rows);
  }
  const bool hot = std::getenv("BENCH_HOT") != nullptr;  // one copy: cache-resident weights
  std::printf("kernels: %s\n", cpu::kernels().isa);
  std::printf("%-10s %-7s %-4s %-8s %10s %10s %10s\n", "shape", "dtype", "n", "threads", "us/call", "GB/s", "GFLOP/s");
  // BENCH_N=1,4,64 picks the batch sizes (default 1,16); BENCH_DTYPES=q4_0,bf16 the formats.
  std::vector<size_t> ns;
  if (const char* e = std::getenv("BENCH_N"); e && *e) {
    for (const char* p = e; *p;) {
      ns.push_back(std::strtoul(p, const_cast<char**>(&p), 10));
      if (*p == ',') ++p;
    }
  } else {
    ns = {1, 16};
  }
  const std::string only = std::getenv("BENCH_DTYPES") ? std::getenv("BENCH_DTYPES") : "";
  std::mt19937 rng(1);
  {  // Reference: one thread summing 128 MiB of floats (a plain sequential read).
    std::vector<float> big((size_t(128) << 20) / sizeof(float), 1.0f);
    volatile float sink = cpu::kernels().stream_sum(big.data(), big.size());
    auto t0 = std::chrono::steady_clock::now();
    int reps = 0;
    double secs = 0;
    while (secs < 0.3) {
      sink = sink + cpu::kernels().stream_sum(big.data(), big.size());
      ++reps;
      secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    std::printf("stream_sum (1 thread): %.2f GB/s\n", double(big.size() * sizeof(float)) * reps / secs / 1e9);
  }
  if (std::getenv("BENCH_PROBE")) {  // BENCH_PROBE=1: zaya bench's roofline probe, for the ratio
    for (int threads : thread_counts) {
      const auto r = cpu::measure_read_bandwidth(threads, size_t(512) << 20, 7);
      std::printf("probe (%d threads): %.2f GB/s median, %.2f best, %d stream(s) each\n", threads, r.median_gbs,
                  r.best_gbs, r.streams);
    }
  }
  std::normal_distribution<float> g(0.0f, 0.02f);
  // BENCH_SHAPE=262144x2048 (rows x cols) runs that shape instead of the two default ones.
  std::vector<std::pair<size_t, size_t>> shapes{{2048, 2048}, {4096, 2048}};
  if (const char* e = std::getenv("BENCH_SHAPE"); e && *e) {
    char* end = nullptr;
    const size_t r = std::strtoul(e, &end, 10);
    shapes = {{r, *end == 'x' ? std::strtoul(end + 1, nullptr, 10) : 2048}};
  }
  for (auto [rows_, cols_] : shapes) {
    const size_t rows = rows_, cols = cols_;  // lambdas below capture them (clang 14: not bindings)
    std::vector<float> w(rows * cols);
    for (auto& v : w) v = g(rng);
    // Q2_0 (the LM-head shortlist's approximation of a 4-bit head) only when BENCH_DTYPES names it,
    // and only in its R16 layout (the plain rows have a scalar kernel for the odd tail rows).
    for (DType t : {DType::bf16, DType::q8_0, DType::q4_0, DType::q4_k, DType::q2_0}) {
      if ((!only.empty() || t == DType::q2_0) && only.find(std::string(dtype_name(t))) == std::string::npos &&
          only.find(lower(dtype_name(t))) == std::string::npos)
        continue;
      const size_t row_bytes = t == DType::bf16 ? 2 * cols : dtype_row_bytes(t, cols);
      const size_t bytes = rows * row_bytes;
      std::vector<uint8_t> one(bytes);
      for (size_t r = 0; r < rows; ++r) {
        if (t == DType::bf16) {
          auto* p = reinterpret_cast<uint16_t*>(one.data() + r * row_bytes);
          for (size_t c = 0; c < cols; ++c) p[c] = f32_to_bf16(w[r * cols + c]);
        } else {
          quantize_row(t, w.data() + r * cols, cols, one.data() + r * row_bytes);
        }
      }
      const size_t copies = hot ? 1 : std::max<size_t>(1, (size_t(128) << 20) / bytes + 1);
      // Every copy starts 64 bytes into a page (BENCH_OFFSET changes it), as a checkpoint's tensors
      // do (the model arena aligns them to 64); each copy's 2 MiB-aligned buffer has a page of slack.
      static const size_t offset = std::getenv("BENCH_OFFSET") ? std::strtoul(std::getenv("BENCH_OFFSET"), nullptr, 10) : 64;
      // BENCH_HUGE=1: the copies in 2 MiB-aligned memory advised for transparent huge pages, as
      // the model arena (--load copy) and the bandwidth probe allocate.
      static const bool huge = std::getenv("BENCH_HUGE") != nullptr;
      const size_t copy_bytes = (bytes + 4096 + (size_t(2) << 20) - 1) / (size_t(2) << 20) * (size_t(2) << 20);
      std::vector<std::unique_ptr<uint8_t, decltype(&std::free)>> mats;
      for (size_t c = 0; c < copies; ++c) {
        auto* p = static_cast<uint8_t*>(std::aligned_alloc(size_t(2) << 20, copy_bytes));
        if (!p) return 1;
        if (huge) ::madvise(p, copy_bytes, MADV_HUGEPAGE);
        mats.emplace_back(p, &std::free);
      }
      auto aligned = [&](const std::unique_ptr<uint8_t, decltype(&std::free)>& v) { return v.get() + offset % 4096; };
      for (auto& m : mats) std::copy(one.begin(), one.end(), aligned(m));
      // The quantized formats also in their row-interleaved layout (CpuBackend::matmul_interleaved).
      for (bool interleaved : {false, true}) {
        if ((interleaved && interleave_rows(t) == 0) || (!interleaved && t == DType::q2_0)) continue;
        if (interleaved) {
          std::vector<uint8_t> packed(bytes);
          repack_interleaved(t, one.data(), rows, cols, packed.data());
          for (auto& m : mats) std::copy(packed.begin(), packed.end(), aligned(m));
        }
        const std::string label =
            std::string(dtype_name(t)) + (interleaved ? "_r" + std::to_string(interleave_rows(t)) : "");
        for (size_t n : ns) {
          std::vector<float> x(n * cols), y(n * rows);
          for (auto& v : x) v = g(rng) * 50.0f;
          for (int threads : thread_counts) {
            Workspace ws(threads);
            auto run = [&](size_t i) {
              WeightMatrix m{t, aligned(mats[i % copies]), int64_t(rows), int64_t(cols)};
              if (interleaved) {
                backend.matmul_interleaved(ws, m, x.data(), cols, n, y.data(), rows);
              } else {
                backend.matmul(ws, m, x.data(), cols, n, y.data(), rows);
              }
            };
            for (size_t i = 0; i < copies; ++i) run(i);  // warm up (page in every copy)
            size_t calls = 0;
            auto t0 = std::chrono::steady_clock::now();
            double secs = 0;
            while (secs < 0.4 || calls < 2 * copies) {
              run(calls++);
              secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            }
            const double us = 1e6 * secs / double(calls);
            std::printf("%4zux%-5zu %-7s %-4zu %-8d %10.1f %10.2f %10.1f\n", rows, cols, label.c_str(), n, threads, us,
                        double(bytes) / us / 1e3, 2.0 * double(rows * cols * n) / us / 1e3);
            std::fflush(stdout);
          }
        }
      }
    }
  }
  return 0;
}
