// src/io/config.cpp - config.json (native and legacy schemas) -> ModelConfig.
#include <zaya/config.h>
#include <zaya/error.h>

#include <simdjson.h>

#include <cmath>
#include <optional>

namespace zaya {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

std::optional<element> field(const object& obj, std::string_view key) {
  element e;
  if (obj.at_key(key).get(e)) return std::nullopt;
  if (e.is_null()) return std::nullopt;
  return e;
}

// Integer field; list-valued per-layer fields (ZAYA1-base schema) yield their first non-zero entry.
std::optional<int64_t> get_int(const object& obj, std::string_view key) {
  auto e = field(obj, key);
  if (!e) return std::nullopt;
  int64_t v = 0;
  if (!e->get(v)) return v;
  double d = 0;
  if (!e->get(d) && std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
  simdjson::dom::array arr;
  if (!e->get(arr)) {
    for (auto item : arr) {
      int64_t x = 0;
      if (!item.get(x) && x != 0) return x;
    }
    return std::nullopt;
  }
  fail(ErrorCode::bad_format, "config.json: \"{}\" must be an integer", key);
}

std::optional<double> get_double(const object& obj, std::string_view key) {
  auto e = field(obj, key);
  if (!e) return std::nullopt;
  double d = 0;
  if (!e->get(d)) return d;
  int64_t i = 0;
  if (!e->get(i)) return static_cast<double>(i);
  fail(ErrorCode::bad_format, "config.json: \"{}\" must be a number", key);
}

int64_t require_int(const object& obj, std::string_view key) {
  auto v = get_int(obj, key);
  if (!v) fail(ErrorCode::bad_format, "config.json: missing \"{}\"", key);
  return *v;
}

}  // namespace

ModelConfig ModelConfig::parse(std::string_view json_text, CheckpointLayout layout) {
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(json_text.data(), json_text.size(), true).get(root))
    fail(ErrorCode::bad_format, "config.json: malformed JSON: {}", simdjson::error_message(err));
  object obj;
  if (root.get(obj)) fail(ErrorCode::bad_format, "config.json: top level is not an object");

  ModelConfig c;
  c.layout = layout;
  c.hidden = require_int(obj, "hidden_size");
  c.vocab = require_int(obj, "vocab_size");
  c.experts = require_int(obj, "num_experts");
  c.max_position = get_int(obj, "max_position_embeddings").value_or(131072);
  if (auto tie = field(obj, "tie_word_embeddings")) {
    bool b = true;
    if (tie->get(b)) fail(ErrorCode::bad_format, "config.json: \"tie_word_embeddings\" must be a boolean");
    c.tie_embeddings = b;
  }
  if (auto s = field(obj, "dtype")) { std::string_view v; if (!s->get(v)) c.dtype = std::string(v); }
  if (c.dtype.empty()) if (auto s = field(obj, "torch_dtype")) { std::string_view v; if (!s->get(v)) c.dtype = std::string(v); }
  c.bos_id = get_int(obj, "bos_token_id").value_or(-1);
  c.pad_id = get_int(obj, "pad_token_id").value_or(-1);
  if (auto e = field(obj, "eos_token_id")) {
    int64_t v = 0;
    simdjson::dom::array arr;
    if (!e->get(v)) c.eos_ids.push_back(v);
    else if (!e->get(arr)) for (auto item : arr) { if (!item.get(v)) c.eos_ids.push_back(v); }
    else fail(ErrorCode::bad_format, "config.json: \"eos_token_id\" must be an integer or a list");
  }

  // Experts per token: ZAYA1 routes every token to exactly one expert (or the skip class).
  if (auto k = get_int(obj, "num_experts_per_tok"); k && *k != 1)
    fail(ErrorCode::unsupported, "config.json: num_experts_per_tok = {}; ZAYA1 models route to exactly 1", *k);
  if (auto k = get_int(obj, "moe_router_topk"); k && *k != 1)
    fail(ErrorCode::unsupported, "config.json: moe_router_topk = {}; ZAYA1 models route to exactly 1", *k);
  for (auto key : {"cca_time0", "cca_time1"})
    if (auto t = get_int(obj, key); t && *t != 2)
      fail(ErrorCode::unsupported, "config.json: {} = {}; only kernel size 2 (all released ZAYA1 models) is supported", key, *t);

