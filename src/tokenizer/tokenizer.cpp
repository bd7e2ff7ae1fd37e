// src/tokenizer/tokenizer.cpp - zaya::Tokenizer: the encode/decode pipelines and file loading.
#include "tokenizer/tokenizer_impl.h"

#include <zaya/error.h>
#include <zaya/utf8.h>

#include <fstream>
#include <sstream>

namespace zaya {

using tokenizer::Piece;
using tokenizer::TextSplit;

// --- encode ------------------------------------------------------------------------------------

void Tokenizer::Impl::encode(std::string_view text, bool add_special_tokens, std::vector<int32_t>& out) const {
  if (const size_t bad = utf8::first_invalid(text); bad != text.size())
    fail(ErrorCode::invalid_argument, "tokenizer: input text is not valid UTF-8 (byte offset {})", bad);

  // 1. Added tokens that match the raw text; 2. normalize the rest, piece by piece, and look
  // for the added tokens that match normalized text; 3. pre-tokenize; 4. BPE each word.
  std::vector<TextSplit> raw_splits;
  raw_matcher.split(text, 0, raw_splits);
  std::vector<TextSplit> normalized_splits;
  std::vector<Piece> pieces;
  for (const TextSplit& split : raw_splits) {
    if (split.token_id >= 0) {
      out.push_back(split.token_id);
      continue;
    }
    std::string normalized(text.substr(split.begin, split.end - split.begin));
    if (normalizer) normalizer->normalize(normalized);
    normalized_splits.clear();
    normalized_matcher.split(normalized, 0, normalized_splits);
    for (const TextSplit& sub : normalized_splits) {
      if (sub.token_id >= 0) {
        out.push_back(sub.token_id);
        continue;
      }
      const bool at_origin = split.begin == 0 && sub.begin == 0;
      if (!pre_tokenizer) {
        model.tokenize(std::string_view(normalized).substr(sub.begin, sub.end - sub.begin), out);
        continue;
      }
      pieces.clear();
      pieces.push_back(Piece{normalized.substr(sub.begin, sub.end - sub.begin), at_origin});
      pre_tokenizer->pre_tokenize(pieces);
      for (const Piece& piece : pieces) model.tokenize(piece.text, out);
    }
  }
  if (add_special_tokens && post_processor) post_processor->process(out);
}

// --- decode ------------------------------------------------------------------------------------

std::string_view Tokenizer::Impl::token_text(int32_t id) const {
  if (id >= 0 && static_cast<size_t>(id) < vocab_size) {
    const int32_t added = added_index[static_cast<size_t>(id)];
    if (added >= 0) return added_tokens[static_cast<size_t>(added)].content;
    if (model.has_id(id)) return model.token(id);
    fail(ErrorCode::out_of_range, "tokenizer: no token has id {} (an unused id of the vocabulary)", id);
  }
  fail(ErrorCode::out_of_range, "tokenizer: token id {} is out of range (vocabulary size {})", id, vocab_size);
}

std::string Tokenizer::Impl::decode_tokens(std::vector<std::string>& tokens, bool at_start, bool* incomplete_tail) const {
  if (incomplete_tail) *incomplete_tail = false;
  std::string text;
  if (!decoder) {
    // Upstream joins with spaces when there is no decoder.
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0 || !at_start) text.push_back(' ');
      text += tokens[i];
    }
    return text;
  }
  tokenizer::DecodeContext context;
  context.at_start = at_start;
  decoder->decode_chain(tokens, context);
  for (const std::string& t : tokens) text += t;
  if (incomplete_tail) *incomplete_tail = context.incomplete_tail;
  return text;
}

// --- public API --------------------------------------------------------------------------------

namespace {

// Size caps: real tokenizer.json files are tens of MB and the side files a few KB; anything far
// larger is refused before it is read (reading it would take that much memory).
constexpr uintmax_t kMaxTokenizerJsonBytes = uintmax_t(1) << 30;
constexpr uintmax_t kMaxSideFileBytes = uintmax_t(64) << 20;

void check_size(const std::filesystem::path& path, uintmax_t max_bytes) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) fail(ErrorCode::io, "cannot read {}: {}", path.string(), ec.message());
  if (size > max_bytes)
    fail(ErrorCode::limit_exceeded, "{} is {} bytes, more than the {} allowed", path.string(), size, max_bytes);
}

std::string read_optional_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return {};
  check_size(path, kMaxSideFileBytes);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorCode::io, "cannot open {}", path.string());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) fail(ErrorCode::io, "cannot read {}", path.string());
  return buffer.str();
}

}  // namespace

Tokenizer Tokenizer::load(const std::filesystem::path& file_or_model_dir) {
  std::error_code ec;
  std::filesystem::path file = file_or_model_dir;
  if (std::filesystem::is_directory(file, ec)) file /= "tokenizer.json";
  if (!std::filesystem::is_regular_file(file, ec))
    fail(ErrorCode::io, "tokenizer: {} does not exist (expected a tokenizer.json file or a directory containing one)",
         file.string());
  check_size(file, kMaxTokenizerJsonBytes);
  const std::filesystem::path dir = file.parent_path();
  const std::string config = read_optional_file(dir / "tokenizer_config.json");
  const std::string special_map = read_optional_file(dir / "special_tokens_map.json");
  const std::string chat_template = read_optional_file(dir / "chat_template.jinja");
  return Tokenizer(tokenizer::load_tokenizer_file(file, config, special_map, chat_template));
}

