// src/rsa/json.cpp - an RSA result as one JSON object (the `zaya rsa --json` output).
#include <zaya/json_writer.h>
#include <zaya/rsa.h>

namespace zaya::rsa {

std::string to_json(const RsaResult& r, bool include_text) {
  using json::append_number;
  using json::append_string;
  std::string out = "{\"answer\":";
  append_string(out, r.answer);
  out += ",\"votes\":[";
  for (size_t i = 0; i < r.votes.size(); ++i) {
    const Vote& v = r.votes[i];
    if (i) out += ',';
    out += "{\"answer\":";
    append_string(out, v.answer);
    out += fmt::format(",\"count\":{},\"finished\":{},\"first_index\":{}}}", v.count, v.finished, v.first_index);
  }
  out += fmt::format("],\"answer_round\":{},\"best_candidate\":{}", r.answer_round, r.best_candidate);
  if (include_text) {
    out += ",\"best_text\":";
    append_string(out, r.best_text);
  }
  out += ",\"stages\":[";
  for (size_t s = 0; s < r.stages.size(); ++s) {
    const StageResult& st = r.stages[s];
    if (s) out += ',';
    out += fmt::format("{{\"round\":{},\"final\":{},\"complete\":{},\"decode_tokens\":{},\"prefill_tokens\":{},\"waves\":{},"
                       "\"wave_size\":{},\"seconds\":",
                       st.round, st.final_stage, st.complete, st.decode_tokens, st.prefill_tokens, st.waves, st.wave_size);
    append_number(out, st.seconds);
    out += ",\"candidates\":[";
    for (size_t i = 0; i < st.candidates.size(); ++i) {
      const CandidateResult& c = st.candidates[i];
      if (i) out += ',';
      out += fmt::format("{{\"generated_tokens\":{},\"tail_tokens\":{},\"prompt_tokens\":{},\"answer\":", c.generated_tokens(),
                         c.tail_tokens, c.prompt_tokens);
      append_string(out, c.answer);
      out += ",\"sources\":[";
      for (size_t k = 0; k < c.sources.size(); ++k) out += fmt::format("{}{}", k ? "," : "", c.sources[k]);
      out += "],\"finish\":";
      append_string(out, finish_reason_name(c.finish));
      if (include_text) {
        out += ",\"text\":";
        append_string(out, c.text);
        out += ",\"tail\":";
        append_string(out, c.tail);
      }
      out += '}';
    }
    out += "]}";
  }
  out += fmt::format("],\"decode_tokens\":{},\"prefill_tokens\":{},\"stopped_by\":", r.decode_tokens, r.prefill_tokens);
  append_string(out, stopped_by_name(r.stopped_by));
  if (!r.stop_detail.empty()) {
    out += ",\"stop_detail\":";
    append_string(out, r.stop_detail);
  }
  out += ",\"seconds\":";
  append_number(out, r.seconds);
  out += '}';
  return out;
}

}  // namespace zaya::rsa
