/*
 * zaya.h - the stable C ABI of zaya, an embeddable inference engine for Zyphra's ZAYA1 models.
 *
 * One header, C99, no other includes than the C standard library. Everything here is the
 * product's real, long-lived interface: programs compiled against one release keep working with
 * later releases of the same ABI version (see "Compatibility" below and docs/C_API.md).
 *
 * ---- Quick tour -------------------------------------------------------------------------------
 *
 *   zaya_model* model = NULL;
 *   zaya_model_params mp = zaya_model_params_default();
 *   if (zaya_model_load("path/to/ZAYA1-8B", &mp, &model) != ZAYA_OK) {
 *     fprintf(stderr, "load failed: %s\n", zaya_last_error());
 *     return 1;
 *   }
 *   zaya_context* ctx = NULL;
 *   zaya_context_params cp = zaya_context_params_default();
 *   zaya_context_new(model, &cp, &ctx);
 *
 *   zaya_request req = zaya_request_default();
 *   req.prompt_text = "Hello"; req.prompt_text_length = 5;
 *   zaya_generate(ctx, &req, 1, on_token, user_data, NULL);   // streams text to on_token
 *
 *   zaya_context_free(ctx);
 *   zaya_model_free(model);
 *
 * ---- Objects (opaque handles) -----------------------------------------------------------------
 *
 *   zaya_model          weights + configuration (+ the tokenizer found next to them). Immutable.
 *   zaya_tokenizer      text <-> token ids. Immutable.
 *   zaya_chat_template  a parsed Jinja chat template (renders message lists to prompt text).
 *   zaya_context        a set of sequences (ids 0 .. max_sequences-1), each with its own caches,
 *                       and the forward pass that extends them.
 *   zaya_stream         a pull-style generation on one sequence of a context: one token per call.
 *   zaya_sampler        turns a row of logits into a token id.
 *   zaya_detokenizer    incremental (streaming) detokenization.
 *   zaya_rsa            a Markovian RSA run (test-time compute: populations that aggregate).
 *
 * Every handle is created by a *_new / *_load / *_parse function and released by the matching
 * *_free function, which accepts NULL. A handle that is NULL, already freed, or of the wrong
 * kind is reported as ZAYA_ERR_INVALID_ARGUMENT (each handle carries a magic number that is
 * checked on every call; this catches mistakes, it is not a guarantee for memory already reused).
 * Handles keep what they need alive: a context keeps its model, a stream its context, so they
 * may be freed in any order.
 *
 * ---- Errors -----------------------------------------------------------------------------------
 *
 * Every call that can fail returns a zaya_status: ZAYA_OK (0) or an error code. The message of
 * the last error of the calling thread is available from zaya_last_error() (thread-local: other
 * threads' calls never change it). No C++ exception, abort() or exit() ever leaves the library;
 * NULL pointers, invalid handles, invalid UTF-8, out-of-range ids and absurd sizes are errors,
 * not crashes. Outputs are written only on success, except that a handle output (zaya_x** out_x)
 * is set to NULL first and the buffer rule below reports needed sizes on failure.
 *
 * ---- Threading contract -----------------------------------------------------------------------
 *
 *   * A loaded zaya_model is immutable: any number of contexts on any number of threads may use
 *     it at the same time. The same holds for zaya_tokenizer (encode/decode from any thread).
 *   * A zaya_context is used by one thread at a time. Calling it from a second thread while a
 *     call is running returns ZAYA_ERR_BUSY (the library detects this; it is not undefined
 *     behaviour). Different contexts are independent and run in parallel.
 *   * zaya_context_cancel() may be called from any thread at any time while the context handle
 *     is alive: it stops the call running on the context (prefill and decode stop within one
 *     layer's work) and ends every zaya_stream begun on the context before the cancel.
 *   * zaya_sampler, zaya_detokenizer, zaya_chat_template and zaya_stream objects are used by one
 *     thread at a time (ZAYA_ERR_BUSY otherwise); they may move between threads.
 *   * Callbacks run on the thread that made the call (log callbacks: on whichever thread logs).
 *     Callbacks must not throw C++ exceptions or longjmp out; they may call zaya functions on
 *     other objects, and on the same context only zaya_context_cancel().
 *   * Freeing a handle while another thread uses it is undefined behaviour.
 *
 * ---- Text and buffers -------------------------------------------------------------------------
 *
 * Text is UTF-8, passed as (pointer, length in bytes); it need not be NUL-terminated. Paths and
 * names are NUL-terminated. Functions that return text or ids into a caller buffer follow one
 * rule ("the buffer rule"):
 *   - *out_length (or *out_count) always receives the full size needed (bytes excluding the
 *     terminating NUL, or number of ids), on success and on ZAYA_ERR_BUFFER_TOO_SMALL;
 *   - when the buffer is large enough (for text: length + 1 bytes) the result is written (text
 *     NUL-terminated) and ZAYA_OK is returned;
 *   - otherwise ZAYA_ERR_BUFFER_TOO_SMALL is returned and nothing partial is written (a text
 *     buffer with capacity > 0 gets an empty string). A NULL buffer with capacity 0 is a size
 *     query.
 * Functions that return `const char*` into library storage say how long the pointer stays valid.
 *
 * ---- Compatibility (full rules in docs/C_API.md) ----------------------------------------------
 *
 *   * ZAYA_ABI_VERSION changes only when an incompatible change is made (then the shared
 *     library's SONAME changes too). Within one ABI version, functions and constants are only
 *     added, never removed or changed.
 *   * Parameter structs start with `size_t struct_size`. Always initialise them with their
 *     *_default() function (a static inline wrapper around *_init(ptr, sizeof *ptr) compiled
 *     into your program) and then set fields. The library reads only the first struct_size bytes:
 *     a program built against an older header (smaller struct) gets defaults for newer fields;
 *     a program built against a newer header may pass a larger struct as long as every field the
 *     library does not know is zero (else ZAYA_ERR_UNSUPPORTED). New fields are added only at the
 *     end and are designed so that zero means "not used".
 *   * Structs the library fills for you (zaya_model_info, zaya_token_event) also carry
 *     struct_size: the library writes at most the size you pass / you read only the fields that
 *     fit in the struct_size it reports.
 *   * zaya_batch_token is frozen: it will never change (a new layout would get a new name).
 *   * No struct is ever passed or returned by value across the library boundary.
 *   * Enumerations are plain int32_t constants; unknown values returned by a newer library (for
 *     example a new finish reason) must be handled gracefully.
 */
