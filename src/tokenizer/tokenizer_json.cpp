// src/tokenizer/tokenizer_json.cpp - tokenizer.json / tokenizer_config.json -> Tokenizer::Impl.
//
// Parsed with the simdjson DOM: the 33 MB Gemma 3 file parses in a few tens of milliseconds and
// every string is a view into the parser's buffer, so vocabulary and merges are copied exactly once
// (into the model's arena). Every component type zaya does not implement is rejected here with
// ErrorCode::unsupported, so an unknown tokenizer never encodes to silently different ids.
#include "tokenizer/tokenizer_impl.h"

#include <zaya/error.h>
#include <zaya/utf8.h>

#include <simdjson.h>

#include <algorithm>
#include <limits>
#include <unordered_map>

namespace zaya::tokenizer {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

// --- small typed accessors with error messages that name the JSON path ------------------------

[[noreturn]] void bad(const std::string& path, std::string_view what) {
  fail(ErrorCode::bad_format, "tokenizer.json: {}: {}", path, what);
}

object as_object(element e, const std::string& path) {
  object o;
  if (e.get_object().get(o)) bad(path, "expected an object");
  return o;
}

array as_array(element e, const std::string& path) {
  array a;
  if (e.get_array().get(a)) bad(path, "expected an array");
  return a;
}

std::string_view as_string(element e, const std::string& path) {
  std::string_view s;
  if (e.get_string().get(s)) bad(path, "expected a string");
  return s;
}

int64_t as_int(element e, const std::string& path) {
  int64_t v;
  if (e.get_int64().get(v)) {
    uint64_t u;
    if (!e.get_uint64().get(u)) bad(path, "integer out of range");
    bad(path, "expected an integer");
  }
  return v;
}

bool as_bool(element e, const std::string& path) {
  bool b;
  if (e.get_bool().get(b)) bad(path, "expected true or false");
  return b;
}

// Field lookup: nullopt when absent (or JSON null, when null_is_absent).
std::optional<element> field(object o, std::string_view key, bool null_is_absent = true) {
  element e;
  if (o.at_key(key).get(e)) return std::nullopt;
  if (null_is_absent && e.is_null()) return std::nullopt;
  return e;
}

element required(object o, std::string_view key, const std::string& path) {
  auto e = field(o, key);
  if (!e) bad(path, fmt::format("missing \"{}\"", key));
  return *e;
}

bool bool_or(object o, std::string_view key, bool fallback, const std::string& path) {
  auto e = field(o, key);
  return e ? as_bool(*e, path + "." + std::string(key)) : fallback;
}

std::string_view type_of(object o, const std::string& path) {
  return as_string(required(o, "type", path), path + ".type");
}

[[noreturn]] void unsupported(const std::string& path, std::string_view what) {
  fail(ErrorCode::unsupported, "tokenizer.json: {}: {} is not supported", path, what);
}

char32_t single_char(std::string_view text, const std::string& path) {
  size_t pos = 0;
  if (text.empty()) bad(path, "expected a single character, got an empty string");
  const char32_t cp = utf8::decode(text, pos);
  if (cp == utf8::invalid || pos != text.size()) bad(path, fmt::format("expected a single character, got '{}'", text));
  return cp;
}

// A regex that is really a literal (no metacharacters; backslash-escaped punctuation allowed).
std::optional<std::string> regex_literal(std::string_view regex) {
  std::string literal;
  for (size_t i = 0; i < regex.size(); ++i) {
    const char c = regex[i];
    if (c == '\\') {
      if (i + 1 >= regex.size()) return std::nullopt;
      const char next = regex[++i];
      if (std::string_view(".^$|?*+()[]{}\\/-").find(next) == std::string_view::npos) return std::nullopt;
      literal.push_back(next);
    } else if (std::string_view(".^$|?*+()[]{}").find(c) != std::string_view::npos) {
      return std::nullopt;
    } else {
      literal.push_back(c);
    }
  }
  return literal;
}

// {"String": "..."} or {"Regex": "..."} used by Replace and Split; returns the literal for the
// String form or a literal-only Regex, nullopt for a real regex (returned in `regex`).
std::optional<std::string> pattern_literal(element e, const std::string& path, std::string& regex) {
  object o = as_object(e, path);
  if (auto s = field(o, "String")) return std::string(as_string(*s, path + ".String"));
  if (auto r = field(o, "Regex")) {
    regex = std::string(as_string(*r, path + ".Regex"));
    return regex_literal(regex);
  }
  bad(path, "expected {\"String\": ...} or {\"Regex\": ...}");
}

// --- components ------------------------------------------------------------------------------

std::unique_ptr<Normalizer> parse_normalizer(element e, const std::string& path) {
  object o = as_object(e, path);
  const std::string_view type = type_of(o, path);
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> steps;
    size_t i = 0;
    for (element step : as_array(required(o, "normalizers", path), path + ".normalizers"))
      steps.push_back(parse_normalizer(step, fmt::format("{}.normalizers[{}]", path, i++)));
    return std::make_unique<SequenceNormalizer>(std::move(steps));
  }
  if (type == "Replace") {
    std::string regex;
    auto literal = pattern_literal(required(o, "pattern", path), path + ".pattern", regex);
    if (!literal) unsupported(path, fmt::format("a Replace normalizer with regex '{}'", regex));
    if (literal->empty()) unsupported(path, "a Replace normalizer with an empty pattern");
    return std::make_unique<ReplaceNormalizer>(*literal,
                                               std::string(as_string(required(o, "content", path), path + ".content")));
  }
  if (type == "Prepend")
    return std::make_unique<PrependNormalizer>(std::string(as_string(required(o, "prepend", path), path + ".prepend")));
  if (type == "Strip")
    return std::make_unique<StripNormalizer>(bool_or(o, "strip_left", true, path), bool_or(o, "strip_right", true, path));
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(unicode::NormalizationForm::nfc);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(unicode::NormalizationForm::nfd);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(unicode::NormalizationForm::nfkc);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(unicode::NormalizationForm::nfkd);
  unsupported(path, fmt::format("normalizer type '{}'", type));
}

