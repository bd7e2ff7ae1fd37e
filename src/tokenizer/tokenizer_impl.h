// src/tokenizer/tokenizer_impl.h - the loaded state behind zaya::Tokenizer.
#pragma once

#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/decoders.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/post_processors.h"
#include "tokenizer/pre_tokenizers.h"

#include <zaya/tokenizer.h>

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace zaya {

struct Tokenizer::Impl {
  tokenizer::BpeModel model;
  std::vector<tokenizer::AddedToken> added_tokens;
  std::unordered_map<std::string, int32_t> added_ids;  // content -> id
  std::vector<int32_t> added_index;                     // id -> index into added_tokens, or -1
  std::vector<uint8_t> special;                         // id -> is a special added token
  tokenizer::AddedTokenMatcher raw_matcher;             // added tokens with normalized == false
  tokenizer::AddedTokenMatcher normalized_matcher;      // added tokens with normalized == true
  std::unique_ptr<tokenizer::Normalizer> normalizer;
  std::unique_ptr<tokenizer::PreTokenizer> pre_tokenizer;
  std::unique_ptr<tokenizer::PostProcessor> post_processor;
  std::unique_ptr<tokenizer::Decoder> decoder;
  tokenizer::StreamingTraits streaming;
  size_t vocab_size = 0;

  std::optional<SpecialToken> bos, eos, pad, unk;
  bool add_bos = false, add_eos = false;
  std::string chat_template;

  void encode(std::string_view text, bool add_special_tokens, std::vector<int32_t>& out) const;
  // Token text for an id; throws ErrorCode::out_of_range if no token has that id.
  std::string_view token_text(int32_t id) const;
  bool is_special(int32_t id) const noexcept {
    return id >= 0 && static_cast<size_t>(id) < special.size() && special[static_cast<size_t>(id)];
  }
  // Runs the decoder over token strings (consumed) and joins the result.
  // `incomplete_tail` (optional) reports whether the text ends inside a byte-level UTF-8 sequence.
  std::string decode_tokens(std::vector<std::string>& tokens, bool at_start, bool* incomplete_tail = nullptr) const;
};

namespace tokenizer {
// Parses tokenizer.json (+ optional tokenizer_config.json and special_tokens_map.json texts).
// `chat_template_file` is the content of chat_template.jinja if one was found (else empty).
std::shared_ptr<Tokenizer::Impl> parse_tokenizer(std::string_view tokenizer_json, std::string_view config_json,
                                                 std::string_view special_tokens_map_json,
                                                 std::string_view chat_template_file);
std::shared_ptr<Tokenizer::Impl> load_tokenizer_file(const std::filesystem::path& tokenizer_json_path,
                                                     std::string_view config_json,
                                                     std::string_view special_tokens_map_json,
                                                     std::string_view chat_template_file);
}  // namespace tokenizer

}  // namespace zaya
