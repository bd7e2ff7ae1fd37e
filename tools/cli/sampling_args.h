// tools/cli/sampling_args.h - the sampling flags shared by `generate`, `chat` and `rsa`.
#pragma once

#include "cli.h"

#include <zaya/generator.h>
#include <zaya/sampler.h>

namespace zaya::cli {

inline const char* kSamplingUsage =
    "[--temperature T] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R] [--repeat-last-n N] "
    "[--presence-penalty P] [--frequency-penalty F] [--seed S] [--greedy]";

inline SamplingParams parse_sampling(Args& args) {
  SamplingParams p = SamplingParams::defaults();
  p.temperature = static_cast<float>(args.get_double("temperature", p.temperature));
  p.top_k = static_cast<int32_t>(args.get_int("top-k", p.top_k, 0, INT32_MAX));
  p.top_p = static_cast<float>(args.get_double("top-p", p.top_p));
  p.min_p = static_cast<float>(args.get_double("min-p", p.min_p));
  p.repetition_penalty = static_cast<float>(args.get_double("repeat-penalty", p.repetition_penalty));
  p.penalty_last_n = static_cast<int32_t>(args.get_int("repeat-last-n", p.penalty_last_n, 0, INT32_MAX));
  p.presence_penalty = static_cast<float>(args.get_double("presence-penalty", p.presence_penalty));
  p.frequency_penalty = static_cast<float>(args.get_double("frequency-penalty", p.frequency_penalty));
  p.seed = static_cast<uint64_t>(args.get_int("seed", static_cast<long long>(p.seed & 0x7fffffffffffffffull), 0, INT64_MAX));
  p.greedy = args.flag("greedy");
  p.validate();
  return p;
}

inline std::set<std::string> sampling_flags() { return {"greedy"}; }

}  // namespace zaya::cli