PrependScheme parse_prepend_scheme(object o, const std::string& path) {
  if (auto legacy = field(o, "add_prefix_space"); legacy && !as_bool(*legacy, path + ".add_prefix_space"))
    return PrependScheme::never;
  auto scheme = field(o, "prepend_scheme");
  if (!scheme) return PrependScheme::always;
  const std::string_view s = as_string(*scheme, path + ".prepend_scheme");
  if (s == "always") return PrependScheme::always;
  if (s == "first") return PrependScheme::first;
  if (s == "never") return PrependScheme::never;
  bad(path + ".prepend_scheme", fmt::format("unknown scheme '{}'", s));
}

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(element e, const std::string& path) {
  object o = as_object(e, path);
  const std::string_view type = type_of(o, path);
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    size_t i = 0;
    for (element step : as_array(required(o, "pretokenizers", path), path + ".pretokenizers"))
      steps.push_back(parse_pre_tokenizer(step, fmt::format("{}.pretokenizers[{}]", path, i++)));
    return std::make_unique<SequencePreTokenizer>(std::move(steps));
  }
  if (type == "Split") {
    std::string regex;
    std::unique_ptr<SplitPattern> pattern;
    auto literal = pattern_literal(required(o, "pattern", path), path + ".pattern", regex);
    if (literal) {
      if (literal->empty()) unsupported(path, "a Split with an empty pattern");
      pattern = std::make_unique<LiteralPattern>(*literal);
    } else if (auto known = WordRegexPattern::recognize(regex)) {
      pattern = std::move(known);
    } else {
      unsupported(path, fmt::format("a Split pre-tokenizer with regex '{}' (only the GPT-2, Llama 3 and Qwen 2 "
                                    "word patterns and plain literals are implemented)",
                                    regex));
    }
    const std::string_view behavior = as_string(required(o, "behavior", path), path + ".behavior");
    SplitBehavior b;
    if (behavior == "Removed") {
      b = SplitBehavior::removed;
    } else if (behavior == "Isolated") {
      b = SplitBehavior::isolated;
    } else if (behavior == "MergedWithPrevious") {
      b = SplitBehavior::merged_with_previous;
    } else if (behavior == "MergedWithNext") {
      b = SplitBehavior::merged_with_next;
    } else if (behavior == "Contiguous") {
      b = SplitBehavior::contiguous;
    } else {
      bad(path + ".behavior", fmt::format("unknown split behavior '{}'", behavior));
    }
    return std::make_unique<SplitPreTokenizer>(std::move(pattern), b, bool_or(o, "invert", false, path));
  }
  if (type == "Metaspace") {
    const std::string_view replacement = as_string(required(o, "replacement", path), path + ".replacement");
    single_char(replacement, path + ".replacement");
    return std::make_unique<MetaspacePreTokenizer>(std::string(replacement), parse_prepend_scheme(o, path),
                                                   bool_or(o, "split", true, path));
  }
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelPreTokenizer>(bool_or(o, "add_prefix_space", true, path),
                                                   bool_or(o, "use_regex", true, path));
  if (type == "Digits") return std::make_unique<DigitsPreTokenizer>(bool_or(o, "individual_digits", false, path));
  unsupported(path, fmt::format("pre-tokenizer type '{}'", type));
}

