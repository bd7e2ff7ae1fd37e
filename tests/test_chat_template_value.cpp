// Tests for zaya::Value: construction, insertion order, JSON parsing and compact output.
#include <doctest/doctest.h>

#include <zaya/error.h>
#include <zaya/value.h>

#include <string>

using zaya::Value;

namespace {

zaya::ErrorCode parse_error_code(std::string_view text) {
  try {
    Value::parse_json(text);
  } catch (const zaya::Error& e) {
    return e.code();
  }
  return zaya::ErrorCode::ok;
}

std::string parse_error_message(std::string_view text) {
  try {
    Value::parse_json(text);
  } catch (const zaya::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("Value: objects keep insertion order and replace duplicates in place") {
  Value v;
  v["zeta"] = 1;
  v["alpha"] = "a";
  v["mid"] = Value::array({1, 2.5, nullptr, true});
  v["zeta"] = 3;
  CHECK(v.to_json() == R"({"zeta":3,"alpha":"a","mid":[1,2.5,null,true]})");
  REQUIRE(v.find("alpha") != nullptr);
  CHECK(v.find("alpha")->as_string() == "a");
  CHECK(v.find("missing") == nullptr);
  CHECK(v.size() == 3);
}

TEST_CASE("Value: large objects stay correct once the hash index kicks in") {
  Value v = Value::object();
  for (int i = 0; i < 100; ++i) v[std::to_string(i)] = i;
  v["50"] = "fifty";
  CHECK(v.size() == 100);
  CHECK(v.find("50")->as_string() == "fifty");
  CHECK(v.find("99")->as_int() == 99);
  CHECK(v.as_object().at_index(50).first == "50");
  CHECK(v.as_object().erase("10"));
  CHECK(v.find("10") == nullptr);
  CHECK(v.find("11")->as_int() == 11);
  CHECK(v.size() == 99);
}

TEST_CASE("Value::parse_json keeps number kinds faithful") {
  Value v = Value::parse_json(R"({"i": 42, "neg": -7, "f": 1.0, "e": 1e2, "big": 123456789012345678901234567890,
                                  "u": 18446744073709551615, "min": -9223372036854775808, "tiny": 1e-7})");
  CHECK(v.find("i")->is_integer());
  CHECK(v.find("i")->as_int() == 42);
  CHECK(v.find("neg")->as_int() == -7);
  CHECK(v.find("f")->is_number());
  CHECK(v.find("e")->as_double() == 100.0);
  CHECK(v.find("big")->is_big_integer());
  CHECK(v.find("big")->as_big_integer().digits == "123456789012345678901234567890");
  CHECK(v.find("u")->is_big_integer());
  CHECK(v.find("min")->as_int() == INT64_MIN);
  CHECK(v.to_json() ==
        R"({"i":42,"neg":-7,"f":1.0,"e":100.0,"big":123456789012345678901234567890,"u":18446744073709551615,"min":-9223372036854775808,"tiny":1e-07})");
}

TEST_CASE("Value::parse_json handles strings, escapes and scalars at the root") {
  CHECK(Value::parse_json(R"("a\nb\u00e9\ud83d\ude00")").as_string() == "a\nb\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(Value::parse_json("  17 ").as_int() == 17);
  CHECK(Value::parse_json("true").as_bool());
  CHECK(Value::parse_json("null").is_null());
  CHECK(Value::parse_json("[]").to_json() == "[]");
  CHECK(Value::parse_json(R"({"a":{}})").to_json() == R"({"a":{}})");
  CHECK(Value::parse_json(R"({"a":1,"a":2,"b":3})").to_json() == R"({"a":2,"b":3})");
  CHECK(Value(std::string("q\"\\\x01")).to_json() == R"("q\"\\\u0001")");
}

TEST_CASE("Value::parse_json rejects malformed JSON with bad_format") {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "[1] x", "{\"a\":1}}", "nul",
                          "\"unterminated", "[\"\xff\"]", "{'a':1}", "[1 2]", "1 2", "\"a\" \"b\"", "NaN"}) {
    CAPTURE(std::string(bad));
    CHECK(parse_error_code(bad) == zaya::ErrorCode::bad_format);
  }
  CHECK(parse_error_message("[1] x").find("invalid JSON") != std::string::npos);
}

TEST_CASE("Value::parse_json refuses absurd nesting instead of overflowing the stack") {
  std::string deep(100000, '[');
  CHECK(parse_error_code(deep) == zaya::ErrorCode::bad_format);
  std::string ok(200, '[');
  ok += std::string(200, ']');
  CHECK(Value::parse_json(ok).is_array());
}

TEST_CASE("Value: typed accessors report mismatches") {
  Value v = "text";
  CHECK_THROWS_AS(v.as_int(), zaya::Error);
  CHECK(Value(3).as_double() == 3.0);
  CHECK(Value(18446744073709551615ull).is_big_integer());
  CHECK(Value(5u).as_int() == 5);
}