  if (layout == CheckpointLayout::native) {
    c.blocks = require_int(obj, "num_hidden_layers");
    c.q_heads = require_int(obj, "num_attention_heads");
    c.kv_heads = require_int(obj, "num_key_value_heads");
    c.head_dim = get_int(obj, "head_dim").value_or(c.q_heads > 0 ? c.hidden / c.q_heads : 0);
    c.expert_width = require_int(obj, "moe_intermediate_size");
    c.router_width = require_int(obj, "router_hidden_size");
    c.rms_eps = get_double(obj, "rms_norm_eps").value_or(1e-5);
    c.router_eps = c.rms_eps;
    c.rope_theta = get_double(obj, "rope_theta").value_or(5e6);
    c.partial_rotary = get_double(obj, "partial_rotary_factor").value_or(0.5);
    if (auto lt = field(obj, "layer_types")) {
      simdjson::dom::array arr;
      if (lt->get(arr)) fail(ErrorCode::bad_format, "config.json: \"layer_types\" must be a list");
      for (auto item : arr) {
        std::string_view s;
        if (item.get(s)) fail(ErrorCode::bad_format, "config.json: \"layer_types\" entries must be strings");
        if (s != "hybrid")
          fail(ErrorCode::unsupported, "config.json: layer type '{}' (sliding-window blocks of ZAYA1-74B) is not supported", s);
      }
    }
    if (auto rp = field(obj, "rope_parameters")) {
      object rpo;
      if (rp->get(rpo)) fail(ErrorCode::bad_format, "config.json: \"rope_parameters\" must be an object");
      object hybrid;
      object src = rpo;
      if (auto h = field(rpo, "hybrid"); h && !h->get(hybrid)) src = hybrid;
      if (auto t = get_double(src, "rope_theta")) c.rope_theta = *t;
      if (auto p = get_double(src, "partial_rotary_factor")) c.partial_rotary = *p;
      if (auto e = field(src, "rope_type")) {
        std::string_view type;
        if (!e->get(type) && type != "default")
          fail(ErrorCode::unsupported, "config.json: rope_type '{}' is not supported (only 'default')", type);
      }
    }
  } else {
    // Legacy / Megatron-style schema. num_hidden_layers counts sub-layers (and is stale in the
    // ZAYA1-base configs), so prefer the length of zaya_layers when it exists.
    int64_t sub_layers = 0;
    bool base_schema = false;
    if (auto zl = field(obj, "zaya_layers")) {
      simdjson::dom::array arr;
      if (zl->get(arr)) fail(ErrorCode::bad_format, "config.json: \"zaya_layers\" must be a list");
      sub_layers = static_cast<int64_t>(arr.size());
      base_schema = true;
    } else {
      sub_layers = require_int(obj, "num_hidden_layers");
    }
    if (sub_layers <= 0 || sub_layers % 2 != 0)
      fail(ErrorCode::bad_format, "config.json: legacy layout needs an even number of sub-layers, got {}", sub_layers);
    c.blocks = sub_layers / 2;
    c.q_heads = get_int(obj, "cca_num_q_heads").value_or(0);
    if (c.q_heads == 0) c.q_heads = require_int(obj, "num_attention_heads");
    c.kv_heads = get_int(obj, "num_query_groups_list").value_or(0);
    if (c.kv_heads == 0) c.kv_heads = get_int(obj, "num_query_groups").value_or(0);
    if (c.kv_heads == 0) c.kv_heads = require_int(obj, "num_key_value_heads");
    c.head_dim = get_int(obj, "head_dim").value_or(0);
    if (c.head_dim == 0) c.head_dim = get_int(obj, "kv_channels").value_or(0);
    if (c.head_dim == 0) {
      int64_t heads = require_int(obj, "num_attention_heads");
      if (heads <= 0) fail(ErrorCode::bad_format, "config.json: num_attention_heads must be positive");
      c.head_dim = c.hidden / heads;
    }
    int64_t ffn = get_int(obj, "ffn_hidden_size_list").value_or(0);
    if (ffn == 0) ffn = require_int(obj, "ffn_hidden_size");
    if (auto glu = field(obj, "gated_linear_unit")) {
      bool g = true;
      if (!glu->get(g) && !g) fail(ErrorCode::unsupported, "config.json: gated_linear_unit = false is not supported");
    }
    if (ffn % 2 != 0) fail(ErrorCode::bad_format, "config.json: ffn_hidden_size {} is not even (gate and up are fused)", ffn);
    c.expert_width = ffn / 2;
    c.router_width = require_int(obj, "zaya_mlp_expansion");
    c.rms_eps = get_double(obj, "norm_epsilon").value_or(get_double(obj, "rms_norm_eps").value_or(1e-5));
    // ZAYA1-base's loader: router norm eps = layernorm_epsilon if present, else 1e-6.
    c.router_eps = base_schema ? get_double(obj, "layernorm_epsilon").value_or(1e-6) : c.rms_eps;
    c.rope_theta = get_double(obj, "rope_theta").value_or(5e6);
    c.partial_rotary = get_double(obj, "partial_rotary_factor").value_or(0.5);
    if (auto eda = field(obj, "zaya_use_eda")) {
      bool b = true;
      if (!eda->get(b) && !b) fail(ErrorCode::unsupported, "config.json: zaya_use_eda = false is not supported");
    }
  }
  // rope_scaling: false (legacy, a boolean), null, or a "default" object are all "no scaling".
  if (auto rs = field(obj, "rope_scaling")) {
    bool b = false;
    object o;
    if (!rs->get(b)) {
      if (b) fail(ErrorCode::unsupported, "config.json: rope_scaling = true is not supported");
    } else if (!rs->get(o)) {
      std::string_view type;
      element t;
      if ((!o.at_key("rope_type").get(t) || !o.at_key("type").get(t)) && !t.get(type) && type != "default")
        fail(ErrorCode::unsupported, "config.json: rope scaling '{}' is not supported", type);
    }
  }
  c.validate();
  return c;
}

