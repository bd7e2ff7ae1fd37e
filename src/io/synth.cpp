// src/io/synth.cpp - synthetic ZAYA1 checkpoints for tests and benchmarks.
//
// Every value is a pure function of (seed, native tensor name, element index), so the native and
// legacy writings of one seed hold exactly the same network, and any chunk can be produced
// independently. Scales keep activations O(1) through deep stacks (1/sqrt(fan_in) projections,
// norms and residual scales near 1), and the skip class's balancing bias is -1 as in ZAYA1-8B.
#include <zaya/error.h>
#include <zaya/json_writer.h>
#include <zaya/safetensors.h>
#include <zaya/synth.h>

#include <cmath>
#include <cstring>
#include <fstream>

namespace zaya {
namespace {

uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t hash_name(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

// How a tensor's values are drawn: center + spread * u, u uniform in [-1, 1); `absolute` folds u.
struct Law {
  float center = 0.0f;
  float spread = 0.0f;
  bool absolute = false;
};

struct SynthTensor {
  std::string native_name;   // values are keyed by this name
  std::string file_name;     // name written to the file (legacy names differ)
  std::vector<int64_t> shape;
  Law law;
  size_t native_offset = 0;  // element offset inside the native tensor (legacy experts)
  size_t special_skip_index = SIZE_MAX;  // balancing biases: this element is exactly -1
};

float sqrt3_over(double fan_in) { return static_cast<float>(std::sqrt(3.0 / fan_in)); }  // uniform with std 1/sqrt(fan_in)

std::vector<SynthTensor> native_tensors(const ModelConfig& c) {
  const int64_t H = c.hidden, QD = c.q_dim(), KD = c.kv_dim(), C = c.conv_channels(), D = c.head_dim;
  const int64_t E = c.experts, I = c.expert_width, R = c.router_width, V = c.vocab;
  std::vector<SynthTensor> t;
  auto add = [&](std::string name, std::vector<int64_t> shape, Law law) {
    t.push_back(SynthTensor{name, name, std::move(shape), law});
  };
  const Law near_one{1.0f, 0.1f}, small{0.0f, 0.02f};
  add("model.embed_tokens.weight", {V, H}, {0.0f, 1.0f});
  add("model.input_hidden_states_scale", {H}, near_one);
  add("model.input_hidden_states_bias", {H}, small);
  for (int64_t l = 0; l < c.blocks; ++l) {
    auto p = fmt::format("model.layers.{}.", l);
    add(p + "input_layernorm.weight", {H}, near_one);
    add(p + "self_attn.qkv_proj.q_proj.weight", {QD, H}, {0.0f, sqrt3_over(double(H))});
    add(p + "self_attn.qkv_proj.k_proj.weight", {KD, H}, {0.0f, sqrt3_over(double(H))});
    add(p + "self_attn.qkv_proj.v_proj_current.weight", {KD / 2, H}, {0.0f, sqrt3_over(double(H))});
    add(p + "self_attn.qkv_proj.v_proj_delayed.weight", {KD / 2, H}, {0.0f, sqrt3_over(double(H))});
    add(p + "self_attn.qkv_proj.conv_qk_depthwise.weight", {C, 1, 2}, {0.0f, 0.8f});
    add(p + "self_attn.qkv_proj.conv_qk_depthwise.bias", {C}, {0.0f, 0.05f});
    add(p + "self_attn.qkv_proj.conv_qk_grouped.weight", {C, D, 2}, {0.0f, sqrt3_over(double(2 * D))});
    add(p + "self_attn.qkv_proj.conv_qk_grouped.bias", {C}, {0.0f, 0.05f});
    add(p + "self_attn.qk_norm.temp", {c.kv_heads}, {2.5f, 1.5f});
    add(p + "self_attn.o_proj.weight", {H, QD}, {0.0f, sqrt3_over(double(QD))});
    add(p + "post_attention_residual_scale.hidden_states_scale", {H}, near_one);
    add(p + "post_attention_residual_scale.hidden_states_bias", {H}, small);
    add(p + "post_attention_residual_scale.residual_scale", {H}, near_one);
    add(p + "post_attention_residual_scale.residual_bias", {H}, small);
    add(p + "post_attention_layernorm.weight", {H}, near_one);
    add(p + "mlp.gate.down_proj.weight", {R, H}, {0.0f, sqrt3_over(double(H))});
    add(p + "mlp.gate.down_proj.bias", {R}, small);
    if (l > 0) add(p + "mlp.gate.router_states_scale", {R}, {0.0f, 0.5f});
    add(p + "mlp.gate.router_mlp.norm.weight", {R}, near_one);
    add(p + "mlp.gate.router_mlp.fc1.weight", {R, R}, {0.0f, sqrt3_over(double(R))});
    add(p + "mlp.gate.router_mlp.fc1.bias", {R}, small);
    add(p + "mlp.gate.router_mlp.fc2.weight", {R, R}, {0.0f, sqrt3_over(double(R))});
    add(p + "mlp.gate.router_mlp.fc2.bias", {R}, small);
    add(p + "mlp.gate.router_mlp.out_proj.weight", {E + 1, R}, {0.0f, 3.0f * sqrt3_over(double(R))});
    add(p + "mlp.gate.balancing_biases", {E + 1}, {0.0f, 0.05f});
    t.back().special_skip_index = static_cast<size_t>(E);
    add(p + "mlp.experts.gate_up_proj", {E, 2 * I, H}, {0.0f, sqrt3_over(double(H))});
    add(p + "mlp.experts.down_proj", {E, H, I}, {0.0f, sqrt3_over(double(I))});
    add(p + "post_mlp_residual_scale.hidden_states_scale", {H}, near_one);
    add(p + "post_mlp_residual_scale.hidden_states_bias", {H}, small);
    add(p + "post_mlp_residual_scale.residual_scale", {H}, near_one);
    add(p + "post_mlp_residual_scale.residual_bias", {H}, small);
  }
  add("model.norm.weight", {H}, near_one);
  return t;
}

// Native -> legacy names (the inverse of the official converter); experts are split per expert.
std::vector<SynthTensor> to_legacy(const std::vector<SynthTensor>& native, const ModelConfig& c) {
  static const std::pair<const char*, const char*> attn_map[] = {
      {"input_layernorm.", "input_norm."},
      {"self_attn.qkv_proj.q_proj.", "self_attn.qkv.linear_q."},
      {"self_attn.qkv_proj.k_proj.", "self_attn.qkv.linear_k."},
      {"self_attn.qkv_proj.v_proj_current.", "self_attn.qkv.val_proj1."},
      {"self_attn.qkv_proj.v_proj_delayed.", "self_attn.qkv.val_proj2."},
      {"self_attn.qkv_proj.conv_qk_depthwise.", "self_attn.qkv.conv_qk.0."},
      {"self_attn.qkv_proj.conv_qk_grouped.", "self_attn.qkv.conv_qk.1."},
      {"self_attn.qk_norm.temp", "self_attn.qkv.temp"},
      {"self_attn.o_proj.", "self_attn.o_proj."}};
  static const std::pair<const char*, const char*> moe_map[] = {
      {"post_attention_residual_scale.", "res_scale."},
      {"post_attention_layernorm.", "input_norm."},
      {"mlp.gate.router_mlp.norm.", "zaya_block.router.rmsnorm_eda."},
      {"mlp.gate.router_mlp.fc1.", "zaya_block.router.router_mlp.0."},
      {"mlp.gate.router_mlp.fc2.", "zaya_block.router.router_mlp.2."},
      {"mlp.gate.router_mlp.out_proj.", "zaya_block.router.router_mlp.4."},
      {"mlp.gate.", "zaya_block.router."}};
  std::vector<SynthTensor> out;
  for (const auto& t : native) {
    const std::string& n = t.native_name;
    if (n == "model.norm.weight") { out.push_back(t); out.back().file_name = "model.final_norm.weight"; continue; }
    if (n.rfind("model.input_", 0) == 0) {
      out.push_back(t);
      out.back().file_name = "model.layers.0.res_scale." + n.substr(std::strlen("model.input_"));
      continue;
    }
    if (n.rfind("model.layers.", 0) != 0) { out.push_back(t); continue; }
    size_t dot = n.find('.', std::strlen("model.layers."));
    const int64_t l = std::atoll(n.c_str() + std::strlen("model.layers."));
    const std::string rest = n.substr(dot + 1);
    if (rest.rfind("post_mlp_residual_scale.", 0) == 0) {
      out.push_back(t);
      const std::string field = rest.substr(std::strlen("post_mlp_residual_scale."));
      out.back().file_name = l + 1 == c.blocks ? "model.res_scale." + field : fmt::format("model.layers.{}.res_scale.{}", 2 * l + 2, field);
      continue;
    }
    if (rest == "mlp.experts.gate_up_proj" || rest == "mlp.experts.down_proj") {
      const bool fc1 = rest == "mlp.experts.gate_up_proj";
      const size_t per_expert = static_cast<size_t>(t.shape[1] * t.shape[2]);
      for (int64_t e = 0; e < c.experts; ++e) {
        SynthTensor s = t;
        s.file_name = fmt::format("model.layers.{}.zaya_block.experts.local_experts.{}.linear_fc{}.weight", 2 * l + 1, e, fc1 ? 1 : 2);
        s.shape = {t.shape[1], t.shape[2]};
        s.native_offset = static_cast<size_t>(e) * per_expert;
        out.push_back(s);
      }
      continue;
    }
    bool mapped = false;
    for (auto [from, to] : attn_map)
      if (rest.rfind(from, 0) == 0) {
        out.push_back(t);
        out.back().file_name = fmt::format("model.layers.{}.{}{}", 2 * l, to, rest.substr(std::strlen(from)));
        mapped = true;
        break;
      }
    if (mapped) continue;
    for (auto [from, to] : moe_map)
      if (rest.rfind(from, 0) == 0) {
        out.push_back(t);
        out.back().file_name = fmt::format("model.layers.{}.{}{}", 2 * l + 1, to, rest.substr(std::strlen(from)));
        mapped = true;
        break;
      }
    if (!mapped) fail(ErrorCode::internal, "synth: no legacy name for '{}'", n);
  }
  return out;
}

std::string native_config_json(const ModelConfig& c, DType dtype) {
  std::string layer_types;
  for (int64_t l = 0; l < c.blocks; ++l) layer_types += fmt::format("{}\"hybrid\"", l ? ", " : "");
  return fmt::format(R"({{
  "architectures": ["ZayaForCausalLM"],
  "model_type": "zaya",
  "hidden_size": {},
  "num_hidden_layers": {},
  "layer_types": [{}],
  "num_attention_heads": {},
  "num_key_value_heads": {},
  "head_dim": {},
  "cca_time0": 2,
  "cca_time1": 2,
  "attention_bias": false,
  "num_experts": {},
  "num_experts_per_tok": 1,
  "moe_intermediate_size": {},
  "hidden_act": "silu",
  "router_hidden_size": {},
  "rms_norm_eps": {},
  "rope_parameters": {{"hybrid": {{"rope_type": "default", "rope_theta": {}, "partial_rotary_factor": {}}}, "rope_type": "default"}},
  "partial_rotary_factor": {},
  "max_position_embeddings": {},
  "sliding_window": null,
  "vocab_size": {},
  "tie_word_embeddings": true,
  "lm_head_bias": false,
  "bos_token_id": {},
  "eos_token_id": {},
  "pad_token_id": {},
  "dtype": "{}"
}}
)",
                     c.hidden, c.blocks, layer_types, c.q_heads, c.kv_heads, c.head_dim, c.experts, c.expert_width,
                     c.router_width, c.rms_eps, c.rope_theta, c.partial_rotary, c.partial_rotary, c.max_position, c.vocab,
                     c.bos_id, c.eos_ids.empty() ? 1 : c.eos_ids[0], c.pad_id,
                     dtype == DType::bf16 ? "bfloat16" : dtype == DType::f16 ? "float16" : "float32");
}

