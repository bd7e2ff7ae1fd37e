// fuzz/fuzz_tokenizer_encode.cpp - encoding and decoding arbitrary text and ids with real,
// fixed tokenizers: the synthetic component variants of tests/data/tokenizer (SentencePiece-style,
// byte-level, Metaspace, NFKC/NFD, regex splits, ...), the tiny ChatML tokenizer, and the real
// Gemma 3 tokenizer when scripts/fetch-tokenizer.sh has fetched it.
// Input: byte 0 picks the tokenizer and flags; the rest is text (mode 0) or little-endian int32
// ids (mode 1).
// Accepted: encode of invalid UTF-8 -> invalid_argument, of valid text -> ids inside the vocabulary
// whose streaming decode equals the one-shot decode; decode of arbitrary ids -> text or
// out_of_range, never a crash, and the streaming decoder agrees with decode.
#include "fuzz_support.h"

#include <zaya/tokenizer.h>
#include <zaya/utf8.h>

#include <simdjson.h>

#include <cstring>
#include <memory>
#include <sstream>
#include <vector>

namespace {

using zaya::Tokenizer;

// Assembles a tokenizer.json from one line of synthetic_variants.jsonl, as tests/test_tokenizer.cpp does.
std::string assemble(simdjson::dom::object variant) {
  auto json_of = [&](std::string_view key) {
    simdjson::dom::element e;
    if (variant.at_key(key).get(e)) std::abort();
    return simdjson::to_string(e);
  };
  std::string_view model_file;
  if (variant["model_file"].get(model_file)) std::abort();
  std::string model_text = zaya::fuzz::read_file(zaya::fuzz::data_dir() / "tokenizer" / std::string(model_file));
  while (!model_text.empty() && (model_text.back() == '\n' || model_text.back() == ' ')) model_text.pop_back();
  std::string model_options = json_of("model");
  model_options.pop_back();
  return "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":" + json_of("added_tokens") +
         ",\"normalizer\":" + json_of("normalizer") + ",\"pre_tokenizer\":" + json_of("pre_tokenizer") +
         ",\"post_processor\":" + json_of("post_processor") + ",\"decoder\":" + json_of("decoder") +
         ",\"model\":" + model_options + "," + model_text.substr(1) + "}";
}

const std::vector<Tokenizer>& tokenizers() {
  static const std::vector<Tokenizer> all = [] {
    std::vector<Tokenizer> out;
    std::istringstream lines(zaya::fuzz::read_file(zaya::fuzz::data_dir() / "tokenizer" / "synthetic_variants.jsonl"));
    std::string line;
    simdjson::dom::parser parser;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      simdjson::dom::object variant;
      if (parser.parse(line).get(variant)) std::abort();
      out.push_back(Tokenizer::from_json(assemble(variant)));
    }
    out.push_back(Tokenizer::load(zaya::fuzz::data_dir() / "tiny-chat"));
    std::error_code ec;
    const char* cache = std::getenv("ZAYA_CACHE_DIR");
    const auto gemma = (cache ? std::filesystem::path(cache) : zaya::fuzz::data_dir() / ".." / ".." / ".cache") / "gemma3";
    if (std::filesystem::is_regular_file(gemma / "tokenizer.json", ec)) out.push_back(Tokenizer::load(gemma));
    return out;
  }();
  return all;
}

void check_stream(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip_special) {
  const std::string whole = tok.decode(ids, skip_special);
  zaya::StreamingDecoder stream(tok, skip_special);
  std::string pieces;
  for (int32_t id : ids) {
    const std::string piece = stream.push(id);
    ZAYA_FUZZ_CHECK(zaya::utf8::is_valid(piece) || !zaya::utf8::is_valid(whole));
    pieces += piece;
  }
  pieces += stream.finish();
  ZAYA_FUZZ_CHECK(pieces == whole);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)tokenizers();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zaya;
  fuzz::Input in(data, size);
  const uint8_t selector = in.byte();
  const auto& all = tokenizers();
  const Tokenizer& tok = all[(selector >> 2) % all.size()];
  const bool add_special = selector & 1;
  const bool ids_mode = selector & 2;
  const std::string_view rest = in.rest();
  if (!ids_mode) {
    std::vector<int32_t> ids;
    try {
      ids = tok.encode(rest, add_special);
    } catch (const Error& e) {
      fuzz::expect_code(e, {ErrorCode::invalid_argument});
      ZAYA_FUZZ_CHECK(!utf8::is_valid(rest));
      return 0;
    }
    ZAYA_FUZZ_CHECK(utf8::is_valid(rest));
    for (int32_t id : ids) ZAYA_FUZZ_CHECK(id >= 0 && static_cast<size_t>(id) < tok.vocab_size());
    check_stream(tok, ids, false);
    check_stream(tok, ids, true);
    return 0;
  }
  std::vector<int32_t> ids(rest.size() / 4);
  if (!ids.empty()) std::memcpy(ids.data(), rest.data(), ids.size() * 4);
  // Fold most ids into the vocabulary so that decoding itself gets exercised, keep some wild.
  for (int32_t& id : ids)
    if ((id & 0x40000000) == 0 && tok.vocab_size() > 0) id = static_cast<int32_t>(static_cast<uint32_t>(id) % tok.vocab_size());
  try {
    check_stream(tok, ids, add_special);
  } catch (const Error& e) {
    fuzz::expect_code(e, {ErrorCode::out_of_range});
  }
  return 0;
}
