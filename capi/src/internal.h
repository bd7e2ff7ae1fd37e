// capi/src/internal.h - what the C ABI's translation units share: the handle structs, the
// exception firewall, parameter-struct reading, last-error and log plumbing.
//
// Rules every entry point follows:
//   * its whole body runs inside guard(): every exception becomes a status + thread-local message;
//   * handles are checked with handle() (NULL / magic number) before use;
//   * caller structs are read with read_struct() (struct_size-aware) and written with write_struct();
//   * contexts are used through a ContextLease (one thread at a time, cancel plumbing).
#pragma once

#include "../zaya.h"

#include <zaya/chat_template.h>
#include <zaya/context.h>
#include <zaya/error.h>
#include <zaya/generator.h>
#include <zaya/model.h>
#include <zaya/sampler.h>
#include <zaya/stop_strings.h>
#include <zaya/tokenizer.h>
#include <zaya/value.h>

#include <fmt/format.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace zaya::capi {

// ---- errors -------------------------------------------------------------------------------------

// Failures that only the C interface knows (buffer too small, busy) or that carry a C status.
class CError : public std::exception {
 public:
  CError(zaya_status status, std::string message) : status_(status), message_(std::move(message)) {}
  zaya_status status() const noexcept { return status_; }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  zaya_status status_;
  std::string message_;
};

template <typename... Args>
[[noreturn]] void c_fail(zaya_status status, fmt::format_string<Args...> format, Args&&... args) {
  throw CError(status, fmt::format(format, std::forward<Args>(args)...));
}

void set_last_error(zaya_status status, const char* function, const char* message) noexcept;
void clear_last_error() noexcept;

// ---- logging ------------------------------------------------------------------------------------

bool log_enabled(int32_t level) noexcept;
void log_message(int32_t level, std::string_view message) noexcept;
template <typename... Args>
void logf(int32_t level, fmt::format_string<Args...> format, Args&&... args) noexcept {
  if (!log_enabled(level)) return;
  try {
    log_message(level, fmt::format(format, std::forward<Args>(args)...));
  } catch (...) {
  }
}

// ---- the exception firewall -------------------------------------------------------------------

// Runs `body` and turns whatever it throws into a status code and this thread's last error.
// Nothing escapes: not zaya::Error, not std::bad_alloc, not anything else.
template <typename F>
zaya_status guard(const char* function, F&& body) noexcept {
  clear_last_error();
  try {
    body();
    return ZAYA_OK;
  } catch (const CError& e) {
    set_last_error(e.status(), function, e.what());
    return e.status();
  } catch (const Error& e) {
    const auto status = static_cast<zaya_status>(e.code());
    set_last_error(status, function, e.what());
    return status;
  } catch (const std::bad_alloc&) {
    set_last_error(ZAYA_ERR_OUT_OF_MEMORY, function, "out of memory");
    return ZAYA_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    set_last_error(ZAYA_ERR_INTERNAL, function, e.what());
    return ZAYA_ERR_INTERNAL;
  } catch (...) {
    set_last_error(ZAYA_ERR_INTERNAL, function, "unknown exception");
    return ZAYA_ERR_INTERNAL;
  }
}

// Same for functions that return nothing (free, cancel): failures are only logged.
template <typename F>
void guard_void(const char* function, F&& body) noexcept {
  try {
    body();
  } catch (const std::exception& e) {
    logf(ZAYA_LOG_ERROR, "{}: {}", function, e.what());
  } catch (...) {
    logf(ZAYA_LOG_ERROR, "{}: unknown exception", function);
  }
}

// ---- argument checks ----------------------------------------------------------------------------

// Sizes beyond these are rejected as absurd before anything is allocated.
constexpr size_t kMaxTextBytes = size_t{1} << 30;     // one text argument
constexpr size_t kMaxTokens = size_t{1} << 26;        // one array of ids
constexpr size_t kMaxListEntries = size_t{1} << 20;   // stop strings, stop tokens, logit biases
constexpr size_t kMaxStructBytes = 4096;              // a parameter struct

template <typename T>
void require_out(T* pointer, const char* name) {
  if (!pointer) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "{} is NULL", name);
}

// (pointer, count) arrays: NULL is fine only with count 0.
template <typename T>
void require_array(const T* pointer, size_t count, size_t limit, const char* name) {
  if (count > limit) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "{}: {} entries is absurd (limit {})", name, count, limit);
  if (count && !pointer) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "{} is NULL but its count is {}", name, count);
}

// A (pointer, length) text argument, checked for size and UTF-8.
std::string_view text_arg(const char* text, size_t length, const char* name);
// A NUL-terminated string argument (path, name), checked for NULL and a sane length.
std::string_view cstring_arg(const char* text, const char* name, size_t limit = 1 << 16);

// The buffer rule for text: writes text + NUL if it fits.
void write_text(std::string_view text, char* buffer, size_t capacity, size_t* out_length);
// The buffer rule for ids.
void write_ids(const std::vector<int32_t>& ids, int32_t* buffer, size_t capacity, size_t* out_count);