std::unique_ptr<Decoder> parse_decoder(element e, const std::string& path) {
  object o = as_object(e, path);
  const std::string_view type = type_of(o, path);
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> steps;
    size_t i = 0;
    for (element step : as_array(required(o, "decoders", path), path + ".decoders"))
      steps.push_back(parse_decoder(step, fmt::format("{}.decoders[{}]", path, i++)));
    return std::make_unique<SequenceDecoder>(std::move(steps));
  }
  if (type == "Replace") {
    std::string regex;
    auto literal = pattern_literal(required(o, "pattern", path), path + ".pattern", regex);
    if (!literal) unsupported(path, fmt::format("a Replace decoder with regex '{}'", regex));
    if (literal->empty()) unsupported(path, "a Replace decoder with an empty pattern");
    return std::make_unique<ReplaceDecoder>(*literal,
                                            std::string(as_string(required(o, "content", path), path + ".content")));
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Strip") {
    const char32_t content = single_char(as_string(required(o, "content", path), path + ".content"), path + ".content");
    const int64_t start = as_int(required(o, "start", path), path + ".start");
    const int64_t stop = as_int(required(o, "stop", path), path + ".stop");
    if (start < 0 || stop < 0) bad(path, "start and stop must not be negative");
    return std::make_unique<StripDecoder>(content, static_cast<size_t>(start), static_cast<size_t>(stop));
  }
  if (type == "Metaspace") {
    const char32_t replacement =
        single_char(as_string(required(o, "replacement", path), path + ".replacement"), path + ".replacement");
    return std::make_unique<MetaspaceDecoder>(replacement, parse_prepend_scheme(o, path) != PrependScheme::never);
  }
  unsupported(path, fmt::format("decoder type '{}'", type));
}

int32_t checked_token_id(int64_t id, const Tokenizer::Impl& impl, const std::string& path) {
  if (id < 0 || static_cast<uint64_t>(id) >= impl.vocab_size)
    bad(path, fmt::format("token id {} is out of range (vocabulary size {})", id, impl.vocab_size));
  const int32_t id32 = static_cast<int32_t>(id);
  if (impl.added_index[static_cast<size_t>(id32)] < 0 && !impl.model.has_id(id32))
    bad(path, fmt::format("no token has id {}", id));
  return id32;
}

