// chat_template/python_text.h - Python's text semantics, as far as chat templates can observe
// them: float repr, string repr, str.isspace / strip / split / splitlines, case mapping and
// code-point indexing of UTF-8 strings.
//
// Case mapping covers ASCII, Latin-1, Latin Extended-A/Additional, Greek, Cyrillic, Armenian and
// fullwidth Latin; other scripts are left unchanged (a documented gap versus CPython's full
// Unicode tables). Everything here works on valid UTF-8.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zaya::jinja {

// repr(float) / str(float): shortest round-trip digits, "1.0", "1e-05", "1e+16", "inf", "nan".
std::string python_float_repr(double value);

// repr(str): quotes and escapes the way CPython does.
std::string python_string_repr(std::string_view text);

bool is_python_space(char32_t cp);
bool is_ascii(std::string_view text);

// Number of code points (len(str) in Python).
size_t code_point_count(std::string_view text);
// Byte offsets of each code point plus a final entry equal to text.size(); for ASCII text this
// is just 0..n, which callers may skip computing.
std::vector<size_t> code_point_offsets(std::string_view text);

// str.strip / lstrip / rstrip; `chars` is nullopt for "whitespace".
std::string python_strip(std::string_view text, const std::optional<std::string>& chars, bool left,
                         bool right);
// str.split(sep=None, maxsplit=-1) and str.rsplit.
std::vector<std::string> python_split(std::string_view text, const std::optional<std::string>& sep,
                                      int64_t maxsplit);
std::vector<std::string> python_rsplit(std::string_view text, const std::optional<std::string>& sep,
                                       int64_t maxsplit);
// str.splitlines(keepends)
std::vector<std::string> python_splitlines(std::string_view text, bool keepends);

char32_t to_upper(char32_t cp);
char32_t to_lower(char32_t cp);
bool is_cased(char32_t cp);

std::string python_upper(std::string_view text);
std::string python_lower(std::string_view text);
std::string python_capitalize(std::string_view text);  // str.capitalize
std::string python_title(std::string_view text);       // str.title
std::string python_swapcase(std::string_view text);

// Decodes valid UTF-8 into code points (invalid bytes come out as U+FFFD).
std::u32string to_code_points(std::string_view text);
std::string from_code_points(std::u32string_view cps);

}  // namespace zaya::jinja
