// tests/test_support.h - shared helpers for the doctest suite.
#pragma once

#include <zaya/context.h>
#include <zaya/safetensors.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace zaya::test {

inline std::filesystem::path data_dir() { return ZAYA_TEST_DATA_DIR; }
inline std::filesystem::path checkpoint(const std::string& name) { return data_dir() / "checkpoints" / "tiny-a" / name; }
// The trained default model the project ships (models/zaya-arith).
inline std::filesystem::path default_model() { return std::filesystem::path(ZAYA_SOURCE_DIR) / "models" / "zaya-arith"; }

// n ids in [0, vocab) from a fixed linear congruential sequence (the same for the same seed).
inline std::vector<int32_t> pseudo_random_ids(int64_t vocab, size_t n, uint64_t seed) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    ids.push_back(static_cast<int32_t>((seed >> 33) % static_cast<uint64_t>(vocab)));
  }
  return ids;
}

// A fresh empty directory under the system temp dir (removed at the start, left for inspection).
inline std::filesystem::path temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("zaya-test-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

template <typename T>
std::vector<T> read_tensor(const SafetensorsFile& file, const std::string& name) {
  for (const auto& t : file.tensors()) {
    if (t.name != name) continue;
    std::vector<T> out(t.nbytes / sizeof(T));
    std::memcpy(out.data(), t.data, t.nbytes);
    return out;
  }
  FAIL("tensor " << name << " not found");
  return {};
}

// The logits at every position of one forward pass over `ids` (a fresh sequence), flattened
// [position][vocab]. The result does not depend on `threads` (0: all cores).
// Decodes `ids` as one batch of sequence `seq` with logits at every row, on anything with
// decode(batch) and logits(row): a Context, or the HIP plugin's DeviceForward.
template <typename Forward>
std::vector<float> decode_with_all_logits(Forward& forward, int32_t seq, const std::vector<int32_t>& ids) {
  std::vector<BatchToken> batch;
  for (int32_t id : ids) batch.push_back({seq, id, true});
  forward.decode(batch);
  std::vector<float> out;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto row = forward.logits(i);
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

inline std::vector<float> logits_at_every_position(const std::shared_ptr<const Model>& model,
                                                   const std::vector<int32_t>& ids, int threads = 0) {
  Context ctx(model, {.max_sequences = 1, .max_context = static_cast<int64_t>(std::max<size_t>(ids.size(), 1)),
                      .threads = threads});
  return decode_with_all_logits(ctx, 0, ids);
}

// One run of the `zaya` CLI (ZAYA_CLI_PATH) with `arguments` (shell syntax) and stdin_text on
// stdin: exit status, stdout, stderr. Files go to a per-process temp dir (ctest runs binaries in
// parallel).
struct CliRun {
  int status = -1;
  std::string out, err;
};
inline CliRun run_cli(const std::string& arguments, const std::string& stdin_text = "") {
  REQUIRE_MESSAGE(std::filesystem::exists(ZAYA_CLI_PATH), "build the zaya_cli target first: " << ZAYA_CLI_PATH);
  const auto dir = temp_dir("cli-run-" + std::to_string(::getpid()));
  std::ofstream(dir / "in", std::ios::binary) << stdin_text;
  const std::string cmd = std::string(ZAYA_CLI_PATH) + " " + arguments + " <" + (dir / "in").string() + " >" +
                          (dir / "out").string() + " 2>" + (dir / "err").string();
  const int raw = std::system(cmd.c_str());
  auto slurp = [](const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, slurp(dir / "out"), slurp(dir / "err")};
}

// max |a - b| / max |b|: the relative error measure the issue specifies.
inline double relative_error(std::span<const float> a, std::span<const float> b) {
  REQUIRE(a.size() == b.size());
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(double(a[i]) - double(b[i])));
    max_ref = std::max(max_ref, std::fabs(double(b[i])));
  }
  return max_ref > 0 ? max_diff / max_ref : max_diff;
}

}  // namespace zaya::test