#ifndef ZAYA_H
#define ZAYA_H

#include <stddef.h>
#include <stdint.h>

/* ---- export macros ------------------------------------------------------------------------- */

#if defined(ZAYA_STATIC)
#define ZAYA_API
#elif defined(_WIN32)
#if defined(ZAYA_BUILDING_LIBRARY)
#define ZAYA_API __declspec(dllexport)
#else
#define ZAYA_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define ZAYA_API __attribute__((visibility("default")))
#else
#define ZAYA_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ============================================================================================
 * Versions
 * ========================================================================================== */

#define ZAYA_VERSION_MAJOR 0
#define ZAYA_VERSION_MINOR 1
#define ZAYA_VERSION_PATCH 0
#define ZAYA_VERSION_STRING "0.1.0"
/* major * 10000 + minor * 100 + patch */
#define ZAYA_VERSION_NUMBER (ZAYA_VERSION_MAJOR * 10000 + ZAYA_VERSION_MINOR * 100 + ZAYA_VERSION_PATCH)
/* The binary interface this header describes. */
#define ZAYA_ABI_VERSION 1

/* The library's version, e.g. "0.1.0" (static storage). */
ZAYA_API const char* zaya_version(void);
/* The library's version as major * 10000 + minor * 100 + patch. */
ZAYA_API uint32_t zaya_version_number(void);
/* The library's ABI version; a program may use it if it equals the ZAYA_ABI_VERSION it was
 * built with. */
ZAYA_API uint32_t zaya_abi_version(void);

/* 1 when the loaded library implements the ABI this header describes, else 0. */
static inline int zaya_abi_compatible(void) { return zaya_abi_version() == ZAYA_ABI_VERSION; }

/* ============================================================================================
 * Status codes and errors
 * ========================================================================================== */

typedef int32_t zaya_status;

/* Codes 0-63 mirror the engine's error codes (zaya::ErrorCode) one to one; codes from 100 on
 * belong to the C interface. New codes may be added: treat unknown non-zero values as errors. */
enum {
  ZAYA_OK = 0,
  ZAYA_ERR_INVALID_ARGUMENT = 1, /* unusable argument: NULL pointer, bad handle, bad option, bad UTF-8 */
  ZAYA_ERR_IO = 2,               /* a file could not be opened, mapped, read or written */
  ZAYA_ERR_BAD_FORMAT = 3,       /* malformed file or buffer: truncated, inconsistent, bad JSON */
  ZAYA_ERR_UNSUPPORTED = 4,      /* well-formed but uses something this build does not implement */
  ZAYA_ERR_OUT_OF_MEMORY = 5,    /* an allocation or a configured memory cap failed */
  ZAYA_ERR_CANCELLED = 6,        /* stopped by zaya_context_cancel() or a callback */
  ZAYA_ERR_OUT_OF_RANGE = 7,     /* a position, sequence or token id outside what exists */
  ZAYA_ERR_LIMIT_EXCEEDED = 8,   /* a configured limit (context length, output size, time) was hit */
  ZAYA_ERR_TEMPLATE = 9,         /* a chat template failed to parse or raised an exception */
  ZAYA_ERR_INTERNAL = 10,        /* a bug in zaya (please report it with the message) */
  ZAYA_ERR_BUFFER_TOO_SMALL = 100, /* see "the buffer rule" above; the needed size was reported */
  ZAYA_ERR_BUSY = 101              /* the object is in use by another thread */
};

/* A short constant name for a status ("ok", "invalid argument", ...); never NULL. */
ZAYA_API const char* zaya_status_name(zaya_status status);

/* The message of the last failed call on this thread ("" if the last call succeeded). Valid until
 * the next zaya call on this thread; never NULL. */
ZAYA_API const char* zaya_last_error(void);

/* ============================================================================================
 * Logging
 * ========================================================================================== */

