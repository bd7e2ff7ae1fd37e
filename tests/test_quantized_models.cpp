// Quantized models end to end: QuantizationPlan specs, quantize-on-load, `zaya quantize` GGUF
// files (tensors, config and tokenizer embedded) loaded back through Model::load, and the CLI's
// quantize / compare / bench commands. Kernel-level exactness is in test_model_quant.cpp.
#include "test_support.h"

#include "model/weights.h"

#include <zaya/context.h>
#include <zaya/error.h>
#include <zaya/gguf.h>
#include <zaya/model.h>
#include <zaya/model_tokenizer.h>
#include <zaya/quant.h>
#include <zaya/quantization.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <random>
#include <sys/wait.h>

using namespace zaya;

namespace {

std::filesystem::path arith_model() { return test::default_model(); }

// A fixed id sequence.
std::vector<int32_t> test_ids(int64_t vocab, size_t n) { return test::pseudo_random_ids(vocab, n, 7); }

// Fraction of rows whose argmax agrees, and the mean of per-row ||a - b|| / ||a||.
std::pair<double, double> agreement(const std::vector<float>& a, const std::vector<float>& b, size_t vocab) {
  REQUIRE(a.size() == b.size());
  size_t agree = 0, rows = a.size() / vocab;
  double rel = 0;
  for (size_t r = 0; r < rows; ++r) {
    const float* x = a.data() + r * vocab;
    const float* y = b.data() + r * vocab;
    agree += (std::max_element(x, x + vocab) - x) == (std::max_element(y, y + vocab) - y);
    double d = 0, n = 0;
    for (size_t j = 0; j < vocab; ++j) {
      d += (double(x[j]) - y[j]) * (double(x[j]) - y[j]);
      n += double(x[j]) * x[j];
    }
    rel += std::sqrt(d / n);
  }
  return {double(agree) / double(rows), rel / double(rows)};
}

using Run = test::CliRun;
Run zaya_cli(const std::string& arguments) { return test::run_cli(arguments); }

double json_number(const std::string& json, const std::string& key) {
  const auto at = json.find("\"" + key + "\":");
  REQUIRE_MESSAGE(at != std::string::npos, key << " in " << json);
  return std::stod(json.substr(at + key.size() + 3));
}

ErrorCode load_error(const std::filesystem::path& path) {
  try {
    Model::load(path);
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::ok;
}

}  // namespace

TEST_CASE("quantization specs: defaults, per-class overrides, keep, and errors that name the bad part") {
  auto p = QuantizationPlan::parse("q4_0");
  CHECK(p.experts == DType::q4_0);
  CHECK(p.attention == DType::q4_0);
  CHECK(p.head == DType::q4_0);
  p = QuantizationPlan::parse("q4_k,head=q8_0,attn=keep");
  CHECK(p.experts == DType::q4_k);
  CHECK(!p.attention);
  CHECK(p.head == DType::q8_0);
  CHECK(QuantizationPlan::parse(p.to_string()).to_string() == p.to_string());
  CHECK(QuantizationPlan::parse("keep").empty());
  CHECK(QuantizationPlan::parse("experts=Q8_0").experts == DType::q8_0);
  for (const char* bad : {"", "q5_0", "q4_0,", "foo=q4_0", "q4_0,q8_0", "head=", "experts=q4_0,q8_0"}) {
    INFO(bad);
    CHECK_THROWS_AS(QuantizationPlan::parse(bad), Error);
  }
  // A row length that is not a whole number of the format's blocks falls back: q4_k -> q4_0 -> as stored.
  CHECK(p.resolve(MatrixClass::experts, DType::bf16, 2048) == DType::q4_k);
  CHECK(p.resolve(MatrixClass::experts, DType::bf16, 128) == DType::q4_0);
  CHECK(p.resolve(MatrixClass::experts, DType::bf16, 48) == DType::bf16);
  CHECK(p.resolve(MatrixClass::router, DType::bf16, 2048) == DType::bf16);
  CHECK(p.resolve(MatrixClass::attention, DType::f32, 2048) == DType::f32);
  CHECK(matrix_class_of("model.layers.3.mlp.experts.gate_up_proj") == MatrixClass::experts);
  CHECK(matrix_class_of("model.layers.7.zaya_block.experts.local_experts.2.linear_fc1.weight") == MatrixClass::experts);
  CHECK(matrix_class_of("model.layers.0.self_attn.qkv_proj.v_proj_delayed.weight") == MatrixClass::attention);
  CHECK(matrix_class_of("model.layers.2.self_attn.qkv.val_proj1.weight") == MatrixClass::attention);
  CHECK(matrix_class_of("model.embed_tokens.weight") == MatrixClass::head);
  CHECK(matrix_class_of("model.layers.0.mlp.gate.down_proj.weight") == MatrixClass::router);
  CHECK(matrix_class_of("model.layers.0.self_attn.qkv_proj.conv_qk_grouped.weight") == MatrixClass::router);
}

TEST_CASE("a GGUF file written without quantization computes exactly what the safetensors checkpoint does") {
  for (const char* layout : {"native-f32", "legacy-f32", "native-bf16-sharded"}) {
    INFO(layout);
    const auto dir = test::checkpoint(layout);
    const auto file = test::temp_dir(std::string("gguf-plain-") + layout) / "model.gguf";
    quantize_to_gguf(dir, QuantizationPlan{}, file, 1);
    CHECK(is_gguf_file(file));
    CHECK(!is_gguf_file(dir / "config.json"));
    auto reference = Model::load(dir);
    auto from_gguf = Model::load(file);
    CHECK(from_gguf->config().layout == reference->config().layout);
    CHECK(from_gguf->info().tensor_count == reference->info().tensor_count);
    const auto ids = test_ids(reference->config().vocab, 12);
    CHECK(test::logits_at_every_position(from_gguf, ids, 2) == test::logits_at_every_position(reference, ids, 2));
  }
}

TEST_CASE("quantize-on-load and a quantized GGUF file give identical logits, close to the original") {
  const auto dir = arith_model();
  auto reference = Model::load(dir);
  const size_t V = static_cast<size_t>(reference->config().vocab);
  auto tokenizer = load_model_tokenizer(dir);
  auto ids = tokenizer.encode(
      "<|im_start|>user\nMia has 47 shells. She finds 38 more. She sells 3 boxes of 12 shells. Her stock doubles. How many "
      "shells does Mia have now?<|im_end|>\n<|im_start|>assistant\n<think>\n47+38=85\n3*12=36\n85-36=49\n49*2=98\n</think>\n\n\\boxed{98}");
  REQUIRE(ids.size() > 40);
  // Ids from the last whole group of 16 (Q4_K: 8) embedding rows and past it (the interleaved
  // layouts keep the tail rows in the ggml layout): the embedding lookup must find both.
  const int32_t vocab = static_cast<int32_t>(reference->config().vocab);
  for (int32_t id : {vocab - 1, vocab / 16 * 16 - 1, vocab / 16 * 16 - 16, vocab / 8 * 8 - 1, 9}) ids.push_back(id);
  const auto exact = test::logits_at_every_position(reference, ids, 2);

  struct Case {
    const char* spec;
    const char* format;
    double min_top1, max_rel;
  };
  // Bounds, set from measurements with margin (the test prints the figures): the weights AND the
  // activations are quantized (8-bit blocks of 32) before every matmul, through 4 blocks of a
  // model with hidden 128, so errors are larger than on an 8B model. Measured on zaya-arith:
  // first checkpoint Q8_0 top-1 96.7%, mean relative logit error 1.9%, Q4_0 87.9%, 16.5%;
  // retrained checkpoint Q8_0 100%, 1.0%, Q4_0 94.5%, 8.9% (Q4_K falls back to Q4_0: rows of 128
  // are not whole 256-blocks). docs/PERFORMANCE.md has the table.
  for (const Case& c : {Case{"q8_0", "Q8_0", 0.93, 0.03}, Case{"q4_0", "Q4_0", 0.80, 0.25}, Case{"q4_k", "Q4_0", 0.80, 0.25}}) {
    INFO(c.spec);
    ModelOptions options;
    options.quantize = QuantizationPlan::parse(c.spec);
    auto on_load = Model::load(dir, options);
    CHECK(on_load->info().stored_dtypes.find(c.format) != std::string::npos);
    const auto quantized = test::logits_at_every_position(on_load, ids, 2);
    const auto [top1, rel] = agreement(exact, quantized, V);
    MESSAGE(c.spec << ": top-1 agreement " << top1 << ", mean relative logit error " << rel);
    CHECK(top1 >= c.min_top1);
    CHECK(rel <= c.max_rel);
    CHECK(rel > 0);  // really quantized

    // The same file copied into the arena (interleaved layout on the CPU) computes exactly what
    // quantize-on-load does. Memory-mapped it runs the ggml-layout kernels, whose f32 summation
    // order differs; the difference is not f32 rounding alone: a last-bit change upstream can
    // flip the int8 rounding of an activation (a step of 1/254 of its block's range) in the next
    // product. Measured 2.8e-3 (Q8_0) and 7.2e-3 (Q4_0) with the R16 kernels; single products
    // agree exactly (test_model_quant).
    const auto file = test::temp_dir(std::string("gguf-q-") + c.spec) / "model.gguf";
    quantize_to_gguf(dir, options.quantize, file, 2);
    ModelOptions copy;
    copy.storage = WeightStorage::copied;
    CHECK(test::logits_at_every_position(Model::load(file, copy), ids, 2) == quantized);
    const auto mapped = test::logits_at_every_position(Model::load(file), ids, 2);
    const double layout_error = test::relative_error(mapped, quantized);
    MESSAGE(c.spec << ": mapped ggml layout vs interleaved arena, max relative difference " << layout_error);
    CHECK(layout_error < 2e-2);
    // Quantization is deterministic and independent of the thread count.
    const auto file1 = file.parent_path() / "one-thread.gguf";
    quantize_to_gguf(dir, options.quantize, file1, 1);
    CHECK(test::logits_at_every_position(Model::load(file1), ids, 2) == mapped);
  }
}

TEST_CASE("a GGUF file in the R16 layout: memory-mapped it computes exactly what the ggml file copied into the arena does") {
  const auto dir = arith_model();
  auto reference = Model::load(dir);
  const int32_t vocab = static_cast<int32_t>(reference->config().vocab);
  auto ids = test_ids(vocab, 30);
  // Embedding rows in the last whole group of 16 and past it (those stay in ggml's layout).
  for (int32_t id : {vocab - 1, vocab / 16 * 16 - 1, vocab / 16 * 16 - 16, 5}) ids.push_back(id);
  for (const char* spec : {"q4_0", "q8_0", "experts=q4_0,attn=q8_0,head=q8_0"}) {
    INFO(spec);
    const auto plan = QuantizationPlan::parse(spec);
    const auto tmp = test::temp_dir(std::string("gguf-r16-") + spec);
    quantize_to_gguf(dir, plan, tmp / "ggml.gguf", 2);
    quantize_to_gguf(dir, plan, tmp / "r16.gguf", 2, {}, GgufTensorLayout::r16);
    GgufFile r16(tmp / "r16.gguf");
    CHECK(r16.metadata().get_string("zaya.tensor_layout") == "r16");
    CHECK(r16.metadata().get_uint("general.alignment") == kGgufExportAlignment);
    size_t interleaved = 0;
    for (const auto& t : r16.tensors()) {
      CAPTURE(t.name);
      // Whole cache lines for the kernels' aligned loads (the mapping starts on a page).
      CHECK(reinterpret_cast<uintptr_t>(t.data) % kGgufExportAlignment == 0);
      // Exactly the block-quantized matrices, each the size of its ggml twin.
      CHECK(t.interleaved == is_quantized(t.dtype));
      CHECK(t.nbytes == GgufFile(tmp / "ggml.gguf").find(t.name)->nbytes);
      interleaved += t.interleaved;
    }
    CHECK(interleaved > 0);

    ModelOptions copy;
    copy.storage = WeightStorage::copied;
    auto ggml_copied = Model::load(tmp / "ggml.gguf", copy);
    auto r16_mapped = Model::load(tmp / "r16.gguf");
    CHECK(r16_mapped->info().stored_dtypes.find("_R16") != std::string::npos);
    const auto expected = test::logits_at_every_position(ggml_copied, ids, 2);
    CHECK(test::logits_at_every_position(r16_mapped, ids, 2) == expected);
    CHECK(test::logits_at_every_position(Model::load(tmp / "r16.gguf", copy), ids, 2) == expected);
    // Quantize-on-load from interleaved sources: the arena reads them back as ggml rows.
    ModelOptions requantize;
    requantize.quantize = QuantizationPlan::parse("q8_0");
    CHECK(test::logits_at_every_position(Model::load(tmp / "r16.gguf", requantize), ids, 2) ==
          test::logits_at_every_position(Model::load(tmp / "ggml.gguf", requantize), ids, 2));
    // The LM-head shortlist builds its approximation from an interleaved head as from a plain one.
    ModelOptions shortlist;
    shortlist.head_shortlist = 8;
    CHECK(test::logits_at_every_position(Model::load(tmp / "r16.gguf", shortlist), ids, 2) ==
          test::logits_at_every_position(Model::load(tmp / "ggml.gguf", [&] { auto o = copy; o.head_shortlist = 8; return o; }()), ids, 2));
  }
}

TEST_CASE("a zaya GGUF file as the source: ggml <-> R16 layout without quantizing, metadata carried over") {
  const auto tmp = test::temp_dir("gguf-relayout");
  const auto plan = QuantizationPlan::parse("q4_0");
  quantize_to_gguf(arith_model(), plan, tmp / "ggml.gguf", 2);
  quantize_to_gguf(arith_model(), plan, tmp / "r16-direct.gguf", 2, {}, GgufTensorLayout::r16);
  quantize_to_gguf(tmp / "ggml.gguf", QuantizationPlan{}, tmp / "r16.gguf", 2, {}, GgufTensorLayout::r16);
  quantize_to_gguf(tmp / "r16.gguf", QuantizationPlan{}, tmp / "back.gguf", 2);
  GgufFile ggml(tmp / "ggml.gguf"), direct(tmp / "r16-direct.gguf"), r16(tmp / "r16.gguf"), back(tmp / "back.gguf");
  REQUIRE(r16.tensors().size() == ggml.tensors().size());
  REQUIRE(back.tensors().size() == ggml.tensors().size());
  for (size_t i = 0; i < ggml.tensors().size(); ++i) {
    const TensorInfo &a = ggml.tensors()[i], &b = r16.tensors()[i], &c = back.tensors()[i], &d = direct.tensors()[i];
    CAPTURE(a.name);
    REQUIRE(a.nbytes == b.nbytes);
    CHECK(b.interleaved == is_quantized(a.dtype));
    CHECK(std::memcmp(b.data, d.data, b.nbytes) == 0);  // as if quantized straight to R16
    CHECK_FALSE(c.interleaved);
    CHECK(std::memcmp(c.data, a.data, a.nbytes) == 0);  // and back: the original bytes
  }
  for (const char* key : {"zaya.config_json", "tokenizer.huggingface.json", "general.name", "zaya.quantization"})
    CHECK(r16.metadata().get_string(key) == ggml.metadata().get_string(key));
  CHECK(ggml.metadata().get_string("zaya.quantization") == plan.to_string());
  CHECK(r16.metadata().get_string("zaya.tensor_layout") == "r16");
  CHECK(back.metadata().get_string("zaya.tensor_layout") == "ggml");
  // Requantizing an R16 source on two threads reads its rows back in ggml's order.
  quantize_to_gguf(tmp / "r16.gguf", QuantizationPlan::parse("q8_0"), tmp / "q8-from-r16.gguf", 2);
  quantize_to_gguf(tmp / "ggml.gguf", QuantizationPlan::parse("q8_0"), tmp / "q8-from-ggml.gguf", 2);
  GgufFile q8a(tmp / "q8-from-r16.gguf"), q8b(tmp / "q8-from-ggml.gguf");
  CHECK(q8a.metadata().get_string("zaya.quantization") == QuantizationPlan::parse("q8_0").to_string());
  for (size_t i = 0; i < q8a.tensors().size(); ++i) {
    CAPTURE(q8a.tensors()[i].name);
    REQUIRE(q8a.tensors()[i].nbytes == q8b.tensors()[i].nbytes);
    CHECK(std::memcmp(q8a.tensors()[i].data, q8b.tensors()[i].data, q8a.tensors()[i].nbytes) == 0);
  }
  // Not a zaya file: refused before anything is written.
  write_gguf(tmp / "other.gguf", {{"general.architecture", "llama"}}, std::vector<OwnedTensor>{});
  try {
    quantize_to_gguf(tmp / "other.gguf", QuantizationPlan{}, tmp / "x.gguf", 1);
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unsupported);
  }
  CHECK_FALSE(std::filesystem::exists(tmp / "x.gguf"));
}