std::unique_ptr<PostProcessor> parse_post_processor(element e, const std::string& path, const Tokenizer::Impl& impl) {
  object o = as_object(e, path);
  const std::string_view type = type_of(o, path);
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PostProcessor>> steps;
    size_t i = 0;
    for (element step : as_array(required(o, "processors", path), path + ".processors"))
      steps.push_back(parse_post_processor(step, fmt::format("{}.processors[{}]", path, i++), impl));
    return std::make_unique<SequencePostProcessor>(std::move(steps));
  }
  if (type == "ByteLevel") return std::make_unique<TemplatePostProcessor>(std::vector<int32_t>{}, std::vector<int32_t>{});
  if (type == "TemplateProcessing") {
    object special_tokens = as_object(required(o, "special_tokens", path), path + ".special_tokens");
    std::vector<int32_t> before, after;
    bool seen_sequence = false;
    size_t i = 0;
    for (element item : as_array(required(o, "single", path), path + ".single")) {
      const std::string item_path = fmt::format("{}.single[{}]", path, i++);
      object item_object = as_object(item, item_path);
      if (auto seq = field(item_object, "Sequence")) {
        const std::string_view id = as_string(required(as_object(*seq, item_path), "id", item_path), item_path + ".id");
        if (id != "A") bad(item_path, fmt::format("the single-sequence template refers to sequence '{}'", id));
        if (seen_sequence) unsupported(item_path, "a template that repeats the sequence");
        seen_sequence = true;
      } else if (auto special = field(item_object, "SpecialToken")) {
        const std::string_view name =
            as_string(required(as_object(*special, item_path), "id", item_path), item_path + ".SpecialToken.id");
        auto entry = field(special_tokens, name);
        if (!entry) bad(item_path, fmt::format("special token '{}' is not in special_tokens", name));
        const std::string entry_path = fmt::format("{}.special_tokens[\"{}\"]", path, name);
        for (element id : as_array(required(as_object(*entry, entry_path), "ids", entry_path), entry_path + ".ids"))
          (seen_sequence ? after : before).push_back(checked_token_id(as_int(id, entry_path + ".ids"), impl, entry_path));
      } else {
        bad(item_path, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
      }
    }
    if (!seen_sequence) bad(path + ".single", "the template does not contain the sequence");
    return std::make_unique<TemplatePostProcessor>(std::move(before), std::move(after));
  }
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    auto token_of = [&](std::string_view key) {
      const std::string p = path + "." + std::string(key);
      array pair = as_array(required(o, key, path), p);
      if (pair.size() != 2) bad(p, "expected [token, id]");
      return checked_token_id(as_int(pair.at(1).value(), p), impl, p);
    };
    return std::make_unique<TemplatePostProcessor>(std::vector<int32_t>{token_of("cls")}, std::vector<int32_t>{token_of("sep")});
  }
  unsupported(path, fmt::format("post-processor type '{}'", type));
}

void parse_model(element e, Tokenizer::Impl& impl) {
  const std::string path = "model";
  object o = as_object(e, path);
  if (auto type = field(o, "type")) {
    const std::string_view t = as_string(*type, "model.type");
    if (t != "BPE") unsupported("model", fmt::format("model type '{}' (only BPE is implemented)", t));
  } else if (!field(o, "merges")) {
    unsupported("model", "a model without \"type\" that is not BPE");
  }
  BpeOptions options;
  if (auto dropout = field(o, "dropout")) {
    double d = 0;
    if (dropout->get_double().get(d)) bad("model.dropout", "expected a number");
    if (d != 0.0) unsupported("model.dropout", "BPE dropout (non-deterministic encoding)");
  }
  if (auto unk = field(o, "unk_token")) options.unk_token = std::string(as_string(*unk, "model.unk_token"));
  if (auto p = field(o, "continuing_subword_prefix"))
    options.continuing_subword_prefix = std::string(as_string(*p, "model.continuing_subword_prefix"));
  if (auto s = field(o, "end_of_word_suffix"))
    options.end_of_word_suffix = std::string(as_string(*s, "model.end_of_word_suffix"));
  options.fuse_unk = bool_or(o, "fuse_unk", false, path);
  options.byte_fallback = bool_or(o, "byte_fallback", false, path);
  options.ignore_merges = bool_or(o, "ignore_merges", false, path);
  impl.model = BpeModel(std::move(options));

  object vocab = as_object(required(o, "vocab", path), "model.vocab");
  size_t count = 0, bytes = 0;
  for (auto entry : vocab) {
    ++count;
    bytes += entry.key.size();
  }
  impl.model.reserve(count, bytes);
  for (auto entry : vocab) {
    int64_t id;
    if (entry.value.get_int64().get(id))
      bad(fmt::format("model.vocab[\"{}\"]", entry.key), "expected an integer id");
    impl.model.add_token(entry.key, id);
  }
  impl.model.build_vocab_index();

  array merges = as_array(required(o, "merges", path), "model.merges");
  impl.model.reserve_merges(merges.size());
  constexpr size_t batch_size = 64;
  std::vector<BpeModel::MergeText> batch;
  batch.reserve(batch_size);
  uint32_t rank = 0, batch_rank = 0;
  for (element merge : merges) {
    std::string_view text;
    if (!merge.get_string().get(text)) {
      const size_t space = text.find(' ');
      if (space == std::string_view::npos)
        bad(fmt::format("model.merges[{}]", rank), fmt::format("'{}' is not of the form \"left right\"", text));
      batch.push_back({text.substr(0, space), text.substr(space + 1)});
    } else {
      array pair;
      std::string_view left, right;
      if (merge.get_array().get(pair) || pair.size() != 2 || pair.at(0).get_string().get(left) ||
          pair.at(1).get_string().get(right))
        bad(fmt::format("model.merges[{}]", rank), "expected \"left right\" or [\"left\", \"right\"]");
      batch.push_back({left, right});
    }
    ++rank;
    if (batch.size() == batch_size) {
      impl.model.add_merges(batch, batch_rank);
      batch.clear();
      batch_rank = rank;
    }
  }
  impl.model.add_merges(batch, batch_rank);
}