enum {
  ZAYA_LOG_DEBUG = 0, /* every failed call, with its message */
  ZAYA_LOG_INFO = 1,  /* model loaded, backend chosen, context created */
  ZAYA_LOG_WARN = 2,  /* something was adjusted or fell back (e.g. "auto" backend to cpu) */
  ZAYA_LOG_ERROR = 3, /* internal errors */
  ZAYA_LOG_NONE = 4   /* as a threshold: log nothing */
};

/* `message` is one line without a trailing newline, valid during the call. */
typedef void (*zaya_log_fn)(int32_t level, const char* message, void* user_data);

/* Installs the process-wide log callback (NULL: no logging, the default) receiving messages of
 * `min_level` and above. Thread-safe; the callback may run on any thread, concurrently, and must
 * be thread-safe itself. After this call returns the previous callback is no longer called. */
ZAYA_API void zaya_set_log_callback(zaya_log_fn callback, void* user_data, int32_t min_level);

/* ============================================================================================
 * Backends
 * ========================================================================================== */

/* Number of compute backends this build knows ("cpu", "hip", ...), available or not. */
ZAYA_API size_t zaya_backend_count(void);
/* Name (e.g. "cpu") and one-line status (e.g. "available: AVX-512") of backend `index`, in static
 * storage. Either output may be NULL. ZAYA_ERR_OUT_OF_RANGE for index >= zaya_backend_count(). */
ZAYA_API zaya_status zaya_backend_info(size_t index, const char** name, const char** status);

/* ============================================================================================
 * Callbacks shared by several calls
 * ========================================================================================== */

/* Return value of callbacks that may stop the work they report on. */
enum { ZAYA_CONTINUE = 0, ZAYA_STOP = 1 };

/* Model loading progress, `fraction` in [0, 1]. Return ZAYA_STOP to cancel the load (it then
 * fails with ZAYA_ERR_CANCELLED). */
typedef int32_t (*zaya_progress_fn)(float fraction, void* user_data);

/* ============================================================================================
 * Model
 * ========================================================================================== */

typedef struct zaya_model zaya_model;
typedef struct zaya_tokenizer zaya_tokenizer;

/* What the router's skip class contributes when it wins (ZAYA1 releases differ). */
enum {
  ZAYA_SKIP_SCALE_INPUT = 0, /* original training code: p_skip * h (default) */
  ZAYA_SKIP_ZERO = 1         /* upstream transformers / vLLM: 0 */
};

typedef struct zaya_model_params {
  size_t struct_size;               /* sizeof(zaya_model_params), set by zaya_model_params_default() */
  const char* backend;              /* "auto" (default; NULL means "auto"), "cpu" or "hip" */
  int32_t skip_semantics;           /* ZAYA_SKIP_* (default ZAYA_SKIP_SCALE_INPUT) */
  int32_t load_tokenizer;           /* 1 (default): load the tokenizer (if any); 0: ids only */
  const char* tokenizer_path;       /* NULL (default): the model directory; else a tokenizer.json
                                       file or a directory holding one */
  zaya_progress_fn progress;        /* NULL (default) or a progress callback */
  void* progress_user_data;
  /* Appended after 0.1.0 (an older caller's struct_size ends before it: it gets the default). */
  int64_t head_shortlist;           /* 0 (default): every logit from the model's LM head. K > 0 (CPU
                                       backend; opt-in, 170-300 MB more on ZAYA1-8B): a cheaper copy
                                       of the head (Q4_0, or 2-bit for a 4-bit head) scores the
                                       vocabulary and each row's K best tokens are rescored by the
                                       model's head (their logits exact, the rest approximate;
                                       docs/PERFORMANCE.md). */
} zaya_model_params;

/* Fills *params with the defaults for a struct of `struct_size` bytes (see Compatibility). */
ZAYA_API zaya_status zaya_model_params_init(zaya_model_params* params, size_t struct_size);
static inline zaya_model_params zaya_model_params_default(void) {
  zaya_model_params p;
  zaya_model_params_init(&p, sizeof p);
  return p;
}

/* Loads a Hugging Face checkpoint directory (config.json + safetensors, sharded or not, native or
 * legacy layout) and, unless disabled, its tokenizer (tokenizer.json, tokenizer_config.json,
 * chat_template.jinja). A model without tokenizer.json loads fine (ids only). `params` may be
 * NULL (defaults). On success *out_model receives a new handle. */
ZAYA_API zaya_status zaya_model_load(const char* directory, const zaya_model_params* params, zaya_model** out_model);
ZAYA_API void zaya_model_free(zaya_model* model);

typedef struct zaya_model_info {
  size_t struct_size;        /* in: sizeof(zaya_model_info); out: bytes the library filled */
  int64_t vocab_size;        /* rows of the logits (may exceed the tokenizer's vocabulary) */
  int64_t hidden_size;
  int64_t layers;            /* attention + MoE block pairs */
  int64_t experts;
  int64_t max_position;
  int64_t bos_id;            /* -1 if none */
  int64_t eos_id;            /* the first EOS id of config.json, -1 if none */
  uint64_t total_params;
  uint64_t active_params;    /* per token, excluding the embedding / LM head */
  uint64_t stored_bytes;     /* bytes of the tensors used */
  int32_t has_tokenizer;     /* 1 if a tokenizer was loaded with the model */
  int32_t has_chat_template; /* 1 if that tokenizer has a chat template */
  const char* backend;       /* description of the backend in use */
  const char* backend_log;   /* why it was chosen */
  const char* directory;     /* the model directory */
  const char* stored_dtypes; /* e.g. "BF16" */
  /* Appended after 0.1.0 (an older caller's struct_size ends before it: it is not written). */
  uint64_t head_shortlist_bytes; /* the LM-head shortlist's approximate copy of the head, which
                                    stored_bytes does not count; 0 without a shortlist */
} zaya_model_info;
/* The three strings stay valid as long as the model handle. Set info->struct_size first. */
ZAYA_API zaya_status zaya_model_get_info(const zaya_model* model, zaya_model_info* info);

