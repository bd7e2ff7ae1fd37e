// src/model/model.cpp - Model::load: config.json + safetensors -> checked weights + backend.
#include "weights.h"

#include <zaya/error.h>
#include <zaya/mapped_file.h>
#include <zaya/model.h>

namespace zaya {

Model::~Model() = default;

std::shared_ptr<const Model> Model::load(const std::filesystem::path& directory, const ModelOptions& options) {
  auto report = [&](float fraction) {
    if (options.progress && !options.progress(fraction)) fail(ErrorCode::cancelled, "model load cancelled");
  };
  std::error_code ec;
  if (!std::filesystem::is_directory(directory, ec))
    fail(ErrorCode::io, "{} is not a model directory (expected config.json and safetensors files)", directory.string());
  report(0.0f);
  std::string config_text = read_text_file(directory / "config.json", size_t(16) << 20);
  auto store = TensorStore::open_directory(directory);
  report(0.3f);
  const CheckpointLayout layout = model::detect_layout(*store);

  std::shared_ptr<Model> m(new Model());
  m->config_ = ModelConfig::parse(config_text, layout);
  m->options_ = options;
  m->directory_ = directory;
  m->weights_ = std::make_unique<model::ModelWeights>(model::load_weights(store, m->config_));
  store.reset();
  report(0.5f);
  if (options.storage == WeightStorage::copied)
    model::copy_weights_to_arena(*m->weights_, [&](float f) { report(0.5f + 0.45f * f); return true; });
  report(0.95f);
  auto choice = create_backend(options.backend);
  m->backend_ = std::move(choice.backend);
  m->backend_log_ = std::move(choice.log);
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
  i.backend = backend_->description();
  i.backend_log = backend_log_;
  return i;
}

}  // namespace zaya