// ---- parameter structs --------------------------------------------------------------------------

// Reads a caller's parameter struct of any size: the first struct_size bytes over `defaults`.
// `v1_size` is the size of the first released layout (the smallest struct_size ever valid).
// Bytes beyond what this library knows must be zero (fields of a newer header left unused).
template <typename T>
T read_struct(const T* user, const T& defaults, size_t v1_size, const char* name) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (!user) return defaults;
  const size_t size = user->struct_size;
  if (size < v1_size || size > kMaxStructBytes)
    c_fail(ZAYA_ERR_INVALID_ARGUMENT, "{}.struct_size = {} (use {}_default() or {}_init())", name, size, name, name);
  T out = defaults;
  std::memcpy(&out, user, std::min(size, sizeof(T)));
  if (size > sizeof(T)) {
    const auto* extra = reinterpret_cast<const unsigned char*>(user) + sizeof(T);
    for (size_t i = 0; i < size - sizeof(T); ++i)
      if (extra[i])
        c_fail(ZAYA_ERR_UNSUPPORTED, "{}: a field this library (ABI {}, version {}) does not know is set", name,
               ZAYA_ABI_VERSION, ZAYA_VERSION_STRING);
  }
  out.struct_size = sizeof(T);
  return out;
}

// Writes a struct the library fills into a caller struct of caller_size bytes.
template <typename T>
void write_struct(T* user, T value, size_t v1_size, const char* name) {
  static_assert(std::is_trivially_copyable_v<T>);
  const size_t size = user->struct_size;
  if (size < v1_size || size > kMaxStructBytes)
    c_fail(ZAYA_ERR_INVALID_ARGUMENT, "{}.struct_size = {} (set it to sizeof({}))", name, size, name);
  value.struct_size = std::min(size, sizeof(T));
  std::memcpy(user, &value, value.struct_size);
}

// Initialises a caller struct of struct_size bytes with `defaults` (zeros beyond).
template <typename T>
void init_struct(T* user, size_t struct_size, T defaults, size_t v1_size, const char* name) {
  require_out(user, name);
  if (struct_size < v1_size || struct_size > kMaxStructBytes)
    c_fail(ZAYA_ERR_INVALID_ARGUMENT, "{}_init: struct_size = {} (pass sizeof({}))", name, struct_size, name);
  std::memset(static_cast<void*>(user), 0, struct_size);
  defaults.struct_size = struct_size;
  std::memcpy(static_cast<void*>(user), &defaults, std::min(struct_size, sizeof(T)));
}

// Sizes of the first released layouts (ABI 1). These numbers never change.
constexpr size_t kModelParamsV1 = offsetof(zaya_model_params, head_shortlist);  // 0.1 ended there
constexpr size_t kModelInfoV1 = offsetof(zaya_model_info, head_shortlist_bytes);  // 0.1 ended there
constexpr size_t kChatParamsV1 = sizeof(zaya_chat_params);
constexpr size_t kContextParamsV1 = offsetof(zaya_context_params, kv_cache_type);  // 0.1 ended there
constexpr size_t kSamplingParamsV1 = sizeof(zaya_sampling_params);
constexpr size_t kRequestV1 = sizeof(zaya_request);
constexpr size_t kTokenEventV1 = sizeof(zaya_token_event);
constexpr size_t kResultV1 = sizeof(zaya_result);

zaya_sampling_params default_sampling_params() noexcept;
SamplingParams to_sampling(const zaya_sampling_params& p);

// ---- one-thread-at-a-time objects -------------------------------------------------------------

class BusyLease {
 public:
  BusyLease(std::atomic<bool>& flag, const char* what) : flag_(flag) {
    if (flag_.exchange(true, std::memory_order_acquire))
      c_fail(ZAYA_ERR_BUSY, "this {} is in use by another thread", what);
  }
  ~BusyLease() { flag_.store(false, std::memory_order_release); }
  BusyLease(const BusyLease&) = delete;
  BusyLease& operator=(const BusyLease&) = delete;

 private:
  std::atomic<bool>& flag_;
};

// ---- shared state behind the handles ------------------------------------------------------------

struct ModelState {
  std::shared_ptr<const Model> model;
  std::shared_ptr<const Tokenizer> tokenizer;  // null: ids only
  ModelInfo info;                              // cached: its strings back zaya_model_info
};

struct ContextState {
  std::shared_ptr<const ModelState> model;
  std::unique_ptr<Context> context;
  int32_t max_sequences = 0;

  // Cancel plumbing: `active` says a call is inside the context; cancel bumps `epoch` and, if a
  // call is active, forwards to Context::cancel(). A new call withdraws stale cancels.
  std::mutex mutex;
  bool active = false;
  std::atomic<uint64_t> epoch{0};

  // Per sequence, bumped whenever a call changes it (streams detect changes behind their back).
  std::vector<uint64_t> versions;