/* The tokenizer loaded with the model as a new handle (free it with zaya_tokenizer_free; it
 * shares the model's data), or *out_tokenizer = NULL and ZAYA_OK if the model has none. */
ZAYA_API zaya_status zaya_model_get_tokenizer(const zaya_model* model, zaya_tokenizer** out_tokenizer);

/* ============================================================================================
 * Tokenizer
 * ========================================================================================== */

/* Loads a Hugging Face tokenizer.json (a file, or a directory holding one plus, when present,
 * tokenizer_config.json, special_tokens_map.json and chat_template.jinja). */
ZAYA_API zaya_status zaya_tokenizer_load(const char* path, zaya_tokenizer** out_tokenizer);
ZAYA_API void zaya_tokenizer_free(zaya_tokenizer* tokenizer);

/* Text -> ids (buffer rule, counts in ids). `add_special_tokens` != 0 applies the tokenizer's
 * post-processor (e.g. a leading <bos>). Invalid UTF-8 is ZAYA_ERR_INVALID_ARGUMENT. */
ZAYA_API zaya_status zaya_tokenize(const zaya_tokenizer* tokenizer, const char* text, size_t text_length,
                                   int32_t add_special_tokens, int32_t* ids, size_t capacity, size_t* out_count);

/* Ids -> text (buffer rule). `skip_special_tokens` != 0 drops special tokens. An id that names no
 * token is ZAYA_ERR_OUT_OF_RANGE. */
ZAYA_API zaya_status zaya_detokenize(const zaya_tokenizer* tokenizer, const int32_t* ids, size_t count,
                                     int32_t skip_special_tokens, char* text, size_t capacity, size_t* out_length);

/* Highest id + 1. */
ZAYA_API zaya_status zaya_tokenizer_vocab_size(const zaya_tokenizer* tokenizer, size_t* out_size);
/* The token's own text (e.g. "<|im_end|>" or "\xe2\x96\x81the"), buffer rule. */
ZAYA_API zaya_status zaya_tokenizer_token_text(const zaya_tokenizer* tokenizer, int32_t id, char* text, size_t capacity,
                                               size_t* out_length);
/* The id of a token given its exact text; *out_id = -1 if there is no such token. */
ZAYA_API zaya_status zaya_tokenizer_token_id(const zaya_tokenizer* tokenizer, const char* token, size_t token_length,
                                             int32_t* out_id);
/* 1 if `id` is a special added token (what skip_special_tokens drops), else 0. */
ZAYA_API zaya_status zaya_tokenizer_is_special(const zaya_tokenizer* tokenizer, int32_t id, int32_t* out_special);

enum { ZAYA_TOKEN_BOS = 0, ZAYA_TOKEN_EOS = 1, ZAYA_TOKEN_PAD = 2, ZAYA_TOKEN_UNK = 3 };
/* The id of a special token named by the tokenizer's configuration (ZAYA_TOKEN_*); -1 if none. */
ZAYA_API zaya_status zaya_tokenizer_special_id(const zaya_tokenizer* tokenizer, int32_t which, int32_t* out_id);

/* ---- streaming detokenization ---- */

typedef struct zaya_detokenizer zaya_detokenizer;

/* Incremental decoding for generation loops: push ids one at a time, get text as soon as it is
 * final (never a partial UTF-8 character). The concatenation of every piece equals
 * zaya_detokenize() of all ids. */
ZAYA_API zaya_status zaya_detokenizer_new(const zaya_tokenizer* tokenizer, int32_t skip_special_tokens,
                                          zaya_detokenizer** out_detokenizer);
ZAYA_API void zaya_detokenizer_free(zaya_detokenizer* detokenizer);
/* Pushes `id`; *out_text / *out_length receive the text that became final (possibly empty),
 * NUL-terminated, valid until the next call on this detokenizer. */
ZAYA_API zaya_status zaya_detokenizer_push(zaya_detokenizer* detokenizer, int32_t id, const char** out_text,
                                           size_t* out_length);
/* Returns whatever is held back and resets the detokenizer for a new sequence. */
ZAYA_API zaya_status zaya_detokenizer_finish(zaya_detokenizer* detokenizer, const char** out_text, size_t* out_length);

/* ============================================================================================
 * Chat templates
 * ========================================================================================== */

typedef struct zaya_chat_template zaya_chat_template;

/* The tokenizer's chat template (ZAYA_ERR_UNSUPPORTED if it has none). Rendering passes the
 * tokenizer's special tokens (bos_token, eos_token, pad_token, unk_token) to the template. */
