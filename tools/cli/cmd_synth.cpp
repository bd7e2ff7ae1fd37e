// zaya synth --preset tiny|small|medium|zaya1-8b [--layout native|legacy] [--dtype f32|bf16|f16]
//            [--seed S] [--shard-mb N] --out DIR
#include "cli.h"

#include <zaya/synth.h>
#include <zaya/tokenizer.h>

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <cstdio>
#include <unistd.h>

namespace {

int run_synth(zaya::cli::Args& args) {
  zaya::SynthOptions o;
  o.geometry = zaya::synth_preset(args.get_or("preset", "tiny"));
  const std::string layout = args.get_or("layout", "native");
  if (layout == "legacy") o.geometry.layout = zaya::CheckpointLayout::legacy;
  else if (layout != "native") zaya::fail(zaya::ErrorCode::invalid_argument, "--layout must be native or legacy");
  const std::string dtype = args.get_or("dtype", "bf16");
  if (dtype == "f32") o.dtype = zaya::DType::f32;
  else if (dtype == "bf16") o.dtype = zaya::DType::bf16;
  else if (dtype == "f16") o.dtype = zaya::DType::f16;
  else zaya::fail(zaya::ErrorCode::invalid_argument, "--dtype must be f32, bf16 or f16");
  o.seed = static_cast<uint64_t>(args.get_int("seed", 0, 0, INT64_MAX));
  o.shard_bytes = static_cast<uint64_t>(args.get_int("shard-mb", 5 * 1024, 1, 1 << 30)) << 20;
  const std::string out = args.require("out");
  const bool quiet = args.flag("quiet");
  auto tokenizer_path = args.get("tokenizer");
  args.finish();
  // With a tokenizer, the checkpoint becomes a complete text model: the embedding gets one row
  // per token id (padded to a multiple of 128, as ZAYA1's 262272 rows are), BOS/EOS come from
  // the tokenizer files, and those files are copied next to the weights.
  std::vector<std::filesystem::path> tokenizer_files;
  if (tokenizer_path) {
    auto tok = zaya::Tokenizer::load(*tokenizer_path);
    std::filesystem::path source = *tokenizer_path;
    std::filesystem::path source_dir = std::filesystem::is_directory(source) ? source : source.parent_path();
    for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"})
      if (std::filesystem::exists(source_dir / name)) tokenizer_files.push_back(source_dir / name);
    if (!std::filesystem::is_directory(source)) tokenizer_files.front() = source;
    o.geometry.vocab = static_cast<int64_t>((tok.vocab_size() + 127) / 128 * 128);
    if (tok.bos_token() && tok.bos_token()->id) o.geometry.bos_id = *tok.bos_token()->id;
    if (tok.eos_token() && tok.eos_token()->id) o.geometry.eos_ids = {*tok.eos_token()->id};
    if (tok.pad_token() && tok.pad_token()->id) o.geometry.pad_id = *tok.pad_token()->id;
  }
  const bool tty = isatty(fileno(stderr));
  int last_percent = -1;
  o.progress = [&](uint64_t done, uint64_t total) {
    int percent = total ? static_cast<int>(100 * done / total) : 100;
    if (quiet || percent == last_percent) return;
    last_percent = percent;
    if (tty) fmt::print(stderr, "\rsynth: {:3d}% of {:.2f} GB", percent, total / 1e9);
  };
  auto t0 = std::chrono::steady_clock::now();
  zaya::write_synthetic_checkpoint(out, o);
  for (const auto& file : tokenizer_files) {
    auto target = std::filesystem::path(out) / (file.filename() == tokenizer_files.front().filename() ? "tokenizer.json" : file.filename().string());
    std::filesystem::copy_file(file, target, std::filesystem::copy_options::overwrite_existing);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!quiet) fmt::print(stderr, "{}synth: wrote {} ({} layout) in {:.1f} s\n", tty ? "\n" : "", out, layout, seconds);
  return 0;
}

}  // namespace

ZAYA_CLI_COMMAND("synth",
                 "synth --preset tiny|small|medium|zaya1-8b [--layout native|legacy] [--dtype f32|bf16|f16] [--seed S] "
                 "[--shard-mb N] [--tokenizer PATH] --out DIR   random-weight checkpoint",
                 {"quiet"}, run_synth);
