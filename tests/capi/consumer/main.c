/* Loads a model through the installed zaya and decodes two tokens. */
#include <zaya.h>
#include <stdio.h>

int main(int argc, char** argv) {
  zaya_model* model = NULL;
  zaya_context* ctx = NULL;
  zaya_batch_token batch[2] = {{0, 3, 0}, {0, 4, 1}};
  const float* logits = NULL;
  size_t vocab = 0;
  if (argc != 2 || !zaya_abi_compatible()) return 2;
  if (zaya_model_load(argv[1], NULL, &model) != ZAYA_OK || zaya_context_new(model, NULL, &ctx) != ZAYA_OK ||
      zaya_decode(ctx, batch, 2) != ZAYA_OK || zaya_logits(ctx, 0, &logits, &vocab) != ZAYA_OK) {
    fprintf(stderr, "failed: %s\n", zaya_last_error());
    return 1;
  }
  printf("zaya %s: %zu logits, first %f\n", zaya_version(), vocab, logits[0]);
  zaya_context_free(ctx);
  zaya_model_free(model);
  return 0;
}
