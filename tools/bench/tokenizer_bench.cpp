// tools/bench/tokenizer_bench.cpp - encode throughput and load time of zaya's tokenizer, for the
// side-by-side comparison with the reference library in scripts/bench-tokenizer.sh.
//   tokenizer_bench TOKENIZER_JSON TEXT_FILE [REPEATS]
// Prints one JSON object: load seconds, bytes, tokens, best/median encode seconds, MB/s.
#include <zaya/error.h>
#include <zaya/tokenizer.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: tokenizer_bench TOKENIZER_JSON TEXT_FILE [REPEATS]\n");
    return 2;
  }
  try {
    const int repeats = argc > 3 ? std::max(1, std::atoi(argv[3])) : 10;
    std::ifstream in(argv[2], std::ios::binary);
    if (!in) zaya::fail(zaya::ErrorCode::io, "cannot open {}", argv[2]);
    std::ostringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();

    // Wall time, and process CPU time (what the load costs when other jobs share the cores).
    std::vector<double> load_times, load_cpu_times;
    for (int i = 0; i < 3; ++i) {
      const auto start = std::chrono::steady_clock::now();
      const std::clock_t cpu_start = std::clock();
      zaya::Tokenizer loaded = zaya::Tokenizer::load(argv[1]);
      load_cpu_times.push_back(static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC);
      load_times.push_back(seconds_since(start));
    }
    std::sort(load_times.begin(), load_times.end());
    std::sort(load_cpu_times.begin(), load_cpu_times.end());
    const zaya::Tokenizer tokenizer = zaya::Tokenizer::load(argv[1]);

    std::vector<int32_t> ids = tokenizer.encode(text);  // warm-up
    std::vector<double> times;
    for (int i = 0; i < repeats; ++i) {
      const auto start = std::chrono::steady_clock::now();
      ids = tokenizer.encode(text);
      times.push_back(seconds_since(start));
    }
    // Same checksum as bench_reference.mjs, so the script can confirm both produced the same ids.
    uint32_t checksum = 0;
    for (int32_t id : ids) checksum = checksum * 31u + static_cast<uint32_t>(id);
    std::sort(times.begin(), times.end());
    const double median = times[times.size() / 2];
    fmt::print("{{\"impl\": \"zaya\", \"load_seconds_best\": {:.4f}, \"load_seconds_median\": {:.4f}, \"load_cpu_seconds_median\": {:.4f}, \"bytes\": {}, "
               "\"tokens\": {}, \"ids_checksum\": {}, \"encode_seconds_best\": {:.4f}, \"encode_seconds_median\": {:.4f}, "
               "\"mb_per_second_median\": {:.3f}}}\n",
               load_times.front(), load_times[1], load_cpu_times[1], text.size(), ids.size(), checksum, times.front(), median,
               static_cast<double>(text.size()) / 1e6 / median);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tokenizer_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
