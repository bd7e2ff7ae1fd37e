// zaya quantize --model HF_DIR --type SPEC --out FILE.gguf [--layout ggml|r16] [--threads N] [--quiet]
//
// Writes one GGUF v3 file: the checkpoint's tensors under their HF names, the matrices in the
// block formats SPEC names (zaya/quantization.h: "q4_0", "q4_k,head=q8_0", ...), the config and
// the tokenizer files embedded. Progress on stderr. `zaya compare --model HF_DIR --other FILE`
// then measures what the format costs in quality. --layout r16 stores the quantized matrices in
// zaya's R16 types (zaya/gguf.h): a memory-mapped load then decodes at the speed of --load copy,
// but only zaya reads the file. --model may be a zaya GGUF file: `--type keep --layout r16`
// rewrites a ggml-layout file in the R16 layout (and `--layout ggml` back) without quantizing.
#include "cli.h"

#include <zaya/error.h>
#include <zaya/quantization.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <unistd.h>

namespace {

int run_quantize(zaya::cli::Args& args) {
  const std::string dir = args.require("model");
  const zaya::QuantizationPlan plan = zaya::QuantizationPlan::parse(args.require("type"));
  const std::string out = args.require("out");
  const int threads = static_cast<int>(args.get_int("threads", 0, 0, 1024));
  const bool quiet = args.flag("quiet");
  const std::string layout_name = args.get_or("layout", "ggml");
  zaya::GgufTensorLayout layout = zaya::GgufTensorLayout::ggml;
  if (layout_name == "r16") layout = zaya::GgufTensorLayout::r16;
  else if (layout_name != "ggml") zaya::fail(zaya::ErrorCode::invalid_argument, "--layout must be ggml or r16, not '{}'", layout_name);
  args.finish();

  const bool tty = isatty(fileno(stderr));
  int last_percent = -1;
  auto t0 = std::chrono::steady_clock::now();
  auto progress = [&](uint64_t done, uint64_t total) {
    const int percent = total ? static_cast<int>(100 * done / total) : 100;
    if (quiet || percent == last_percent) return;
    last_percent = percent;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (tty) {
      const int width = 30, filled = percent * width / 100;
      fmt::print(stderr, "\rquantize [{:<{}}] {:3d}% {:.2f}/{:.2f} GB {:.0f} s", std::string(static_cast<size_t>(filled), '#'),
                 width, percent, static_cast<double>(done) / 1e9, static_cast<double>(total) / 1e9, seconds);
    } else if (percent % 10 == 0) {
      fmt::print(stderr, "quantize: {:3d}% of {:.2f} GB\n", percent, static_cast<double>(total) / 1e9);
    }
  };
  zaya::quantize_to_gguf(dir, plan, out, threads, progress, layout);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!quiet)
    fmt::print(stderr, "{}quantize: wrote {} ({}{}, {:.2f} GB) in {:.1f} s\n", tty ? "\n" : "", out,
               plan.empty() ? std::string("as stored") : plan.to_string(), layout == zaya::GgufTensorLayout::r16 ? ", R16 layout" : "",
               static_cast<double>(std::filesystem::file_size(out)) / 1e9, seconds);
  return 0;
}

}  // namespace

ZAYA_CLI_COMMAND("quantize",
                 "quantize --model HF_DIR|FILE.gguf --type q8_0|q4_0|q4_k|keep[,head=F,attn=F,experts=F] --out FILE.gguf [--layout ggml|r16] [--threads N] [--quiet]",
                 {"quiet"}, run_quantize);
