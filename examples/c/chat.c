/* examples/c/chat.c - a minimal terminal chat in plain C99 over zaya.h.
 *
 *   chat <model-dir> [--tokenizer PATH] [--max-tokens N] [--temperature T] [--seed S]
 *
 * Each line read from stdin is a user turn. The conversation is kept as a JSON message list,
 * rendered through the model's chat template, and the answer is streamed to stdout as it is
 * generated. Empty line or end of input quits.
 *
 * Prompt caching: the rendered conversation of turn k is a prefix of turn k+1's, so the sequence
 * keeps its cache and only the new tokens are prefilled (the common prefix is kept, the rest cut;
 * if the cut is further back than the context's truncate window the sequence is rebuilt).
 */
#include <zaya.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a growable string ---- */
typedef struct {
  char* data;
  size_t length, capacity;
} buffer;

static int buffer_append(buffer* b, const char* text, size_t length) {
  if (b->length + length + 1 > b->capacity) {
    size_t capacity = b->capacity ? b->capacity * 2 : 256;
    char* grown;
    while (capacity < b->length + length + 1) capacity *= 2;
    grown = (char*)realloc(b->data, capacity);
    if (!grown) return 0;
    b->data = grown;
    b->capacity = capacity;
  }
  memcpy(b->data + b->length, text, length);
  b->length += length;
  b->data[b->length] = '\0';
  return 1;
}

/* Appends `text` as a JSON string literal. */
static int append_json_string(buffer* b, const char* text, size_t length) {
  size_t i;
  char escape[8];
  if (!buffer_append(b, "\"", 1)) return 0;
  for (i = 0; i < length; ++i) {
    unsigned char c = (unsigned char)text[i];
    if (c == '"' || c == '\\') {
      escape[0] = '\\';
      escape[1] = (char)c;
      if (!buffer_append(b, escape, 2)) return 0;
    } else if (c < 0x20) {
      sprintf(escape, "\\u%04x", c);
      if (!buffer_append(b, escape, 6)) return 0;
    } else if (!buffer_append(b, (const char*)&text[i], 1)) {
      return 0;
    }
  }
  return buffer_append(b, "\"", 1);
}

static int append_message(buffer* messages, const char* role, const char* content, size_t length) {
  /* messages holds "[...]" without the closing bracket while the chat runs */
  if (messages->length > 1 && !buffer_append(messages, ",", 1)) return 0;
  return buffer_append(messages, "{\"role\":\"", 9) && buffer_append(messages, role, strlen(role)) &&
         buffer_append(messages, "\",\"content\":", 12) && append_json_string(messages, content, length) &&
         buffer_append(messages, "}", 1);
}

/* The answer being generated: its text and its token ids. */
typedef struct {
  buffer text;
  buffer ids; /* int32_t values, stored as bytes */
} answer_state;

/* Streams the answer to stdout and keeps it for the conversation. */
static int32_t on_token(const zaya_token_event* event, void* user_data) {
  answer_state* answer = (answer_state*)user_data;
  fwrite(event->text, 1, event->text_length, stdout);
  fflush(stdout);
  if (event->token >= 0 && !buffer_append(&answer->ids, (const char*)&event->token, sizeof event->token))
    return ZAYA_STOP;
  return buffer_append(&answer->text, event->text, event->text_length) ? ZAYA_CONTINUE : ZAYA_STOP;
}

static int fail(const char* what) {
  fprintf(stderr, "chat: %s: %s\n", what, zaya_last_error());
  return 1;
}