  // zaya_sequence_save caches its last serialisation for the second call of the buffer rule.
  std::vector<uint8_t> saved;
  int32_t saved_sequence = -1;
  uint64_t saved_version = 0;

  void check_sequence(int32_t sequence) const {
    if (sequence < 0 || sequence >= max_sequences)
      c_fail(ZAYA_ERR_OUT_OF_RANGE, "sequence {} does not exist (this context has {})", sequence, max_sequences);
  }
  void touch(int32_t sequence) noexcept { ++versions[static_cast<size_t>(sequence)]; }
};

// Exclusive use of a context for one call.
class ContextLease {
 public:
  explicit ContextLease(ContextState& state) : state_(state) {
    std::lock_guard lock(state_.mutex);
    if (state_.active) c_fail(ZAYA_ERR_BUSY, "this context is in use by another thread");
    state_.active = true;
    state_.context->reset_cancel();  // a cancel aimed at an earlier call does not hit this one
    epoch_ = state_.epoch.load(std::memory_order_relaxed);
  }
  ~ContextLease() {
    std::lock_guard lock(state_.mutex);
    state_.active = false;
  }
  ContextLease(const ContextLease&) = delete;
  ContextLease& operator=(const ContextLease&) = delete;

  uint64_t epoch() const noexcept { return epoch_; }
  bool cancelled_since(uint64_t epoch) const noexcept {
    return state_.epoch.load(std::memory_order_relaxed) != epoch;
  }

 private:
  ContextState& state_;
  uint64_t epoch_ = 0;
};

void cancel_context(ContextState& state) noexcept;

}  // namespace zaya::capi

// ---- the handles (declared opaque in zaya.h) ------------------------------------------------------

#define ZAYA_HANDLE_MAGIC(a, b, c, d) \
  (0x7a617961'00000000ull | (uint64_t(a) << 24) | (uint64_t(b) << 16) | (uint64_t(c) << 8) | uint64_t(d))
constexpr uint64_t kDeadHandle = 0xdeadbeefdeadbeefull;

struct zaya_model {
  static constexpr uint64_t kMagic = ZAYA_HANDLE_MAGIC('M', 'O', 'D', 'L');
  static constexpr const char* kName = "zaya_model";
  uint64_t magic = kMagic;
  std::shared_ptr<const zaya::capi::ModelState> state;
};

struct zaya_tokenizer {
  static constexpr uint64_t kMagic = ZAYA_HANDLE_MAGIC('T', 'O', 'K', 'N');
  static constexpr const char* kName = "zaya_tokenizer";
  uint64_t magic = kMagic;
  std::shared_ptr<const zaya::Tokenizer> tokenizer;
};

struct zaya_detokenizer {
  static constexpr uint64_t kMagic = ZAYA_HANDLE_MAGIC('D', 'T', 'O', 'K');
  static constexpr const char* kName = "zaya_detokenizer";
  uint64_t magic = kMagic;
  std::atomic<bool> busy{false};
  std::shared_ptr<const zaya::Tokenizer> tokenizer;
  std::optional<zaya::StreamingDecoder> decoder;
  std::string text;
};

struct zaya_chat_template {
  static constexpr uint64_t kMagic = ZAYA_HANDLE_MAGIC('C', 'T', 'P', 'L');
  static constexpr const char* kName = "zaya_chat_template";
  uint64_t magic = kMagic;
  std::atomic<bool> busy{false};
  std::optional<zaya::ChatTemplate> chat_template;
  zaya::Value specials = zaya::Value::object();  // bos_token, eos_token, ... from the tokenizer
  std::string text;
};

struct zaya_context {
  static constexpr uint64_t kMagic = ZAYA_HANDLE_MAGIC('C', 'T', 'X', 'T');
  static constexpr const char* kName = "zaya_context";
  uint64_t magic = kMagic;
  std::shared_ptr<zaya::capi::ContextState> state;
};

struct zaya_sampler {
  static constexpr uint64_t kMagic = ZAYA_HANDLE_MAGIC('S', 'M', 'P', 'L');
  static constexpr const char* kName = "zaya_sampler";
  uint64_t magic = kMagic;
  std::atomic<bool> busy{false};
  std::optional<zaya::Sampler> sampler;
};

namespace zaya::capi {

template <typename H>
H& handle(H* h) {
  if (!h) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "{} handle is NULL", H::kName);
  if (h->magic != H::kMagic) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "not a valid {} handle (freed or wrong kind)", H::kName);
  return *h;
}
template <typename H>
const H& handle(const H* h) {
  return handle(const_cast<H*>(h));
}

// Frees a handle made with `new` (NULL is fine; a bad handle is logged, not freed).
template <typename H>
void free_handle(H* h) noexcept {
  if (!h) return;
  if (h->magic != H::kMagic) {
    logf(ZAYA_LOG_ERROR, "{}_free: not a valid {} handle (double free?); ignored", H::kName, H::kName);
    return;
  }
  h->magic = kDeadHandle;
  delete h;
}

}  // namespace zaya::capi
