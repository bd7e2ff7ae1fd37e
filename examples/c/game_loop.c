/* examples/c/game_loop.c - the pattern game engines and IDE plugins need: the model runs on a
 * worker thread, the main thread runs a fixed-rate frame loop that polls for finished text
 * without ever blocking, and cancels an answer halfway (the player walked away from the NPC).
 *
 *   game_loop <model-dir> [--tokenizer PATH] [--frame-ms N]
 *
 * Threading (see zaya.h): the context is used only by the worker; the main thread only calls
 * zaya_context_cancel(), which is allowed from any thread. The shared mailbox is guarded by a
 * mutex that the frame loop only ever try-locks.
 *
 * Exit status 0 when the first answer was cancelled mid-way and the second ran to its end.
 */
#define _POSIX_C_SOURCE 200809L
#include <zaya.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  pthread_mutex_t mutex;
  pthread_cond_t wake;
  /* main -> worker */
  char prompt[512];
  long max_tokens;
  int has_job, quit;
  /* worker -> main */
  char text[1 << 16];
  size_t length;
  int tokens;
  int32_t finish; /* ZAYA_FINISH_NONE while an answer is being written */
  int running;
  char error[256];
} mailbox;

typedef struct {
  zaya_context* context;
  mailbox* box;
} worker_args;