TEST_CASE("plain_rows: any row range of an R16 tensor reads back ggml's rows") {
  // 3 matrices of 40 rows (two whole groups of 16, then 8 plain rows), Q4_0 rows of 64.
  const size_t rows = 40, cols = 64, matrices = 3, row_bytes = dtype_row_bytes(DType::q4_0, cols);
  std::vector<std::byte> plain(matrices * rows * row_bytes), packed(plain.size());
  std::mt19937 rng(5);
  for (auto& b : plain) b = static_cast<std::byte>(rng());
  for (size_t m = 0; m < matrices; ++m)
    repack_interleaved(DType::q4_0, plain.data() + m * rows * row_bytes, rows, cols, packed.data() + m * rows * row_bytes);
  TensorInfo t;
  t.name = "w";
  t.dtype = DType::q4_0;
  t.shape = {int64_t(matrices), int64_t(rows), int64_t(cols)};
  t.data = packed.data();
  t.nbytes = packed.size();
  t.interleaved = true;
  std::vector<std::byte> scratch;
  for (size_t first = 0; first < matrices * rows; ++first)
    for (size_t n : {size_t(1), size_t(3), size_t(17), size_t(40), matrices * rows - first}) {
      if (first + n > matrices * rows) continue;
      CAPTURE(first);
      CAPTURE(n);
      const std::byte* got = model::plain_rows(t, cols, first, n, scratch);
      REQUIRE(std::memcmp(got, plain.data() + first * row_bytes, n * row_bytes) == 0);
    }
}

