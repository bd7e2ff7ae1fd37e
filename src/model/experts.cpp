// src/model/experts.cpp - grouping rows by chosen expert and running each expert once.
#include "experts.h"

#include <cstring>

namespace zaya::model {

size_t run_experts(const Backend& backend, Workspace& ws, const ModelConfig& c, const BlockWeights& b,
                   SkipSemantics skip, size_t n, const float* h2, const std::vector<Route>& routes, float* out,
                   ExpertScratch& s) {
  const size_t H = static_cast<size_t>(c.hidden), E = static_cast<size_t>(c.experts);
  std::vector<std::vector<size_t>> rows_of(E + 1);
  for (size_t i = 0; i < n; ++i) rows_of[static_cast<size_t>(routes[i].expert)].push_back(i);

  // Each chosen expert's rows gathered contiguously, in expert order; all experts run as one call.
  size_t routed = 0;
  for (size_t e = 0; e < E; ++e) routed += rows_of[e].size();
  s.gathered.resize(routed * H);
  s.output.resize(routed * H);
  std::vector<Backend::ExpertJob> jobs;
  size_t at = 0;
  for (size_t e = 0; e < E; ++e) {
    const auto& rows = rows_of[e];
    if (rows.empty()) continue;
    for (size_t k = 0; k < rows.size(); ++k)
      std::memcpy(s.gathered.data() + (at + k) * H, h2 + rows[k] * H, H * sizeof(float));
    jobs.push_back({&b.expert_gate_up[e], &b.expert_down[e], s.gathered.data() + at * H, rows.size(),
                    s.output.data() + at * H});
    at += rows.size();
  }
  backend.expert_mlps(ws, jobs);
  at = 0;
  for (size_t e = 0; e < E; ++e) {
    for (size_t i : rows_of[e]) {
      const float weight = routes[i].weight;
      const float* y = s.output.data() + at++ * H;
      float* o = out + i * H;
      for (size_t j = 0; j < H; ++j) o[j] = weight * y[j];
    }
  }
  for (size_t i : rows_of[E]) {  // the skip class
    float* o = out + i * H;
    const float weight = routes[i].weight;
    for (size_t j = 0; j < H; ++j) o[j] = skip == SkipSemantics::scale_input ? weight * h2[i * H + j] : 0.0f;
  }
  return rows_of[E].size();
}

uint64_t block_weight_bytes(const BlockWeights& b, const std::vector<Route>& routes) {
  const auto& a = b.attention;
  uint64_t bytes = a.q_proj.bytes() + a.k_proj.bytes() + a.v_current.bytes() + a.v_delayed.bytes() + a.o_proj.bytes();
  for (const auto& g : a.grouped_per_head) bytes += g.bytes();
  const auto& r = b.router;
  bytes += r.down.bytes() + r.fc1.bytes() + r.fc2.bytes() + r.out_proj.bytes();
  std::vector<bool> seen(b.expert_gate_up.size(), false);
  for (const auto& route : routes) {
    const size_t e = static_cast<size_t>(route.expert);
    if (e < seen.size() && !seen[e]) {
      seen[e] = true;
      bytes += b.expert_gate_up[e].bytes() + b.expert_down[e].bytes();
    }
  }
  return bytes;
}

}  // namespace zaya::model
