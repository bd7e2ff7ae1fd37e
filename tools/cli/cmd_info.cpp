// zaya info --model DIR [--backend auto|cpu|hip] [--json]
#include "cli.h"
#include "model_args.h"

#include <zaya/json_writer.h>
#include <zaya/model.h>

#include <fmt/format.h>

namespace {

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) { b /= 1024; ++u; }
  return fmt::format("{:.2f} {}", b, units[u]);
}

int run_info(zaya::cli::Args& args) {
  std::string dir = args.require("model");
  zaya::ModelOptions options = zaya::cli::parse_model_options(args);
  bool as_json = args.flag("json");
  args.finish();
  auto model = zaya::Model::load(dir, options);
  auto i = model->info();
  const auto& c = i.config;
  if (as_json) {
    std::string out = "{";
    out += fmt::format("\"layout\":{},\"hidden\":{},\"blocks\":{},\"q_heads\":{},\"kv_heads\":{},\"head_dim\":{},"
                       "\"experts\":{},\"expert_width\":{},\"router_width\":{},\"vocab\":{},\"rope_theta\":{},"
                       "\"dtype\":{},\"tensors\":{},\"bytes\":{},\"total_params\":{},\"active_params\":{},"
                       "\"embedding_params\":{},\"head_shortlist_bytes\":{},\"backend\":{},\"backend_log\":{}}}",
                       zaya::json::quote(zaya::layout_name(c.layout)), c.hidden, c.blocks, c.q_heads, c.kv_heads,
                       c.head_dim, c.experts, c.expert_width, c.router_width, c.vocab, c.rope_theta,
                       zaya::json::quote(i.stored_dtypes), i.tensor_count, i.stored_bytes, i.total_params,
                       i.active_params, i.embedding_params, i.head_shortlist_bytes, zaya::json::quote(i.backend),
                       zaya::json::quote(i.backend_log));
    fmt::print("{}\n", out);
    return 0;
  }
  fmt::print("model       {}\n", i.directory.string());
  fmt::print("layout      {} ({} blocks{})\n", zaya::layout_name(c.layout), c.blocks,
             c.layout == zaya::CheckpointLayout::legacy ? fmt::format(", {} alternating layers", 2 * c.blocks) : "");
  fmt::print("geometry    hidden {}, {} query / {} kv heads of {}, {} experts of width {} (+ skip), router {}\n",
             c.hidden, c.q_heads, c.kv_heads, c.head_dim, c.experts, c.expert_width, c.router_width);
  fmt::print("vocab       {} rows (tied LM head: {})\n", c.vocab, c.tie_embeddings ? "yes" : "no");
  fmt::print("rope        theta {}, rotary dims {} of {}\n", c.rope_theta, c.rotary_dim(), c.head_dim);
  // Billions for ZAYA1-sized models, millions for small ones (0.002 B says nothing).
  const bool billions = i.total_params >= 100'000'000;
  const double unit = billions ? 1e9 : 1e6;
  const char* suffix = billions ? "B" : "M";
  fmt::print("parameters  {:.3f} {} total, {:.3f} {} active per token (+ {:.3f} {} embedding / LM head)\n",
             static_cast<double>(i.total_params) / unit, suffix, static_cast<double>(i.active_params) / unit, suffix,
             static_cast<double>(i.embedding_params) / unit, suffix);
  fmt::print("weights     {} tensors, {}, stored as {}\n", i.tensor_count, human_bytes(double(i.stored_bytes)), i.stored_dtypes);
  if (i.head_shortlist_bytes)
    fmt::print("shortlist   LM head of {} candidates, approximate copy {}\n", model->options().head_shortlist,
               human_bytes(double(i.head_shortlist_bytes)));
  fmt::print("backend     {}  [{}]\n", i.backend, i.backend_log);
  if (const std::string hint = zaya::cli::mapped_layout_hint(*model, dir); !hint.empty())
    fmt::print("note        {}\n", hint);
  return 0;
}

}  // namespace

ZAYA_CLI_COMMAND("info", "info --model DIR [--backend auto|cpu|hip] [--json]       layout, geometry, parameters, sizes",
                 {"json"}, run_info);
