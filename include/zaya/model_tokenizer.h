// zaya/model_tokenizer.h - the tokenizer that comes with a model: tokenizer.json and its side
// files (tokenizer_config.json, special_tokens_map.json, chat_template.jinja) in a checkpoint
// directory, or the copies `zaya quantize` embeds in a GGUF file.
#pragma once

#include <zaya/tokenizer.h>

#include <filesystem>

namespace zaya {

// `path`: a checkpoint directory, a tokenizer.json file, or a zaya GGUF file. Throws zaya::Error
// (io when there is no tokenizer, bad_format / unsupported as Tokenizer::load).
Tokenizer load_model_tokenizer(const std::filesystem::path& path);

// Whether load_model_tokenizer(path) has something to load (it may still fail on bad content).
bool model_has_tokenizer(const std::filesystem::path& path);

}  // namespace zaya
