// zaya/tokenizer.h - Hugging Face `tokenizer.json` tokenizers (byte-fallback BPE as used by
// Gemma 3 / ZAYA1, SentencePiece-derived and byte-level BPE tokenizers).
//
// Encoding follows the reference `tokenizers` library step by step: added tokens are matched
// first (on the raw text, then on the normalized text for `normalized` ones), the remaining
// pieces are normalized, pre-tokenized and run through the BPE model, and the post-processor adds
// BOS/EOS-style special tokens. Anything in a tokenizer.json that zaya does not implement is
// rejected at load time with ErrorCode::unsupported rather than silently producing other ids.
//
// Supported: model BPE (byte_fallback, fuse_unk, ignore_merges, unk_token, continuing_subword_prefix,
// end_of_word_suffix; merges as "a b" or ["a", "b"]); added tokens with special / single_word /
// lstrip / rstrip / normalized; normalizers Replace (literal), Prepend, Strip, NFC, NFD, NFKC, NFKD,
// Sequence; pre-tokenizers Split (literal, or the GPT-2 / Llama 3 / Qwen 2 word regexes, every
// behavior, invert), Metaspace, ByteLevel, Digits, Sequence; post-processors TemplateProcessing,
// ByteLevel, RobertaProcessing, BertProcessing, Sequence; decoders Replace (literal), ByteFallback,
// Fuse, Strip, Metaspace, ByteLevel, Sequence.
//
// A Tokenizer is immutable after loading; copies share the loaded data, and concurrent
// encode/decode calls from several threads are safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zaya {

// A special token named by tokenizer_config.json / special_tokens_map.json (or inferred from the
// tokenizer itself). `id` is empty when the text is not a token of this tokenizer.
struct SpecialToken {
  std::string text;
  std::optional<int32_t> id;
};

class StreamingDecoder;

class Tokenizer {
 public:
  // Loads `tokenizer.json` (a file, or a directory containing one) plus, when present next to it,
  // tokenizer_config.json, special_tokens_map.json and chat_template.jinja.
  // Throws zaya::Error: io (unreadable), bad_format (malformed), unsupported (unknown components).
  static Tokenizer load(const std::filesystem::path& file_or_model_dir);

  // Builds a tokenizer from the texts themselves (the side files may be empty), e.g. the copies
  // embedded in a GGUF file (zaya/model_tokenizer.h).
  static Tokenizer from_json(std::string_view tokenizer_json, std::string_view tokenizer_config_json = {},
                             std::string_view special_tokens_map_json = {}, std::string_view chat_template = {});

  // Text (must be valid UTF-8, else ErrorCode::invalid_argument naming the byte offset) -> ids.
  // add_special_tokens applies the post-processor (e.g. Gemma's leading <bos>).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;

  // ids -> text through the tokenizer's decoder. An id that names no token is
  // ErrorCode::out_of_range. Invalid byte sequences from byte-fallback tokens become U+FFFD.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // Highest id + 1 over the model vocabulary and the added tokens.
  size_t vocab_size() const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // The token's text (added-token content or model vocabulary entry). Throws ErrorCode::out_of_range
  // for ids outside [0, vocab_size()); returns an empty view for an id inside that range that no
  // token uses (a hole in a sparse vocabulary).
  std::string_view id_to_token(int32_t id) const;
  // True for added tokens flagged "special" (what decode(skip_special_tokens=true) drops).
  bool is_special(int32_t id) const;

  // From tokenizer_config.json / special_tokens_map.json when present; otherwise inferred where
  // possible (bos/eos from the post-processor template, unk from the model).
  const std::optional<SpecialToken>& bos_token() const;
  const std::optional<SpecialToken>& eos_token() const;
  const std::optional<SpecialToken>& pad_token() const;
  const std::optional<SpecialToken>& unk_token() const;
  // add_bos_token / add_eos_token from tokenizer_config.json, else whether the post-processor's
  // single-sequence template starts with the BOS token / ends with the EOS token.
  bool add_bos_token() const;
  bool add_eos_token() const;
  // The chat template source: chat_template.jinja next to tokenizer.json if present, else
  // tokenizer_config.json "chat_template" (a string, or the "default" entry of a list of
  // {name, template}). Empty if there is none.
  const std::string& chat_template() const;

  StreamingDecoder streaming_decoder(bool skip_special_tokens = false) const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
  friend class StreamingDecoder;
};

// Incremental detokenization for generation: push ids one at a time, get back text as soon as it
// is final. Every returned string is complete UTF-8, and the concatenation of all push() results
// and finish() equals tokenizer.decode(all ids). Byte-fallback tokens (<0xE2> ...) and partial
// byte-level sequences are held back until the character they belong to is complete.
// For the rare decoder chains whose output can change at the very end (a Strip of trailing
// characters after Fuse, a multi-character Replace after Fuse, ByteFallback after Fuse),
// everything is held until finish().
class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);
  // Throws ErrorCode::out_of_range for an id that names no token (the decoder state is unchanged).
  std::string push(int32_t id);
  // Returns whatever is still held back and resets the decoder for a new sequence.
  std::string finish();
  void reset();

 private:
  std::shared_ptr<const Tokenizer::Impl> impl_;
  bool skip_special_tokens_;
  bool at_start_ = true;
  std::vector<std::string> window_;  // tokens since the last point where the output was final
};

}  // namespace zaya