void parse_added_tokens(element e, Tokenizer::Impl& impl) {
  std::unordered_map<int32_t, size_t> index_by_id;  // id -> index into impl.added_tokens
  size_t i = 0;
  for (element item : as_array(e, "added_tokens")) {
    const std::string path = fmt::format("added_tokens[{}]", i++);
    object o = as_object(item, path);
    AddedToken token;
    const int64_t id = as_int(required(o, "id", path), path + ".id");
    if (id < 0 || id > std::numeric_limits<int32_t>::max()) bad(path + ".id", fmt::format("id {} is out of range", id));
    if (static_cast<size_t>(id) >= impl.model.id_limit() + 65536 + impl.added_tokens.size() * 4)
      bad(path + ".id", fmt::format("id {} is far beyond the vocabulary", id));
    token.id = static_cast<int32_t>(id);
    token.content = std::string(as_string(required(o, "content", path), path + ".content"));
    token.special = bool_or(o, "special", false, path);
    token.single_word = bool_or(o, "single_word", false, path);
    token.lstrip = bool_or(o, "lstrip", false, path);
    token.rstrip = bool_or(o, "rstrip", false, path);
    token.normalized = bool_or(o, "normalized", !token.special, path);
    if (token.content.empty()) continue;  // upstream ignores empty added tokens

    // Upstream gives an added token the model's id when the model already has that text; a file
    // that says otherwise is inconsistent and would encode differently from what it declares.
    const int32_t model_id = impl.model.find(token.content);
    if (model_id >= 0 && model_id != token.id)
      bad(path, fmt::format("'{}' has id {} but the model vocabulary gives it id {}", token.content, token.id, model_id));
    if (model_id < 0 && impl.model.has_id(token.id))
      bad(path, fmt::format("id {} of '{}' is already used by model token '{}'", token.id, token.content,
                            impl.model.token(token.id)));
    auto existing = impl.added_ids.find(token.content);
    if (existing != impl.added_ids.end()) {
      if (existing->second != token.id)
        bad(path, fmt::format("'{}' is listed with ids {} and {}", token.content, existing->second, token.id));
      impl.added_tokens[index_by_id.at(token.id)] = token;  // a later entry updates the flags, as upstream
      continue;
    }
    if (auto same_id = index_by_id.find(token.id); same_id != index_by_id.end())
      bad(path, fmt::format("id {} is used by both '{}' and '{}'", token.id, impl.added_tokens[same_id->second].content,
                            token.content));
    index_by_id.emplace(token.id, impl.added_tokens.size());
    impl.added_ids.emplace(token.content, token.id);
    impl.added_tokens.push_back(std::move(token));
  }
}

// Added-token id lookups and the two matchers (after the normalizer is known).
void index_added_tokens(Tokenizer::Impl& impl) {
  int64_t max_id = static_cast<int64_t>(impl.model.id_limit()) - 1;
  for (const AddedToken& t : impl.added_tokens) max_id = std::max<int64_t>(max_id, t.id);
  impl.vocab_size = static_cast<size_t>(max_id + 1);
  impl.added_index.assign(impl.vocab_size, -1);
  impl.special.assign(impl.vocab_size, 0);
  for (size_t i = 0; i < impl.added_tokens.size(); ++i) {
    const AddedToken& t = impl.added_tokens[i];
    impl.added_index[static_cast<size_t>(t.id)] = static_cast<int32_t>(i);
    if (t.special) impl.special[static_cast<size_t>(t.id)] = 1;
  }
  // Upstream matches special tokens first, then the others (order only matters for ties).
  std::vector<const AddedToken*> raw, normalized;
  std::vector<std::string> raw_patterns, normalized_patterns;
  for (int pass = 0; pass < 2; ++pass) {
    for (const AddedToken& t : impl.added_tokens) {
      if (t.special != (pass == 0)) continue;
      if (t.normalized) {
        std::string pattern = t.content;
        if (impl.normalizer) impl.normalizer->normalize(pattern);
        normalized.push_back(&t);
        normalized_patterns.push_back(std::move(pattern));
      } else {
        raw.push_back(&t);
        raw_patterns.push_back(t.content);
      }
    }
  }
  impl.raw_matcher.build(raw, raw_patterns);
  impl.normalized_matcher.build(normalized, normalized_patterns);
}

