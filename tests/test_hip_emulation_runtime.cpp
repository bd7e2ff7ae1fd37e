// The HIP emulation itself: indices, barriers that really order shared-memory traffic,
// wavefront shuffles with HIP's index rules for wavefronts of 32 and 64, and the misuse it
// refuses (barriers in divergent code, shuffles from missing lanes, too much shared memory).
#include "hip/kernels/common.h"
#include "hip/kernels/launch.h"

#include <zaya/error.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

using namespace zaya;
using gpu::dim3;

namespace {

ZAYA_GLOBAL void write_indices(unsigned* out) {
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  out[block * threads + t] = block * 1000 + t;
}

// Each thread writes its slot, then (after the barrier) reads its neighbour's: without a real
// barrier the neighbour's value would not be there yet (threads run one after another).
ZAYA_GLOBAL void rotate_through_shared(const float* in, float* out) {
  ZAYA_SHARED(float, tile, 256);
  const int t = static_cast<int>(threadIdx.x), n = static_cast<int>(blockDim.x);
  tile[t] = in[blockIdx.x * n + t];
  __syncthreads();
  out[blockIdx.x * n + t] = tile[(t + 1) % n];
}

ZAYA_GLOBAL void shuffles(int* xor_out, int* down_out, int* idx_out, float* sum_out) {
  const int t = static_cast<int>(threadIdx.x);
  xor_out[t] = ZAYA_SHFL_XOR(t, 5);
  down_out[t] = ZAYA_SHFL_DOWN(t, 3);
  idx_out[t] = ZAYA_SHFL(t, 7);
  sum_out[t] = gpu::warp_sum(static_cast<float>(t));
}

ZAYA_GLOBAL void both_reductions(const float* in, float* fast_sum, float* slow_sum, float* fast_max, float* slow_max) {
  const float v = in[threadIdx.x];
  fast_sum[threadIdx.x] = gpu::warp_sum(v);
  slow_sum[threadIdx.x] = gpu::warp_sum_shuffles(v);
  fast_max[threadIdx.x] = gpu::warp_max(v);
  slow_max[threadIdx.x] = gpu::warp_max_shuffles(v);
}

ZAYA_GLOBAL void block_reduce(const float* in, float* sum, float* max) {
  ZAYA_SHARED(float, scratch, gpu::kMaxWarpsPerBlock);
  const float v = in[threadIdx.x];
  const float s = gpu::block_sum(v, scratch);
  const float m = gpu::block_max(v, scratch);
  if (threadIdx.x == 0) {
    *sum = s;
    *max = m;
  }
}

ZAYA_GLOBAL void divergent_barrier(int* out) {
  if (threadIdx.x % 2 == 0) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

ZAYA_GLOBAL void shuffle_from_missing_lane(int* out) { out[threadIdx.x] = ZAYA_SHFL(static_cast<int>(threadIdx.x), 40); }

ZAYA_GLOBAL void shuffle_from_returned_lane(int* out) {
  if (threadIdx.x == 0) return;
  out[threadIdx.x] = ZAYA_SHFL(static_cast<int>(threadIdx.x), 0);
}

ZAYA_GLOBAL void too_much_shared(float* out) {
  ZAYA_SHARED(float, big, 20000);  // 80 KB > 64 KiB
  big[threadIdx.x] = 1.0f;
  out[threadIdx.x] = big[threadIdx.x];
}

ZAYA_GLOBAL void read_wavefront(int* out) { out[threadIdx.x] = ZAYA_WARP_SIZE; }

}  // namespace

TEST_CASE("hip emulation: grid and block indices cover every thread once") {
  std::vector<unsigned> out(3 * 2 * 2 * 5 * 3 * 2, 0xFFFFFFFFu);
  gpu::launch("write_indices", &write_indices, dim3(3, 2, 2), dim3(5, 3, 2), 0, out.data());
  for (unsigned block = 0; block < 12; ++block)
    for (unsigned t = 0; t < 30; ++t) REQUIRE(out[block * 30 + t] == block * 1000 + t);
}

TEST_CASE("hip emulation: __syncthreads orders shared memory between threads") {
  for (unsigned threads : {1u, 64u, 96u, 256u}) {
    std::vector<float> in(2 * threads), out(2 * threads, NAN);
    std::iota(in.begin(), in.end(), 0.0f);
    gpu::launch("rotate_through_shared", &rotate_through_shared, dim3(2), dim3(threads), 0, in.data(), out.data());
    for (unsigned b = 0; b < 2; ++b)
      for (unsigned t = 0; t < threads; ++t) CHECK(out[b * threads + t] == in[b * threads + (t + 1) % threads]);
  }
  CHECK(emu::stats().barriers > 0);
}

TEST_CASE("hip emulation: wavefront shuffles follow HIP's rules for 32 and 64 lanes") {
  for (int wave : {32, 64}) {
    CAPTURE(wave);
    emu::set_wavefront_size(wave);
    const int n = 128;
    std::vector<int> x(n), d(n), idx(n), ws(n);
    std::vector<float> sums(n);
    gpu::launch("shuffles", &shuffles, dim3(1), dim3(n), 0, x.data(), d.data(), idx.data(), sums.data());
    gpu::launch("read_wavefront", &read_wavefront, dim3(1), dim3(n), 0, ws.data());
    for (int t = 0; t < n; ++t) {
      const int lane = t % wave, base = t - lane;
      CHECK(x[t] == base + (lane ^ 5));
      CHECK(d[t] == (lane + 3 < wave ? t + 3 : t));  // __shfl_down keeps its own value past the end
      CHECK(idx[t] == base + 7);
      const float expected = static_cast<float>(wave * base + wave * (wave - 1) / 2);
      CHECK(sums[t] == expected);
      CHECK(ws[t] == wave);
    }
  }
  emu::set_wavefront_size(64);
  CHECK_THROWS_AS(emu::set_wavefront_size(48), Error);
}

TEST_CASE("hip emulation: the one-exchange wavefront reduction equals the shuffle butterfly bitwise") {
  std::mt19937 gen(11);
  std::uniform_real_distribution<float> dist(-1e3f, 1e3f);
  for (int wave : {32, 64}) {
    CAPTURE(wave);
    emu::set_wavefront_size(wave);
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<float> in(256), fs(256), ss(256), fm(256), sm(256);
      for (auto& x : in) x = dist(gen) * (trial % 3 == 0 ? 1e-6f : 1.0f);
      gpu::launch("both_reductions", &both_reductions, dim3(1), dim3(256), 0, in.data(), fs.data(), ss.data(), fm.data(), sm.data());
      for (int t = 0; t < 256; ++t) {
        REQUIRE(std::memcmp(&fs[static_cast<size_t>(t)], &ss[static_cast<size_t>(t)], sizeof(float)) == 0);
        REQUIRE(fm[static_cast<size_t>(t)] == sm[static_cast<size_t>(t)]);
      }
    }
  }
  emu::set_wavefront_size(64);
}

