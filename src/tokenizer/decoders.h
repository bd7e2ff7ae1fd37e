// src/tokenizer/decoders.h - tokenizer.json "decoder" components: token strings -> text.
//
// Like upstream, a decoder rewrites the list of token strings ("decode_chain") and the result is
// concatenated. The context flags exist for the streaming decoder, which decodes a window of
// recent tokens at a time: `at_start` says whether the window starts the sequence (index-0 rules
// such as Metaspace's leading-space removal apply only then); `fused` is set once a Fuse/ByteLevel
// step has joined the window into one fragment of the whole text.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace zaya::tokenizer {

struct DecodeContext {
  bool at_start = true;
  bool fused = false;
  // Set by ByteLevel when the window's bytes end inside a UTF-8 sequence (its last character is
  // then a U+FFFD that more bytes could still turn into a real character).
  bool incomplete_tail = false;
};

// What a streaming decoder has to know about a chain.
struct StreamingTraits {
  bool has_byte_fallback = false;  // tokens like <0xE2> combine with their neighbours
  bool window_safe = true;         // false: output may change at the very end; hold until finish
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens, DecodeContext& context) const = 0;
  // Updates traits; `fused` tracks whether an earlier step already fused the tokens.
  virtual void streaming_traits(StreamingTraits& traits, bool& fused) const = 0;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(std::string pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens, DecodeContext& context) const override;
  void streaming_traits(StreamingTraits& traits, bool& fused) const override;

 private:
  std::string pattern_, content_;
};

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens, DecodeContext& context) const override;
  void streaming_traits(StreamingTraits& traits, bool& fused) const override;
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens, DecodeContext& context) const override;
  void streaming_traits(StreamingTraits&, bool& fused) const override { fused = true; }
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens, DecodeContext& context) const override;
  void streaming_traits(StreamingTraits& traits, bool& fused) const override;

 private:
  char32_t content_;
  size_t start_, stop_;
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(char32_t replacement, bool strip_leading) : replacement_(replacement), strip_leading_(strip_leading) {}
  void decode_chain(std::vector<std::string>& tokens, DecodeContext& context) const override;
  void streaming_traits(StreamingTraits&, bool&) const override {}

 private:
  char32_t replacement_;
  bool strip_leading_;  // prepend_scheme != never
};

class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens, DecodeContext& context) const override;
  void streaming_traits(StreamingTraits&, bool& fused) const override { fused = true; }
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  void decode_chain(std::vector<std::string>& tokens, DecodeContext& context) const override {
    for (const auto& step : steps_) step->decode_chain(tokens, context);
  }
  void streaming_traits(StreamingTraits& traits, bool& fused) const override {
    for (const auto& step : steps_) step->streaming_traits(traits, fused);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

// True for "<0xXX>" tokens as the ByteFallback decoder recognizes them; sets `byte`.
bool parse_byte_token(std::string_view token, unsigned char& byte);

// Rust's String::from_utf8_lossy: each maximal invalid subsequence becomes one U+FFFD.
void append_utf8_lossy(std::string& out, std::string_view bytes);

}  // namespace zaya::tokenizer