TEST_CASE("an R16 type on a tensor zaya never interleaves (a router matrix) is refused") {
  const auto tmp = test::temp_dir("gguf-r16-router");
  quantize_to_gguf(arith_model(), QuantizationPlan::parse("q4_0"), tmp / "r16.gguf", 1, {}, GgufTensorLayout::r16);
  std::string bytes;
  {
    std::ifstream in(tmp / "r16.gguf", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  // Tensor info: u64 name length, name, u32 n_dims, n_dims x u64, u32 type. The BF16 [32, 128]
  // router down projection becomes Q4_0_R16: fewer bytes, so it still fits its place.
  const std::string name = "model.layers.1.mlp.gate.down_proj.weight";
  std::string key(8, '\0');
  for (size_t i = 0; i < 8; ++i) key[i] = static_cast<char>((name.size() >> (8 * i)) & 0xff);
  key += name;
  const size_t at = bytes.find(key);
  REQUIRE(at != std::string::npos);
  const size_t type_at = at + key.size() + 4 + 2 * 8;
  uint32_t type = 0;
  std::memcpy(&type, bytes.data() + type_at, 4);
  REQUIRE(type == kGgmlTypeBF16);
  type = kZayaTypeQ4_0_R16;
  std::memcpy(bytes.data() + type_at, &type, 4);
  {
    std::ofstream out(tmp / "patched.gguf", std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  try {
    Model::load(tmp / "patched.gguf");
    FAIL("loaded");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::bad_format);
    CHECK(std::string(e.what()).find("router tensor '" + name + "' is in the interleaved R16 layout") != std::string::npos);
  }
}

TEST_CASE("R16 weights go back to ggml's rows for a backend that does not read them") {
  // What Model::load does for a non-CPU backend: the arena without the CPU repack.
  const auto tmp = test::temp_dir("gguf-r16-unpack");
  quantize_to_gguf(arith_model(), QuantizationPlan::parse("q4_0"), tmp / "ggml.gguf", 1);
  quantize_to_gguf(arith_model(), QuantizationPlan::parse("q4_0"), tmp / "r16.gguf", 1, {}, GgufTensorLayout::r16);
  auto load = [](const std::filesystem::path& file) {
    auto gguf = std::make_shared<const GgufFile>(file);
    auto store = TensorStore::from_gguf(gguf);
    const ModelConfig config = ModelConfig::parse(gguf->metadata().get_string("zaya.config_json"), model::detect_layout(*store));
    return model::load_weights(store, config);
  };
  auto plain = load(tmp / "ggml.gguf");
  auto packed = load(tmp / "r16.gguf");
  size_t matrices = 0, was_interleaved = 0;
  model::for_each_matrix(packed, [&](WeightMatrix& m, MatrixClass) { was_interleaved += m.interleaved; });
  CHECK(was_interleaved > 0);
  model::store_weights_in_arena(packed, {}, /*repack_for_cpu=*/false, 2, {});
  std::vector<const WeightMatrix*> a, b;
  model::for_each_matrix(plain, [&](WeightMatrix& m, MatrixClass) { a.push_back(&m); });
  model::for_each_matrix(packed, [&](WeightMatrix& m, MatrixClass) { b.push_back(&m); });
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK_FALSE(b[i]->interleaved);
    REQUIRE(a[i]->dtype == b[i]->dtype);
    REQUIRE(a[i]->bytes() == b[i]->bytes());
    CHECK(std::memcmp(a[i]->data, b[i]->data, a[i]->bytes()) == 0);
    ++matrices;
  }
  CHECK(matrices > 0);
}

TEST_CASE("the tokenizer and chat template travel inside the GGUF file") {
  const auto dir = arith_model();
  const auto file = test::temp_dir("gguf-tokenizer") / "model.gguf";
  quantize_to_gguf(dir, QuantizationPlan::parse("q8_0"), file, 2);
  CHECK(model_has_tokenizer(file));
  const auto a = load_model_tokenizer(dir);
  const auto b = load_model_tokenizer(file);
  for (const char* text : {"Ben has 70 apples. Sam gives him 47 more.", "<|im_start|>user\nhi<|im_end|>", "\\boxed{12}"})
    CHECK(a.encode(text) == b.encode(text));
  REQUIRE(!a.chat_template().empty());
  CHECK(a.chat_template() == b.chat_template());
  CHECK(a.eos_token().has_value() == b.eos_token().has_value());

  const GgufFile gguf(file);
  CHECK(gguf.metadata().get_string("general.architecture") == "zaya");
  CHECK(gguf.metadata().get_int("zaya.hidden_size") == Model::load(dir)->config().hidden);
  CHECK(gguf.find("model.embed_tokens.weight")->dtype == DType::q8_0);
  CHECK(gguf.find("model.layers.0.mlp.gate.down_proj.weight")->dtype != DType::q8_0);  // routers are never quantized
}

TEST_CASE("GGUF files that are not zaya models, or whose metadata contradicts the config, are refused") {
  const auto dir = test::temp_dir("gguf-foreign");
  write_gguf(dir / "llama.gguf", {{"general.architecture", GgufValue("llama")}}, std::vector<OwnedTensor>{});
  CHECK(load_error(dir / "llama.gguf") == ErrorCode::unsupported);
  write_gguf(dir / "bare.gguf", {{"zaya.hidden_size", GgufValue(uint32_t{64})}}, std::vector<OwnedTensor>{});
  CHECK(load_error(dir / "bare.gguf") == ErrorCode::unsupported);

  // A valid file whose typed geometry key was changed afterwards.
  const auto good = dir / "good.gguf";
  quantize_to_gguf(test::checkpoint("native-f32"), QuantizationPlan{}, good, 1);
  const GgufFile original(good);
  std::vector<GgufKV> meta = original.metadata().entries();
  for (auto& kv : meta)
    if (kv.key == "zaya.hidden_size") kv.value = GgufValue(uint32_t{128});
  std::vector<OwnedTensor> tensors;
  for (const auto& t : original.tensors())
    tensors.push_back({t.name, t.dtype, t.shape, std::vector<std::byte>(t.data, t.data + t.nbytes)});
  write_gguf(dir / "edited.gguf", meta, tensors, kGgufExportAlignment);  // as its general.alignment says
  CHECK(load_error(dir / "edited.gguf") == ErrorCode::bad_format);

  // Truncated: every prefix fails cleanly (the reader validates before touching tensor bytes).
  std::ifstream in(good, std::ios::binary);
  const std::string bytes(std::istreambuf_iterator<char>(in), {});
  for (size_t cut : {size_t(3), size_t(24), bytes.size() / 2, bytes.size() - 1}) {
    std::ofstream(dir / "cut.gguf", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(cut));
    const ErrorCode code = load_error(dir / "cut.gguf");
    CHECK((code == ErrorCode::bad_format || code == ErrorCode::io));
  }
}

TEST_CASE("zaya quantize, compare and bench on the default model") {
  const auto dir = arith_model().string();
  const auto out = (test::temp_dir("cli-quantize") / "arith-q8_0.gguf").string();
  const Run q = zaya_cli("quantize --model " + dir + " --type q8_0 --out " + out + " --threads 2");
  REQUIRE_MESSAGE(q.status == 0, q.err);
  CHECK(q.err.find("quantize: wrote") != std::string::npos);
  CHECK(std::filesystem::file_size(out) < std::filesystem::file_size(arith_model() / "model.safetensors"));

  const Run c = zaya_cli("compare --model " + dir + " --other " + out + " --prompts 2 --tokens 24 --threads 2 --json");
  REQUIRE_MESSAGE(c.status == 0, c.err);
  CHECK(json_number(c.out, "positions") == 48);
  // compare's fixed prompts are mostly text this arithmetic model never saw (prose, code, CJK),
  // where a few positions react strongly to rounding (measured: top-1 95.8%, mean relative error
  // 7.8%, max 1.4); the in-distribution bounds are in the test case above.
  CHECK(json_number(c.out, "top1_agreement") >= 0.9);
  CHECK(json_number(c.out, "mean_relative_error") > 0);
  CHECK(json_number(c.out, "mean_relative_error") < 0.2);
  // Quantize-on-load (interleaved-layout kernels) measures the same as the GGUF file (ggml-layout kernels). The
  // two error figures can differ by no more than the two layouts' logits differ from each other
  // (triangle inequality), bounded above at 2e-2 and measured at 3.5e-3 at most. Measured here:
  // 0.12e-3 (GCC, Release) and 1.9e-3 (clang -O1, ASan build); Q4_0 instead of Q8_0 moves it by 0.2.
  const Run c2 = zaya_cli("compare --model " + dir + " --quantize q8_0 --prompts 2 --tokens 24 --threads 2 --json");
  REQUIRE_MESSAGE(c2.status == 0, c2.err);
  CHECK(std::fabs(json_number(c2.out, "mean_relative_error") - json_number(c.out, "mean_relative_error")) < 5e-3);
  CHECK(json_number(c2.out, "top1_agreement") == json_number(c.out, "top1_agreement"));
  const Run same = zaya_cli("compare --model " + dir + " --quantize keep --prompts 1 --tokens 8 --json");
  // An empty plan is not a comparison worth running, but it must be exact if asked for.
  REQUIRE_MESSAGE(same.status == 0, same.err);
  CHECK(json_number(same.out, "mean_relative_error") == 0);
  CHECK(json_number(same.out, "top1_agreement") == 1);

  // The f16 KV cache alone, on the model's own weights (measured: top-1 100%, mean relative error
  // 4e-4 over 8 prompts x 64 tokens; here 2 x 24).
  const Run kv = zaya_cli("compare --model " + dir + " --kv-cache f16 --prompts 2 --tokens 24 --threads 2 --json");
  REQUIRE_MESSAGE(kv.status == 0, kv.err);
  CHECK(kv.out.find("\"kv_cache\":\"f16\"") != std::string::npos);
  CHECK(json_number(kv.out, "mean_relative_error") > 0);
  CHECK(json_number(kv.out, "mean_relative_error") < 5e-3);
  CHECK(json_number(kv.out, "top1_agreement") >= 0.95);
  CHECK(zaya_cli("compare --model " + dir + " --prompts 1 --tokens 8").status != 0);  // nothing to compare

  const Run b = zaya_cli("bench --model " + out + " --json --batch 1,3 --prompt-tokens 8 --gen-tokens 3 --threads 2 --no-bandwidth"
                         " --kv-cache f16");
  REQUIRE_MESSAGE(b.status == 0, b.err);
  const auto newline = b.out.find('\n');
  REQUIRE(newline != std::string::npos);
  const std::string first = b.out.substr(0, newline), second = b.out.substr(newline + 1);
  CHECK(json_number(first, "batch") == 1);
  CHECK(json_number(second, "batch") == 3);
  CHECK(json_number(first, "decode_tok_s") > 0);
  // At batch 3 the sequences share the attention and head weights: fewer bytes per token.
  CHECK(json_number(second, "bytes_per_token") < json_number(first, "bytes_per_token"));
  CHECK(b.out.find("Q8_0") != std::string::npos);
  CHECK(b.out.find("\"kv_cache\":\"f16\"") != std::string::npos);
  CHECK(b.out.find("\"load\":\"mmap\"") != std::string::npos);

  const Run g = zaya_cli("generate --model " + out + " --prompt \"Ben has 70 apples.\" --max-tokens 4 --greedy --json");
  REQUIRE_MESSAGE(g.status == 0, g.err);
  CHECK(g.out.find("\"text\":") != std::string::npos);

  const Run bad = zaya_cli("quantize --model " + dir + " --type q5_0 --out " + out + ".x");
  CHECK(bad.status != 0);
  CHECK(bad.err.find("q5_0") != std::string::npos);
  CHECK(!std::filesystem::exists(out + ".x"));

  // --layout r16: zaya's interleaved types (exactness against the ggml file is tested above).
  const Run r = zaya_cli("quantize --model " + dir + " --type q8_0 --layout r16 --out " + out + ".r16 --quiet");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const Run info = zaya_cli("info --model " + out + ".r16");
  REQUIRE_MESSAGE(info.status == 0, info.err);
  CHECK(info.out.find("Q8_0_R16") != std::string::npos);
  // The note on ggml-layout files: only where it applies (mapped, on the CPU, ggml's blocks).
  CHECK(info.out.find("--layout r16") == std::string::npos);
  const Run info_ggml = zaya_cli("info --model " + out);
  REQUIRE_MESSAGE(info_ggml.status == 0, info_ggml.err);
  CHECK(info_ggml.out.find("note        memory-mapped in ggml's layout") != std::string::npos);
  CHECK(info_ggml.out.find("--model " + out + " --type keep --layout r16") != std::string::npos);
  for (const char* load : {" --load copy", " --quantize q8_0"}) {
    const Run copied = zaya_cli("info --model " + out + load);
    REQUIRE_MESSAGE(copied.status == 0, copied.err);
    CHECK(copied.out.find("--layout r16") == std::string::npos);
  }
  const Run info_bf16 = zaya_cli("info --model " + dir);
  REQUIRE_MESSAGE(info_bf16.status == 0, info_bf16.err);
  CHECK(info_bf16.out.find("--layout r16") == std::string::npos);
  const Run g16 = zaya_cli("generate --model " + out + ".r16 --prompt \"Ben has 70 apples.\" --max-tokens 4 --greedy --json");
  REQUIRE_MESSAGE(g16.status == 0, g16.err);
  CHECK(g16.out.find("\"text\":") != std::string::npos);
  const Run bad_layout = zaya_cli("quantize --model " + dir + " --type q8_0 --layout r8 --out " + out + ".y");
  CHECK(bad_layout.status != 0);
  CHECK(bad_layout.err.find("--layout must be ggml or r16") != std::string::npos);
  CHECK(!std::filesystem::exists(out + ".y"));
}

TEST_CASE("conversion on several threads: a worker's exception reaches the caller, every worker is joined") {
  std::atomic<int> calls{0};
  try {
    model::run_on_threads(4, [&] {
      if (calls.fetch_add(1) == 2) fail(ErrorCode::out_of_memory, "worker {}", 2);
    });
    FAIL("no exception");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::out_of_memory);
  }
  CHECK(calls.load() == 4);
  std::atomic<int> ok{0};
  model::run_on_threads(1, [&] { ok.fetch_add(1); });
  CHECK(ok.load() == 1);
}
