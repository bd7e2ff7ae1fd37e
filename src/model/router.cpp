// src/model/router.cpp - the router, all in fp32 (ZAYA1 spec §2.4):
//   r = Wd h2 + bd;  r += r_prev * router_states_scale (blocks > 0);  carry r to the next block
//   u = RMSNorm(r); u = GELU(W1 u + b1); u = GELU(W2 u + b2); p = softmax(Wout u)   (E + 1 classes)
//   choice = argmax(p + balancing_biases); weight = p[choice]
#include "router.h"

#include "math.h"

#include <cmath>
#include <cstring>

namespace zaya::model {

void route(const Backend& backend, Workspace& ws, const ModelConfig& c, const RouterWeights& w, size_t n,
           const float* h2, float* state, std::vector<Route>& routes, RouterScratch& s) {
  const size_t H = static_cast<size_t>(c.hidden), R = static_cast<size_t>(c.router_width);
  const size_t classes = static_cast<size_t>(c.experts) + 1;
  s.hidden.resize(n * R);
  backend.matmul(ws, w.down, h2, H, n, s.hidden.data(), R);
  for (size_t i = 0; i < n; ++i) {
    float* r = s.hidden.data() + i * R;
    float* carried = state + i * R;
    for (size_t j = 0; j < R; ++j) {
      r[j] += w.down_bias[j];
      if (!w.states_scale.empty()) r[j] += carried[j] * w.states_scale[j];
    }
    std::memcpy(carried, r, R * sizeof(float));
  }
  s.normed.resize(n * R);
  for (size_t i = 0; i < n; ++i) rms_norm(s.hidden.data() + i * R, w.norm.data(), R, c.router_eps, s.normed.data() + i * R);
  s.hidden2.resize(n * R);
  backend.matmul(ws, w.fc1, s.normed.data(), R, n, s.hidden2.data(), R);
  for (size_t i = 0; i < n * R; ++i) s.hidden2[i] = gelu(s.hidden2[i] + w.fc1_bias[i % R]);
  backend.matmul(ws, w.fc2, s.hidden2.data(), R, n, s.hidden.data(), R);
  for (size_t i = 0; i < n * R; ++i) s.hidden[i] = gelu(s.hidden[i] + w.fc2_bias[i % R]);
  s.logits.resize(n * classes);
  backend.matmul(ws, w.out_proj, s.hidden.data(), R, n, s.logits.data(), classes);

  routes.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const float* logit = s.logits.data() + i * classes;
    float max_logit = logit[0];
    for (size_t e = 1; e < classes; ++e) max_logit = std::max(max_logit, logit[e]);
    double total = 0.0;
    for (size_t e = 0; e < classes; ++e) total += std::exp(static_cast<double>(logit[e]) - max_logit);
    int best = 0;
    double best_score = -INFINITY, best_prob = 0.0;
    for (size_t e = 0; e < classes; ++e) {
      const double p = std::exp(static_cast<double>(logit[e]) - max_logit) / total;
      const double score = p + static_cast<double>(w.balancing_biases[e]);
      if (score > best_score) {  // strict: ties go to the lowest index, like argmax
        best_score = score;
        best = static_cast<int>(e);
        best_prob = p;
      }
    }
    routes[i] = Route{best, static_cast<float>(best_prob)};
  }
}

}  // namespace zaya::model
