// src/rsa/answer.cpp - final-answer extraction (last balanced \boxed{}), light normalisation,
// majority vote with a deterministic tie rule, and the reasoning / answer split of an output.
#include <zaya/error.h>
#include <zaya/rsa.h>

#include <algorithm>
#include <cctype>
#include <map>

namespace zaya::rsa {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Position just past the brace that closes the one at `open` (text[open] == '{'), or npos.
// Escaped braces (\{ \}) do not count.
size_t match_brace(std::string_view text, size_t open) {
  int depth = 0;
  for (size_t i = open; i < text.size(); ++i) {
    const char ch = text[i];
    if (ch == '\\') {
      ++i;  // skip the escaped character
      continue;
    }
    if (ch == '{') ++depth;
    else if (ch == '}' && --depth == 0) return i + 1;
  }
  return std::string_view::npos;
}

// The answer of a box whose macro name ends at `after` (just past "\boxed" / "\fbox"), or
// nullopt if it is unbalanced, empty or not a box at all (e.g. "\boxedfoo").
std::optional<std::string> box_content(std::string_view text, size_t after) {
  size_t i = after;
  if (i < text.size() && text[i] == '{') {
    const size_t end = match_brace(text, i);
    if (end == std::string_view::npos) return std::nullopt;
    const std::string_view inner = trim(text.substr(i + 1, end - i - 2));
    if (inner.empty()) return std::nullopt;
    return std::string(inner);
  }
  if (i < text.size() && text[i] == ' ') {  // "\boxed 42": up to the next '$' or whitespace
    while (i < text.size() && text[i] == ' ') ++i;
    size_t j = i;
    while (j < text.size() && text[j] != '$' && !is_space(text[j])) ++j;
    if (j == i) return std::nullopt;
    return std::string(text.substr(i, j - i));
  }
  return std::nullopt;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
}

// Removes the control word `word` (e.g. "\left") where it is not the prefix of a longer one.
void remove_control_word(std::string& s, std::string_view word) {
  size_t pos = 0;
  while ((pos = s.find(word, pos)) != std::string::npos) {
    const size_t end = pos + word.size();
    if (end < s.size() && is_letter(s[end])) {
      pos = end;
      continue;
    }
    s.erase(pos, word.size());
  }
}

// \text{X} -> X (balanced), for the given macro names.
void unwrap_macro(std::string& s, std::string_view macro) {
  size_t pos = 0;
  while ((pos = s.find(macro, pos)) != std::string::npos) {
    const size_t open = pos + macro.size();
    if (open >= s.size() || s[open] != '{') {
      pos = open;
      continue;
    }
    const size_t end = match_brace(s, open);
    if (end == std::string::npos) {
      pos = open;
      continue;
    }
    const std::string inner = s.substr(open + 1, end - open - 2);
    s.replace(pos, end - pos, inner);
  }
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_digit(c); });
}

// "1,234,567" (optionally signed, optionally with a decimal part) -> without commas.
bool is_thousands_grouped(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  const size_t dot = s.find('.');
  std::string_view integer = s.substr(0, dot);
  if (dot != std::string_view::npos && !all_digits(s.substr(dot + 1))) return false;
  const size_t first = integer.find(',');
  if (first == std::string_view::npos || first == 0 || first > 3 || !all_digits(integer.substr(0, first))) return false;
  std::string_view rest = integer.substr(first);
  while (!rest.empty()) {
    if (rest.size() < 4 || rest[0] != ',' || !all_digits(rest.substr(1, 3))) return false;
    rest.remove_prefix(4);
  }
  return true;
}

std::string canonical_number(std::string s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.erase(0, 1);
  }
  const size_t dot = s.find('.');
  std::string integer = s.substr(0, dot);
  std::string fraction = dot == std::string::npos ? std::string() : s.substr(dot + 1);
  if (!(all_digits(integer) || integer.empty()) || !(all_digits(fraction) || fraction.empty())) return {};
  if (integer.empty() && fraction.empty()) return {};
  while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
  size_t nz = 0;
  while (nz + 1 < integer.size() && integer[nz] == '0') ++nz;
  integer.erase(0, nz);
  if (integer.empty()) integer.push_back('0');
  std::string out;
  if (negative && (integer != "0" || !fraction.empty())) out.push_back('-');
  out += integer;
  if (!fraction.empty()) {
    out.push_back('.');
    out += fraction;
  }
  return out;
}