ZAYA_API zaya_status zaya_chat_template_from_tokenizer(const zaya_tokenizer* tokenizer,
                                                       zaya_chat_template** out_template);
/* A template from its Jinja source (ZAYA_ERR_TEMPLATE on syntax errors). */
ZAYA_API zaya_status zaya_chat_template_parse(const char* source, size_t source_length,
                                              zaya_chat_template** out_template);
ZAYA_API void zaya_chat_template_free(zaya_chat_template* chat_template);

typedef struct zaya_chat_params {
  size_t struct_size;
  int32_t add_generation_prompt; /* 1 (default): end with the assistant turn's opening */
  const char* tools_json;        /* NULL (default) or a JSON array of tool schemas */
  size_t tools_json_length;
  const char* extra_json;        /* NULL (default) or a JSON object of further template variables,
                                    e.g. {"enable_thinking": true} */
  size_t extra_json_length;
} zaya_chat_params;
ZAYA_API zaya_status zaya_chat_params_init(zaya_chat_params* params, size_t struct_size);
static inline zaya_chat_params zaya_chat_params_default(void) {
  zaya_chat_params p;
  zaya_chat_params_init(&p, sizeof p);
  return p;
}

/* Renders `messages_json` (a JSON array of {"role": ..., "content": ...} objects, as in
 * transformers' apply_chat_template) to prompt text. *out_text is NUL-terminated and valid until
 * the next call on this template. Malformed JSON is ZAYA_ERR_BAD_FORMAT; template failures are
 * ZAYA_ERR_TEMPLATE (raise_exception: the template's own message) or ZAYA_ERR_LIMIT_EXCEEDED. */
ZAYA_API zaya_status zaya_chat_template_render(zaya_chat_template* chat_template, const char* messages_json,
                                               size_t messages_json_length, const zaya_chat_params* params,
                                               const char** out_text, size_t* out_length);

/* Splits generated ZAYA1 text into reasoning, answer and tool calls. *out_json receives one JSON
 * object {"reasoning": str, "content": str, "reasoning_started": bool, "reasoning_finished":
 * bool, "tool_calls": [{"name": str, "arguments": [{"name": str, "value": str}]}],
 * "malformed_tool_calls": [{"raw_text": str, "reason": str}]}, valid until the next call of this
 * function on this thread. `starts_in_reasoning` != 0: the prompt already opened <think>. */
ZAYA_API zaya_status zaya_parse_chat_output(const char* text, size_t text_length, int32_t starts_in_reasoning,
                                            const char** out_json, size_t* out_length);

/* ============================================================================================
 * Context: sequences, decode, logits
 * ========================================================================================== */

typedef struct zaya_context zaya_context;

/* Element type of a context's KV caches (zaya_context_params.kv_cache_type). */
enum {
  ZAYA_KV_F32 = 0, /* exact (default) */
  ZAYA_KV_F16 = 1  /* IEEE halves: half the bytes decode streams per cached position; logits move
                      by ~1e-3 relative (docs/PERFORMANCE.md); saved states stay f32 */
};

typedef struct zaya_context_params {
  size_t struct_size;
  int32_t max_sequences;   /* sequence ids are 0 .. max_sequences-1 (default 1, at most 65535) */
  int32_t threads;         /* worker threads of this context; 0 (default): one per hardware thread */
  int64_t max_context;     /* tokens per sequence (default 4096; capped by the model's max_position) */
  int64_t truncate_window; /* trailing positions zaya_sequence_truncate() can cut exactly (default 64) */
  /* Appended after 0.1.0 (an older caller's struct_size ends before it: it gets the default). */
  int32_t kv_cache_type;   /* ZAYA_KV_F32 (default) or ZAYA_KV_F16 */
} zaya_context_params;
ZAYA_API zaya_status zaya_context_params_init(zaya_context_params* params, size_t struct_size);
static inline zaya_context_params zaya_context_params_default(void) {
  zaya_context_params p;
  zaya_context_params_init(&p, sizeof p);
  return p;
}

/* A new context over `model` (which it keeps alive). It uses the model's tokenizer, if any, for
 * text prompts, stop strings and streamed text. `params` may be NULL (defaults). */
ZAYA_API zaya_status zaya_context_new(const zaya_model* model, const zaya_context_params* params,
                                      zaya_context** out_context);
ZAYA_API void zaya_context_free(zaya_context* context);

/* Effective values (after capping): any output may be NULL. */
ZAYA_API zaya_status zaya_context_get_limits(zaya_context* context, int32_t* max_sequences, int64_t* max_context,
                                             int32_t* threads);

/* From any thread: stop the call running on this context as soon as possible (within one
 * layer's work) and end every zaya_stream begun on it before now. The running call returns
 * ZAYA_ERR_CANCELLED (zaya_decode, zaya_prefill) or finishes its requests with
 * ZAYA_FINISH_CANCELLED (zaya_generate, zaya_stream_next); sequences are left as they were
 * before the interrupted forward pass. A cancel when nothing is running has no effect on later
 * calls (to stop work that may not have started yet, also return ZAYA_STOP from its callback).
 * Never fails on a live handle; invalid handles are ignored. */
ZAYA_API void zaya_context_cancel(zaya_context* context);

