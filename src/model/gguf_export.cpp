// src/model/gguf_export.cpp - `zaya quantize`: an HF checkpoint directory -> one GGUF v3 file.
#include "weights.h"

#include <zaya/config.h>
#include <zaya/error.h>
#include <zaya/gguf.h>
#include <zaya/mapped_file.h>
#include <zaya/model.h>
#include <zaya/quant.h>
#include <zaya/quantization.h>
#include <zaya/safetensors.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

namespace zaya {

MatrixClass matrix_class_of(std::string_view name) noexcept {
  auto has = [&](std::string_view part) { return name.find(part) != std::string_view::npos; };
  if (name == "model.embed_tokens.weight" || name == "lm_head.weight") return MatrixClass::head;
  if (has(".mlp.experts.") || has(".experts.local_experts.")) return MatrixClass::experts;
  for (std::string_view p : {"self_attn.qkv_proj.q_proj.weight", "self_attn.qkv_proj.k_proj.weight",
                             "self_attn.qkv_proj.v_proj_current.weight", "self_attn.qkv_proj.v_proj_delayed.weight",
                             "self_attn.qkv.linear_q.weight", "self_attn.qkv.linear_k.weight", "self_attn.qkv.val_proj1.weight",
                             "self_attn.qkv.val_proj2.weight", "self_attn.o_proj.weight"})
    if (name.size() >= p.size() && name.substr(name.size() - p.size()) == p) return MatrixClass::attention;
  return MatrixClass::router;
}

namespace {

std::string read_optional(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return {};
  return read_text_file(path, size_t(1) << 30);
}

}  // namespace

namespace model {

const std::byte* plain_rows(const TensorInfo& src, size_t cols, size_t first, size_t n, std::vector<std::byte>& scratch) {
  const size_t row_bytes = dtype_row_bytes(src.dtype, cols);
  if (!src.interleaved) return src.data + first * row_bytes;
  const size_t G = interleave_rows(src.dtype);
  const auto slice_rows = static_cast<size_t>(src.shape[src.shape.size() - 2]);
  scratch.resize(n * row_bytes);
  std::vector<std::byte> group(G * row_bytes);
  for (size_t r = first; r < first + n;) {
    const size_t slice = r / slice_rows * slice_rows, in_slice = r - slice;
    const size_t group_start = in_slice / G * G;
    if (group_start + G <= slice_rows) {  // inside a whole group: unpack it, take the rows wanted
      unpack_interleaved(src.dtype, src.data + (slice + group_start) * row_bytes, G, cols, group.data());
      const size_t take = std::min(first + n - r, G - (in_slice - group_start));
      std::memcpy(scratch.data() + (r - first) * row_bytes, group.data() + (in_slice - group_start) * row_bytes,
                  take * row_bytes);
      r += take;
    } else {  // past the matrix's last whole group: stored plain
      const size_t take = std::min(first + n - r, slice_rows - in_slice);
      std::memcpy(scratch.data() + (r - first) * row_bytes, src.data + r * row_bytes, take * row_bytes);
      r += take;
    }
  }
  return scratch.data();
}

}  // namespace model

void quantize_to_gguf(const std::filesystem::path& hf_dir, const QuantizationPlan& plan, const std::filesystem::path& out,
                      int threads, const std::function<void(uint64_t, uint64_t)>& progress, GgufTensorLayout tensor_layout) {
  std::error_code ec;
  const bool from_gguf = is_gguf_file(hf_dir);
  if (!from_gguf && !std::filesystem::is_directory(hf_dir, ec))
    fail(ErrorCode::io, "{} is not a model directory (expected config.json and safetensors files) or a zaya GGUF file",
         hf_dir.string());
  std::vector<GgufKV> meta;
  std::shared_ptr<TensorStore> store;
  std::string config_text;
  if (from_gguf) {
    // Another zaya GGUF file (to change its layout or formats): its metadata carries over.
    auto file = std::make_shared<const GgufFile>(hf_dir);
    if (!file->metadata().contains("general.architecture") || file->metadata().get_string("general.architecture") != "zaya")
      fail(ErrorCode::unsupported, "{}: not a zaya GGUF file", hf_dir.string());
    config_text = file->metadata().get_string("zaya.config_json");
    // With an empty plan the formats stay, and so does zaya.quantization, which describes them.
    for (const GgufKV& kv : file->metadata().entries())
      if (kv.key != "general.alignment" && (kv.key != "zaya.quantization" || plan.empty()) && kv.key != "zaya.tensor_layout")
        meta.push_back(kv);
    store = TensorStore::from_gguf(file);
  } else {
    config_text = read_text_file(hf_dir / "config.json", size_t(16) << 20);
    store = TensorStore::open_directory(hf_dir);
  }
  const CheckpointLayout layout = model::detect_layout(*store);
  const ModelConfig config = ModelConfig::parse(config_text, layout);
  // Loading the weights checks every tensor (presence, dtype, shape) before anything is written.
  (void)model::load_weights(store, config);

  const GgufKV layout_entry{"zaya.tensor_layout", GgufValue(std::string(tensor_layout == GgufTensorLayout::r16 ? "r16" : "ggml"))};
  if (from_gguf) {
    if (!plan.empty()) meta.push_back({"zaya.quantization", GgufValue(plan.to_string())});
    meta.push_back(layout_entry);
  } else {
    meta.push_back({"general.architecture", GgufValue("zaya")});
    meta.push_back({"general.name", GgufValue(std::filesystem::absolute(hf_dir).lexically_normal().filename().string())});
    meta.push_back({"zaya.config_json", GgufValue(config_text)});
    meta.push_back({"zaya.layout", GgufValue(layout_name(layout))});
    meta.push_back({"zaya.quantization", GgufValue(plan.empty() ? std::string("none") : plan.to_string())});
    meta.push_back(layout_entry);
    meta.push_back({"zaya.hidden_size", GgufValue(static_cast<uint32_t>(config.hidden))});
    meta.push_back({"zaya.block_count", GgufValue(static_cast<uint32_t>(config.blocks))});
    meta.push_back({"zaya.attention.head_count", GgufValue(static_cast<uint32_t>(config.q_heads))});
    meta.push_back({"zaya.attention.head_count_kv", GgufValue(static_cast<uint32_t>(config.kv_heads))});
    meta.push_back({"zaya.attention.key_length", GgufValue(static_cast<uint32_t>(config.head_dim))});
    meta.push_back({"zaya.expert_count", GgufValue(static_cast<uint32_t>(config.experts))});
    meta.push_back({"zaya.expert_feed_forward_length", GgufValue(static_cast<uint32_t>(config.expert_width))});
    meta.push_back({"zaya.router_hidden_size", GgufValue(static_cast<uint32_t>(config.router_width))});
    meta.push_back({"zaya.vocab_size", GgufValue(static_cast<uint32_t>(config.vocab))});
    meta.push_back({"zaya.context_length", GgufValue(static_cast<uint32_t>(config.max_position))});
    meta.push_back({"zaya.rope.freq_base", GgufValue(static_cast<float>(config.rope_theta))});
    meta.push_back({"zaya.attention.layer_norm_rms_epsilon", GgufValue(static_cast<float>(config.rms_eps))});
    if (std::string t = read_optional(hf_dir / "tokenizer.json"); !t.empty()) meta.push_back({"tokenizer.huggingface.json", GgufValue(t)});
    if (std::string t = read_optional(hf_dir / "chat_template.jinja"); !t.empty()) meta.push_back({"tokenizer.chat_template", GgufValue(t)});
    if (std::string t = read_optional(hf_dir / "tokenizer_config.json"); !t.empty()) meta.push_back({"zaya.tokenizer_config_json", GgufValue(t)});
    if (std::string t = read_optional(hf_dir / "special_tokens_map.json"); !t.empty()) meta.push_back({"zaya.special_tokens_map_json", GgufValue(t)});
    if (std::string t = read_optional(hf_dir / "generation_config.json"); !t.empty()) meta.push_back({"zaya.generation_config_json", GgufValue(t)});
  }

  // Tensors in name order, each converted as the plan says for its class.
  std::vector<TensorSpec> specs;
  std::vector<const TensorInfo*> sources;
  for (const auto& [name, info] : store->tensors()) {
    DType target = info->dtype;
    if (info->shape.size() >= 2) target = plan.resolve(matrix_class_of(name), info->dtype, info->shape.back());
    // R16: every block-quantized matrix (only weight matrices are ever quantized).
    const bool interleave = tensor_layout == GgufTensorLayout::r16 && info->shape.size() >= 2 && interleave_rows(target) > 0;
    specs.push_back({name, target, info->shape, interleave});
    sources.push_back(info);
  }
  const unsigned workers = static_cast<unsigned>(
      std::max(1, threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))));
  auto fill = [&](size_t index, size_t first_element, std::span<std::byte> bytes) {
    const TensorInfo& src = *sources[index];
    const DType target = specs[index].dtype;
    const size_t cols = src.shape.empty() ? 1 : static_cast<size_t>(src.shape.back());
    const size_t out_row = dtype_row_bytes(target, cols);
    const size_t rows = bytes.size() / out_row;
    const size_t in_row = dtype_row_bytes(src.dtype, cols);
    std::vector<std::byte> scratch;
    const std::byte* in = model::plain_rows(src, cols, first_element / cols, rows, scratch);
    // The file's bytes of these rows (for an interleaved source, the same range: groups never
    // cross a matrix), dropped from the page tables once converted.
    const std::byte* file_rows = src.data + first_element / cols * in_row;
    if (target == src.dtype || rows < 64 || workers == 1) {
      model::convert_matrix_rows(in, src.dtype, cols, target, bytes.data(), rows);
      model::release_file_pages(file_rows, rows * in_row);
      return;
    }
    std::atomic<size_t> next{0};
    const size_t chunk = std::max<size_t>(16, rows / (8 * workers));
    auto work = [&] {
      for (size_t r0; (r0 = next.fetch_add(chunk)) < rows;) {
        const size_t n = std::min(rows, r0 + chunk) - r0;
        model::convert_matrix_rows(in + r0 * in_row, src.dtype, cols, target, bytes.data() + r0 * out_row, n);
      }
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < workers; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    model::release_file_pages(file_rows, rows * in_row);  // keeps the resident set at one chunk, not the model
  };
  // Tensors at multiples of 64 bytes (general.alignment, which every GGUF reader honours): a
  // memory-mapped R16 matrix is then read in whole cache lines by aligned zmm loads. At ggml's
  // default of 32, half the tensors started mid-line and every 64-byte load of them straddled two.
  write_gguf(out, meta, specs, fill, kGgufExportAlignment, progress);
}

}  // namespace zaya
