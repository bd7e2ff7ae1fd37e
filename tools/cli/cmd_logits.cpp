// zaya logits --model DIR --ids 2,17,5 --out FILE
// Writes a safetensors file with `logits` F32 [T, vocab]: the logits at every position of one
// forward pass over the ids.
#include "cli.h"
#include "model_args.h"
#include "ids.h"

#include <zaya/context.h>
#include <zaya/safetensors.h>

#include <cstring>

namespace {

int run_logits(zaya::cli::Args& args) {
  const std::string dir = args.require("model");
  const auto ids = zaya::cli::parse_ids(args.require("ids"));
  const std::string out = args.require("out");
  zaya::ModelOptions options = zaya::cli::parse_model_options(args);
  const int threads = static_cast<int>(args.get_int("threads", 0, 0, 1024));
  args.finish();
  auto model = zaya::Model::load(dir, options);
  zaya::Context ctx(model, {.max_sequences = 1, .max_context = static_cast<int64_t>(ids.size()), .threads = threads});
  std::vector<zaya::BatchToken> batch;
  for (int32_t id : ids) batch.push_back({0, id, true});
  ctx.decode(batch);
  const size_t V = static_cast<size_t>(ctx.vocab_size());
  zaya::OwnedTensor t{"logits", zaya::DType::f32, {static_cast<int64_t>(ids.size()), static_cast<int64_t>(V)}, {}};
  t.bytes.resize(ids.size() * V * sizeof(float));
  for (size_t i = 0; i < ids.size(); ++i) std::memcpy(t.bytes.data() + i * V * sizeof(float), ctx.logits(i).data(), V * sizeof(float));
  zaya::write_safetensors(out, std::vector<zaya::OwnedTensor>{std::move(t)});
  return 0;
}

}  // namespace

ZAYA_CLI_COMMAND("logits", "logits --model DIR --ids 2,17,5 --out FILE            logits F32 [T, vocab] as safetensors",
                 {}, run_logits);
