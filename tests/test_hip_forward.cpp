// The whole forward pass on the emulated HIP device, loaded the way a GPU is: the core dlopens
// the plugin (libzaya-hip-emu.so here, the same sources as libzaya-hip.so) through
// $ZAYA_HIP_PLUGIN. Two paths are checked against the golden logits of tiny-a (native f32,
// legacy f32, native bf16 sharded) with the CPU test's tolerances, for wavefronts 32 and 64:
//   - DeviceForward: weights uploaded once, ids in, logits out, state on the device;
//   - zaya::Context on the "hip" Backend (matmul / attention / experts through the plugin).
// Then batches of several sequences, fork/clear, and split-K decode over a long cache, each
// against the CPU backend.
//
// On an AMD machine the same tests run on the GPU: ZAYA_HIP_TEST_PLUGIN=/path/libzaya-hip.so
// replaces the emulated plugin, and a timing case prints a table (docs/HIP.md); set
// ZAYA_HIP_TEST_MODEL=/path/to/ZAYA1-8B to time a real checkpoint too.
#include "test_support.h"

#include "hip_loader/device_forward.h"

#include <zaya/context.h>
#include <zaya/error.h>
#include <zaya/model.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>

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

const char* real_plugin() {
  const char* p = std::getenv("ZAYA_HIP_TEST_PLUGIN");
  return p && *p ? p : nullptr;
}

struct EmulatedDevice {
  explicit EmulatedDevice(int wavefront) {
    setenv("ZAYA_HIP_PLUGIN", real_plugin() ? real_plugin() : ZAYA_HIP_EMU_PLUGIN, 1);
    setenv("ZAYA_HIP_EMU_WAVEFRONT", std::to_string(wavefront).c_str(), 1);
  }
  ~EmulatedDevice() {
    unsetenv("ZAYA_HIP_PLUGIN");
    unsetenv("ZAYA_HIP_EMU_WAVEFRONT");
  }
};


int32_t argmax(std::span<const float> v) { return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin()); }

}  // namespace

TEST_CASE("hip forward on the emulated device: golden logits and greedy ids of every tiny-a writing") {
  struct Case { const char* dir; double tolerance; };
  for (int wave : {64, 32})
    for (Case c : {Case{"native-f32", 1e-5}, Case{"legacy-f32", 1e-5}, Case{"native-bf16-sharded", 1e-4}}) {
      const std::string dir_name = c.dir;
      CAPTURE(dir_name);
      CAPTURE(wave);
      EmulatedDevice device(wave);
      auto golden = read_golden(c.dir);
      auto model = Model::load(checkpoint(c.dir), {.backend = "hip"});
      REQUIRE(model->backend().name() == "hip");
      CHECK((model->info().backend_log.find("emulated") != std::string::npos) == !real_plugin());
      MESSAGE(model->info().backend_log);

      // Device-side forward: the prompt as one batch (prefill), then greedy decode token by token.
      hip_loader::DeviceForward fwd(model, {.max_sequences = 1, .max_context = 256});
      const double err = relative_error(test::decode_with_all_logits(fwd, 0, golden.input_ids), golden.logits);
      MESSAGE(dir_name << " wave" << wave << ": device forward relative error " << err);
      CHECK(err <= c.tolerance);
      std::vector<int32_t> greedy;
      int32_t next = argmax(fwd.logits(golden.input_ids.size() - 1));
      for (size_t i = 0; i < golden.greedy_ids.size(); ++i) {
        greedy.push_back(next);
        next = argmax(fwd.prefill(0, std::span<const int32_t>(&next, 1)));
      }
      CHECK(greedy == golden.greedy_ids);
      CHECK(fwd.length(0) == static_cast<int64_t>(golden.input_ids.size() + golden.greedy_ids.size()));
      CHECK(fwd.skip_count() == 0);

      // The same model through zaya::Context, whose matmul / attention / experts run on the device.
      if (wave == 64) {
        const double ctx_err = relative_error(test::logits_at_every_position(model, golden.input_ids, 1), golden.logits);
        MESSAGE(dir_name << ": Context on the hip Backend relative error " << ctx_err);
        CHECK(ctx_err <= c.tolerance);
      }
    }
}