std::string legacy_config_json(const ModelConfig& c, DType dtype) {
  return fmt::format(R"({{
  "architectures": ["ZayaForCausalLM"],
  "model_type": "zaya",
  "activation_func": "swiglu",
  "add_bias_linear": false,
  "attention_bias": false,
  "bos_token_id": {},
  "cca": true,
  "dtype": "{}",
  "eos_token_id": {},
  "ffn_hidden_size": {},
  "gated_linear_unit": true,
  "hidden_size": {},
  "head_dim": {},
  "kv_channels": {},
  "lm_head_bias": false,
  "max_position_embeddings": {},
  "moe_router_topk": 1,
  "norm_epsilon": {},
  "normalization": "RMSNorm",
  "num_attention_heads": {},
  "num_experts": {},
  "num_hidden_layers": {},
  "num_key_value_heads": {},
  "num_query_groups": {},
  "pad_token_id": {},
  "partial_rotary_factor": {},
  "residual_in_fp32": true,
  "rope_scaling": false,
  "rope_theta": {},
  "scale_residual_merge": true,
  "sliding_window": null,
  "use_cache": true,
  "vocab_size": {},
  "zaya_mlp_expansion": {},
  "zaya_use_eda": true,
  "zaya_use_mod": true
}}
)",
                     c.bos_id, dtype == DType::bf16 ? "bfloat16" : dtype == DType::f16 ? "float16" : "float32",
                     c.eos_ids.empty() ? 1 : c.eos_ids[0], 2 * c.expert_width, c.hidden, c.head_dim, c.head_dim,
                     c.max_position, c.rms_eps, c.q_heads, c.experts, 2 * c.blocks, c.kv_heads, c.kv_heads, c.pad_id,
                     c.partial_rotary, c.rope_theta, c.vocab, c.router_width);
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) fail(ErrorCode::io, "cannot write {}", path.string());
}

}  // namespace

