// src/generation/model_tokenizer.cpp - a model's tokenizer, from its directory or its GGUF file.
#include <zaya/error.h>
#include <zaya/gguf.h>
#include <zaya/model.h>
#include <zaya/model_tokenizer.h>

namespace zaya {

bool model_has_tokenizer(const std::filesystem::path& path) {
  std::error_code ec;
  if (is_gguf_file(path)) return GgufFile(path).metadata().contains("tokenizer.huggingface.json");
  if (std::filesystem::is_directory(path, ec)) return std::filesystem::is_regular_file(path / "tokenizer.json", ec);
  return std::filesystem::is_regular_file(path, ec);
}

Tokenizer load_model_tokenizer(const std::filesystem::path& path) {
  if (!is_gguf_file(path)) return Tokenizer::load(path);
  const GgufFile file(path);
  const auto& meta = file.metadata();
  if (!meta.contains("tokenizer.huggingface.json"))
    fail(ErrorCode::io, "tokenizer: {} embeds no tokenizer (no 'tokenizer.huggingface.json' metadata)", path.string());
  auto text = [&](const char* key) { return meta.contains(key) ? meta.get_string(key) : std::string(); };
  return Tokenizer::from_json(meta.get_string("tokenizer.huggingface.json"), text("zaya.tokenizer_config_json"),
                              text("zaya.special_tokens_map_json"), text("tokenizer.chat_template"));
}

}  // namespace zaya
