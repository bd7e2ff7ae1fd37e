// src/cpu/cpu_backend.cpp - the CPU backend: SIMD kernels (per-ISA tables) on a thread pool.
#include "cpu_backend.h"

#include "kernels.h"

#include <zaya/error.h>
#include <zaya/quant.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cmath>
#include <vector>

namespace zaya::cpu {

namespace {
std::atomic<size_t>& bf16_prefill_setting() {
  static std::atomic<size_t> v = [] {
    const char* e = std::getenv("ZAYA_CPU_BF16_PREFILL");
    if (!e || !*e) return size_t(0);
    const size_t n = std::strtoul(e, nullptr, 10);
    return n == 1 ? kernels().bf16_dp_min_rows : n;
  }();
  return v;
}
}  // namespace

void set_bf16_prefill_min_rows(size_t min_rows) noexcept { bf16_prefill_setting().store(min_rows); }
size_t bf16_prefill_min_rows() noexcept { return bf16_prefill_setting().load(); }

std::string CpuBackend::description() const {
  return fmt::format("cpu ({} kernels)", kernels().isa);
}

namespace {

// Quantizes the n rows of X once (ActQ8 blocks, zaya/quant.h) into `buffer`, for a product with
// the block-quantized W; every thread then multiplies its rows of W against it.
const uint8_t* quantize_activations(Workspace& ws, FloatBuffer& buffer, const WeightMatrix& w, const float* x, size_t ldx,
                                    size_t n) {
  const auto& k = kernels();
  const size_t cols = static_cast<size_t>(w.cols);
  if (cols % dtype_block_elems(w.dtype) != 0)
    fail(ErrorCode::internal, "cpu backend: {} matrix with {} columns (not whole blocks)", dtype_name(w.dtype), cols);
  const size_t x_row = actq8::row_bytes(cols);
  buffer.resize((n * x_row + sizeof(float) - 1) / sizeof(float));
  auto* xq = reinterpret_cast<uint8_t*>(buffer.data());
  if (n >= 8) {
    ws.pool.parallel_for(n, [&](size_t i0, size_t i1) {
      k.quantize_activations(x + i0 * ldx, ldx, i1 - i0, cols, xq + i0 * x_row);
    }, 4);
  } else {
    k.quantize_activations(x, ldx, n, cols, xq);
  }
  return xq;
}

// One product with its activations prepared for the kernel of W's format: run(r0, r1) computes
// output rows [r0, r1), which start on a multiple of `unit` (the register tile height, or the
// interleave group) and end on one or at W's last row.
struct Product {
  const WeightMatrix* w = nullptr;
  const void* x = nullptr;  // f32 rows (f32 W), bf16-permuted rows (bf16 W), ActQ8 rows (block formats)
  size_t ldx = 0;           // floats between rows of x (f32 and bf16 W)
  float* y = nullptr;
  size_t ldy = 0;
  size_t n = 0;
  size_t unit = 1;

