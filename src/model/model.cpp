// src/model/model.cpp - Model::load: config.json + safetensors (or one GGUF file) -> checked weights + backend.
#include "head_shortlist.h"
#include "weights.h"

#include <zaya/error.h>
#include <zaya/gguf.h>
#include <zaya/mapped_file.h>
#include <zaya/model.h>

#include <cstdio>
#include <cstring>

namespace zaya {

Model::~Model() = default;

bool is_gguf_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  char magic[4] = {};
  const bool gguf = std::fread(magic, 1, 4, f) == 4 && std::memcmp(magic, "GGUF", 4) == 0;
  std::fclose(f);
  return gguf;
}

namespace {

// The typed geometry keys `zaya quantize` writes must agree with the embedded config.json: a
// mismatch means the file was edited or damaged.
void check_gguf_geometry(const GgufFile& file, const ModelConfig& c) {
  const auto& meta = file.metadata();
  const std::pair<const char*, int64_t> keys[] = {
      {"zaya.hidden_size", c.hidden}, {"zaya.block_count", c.blocks}, {"zaya.attention.head_count", c.q_heads},
      {"zaya.attention.head_count_kv", c.kv_heads}, {"zaya.attention.key_length", c.head_dim},
      {"zaya.expert_count", c.experts}, {"zaya.expert_feed_forward_length", c.expert_width},
      {"zaya.router_hidden_size", c.router_width}, {"zaya.vocab_size", c.vocab}};
  for (const auto& [key, value] : keys)
    if (meta.contains(key) && meta.get_int(key) != value)
      fail(ErrorCode::bad_format, "{}: metadata '{}' is {} but zaya.config_json says {}", file.path().filename().string(), key,
           meta.get_int(key), value);
}

}  // namespace

std::shared_ptr<const Model> Model::load(const std::filesystem::path& directory, const ModelOptions& options) {
  auto report = [&](float fraction) {
    if (options.progress && !options.progress(fraction)) fail(ErrorCode::cancelled, "model load cancelled");
  };
  std::error_code ec;
  const bool gguf = is_gguf_file(directory);
  if (!gguf && !std::filesystem::is_directory(directory, ec))
    fail(ErrorCode::io, "{} is neither a model directory (config.json and safetensors files) nor a GGUF file",
         directory.string());
  report(0.0f);
  std::string config_text;
  std::shared_ptr<TensorStore> store;
  std::shared_ptr<const GgufFile> gguf_file;
  if (gguf) {
    gguf_file = std::make_shared<const GgufFile>(directory);
    const auto& meta = gguf_file->metadata();
    if (!meta.contains("general.architecture") || meta.get_string("general.architecture") != "zaya")
      fail(ErrorCode::unsupported, "{}: a GGUF file for architecture '{}', not a zaya model", directory.string(),
           meta.contains("general.architecture") && meta.get("general.architecture").is_string()
               ? meta.get_string("general.architecture") : std::string("?"));
    config_text = meta.get_string("zaya.config_json");
    store = TensorStore::from_gguf(gguf_file);
  } else {
    config_text = read_text_file(directory / "config.json", size_t(16) << 20);
    store = TensorStore::open_directory(directory);
  }
  report(0.3f);
  const CheckpointLayout layout = model::detect_layout(*store);

  std::shared_ptr<Model> m(new Model());
  m->config_ = ModelConfig::parse(config_text, layout);
  if (gguf_file) check_gguf_geometry(*gguf_file, m->config_);
  gguf_file.reset();  // the store keeps the mapping alive as long as the weights need it
  m->options_ = options;
  m->directory_ = directory;
  m->weights_ = std::make_unique<model::ModelWeights>(model::load_weights(store, m->config_));
  store.reset();
  report(0.5f);
  auto choice = create_backend(options.backend);
  m->backend_ = std::move(choice.backend);
  m->backend_log_ = std::move(choice.log);
  const bool cpu = m->backend_->name() == "cpu";
  // Matrices stored in zaya's R16 layout (a GGUF written with --layout r16) are what the CPU
  // kernels read; any other backend gets them back in ggml's layout, in an arena.
  bool interleaved = false;
  model::for_each_matrix(*m->weights_, [&](WeightMatrix& w, MatrixClass) { interleaved = interleaved || w.interleaved; });
  if (options.storage == WeightStorage::copied || !options.quantize.empty() || (interleaved && !cpu))
    model::store_weights_in_arena(*m->weights_, options.quantize, cpu, 0,
                                  [&](float f) { report(0.5f + 0.45f * f); return true; });
  if (options.head_shortlist > 0) {
    if (m->backend_->name() != "cpu")
      fail(ErrorCode::unsupported, "head_shortlist: only the CPU backend has it (backend in use: {})", m->backend_->name());
    m->weights_->head_shortlist = model::build_head_shortlist(m->weights_->lm_head, options.head_shortlist);
  }
  report(1.0f);
  return m;
}

ModelInfo Model::info() const {
  ModelInfo i;
  i.directory = directory_;
  i.config = config_;
  i.stored_dtypes = weights_->stored_dtypes;
  i.tensor_count = weights_->tensor_count;
  i.stored_bytes = weights_->stored_bytes;
  i.total_params = weights_->total_params;
  i.active_params = weights_->active_params;
  i.embedding_params = weights_->embedding_params;
  i.head_shortlist_bytes = weights_->head_shortlist.k ? weights_->head_shortlist.approx.bytes() : 0;
  i.backend = backend_->description();
  i.backend_log = backend_log_;
  return i;
}

}  // namespace zaya