void ModelConfig::validate() const {
  auto positive = [](const char* name, int64_t v, int64_t max_value) {
    if (v <= 0) fail(ErrorCode::bad_format, "config.json: {} must be positive, got {}", name, v);
    if (v > max_value) fail(ErrorCode::bad_format, "config.json: {} = {} is absurdly large (limit {})", name, v, max_value);
  };
  positive("hidden_size", hidden, 1 << 16);
  positive("number of blocks", blocks, 1024);
  positive("query heads", q_heads, 1024);
  positive("key/value heads", kv_heads, 1024);
  positive("head_dim", head_dim, 4096);
  positive("num_experts", experts, 4096);
  positive("expert width", expert_width, 1 << 18);
  positive("router width", router_width, 1 << 16);
  positive("vocab_size", vocab, int64_t(1) << 24);
  positive("max_position_embeddings", max_position, int64_t(1) << 24);
  if (q_heads % kv_heads != 0)
    fail(ErrorCode::bad_format, "config.json: {} query heads do not divide into {} key/value heads", q_heads, kv_heads);
  if (kv_heads % 2 != 0)
    fail(ErrorCode::bad_format, "config.json: CCA needs an even number of key/value heads (current + delayed values), got {}", kv_heads);
  if (!(rms_eps > 0 && rms_eps < 1) || !(router_eps > 0 && router_eps < 1))
    fail(ErrorCode::bad_format, "config.json: RMSNorm epsilon must be in (0, 1)");
  if (!(rope_theta > 1 && std::isfinite(rope_theta))) fail(ErrorCode::bad_format, "config.json: rope_theta must be > 1");
  if (!(partial_rotary > 0 && partial_rotary <= 1))
    fail(ErrorCode::bad_format, "config.json: partial_rotary_factor must be in (0, 1]");
  if (rotary_dim() % 2 != 0 || rotary_dim() == 0)
    fail(ErrorCode::bad_format, "config.json: rotary dimension {} (head_dim x partial_rotary_factor) must be even and > 0", rotary_dim());
  if (bos_id >= vocab) fail(ErrorCode::bad_format, "config.json: bos_token_id {} >= vocab_size {}", bos_id, vocab);
  for (auto e : eos_ids)
    if (e < 0 || e >= vocab) fail(ErrorCode::bad_format, "config.json: eos_token_id {} outside the vocabulary of {}", e, vocab);
}

}  // namespace zaya
