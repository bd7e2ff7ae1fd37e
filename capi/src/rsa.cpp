// capi/src/rsa.cpp - Markovian RSA runs (zaya_rsa): options set by name over a preset, a
// blocking run with JSON progress events, cancel from any thread, the result as JSON.
#include "internal.h"

#include <zaya/json_writer.h>
#include <zaya/rsa.h>

#include <charconv>
#include <cmath>
#include <limits>

using namespace zaya;
using namespace zaya::capi;

struct zaya_rsa {
  static constexpr uint64_t kMagic = ZAYA_HANDLE_MAGIC('R', 'S', 'A', 'R');
  static constexpr const char* kName = "zaya_rsa";
  uint64_t magic = kMagic;
  std::atomic<bool> busy{false};
  std::shared_ptr<const ModelState> model;
  rsa::RsaConfig config;
  rsa::ModelEngineOptions engine_options;
  std::optional<rsa::RsaResult> result;
  std::string answer, json, event;

  // The orchestrator of the running run, for zaya_rsa_cancel from other threads.
  std::mutex cancel_mutex;
  rsa::Orchestrator* running = nullptr;
};

namespace {

int64_t parse_int(std::string_view name, std::string_view text, int64_t lo, int64_t hi) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi)
    c_fail(ZAYA_ERR_INVALID_ARGUMENT, "rsa option {}: '{}' is not an integer in [{}, {}]", name, text, lo, hi);
  return v;
}

double parse_double(std::string_view name, std::string_view text) {
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v))
    c_fail(ZAYA_ERR_INVALID_ARGUMENT, "rsa option {}: '{}' is not a finite number", name, text);
  return v;
}

bool parse_bool(std::string_view name, std::string_view text) {
  if (text == "1" || text == "true") return true;
  if (text == "0" || text == "false") return false;
  c_fail(ZAYA_ERR_INVALID_ARGUMENT, "rsa option {}: '{}' is not a boolean (true/false/1/0)", name, text);
}

void set_sampling(SamplingParams& s, std::string_view key, std::string_view name, std::string_view value) {
  constexpr int64_t kI32 = std::numeric_limits<int32_t>::max();
  if (key == "temperature") s.temperature = static_cast<float>(parse_double(name, value));
  else if (key == "top_p") s.top_p = static_cast<float>(parse_double(name, value));
  else if (key == "top_k") s.top_k = static_cast<int32_t>(parse_int(name, value, 0, kI32));
  else if (key == "min_p") s.min_p = static_cast<float>(parse_double(name, value));
  else if (key == "repetition_penalty") s.repetition_penalty = static_cast<float>(parse_double(name, value));
  else if (key == "presence_penalty") s.presence_penalty = static_cast<float>(parse_double(name, value));
  else if (key == "frequency_penalty") s.frequency_penalty = static_cast<float>(parse_double(name, value));
  else c_fail(ZAYA_ERR_INVALID_ARGUMENT, "unknown rsa option '{}'", name);
}

