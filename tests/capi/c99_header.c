/* tests/capi/c99_header.c - compiled with -std=c99 -Wall -Wextra -pedantic -Werror against
 * capi/zaya.h (shared and static library), then run: exercises one call of each family and
 * checks results, so a header that only compiles is not enough.
 *
 *   capi_c99_header <model dir> <tokenizer dir>
 */
#include <zaya.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__,    \
              __LINE__, #cond, zaya_last_error());                              \
      ++failures;                                                               \
    }                                                                           \
  } while (0)

struct collected {
  char text[4096];
  size_t length;
  int events;
  int32_t finish;
};

static int32_t on_token(const zaya_token_event* event, void* user_data) {
  struct collected* c = (struct collected*)user_data;
  if (c->length + event->text_length < sizeof c->text) {
    memcpy(c->text + c->length, event->text, event->text_length);
    c->length += event->text_length;
    c->text[c->length] = '\0';
  }
  ++c->events;
  if (event->finish != ZAYA_FINISH_NONE) c->finish = event->finish;
  return ZAYA_CONTINUE;
}

int main(int argc, char** argv) {
  zaya_model* model = NULL;
  zaya_context* ctx = NULL;
  zaya_tokenizer* tok = NULL;
  zaya_model_params mp;
  zaya_context_params cp;
  zaya_model_info info;
  zaya_request req;
  zaya_result result;
  struct collected got;
  int32_t ids[64];
  size_t count = 0;
  char text[256];
  size_t length = 0;
  const char* name = NULL;
  zaya_batch_token batch[2];
  const float* logits = NULL;
  size_t vocab = 0;
  int64_t seq_length = 0;

  if (argc != 3) {
    fprintf(stderr, "usage: %s <model dir> <tokenizer dir>\n", argv[0]);
    return 2;
  }

  /* versions */
  CHECK(zaya_abi_compatible());
  CHECK(strcmp(zaya_version(), ZAYA_VERSION_STRING) == 0);
  CHECK(zaya_version_number() == ZAYA_VERSION_NUMBER);
  CHECK(zaya_backend_count() >= 1);
  CHECK(zaya_backend_info(0, &name, NULL) == ZAYA_OK && name && strlen(name) > 0);

  /* errors are values, never crashes */
  CHECK(zaya_model_load(NULL, NULL, &model) == ZAYA_ERR_INVALID_ARGUMENT);
  CHECK(strlen(zaya_last_error()) > 0);
  CHECK(zaya_model_load("/nonexistent/zaya-model", NULL, &model) == ZAYA_ERR_IO);
  CHECK(model == NULL);
  CHECK(zaya_decode(NULL, NULL, 0) == ZAYA_ERR_INVALID_ARGUMENT);
  CHECK(strcmp(zaya_status_name(ZAYA_ERR_CANCELLED), "cancelled") == 0);

  /* load with the tiny tokenizer */
  mp = zaya_model_params_default();
  mp.backend = "cpu";
  mp.tokenizer_path = argv[2];
  CHECK(zaya_model_load(argv[1], &mp, &model) == ZAYA_OK);
  if (!model) return 1;
  info.struct_size = sizeof info;
  CHECK(zaya_model_get_info(model, &info) == ZAYA_OK);
  CHECK(info.vocab_size == 384 && info.layers == 3 && info.has_tokenizer == 1);
  CHECK(info.struct_size == sizeof info);

  /* tokenizer round trip, buffer rule */
  CHECK(zaya_model_get_tokenizer(model, &tok) == ZAYA_OK && tok != NULL);
  CHECK(zaya_tokenize(tok, "Hello world", 11, 0, NULL, 0, &count) == ZAYA_ERR_BUFFER_TOO_SMALL);
  CHECK(count > 0 && count < 64);
  CHECK(zaya_tokenize(tok, "Hello world", 11, 0, ids, 64, &count) == ZAYA_OK);
  CHECK(zaya_detokenize(tok, ids, count, 0, text, sizeof text, &length) == ZAYA_OK);
  CHECK(length == 11 && strcmp(text, "Hello world") == 0);
  CHECK(zaya_tokenize(tok, "\xff\xfe", 2, 0, ids, 64, &count) == ZAYA_ERR_INVALID_ARGUMENT);

  /* context, decode, logits */
  cp = zaya_context_params_default();
  cp.max_sequences = 2;
  cp.max_context = 128;
  cp.threads = 1;
  CHECK(zaya_context_new(model, &cp, &ctx) == ZAYA_OK);
  if (!ctx) return 1;
  batch[0].sequence = 0;
  batch[0].token = 5;
  batch[0].logits = 0;
  batch[1].sequence = 0;
  batch[1].token = 7;
  batch[1].logits = 1;
  CHECK(zaya_decode(ctx, batch, 2) == ZAYA_OK);
  CHECK(zaya_logits(ctx, 0, &logits, &vocab) == ZAYA_OK && logits != NULL && vocab == 384);
  CHECK(zaya_logits(ctx, 1, &logits, &vocab) == ZAYA_ERR_OUT_OF_RANGE);
  CHECK(zaya_sequence_length(ctx, 0, &seq_length) == ZAYA_OK && seq_length == 2);
  CHECK(zaya_sequence_fork(ctx, 0, 1) == ZAYA_OK);
  CHECK(zaya_sequence_length(ctx, 1, &seq_length) == ZAYA_OK && seq_length == 2);
  CHECK(zaya_sequence_clear(ctx, 1) == ZAYA_OK);
  CHECK(zaya_sequence_length(ctx, 2, &seq_length) == ZAYA_ERR_OUT_OF_RANGE);

  /* streaming generation with a callback */
  req = zaya_request_default();
  req.sequence = 1;
  req.prompt_text = "Hello";
  req.prompt_text_length = 5;
  req.max_tokens = 8;
  req.stop_at_eos = 0;
  result = zaya_result_default();
  memset(&got, 0, sizeof got);
  CHECK(zaya_generate(ctx, &req, 1, on_token, &got, &result) == ZAYA_OK);
  CHECK(result.finish == ZAYA_FINISH_MAX_TOKENS && result.generated_tokens == 8);
  CHECK(got.finish == ZAYA_FINISH_MAX_TOKENS && got.events == 9);
  CHECK(strcmp(zaya_finish_reason_name(result.finish), "max_tokens") == 0);

  zaya_tokenizer_free(tok);
  zaya_context_free(ctx);
  zaya_model_free(model);
  zaya_model_free(NULL);
  if (failures) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("c99 header test passed (zaya %s, ABI %u)\n", zaya_version(), (unsigned)zaya_abi_version());
  return 0;
}
