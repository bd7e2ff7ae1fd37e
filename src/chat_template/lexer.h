// chat_template/lexer.h - turns template source into tokens exactly like jinja2's lexer does
// with trim_blocks=True and lstrip_blocks=True (the settings HF transformers renders with).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zaya::jinja {

enum class TokenType : uint8_t {
  data,  // literal template text
  variable_begin,
  variable_end,
  block_begin,
  block_end,
  name,
  string,
  integer,
  floating,
  add,
  sub,
  div,
  floordiv,
  mul,
  pow,
  mod,
  tilde,
  lbracket,
  rbracket,
  lparen,
  rparen,
  lbrace,
  rbrace,
  eq,
  ne,
  gt,
  gteq,
  lt,
  lteq,
  assign,
  dot,
  colon,
  pipe,
  comma,
  semicolon,
  eof,
};

struct Token {
  TokenType type;
  int line;
  std::string text;  // data, name, or the decoded string literal
  int64_t int_value = 0;
  double float_value = 0;
  bool int_overflow = false;  // an integer literal beyond int64 (text keeps its digits)
};

const char* describe(TokenType type);

// Normalises newlines (\r\n and \r become \n), drops one trailing newline
// (keep_trailing_newline=False) and tokenizes. Throws zaya::Error(template_error) on invalid
// UTF-8, unterminated comments or raw blocks, bad string literals and unexpected characters.
std::vector<Token> tokenize(std::string_view source);

}  // namespace zaya::jinja
