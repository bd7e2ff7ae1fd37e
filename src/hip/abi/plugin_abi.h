/* src/hip/abi/plugin_abi.h - the versioned C ABI between the zaya core and its HIP plugin
 * (libzaya-hip.so). The core dlopens the plugin, calls zaya_hip_plugin_entry(ZAYA_HIP_ABI_VERSION)
 * and refuses a table whose abi_version differs or whose struct_size is too small: a plugin
 * built against another version of this header is never called into.
 *
 * Rules: plain C types only; no exceptions cross it (every call returns a status and writes a
 * message into the caller's buffer); pointers passed in stay owned by the caller; handles
 * returned are released by the matching destroy function. Any change to a struct or a function
 * signature here bumps ZAYA_HIP_ABI_VERSION.
 */
#ifndef ZAYA_HIP_PLUGIN_ABI_H
#define ZAYA_HIP_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZAYA_HIP_ABI_VERSION 1u
#define ZAYA_HIP_ENTRY_SYMBOL "zaya_hip_plugin_entry"

/* Status codes: the values of zaya::ErrorCode. */
enum { ZAYA_HIP_OK = 0, ZAYA_HIP_INVALID_ARGUMENT = 1, ZAYA_HIP_UNSUPPORTED = 4, ZAYA_HIP_OUT_OF_MEMORY = 5,
       ZAYA_HIP_OUT_OF_RANGE = 7, ZAYA_HIP_LIMIT_EXCEEDED = 8, ZAYA_HIP_INTERNAL = 10 };

/* Weight element types. */
enum { ZAYA_HIP_F32 = 0, ZAYA_HIP_BF16 = 1 };

typedef struct zaya_hip_error {
  char message[512];
} zaya_hip_error;

typedef struct zaya_hip_device_info {
  char name[128];       /* marketing name, e.g. "AMD Instinct MI250X" */
  char arch[64];        /* full gcnArchName, e.g. "gfx90a:sramecc+:xnack-" */
  int64_t memory_bytes;
  int32_t compute_units;
  int32_t wavefront_size;
  int32_t supported;    /* 1 if this plugin carries code for the device's arch */
  int32_t reserved;
} zaya_hip_device_info;

typedef struct zaya_hip_matrix {
  int32_t dtype; /* ZAYA_HIP_F32 or ZAYA_HIP_BF16 */
  int32_t reserved;
  const void* data; /* host memory, [rows, cols] row-major */
  int64_t rows, cols;
} zaya_hip_matrix;

typedef struct zaya_hip_attention_row {
  const float* q;
  const float* keys;
  const float* values;
  int64_t length;
  float* out;
} zaya_hip_attention_row;

/* The model, described in native terms (one entry per block). Vectors are f32 host arrays. */
typedef struct zaya_hip_block {
  const float* input_norm;
  zaya_hip_matrix q_proj, k_proj, v_current, v_delayed, o_proj;
  const float* depthwise_tap0; const float* depthwise_tap1; const float* depthwise_bias;
  const float* grouped_weight; /* [C, 2D]: row c = [taps on y_{t-1} | taps on y_t] */
  const float* grouped_bias;
  const float* key_temperature;
  const float* post_attention[4]; /* hidden_scale, hidden_bias, residual_scale, residual_bias */
  const float* post_attention_norm;
  zaya_hip_matrix router_down;
  const float* router_down_bias;
  const float* router_states_scale; /* NULL for block 0 */
  const float* router_norm;
  zaya_hip_matrix router_fc1, router_fc2, router_out;
  const float* router_fc1_bias; const float* router_fc2_bias;
  const float* balancing_biases;
  const zaya_hip_matrix* expert_gate_up; /* [experts] of [2I, H] */
  const zaya_hip_matrix* expert_down;    /* [experts] of [H, I] */
  const float* post_mlp[4];
} zaya_hip_block;

