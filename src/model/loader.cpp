// src/model/loader.cpp - checkpoint tensors (native or legacy names) -> ModelWeights.
//
// Name mapping follows the official legacy->native converter: legacy layer 2l is the attention
// half of native block l, legacy layer 2l+1 its MoE half; a legacy attention layer's res_scale
// is the previous block's post-MLP merge, and model.res_scale is the last block's.
#include "weights.h"

#include <zaya/error.h>
#include <zaya/quant.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <set>

namespace zaya::model {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += fmt::format("{}{}", i ? ", " : "", shape[i]);
  return s + "]";
}

// Tensor names of one layout.
struct Names {
  CheckpointLayout layout;
  int64_t blocks;

  std::string attn(int64_t l, const char* native_suffix, const char* legacy_suffix) const {
    return layout == CheckpointLayout::native ? fmt::format("model.layers.{}.{}", l, native_suffix)
                                              : fmt::format("model.layers.{}.{}", 2 * l, legacy_suffix);
  }
  std::string moe(int64_t l, const char* native_suffix, const char* legacy_suffix) const {
    return layout == CheckpointLayout::native ? fmt::format("model.layers.{}.{}", l, native_suffix)
                                              : fmt::format("model.layers.{}.{}", 2 * l + 1, legacy_suffix);
  }
  std::string post_mlp(int64_t l, const char* field) const {
    if (layout == CheckpointLayout::native) return fmt::format("model.layers.{}.post_mlp_residual_scale.{}", l, field);
    if (l + 1 == blocks) return fmt::format("model.res_scale.{}", field);
    return fmt::format("model.layers.{}.res_scale.{}", 2 * l + 2, field);
  }
  std::string input_affine(const char* field) const {
    return layout == CheckpointLayout::native ? fmt::format("model.input_{}", field)
                                              : fmt::format("model.layers.0.res_scale.{}", field);
  }
  std::string final_norm() const {
    return layout == CheckpointLayout::native ? "model.norm.weight" : "model.final_norm.weight";
  }
};

class Loader {
 public:
  Loader(const TensorStore& store, const ModelConfig& config, ModelWeights& out)
      : store_(store), config_(config), out_(out), names_{config.layout, config.blocks} {}

  // Weight matrices may be block-quantized (GGUF files); vectors and conv weights may not.
  const TensorInfo& tensor(const std::string& name, std::vector<int64_t> shape, bool matrix = false) {
    const TensorInfo* t = store_.find(name);
    if (!t) fail(ErrorCode::bad_format, "checkpoint is missing tensor '{}'", name);
    used_.insert(name);
    if (t->interleaved && (!matrix || shape.size() < 2))
      fail(ErrorCode::bad_format, "{}: tensor '{}' is in the interleaved R16 layout, but only weight matrices may be",
           t->file, name);
    if (is_quantized(t->dtype)) {
      if (!matrix)
        fail(ErrorCode::bad_format, "{}: tensor '{}' is {}, but only weight matrices may be quantized", t->file, name,
             dtype_name(t->dtype));
      if (shape.empty() || shape.back() % static_cast<int64_t>(dtype_block_elems(t->dtype)) != 0)
        fail(ErrorCode::bad_format, "{}: tensor '{}' is {} but its rows are not whole blocks", t->file, name, dtype_name(t->dtype));
    } else if (!is_float_dtype(t->dtype)) {
      fail(ErrorCode::bad_format, "{}: tensor '{}' has dtype {}, expected F32, BF16 or F16", t->file, name, dtype_name(t->dtype));
    }
    if (t->shape != shape)
      fail(ErrorCode::bad_format, "{}: tensor '{}' has shape {} but the config implies {}", t->file, name,
           shape_text(t->shape), shape_text(shape));
    dtypes_.insert(std::string(dtype_name(t->dtype)) + (t->interleaved ? "_R16" : ""));
    return *t;
  }