TEST_CASE("hip forward: interleaved sequences, fork and clear match the CPU backend") {
  EmulatedDevice device(64);
  auto golden = read_golden("native-f32");
  auto gpu = Model::load(checkpoint("native-f32"), {.backend = "hip"});
  auto cpu = Model::load(checkpoint("native-f32"), {.backend = "cpu"});
  hip_loader::DeviceForward fwd(gpu, {.max_sequences = 3, .max_context = 64});
  Context ctx(cpu, {.max_sequences = 3, .max_context = 64, .threads = 1});
  const auto& ids = golden.input_ids;
  // Sequence 0 gets the first 5 ids, sequence 2 the next 4, interleaved in one batch; then both
  // continue with more rows in a second batch (conv state and delayed value carried per sequence).
  std::vector<BatchToken> first, second;
  for (size_t i = 0; i < 5; ++i) first.push_back({0, ids[i], true});
  for (size_t i = 0; i < 4; ++i) first.insert(first.begin() + static_cast<std::ptrdiff_t>(2 * i + 1), BatchToken{2, ids[5 + i], true});
  for (size_t i = 9; i < 14; ++i) second.push_back({static_cast<int32_t>(i % 2 ? 0 : 2), ids[i], i >= 12});
  for (const auto* batch : {&first, &second}) {
    fwd.decode(*batch);
    ctx.decode(*batch);
    REQUIRE(fwd.logits_rows() == ctx.logits_rows());
    for (size_t r = 0; r < ctx.logits_rows(); ++r) {
      const auto a = fwd.logits(r), b = ctx.logits(r);
      CHECK(relative_error(std::vector<float>(a.begin(), a.end()), std::vector<float>(b.begin(), b.end())) <= 1e-5);
    }
  }
  CHECK(fwd.length(0) == ctx.length(0));
  CHECK(fwd.length(2) == ctx.length(2));
  CHECK(fwd.length(1) == 0);
  // Fork sequence 0 into 1 and continue both with different tokens.
  fwd.fork(0, 1);
  ctx.fork(0, 1);
  const std::vector<BatchToken> after = {{1, ids[15], true}, {0, ids[16], true}, {1, ids[17], true}};
  fwd.decode(after);
  ctx.decode(after);
  for (size_t r = 0; r < 3; ++r) {
    const auto a = fwd.logits(r), b = ctx.logits(r);
    CHECK(relative_error(std::vector<float>(a.begin(), a.end()), std::vector<float>(b.begin(), b.end())) <= 1e-5);
  }
  // Clear restarts a sequence from zero state: same logits as a fresh prefill.
  fwd.clear(1);
  ctx.clear(1);
  const std::vector<int32_t> prompt(ids.begin(), ids.begin() + 6);
  const auto a = fwd.prefill(1, prompt), b = ctx.prefill(1, prompt);
  CHECK(relative_error(a, b) <= 1e-5);
  // Refused batches change nothing.
  const int64_t before = fwd.length(0);
  CHECK_THROWS_AS(fwd.decode(std::vector<BatchToken>{{0, ids[0], true}, {0, 1 << 30, true}}), Error);
  CHECK_THROWS_AS(fwd.decode(std::vector<BatchToken>{{7, ids[0], true}}), Error);
  CHECK(fwd.length(0) == before);
}

TEST_CASE("the LM-head shortlist is refused on the hip backend, with a clear error") {
  EmulatedDevice device(64);
  try {
    (void)Model::load(checkpoint("native-f32"), {.backend = "hip", .head_shortlist = 8});
    FAIL("loaded");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unsupported);
    CHECK(std::string(e.what()).find("only the CPU backend") != std::string::npos);
  }
}

TEST_CASE("hip forward: truncate within the window matches the CPU backend, beyond it is refused") {
  EmulatedDevice device(64);
  auto golden = read_golden("native-f32");
  auto gpu = Model::load(checkpoint("native-f32"), {.backend = "hip"});
  auto cpu = Model::load(checkpoint("native-f32"), {.backend = "cpu"});
  hip_loader::DeviceForward fwd(gpu, {.max_sequences = 2, .max_context = 64, .truncate_window = 8});
  Context ctx(cpu, {.max_sequences = 2, .max_context = 64, .threads = 1, .truncate_window = 8});
  const std::vector<int32_t> prompt(golden.input_ids.begin(), golden.input_ids.begin() + 12);
  const std::vector<int32_t> more(golden.input_ids.begin() + 12, golden.input_ids.begin() + 15);
  fwd.prefill(0, prompt);
  ctx.prefill(0, prompt);
  for (int64_t cut : {11, 9, 8}) {
    CAPTURE(cut);
    fwd.truncate(0, cut);
    ctx.truncate(0, cut);
    CHECK(fwd.length(0) == cut);
    CHECK(relative_error(fwd.prefill(0, more), ctx.prefill(0, more)) <= 1e-5);
    fwd.truncate(0, cut + 3);  // no-op (already that long)
    CHECK(fwd.length(0) == cut + 3);
  }
  // Positions further back than the window are refused by both, and nothing changes.
  CHECK_THROWS_AS(ctx.truncate(0, 2), Error);
  CHECK_THROWS_AS(fwd.truncate(0, 2), Error);
  CHECK(fwd.length(0) == 11);
  CHECK_THROWS_AS(fwd.truncate(0, 12), Error);
  fwd.truncate(0, 0);
  CHECK(fwd.length(0) == 0);
}