// --- tokenizer_config.json / special_tokens_map.json -----------------------------------------

// "bos_token": "<bos>" or {"content": "<bos>", ...} or null.
std::optional<std::string> config_token(object o, std::string_view key, std::string_view file) {
  auto e = field(o, key);
  if (!e) return std::nullopt;
  std::string_view s;
  if (!e->get_string().get(s)) return std::string(s);
  object token;
  if (!e->get_object().get(token)) {
    if (auto content = field(token, "content"); content && !content->get_string().get(s)) return std::string(s);
  }
  fail(ErrorCode::bad_format, "{}: \"{}\" must be a string or an object with \"content\"", file, key);
}

std::optional<SpecialToken> make_special(const Tokenizer::Impl& impl, std::optional<std::string> text) {
  if (!text) return std::nullopt;
  SpecialToken token{std::move(*text), std::nullopt};
  if (auto it = impl.added_ids.find(token.text); it != impl.added_ids.end()) {
    token.id = it->second;
  } else if (int32_t id = impl.model.find(token.text); id >= 0) {
    token.id = id;
  }
  return token;
}

void apply_config(Tokenizer::Impl& impl, std::string_view config_json, std::string_view special_map_json,
                  std::string_view chat_template_file) {
  std::optional<std::string> bos, eos, pad, unk;
  std::optional<bool> add_bos, add_eos;
  simdjson::dom::parser parser;

  auto read_tokens = [&](std::string_view json, std::string_view file) {
    if (json.empty()) return std::optional<object>{};
    element root;
    if (auto error = parser.parse(simdjson::padded_string(json)).get(root))
      fail(ErrorCode::bad_format, "{}: invalid JSON: {}", file, simdjson::error_message(error));
    object o;
    if (root.get_object().get(o)) fail(ErrorCode::bad_format, "{}: expected a JSON object", file);
    if (!bos) bos = config_token(o, "bos_token", file);
    if (!eos) eos = config_token(o, "eos_token", file);
    if (!pad) pad = config_token(o, "pad_token", file);
    if (!unk) unk = config_token(o, "unk_token", file);
    return std::optional<object>{o};
  };

  if (auto config = read_tokens(config_json, "tokenizer_config.json")) {
    if (auto v = field(*config, "add_bos_token")) add_bos = as_bool(*v, "tokenizer_config.json add_bos_token");
    if (auto v = field(*config, "add_eos_token")) add_eos = as_bool(*v, "tokenizer_config.json add_eos_token");
    if (chat_template_file.empty()) {
      if (auto t = field(*config, "chat_template")) {
        std::string_view s;
        array list;
        if (!t->get_string().get(s)) {
          impl.chat_template = std::string(s);
        } else if (!t->get_array().get(list)) {
          for (element entry : list) {
            object named;
            std::string_view name, source;
            if (entry.get_object().get(named) || named["name"].get_string().get(name) ||
                named["template"].get_string().get(source))
              fail(ErrorCode::bad_format, "tokenizer_config.json: chat_template entries must be {{name, template}}");
            if (name == "default") impl.chat_template = std::string(source);
          }
        } else {
          fail(ErrorCode::bad_format, "tokenizer_config.json: chat_template must be a string or a list");
        }
      }
    }
  }
  // special_tokens_map.json only fills what tokenizer_config.json did not say (new parser: the
  // config's DOM is no longer needed).
  simdjson::dom::parser map_parser;
  if (!special_map_json.empty()) {
    element root;
    if (auto error = map_parser.parse(simdjson::padded_string(special_map_json)).get(root))
      fail(ErrorCode::bad_format, "special_tokens_map.json: invalid JSON: {}", simdjson::error_message(error));
    object o;
    if (root.get_object().get(o)) fail(ErrorCode::bad_format, "special_tokens_map.json: expected a JSON object");
    if (!bos) bos = config_token(o, "bos_token", "special_tokens_map.json");
    if (!eos) eos = config_token(o, "eos_token", "special_tokens_map.json");
    if (!pad) pad = config_token(o, "pad_token", "special_tokens_map.json");
    if (!unk) unk = config_token(o, "unk_token", "special_tokens_map.json");
  }
  if (!chat_template_file.empty()) impl.chat_template = std::string(chat_template_file);

  // Inferences from the tokenizer itself when the config files are silent.
  const std::vector<int32_t> prefix = impl.post_processor ? impl.post_processor->prefix_ids() : std::vector<int32_t>{};
  const std::vector<int32_t> suffix = impl.post_processor ? impl.post_processor->suffix_ids() : std::vector<int32_t>{};
  if (!bos && !prefix.empty()) bos = std::string(impl.token_text(prefix.front()));
  if (!eos && !suffix.empty()) eos = std::string(impl.token_text(suffix.back()));
  if (!unk && impl.model.options().unk_token) unk = impl.model.options().unk_token;
  impl.bos = make_special(impl, bos);
  impl.eos = make_special(impl, eos);
  impl.pad = make_special(impl, pad);
  impl.unk = make_special(impl, unk);
  impl.add_bos = add_bos.value_or(impl.bos && impl.bos->id && !prefix.empty() && prefix.front() == *impl.bos->id);
  impl.add_eos = add_eos.value_or(impl.eos && impl.eos->id && !suffix.empty() && suffix.back() == *impl.eos->id);
}

