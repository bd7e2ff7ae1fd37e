// The opt-in cheaper LM head (ModelOptions::head_shortlist, src/model/head_shortlist.h): a Q4_0
// pass (Q2_0 for a 4-bit head) over the vocabulary, then the model's own head over each row's K
// best candidates.
#include "test_support.h"

#include <zaya/context.h>
#include <zaya/error.h>
#include <zaya/model.h>
#include <zaya/quantization.h>

#include <algorithm>

using namespace zaya;

namespace {

std::filesystem::path arith_model() { return test::default_model(); }

std::vector<int32_t> test_ids(int64_t vocab, size_t n) { return test::pseudo_random_ids(vocab, n, 11); }

struct RowStats {
  size_t min_exact = SIZE_MAX;  // fewest logits of a row equal to the full head's, bit for bit
  size_t argmax_agree = 0;
  double max_rel = 0;           // largest relative error of a row over the whole vocabulary
};

RowStats compare_rows(const std::vector<float>& exact, const std::vector<float>& shortlisted, size_t V) {
  RowStats s;
  for (size_t r = 0; r < exact.size() / V; ++r) {
    const float* a = exact.data() + r * V;
    const float* b = shortlisted.data() + r * V;
    size_t same = 0;
    for (size_t j = 0; j < V; ++j) same += a[j] == b[j];
    s.min_exact = std::min(s.min_exact, same);
    s.argmax_agree += std::max_element(a, a + V) == a + (std::max_element(b, b + V) - b);
    s.max_rel = std::max(s.max_rel, test::relative_error(std::span(a, V), std::span(b, V)));
  }
  return s;
}

}  // namespace

TEST_CASE("a shortlist as long as the vocabulary computes exactly what the full head does") {
  // Every row is then rescored by the model's own head: bf16 rows gathered one by one (golden
  // checkpoint), f32 rows, and Q8_0 / Q4_0 rows in interleaved groups plus a plain tail
  // (zaya-arith has 638 = 39 x 16 + 14 rows).
  struct Case {
    std::filesystem::path path;
    std::string quantize;
  };
  for (const Case& c : {Case{test::checkpoint("native-bf16-sharded"), ""}, Case{test::checkpoint("native-f32"), ""},
                        Case{arith_model(), "q8_0"}, Case{arith_model(), "q4_0"}}) {
    CAPTURE(c.path.string());
    ModelOptions options;
    if (!c.quantize.empty()) options.quantize = QuantizationPlan::parse(c.quantize);
    const auto full = Model::load(c.path, options);
    const auto V = static_cast<size_t>(full->config().vocab);
    const auto ids = test_ids(full->config().vocab, 12);
    const auto exact = test::logits_at_every_position(full, ids, 2);
    options.head_shortlist = size_t(1) << 40;  // clamped to the vocabulary
    const auto all = test::logits_at_every_position(Model::load(c.path, options), ids, 2);
    CHECK(all == exact);
    options.head_shortlist = V - 1;  // one row left to the approximation (or its whole group)
    const auto most = test::logits_at_every_position(Model::load(c.path, options), ids, 2);
    CHECK(compare_rows(exact, most, V).min_exact >= V - 1);
  }
}

