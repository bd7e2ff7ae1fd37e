// src/cpu/cpu_backend.h - the CPU implementation of zaya::Backend.
#pragma once

#include <zaya/backend.h>

namespace zaya::cpu {

class CpuBackend final : public Backend {
 public:
  std::string_view name() const override { return "cpu"; }
  std::string description() const override;
  void matmul(Workspace& ws, const WeightMatrix& w, const float* x, size_t ldx, size_t n, float* y,
              size_t ldy) const override;
  // matmul for Q4_0 / Q8_0 weights stored in the R8 layout (zaya/quant.h, repack_r8): w.data
  // holds repack_r8(w.dtype, ggml rows, w.rows, w.cols); same result as matmul on the ggml rows.
  void matmul_r8(Workspace& ws, const WeightMatrix& w, const float* x, size_t ldx, size_t n, float* y,
                 size_t ldy) const;
  void attention(Workspace& ws, const AttentionShape& shape, std::span<const AttentionRow> rows) const override;
  void expert_mlp(Workspace& ws, const WeightMatrix& gate_up, const WeightMatrix& down, const float* x, size_t n,
                  float* y) const override;
};

}  // namespace zaya::cpu
