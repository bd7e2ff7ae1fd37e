// src/cpu/cpu_backend.h - the CPU implementation of zaya::Backend.
#pragma once

#include <zaya/backend.h>

namespace zaya::cpu {

// bf16 weights x bf16-rounded activations (vdpbf16ps) for matmuls of at least `min_rows`
// activation rows, on CPUs whose kernel table has it; 0 turns it off. Off by default: it changes
// the numerics (activations lose 16 mantissa bits, ~1e-3 relative per product), which the
// CPU-vs-HIP parity test of a 600-token bf16 prefill (1e-4) and the documented bf16 parity do
// not allow. ZAYA_CPU_BF16_PREFILL=N sets the initial value (N = 1 means the table's
// recommended bf16_dp_min_rows). Process-wide; set it before decoding starts.
void set_bf16_prefill_min_rows(size_t min_rows) noexcept;
size_t bf16_prefill_min_rows() noexcept;

class CpuBackend final : public Backend {
 public:
  std::string_view name() const override { return "cpu"; }
  std::string description() const override;
  void matmul(Workspace& ws, const WeightMatrix& w, const float* x, size_t ldx, size_t n, float* y,
              size_t ldy) const override;
  // matmul for Q4_0 / Q8_0 / Q4_K weights in the row-interleaved layout (zaya/quant.h): w.data
  // holds repack_interleaved(w.dtype, ggml rows, w.rows, w.cols); same result as matmul on the
  // ggml rows.
  void matmul_interleaved(Workspace& ws, const WeightMatrix& w, const float* x, size_t ldx, size_t n, float* y,
                          size_t ldy) const;
  // Decode batches (up to kFusedRows rows of X per product, and up to kFusedRows rows over all
  // the experts of a block) run several products in one parallel loop: one fork-join instead of
  // one per product. Prefill-sized products are long enough that their own fork-joins cost
  // nothing.
  static constexpr size_t kFusedRows = 64;
  void matmuls(Workspace& ws, std::span<const MatmulJob> jobs, size_t n) const override;
  void attention(Workspace& ws, const AttentionShape& shape, std::span<const AttentionRow> rows) const override;
  void expert_mlp(Workspace& ws, const WeightMatrix& gate_up, const WeightMatrix& down, const float* x, size_t n,
                  float* y) const override;
  // Up to kFusedRows rows in all: three parallel loops for all the experts; more: expert_mlp
  // for each.
  void expert_mlps(Workspace& ws, std::span<const ExpertJob> jobs) const override;
};

}  // namespace zaya::cpu