/* One token of a batch: appended to `sequence` at its current end. FROZEN: never changes. */
typedef struct zaya_batch_token {
  int32_t sequence;
  int32_t token;
  int32_t logits; /* != 0: compute the next-token logits after this token */
} zaya_batch_token;

/* Runs the forward pass over `count` tokens (tokens of one sequence in order; sequences may be
 * interleaved). On any error or cancel no sequence changes. The logits of the rows that asked
 * for them are then readable with zaya_logits() (row k = the k-th token with logits != 0). */
ZAYA_API zaya_status zaya_decode(zaya_context* context, const zaya_batch_token* batch, size_t count);

/* Appends `count` tokens to `sequence` and computes the logits after the last one (then readable
 * as row 0 with zaya_logits()). Long prompts run in chunks of 512 tokens. On error or cancel the
 * sequence is restored to its previous length when it was empty before or the tokens added so
 * far are within the truncate window; otherwise it keeps the chunks that completed
 * (zaya_sequence_length() tells). */
ZAYA_API zaya_status zaya_prefill(zaya_context* context, int32_t sequence, const int32_t* tokens, size_t count);

/* Number of logits rows the last decode produced. */
ZAYA_API zaya_status zaya_logits_rows(zaya_context* context, size_t* out_rows);
/* Row `row` of the last decode's logits: *out_logits points to *out_vocab floats, valid until the
 * next call that runs the model on this context (decode, prefill, generate, stream) or its free. */
ZAYA_API zaya_status zaya_logits(zaya_context* context, size_t row, const float** out_logits, size_t* out_vocab);

/* ---- sequences ---- */

ZAYA_API zaya_status zaya_sequence_length(zaya_context* context, int32_t sequence, int64_t* out_length);
/* Empties the sequence. */
ZAYA_API zaya_status zaya_sequence_clear(zaya_context* context, int32_t sequence);
/* Copies the whole state of `source` into `target` (target's content is dropped). */
ZAYA_API zaya_status zaya_sequence_fork(zaya_context* context, int32_t source, int32_t target);
/* Keeps the first `length` tokens. Exact while length >= current length - truncate_window;
 * further back it is ZAYA_ERR_OUT_OF_RANGE (clear and prefill again). */
ZAYA_API zaya_status zaya_sequence_truncate(zaya_context* context, int32_t sequence, int64_t length);

/* ---- state save / restore ---- */

/* Serialises the sequence's full state (caches included) into `buffer` (buffer rule, sizes in
 * bytes, no NUL). The bytes are a self-describing, checksummed format tied to the model's
 * geometry; they can be restored into any context over a model of the same geometry. */
ZAYA_API zaya_status zaya_sequence_save(zaya_context* context, int32_t sequence, void* buffer, size_t capacity,
                                        size_t* out_size);
/* Replaces the sequence's state with saved bytes. Truncated or corrupted bytes are
 * ZAYA_ERR_BAD_FORMAT, another geometry ZAYA_ERR_INVALID_ARGUMENT, a state longer than this
 * context's max_context ZAYA_ERR_LIMIT_EXCEEDED; on error the sequence is unchanged. */
ZAYA_API zaya_status zaya_sequence_load(zaya_context* context, int32_t sequence, const void* buffer, size_t size);

/* ============================================================================================
 * Sampling
 * ========================================================================================== */

enum {
  ZAYA_TEMPERATURE_BEFORE_FILTERS = 0, /* HF / vLLM (default) */
  ZAYA_TEMPERATURE_AFTER_FILTERS = 1   /* llama.cpp */
};

/* The sampling chain: penalties -> logit bias -> masking -> (greedy | top-k -> top-p -> min-p ->
 * draw at the temperature). Defaults sample from the model's own distribution (temperature 1, no
 * filters, no penalties). Draws are a pure function of (seed, step). */
typedef struct zaya_sampling_params {
  size_t struct_size;
  float temperature;           /* >= 0; 0 = greedy (default 1) */
  int32_t top_k;               /* >= 0; 0 = off (default) */
  float top_p;                 /* (0, 1]; 1 = off (default) */
  float min_p;                 /* [0, 1]; 0 = off (default) */
  float repetition_penalty;    /* > 0; 1 = off (default) */
  float presence_penalty;      /* 0 = off (default) */
  float frequency_penalty;     /* 0 = off (default) */
  int32_t penalty_last_n;      /* history window of the penalties (default 64; 0 = off) */
  int32_t greedy;              /* != 0: arg-max (default 0) */
  int32_t temperature_placement; /* ZAYA_TEMPERATURE_* */
  uint64_t seed;               /* default 0x5a41594131 */
  const int32_t* logit_bias_ids;   /* n_logit_bias ids ... */
  const float* logit_bias_values;  /* ... and their biases (finite or -INFINITY to ban) */
  size_t n_logit_bias;
  const int32_t* banned_tokens;    /* ids that can never be drawn */
  size_t n_banned_tokens;
} zaya_sampling_params;
ZAYA_API zaya_status zaya_sampling_params_init(zaya_sampling_params* params, size_t struct_size);
static inline zaya_sampling_params zaya_sampling_params_default(void) {
  zaya_sampling_params p;
  zaya_sampling_params_init(&p, sizeof p);
  return p;
}
/* Greedy defaults (arg-max). */
ZAYA_API zaya_status zaya_sampling_params_init_greedy(zaya_sampling_params* params, size_t struct_size);