ModelConfig synth_preset(const std::string& name) {
  ModelConfig c;
  c.bos_id = 2;
  c.eos_ids = {1};
  c.pad_id = 0;
  c.rms_eps = c.router_eps = 1e-5;
  c.partial_rotary = 0.5;
  if (name == "tiny") {
    c.hidden = 64; c.blocks = 3; c.q_heads = 4; c.kv_heads = 2; c.head_dim = 16; c.experts = 4;
    c.expert_width = 48; c.router_width = 16; c.vocab = 384; c.rope_theta = 1e4; c.max_position = 4096;
  } else if (name == "small") {
    c.hidden = 256; c.blocks = 4; c.q_heads = 8; c.kv_heads = 2; c.head_dim = 32; c.experts = 8;
    c.expert_width = 256; c.router_width = 64; c.vocab = 4096; c.rope_theta = 1e5; c.max_position = 8192;
  } else if (name == "medium") {
    c.hidden = 1024; c.blocks = 8; c.q_heads = 8; c.kv_heads = 2; c.head_dim = 64; c.experts = 16;
    c.expert_width = 1024; c.router_width = 128; c.vocab = 32768; c.rope_theta = 1e6; c.max_position = 32768;
  } else if (name == "zaya1-8b") {
    c.hidden = 2048; c.blocks = 40; c.q_heads = 8; c.kv_heads = 2; c.head_dim = 128; c.experts = 16;
    c.expert_width = 2048; c.router_width = 256; c.vocab = 262272; c.rope_theta = 5e6; c.max_position = 131072;
    c.eos_ids = {106};
  } else {
    fail(ErrorCode::invalid_argument, "unknown synth preset '{}' (tiny, small, medium, zaya1-8b)", name);
  }
  c.validate();
  return c;
}

