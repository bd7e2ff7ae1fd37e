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
  void attention(Workspace& ws, const AttentionShape& shape, std::span<const AttentionRow> rows) const override;
  void expert_mlp(Workspace& ws, const WeightMatrix& gate_up, const WeightMatrix& down, const float* x, size_t n,
                  float* y) const override;
};

}  // namespace zaya::cpu