typedef struct zaya_sampler zaya_sampler;

/* A sampler with copies of `params` (invalid fields: ZAYA_ERR_INVALID_ARGUMENT naming them). */
ZAYA_API zaya_status zaya_sampler_new(const zaya_sampling_params* params, zaya_sampler** out_sampler);
ZAYA_API void zaya_sampler_free(zaya_sampler* sampler);
/* Draws one token from `logits` (n_logits values). `history` (n_history ids, may be NULL when 0)
 * feeds the penalties; `step` is the draw counter (tokens generated so far); ids >= allowed_vocab
 * are never drawn (0: n_logits). *out_probability (may be NULL) receives the probability of the
 * token in the distribution it was drawn from (1 for greedy). */
ZAYA_API zaya_status zaya_sampler_sample(zaya_sampler* sampler, const float* logits, size_t n_logits,
                                         const int32_t* history, size_t n_history, uint64_t step,
                                         size_t allowed_vocab, int32_t* out_token, float* out_probability);

/* ============================================================================================
 * Generation
 * ========================================================================================== */

enum {
  ZAYA_FINISH_NONE = 0,         /* still running */
  ZAYA_FINISH_STOP_TOKEN = 1,   /* EOS or a configured stop token */
  ZAYA_FINISH_STOP_STRING = 2,  /* a configured stop string completed (text before it kept) */
  ZAYA_FINISH_MAX_TOKENS = 3,   /* the request's token budget */
  ZAYA_FINISH_CONTEXT_FULL = 4, /* the sequence reached max_context */
  ZAYA_FINISH_CANCELLED = 5     /* zaya_context_cancel() or the callback stopped it */
};
/* "none", "stop_token", ...; never NULL. */
ZAYA_API const char* zaya_finish_reason_name(int32_t finish);

/* One generation request on one sequence of a context. */
typedef struct zaya_request {
  size_t struct_size;
  int32_t sequence;                /* the sequence to extend (default 0) */
  /* The prompt, appended to the sequence: ids, or text encoded with the context's tokenizer.
   * Exactly one of them, or neither when start_logits is given. */
  const int32_t* prompt_tokens;
  size_t n_prompt_tokens;
  const char* prompt_text;
  size_t prompt_text_length;
  int32_t add_special_tokens;      /* for prompt_text: apply the post-processor (default 0; chat
                                      templates already write <bos>) */
  /* When the prompt is already in the sequence (prefilled once, then forked), the logits after
   * its last token (vocab_size floats, copied). */
  const float* start_logits;
  size_t n_start_logits;
  int64_t max_tokens;              /* default 256 */
  const zaya_sampling_params* sampling; /* NULL (default): zaya_sampling_params_default() */
  int32_t stop_at_eos;             /* 1 (default): stop at the model's and tokenizer's EOS ids */
  const int32_t* stop_tokens;      /* more stop ids */
  size_t n_stop_tokens;
  const char* const* stop_strings; /* NUL-terminated UTF-8 stop strings (need a tokenizer) */
  size_t n_stop_strings;
} zaya_request;
ZAYA_API zaya_status zaya_request_init(zaya_request* request, size_t struct_size);
static inline zaya_request zaya_request_default(void) {
  zaya_request r;
  zaya_request_init(&r, sizeof r);
  return r;
}

/* A streamed event: request `request` produced `token`. */
typedef struct zaya_token_event {
  size_t struct_size;   /* bytes of this struct the library filled */
  size_t request;       /* index of the request (zaya_generate) or 0 (zaya_stream) */
  int32_t token;        /* the id, or -1 on a final event that carries no new token */
  int32_t finish;       /* ZAYA_FINISH_NONE, or the reason on the request's last event */
  const char* text;     /* complete UTF-8 now safe to show (may be empty while a character or a
                           possible stop string is pending), NUL-terminated, valid during the
                           callback / until the next call on the stream */
  size_t text_length;
} zaya_token_event;

/* Called for every event; return ZAYA_STOP to end that request (finish = cancelled). */
typedef int32_t (*zaya_token_fn)(const zaya_token_event* event, void* user_data);

/* Summary of a finished request. */
typedef struct zaya_result {
  size_t struct_size;
  int32_t finish;           /* ZAYA_FINISH_* */
  int64_t prompt_tokens;
  int64_t generated_tokens; /* including a final stop token */
} zaya_result;
ZAYA_API zaya_status zaya_result_init(zaya_result* result, size_t struct_size);
static inline zaya_result zaya_result_default(void) {
  zaya_result r;
  zaya_result_init(&r, sizeof r);
  return r;
}

/* Runs `n_requests` requests (on distinct sequences) to completion, all decoding together as one
 * batch each step, streaming every event to `on_token` (may be NULL). `requests` is an array of
 * structs whose stride is requests[0].struct_size (every element must carry the same size);
 * `results` (may be NULL) likewise with results[0].struct_size set by the caller. Invalid
 * requests fail before any sequence changes. Cancellation is not an error: the requests finish
 * with ZAYA_FINISH_CANCELLED and ZAYA_OK is returned. */
