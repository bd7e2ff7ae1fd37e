// zaya/value.h - a small JSON-like value: what chat messages, tool schemas and template variables
// are made of.
//
// Objects keep insertion order, like Python dicts, because chat templates print them with
// `tojson` and the result must match json.dumps byte for byte. Integers that do not fit in
// int64 are kept as their decimal digits (big_integer) so they pass through unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace zaya {

namespace detail {

// An insertion-ordered string-keyed map. Small maps are searched linearly; once a map grows
// past a few entries it also keeps a hash index so that hostile inputs with huge objects cannot
// make lookups or duplicate-key checks quadratic.
template <typename V>
class OrderedMap {
 public:
  using Entry = std::pair<std::string, V>;

  OrderedMap() = default;
  OrderedMap(std::initializer_list<Entry> entries) {
    for (const auto& e : entries) set(e.first, e.second);
  }

  size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  auto begin() const noexcept { return entries_.begin(); }
  auto end() const noexcept { return entries_.end(); }
  auto begin() noexcept { return entries_.begin(); }
  auto end() noexcept { return entries_.end(); }
  const Entry& at_index(size_t i) const { return entries_[i]; }

  const V* find(std::string_view key) const {
    size_t i = index_of(key);
    return i == npos ? nullptr : &entries_[i].second;
  }
  V* find(std::string_view key) {
    size_t i = index_of(key);
    return i == npos ? nullptr : &entries_[i].second;
  }
  bool contains(std::string_view key) const { return index_of(key) != npos; }

  // Inserts at the end, or replaces the value in place (keeping the key's first position, as
  // Python dicts and json.loads do for duplicate keys).
  V& set(std::string key, V value) {
    size_t i = index_of(key);
    if (i != npos) {
      entries_[i].second = std::move(value);
      return entries_[i].second;
    }
    entries_.emplace_back(std::move(key), std::move(value));
    if (!index_.empty()) {
      index_.emplace(entries_.back().first, entries_.size() - 1);
    } else if (entries_.size() > kIndexThreshold) {
      rebuild_index();
    }
    return entries_.back().second;
  }

  // Returns the value for `key`, inserting a default-constructed one if missing.
  V& operator[](std::string_view key) {
    size_t i = index_of(key);
    if (i != npos) return entries_[i].second;
    return set(std::string(key), V{});
  }

  bool erase(std::string_view key) {
    size_t i = index_of(key);
    if (i == npos) return false;
    entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
    index_.clear();
    if (entries_.size() > kIndexThreshold) rebuild_index();
    return true;
  }

  void clear() noexcept {
    entries_.clear();
    index_.clear();
  }

  friend bool operator==(const OrderedMap& a, const OrderedMap& b) {
    // Python dict equality ignores order.
    if (a.size() != b.size()) return false;
    for (const auto& [key, value] : a.entries_) {
      const V* other = b.find(key);
      if (!other || !(*other == value)) return false;
    }
    return true;
  }

 private:
  static constexpr size_t npos = static_cast<size_t>(-1);
  static constexpr size_t kIndexThreshold = 16;

  size_t index_of(std::string_view key) const {
    if (!index_.empty()) {
      auto it = index_.find(std::string(key));
      return it == index_.end() ? npos : it->second;
    }
    for (size_t i = 0; i < entries_.size(); ++i)
      if (entries_[i].first == key) return i;
    return npos;
  }

  void rebuild_index() {
    index_.clear();
    index_.reserve(entries_.size() * 2);
    for (size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].first, i);
  }

  std::vector<Entry> entries_;
  std::unordered_map<std::string, size_t> index_;  // empty while the map is small
};

}  // namespace detail

class Value {
 public:
  enum class Type : uint8_t { null, boolean, integer, big_integer, number, string, array, object };
  using Array = std::vector<Value>;
  using Object = detail::OrderedMap<Value>;

  // An integer outside int64 range, kept as its decimal digits (optionally with a leading '-').
  struct BigInteger {
    std::string digits;
    friend bool operator==(const BigInteger&, const BigInteger&) = default;
  };

  Value() noexcept = default;
  Value(std::nullptr_t) noexcept {}
  Value(bool b) noexcept : data_(b) {}
  Value(int i) noexcept : data_(static_cast<int64_t>(i)) {}
  Value(long i) noexcept : data_(static_cast<int64_t>(i)) {}
  Value(long long i) noexcept : data_(static_cast<int64_t>(i)) {}
  Value(unsigned i) noexcept : data_(static_cast<int64_t>(i)) {}
  Value(unsigned long i);
  Value(unsigned long long i);
  Value(double d) noexcept : data_(d) {}
  Value(const char* s) : data_(std::string(s)) {}
  Value(std::string s) noexcept : data_(std::move(s)) {}
  Value(std::string_view s) : data_(std::string(s)) {}
  Value(Array a) noexcept : data_(std::move(a)) {}
  Value(Object o) noexcept : data_(std::move(o)) {}
  Value(BigInteger b) noexcept : data_(std::move(b)) {}

  static Value array(std::initializer_list<Value> items = {}) { return Value(Array(items)); }
  static Value object(std::initializer_list<Object::Entry> entries = {}) { return Value(Object(entries)); }

  // Parses JSON text (RFC 8259, UTF-8). Throws zaya::Error(bad_format) with the reason and byte
  // offset on malformed input. Numbers keep their kind: "1" is an integer, "1.0" a double,
  // integers beyond int64 become big_integer.
  static Value parse_json(std::string_view text);

  // Compact JSON ("{"a":[1,2]}"); doubles use the shortest round-trip form, like Python's repr.
  std::string to_json() const;

  Type type() const noexcept { return static_cast<Type>(data_.index()); }
  bool is_null() const noexcept { return type() == Type::null; }
  bool is_bool() const noexcept { return type() == Type::boolean; }
  bool is_integer() const noexcept { return type() == Type::integer; }
  bool is_big_integer() const noexcept { return type() == Type::big_integer; }
  bool is_number() const noexcept { return type() == Type::number; }
  bool is_string() const noexcept { return type() == Type::string; }
  bool is_array() const noexcept { return type() == Type::array; }
  bool is_object() const noexcept { return type() == Type::object; }

  // Typed accessors; throw zaya::Error(invalid_argument) on a type mismatch.
  bool as_bool() const;
  int64_t as_int() const;
  double as_double() const;  // integers convert
  const BigInteger& as_big_integer() const;
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  // Object member lookup; nullptr when missing or when this is not an object.
  const Value* find(std::string_view key) const;
  // Object member access, inserting null if missing; a null Value becomes an empty object first.
  Value& operator[](std::string_view key);
  // Appends to an array; a null Value becomes an empty array first.
  void push_back(Value v);
  size_t size() const noexcept;  // elements of an array or object, else 0

  friend bool operator==(const Value& a, const Value& b) { return a.data_ == b.data_; }

 private:
  std::variant<std::monostate, bool, int64_t, BigInteger, double, std::string, Array, Object> data_;
};

}  // namespace zaya
