// Golden parity: the engine against logits computed in float64 by the reference implementation
// (shared/spec/reference_zaya1.py) for the tiny-a checkpoint in three writings.
#include "test_support.h"

#include <zaya/context.h>

using namespace zaya;
using zaya::test::checkpoint;
using zaya::test::relative_error;

namespace {

struct Golden {
  std::vector<int32_t> input_ids, greedy_ids;
  std::vector<float> logits;
};

Golden read_golden(const std::string& name) {
  SafetensorsFile f(checkpoint(name) / "golden.safetensors");
  return {test::read_tensor<int32_t>(f, "input_ids"), test::read_tensor<int32_t>(f, "greedy_ids"),
          test::read_tensor<float>(f, "logits")};
}


std::vector<int32_t> greedy(const std::shared_ptr<const Model>& model, const std::vector<int32_t>& prompt, size_t count) {
  Context ctx(model, {.max_sequences = 1, .max_context = 256});
  auto logits = ctx.prefill(0, prompt);
  std::vector<int32_t> out;
  for (size_t i = 0; i < count; ++i) {
    int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(next);
    logits = ctx.prefill(0, std::span<const int32_t>(&next, 1));
  }
  return out;
}

}  // namespace

TEST_CASE("golden logits and greedy ids for every writing of tiny-a") {
  struct Case { const char* dir; double tolerance; };
  for (Case c : {Case{"native-f32", 1e-5}, Case{"legacy-f32", 1e-5}, Case{"native-bf16-sharded", 1e-4}}) {
    const std::string dir_name = c.dir;
    CAPTURE(dir_name);
    auto golden = read_golden(c.dir);
    auto model = Model::load(checkpoint(c.dir), {.backend = "cpu"});
    auto logits = test::logits_at_every_position(model, golden.input_ids);
    const double err = relative_error(logits, golden.logits);
    MESSAGE(dir_name << ": relative error max|d|/max|ref| = " << err);
    CHECK(err <= c.tolerance);
    CHECK(greedy(model, golden.input_ids, golden.greedy_ids.size()) == golden.greedy_ids);
  }
}

TEST_CASE("native and legacy layouts compute the same network") {
  auto golden = read_golden("native-f32");
  auto native = test::logits_at_every_position(Model::load(checkpoint("native-f32")), golden.input_ids);
  auto legacy = test::logits_at_every_position(Model::load(checkpoint("legacy-f32")), golden.input_ids);
  const double err = relative_error(legacy, native);
  MESSAGE("native vs legacy relative error = " << err);
  CHECK(err <= 1e-6);
  auto n = Model::load(checkpoint("native-f32"))->info();
  auto l = Model::load(checkpoint("legacy-f32"))->info();
  CHECK(n.config.layout == CheckpointLayout::native);
  CHECK(l.config.layout == CheckpointLayout::legacy);
  CHECK(n.total_params == l.total_params);
  CHECK(n.config.blocks == 3);
  CHECK(l.config.blocks == 3);  // legacy num_hidden_layers = 6 counts sub-layers
}

TEST_CASE("skip class never wins on tiny-a, and both skip semantics agree there") {
  auto golden = read_golden("native-f32");
  auto a = Model::load(checkpoint("native-f32"), {.skip = SkipSemantics::scale_input});
  auto b = Model::load(checkpoint("native-f32"), {.skip = SkipSemantics::zero});
  Context ca(a, {.max_context = 64});
  ca.prefill(0, golden.input_ids);
  CHECK(ca.skip_count() == 0);
  CHECK(relative_error(test::logits_at_every_position(a, golden.input_ids), test::logits_at_every_position(b, golden.input_ids)) == 0.0);
}

TEST_CASE("copied weight storage computes exactly what the mapped files do") {
  for (const char* dir : {"native-f32", "legacy-f32", "native-bf16-sharded"}) {
    const std::string name = dir;
    CAPTURE(name);
    auto golden = read_golden(dir);
    auto mapped = test::logits_at_every_position(Model::load(checkpoint(dir)), golden.input_ids);
    auto copied = test::logits_at_every_position(Model::load(checkpoint(dir), {.storage = WeightStorage::copied}), golden.input_ids);
    CHECK(relative_error(copied, mapped) == 0.0);
  }
}