  // Small tensors: converted to an owned f32 vector (non-finite values are rejected: a NaN in a
  // norm or bias would silently poison every logit).
  std::vector<float> vec(const std::string& name, std::vector<int64_t> shape) {
    const TensorInfo& t = tensor(name, std::move(shape));
    std::vector<float> v(t.element_count);
    for (size_t i = 0; i < v.size(); ++i) {
      v[i] = load_as_f32(t.data, t.dtype, i);
      if (!std::isfinite(v[i])) fail(ErrorCode::bad_format, "{}: tensor '{}' holds a non-finite value at element {}", t.file, name, i);
    }
    return v;
  }

  // Large matrices: zero-copy view when stored as f32 (aligned) or bf16; else an f32 copy.
  WeightMatrix matrix_view(const TensorInfo& t, size_t first_element, int64_t rows, int64_t cols) {
    WeightMatrix m;
    m.rows = rows;
    m.cols = cols;
    const std::byte* p = t.data + dtype_row_bytes(t.dtype, first_element);
    size_t count = static_cast<size_t>(rows) * static_cast<size_t>(cols);
    if (is_quantized(t.dtype)) {  // blocks are byte-addressed: always a view
      m.dtype = t.dtype;
      m.data = p;
      if (t.interleaved) {
        // Each matrix of the last two dimensions is interleaved on its own: a view must be one.
        const auto slice_rows = t.shape[t.shape.size() - 2];
        if (slice_rows != rows || t.shape.back() != cols || first_element % count != 0)
          fail(ErrorCode::internal, "{}: tensor '{}': a [{}, {}] view at element {} is not one of its interleaved matrices",
               t.file, t.name, rows, cols, first_element);
        m.interleaved = true;
      }
      return m;
    }
    bool aligned = reinterpret_cast<uintptr_t>(p) % dtype_size(t.dtype) == 0;
    if ((t.dtype == DType::bf16 || t.dtype == DType::f32) && aligned) {
      m.dtype = t.dtype;
      m.data = p;
      return m;
    }
    auto& copy = out_.owned.emplace_back(count);
    for (size_t i = 0; i < count; ++i) copy[i] = load_as_f32(p, t.dtype, i);
    m.dtype = DType::f32;
    m.data = copy.data();
    return m;
  }

  WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols) {
    return matrix_view(tensor(name, {rows, cols}, true), 0, rows, cols);
  }

  // Router matrices: the router computes in fp32 (the spec's recommendation for exact top-1
  // choices); bf16 weights widen to f32 exactly, so they stay zero-copy views like the others,
  // but non-finite values are rejected here since one would corrupt every routing decision.
  WeightMatrix router_matrix(const std::string& name, int64_t rows, int64_t cols) {
    const TensorInfo& t = tensor(name, {rows, cols}, true);
    if (t.interleaved)  // zaya never quantizes the router, so no file of its own interleaves it
      fail(ErrorCode::bad_format, "{}: router tensor '{}' is in the interleaved R16 layout", t.file, name);
    if (is_quantized(t.dtype)) {
      std::vector<float> row(static_cast<size_t>(cols));
      for (int64_t r = 0; r < rows; ++r) {
        dequantize_row(t.dtype, t.data + dtype_row_bytes(t.dtype, static_cast<size_t>(r * cols)), row.size(), row.data());
        for (size_t j = 0; j < row.size(); ++j)
          if (!std::isfinite(row[j]))
            fail(ErrorCode::bad_format, "{}: tensor '{}' holds a non-finite value at element {}", t.file, name, r * cols + static_cast<int64_t>(j));
      }
      return matrix_view(t, 0, rows, cols);
    }
    for (size_t i = 0; i < t.element_count; ++i)
      if (!std::isfinite(load_as_f32(t.data, t.dtype, i)))
        fail(ErrorCode::bad_format, "{}: tensor '{}' holds a non-finite value at element {}", t.file, name, i);
    return matrix_view(t, 0, rows, cols);
  }

  ResidualScale residual(const std::function<std::string(const char*)>& name) {
    const int64_t H = config_.hidden;
    ResidualScale r;
    r.hidden_scale = vec(name("hidden_states_scale"), {H});
    r.hidden_bias = vec(name("hidden_states_bias"), {H});
    r.residual_scale = vec(name("residual_scale"), {H});
    r.residual_bias = vec(name("residual_bias"), {H});
    return r;
  }

  void load() {
    const auto& c = config_;
    const int64_t H = c.hidden, QD = c.q_dim(), KD = c.kv_dim(), C = c.conv_channels(), D = c.head_dim;
    const int64_t E = c.experts, I = c.expert_width, R = c.router_width, V = c.vocab;
    const Names& n = names_;

    const TensorInfo& embed = tensor("model.embed_tokens.weight", {V, H}, true);
    out_.embedding = matrix_view(embed, 0, V, H);
    if (c.tie_embeddings || !store_.find("lm_head.weight")) {
      if (!c.tie_embeddings) fail(ErrorCode::bad_format, "config says tie_word_embeddings = false but there is no lm_head.weight");
      out_.lm_head = out_.embedding;
    } else {
      out_.lm_head = matrix("lm_head.weight", V, H);
    }
    out_.input_scale = vec(n.input_affine("hidden_states_scale"), {H});
    out_.input_bias = vec(n.input_affine("hidden_states_bias"), {H});
    out_.final_norm = vec(n.final_norm(), {H});

    out_.blocks.resize(static_cast<size_t>(c.blocks));
    for (int64_t l = 0; l < c.blocks; ++l) {
      BlockWeights& b = out_.blocks[static_cast<size_t>(l)];
      b.input_norm = vec(n.attn(l, "input_layernorm.weight", "input_norm.weight"), {H});
      auto& a = b.attention;
      a.q_proj = matrix(n.attn(l, "self_attn.qkv_proj.q_proj.weight", "self_attn.qkv.linear_q.weight"), QD, H);
      a.k_proj = matrix(n.attn(l, "self_attn.qkv_proj.k_proj.weight", "self_attn.qkv.linear_k.weight"), KD, H);
      a.v_current = matrix(n.attn(l, "self_attn.qkv_proj.v_proj_current.weight", "self_attn.qkv.val_proj1.weight"), KD / 2, H);
      a.v_delayed = matrix(n.attn(l, "self_attn.qkv_proj.v_proj_delayed.weight", "self_attn.qkv.val_proj2.weight"), KD / 2, H);
      a.o_proj = matrix(n.attn(l, "self_attn.o_proj.weight", "self_attn.o_proj.weight"), H, QD);
      auto dw = vec(n.attn(l, "self_attn.qkv_proj.conv_qk_depthwise.weight", "self_attn.qkv.conv_qk.0.weight"), {C, 1, 2});
      a.depthwise_tap0.resize(static_cast<size_t>(C));
      a.depthwise_tap1.resize(static_cast<size_t>(C));
      for (int64_t ch = 0; ch < C; ++ch) {
        a.depthwise_tap0[static_cast<size_t>(ch)] = dw[static_cast<size_t>(2 * ch)];
        a.depthwise_tap1[static_cast<size_t>(ch)] = dw[static_cast<size_t>(2 * ch + 1)];
      }
      a.depthwise_bias = vec(n.attn(l, "self_attn.qkv_proj.conv_qk_depthwise.bias", "self_attn.qkv.conv_qk.0.bias"), {C});
      // PyTorch Conv1d weight [C_out, C_in/groups, k] -> per output channel [tap0 inputs | tap1 inputs].
      auto gw = vec(n.attn(l, "self_attn.qkv_proj.conv_qk_grouped.weight", "self_attn.qkv.conv_qk.1.weight"), {C, D, 2});
      a.grouped_weight.resize(static_cast<size_t>(C * 2 * D));
      for (int64_t o = 0; o < C; ++o)
        for (int64_t i = 0; i < D; ++i)
          for (int64_t tap = 0; tap < 2; ++tap)
            a.grouped_weight[static_cast<size_t>(o * 2 * D + tap * D + i)] = gw[static_cast<size_t>((o * D + i) * 2 + tap)];
      a.grouped_bias = vec(n.attn(l, "self_attn.qkv_proj.conv_qk_grouped.bias", "self_attn.qkv.conv_qk.1.bias"), {C});
      // The CPU multiplies a bf16 copy when that is exact (every value a bf16: a BF16 checkpoint),
      // half the bytes each decoded token streams; the f32 one stays for the HIP plugin's ABI.
      const bool bf16_exact = std::all_of(a.grouped_weight.begin(), a.grouped_weight.end(),
                                          [](float x) { return bf16_to_f32(f32_to_bf16(x)) == x || x != x; });
      if (bf16_exact) {
        a.grouped_weight_bf16.resize(a.grouped_weight.size());
        for (size_t i = 0; i < a.grouped_weight.size(); ++i) a.grouped_weight_bf16[i] = f32_to_bf16(a.grouped_weight[i]);
      }
      for (int64_t g = 0; g < c.q_heads + c.kv_heads; ++g)
        a.grouped_per_head.push_back(
            bf16_exact ? WeightMatrix{DType::bf16, a.grouped_weight_bf16.data() + g * D * 2 * D, D, 2 * D}
                       : WeightMatrix{DType::f32, a.grouped_weight.data() + g * D * 2 * D, D, 2 * D});
      a.key_temperature = vec(n.attn(l, "self_attn.qk_norm.temp", "self_attn.qkv.temp"), {c.kv_heads});

      b.post_attention = residual([&](const char* f) {
        return c.layout == CheckpointLayout::native ? fmt::format("model.layers.{}.post_attention_residual_scale.{}", l, f)
                                                    : fmt::format("model.layers.{}.res_scale.{}", 2 * l + 1, f);
      });
      b.post_attention_norm = vec(n.moe(l, "post_attention_layernorm.weight", "input_norm.weight"), {H});

      auto& r = b.router;
      r.down = router_matrix(n.moe(l, "mlp.gate.down_proj.weight", "zaya_block.router.down_proj.weight"), R, H);
      r.down_bias = vec(n.moe(l, "mlp.gate.down_proj.bias", "zaya_block.router.down_proj.bias"), {R});
      auto scale_name = n.moe(l, "mlp.gate.router_states_scale", "zaya_block.router.router_states_scale");
      if (l > 0) {
        r.states_scale = vec(scale_name, {R});
      } else if (store_.find(scale_name)) {
        fail(ErrorCode::bad_format, "tensor '{}' exists, but the first block has no EDA carry", scale_name);
      }
      r.norm = vec(n.moe(l, "mlp.gate.router_mlp.norm.weight", "zaya_block.router.rmsnorm_eda.weight"), {R});
      r.fc1 = router_matrix(n.moe(l, "mlp.gate.router_mlp.fc1.weight", "zaya_block.router.router_mlp.0.weight"), R, R);
      r.fc1_bias = vec(n.moe(l, "mlp.gate.router_mlp.fc1.bias", "zaya_block.router.router_mlp.0.bias"), {R});
      r.fc2 = router_matrix(n.moe(l, "mlp.gate.router_mlp.fc2.weight", "zaya_block.router.router_mlp.2.weight"), R, R);
      r.fc2_bias = vec(n.moe(l, "mlp.gate.router_mlp.fc2.bias", "zaya_block.router.router_mlp.2.bias"), {R});
      r.out_proj = router_matrix(n.moe(l, "mlp.gate.router_mlp.out_proj.weight", "zaya_block.router.router_mlp.4.weight"), E + 1, R);
      r.balancing_biases = vec(n.moe(l, "mlp.gate.balancing_biases", "zaya_block.router.balancing_biases"), {E + 1});

      if (c.layout == CheckpointLayout::native) {
        const TensorInfo& gu = tensor(fmt::format("model.layers.{}.mlp.experts.gate_up_proj", l), {E, 2 * I, H}, true);
        const TensorInfo& dn = tensor(fmt::format("model.layers.{}.mlp.experts.down_proj", l), {E, H, I}, true);
        for (int64_t e = 0; e < E; ++e) {
          b.expert_gate_up.push_back(matrix_view(gu, static_cast<size_t>(e * 2 * I * H), 2 * I, H));
          b.expert_down.push_back(matrix_view(dn, static_cast<size_t>(e * H * I), H, I));
        }
      } else {
        for (int64_t e = 0; e < E; ++e) {
          auto prefix = fmt::format("model.layers.{}.zaya_block.experts.local_experts.{}.", 2 * l + 1, e);
          b.expert_gate_up.push_back(matrix(prefix + "linear_fc1.weight", 2 * I, H));
          b.expert_down.push_back(matrix(prefix + "linear_fc2.weight", H, I));
        }
      }
      b.post_mlp = residual([&](const char* f) { return n.post_mlp(l, f); });
    }

    // A tensor of a layer the config does not describe means the config is stale or wrong:
    // running with it ignored would silently compute a different network.
    const int64_t layer_count = c.layout == CheckpointLayout::native ? c.blocks : 2 * c.blocks;
    for (const auto& [name, info] : store_.tensors()) {
      if (name.rfind("model.layers.", 0) == 0) {
        int64_t idx = std::atoll(name.c_str() + std::strlen("model.layers."));
        if (idx >= layer_count)
          fail(ErrorCode::bad_format, "{}: tensor '{}' belongs to layer {}, but config.json describes {} layers", info->file,
               name, idx, layer_count);
      }
    }

    out_.tensor_count = used_.size();
    out_.stored_bytes = 0;
    for (const auto& name : used_) out_.stored_bytes += store_.find(name)->nbytes;
    for (const auto& d : dtypes_) out_.stored_dtypes += (out_.stored_dtypes.empty() ? "" : "+") + d;

    const uint64_t attn = static_cast<uint64_t>(QD * H + KD * H + KD * H + H * QD + C * 2 + C + C * 2 * D + C + c.kv_heads + 6 * H);
    const uint64_t router = static_cast<uint64_t>(R * H + R + R + R + 2 * (R * R + R) + (E + 1) * R + (E + 1) + 5 * H);
    const uint64_t expert = static_cast<uint64_t>(2 * I * H + H * I);
    out_.embedding_params = static_cast<uint64_t>(V * H);
    out_.total_params = out_.embedding_params + static_cast<uint64_t>(c.blocks) * (attn + router + static_cast<uint64_t>(E) * expert) +
                        static_cast<uint64_t>(3 * H) + (c.tie_embeddings ? 0 : out_.embedding_params);
    out_.active_params = static_cast<uint64_t>(c.blocks) * (attn + router + expert);
  }

 private:
  const TensorStore& store_;
  const ModelConfig& config_;
  ModelWeights& out_;
  Names names_;
  std::set<std::string> used_;
  std::set<std::string> dtypes_;
};

}  // namespace

CheckpointLayout detect_layout(const TensorStore& store) {
  if (store.find("model.layers.0.self_attn.qkv_proj.q_proj.weight")) return CheckpointLayout::native;
  if (store.find("model.layers.0.self_attn.qkv.linear_q.weight")) return CheckpointLayout::legacy;
  fail(ErrorCode::bad_format,
       "not a ZAYA1 checkpoint: neither 'model.layers.0.self_attn.qkv_proj.q_proj.weight' (native layout) nor "
       "'model.layers.0.self_attn.qkv.linear_q.weight' (legacy layout) is present");
}

ModelWeights load_weights(std::shared_ptr<TensorStore> store, const ModelConfig& config) {
  ModelWeights w;
  w.store = store;
  Loader(*store, config, w).load();
  return w;
}

}  // namespace zaya::model
