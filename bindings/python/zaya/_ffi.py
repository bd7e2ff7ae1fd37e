"""ctypes declarations of capi/zaya.h (the stable C ABI), and locating libzaya.

Kept in one place so they can be checked against the C compiler's layout
(tests/capi/layout.c, see bindings/python/tests/test_layout.py).
"""
import ctypes
import ctypes.util
import os

from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_float, c_int32, c_size_t,
                    c_uint32, c_uint64, c_int64, c_void_p)

ABI_VERSION = 1

c_status = c_int32


def _candidates():
    env = os.environ.get("ZAYA_LIBRARY")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    # A source checkout: bindings/python/zaya -> the usual build directories.
    root = os.path.normpath(os.path.join(here, "..", "..", ".."))
    for build in ("build", "build-capi", "build-release"):
        yield os.path.join(root, build, "capi", "libzaya.so.%d" % ABI_VERSION)
    yield "libzaya.so.%d" % ABI_VERSION
    found = ctypes.util.find_library("zaya")
    if found:
        yield found


def _load():
    errors = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append("%s: %s" % (path, e))
    raise ImportError("zaya: cannot load libzaya (set ZAYA_LIBRARY to its path). Tried:\n  " +
                      "\n  ".join(errors or ["nothing found"]))


lib = _load()

# ---- structs (same order and types as zaya.h) ---------------------------------------------------

progress_fn = CFUNCTYPE(c_int32, c_float, c_void_p)
log_fn = CFUNCTYPE(None, c_int32, c_char_p, c_void_p)


class ModelParams(Structure):
    _fields_ = [("struct_size", c_size_t), ("backend", c_char_p), ("skip_semantics", c_int32),
                ("load_tokenizer", c_int32), ("tokenizer_path", c_char_p), ("progress", progress_fn),
                ("progress_user_data", c_void_p), ("head_shortlist", c_int64)]


class ModelInfo(Structure):
    _fields_ = [("struct_size", c_size_t), ("vocab_size", c_int64), ("hidden_size", c_int64),
                ("layers", c_int64), ("experts", c_int64), ("max_position", c_int64), ("bos_id", c_int64),
                ("eos_id", c_int64), ("total_params", c_uint64), ("active_params", c_uint64),
                ("stored_bytes", c_uint64), ("has_tokenizer", c_int32), ("has_chat_template", c_int32),
                ("backend", c_char_p), ("backend_log", c_char_p), ("directory", c_char_p),
                ("stored_dtypes", c_char_p), ("head_shortlist_bytes", c_uint64)]


class ChatParams(Structure):
    _fields_ = [("struct_size", c_size_t), ("add_generation_prompt", c_int32), ("tools_json", c_char_p),
                ("tools_json_length", c_size_t), ("extra_json", c_char_p), ("extra_json_length", c_size_t)]


class ContextParams(Structure):
    _fields_ = [("struct_size", c_size_t), ("max_sequences", c_int32), ("threads", c_int32),
                ("max_context", c_int64), ("truncate_window", c_int64), ("kv_cache_type", c_int32)]


class BatchToken(Structure):
    _fields_ = [("sequence", c_int32), ("token", c_int32), ("logits", c_int32)]


class SamplingParams(Structure):
    _fields_ = [("struct_size", c_size_t), ("temperature", c_float), ("top_k", c_int32), ("top_p", c_float),
                ("min_p", c_float), ("repetition_penalty", c_float), ("presence_penalty", c_float),
                ("frequency_penalty", c_float), ("penalty_last_n", c_int32), ("greedy", c_int32),
                ("temperature_placement", c_int32), ("seed", c_uint64),
                ("logit_bias_ids", POINTER(c_int32)), ("logit_bias_values", POINTER(c_float)),
                ("n_logit_bias", c_size_t), ("banned_tokens", POINTER(c_int32)), ("n_banned_tokens", c_size_t)]


class Request(Structure):
    _fields_ = [("struct_size", c_size_t), ("sequence", c_int32), ("prompt_tokens", POINTER(c_int32)),
                ("n_prompt_tokens", c_size_t), ("prompt_text", c_char_p), ("prompt_text_length", c_size_t),
                ("add_special_tokens", c_int32), ("start_logits", POINTER(c_float)), ("n_start_logits", c_size_t),
                ("max_tokens", c_int64), ("sampling", POINTER(SamplingParams)), ("stop_at_eos", c_int32),
                ("stop_tokens", POINTER(c_int32)), ("n_stop_tokens", c_size_t),
                ("stop_strings", POINTER(c_char_p)), ("n_stop_strings", c_size_t)]