ZAYA_API zaya_status zaya_generate(zaya_context* context, const zaya_request* requests, size_t n_requests,
                                   zaya_token_fn on_token, void* user_data, zaya_result* results);

/* ---- pull-style generation ---- */

typedef struct zaya_stream zaya_stream;

/* Prepares a generation on one sequence; nothing runs until zaya_stream_next(). The stream keeps
 * the context alive. While it runs, leave its sequence alone (other sequences of the context may
 * be used between zaya_stream_next() calls; a sequence changed behind the stream's back ends it
 * with ZAYA_ERR_INVALID_ARGUMENT). */
ZAYA_API zaya_status zaya_stream_new(zaya_context* context, const zaya_request* request, zaya_stream** out_stream);
ZAYA_API void zaya_stream_free(zaya_stream* stream);
/* Runs the model for one token (the first call prefills the prompt) and fills *event (set
 * event->struct_size first). After the event with finish != ZAYA_FINISH_NONE, further calls
 * return that final state again with token -1 and empty text. Uses the context (ZAYA_ERR_BUSY
 * if another thread is in it). */
ZAYA_API zaya_status zaya_stream_next(zaya_stream* stream, zaya_token_event* event);
/* Tokens generated so far (buffer rule, counts in ids). */
ZAYA_API zaya_status zaya_stream_tokens(zaya_stream* stream, int32_t* ids, size_t capacity, size_t* out_count);

/* ============================================================================================
 * Markovian RSA runs (zaya_rsa)
 * ========================================================================================== */

/* Markovian recursive self-aggregation (docs/RSA.md): round 0 samples N answers to a question,
 * each later round writes N new candidates, each from an aggregation prompt holding C tails of
 * the previous round; the final population votes on its \boxed{} answers. All candidates of a
 * stage decode together as one batch.
 *
 * Threading: a zaya_rsa is used by one thread at a time (ZAYA_ERR_BUSY otherwise), except
 * zaya_rsa_cancel(), which any thread may call while the handle is alive. It creates its own
 * contexts over the model while it runs. */
typedef struct zaya_rsa zaya_rsa;

/* A run configuration over `model` (kept alive), starting from a preset: "single", "light",
 * "recommended" (NULL), "high" or "extra-high". */
ZAYA_API zaya_status zaya_rsa_new(const zaya_model* model, const char* preset, zaya_rsa** out_rsa);
ZAYA_API void zaya_rsa_free(zaya_rsa* run);

/* Sets one option by name, the value as text (the names of `zaya rsa`'s flags with underscores):
 *   n, c, t, beta, tau, seed                   population, tails per prompt, rounds, budgets
 *   temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty, frequency_penalty
 *   tail ("reasoning" | "answer" | "full"), mark_truncated (true/false), truncation_marker
 *   final_n, final_beta, final_temperature, final_top_p, final_top_k, ...   the final stage
 *   max_decode_tokens, max_prefill_tokens, max_seconds                        run budgets
 *   memory_budget_bytes, max_batch, threads, progress_every, keep_outputs
 *   enable_thinking ("true" | "false" | "default"), kv_cache ("f32" | "f16": ZAYA_KV_*)
 * Unknown names and unparsable values are ZAYA_ERR_INVALID_ARGUMENT; the combination is checked
 * by zaya_rsa_run(). New names may be added; names are never removed within an ABI. */
ZAYA_API zaya_status zaya_rsa_set(zaya_rsa* run, const char* name, const char* value);

/* A progress event as a JSON object {"kind": "stage_started" | "candidate_progress" |
 * "candidate_finished" | "stage_finished", "round", "stages", "stage_size", "final_stage",
 * "candidate", "candidate_tokens", "stage_decode_tokens", "total_decode_tokens",
 * "tokens_per_second", "answer"}, valid during the call. Return ZAYA_STOP to cancel the run. */
typedef int32_t (*zaya_rsa_progress_fn)(const char* event_json, size_t length, void* user_data);

/* Runs the whole algorithm (blocking). The question is text (rendered through the model's chat
 * template) and/or prompt ids used verbatim for round 0. A budget or a cancel ends the run
 * normally (ZAYA_OK) with the best answer available; see "stopped_by" in the result. */
ZAYA_API zaya_status zaya_rsa_run(zaya_rsa* run, const char* question, size_t question_length,
                                  const int32_t* prompt_ids, size_t n_prompt_ids, zaya_rsa_progress_fn progress,
                                  void* user_data);
/* From any thread: make the running zaya_rsa_run() stop soon (no effect when none runs). */
ZAYA_API void zaya_rsa_cancel(zaya_rsa* run);
/* The last run's voted, normalised answer ("" if no candidate gave one); valid until the next call
 * on this handle. ZAYA_ERR_INVALID_ARGUMENT before a run finished. */
ZAYA_API zaya_status zaya_rsa_answer(zaya_rsa* run, const char** out_answer, size_t* out_length);
/* The last run as JSON (answer, votes, stages with their candidates, decode_tokens,
 * prefill_tokens, stopped_by, seconds, ...; candidate texts when include_text != 0); valid until
 * the next call on this handle. */
ZAYA_API zaya_status zaya_rsa_result_json(zaya_rsa* run, int32_t include_text, const char** out_json,
                                          size_t* out_length);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ZAYA_H */