namespace {

// K = 1, 8, 64 on the trained default model with its LM head in `head` (the approximation is
// Q4_0 for a BF16 head, Q2_0 for a Q4_0 one), against the same model without a shortlist.
void check_short_shortlists(const std::string& head, double max_rel_bound) {
  const auto dir = arith_model();
  ModelOptions options;
  if (!head.empty()) options.quantize = QuantizationPlan::parse("head=" + head);
  const auto full = Model::load(dir, options);
  const auto V = static_cast<size_t>(full->config().vocab);
  const auto ids = test_ids(full->config().vocab, 40);
  const auto exact = test::logits_at_every_position(full, ids, 2);
  for (size_t k : {1, 8, 64}) {
    CAPTURE(k);
    options.head_shortlist = k;
    const auto model = Model::load(dir, options);
    // The approximation's bytes, reported apart from the stored weights: Q4_0 (18 bytes per 32
    // weights) for a bf16 head, Q2_0 (10) for a Q4_0 one.
    CHECK(model->info().head_shortlist_bytes == V * static_cast<size_t>(full->config().hidden) / 32 * (head.empty() ? 18 : 10));
    CHECK(full->info().head_shortlist_bytes == 0);
    const auto shortlisted = test::logits_at_every_position(model, ids, 2);
    const RowStats s = compare_rows(exact, shortlisted, V);
    CHECK(s.min_exact >= k);
    CHECK(s.min_exact < V);  // really approximate elsewhere
    MESSAGE("head " << (head.empty() ? "bf16" : head) << ", k = " << k << ": greedy token kept at " << s.argmax_agree
                    << " of " << ids.size() << " positions, max relative error " << s.max_rel);
    if (k >= 8) CHECK(s.argmax_agree == ids.size());
    CHECK(s.max_rel < max_rel_bound);
    CHECK(s.max_rel > 0);

    // A row's logits do not depend on the rows beside it: the whole prompt in one batch equals
    // the prompt token by token, and a batch of two sequences equals each alone.
    Context ctx(model, {.max_sequences = 2, .max_context = 64, .threads = 2});
    std::vector<float> one_by_one;
    for (int32_t id : ids) {
      const BatchToken t{0, id, true};
      ctx.decode(std::span(&t, 1));
      auto row = ctx.logits(0);
      one_by_one.insert(one_by_one.end(), row.begin(), row.end());
    }
    CHECK(one_by_one == shortlisted);
    Context pair(model, {.max_sequences = 2, .max_context = 64, .threads = 2});
    const BatchToken both[2] = {{0, ids[0], true}, {1, ids[1], true}};
    pair.decode(both);
    CHECK(std::equal(pair.logits(0).begin(), pair.logits(0).end(), shortlisted.begin()));
    Context alone(model, {.max_sequences = 1, .max_context = 64, .threads = 2});
    const BatchToken second{0, ids[1], true};
    alone.decode(std::span(&second, 1));
    CHECK(std::equal(pair.logits(1).begin(), pair.logits(1).end(), alone.logits(0).begin()));
  }
}

}  // namespace

TEST_CASE("a short shortlist: candidates exact, the rest approximate, greedy choice unchanged") {
  // Measured on this trained model and these 40 positions: with k = 1 (the approximation's own
  // choice) 39 keep their greedy token, with k >= 8 all of them. The approximate logits stay
  // within 14% (Q4_0 approximation; relative, over the vocabulary) or 48% (Q2_0) of the exact ones.
  check_short_shortlists("", 0.2);
}

TEST_CASE("a 4-bit head is shortlisted by a 2-bit approximation") {
  check_short_shortlists("q4_0", 0.6);
}

TEST_CASE("zaya compare and zaya bench report the shortlist") {
  const auto dir = arith_model().string();
  const auto compare = test::run_cli("compare --model " + dir + " --head-shortlist 8 --prompts 2 --tokens 8 --json");
  REQUIRE(compare.status == 0);
  CHECK(compare.out.find("\"head_shortlist\":8") != std::string::npos);
  CHECK(compare.out.find("\"top1_agreement\":1.0000") != std::string::npos);
  const auto bench = test::run_cli("bench --model " + dir + " --head-shortlist 8 --prompt-tokens 8 --gen-tokens 4 --no-bandwidth --json");
  REQUIRE(bench.status == 0);
  CHECK(bench.out.find("\"head_shortlist\":8") != std::string::npos);
  const auto q4 = test::run_cli("generate --model " + dir + " --quantize q4_0 --head-shortlist 8 --ids 2,17,5 --max-tokens 4 --json");
  CHECK(q4.status == 0);
}