std::vector<std::string> synth_preset_names() { return {"tiny", "small", "medium", "zaya1-8b"}; }

void write_synthetic_checkpoint(const std::filesystem::path& dir, const SynthOptions& options) {
  const ModelConfig& c = options.geometry;
  c.validate();
  if (!is_float_dtype(options.dtype)) fail(ErrorCode::invalid_argument, "synth: dtype must be f32, bf16 or f16");
  if (options.shard_bytes == 0) fail(ErrorCode::invalid_argument, "synth: shard size must be positive");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail(ErrorCode::io, "cannot create {}: {}", dir.string(), ec.message());

  auto tensors = native_tensors(c);
  if (c.layout == CheckpointLayout::legacy) tensors = to_legacy(tensors, c);
  const size_t esize = dtype_size(options.dtype);

  // Group tensors into shards of at most shard_bytes (a single tensor may exceed it).
  std::vector<std::vector<size_t>> shards(1);
  uint64_t current = 0, total = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    uint64_t bytes = 1;
    for (auto d : tensors[i].shape) bytes *= static_cast<uint64_t>(d);
    bytes *= esize;
    if (current > 0 && current + bytes > options.shard_bytes) { shards.emplace_back(); current = 0; }
    shards.back().push_back(i);
    current += bytes;
    total += bytes;
  }

  uint64_t done = 0;
  std::string weight_map;
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string file = shards.size() == 1 ? "model.safetensors"
                                                : fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, shards.size());
    std::vector<TensorSpec> specs;
    for (size_t i : shards[s]) {
      specs.push_back(TensorSpec{tensors[i].file_name, options.dtype, tensors[i].shape});
      weight_map += fmt::format("{}    {}: {}", weight_map.empty() ? "" : ",\n", json::quote(tensors[i].file_name), json::quote(file));
    }
    write_safetensors(dir / file, specs, [&](size_t index, size_t first, std::span<std::byte> out) {
      const SynthTensor& t = tensors[shards[s][index]];
      const uint64_t key = mix64(options.seed ^ hash_name(t.native_name));
      const size_t count = out.size() / esize;
      for (size_t k = 0; k < count; ++k) {
        const size_t element = t.native_offset + first + k;
        float value;
        if (element == t.special_skip_index) {
          value = -1.0f;
        } else {
          const double u = static_cast<double>(mix64(key + element) >> 11) * 0x1.0p-53 * 2.0 - 1.0;  // [-1, 1)
          value = static_cast<float>(t.law.center + t.law.spread * (t.law.absolute ? std::fabs(u) : u));
        }
        std::byte* dst = out.data() + k * esize;
        if (options.dtype == DType::f32) std::memcpy(dst, &value, 4);
        else {
          uint16_t h = options.dtype == DType::bf16 ? f32_to_bf16(value) : f32_to_f16(value);
          std::memcpy(dst, &h, 2);
        }
      }
      done += out.size();
      if (options.progress) options.progress(done, total);
    }, {{"format", "pt"}});
  }
  if (shards.size() > 1)
    write_text(dir / "model.safetensors.index.json",
               fmt::format("{{\n  \"metadata\": {{\"total_size\": {}}},\n  \"weight_map\": {{\n{}\n  }}\n}}\n", total, weight_map));
  write_text(dir / "config.json",
             c.layout == CheckpointLayout::native ? native_config_json(c, options.dtype) : legacy_config_json(c, options.dtype));
}

}  // namespace zaya