std::shared_ptr<Tokenizer::Impl> build(element root, std::string_view config_json, std::string_view special_map_json,
                                       std::string_view chat_template_file) {
  object top = as_object(root, "top level");
  auto impl = std::make_shared<Tokenizer::Impl>();
  if (auto version = field(top, "version")) {
    const std::string_view v = as_string(*version, "version");
    if (v != "1.0") unsupported("version", fmt::format("tokenizer.json version '{}'", v));
  }
  if (field(top, "truncation")) unsupported("truncation", "truncation (encode would cut the ids)");
  if (field(top, "padding")) unsupported("padding", "padding (encode would add pad ids)");
  auto model = field(top, "model");
  if (!model) bad("top level", "missing \"model\"");
  parse_model(*model, *impl);
  if (auto added = field(top, "added_tokens")) parse_added_tokens(*added, *impl);
  if (auto n = field(top, "normalizer")) impl->normalizer = parse_normalizer(*n, "normalizer");
  index_added_tokens(*impl);
  if (auto p = field(top, "pre_tokenizer")) impl->pre_tokenizer = parse_pre_tokenizer(*p, "pre_tokenizer");
  if (auto p = field(top, "post_processor")) impl->post_processor = parse_post_processor(*p, "post_processor", *impl);
  if (auto d = field(top, "decoder")) {
    impl->decoder = parse_decoder(*d, "decoder");
    bool fused = false;
    impl->decoder->streaming_traits(impl->streaming, fused);
  }
  apply_config(*impl, config_json, special_map_json, chat_template_file);
  return impl;
}

}  // namespace

std::shared_ptr<Tokenizer::Impl> parse_tokenizer(std::string_view tokenizer_json, std::string_view config_json,
                                                 std::string_view special_tokens_map_json,
                                                 std::string_view chat_template_file) {
  simdjson::dom::parser parser;
  element root;
  if (auto error = parser.parse(simdjson::padded_string(tokenizer_json)).get(root))
    fail(ErrorCode::bad_format, "tokenizer.json: invalid JSON: {}", simdjson::error_message(error));
  return build(root, config_json, special_tokens_map_json, chat_template_file);
}

std::shared_ptr<Tokenizer::Impl> load_tokenizer_file(const std::filesystem::path& path, std::string_view config_json,
                                                     std::string_view special_tokens_map_json,
                                                     std::string_view chat_template_file) {
  simdjson::padded_string text;
  if (auto error = simdjson::padded_string::load(path.string()).get(text))
    fail(ErrorCode::io, "cannot read {}: {}", path.string(), simdjson::error_message(error));
  simdjson::dom::parser parser;
  element root;
  if (auto error = parser.parse(text).get(root))
    fail(ErrorCode::bad_format, "{}: invalid JSON: {}", path.string(), simdjson::error_message(error));
  try {
    return build(root, config_json, special_tokens_map_json, chat_template_file);
  } catch (const Error& e) {
    // Name the file: "tokenizer.json: ..." messages are about this one.
    throw Error(e.code(), fmt::format("{} ({})", e.what(), path.string()));
  }
}

}  // namespace zaya::tokenizer