  size_t rows() const { return static_cast<size_t>(w->rows); }
  size_t units() const { return (rows() + unit - 1) / unit; }
  void run(size_t r0, size_t r1) const {
    const auto& k = kernels();
    const size_t cols = static_cast<size_t>(w->cols);
    if (w->interleaved) {
      const auto fn = w->dtype == DType::q8_0   ? k.matmul_q8_0_r16
                      : w->dtype == DType::q4_0 ? k.matmul_q4_0_r16
                      : w->dtype == DType::q2_0 ? k.matmul_q2_0_r16
                                                : k.matmul_q4_k_r16;
      fn(w->data, rows(), x, n, cols, y, ldy, r0, r1);
      return;
    }
    switch (w->dtype) {
      case DType::f32:
        k.matmul_f32(static_cast<const float*>(w->data), static_cast<const float*>(x), ldx, n, cols, y, ldy, r0, r1);
        break;
      case DType::bf16:
        k.matmul_bf16(static_cast<const uint16_t*>(w->data), static_cast<const float*>(x), ldx, n, cols, y, ldy, r0, r1);
        break;
      default: {
        const auto fn = w->dtype == DType::q8_0   ? k.matmul_q8_0
                        : w->dtype == DType::q4_0 ? k.matmul_q4_0
                        : w->dtype == DType::q2_0 ? k.matmul_q2_0
                                                  : k.matmul_q4_k;
        fn(w->data, x, n, cols, y, ldy, r0, r1);
      }
    }
  }
};

// Prepares X for W's kernel (into `buffer` when it needs a converted copy). The bf16
// dot-product prefill path is not a Product: matmul() handles it itself.
Product prepare(Workspace& ws, FloatBuffer& buffer, const WeightMatrix& w, const float* x, size_t ldx, size_t n, float* y,
                size_t ldy) {
  Product p{&w, x, ldx, y, ldy, n, 16};
  if (w.interleaved) {
    p.unit = interleave_rows(w.dtype);
    if (p.unit == 0) fail(ErrorCode::internal, "cpu backend: no interleaved layout for {}", dtype_name(w.dtype));
    p.x = quantize_activations(ws, buffer, w, x, ldx, n);
    return p;
  }
  switch (w.dtype) {
    case DType::f32:
      break;
    case DType::bf16: {
      const size_t cols = static_cast<size_t>(w.cols);
      buffer.resize(n * cols);
      kernels().permute_for_bf16(x, ldx, n, cols, buffer.data(), cols);
      p.x = buffer.data();
      p.ldx = cols;
      break;
    }
    case DType::q8_0:
    case DType::q4_0:
    case DType::q4_k:
    case DType::q2_0:
      // X is quantized once (ActQ8 blocks), then every thread multiplies its rows of W against
      // it; W is never expanded. Rows go in whole 4-row tiles.
      p.x = quantize_activations(ws, buffer, w, x, ldx, n);
      p.unit = 4;
      break;
    default:
      fail(ErrorCode::internal, "cpu backend: matmul with weight dtype {} (the loader converts it)", dtype_name(w.dtype));
  }
  return p;
}

// Several prepared products as one parallel loop over all their row units: one fork-join
// instead of one per product.
void run_products(Workspace& ws, std::span<const Product> products) {
  std::vector<size_t> first_unit(products.size());  // prefix sums of units
  size_t total = 0;
  for (size_t i = 0; i < products.size(); ++i) {
    first_unit[i] = total;
    total += products[i].units();
  }
  ws.pool.parallel_for(total, [&](size_t u0, size_t u1) {
    for (size_t i = 0; i < products.size(); ++i) {
      const size_t begin = first_unit[i], end = begin + products[i].units();
      if (end <= u0 || begin >= u1) continue;
      const Product& p = products[i];
      p.run(p.unit * (std::max(u0, begin) - begin), std::min(p.rows(), p.unit * (std::min(u1, end) - begin)));
    }
  });
}

}  // namespace

void CpuBackend::matmul(Workspace& ws, const WeightMatrix& w, const float* x, size_t ldx, size_t n, float* y,
                        size_t ldy) const {
  if (n == 0 || w.rows == 0) return;
  const auto& k = kernels();
  const size_t rows = static_cast<size_t>(w.rows);
  const size_t cols = static_cast<size_t>(w.cols);
  if (const size_t min_rows = bf16_prefill_min_rows();
      w.dtype == DType::bf16 && k.matmul_bf16_dp && min_rows > 0 && n >= min_rows) {
    // Prefill: activations rounded to bf16 once (rows padded to 32 elements), vdpbf16ps.
    const size_t ldb = (cols + 31) / 32 * 32;
    ws.activations.resize((n * ldb + 1) / 2);
    auto* xb = reinterpret_cast<uint16_t*>(ws.activations.data());
    ws.pool.parallel_for(n, [&](size_t i0, size_t i1) {
      k.to_bf16(x + i0 * ldx, ldx, i1 - i0, cols, xb + i0 * ldb, ldb);
    }, 8);
    const uint16_t* wp = static_cast<const uint16_t*>(w.data);
    ws.pool.parallel_for(rows, [&](size_t r0, size_t r1) {
      k.matmul_bf16_dp(wp, xb, ldb, n, cols, y, ldy, r0, r1);
    }, 16);
    return;
  }
  const Product p = prepare(ws, ws.activations, w, x, ldx, n, y, ldy);
  // Whole units per thread (parallel_for's boundaries need not be grain multiples).
  ws.pool.parallel_for(p.units(), [&](size_t u0, size_t u1) {
    p.run(p.unit * u0, std::min(rows, p.unit * u1));
  }, std::max<size_t>(1, 16 / p.unit));
}

void CpuBackend::matmul_interleaved(Workspace& ws, const WeightMatrix& w, const float* x, size_t ldx, size_t n,
                                    float* y, size_t ldy) const {
  WeightMatrix view = w;  // w.data holds the interleaved layout, whatever the flag says
  view.interleaved = true;
  matmul(ws, view, x, ldx, n, y, ldy);
}

void CpuBackend::matmuls(Workspace& ws, std::span<const MatmulJob> jobs, size_t n) const {
  if (n == 0) return;
  // The bf16 dot-product path has its own preparation.
  if (n > kFusedRows || jobs.size() == 1 || (bf16_prefill_min_rows() > 0 && n >= bf16_prefill_min_rows())) {
    for (const auto& j : jobs) matmul(ws, *j.w, j.x, j.ldx, n, j.y, j.ldy);
    return;
  }
  // Each distinct input is prepared once per format (q/k/v projections share theirs).
  std::vector<Product> products;
  std::vector<const MatmulJob*> sources;
  std::vector<FloatBuffer> buffers(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    const MatmulJob& j = jobs[i];
    if (j.w->rows == 0) continue;
    Product p;
    size_t same = 0;
    while (same < products.size() && !(sources[same]->x == j.x && sources[same]->ldx == j.ldx &&
                                       products[same].w->cols == j.w->cols && products[same].w->dtype == j.w->dtype &&
                                       products[same].w->interleaved == j.w->interleaved))
      ++same;
    if (same < products.size()) {
      p = products[same];
      p.w = j.w;
      p.y = j.y;
      p.ldy = j.ldy;
    } else {
      p = prepare(ws, buffers[i], *j.w, j.x, j.ldx, n, j.y, j.ldy);
    }
    products.push_back(p);
    sources.push_back(&j);
  }
  run_products(ws, products);
}

void CpuBackend::attention(Workspace& ws, const AttentionShape& shape, std::span<const AttentionRow> rows) const {
  const auto& k = kernels();
  const size_t heads = static_cast<size_t>(shape.q_heads);
  const size_t kv_heads = static_cast<size_t>(shape.kv_heads);
  const size_t group = heads / kv_heads;
  const size_t d = static_cast<size_t>(shape.head_dim);
  size_t max_len = 0;
  for (const auto& r : rows) max_len = std::max(max_len, r.length);
  const size_t score_len = (max_len + kv_key_block - 1) / kv_key_block * kv_key_block;
  if (shape.cache_type != DType::f32 && shape.cache_type != DType::f16)
    fail(ErrorCode::internal, "cpu backend: attention over a {} cache", dtype_name(shape.cache_type));
  const bool f16 = shape.cache_type == DType::f16;
  // One item per row: all its heads in one pass over its keys and values. Rows are taken from
  // both ends alternately so that the contiguous halves parallel_for hands the threads hold equal
  // work although a prefill's later rows attend to more positions. With fewer rows than threads
  // (decode of one or two sequences) the items are (row, kv head) instead, so that every thread
  // has one.
  const size_t threads = static_cast<size_t>(ws.pool.size());
  const size_t split = rows.size() < threads ? kv_heads : 1, per_item = kv_heads / split;
  const size_t work = rows.size() * split;
  ws.pool.parallel_for(work, [&](size_t begin, size_t end) {
    FloatBuffer scores(heads * score_len);
    for (size_t j = begin; j < end; ++j) {
      const size_t r = j / split, part = j % split;
      const AttentionRow& row = rows[r % 2 == 0 ? r / 2 : rows.size() - 1 - r / 2];
      const size_t head0 = part * per_item * group, kv_offset = part * per_item * row.head_stride;
      if (f16)
        k.attend_f16(row.q + head0 * d, per_item, group, d, static_cast<const uint16_t*>(row.keys) + kv_offset,
                     static_cast<const uint16_t*>(row.values) + kv_offset, row.head_stride, row.length, shape.scale,
                     scores.data(), row.out + head0 * d);
      else
        k.attend(row.q + head0 * d, per_item, group, d, static_cast<const float*>(row.keys) + kv_offset,
                 static_cast<const float*>(row.values) + kv_offset, row.head_stride, row.length, shape.scale,
                 scores.data(), row.out + head0 * d);
    }
  });
}

void CpuBackend::expert_mlp(Workspace& ws, const WeightMatrix& gate_up, const WeightMatrix& down, const float* x,
                            size_t n, float* y) const {
  const size_t width = static_cast<size_t>(down.cols);
  FloatBuffer gu(n * 2 * width);  // local: expert_mlp may run while ws.hidden is in use by the caller
  matmul(ws, gate_up, x, static_cast<size_t>(gate_up.cols), n, gu.data(), 2 * width);
  FloatBuffer act(n * width);
  const auto& k = kernels();
  ws.pool.parallel_for(n, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) {
      const float* g = gu.data() + i * 2 * width;
      k.swiglu(g, g + width, act.data() + i * width, width);
    }
  }, 8);
  matmul(ws, down, act.data(), width, n, y, static_cast<size_t>(down.rows));
}