class TokenEvent(Structure):
    _fields_ = [("struct_size", c_size_t), ("request", c_size_t), ("token", c_int32), ("finish", c_int32),
                ("text", POINTER(c_char)), ("text_length", c_size_t)]


class Result(Structure):
    _fields_ = [("struct_size", c_size_t), ("finish", c_int32), ("prompt_tokens", c_int64),
                ("generated_tokens", c_int64)]


token_fn = CFUNCTYPE(c_int32, POINTER(TokenEvent), c_void_p)

STRUCTS = {
    "zaya_model_params": ModelParams, "zaya_model_info": ModelInfo, "zaya_chat_params": ChatParams,
    "zaya_context_params": ContextParams, "zaya_batch_token": BatchToken,
    "zaya_sampling_params": SamplingParams, "zaya_request": Request, "zaya_token_event": TokenEvent,
    "zaya_result": Result,
}

# ---- functions -------------------------------------------------------------------------------------

P = c_void_p  # every handle is an opaque pointer
PP = POINTER(c_void_p)


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


zaya_version = _fn("zaya_version", c_char_p)
zaya_version_number = _fn("zaya_version_number", c_uint32)
zaya_abi_version = _fn("zaya_abi_version", c_uint32)
zaya_status_name = _fn("zaya_status_name", c_char_p, c_status)
zaya_last_error = _fn("zaya_last_error", c_char_p)
zaya_set_log_callback = _fn("zaya_set_log_callback", None, log_fn, c_void_p, c_int32)
zaya_backend_count = _fn("zaya_backend_count", c_size_t)
zaya_backend_info = _fn("zaya_backend_info", c_status, c_size_t, POINTER(c_char_p), POINTER(c_char_p))

zaya_model_params_init = _fn("zaya_model_params_init", c_status, POINTER(ModelParams), c_size_t)
zaya_model_load = _fn("zaya_model_load", c_status, c_char_p, POINTER(ModelParams), PP)
zaya_model_free = _fn("zaya_model_free", None, P)
zaya_model_get_info = _fn("zaya_model_get_info", c_status, P, POINTER(ModelInfo))
zaya_model_get_tokenizer = _fn("zaya_model_get_tokenizer", c_status, P, PP)

zaya_tokenizer_load = _fn("zaya_tokenizer_load", c_status, c_char_p, PP)
zaya_tokenizer_free = _fn("zaya_tokenizer_free", None, P)
zaya_tokenize = _fn("zaya_tokenize", c_status, P, c_char_p, c_size_t, c_int32, POINTER(c_int32), c_size_t,
                    POINTER(c_size_t))
zaya_detokenize = _fn("zaya_detokenize", c_status, P, POINTER(c_int32), c_size_t, c_int32, c_void_p, c_size_t,
                      POINTER(c_size_t))
zaya_tokenizer_vocab_size = _fn("zaya_tokenizer_vocab_size", c_status, P, POINTER(c_size_t))
zaya_tokenizer_token_text = _fn("zaya_tokenizer_token_text", c_status, P, c_int32, c_void_p, c_size_t,
                                POINTER(c_size_t))
zaya_tokenizer_token_id = _fn("zaya_tokenizer_token_id", c_status, P, c_char_p, c_size_t, POINTER(c_int32))
zaya_tokenizer_is_special = _fn("zaya_tokenizer_is_special", c_status, P, c_int32, POINTER(c_int32))
zaya_tokenizer_special_id = _fn("zaya_tokenizer_special_id", c_status, P, c_int32, POINTER(c_int32))
zaya_detokenizer_new = _fn("zaya_detokenizer_new", c_status, P, c_int32, PP)
zaya_detokenizer_free = _fn("zaya_detokenizer_free", None, P)
zaya_detokenizer_push = _fn("zaya_detokenizer_push", c_status, P, c_int32, POINTER(POINTER(c_char)),
                            POINTER(c_size_t))
zaya_detokenizer_finish = _fn("zaya_detokenizer_finish", c_status, P, POINTER(POINTER(c_char)), POINTER(c_size_t))

zaya_chat_template_from_tokenizer = _fn("zaya_chat_template_from_tokenizer", c_status, P, PP)
zaya_chat_template_parse = _fn("zaya_chat_template_parse", c_status, c_char_p, c_size_t, PP)
zaya_chat_template_free = _fn("zaya_chat_template_free", None, P)
zaya_chat_params_init = _fn("zaya_chat_params_init", c_status, POINTER(ChatParams), c_size_t)
zaya_chat_template_render = _fn("zaya_chat_template_render", c_status, P, c_char_p, c_size_t, POINTER(ChatParams),
                                POINTER(POINTER(c_char)), POINTER(c_size_t))
zaya_parse_chat_output = _fn("zaya_parse_chat_output", c_status, c_char_p, c_size_t, c_int32,
                             POINTER(POINTER(c_char)), POINTER(c_size_t))