// One option by name (the names of `zaya rsa`'s flags, with underscores).
void set_option(zaya_rsa& h, std::string_view name, std::string_view value) {
  constexpr int64_t kBig = int64_t{1} << 40;
  rsa::RsaConfig& c = h.config;
  if (name == "n") c.n = static_cast<int>(parse_int(name, value, 1, 65536));
  else if (name == "c") c.c = static_cast<int>(parse_int(name, value, 1, 65536));
  else if (name == "t") c.t = static_cast<int>(parse_int(name, value, 0, 100000));
  else if (name == "beta") c.beta = parse_int(name, value, 1, kBig);
  else if (name == "tau") c.tau = parse_int(name, value, 1, kBig);
  else if (name == "seed") c.seed = static_cast<uint64_t>(parse_int(name, value, 0, std::numeric_limits<int64_t>::max()));
  else if (name == "tail") c.tail_source = rsa::parse_tail_source(value);
  else if (name == "mark_truncated") c.mark_truncated_tails = parse_bool(name, value);
  else if (name == "truncation_marker") c.truncation_marker = std::string(value);
  else if (name == "final_n") {
    c.final_stage.enabled = true;
    c.final_stage.n = static_cast<int>(parse_int(name, value, 1, 65536));
  } else if (name == "final_beta") c.final_stage.beta = parse_int(name, value, 1, kBig);
  else if (name.starts_with("final_")) set_sampling(c.final_stage.sampling, name.substr(6), name, value);
  else if (name == "max_decode_tokens") c.budgets.decode_tokens = parse_int(name, value, 0, std::numeric_limits<int64_t>::max());
  else if (name == "max_prefill_tokens") c.budgets.prefill_tokens = parse_int(name, value, 0, std::numeric_limits<int64_t>::max());
  else if (name == "max_seconds") c.budgets.seconds = parse_double(name, value);
  else if (name == "memory_budget_bytes") c.memory_budget_bytes = static_cast<uint64_t>(parse_int(name, value, 0, std::numeric_limits<int64_t>::max()));
  else if (name == "max_batch") c.max_batch = static_cast<int>(parse_int(name, value, 0, 65536));
  else if (name == "progress_every") c.progress_every = static_cast<int>(parse_int(name, value, 0, 1 << 30));
  else if (name == "keep_outputs") c.keep_outputs = parse_bool(name, value);
  else if (name == "threads") h.engine_options.threads = static_cast<int>(parse_int(name, value, 0, 1024));
  else if (name == "kv_cache") {
    if (value == "f32") h.engine_options.kv_cache_type = DType::f32;
    else if (value == "f16") h.engine_options.kv_cache_type = DType::f16;
    else c_fail(ZAYA_ERR_INVALID_ARGUMENT, "rsa option kv_cache = '{}' (f32 or f16)", value);
  }
  else if (name == "enable_thinking") {
    if (value == "default") h.engine_options.enable_thinking.reset();
    else h.engine_options.enable_thinking = parse_bool(name, value);
  } else set_sampling(c.sampling, name, name, value);
}

const char* progress_kind_name(rsa::ProgressKind kind) {
  switch (kind) {
    case rsa::ProgressKind::stage_started: return "stage_started";
    case rsa::ProgressKind::candidate_progress: return "candidate_progress";
    case rsa::ProgressKind::candidate_finished: return "candidate_finished";
    case rsa::ProgressKind::stage_finished: return "stage_finished";
  }
  return "unknown";
}

std::string progress_json(const rsa::Progress& p) {
  std::string out = fmt::format(
      "{{\"kind\":\"{}\",\"round\":{},\"stages\":{},\"stage_size\":{},\"final_stage\":{},\"candidate\":{},"
      "\"candidate_tokens\":{},\"stage_decode_tokens\":{},\"total_decode_tokens\":{},\"tokens_per_second\":",
      progress_kind_name(p.kind), p.round, p.stages, p.stage_size, p.final_stage, p.candidate, p.candidate_tokens,
      p.stage_decode_tokens, p.total_decode_tokens);
  json::append_number(out, p.tokens_per_second);
  out += ",\"answer\":";
  json::append_string(out, p.answer);
  out += '}';
  return out;
}

zaya_rsa& rsa_handle(zaya_rsa* h) { return handle(h); }

}  // namespace