TEST_CASE("hip forward: split-K decode over a long cache matches the CPU backend") {
  EmulatedDevice device(32);
  auto gpu = Model::load(checkpoint("native-bf16-sharded"), {.backend = "hip"});
  auto cpu = Model::load(checkpoint("native-bf16-sharded"), {.backend = "cpu"});
  hip_loader::DeviceForward fwd(gpu, {.max_sequences = 1, .max_context = 1024});
  Context ctx(cpu, {.max_sequences = 1, .max_context = 1024, .threads = 1});
  std::mt19937 gen(7);
  std::vector<int32_t> prompt(600);
  for (auto& t : prompt) t = static_cast<int32_t>(gen() % 384);
  // Prefill in one batch (attention_prefill), then decode single tokens (split-K: 1 row, 4 heads,
  // ~600 positions -> several splits, combined).
  double worst = relative_error(fwd.prefill(0, prompt), ctx.prefill(0, prompt));
  for (int i = 0; i < 3; ++i) {
    const int32_t t = static_cast<int32_t>(gen() % 384);
    worst = std::max(worst, relative_error(fwd.prefill(0, std::span<const int32_t>(&t, 1)), ctx.prefill(0, std::span<const int32_t>(&t, 1))));
  }
  MESSAGE("600-token prefill + split-K decode vs CPU: relative error " << worst);
  CHECK(worst <= 1e-4);
  CHECK(fwd.length(0) == 603);
}

TEST_CASE("hip forward: timing on a real GPU (ZAYA_HIP_TEST_PLUGIN)") {
  if (!real_plugin()) {
    MESSAGE("skipped: set ZAYA_HIP_TEST_PLUGIN=/path/libzaya-hip.so on an AMD machine (emulated timings mean nothing)");
    return;
  }
  EmulatedDevice device(64);
  std::vector<std::string> dirs = {checkpoint("native-bf16-sharded").string()};
  if (const char* m = std::getenv("ZAYA_HIP_TEST_MODEL"); m && *m) dirs.emplace_back(m);
  using clock = std::chrono::steady_clock;
  auto seconds = [](clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
  std::string table = "\n| model | backend | upload s | prefill 512 tok/s | decode ms/token (64 tokens) |\n|---|---|---|---|---|\n";
  for (const auto& dir : dirs) {
    for (const char* backend : {"hip", "cpu"}) {
      auto t0 = clock::now();
      auto model = Model::load(dir, {.backend = backend});
      std::mt19937 gen(3);
      std::vector<int32_t> prompt(512);
      const auto vocab = static_cast<uint32_t>(std::min<int64_t>(model->config().vocab, 1000));
      for (auto& t : prompt) t = static_cast<int32_t>(gen() % vocab);
      double upload = 0, prefill = 0, decode = 0;
      if (std::string(backend) == "hip") {
        hip_loader::DeviceForward fwd(model, {.max_sequences = 1, .max_context = 1024});
        auto t1 = clock::now();
        upload = seconds(t0, t1);
        auto logits = fwd.prefill(0, prompt);
        auto t2 = clock::now();
        for (int i = 0; i < 64; ++i) {
          const int32_t next = argmax(logits);
          logits = fwd.prefill(0, std::span<const int32_t>(&next, 1));
        }
        auto t3 = clock::now();
        prefill = seconds(t1, t2);
        decode = seconds(t2, t3);
      } else {
        Context ctx(model, {.max_sequences = 1, .max_context = 1024});
        auto t1 = clock::now();
        upload = seconds(t0, t1);
        auto logits = ctx.prefill(0, prompt);
        auto t2 = clock::now();
        for (int i = 0; i < 64; ++i) {
          const int32_t next = argmax(logits);
          logits = ctx.prefill(0, std::span<const int32_t>(&next, 1));
        }
        auto t3 = clock::now();
        prefill = seconds(t1, t2);
        decode = seconds(t2, t3);
      }
      table += fmt::format("| {} | {} | {:.2f} | {:.0f} | {:.2f} |\n", std::filesystem::path(dir).filename().string(),
                           model->info().backend, upload, 512.0 / prefill, 1000.0 * decode / 64.0);
    }
  }
  MESSAGE(table);
}