Tokenizer Tokenizer::from_json(std::string_view tokenizer_json, std::string_view tokenizer_config_json,
                               std::string_view special_tokens_map_json, std::string_view chat_template) {
  return Tokenizer(tokenizer::parse_tokenizer(tokenizer_json, tokenizer_config_json, special_tokens_map_json, chat_template));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  impl_->encode(text, add_special_tokens, ids);
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    const std::string_view text = impl_->token_text(id);
    if (skip_special_tokens && impl_->is_special(id)) continue;
    tokens.emplace_back(text);
  }
  return impl_->decode_tokens(tokens, true);
}

size_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto it = impl_->added_ids.find(std::string(token)); it != impl_->added_ids.end()) return it->second;
  if (int32_t id = impl_->model.find(token); id >= 0) return id;
  return std::nullopt;
}

std::string_view Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->vocab_size)
    fail(ErrorCode::out_of_range, "tokenizer: token id {} is out of range (vocabulary size {})", id, impl_->vocab_size);
  const int32_t added = impl_->added_index[static_cast<size_t>(id)];
  if (added >= 0) return impl_->added_tokens[static_cast<size_t>(added)].content;
  return impl_->model.token(id);  // empty for an unused id
}

bool Tokenizer::is_special(int32_t id) const { return impl_->is_special(id); }

const std::optional<SpecialToken>& Tokenizer::bos_token() const { return impl_->bos; }
const std::optional<SpecialToken>& Tokenizer::eos_token() const { return impl_->eos; }
const std::optional<SpecialToken>& Tokenizer::pad_token() const { return impl_->pad; }
const std::optional<SpecialToken>& Tokenizer::unk_token() const { return impl_->unk; }
bool Tokenizer::add_bos_token() const { return impl_->add_bos; }
bool Tokenizer::add_eos_token() const { return impl_->add_eos; }
const std::string& Tokenizer::chat_template() const { return impl_->chat_template; }

StreamingDecoder Tokenizer::streaming_decoder(bool skip_special_tokens) const {
  return StreamingDecoder(*this, skip_special_tokens);
}

// --- streaming ---------------------------------------------------------------------------------
//
// The decoder keeps the tokens since the last point where the output was final (the "window")
// and decodes just that window on every push. The window's output is final, and the window
// restarts, when (a) the last token is not a byte-fallback token (a following <0x..> could still
// join it into one character, or turn the whole byte run into U+FFFDs), and (b) a byte-level
// decoder's bytes do not end inside a UTF-8 sequence. Every decoder zaya implements works per
// token, per byte run, or on the concatenation, so decoding window by window gives exactly the
// one-shot result; the few chains where that does not hold are flagged by
// StreamingTraits::window_safe and simply held until finish().

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : impl_(tokenizer.impl_), skip_special_tokens_(skip_special_tokens) {}

std::string StreamingDecoder::push(int32_t id) {
  const std::string_view text = impl_->token_text(id);  // throws before changing any state
  if (skip_special_tokens_ && impl_->is_special(id)) return {};
  window_.emplace_back(text);
  if (!impl_->streaming.window_safe) return {};
  unsigned char byte = 0;
  if (impl_->streaming.has_byte_fallback && tokenizer::parse_byte_token(window_.back(), byte)) return {};
  std::vector<std::string> tokens = window_;
  bool incomplete = false;
  std::string decoded = impl_->decode_tokens(tokens, at_start_, &incomplete);
  if (!incomplete) {
    // Nothing to show yet at the very start: keep the window, so that start-of-text rules (a
    // Strip of leading characters after Fuse) also apply to what follows, as in decode().
    if (decoded.empty() && at_start_) return {};
    window_.clear();
    at_start_ = false;
    return decoded;
  }
  // The text ends inside a character. Everything before the last token is final if decoding it
  // separately gives the same text: then no later byte can change it (this also keeps the window
  // short when a model emits a long run of broken bytes).
  if (window_.size() >= 2) {
    std::vector<std::string> head(window_.begin(), window_.end() - 1);
    std::vector<std::string> last(1, window_.back());
    std::string head_text = impl_->decode_tokens(head, at_start_);
    const std::string last_text = impl_->decode_tokens(last, false);
    if (head_text.size() + last_text.size() == decoded.size() && decoded.compare(0, head_text.size(), head_text) == 0 &&
        decoded.compare(head_text.size(), std::string::npos, last_text) == 0 && !(head_text.empty() && at_start_)) {
      window_.erase(window_.begin(), window_.end() - 1);
      at_start_ = false;
      return head_text;
    }
  }
  return {};
}

std::string StreamingDecoder::finish() {
  std::string decoded;
  if (!window_.empty()) decoded = impl_->decode_tokens(window_, at_start_);
  reset();
  return decoded;
}

void StreamingDecoder::reset() {
  window_.clear();
  at_start_ = true;
}

}  // namespace zaya