int main(int argc, char** argv) {
  const char* model_dir = NULL;
  const char* tokenizer_path = NULL;
  long max_tokens = 256;
  double temperature = 0.7;
  unsigned long long seed = 1;
  int i, turn;
  zaya_model* model = NULL;
  zaya_tokenizer* tokenizer = NULL;
  zaya_chat_template* chat_template = NULL;
  zaya_context* context = NULL;
  zaya_model_params mp = zaya_model_params_default();
  zaya_context_params cp = zaya_context_params_default();
  zaya_sampling_params sampling = zaya_sampling_params_default();
  buffer messages = {NULL, 0, 0}, closed = {NULL, 0, 0};
  answer_state answer = {{NULL, 0, 0}, {NULL, 0, 0}};
  int32_t* cached = NULL; /* tokens in sequence 0 */
  size_t n_cached = 0;
  char line[4096];
  int status = 0;

  for (i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) tokenizer_path = argv[++i];
    else if (!strcmp(argv[i], "--max-tokens") && i + 1 < argc) max_tokens = strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--temperature") && i + 1 < argc) temperature = strtod(argv[++i], NULL);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
    else if (!model_dir && argv[i][0] != '-') model_dir = argv[i];
    else {
      fprintf(stderr, "usage: %s <model-dir> [--tokenizer PATH] [--max-tokens N] [--temperature T] [--seed S]\n",
              argv[0]);
      return 2;
    }
  }
  if (!model_dir) {
    fprintf(stderr, "usage: %s <model-dir> [--tokenizer PATH] [--max-tokens N]\n", argv[0]);
    return 2;
  }
  if (!zaya_abi_compatible()) {
    fprintf(stderr, "chat: libzaya %s does not implement ABI %d\n", zaya_version(), ZAYA_ABI_VERSION);
    return 1;
  }

  mp.tokenizer_path = tokenizer_path;
  if (zaya_model_load(model_dir, &mp, &model) != ZAYA_OK) return fail("loading the model");
  if (zaya_model_get_tokenizer(model, &tokenizer) != ZAYA_OK || !tokenizer) {
    fprintf(stderr, "chat: the model has no tokenizer\n");
    zaya_model_free(model);
    return 1;
  }
  if (zaya_chat_template_from_tokenizer(tokenizer, &chat_template) != ZAYA_OK) {
    status = fail("chat template");
    goto done;
  }
  cp.max_context = 4096;
  if (zaya_context_new(model, &cp, &context) != ZAYA_OK) {
    status = fail("context");
    goto done;
  }
  sampling.temperature = (float)temperature;
  sampling.top_p = 0.95f;
  sampling.seed = seed;
  buffer_append(&messages, "[", 1);

  for (turn = 1;; ++turn) {
    const char* prompt = NULL;
    size_t prompt_length = 0, n_ids = 0, common = 0, n_answer = 0;
    int32_t* ids = NULL;
    int64_t length = 0;
    zaya_request request = zaya_request_default();
    zaya_result result = zaya_result_default();

    printf("> ");
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin)) break;
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0]) break;
    if (!append_message(&messages, "user", line, strlen(line))) {
      status = 1;
      break;
    }

    /* Render "[...]" and tokenize it. */
    closed.length = 0;
    buffer_append(&closed, messages.data, messages.length);
    buffer_append(&closed, "]", 1);
    if (zaya_chat_template_render(chat_template, closed.data, closed.length, NULL, &prompt, &prompt_length) != ZAYA_OK) {
      status = fail("rendering the conversation");
      break;
    }
    zaya_tokenize(tokenizer, prompt, prompt_length, 0, NULL, 0, &n_ids);
    ids = (int32_t*)malloc((n_ids ? n_ids : 1) * sizeof *ids);
    if (!ids || zaya_tokenize(tokenizer, prompt, prompt_length, 0, ids, n_ids, &n_ids) != ZAYA_OK) {
      free(ids);
      status = fail("tokenizing");
      break;
    }

    /* Keep the cached prefix (at least one new token must remain to produce logits). */
    while (common < n_cached && common + 1 < n_ids && cached[common] == ids[common]) ++common;
    zaya_sequence_length(context, 0, &length);
    if ((size_t)length != common && zaya_sequence_truncate(context, 0, (int64_t)common) != ZAYA_OK) {
      zaya_sequence_clear(context, 0);
      common = 0;
    }

    request.prompt_tokens = ids + common;
    request.n_prompt_tokens = n_ids - common;
    request.max_tokens = max_tokens;
    request.sampling = &sampling;
    answer.text.length = 0;
    answer.ids.length = 0;
    buffer_append(&answer.text, "", 0);
    if (zaya_generate(context, &request, 1, on_token, &answer, &result) != ZAYA_OK) {
      free(ids);
      status = fail("generating");
      break;
    }
    printf("\n[turn %d: %lld prompt tokens (%zu cached), %lld generated, %s]\n", turn, (long long)n_ids,
           common, (long long)result.generated_tokens, zaya_finish_reason_name(result.finish));

    /* What the sequence now holds: the prompt, then the answer's tokens except the last one
     * sampled (never decoded). The next turn keeps whatever prefix it shares with this. */
    free(cached);
    n_answer = answer.ids.length / sizeof(int32_t);
    cached = (int32_t*)realloc(ids, (n_ids + n_answer + 1) * sizeof *ids);
    if (!cached) {
      free(ids);
      status = 1;
      break;
    }
    if (n_answer) memcpy(cached + n_ids, answer.ids.data, n_answer * sizeof(int32_t));
    zaya_sequence_length(context, 0, &length);
    n_cached = (size_t)length < n_ids + n_answer ? (size_t)length : n_ids + n_answer;
    if (!append_message(&messages, "assistant", answer.text.data, answer.text.length)) {
      status = 1;
      break;
    }
  }

done:
  free(cached);
  free(messages.data);
  free(closed.data);
  free(answer.text.data);
  free(answer.ids.data);
  zaya_context_free(context);
  zaya_chat_template_free(chat_template);
  zaya_tokenizer_free(tokenizer);
  zaya_model_free(model);
  return status;
}