static void* worker(void* arg) {
  worker_args* w = (worker_args*)arg;
  mailbox* box = w->box;
  for (;;) {
    zaya_request request = zaya_request_default();
    zaya_stream* stream = NULL;
    zaya_token_event event;
    char prompt[512];

    pthread_mutex_lock(&box->mutex);
    while (!box->has_job && !box->quit) pthread_cond_wait(&box->wake, &box->mutex);
    if (box->quit) {
      pthread_mutex_unlock(&box->mutex);
      return NULL;
    }
    memcpy(prompt, box->prompt, sizeof prompt);
    request.max_tokens = box->max_tokens;
    box->has_job = 0;
    pthread_mutex_unlock(&box->mutex);

    /* A fresh conversation per question: sequence 0 is reused. */
    zaya_sequence_clear(w->context, 0);
    request.prompt_text = prompt;
    request.prompt_text_length = strlen(prompt);
    request.add_special_tokens = 1;
    request.stop_at_eos = 0;
    if (zaya_stream_new(w->context, &request, &stream) != ZAYA_OK) {
      pthread_mutex_lock(&box->mutex);
      snprintf(box->error, sizeof box->error, "%s", zaya_last_error());
      box->finish = ZAYA_FINISH_CANCELLED;
      box->running = 0;
      pthread_mutex_unlock(&box->mutex);
      continue;
    }
    event.struct_size = sizeof event;
    for (;;) {
      const zaya_status status = zaya_stream_next(stream, &event); /* one token of work */
      pthread_mutex_lock(&box->mutex);
      if (status != ZAYA_OK) {
        snprintf(box->error, sizeof box->error, "%s", zaya_last_error());
        box->finish = ZAYA_FINISH_CANCELLED;
      } else {
        if (box->length + event.text_length < sizeof box->text) {
          memcpy(box->text + box->length, event.text, event.text_length);
          box->length += event.text_length;
        }
        if (event.token >= 0) ++box->tokens;
        box->finish = event.finish;
      }
      if (box->finish != ZAYA_FINISH_NONE) box->running = 0;
      pthread_mutex_unlock(&box->mutex);
      if (status != ZAYA_OK || event.finish != ZAYA_FINISH_NONE) break;
    }
    zaya_stream_free(stream);
  }
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void sleep_ms(double ms) {
  struct timespec t;
  if (ms <= 0) return;
  t.tv_sec = (time_t)(ms / 1000);
  t.tv_nsec = (long)((ms - (double)t.tv_sec * 1000) * 1e6);
  nanosleep(&t, NULL);
}

static void ask(mailbox* box, const char* prompt, long max_tokens) {
  pthread_mutex_lock(&box->mutex);
  snprintf(box->prompt, sizeof box->prompt, "%s", prompt);
  box->max_tokens = max_tokens;
  box->has_job = 1;
  box->running = 1;
  box->length = 0;
  box->tokens = 0;
  box->finish = ZAYA_FINISH_NONE;
  pthread_cond_signal(&box->wake);
  pthread_mutex_unlock(&box->mutex);
}

/* Runs frames until the answer is finished; cancels it once `cancel_after` tokens were shown
 * (0: never). Returns the finish reason; *shown_tokens receives what the player saw. */
static int32_t play(zaya_context* context, mailbox* box, double frame_ms, int cancel_after, int* shown_tokens,
                    double* worst_poll_ms) {
  size_t shown = 0;
  int frame = 0, cancelled = 0, tokens = 0;
  int32_t finish = ZAYA_FINISH_NONE;
  for (;; ++frame) {
    const double start = now_ms();
    double poll;
    /* --- poll: never blocks the frame --- */
    if (pthread_mutex_trylock(&box->mutex) == 0) {
      if (box->length > shown) {
        fwrite(box->text + shown, 1, box->length - shown, stdout);
        fflush(stdout);
        shown = box->length;
      }
      tokens = box->tokens;
      if (!box->running) finish = box->finish;
      pthread_mutex_unlock(&box->mutex);
    }
    poll = now_ms() - start;
    if (poll > *worst_poll_ms) *worst_poll_ms = poll;
    if (finish != ZAYA_FINISH_NONE) break;
    /* --- game logic: the player leaves mid-answer --- */
    if (cancel_after > 0 && !cancelled && tokens >= cancel_after) {
      zaya_context_cancel(context);
      cancelled = 1;
      printf(" <player left: cancel at frame %d>", frame);
    }
    /* --- render, then wait for the next frame --- */
    sleep_ms(frame_ms - (now_ms() - start));
  }
  printf("\n[%d frames, %d tokens, %s]\n", frame + 1, tokens, zaya_finish_reason_name(finish));
  *shown_tokens = tokens;
  return finish;
}

int main(int argc, char** argv) {
  const char* model_dir = NULL;
  const char* tokenizer_path = NULL;
  double frame_ms = 16.0, worst_poll_ms = 0;
  int i, shown = 0, ok = 1;
  int32_t finish;
  zaya_model* model = NULL;
  zaya_context* context = NULL;
  zaya_model_params mp = zaya_model_params_default();
  zaya_context_params cp = zaya_context_params_default();
  static mailbox box;
  worker_args args;
  pthread_t thread;

  for (i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) tokenizer_path = argv[++i];
    else if (!strcmp(argv[i], "--frame-ms") && i + 1 < argc) frame_ms = strtod(argv[++i], NULL);
    else if (!model_dir && argv[i][0] != '-') model_dir = argv[i];
    else {
      fprintf(stderr, "usage: %s <model-dir> [--tokenizer PATH] [--frame-ms N]\n", argv[0]);
      return 2;
    }
  }
  if (!model_dir) {
    fprintf(stderr, "usage: %s <model-dir> [--tokenizer PATH] [--frame-ms N]\n", argv[0]);
    return 2;
  }
  mp.tokenizer_path = tokenizer_path;
  if (zaya_model_load(model_dir, &mp, &model) != ZAYA_OK) {
    fprintf(stderr, "game_loop: %s\n", zaya_last_error());
    return 1;
  }
  cp.threads = 1; /* leave the other cores to the game */
  if (zaya_context_new(model, &cp, &context) != ZAYA_OK) {
    fprintf(stderr, "game_loop: %s\n", zaya_last_error());
    zaya_model_free(model);
    return 1;
  }

  pthread_mutex_init(&box.mutex, NULL);
  pthread_cond_init(&box.wake, NULL);
  args.context = context;
  args.box = &box;
  pthread_create(&thread, NULL, worker, &args);

  printf("NPC: ");
  ask(&box, "Tell me a story about a dragon and a knight.", 3000);
  finish = play(context, &box, frame_ms, 8, &shown, &worst_poll_ms);
  if (finish != ZAYA_FINISH_CANCELLED || shown < 8 || shown >= 3000) {
    fprintf(stderr, "game_loop: the first answer should have been cancelled mid-way (%s after %d tokens)\n",
            zaya_finish_reason_name(finish), shown);
    ok = 0;
  }

  printf("NPC: ");
  ask(&box, "Hello!", 12);
  finish = play(context, &box, frame_ms, 0, &shown, &worst_poll_ms);
  if (finish != ZAYA_FINISH_MAX_TOKENS && finish != ZAYA_FINISH_STOP_TOKEN) {
    fprintf(stderr, "game_loop: the second answer should have run to its end (%s)\n", zaya_finish_reason_name(finish));
    ok = 0;
  }
  if (box.error[0]) {
    fprintf(stderr, "game_loop: worker error: %s\n", box.error);
    ok = 0;
  }
  printf("worst poll: %.3f ms\n", worst_poll_ms);

  pthread_mutex_lock(&box.mutex);
  box.quit = 1;
  pthread_cond_signal(&box.wake);
  pthread_mutex_unlock(&box.mutex);
  pthread_join(thread, NULL);
  pthread_cond_destroy(&box.wake);
  pthread_mutex_destroy(&box.mutex);
  zaya_context_free(context);
  zaya_model_free(model);
  return ok ? 0 : 1;
}
