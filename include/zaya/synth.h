// zaya/synth.h - writes synthetic ZAYA1 checkpoints (random weights, any geometry) in the
// Hugging Face format, in either layout. Deterministic by seed; streamed to disk, so even the
// full ZAYA1-8B geometry (~17 GB in bf16) never sits in memory.
#pragma once

#include <zaya/config.h>
#include <zaya/dtype.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace zaya {

struct SynthOptions {
  ModelConfig geometry;                     // layout field chooses native or legacy names/schema
  DType dtype = DType::bf16;                // f32, bf16 or f16
  uint64_t seed = 0;
  uint64_t shard_bytes = uint64_t(5) << 30; // split into model-0000k-of-0000n.safetensors above this
  std::function<void(uint64_t done, uint64_t total)> progress;
};

// Named geometries: "tiny" (the golden tiny-a shape), "small", "medium", "zaya1-8b".
ModelConfig synth_preset(const std::string& name);
std::vector<std::string> synth_preset_names();

// Writes config.json and the safetensors file(s) into `directory` (created if needed).
void write_synthetic_checkpoint(const std::filesystem::path& directory, const SynthOptions& options);

}  // namespace zaya
