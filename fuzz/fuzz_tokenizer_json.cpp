// fuzz/fuzz_tokenizer_json.cpp - loading tokenizer.json (+ tokenizer_config.json after a NUL
// byte), then encoding and decoding with whatever loaded.
// Accepted: bad_format / unsupported / invalid_argument at load; after a successful load, encode
// of valid UTF-8 only yields ids inside the vocabulary, decode of every id works (or is
// out_of_range for holes), and streaming decode equals one-shot decode.
#include "fuzz_support.h"

#include <zaya/tokenizer.h>

#include <algorithm>
#include <climits>
#include <optional>
#include <span>
#include <vector>

namespace {

void check_stream(const zaya::Tokenizer& tok, const std::vector<int32_t>& ids, bool skip_special) {
  using namespace zaya;
  const std::string whole = tok.decode(ids, skip_special);
  StreamingDecoder stream(tok, skip_special);
  std::string pieces;
  for (int32_t id : ids) pieces += stream.push(id);
  pieces += stream.finish();
  ZAYA_FUZZ_CHECK(pieces == whole);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zaya;
  fuzz::Input in(data, size);
  const std::string_view tokenizer_json = in.part('\0');
  const std::string_view config_json = in.rest();
  std::optional<Tokenizer> loaded;
  try {
    loaded = Tokenizer::from_json(tokenizer_json, config_json);
  } catch (const Error& e) {
    fuzz::expect_code(e, {ErrorCode::bad_format, ErrorCode::unsupported, ErrorCode::invalid_argument});
    return 0;
  }
  const Tokenizer& tok = *loaded;
  const size_t vocab = tok.vocab_size();
  ZAYA_FUZZ_CHECK(vocab <= (size_t(1) << 31));
  for (std::string_view text : {std::string_view("Hello, world! 123  tabs\tand\nnewlines"),
                                std::string_view("\xc3\xa9t\xc3\xa9 \xe2\x96\x81 \xf0\x9f\x98\x80 <bos><eos>"),
                                std::string_view(tokenizer_json.substr(0, 64))}) {
    for (bool add_special : {false, true}) {
      std::vector<int32_t> ids;
      try {
        ids = tok.encode(text, add_special);
      } catch (const Error& e) {
        // Invalid UTF-8 (the third text), or a file whose unk_token is missing from the vocabulary:
        // like the reference library, that is reported when an unknown piece needs it.
        fuzz::expect_code(e, {ErrorCode::invalid_argument, ErrorCode::bad_format});
        continue;
      }
      for (int32_t id : ids) ZAYA_FUZZ_CHECK(id >= 0 && static_cast<size_t>(id) < vocab);
      try {
        check_stream(tok, ids, false);
        check_stream(tok, ids, true);
      } catch (const Error& e) {
        fuzz::expect_code(e, {ErrorCode::out_of_range});  // an id that is a hole of the vocabulary
      }
    }
  }
  // Every id near both ends of the vocabulary, one at a time and all together.
  std::vector<int32_t> ids;
  for (size_t id = 0; id < std::min<size_t>(vocab, 300); ++id) ids.push_back(static_cast<int32_t>(id));
  for (size_t id = vocab > 300 ? std::max<size_t>(vocab - 50, 300) : vocab; id < vocab; ++id)
    ids.push_back(static_cast<int32_t>(id));
  std::vector<int32_t> valid;
  for (int32_t id : ids) {
    try {
      (void)tok.decode(std::span<const int32_t>(&id, 1));
      (void)tok.id_to_token(id);
      (void)tok.is_special(id);
      valid.push_back(id);
    } catch (const Error& e) {
      fuzz::expect_code(e, {ErrorCode::out_of_range});
    }
  }
  check_stream(tok, valid, false);
  check_stream(tok, valid, true);
  for (int32_t bad : {-1, static_cast<int32_t>(std::min<size_t>(vocab, INT32_MAX))}) {
    try {
      (void)tok.decode(std::span<const int32_t>(&bad, 1));
      ZAYA_FUZZ_CHECK(false);  // out of range must throw
    } catch (const Error& e) {
      fuzz::expect_code(e, {ErrorCode::out_of_range});
    }
  }
  (void)tok.bos_token();
  (void)tok.chat_template();
  return 0;
}
