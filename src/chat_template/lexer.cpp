// chat_template/lexer.cpp - a hand-written equivalent of jinja2's regex lexer.
//
// The whitespace rules are the subtle part and follow jinja2 3.1 exactly:
//  - "{%-", "{{-", "{#-" strip all whitespace before the tag; "-%}", "-}}", "-#}" strip all
//    whitespace after it.
//  - trim_blocks: a single newline directly after "%}" or "#}" is removed ("+%}" keeps it).
//  - lstrip_blocks: spaces and tabs between the start of a line and "{%" or "{#" are removed
//    ("{%+" keeps them); never for "{{".
#include "chat_template/lexer.h"

#include <zaya/error.h>
#include <zaya/utf8.h>

#include "chat_template/python_text.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace zaya::jinja {

const char* describe(TokenType type) {
  switch (type) {
    case TokenType::data: return "template data";
    case TokenType::variable_begin: return "begin of print statement";
    case TokenType::variable_end: return "end of print statement";
    case TokenType::block_begin: return "begin of statement block";
    case TokenType::block_end: return "end of statement block";
    case TokenType::name: return "name";
    case TokenType::string: return "string";
    case TokenType::integer: return "integer";
    case TokenType::floating: return "float";
    case TokenType::add: return "'+'";
    case TokenType::sub: return "'-'";
    case TokenType::div: return "'/'";
    case TokenType::floordiv: return "'//'";
    case TokenType::mul: return "'*'";
    case TokenType::pow: return "'**'";
    case TokenType::mod: return "'%'";
    case TokenType::tilde: return "'~'";
    case TokenType::lbracket: return "'['";
    case TokenType::rbracket: return "']'";
    case TokenType::lparen: return "'('";
    case TokenType::rparen: return "')'";
    case TokenType::lbrace: return "'{'";
    case TokenType::rbrace: return "'}'";
    case TokenType::eq: return "'=='";
    case TokenType::ne: return "'!='";
    case TokenType::gt: return "'>'";
    case TokenType::gteq: return "'>='";
    case TokenType::lt: return "'<'";
    case TokenType::lteq: return "'<='";
    case TokenType::assign: return "'='";
    case TokenType::dot: return "'.'";
    case TokenType::colon: return "':'";
    case TokenType::pipe: return "'|'";
    case TokenType::comma: return "','";
    case TokenType::semicolon: return "';'";
    case TokenType::eof: return "end of template";
  }
  return "token";
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

std::string normalize_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    char c = source[i];
    if (c == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(c);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string src) : src_(std::move(src)) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      size_t tag = find_tag_start(pos_);
      if (tag == std::string::npos) {
        emit_data(src_.substr(pos_), count_newlines(pos_, src_.size()));
        pos_ = src_.size();
        break;
      }
      lex_tag(tag);
    }
    tokens_.push_back(Token{TokenType::eof, line_, {}});
    return std::move(tokens_);
  }

 private:
  enum class TagKind { variable, block, comment, raw };

  [[noreturn]] void error(const std::string& message) const {
    fail(ErrorCode::template_error, "template syntax error at line {}: {}", line_, message);
  }

  size_t find_tag_start(size_t from) const {
    size_t i = from;
    while ((i = src_.find('{', i)) != std::string::npos) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
      ++i;
    }
    return std::string::npos;
  }

  int count_newlines(size_t begin, size_t end) const {
    int n = 0;
    for (size_t i = begin; i < end; ++i) n += src_[i] == '\n';
    return n;
  }

  // Length of the Python-whitespace run (\s*) starting at `at`.
  size_t whitespace_run(size_t at) const {
    size_t p = at;
    while (p < src_.size()) {
      size_t next = p;
      char32_t cp = utf8::decode(src_, next);
      if (!is_python_space(cp)) break;
      p = next;
    }
    return p - at;
  }

  // If `{%[-+]?\s*<word>\s*` followed by a block end starts at `at`, returns the end of the whole
  // match (including the end's whitespace control) and reports the sign; else npos.
  size_t match_word_tag(size_t at, std::string_view word, bool allow_trim_newline, char& sign) const {
    if (src_.compare(at, 2, "{%") != 0) return std::string::npos;
    size_t p = at + 2;
    sign = 0;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) sign = src_[p++];
    p += whitespace_run(p);
    if (src_.compare(p, word.size(), word) != 0) return std::string::npos;
    p += word.size();
    p += whitespace_run(p);
    if (allow_trim_newline && src_.compare(p, 3, "+%}") == 0) return p + 3;
    if (src_.compare(p, 3, "-%}") == 0) return p + 3 + whitespace_run(p + 3);
    if (src_.compare(p, 2, "%}") == 0) {
      p += 2;
      if (allow_trim_newline && p < src_.size() && src_[p] == '\n') ++p;
      return p;
    }
    return std::string::npos;
  }

  // Applies "-" stripping or lstrip_blocks to the text before a tag.
  std::string strip_text_before_tag(std::string_view text, char sign, bool lstrip_applies) const {
    if (sign == '-') return python_strip(text, std::nullopt, false, true);
    if (sign != '+' && lstrip_applies) {
      size_t newline = text.rfind('\n');
      size_t l_pos = newline == std::string_view::npos ? 0 : newline + 1;
      if (l_pos > 0 || line_starting_) {
        std::string_view rest = text.substr(l_pos);
        if (!rest.empty() && python_strip(rest, std::nullopt, true, false).empty()) {
          return std::string(text.substr(0, l_pos));
        }
      }
    }
    return std::string(text);
  }

  void emit_data(std::string text, int newlines) {
    if (!text.empty()) tokens_.push_back(Token{TokenType::data, line_, std::move(text)});
    line_ += newlines;
  }

  void lex_tag(size_t tag) {
    char second = src_[tag + 1];
    TagKind kind = second == '{' ? TagKind::variable : second == '#' ? TagKind::comment : TagKind::block;
    char raw_sign = 0;
    size_t raw_end = std::string::npos;
    if (kind == TagKind::block) {
      raw_end = match_word_tag(tag, "raw", /*allow_trim_newline=*/false, raw_sign);
      if (raw_end != std::string::npos) kind = TagKind::raw;
    }
    char sign = 0;
    if (kind == TagKind::raw) {
      sign = raw_sign;
    } else if (tag + 2 < src_.size() && (src_[tag + 2] == '-' || src_[tag + 2] == '+')) {
      sign = src_[tag + 2];
    }
    std::string_view text(src_.data() + pos_, tag - pos_);
    emit_data(strip_text_before_tag(text, sign, kind != TagKind::variable), count_newlines(pos_, tag));
    size_t body = tag + 2 + (kind != TagKind::raw && sign ? 1 : 0);
    switch (kind) {
      case TagKind::comment: lex_comment(body); break;
      case TagKind::raw: lex_raw(raw_end); break;
      case TagKind::variable:
      case TagKind::block: lex_expression_tag(kind, body); break;
    }
  }

  void lex_comment(size_t body) {
    size_t close = src_.find("#}", body);
    if (close == std::string::npos) error("missing end of comment tag");
    size_t end = close + 2;
    char sign = close > body ? src_[close - 1] : 0;
    if (sign == '-') {
      end += whitespace_run(end);
    } else if (sign != '+' && end < src_.size() && src_[end] == '\n') {
      ++end;
    }
    line_ += count_newlines(body, end);
    line_starting_ = src_[end - 1] == '\n';
    pos_ = end;
  }

  void lex_raw(size_t raw_begin_end) {
    line_ += count_newlines(pos_, raw_begin_end);
    line_starting_ = src_[raw_begin_end - 1] == '\n';
    size_t search = raw_begin_end;
    while (true) {
      size_t candidate = src_.find("{%", search);
      if (candidate == std::string::npos) error("missing end of raw directive");
      char sign = 0;
      size_t end = match_word_tag(candidate, "endraw", /*allow_trim_newline=*/true, sign);
      if (end == std::string::npos) {
        search = candidate + 1;
        continue;
      }
      std::string_view text(src_.data() + raw_begin_end, candidate - raw_begin_end);
      emit_data(strip_text_before_tag(text, sign, true), 0);
      line_ += count_newlines(candidate, end);
      line_starting_ = src_[end - 1] == '\n';
      pos_ = end;
      return;
    }
  }

  void lex_expression_tag(TagKind kind, size_t body) {
    int tag_line = line_;
    tokens_.push_back(Token{kind == TagKind::block ? TokenType::block_begin : TokenType::variable_begin, line_, {}});
    std::vector<char> brackets;  // expected closers; tag ends are only recognised when empty
    size_t p = body;
    while (true) {
      if (p >= src_.size()) {
        line_ = tag_line;
        error(kind == TagKind::block ? "unexpected end of template, expected '%}'"
                                     : "unexpected end of template, expected '}}'");
      }
      if (brackets.empty()) {
        size_t end = match_tag_end(kind, p);
        if (end != std::string::npos) {
          tokens_.push_back(Token{kind == TagKind::block ? TokenType::block_end : TokenType::variable_end, line_, {}});
          line_ += count_newlines(p, end);
          line_starting_ = src_[end - 1] == '\n';
          pos_ = end;
          return;
        }
      }
      size_t ws = whitespace_run(p);
      if (ws > 0) {
        line_ += count_newlines(p, p + ws);
        p += ws;
        continue;
      }
      p = lex_token(p, brackets);
    }
  }

  size_t match_tag_end(TagKind kind, size_t p) const {
    if (kind == TagKind::block) {
      if (src_.compare(p, 3, "+%}") == 0) return p + 3;
      if (src_.compare(p, 3, "-%}") == 0) return p + 3 + whitespace_run(p + 3);
      if (src_.compare(p, 2, "%}") == 0) return p + 2 + (p + 2 < src_.size() && src_[p + 2] == '\n' ? 1 : 0);
    } else {
      if (src_.compare(p, 3, "-}}") == 0) return p + 3 + whitespace_run(p + 3);
      if (src_.compare(p, 2, "}}") == 0) return p + 2;
    }
    return std::string::npos;
  }

  size_t lex_token(size_t p, std::vector<char>& brackets) {
    char c = src_[p];
    if (is_digit(c)) {
      if (size_t end = match_float(p); end != std::string::npos) return push_float(p, end);
      if (size_t end = match_integer(p); end != std::string::npos) return push_integer(p, end);
    }
    if (is_name_start(c)) {
      size_t end = p + 1;
      while (end < src_.size() && is_name_char(src_[end])) ++end;
      tokens_.push_back(Token{TokenType::name, line_, src_.substr(p, end - p)});
      return end;
    }
    if (c == '\'' || c == '"') return lex_string(p);
    return lex_operator(p, brackets);
  }

  // Float: (?<!\.)(\d+_)*\d+((\.(\d+_)*\d+)?e[+-]?(\d+_)*\d+|\.(\d+_)*\d+)
  size_t match_digits(size_t p) const {  // (\d+_)*\d+, returns end or npos
    if (p >= src_.size() || !is_digit(src_[p])) return std::string::npos;
    size_t end = p;
    while (true) {
      while (end < src_.size() && is_digit(src_[end])) ++end;
      if (end + 1 < src_.size() && src_[end] == '_' && is_digit(src_[end + 1])) {
        ++end;
        continue;
      }
      return end;
    }
  }

  size_t match_exponent(size_t p) const {
    if (p >= src_.size() || (src_[p] != 'e' && src_[p] != 'E')) return std::string::npos;
    size_t q = p + 1;
    if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
    return match_digits(q);
  }

  size_t match_float(size_t p) const {
    if (p > 0 && src_[p - 1] == '.') return std::string::npos;
    size_t end = match_digits(p);
    if (end == std::string::npos) return std::string::npos;
    if (end < src_.size() && src_[end] == '.') {
      size_t frac = match_digits(end + 1);
      if (frac != std::string::npos) {
        size_t exp = match_exponent(frac);
        return exp != std::string::npos ? exp : frac;
      }
    }
    return match_exponent(end);
  }

  // Integer: 0b(_?[01])+ | 0o(_?[0-7])+ | 0x(_?[0-9a-f])+ | [1-9](_?\d)* | 0(_?0)*
  size_t match_integer(size_t p) const {
    auto run = [&](size_t q, auto&& accept) {
      size_t end = q;
      bool any = false;
      while (true) {
        size_t r = end;
        if (r < src_.size() && src_[r] == '_') ++r;
        if (r < src_.size() && accept(src_[r])) {
          end = r + 1;
          any = true;
        } else {
          break;
        }
      }
      return any ? end : std::string::npos;
    };
    if (src_[p] == '0' && p + 1 < src_.size()) {
      char base = static_cast<char>(src_[p + 1] | 0x20);
      size_t end = std::string::npos;
      if (base == 'b') end = run(p + 2, [](char c) { return c == '0' || c == '1'; });
      if (base == 'o') end = run(p + 2, [](char c) { return c >= '0' && c <= '7'; });
      if (base == 'x') end = run(p + 2, [](char c) { return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); });
      if (end != std::string::npos) return end;
    }
    if (src_[p] == '0') {
      size_t end = run(p + 1, [](char c) { return c == '0'; });
      return end == std::string::npos ? p + 1 : end;
    }
    size_t end = run(p + 1, is_digit);
    return end == std::string::npos ? p + 1 : end;
  }

  size_t push_float(size_t p, size_t end) {
    std::string text;
    for (size_t i = p; i < end; ++i)
      if (src_[i] != '_') text.push_back(src_[i]);
    Token token{TokenType::floating, line_, text};
    token.float_value = std::strtod(text.c_str(), nullptr);
    tokens_.push_back(std::move(token));
    return end;
  }

  size_t push_integer(size_t p, size_t end) {
    std::string digits;
    for (size_t i = p; i < end; ++i)
      if (src_[i] != '_') digits.push_back(src_[i]);
    int base = 10;
    size_t skip = 0;
    if (digits.size() > 1 && digits[0] == '0') {
      char b = static_cast<char>(digits[1] | 0x20);
      if (b == 'b') base = 2, skip = 2;
      if (b == 'o') base = 8, skip = 2;
      if (b == 'x') base = 16, skip = 2;
    }
    Token token{TokenType::integer, line_, digits};
    auto [ptr, ec] = std::from_chars(digits.data() + skip, digits.data() + digits.size(), token.int_value, base);
    if (ec != std::errc() || ptr != digits.data() + digits.size()) token.int_overflow = true;
    tokens_.push_back(std::move(token));
    return end;
  }

  // String literals use Python's unicode-escape rules; unknown escapes keep their backslash.
  size_t lex_string(size_t p) {
    char quote = src_[p];
    std::string value;
    size_t i = p + 1;
    int start_line = line_;
    while (true) {
      if (i >= src_.size()) {
        line_ = start_line;
        error("unexpected end of string literal");
      }
      char c = src_[i];
      if (c == quote) break;
      if (c == '\n') ++line_;
      if (c != '\\') {
        value.push_back(c);
        ++i;
        continue;
      }
      if (i + 1 >= src_.size()) {
        line_ = start_line;
        error("unexpected end of string literal");
      }
      char e = src_[i + 1];
      i += 2;
      switch (e) {
        case '\n': ++line_; break;  // line continuation
        case '\\': value.push_back('\\'); break;
        case '\'': value.push_back('\''); break;
        case '"': value.push_back('"'); break;
        case 'a': value.push_back('\a'); break;
        case 'b': value.push_back('\b'); break;
        case 'f': value.push_back('\f'); break;
        case 'n': value.push_back('\n'); break;
        case 'r': value.push_back('\r'); break;
        case 't': value.push_back('\t'); break;
        case 'v': value.push_back('\v'); break;
        case 'x':
        case 'u':
        case 'U': {
          size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          uint32_t cp = 0;
          for (size_t k = 0; k < digits; ++k) {
            char h = i + k < src_.size() ? src_[i + k] : '\0';
            int d = is_digit(h) ? h - '0' : ((h | 0x20) >= 'a' && (h | 0x20) <= 'f') ? (h | 0x20) - 'a' + 10 : -1;
            if (d < 0) error(fmt::format("truncated \\{} escape in string literal", e));
            cp = cp * 16 + static_cast<uint32_t>(d);
          }
          i += digits;
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) error("invalid code point escape in string literal");
          utf8::append(value, cp);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++k) cp = cp * 8 + static_cast<uint32_t>(src_[i++] - '0');
            utf8::append(value, cp);
          } else {
            value.push_back('\\');
            value.push_back(e);
          }
      }
    }
    tokens_.push_back(Token{TokenType::string, start_line, std::move(value)});
    return i + 1;
  }

  size_t lex_operator(size_t p, std::vector<char>& brackets) {
    static constexpr struct {
      const char* text;
      TokenType type;
    } kOperators[] = {
        {"//", TokenType::floordiv}, {"**", TokenType::pow},    {"==", TokenType::eq},       {"!=", TokenType::ne},
        {">=", TokenType::gteq},     {"<=", TokenType::lteq},   {"+", TokenType::add},       {"-", TokenType::sub},
        {"/", TokenType::div},       {"*", TokenType::mul},     {"%", TokenType::mod},       {"~", TokenType::tilde},
        {"[", TokenType::lbracket},  {"]", TokenType::rbracket}, {"(", TokenType::lparen},   {")", TokenType::rparen},
        {"{", TokenType::lbrace},    {"}", TokenType::rbrace},  {">", TokenType::gt},        {"<", TokenType::lt},
        {"=", TokenType::assign},    {".", TokenType::dot},     {":", TokenType::colon},     {"|", TokenType::pipe},
        {",", TokenType::comma},     {";", TokenType::semicolon},
    };
    for (const auto& op : kOperators) {
      std::string_view text(op.text);
      if (src_.compare(p, text.size(), text) != 0) continue;
      char c = text[0];
      if (text.size() == 1 && (c == '(' || c == '[' || c == '{')) {
        brackets.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
      } else if (text.size() == 1 && (c == ')' || c == ']' || c == '}')) {
        if (brackets.empty()) error(fmt::format("unexpected '{}'", c));
        if (brackets.back() != c) error(fmt::format("unexpected '{}', expected '{}'", c, brackets.back()));
        brackets.pop_back();
      }
      tokens_.push_back(Token{op.type, line_, std::string(text)});
      return p + text.size();
    }
    size_t next = p;
    char32_t cp = utf8::decode(src_, next);
    std::string shown;
    utf8::append(shown, cp == utf8::invalid ? U'\uFFFD' : cp);
    error(fmt::format("unexpected char '{}'", shown));
  }

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;  // the previous match ended with a newline
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) {
  size_t bad = utf8::first_invalid(source);
  if (bad != source.size()) {
    fail(ErrorCode::template_error, "template source is not valid UTF-8 (byte offset {})", bad);
  }
  Lexer lexer(normalize_newlines(source));
  return lexer.run();
}

}  // namespace zaya::jinja