bool looks_numeric(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  if (s.empty()) return false;
  bool digit = false, dot = false;
  for (char c : s) {
    if (is_digit(c)) digit = true;
    else if (c == '.' && !dot) dot = true;
    else return false;
  }
  return digit;
}

}  // namespace

std::optional<std::string> extract_boxed(std::string_view text) {
  // Every box start, then try them from the last one backwards.
  std::vector<size_t> ends;  // positions just past the macro name
  for (std::string_view macro : {std::string_view("\\boxed"), std::string_view("\\fbox")}) {
    size_t pos = 0;
    while ((pos = text.find(macro, pos)) != std::string_view::npos) {
      ends.push_back(pos + macro.size());
      pos += macro.size();
    }
  }
  std::sort(ends.begin(), ends.end());
  for (auto it = ends.rbegin(); it != ends.rend(); ++it)
    if (auto content = box_content(text, *it)) return content;
  return std::nullopt;
}

std::string normalize_answer(std::string_view answer) {
  std::string s(trim(answer));
  s.erase(std::remove(s.begin(), s.end(), '$'), s.end());
  replace_all(s, "\\dfrac", "\\frac");
  replace_all(s, "\\tfrac", "\\frac");
  remove_control_word(s, "\\left");
  remove_control_word(s, "\\right");
  remove_control_word(s, "\\displaystyle");
  for (std::string_view spacing : {"\\!", "\\,", "\\;", "\\:", "\\ "}) replace_all(s, spacing, "");
  for (std::string_view degree : {"^{\\circ}", "^\\circ"}) replace_all(s, degree, "");
  replace_all(s, "\\%", "");
  for (std::string_view macro : {"\\textbf", "\\textit", "\\text", "\\mathrm", "\\mathbf", "\\mbox"}) unwrap_macro(s, macro);
  s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return is_space(c); }), s.end());
  while (!s.empty() && s.back() == '.') s.pop_back();
  // One or more pairs of outer braces around the whole answer.
  while (s.size() >= 2 && s.front() == '{' && match_brace(s, 0) == s.size()) s = s.substr(1, s.size() - 2);
  if (is_thousands_grouped(s)) s.erase(std::remove(s.begin(), s.end(), ','), s.end());
  if (looks_numeric(s)) {
    std::string canonical = canonical_number(s);
    if (!canonical.empty()) s = std::move(canonical);
  }
  return s;
}

std::vector<Vote> majority_vote(std::span<const VoteInput> candidates) {
  std::map<std::string, size_t> index;
  std::vector<Vote> votes;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const VoteInput& c = candidates[i];
    if (c.answer.empty()) continue;
    auto [it, inserted] = index.emplace(c.answer, votes.size());
    if (inserted) votes.push_back(Vote{c.answer, 0, 0, static_cast<int>(i)});
    Vote& v = votes[it->second];
    ++v.count;
    if (c.finished) ++v.finished;
  }
  std::stable_sort(votes.begin(), votes.end(), [](const Vote& a, const Vote& b) {
    if (a.count != b.count) return a.count > b.count;
    if (a.finished != b.finished) return a.finished > b.finished;
    return a.first_index < b.first_index;
  });
  return votes;
}

OutputSplit split_output(std::span<const int32_t> tokens, const ThinkMarkers& markers, bool starts_in_reasoning,
                         const std::function<bool(int32_t)>& is_whitespace_token) {
  OutputSplit s;
  const size_t n = tokens.size();
  size_t begin = 0;
  if (starts_in_reasoning) {
    s.reasoning_started = true;
  } else if (markers.open) {
    size_t i = 0;
    while (i < n && is_whitespace_token && is_whitespace_token(tokens[i])) ++i;
    if (i < n && tokens[i] == *markers.open) {
      s.reasoning_started = true;
      begin = i + 1;
    }
  }
  if (!s.reasoning_started) {
    s.content_begin = 0;
    s.content_end = n;
    return s;
  }
  s.reasoning_begin = begin;
  s.reasoning_end = n;
  if (markers.close) {
    for (size_t i = begin; i < n; ++i) {
      if (tokens[i] == *markers.close) {
        s.reasoning_end = i;
        s.reasoning_finished = true;
        s.content_begin = i + 1;
        s.content_end = n;
        return s;
      }
    }
  }
  s.content_begin = s.content_end = n;
  return s;
}

}  // namespace zaya::rsa