extern "C" {

ZAYA_API zaya_status zaya_rsa_new(const zaya_model* model, const char* preset, zaya_rsa** out_rsa) {
  return guard("zaya_rsa_new", [&] {
    const auto& m = handle(model).state;
    require_out(out_rsa, "out_rsa");
    *out_rsa = nullptr;
    auto h = std::make_unique<zaya_rsa>();
    h->model = m;
    h->config = rsa::RsaConfig::preset(preset ? cstring_arg(preset, "preset", 64) : std::string_view("recommended"));
    *out_rsa = h.release();
  });
}

ZAYA_API void zaya_rsa_free(zaya_rsa* run) { free_handle(run); }

ZAYA_API zaya_status zaya_rsa_set(zaya_rsa* run, const char* name, const char* value) {
  return guard("zaya_rsa_set", [&] {
    zaya_rsa& h = rsa_handle(run);
    BusyLease lease(h.busy, "zaya_rsa");
    const std::string_view n = cstring_arg(name, "name", 64);
    const std::string_view v = cstring_arg(value, "value");
    const std::string_view checked = text_arg(v.data(), v.size(), "value");
    set_option(h, n, checked);
  });
}

ZAYA_API zaya_status zaya_rsa_run(zaya_rsa* run, const char* question, size_t question_length,
                                  const int32_t* prompt_ids, size_t n_prompt_ids, zaya_rsa_progress_fn progress,
                                  void* user_data) {
  return guard("zaya_rsa_run", [&] {
    zaya_rsa& h = rsa_handle(run);
    BusyLease lease(h.busy, "zaya_rsa");
    rsa::Question q;
    q.text = std::string(text_arg(question, question_length, "question"));
    require_array(prompt_ids, n_prompt_ids, kMaxTokens, "prompt_ids");
    q.prompt_ids.assign(prompt_ids, prompt_ids + n_prompt_ids);
    if (q.text.empty() && q.prompt_ids.empty()) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "rsa: give a question or prompt ids");
    if (q.prompt_ids.empty() && !h.model->tokenizer)
      c_fail(ZAYA_ERR_UNSUPPORTED, "rsa: a text question needs a model with a tokenizer (or give prompt ids)");
    h.config.validate();

    rsa::ModelEngine engine(h.model->model, h.model->tokenizer, h.engine_options);
    rsa::Orchestrator orchestrator(engine, h.config);
    struct Running {  // publishes the orchestrator to zaya_rsa_cancel for the duration of the run
      zaya_rsa& h;
      Running(zaya_rsa& handle_ref, rsa::Orchestrator& o) : h(handle_ref) {
        std::lock_guard lock(h.cancel_mutex);
        h.running = &o;
      }
      ~Running() {
        std::lock_guard lock(h.cancel_mutex);
        h.running = nullptr;
      }
    } running(h, orchestrator);

    rsa::ProgressCallback on_progress;
    if (progress) {
      on_progress = [&](const rsa::Progress& p) {
        h.event = progress_json(p);
        if (progress(h.event.c_str(), h.event.size(), user_data) != ZAYA_CONTINUE) orchestrator.cancel();
      };
    }
    h.result.reset();
    h.result = orchestrator.run(q, on_progress);
    h.answer = h.result->answer;
    h.json.clear();
  });
}

ZAYA_API void zaya_rsa_cancel(zaya_rsa* run) {
  guard_void("zaya_rsa_cancel", [&] {
    if (!run || run->magic != zaya_rsa::kMagic) {
      logf(ZAYA_LOG_WARN, "zaya_rsa_cancel: invalid handle ignored");
      return;
    }
    std::lock_guard lock(run->cancel_mutex);
    if (run->running) run->running->cancel();
  });
}

ZAYA_API zaya_status zaya_rsa_answer(zaya_rsa* run, const char** out_answer, size_t* out_length) {
  return guard("zaya_rsa_answer", [&] {
    zaya_rsa& h = rsa_handle(run);
    BusyLease lease(h.busy, "zaya_rsa");
    require_out(out_answer, "out_answer");
    if (!h.result) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "rsa: no finished run");
    *out_answer = h.answer.c_str();
    if (out_length) *out_length = h.answer.size();
  });
}

ZAYA_API zaya_status zaya_rsa_result_json(zaya_rsa* run, int32_t include_text, const char** out_json,
                                          size_t* out_length) {
  return guard("zaya_rsa_result_json", [&] {
    zaya_rsa& h = rsa_handle(run);
    BusyLease lease(h.busy, "zaya_rsa");
    require_out(out_json, "out_json");
    if (!h.result) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "rsa: no finished run");
    h.json = rsa::to_json(*h.result, include_text != 0);
    *out_json = h.json.c_str();
    if (out_length) *out_length = h.json.size();
  });
}

}  // extern "C"