TEST_CASE("hip emulation: block reductions with partial last wavefronts of warps") {
  for (int wave : {32, 64})
    for (unsigned threads : {64u, 128u, 192u, 1024u}) {
      CAPTURE(wave);
      CAPTURE(threads);
      emu::set_wavefront_size(wave);
      std::vector<float> in(threads);
      for (unsigned i = 0; i < threads; ++i) in[i] = static_cast<float>((i * 37) % 101) - 50.0f;
      float sum = NAN, max = NAN;
      gpu::launch("block_reduce", &block_reduce, dim3(1), dim3(threads), 0, in.data(), &sum, &max);
      CHECK(sum == doctest::Approx(std::accumulate(in.begin(), in.end(), 0.0)));
      CHECK(max == *std::max_element(in.begin(), in.end()));
    }
  emu::set_wavefront_size(64);
}

TEST_CASE("hip emulation: misuse is an error, not a hang") {
  std::vector<int> out(64, 0);
  CHECK_THROWS_WITH_AS(gpu::launch("divergent_barrier", &divergent_barrier, dim3(1), dim3(64), 0, out.data()),
                       doctest::Contains("divergent"), Error);
  emu::set_wavefront_size(64);
  CHECK_THROWS_WITH_AS(gpu::launch("shuffle_from_missing_lane", &shuffle_from_missing_lane, dim3(1), dim3(40), 0, out.data()),
                       doctest::Contains("does not exist"), Error);
  CHECK_THROWS_WITH_AS(gpu::launch("shuffle_from_returned_lane", &shuffle_from_returned_lane, dim3(1), dim3(64), 0, out.data()),
                       doctest::Contains("has returned"), Error);
  std::vector<float> f(64);
  CHECK_THROWS_WITH_AS(gpu::launch("too_much_shared", &too_much_shared, dim3(1), dim3(64), 0, f.data()),
                       doctest::Contains("shared memory"), Error);
  CHECK_THROWS_AS(gpu::launch("write_indices", &write_indices, dim3(1), dim3(2048), 0, static_cast<unsigned*>(nullptr)), Error);
  // The emulation keeps working after a refused launch.
  std::vector<float> in(64, 1.0f), o(64, 0.0f);
  gpu::launch("rotate_through_shared", &rotate_through_shared, dim3(1), dim3(64), 0, in.data(), o.data());
  CHECK(o[5] == 1.0f);
}

TEST_CASE("hip emulation: device allocations are poisoned and range-checked") {
  auto* p = static_cast<float*>(emu::device_malloc(40 * sizeof(float)));
  CHECK(std::isnan(p[0]));
  CHECK(std::isnan(p[39]));
  CHECK_NOTHROW(emu::check_device_range(p + 10, 30 * sizeof(float), "test"));
  CHECK_THROWS_AS(emu::check_device_range(p + 10, 31 * sizeof(float), "test"), Error);
  float host[4];
  CHECK_THROWS_AS(emu::check_device_range(host, sizeof host, "test"), Error);
  emu::device_free(p);
  CHECK_THROWS_AS(emu::check_device_range(p, 4, "test"), Error);
}