void CpuBackend::expert_mlps(Workspace& ws, std::span<const ExpertJob> jobs) const {
  size_t rows = 0, gu_floats = 0, act_floats = 0;
  bool bf16_dp = false;
  const size_t bf16_min = bf16_prefill_min_rows();
  std::vector<ExpertJob> live;  // the jobs with rows
  for (const auto& j : jobs) {
    if (j.n == 0) continue;
    live.push_back(j);
    rows += j.n;
    gu_floats += j.n * static_cast<size_t>(j.gate_up->rows);
    act_floats += j.n * static_cast<size_t>(j.down->cols);
    for (const WeightMatrix* w : {j.gate_up, j.down})
      bf16_dp = bf16_dp || (w->dtype == DType::bf16 && bf16_min > 0 && j.n >= bf16_min);
  }
  // The bf16 dot-product path prepares its activations itself.
  if (live.size() <= 1 || rows > kFusedRows || bf16_dp) {
    for (const auto& j : live) expert_mlp(ws, *j.gate_up, *j.down, j.x, j.n, j.y);
    return;
  }
  jobs = live;
  // A decode batch: every chosen expert's gate_up products in one parallel loop, SwiGLU over all
  // rows in a second, the down products in a third; each expert's weights still stream once.
  const auto& k = kernels();
  FloatBuffer gu(gu_floats), act(act_floats);
  std::vector<FloatBuffer> buffers(jobs.size());
  std::vector<Product> products(jobs.size());
  std::vector<size_t> gu_at(jobs.size()), act_at(jobs.size()), first_row(jobs.size() + 1, 0);
  for (size_t j = 0, g = 0, a = 0; j < jobs.size(); ++j) {
    const ExpertJob& e = jobs[j];
    const size_t width = static_cast<size_t>(e.down->cols);
    if (static_cast<size_t>(e.gate_up->rows) != 2 * width || e.gate_up->cols != e.down->rows)
      fail(ErrorCode::internal, "cpu backend: expert gate_up [{}, {}] does not match down [{}, {}]", e.gate_up->rows,
           e.gate_up->cols, e.down->rows, e.down->cols);
    gu_at[j] = g;
    act_at[j] = a;
    first_row[j + 1] = first_row[j] + e.n;
    g += e.n * 2 * width;
    a += e.n * width;
    products[j] = prepare(ws, buffers[j], *e.gate_up, e.x, static_cast<size_t>(e.gate_up->cols), e.n, gu.data() + gu_at[j],
                          2 * width);
  }
  run_products(ws, products);
  ws.pool.parallel_for(rows, [&](size_t r0, size_t r1) {
    size_t j = static_cast<size_t>(std::upper_bound(first_row.begin(), first_row.end(), r0) - first_row.begin()) - 1;
    for (size_t r = r0; r < r1; ++r) {
      while (r >= first_row[j + 1]) ++j;
      const size_t width = static_cast<size_t>(jobs[j].down->cols), i = r - first_row[j];
      const float* g = gu.data() + gu_at[j] + i * 2 * width;
      k.swiglu(g, g + width, act.data() + act_at[j] + i * width, width);
    }
  }, 4);
  for (size_t j = 0; j < jobs.size(); ++j) {
    const ExpertJob& e = jobs[j];
    products[j] = prepare(ws, buffers[j], *e.down, act.data() + act_at[j], static_cast<size_t>(e.down->cols), e.n, e.y,
                          static_cast<size_t>(e.down->rows));
  }
  run_products(ws, products);
}

}  // namespace zaya::cpu
