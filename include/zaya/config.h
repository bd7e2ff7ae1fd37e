// zaya/config.h - ZAYA1 model geometry, read from a Hugging Face config.json.
//
// Two checkpoint layouts carry the same network (see docs/ARCHITECTURE.md):
//   native - 40 fused blocks (attention + MoE), `Zyphra/ZAYA1-8B` today;
//   legacy - 80 alternating layers (even = CCA attention, odd = MoE), `ZAYA1-8B-legacy`,
//            `ZAYA1-base`, `ZAYA1-reasoning-base`, with an older config schema.
// ModelConfig always describes the network in native terms (blocks).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zaya {

enum class CheckpointLayout { native, legacy };

inline const char* layout_name(CheckpointLayout l) { return l == CheckpointLayout::native ? "native" : "legacy"; }

struct ModelConfig {
  CheckpointLayout layout = CheckpointLayout::native;
  int64_t hidden = 0;           // H
  int64_t blocks = 0;           // L: attention + MoE pairs
  int64_t q_heads = 0;          // NQ
  int64_t kv_heads = 0;         // NK
  int64_t head_dim = 0;         // D
  int64_t experts = 0;          // E (the router has E + 1 classes: the last one is "skip")
  int64_t expert_width = 0;     // I: SwiGLU width per expert (gate_up has 2I rows)
  int64_t router_width = 0;     // R
  int64_t vocab = 0;            // embedding rows (may exceed the tokenizer's vocabulary: padding)
  int64_t max_position = 0;
  double rms_eps = 1e-5;
  double router_eps = 1e-5;     // ZAYA1-base's loader used 1e-6 for the router RMSNorm
  double rope_theta = 5e6;
  double partial_rotary = 0.5;  // fraction of each head that is rotated (first dims, NeoX style)
  bool tie_embeddings = true;
  int64_t bos_id = -1;
  std::vector<int64_t> eos_ids;
  int64_t pad_id = -1;
  std::string dtype;            // as declared in config.json ("bfloat16", ...), informational

  // Derived sizes.
  int64_t q_dim() const { return q_heads * head_dim; }
  int64_t kv_dim() const { return kv_heads * head_dim; }
  int64_t conv_channels() const { return q_dim() + kv_dim(); }       // C: q and k raw projections
  int64_t value_proj_dim() const { return kv_dim() / 2; }            // each of v_current, v_delayed
  int64_t rotary_dim() const { return static_cast<int64_t>(static_cast<double>(head_dim) * partial_rotary); }
  int64_t group_size() const { return q_heads / kv_heads; }

  // Parses config.json text. `layout` comes from the tensor names (the authoritative signal);
  // the schema of the matching layout is read, with defensive fallbacks. Throws zaya::Error.
  static ModelConfig parse(std::string_view json_text, CheckpointLayout layout);
  // Checks internal consistency (divisibility, positivity, sane bounds). Throws zaya::Error.
  void validate() const;
};

}  // namespace zaya