typedef struct zaya_hip_model {
  int64_t hidden, blocks, q_heads, kv_heads, head_dim, experts, expert_width, router_width, vocab, rotary_dim;
  double rms_eps, router_eps, rope_theta;
  int32_t skip_scales_input; /* skip class: weight * h (1) or 0 (0) */
  int32_t reserved;
  zaya_hip_matrix embedding, lm_head;
  const float* input_scale; const float* input_bias;
  const float* final_norm;
  const zaya_hip_block* block;
} zaya_hip_model;

typedef struct zaya_hip_forward_options {
  int32_t max_sequences;
  int32_t reserved;
  int64_t max_context;
  int64_t truncate_window; /* trailing positions whose raw q|k stay on the device for truncate */
} zaya_hip_forward_options;

typedef struct zaya_hip_token {
  int32_t sequence;
  int32_t token;
  int32_t logits; /* 1: return this row's next-token logits */
  int32_t reserved;
} zaya_hip_token;

typedef struct zaya_hip_backend zaya_hip_backend;  /* a device and its caches */
typedef struct zaya_hip_forward zaya_hip_forward;  /* uploaded weights + per-sequence device state */

typedef struct zaya_hip_plugin {
  uint32_t abi_version; /* ZAYA_HIP_ABI_VERSION the plugin was built with */
  uint32_t struct_size; /* sizeof(zaya_hip_plugin) in the plugin */
  const char* plugin_version;
  const char* build_archs; /* e.g. "gfx90a;gfx1030", or "emulated" */
  int32_t emulated;        /* 1: kernels run on the CPU through the emulation (tests) */
  int32_t reserved;

  /* Devices: fills up to `capacity` entries, sets *count to the number found. A machine without a
   * usable HIP driver or without AMD GPUs returns ZAYA_HIP_UNSUPPORTED with the reason. */
  int (*probe)(zaya_hip_device_info* devices, int capacity, int* count, zaya_hip_error* error);

  int (*backend_create)(int device, zaya_hip_backend** out, zaya_hip_error* error);
  void (*backend_destroy)(zaya_hip_backend* backend);
  /* The operations of zaya::Backend on host memory (weights are uploaded once and cached). */
  int (*matmul)(zaya_hip_backend* b, const zaya_hip_matrix* w, const float* x, size_t ldx, size_t n, float* y, size_t ldy,
                zaya_hip_error* error);
  int (*attention)(zaya_hip_backend* b, int q_heads, int kv_heads, int head_dim, float scale,
                   const zaya_hip_attention_row* rows, size_t count, zaya_hip_error* error);
  int (*expert_mlp)(zaya_hip_backend* b, const zaya_hip_matrix* gate_up, const zaya_hip_matrix* down, const float* x, size_t n,
                    float* y, zaya_hip_error* error);

  /* The whole forward pass on the device: weights uploaded once by forward_create; decode sends
   * token ids and returns logits [rows that asked, vocab]. */
  int (*forward_create)(zaya_hip_backend* b, const zaya_hip_model* model, const zaya_hip_forward_options* options,
                        zaya_hip_forward** out, zaya_hip_error* error);
  void (*forward_destroy)(zaya_hip_forward* f);
  int (*forward_decode)(zaya_hip_forward* f, const zaya_hip_token* tokens, size_t count, float* logits, size_t logits_rows,
                        zaya_hip_error* error);
  int (*forward_clear)(zaya_hip_forward* f, int32_t sequence, zaya_hip_error* error);
  int (*forward_fork)(zaya_hip_forward* f, int32_t source, int32_t target, zaya_hip_error* error);
  /* Keeps the first `length` tokens (exact within the truncate window, as zaya::Context). */
  int (*forward_truncate)(zaya_hip_forward* f, int32_t sequence, int64_t length, zaya_hip_error* error);
  int64_t (*forward_length)(const zaya_hip_forward* f, int32_t sequence);
  uint64_t (*forward_skip_count)(const zaya_hip_forward* f);
  size_t (*forward_device_bytes)(const zaya_hip_forward* f);
} zaya_hip_plugin;

typedef const zaya_hip_plugin* (*zaya_hip_plugin_entry_fn)(uint32_t core_abi_version);

#ifdef __cplusplus
}
#endif

#endif /* ZAYA_HIP_PLUGIN_ABI_H */
