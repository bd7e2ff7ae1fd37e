// src/model/quantization.cpp - QuantizationPlan: spec strings and the per-matrix format choice.
#include "weights.h"

#include <zaya/error.h>
#include <zaya/quant.h>
#include <zaya/quantization.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <vector>

namespace zaya {

std::optional<DType> parse_weight_format(std::string_view name) noexcept {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (lower == "q8_0") return DType::q8_0;
  if (lower == "q4_0") return DType::q4_0;
  if (lower == "q4_k") return DType::q4_k;
  if (lower == "bf16") return DType::bf16;
  if (lower == "f32") return DType::f32;
  return std::nullopt;
}

std::optional<DType> QuantizationPlan::requested(MatrixClass c) const noexcept {
  switch (c) {
    case MatrixClass::experts: return experts;
    case MatrixClass::attention: return attention;
    case MatrixClass::head: return head;
    case MatrixClass::router: return std::nullopt;
  }
  return std::nullopt;
}

DType QuantizationPlan::resolve(MatrixClass c, DType stored, int64_t cols) const noexcept {
  std::optional<DType> want = requested(c);
  if (!want) return stored;
  auto fits = [&](DType t) { return cols > 0 && static_cast<size_t>(cols) % dtype_block_elems(t) == 0; };
  DType t = *want;
  if (t == DType::q4_k && !fits(t)) t = DType::q4_0;
  if (!fits(t)) return stored;
  return t;
}

QuantizationPlan QuantizationPlan::parse(std::string_view spec) {
  QuantizationPlan plan;
  bool any = false;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string_view::npos) comma = spec.size();
    std::string_view part = spec.substr(pos, comma - pos);
    pos = comma + 1;
    if (part.empty()) fail(ErrorCode::invalid_argument, "quantization spec '{}': empty item", spec);
    std::string_view key, value = part;
    if (size_t eq = part.find('='); eq != std::string_view::npos) {
      key = part.substr(0, eq);
      value = part.substr(eq + 1);
    }
    std::optional<DType> type;
    if (value != "keep") {
      type = parse_weight_format(value);
      if (!type)
        fail(ErrorCode::invalid_argument, "quantization spec '{}': unknown format '{}' (q8_0, q4_0, q4_k, bf16, f32 or keep)",
             spec, value);
    }
    if (key.empty()) {
      if (any) fail(ErrorCode::invalid_argument, "quantization spec '{}': the default format must come first", spec);
      plan.experts = plan.attention = plan.head = type;
    } else if (key == "experts") {
      plan.experts = type;
    } else if (key == "attn" || key == "attention") {
      plan.attention = type;
    } else if (key == "head" || key == "embedding") {
      plan.head = type;
    } else {
      fail(ErrorCode::invalid_argument, "quantization spec '{}': unknown class '{}' (experts, attn, head)", spec, key);
    }
    any = true;
    if (comma == spec.size()) break;
  }
  return plan;
}

std::string QuantizationPlan::to_string() const {
  if (empty()) return "";
  auto name = [](const std::optional<DType>& t) {
    if (!t) return std::string("keep");
    std::string s(dtype_name(*t));
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    return s;
  };
  return "experts=" + name(experts) + ",attn=" + name(attention) + ",head=" + name(head);
}

namespace model {

void convert_matrix_rows(const std::byte* src, DType src_type, size_t cols, DType target, std::byte* out, size_t rows) {
  const size_t in_row = dtype_row_bytes(src_type, cols), out_row = dtype_row_bytes(target, cols);
  if (target == src_type) {
    std::memcpy(out, src, rows * out_row);
    return;
  }
  std::vector<float> row(cols);
  for (size_t r = 0; r < rows; ++r, src += in_row, out += out_row) {
    if (is_quantized(src_type)) {
      dequantize_row(src_type, src, cols, row.data());
    } else {
      for (size_t j = 0; j < cols; ++j) row[j] = load_as_f32(src, src_type, j);
    }
    if (target == DType::f32) {
      std::memcpy(out, row.data(), cols * sizeof(float));
    } else if (target == DType::bf16) {
      for (size_t j = 0; j < cols; ++j) {
        const uint16_t b = f32_to_bf16(row[j]);
        std::memcpy(out + 2 * j, &b, 2);
      }
    } else {
      quantize_row(target, row.data(), cols, out);
    }
  }
}

}  // namespace model
}  // namespace zaya