zaya_context_params_init = _fn("zaya_context_params_init", c_status, POINTER(ContextParams), c_size_t)
zaya_context_new = _fn("zaya_context_new", c_status, P, POINTER(ContextParams), PP)
zaya_context_free = _fn("zaya_context_free", None, P)
zaya_context_get_limits = _fn("zaya_context_get_limits", c_status, P, POINTER(c_int32), POINTER(c_int64),
                              POINTER(c_int32))
zaya_context_cancel = _fn("zaya_context_cancel", None, P)
zaya_decode = _fn("zaya_decode", c_status, P, POINTER(BatchToken), c_size_t)
zaya_prefill = _fn("zaya_prefill", c_status, P, c_int32, POINTER(c_int32), c_size_t)
zaya_logits_rows = _fn("zaya_logits_rows", c_status, P, POINTER(c_size_t))
zaya_logits = _fn("zaya_logits", c_status, P, c_size_t, POINTER(POINTER(c_float)), POINTER(c_size_t))
zaya_sequence_length = _fn("zaya_sequence_length", c_status, P, c_int32, POINTER(c_int64))
zaya_sequence_clear = _fn("zaya_sequence_clear", c_status, P, c_int32)
zaya_sequence_fork = _fn("zaya_sequence_fork", c_status, P, c_int32, c_int32)
zaya_sequence_truncate = _fn("zaya_sequence_truncate", c_status, P, c_int32, c_int64)
zaya_sequence_save = _fn("zaya_sequence_save", c_status, P, c_int32, c_void_p, c_size_t, POINTER(c_size_t))
zaya_sequence_load = _fn("zaya_sequence_load", c_status, P, c_int32, c_void_p, c_size_t)

zaya_sampling_params_init = _fn("zaya_sampling_params_init", c_status, POINTER(SamplingParams), c_size_t)
zaya_sampling_params_init_greedy = _fn("zaya_sampling_params_init_greedy", c_status, POINTER(SamplingParams),
                                       c_size_t)
zaya_sampler_new = _fn("zaya_sampler_new", c_status, POINTER(SamplingParams), PP)
zaya_sampler_free = _fn("zaya_sampler_free", None, P)
zaya_sampler_sample = _fn("zaya_sampler_sample", c_status, P, POINTER(c_float), c_size_t, POINTER(c_int32),
                          c_size_t, c_uint64, c_size_t, POINTER(c_int32), POINTER(c_float))

zaya_finish_reason_name = _fn("zaya_finish_reason_name", c_char_p, c_int32)
zaya_request_init = _fn("zaya_request_init", c_status, POINTER(Request), c_size_t)
zaya_result_init = _fn("zaya_result_init", c_status, POINTER(Result), c_size_t)
zaya_generate = _fn("zaya_generate", c_status, P, POINTER(Request), c_size_t, token_fn, c_void_p, POINTER(Result))
zaya_stream_new = _fn("zaya_stream_new", c_status, P, POINTER(Request), PP)
zaya_stream_free = _fn("zaya_stream_free", None, P)
zaya_stream_next = _fn("zaya_stream_next", c_status, P, POINTER(TokenEvent))
zaya_stream_tokens = _fn("zaya_stream_tokens", c_status, P, POINTER(c_int32), c_size_t, POINTER(c_size_t))

rsa_progress_fn = CFUNCTYPE(c_int32, POINTER(c_char), c_size_t, c_void_p)
zaya_rsa_new = _fn("zaya_rsa_new", c_status, P, c_char_p, PP)
zaya_rsa_free = _fn("zaya_rsa_free", None, P)
zaya_rsa_set = _fn("zaya_rsa_set", c_status, P, c_char_p, c_char_p)
zaya_rsa_run = _fn("zaya_rsa_run", c_status, P, c_char_p, c_size_t, POINTER(c_int32), c_size_t, rsa_progress_fn,
                   c_void_p)
zaya_rsa_cancel = _fn("zaya_rsa_cancel", None, P)
zaya_rsa_answer = _fn("zaya_rsa_answer", c_status, P, POINTER(POINTER(c_char)), POINTER(c_size_t))
zaya_rsa_result_json = _fn("zaya_rsa_result_json", c_status, P, c_int32, POINTER(POINTER(c_char)), POINTER(c_size_t))


def init(struct_type, init_fn):
    """A struct filled with the library's defaults (what the C *_default() helpers do)."""
    s = struct_type()
    status = init_fn(ctypes.byref(s), ctypes.sizeof(s))
    if status != 0:
        raise RuntimeError("zaya: %s failed: %s" % (init_fn.__name__, zaya_last_error().decode()))
    return s

