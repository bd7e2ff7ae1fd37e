/* tests/capi/layout.c - prints the size and field offsets of every struct of zaya.h, as the C
 * compiler lays them out, one "name value" pair per line. The Python and Rust binding tests
 * compare their own struct declarations with this (generated from zaya.h; regenerate when a
 * struct gains a field). */
#include <zaya.h>

#include <stddef.h>
#include <stdio.h>

#define SIZE(s) printf("%s %zu\n", #s, sizeof(s))
#define FIELD(s, f) printf("%s.%s %zu\n", #s, #f, offsetof(s, f))

int main(void) {
  SIZE(zaya_model_params);
  FIELD(zaya_model_params, struct_size);
  FIELD(zaya_model_params, backend);
  FIELD(zaya_model_params, skip_semantics);
  FIELD(zaya_model_params, load_tokenizer);
  FIELD(zaya_model_params, tokenizer_path);
  FIELD(zaya_model_params, progress);
  FIELD(zaya_model_params, progress_user_data);
  FIELD(zaya_model_params, head_shortlist);
  SIZE(zaya_model_info);
  FIELD(zaya_model_info, struct_size);
  FIELD(zaya_model_info, vocab_size);
  FIELD(zaya_model_info, hidden_size);
  FIELD(zaya_model_info, layers);
  FIELD(zaya_model_info, experts);
  FIELD(zaya_model_info, max_position);
  FIELD(zaya_model_info, bos_id);
  FIELD(zaya_model_info, eos_id);
  FIELD(zaya_model_info, total_params);
  FIELD(zaya_model_info, active_params);
  FIELD(zaya_model_info, stored_bytes);
  FIELD(zaya_model_info, has_tokenizer);
  FIELD(zaya_model_info, has_chat_template);
  FIELD(zaya_model_info, backend);
  FIELD(zaya_model_info, backend_log);
  FIELD(zaya_model_info, directory);
  FIELD(zaya_model_info, stored_dtypes);
  FIELD(zaya_model_info, head_shortlist_bytes);
  SIZE(zaya_chat_params);
  FIELD(zaya_chat_params, struct_size);
  FIELD(zaya_chat_params, add_generation_prompt);
  FIELD(zaya_chat_params, tools_json);
  FIELD(zaya_chat_params, tools_json_length);
  FIELD(zaya_chat_params, extra_json);
  FIELD(zaya_chat_params, extra_json_length);
  SIZE(zaya_context_params);
  FIELD(zaya_context_params, struct_size);
  FIELD(zaya_context_params, max_sequences);
  FIELD(zaya_context_params, threads);
  FIELD(zaya_context_params, max_context);
  FIELD(zaya_context_params, truncate_window);
  FIELD(zaya_context_params, kv_cache_type);
  SIZE(zaya_batch_token);
  FIELD(zaya_batch_token, sequence);
  FIELD(zaya_batch_token, token);
  FIELD(zaya_batch_token, logits);
  SIZE(zaya_sampling_params);
  FIELD(zaya_sampling_params, struct_size);
  FIELD(zaya_sampling_params, temperature);
  FIELD(zaya_sampling_params, top_k);
  FIELD(zaya_sampling_params, top_p);
  FIELD(zaya_sampling_params, min_p);
  FIELD(zaya_sampling_params, repetition_penalty);
  FIELD(zaya_sampling_params, presence_penalty);
  FIELD(zaya_sampling_params, frequency_penalty);
  FIELD(zaya_sampling_params, penalty_last_n);
  FIELD(zaya_sampling_params, greedy);
  FIELD(zaya_sampling_params, temperature_placement);
  FIELD(zaya_sampling_params, seed);
  FIELD(zaya_sampling_params, logit_bias_ids);
  FIELD(zaya_sampling_params, logit_bias_values);
  FIELD(zaya_sampling_params, n_logit_bias);
  FIELD(zaya_sampling_params, banned_tokens);
  FIELD(zaya_sampling_params, n_banned_tokens);
  SIZE(zaya_request);
  FIELD(zaya_request, struct_size);
  FIELD(zaya_request, sequence);
  FIELD(zaya_request, prompt_tokens);
  FIELD(zaya_request, n_prompt_tokens);
  FIELD(zaya_request, prompt_text);
  FIELD(zaya_request, prompt_text_length);
  FIELD(zaya_request, add_special_tokens);
  FIELD(zaya_request, start_logits);
  FIELD(zaya_request, n_start_logits);
  FIELD(zaya_request, max_tokens);
  FIELD(zaya_request, sampling);
  FIELD(zaya_request, stop_at_eos);
  FIELD(zaya_request, stop_tokens);
  FIELD(zaya_request, n_stop_tokens);
  FIELD(zaya_request, stop_strings);
  FIELD(zaya_request, n_stop_strings);
  SIZE(zaya_token_event);
  FIELD(zaya_token_event, struct_size);
  FIELD(zaya_token_event, request);
  FIELD(zaya_token_event, token);
  FIELD(zaya_token_event, finish);
  FIELD(zaya_token_event, text);
  FIELD(zaya_token_event, text_length);
  SIZE(zaya_result);
  FIELD(zaya_result, struct_size);
  FIELD(zaya_result, finish);
  FIELD(zaya_result, prompt_tokens);
  FIELD(zaya_result, generated_tokens);
  return 0;
}
