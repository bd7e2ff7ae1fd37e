//! Raw declarations of zaya's C ABI (`capi/zaya.h`, ABI version 1), written by hand.
//!
//! Every item mirrors the header one to one; see the header for the documentation of each call.
//! The safe API is the `zaya` crate. The layout of every struct is checked against the C
//! compiler's in this crate's tests (`ZAYA_LAYOUT_EXE`, built from tests/capi/layout.c).
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_float, c_void};

pub const ZAYA_VERSION_MAJOR: u32 = 0;
pub const ZAYA_VERSION_MINOR: u32 = 1;
pub const ZAYA_VERSION_PATCH: u32 = 0;
pub const ZAYA_ABI_VERSION: u32 = 1;

pub type zaya_status = i32;

pub const ZAYA_OK: zaya_status = 0;
pub const ZAYA_ERR_INVALID_ARGUMENT: zaya_status = 1;
pub const ZAYA_ERR_IO: zaya_status = 2;
pub const ZAYA_ERR_BAD_FORMAT: zaya_status = 3;
pub const ZAYA_ERR_UNSUPPORTED: zaya_status = 4;
pub const ZAYA_ERR_OUT_OF_MEMORY: zaya_status = 5;
pub const ZAYA_ERR_CANCELLED: zaya_status = 6;
pub const ZAYA_ERR_OUT_OF_RANGE: zaya_status = 7;
pub const ZAYA_ERR_LIMIT_EXCEEDED: zaya_status = 8;
pub const ZAYA_ERR_TEMPLATE: zaya_status = 9;
pub const ZAYA_ERR_INTERNAL: zaya_status = 10;
pub const ZAYA_ERR_BUFFER_TOO_SMALL: zaya_status = 100;
pub const ZAYA_ERR_BUSY: zaya_status = 101;

pub const ZAYA_LOG_DEBUG: i32 = 0;
pub const ZAYA_LOG_INFO: i32 = 1;
pub const ZAYA_LOG_WARN: i32 = 2;
pub const ZAYA_LOG_ERROR: i32 = 3;
pub const ZAYA_LOG_NONE: i32 = 4;

pub const ZAYA_CONTINUE: i32 = 0;
pub const ZAYA_STOP: i32 = 1;

pub const ZAYA_SKIP_SCALE_INPUT: i32 = 0;
pub const ZAYA_SKIP_ZERO: i32 = 1;

pub const ZAYA_TOKEN_BOS: i32 = 0;
pub const ZAYA_TOKEN_EOS: i32 = 1;
pub const ZAYA_TOKEN_PAD: i32 = 2;
pub const ZAYA_TOKEN_UNK: i32 = 3;

pub const ZAYA_TEMPERATURE_BEFORE_FILTERS: i32 = 0;
pub const ZAYA_TEMPERATURE_AFTER_FILTERS: i32 = 1;
pub const ZAYA_KV_F32: i32 = 0;
pub const ZAYA_KV_F16: i32 = 1;

pub const ZAYA_FINISH_NONE: i32 = 0;
pub const ZAYA_FINISH_STOP_TOKEN: i32 = 1;
pub const ZAYA_FINISH_STOP_STRING: i32 = 2;
pub const ZAYA_FINISH_MAX_TOKENS: i32 = 3;
pub const ZAYA_FINISH_CONTEXT_FULL: i32 = 4;
pub const ZAYA_FINISH_CANCELLED: i32 = 5;

// ---- opaque handles ---------------------------------------------------------------------------------

macro_rules! opaque {
    ($($name:ident),*) => {$(
        #[repr(C)]
        pub struct $name {
            _private: [u8; 0],
            _not_send_sync: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
        }
    )*};
}
opaque!(zaya_model, zaya_tokenizer, zaya_detokenizer, zaya_chat_template, zaya_context, zaya_sampler, zaya_stream, zaya_rsa);

// ---- callbacks --------------------------------------------------------------------------------------

pub type zaya_log_fn = Option<unsafe extern "C" fn(level: i32, message: *const c_char, user_data: *mut c_void)>;
pub type zaya_progress_fn = Option<unsafe extern "C" fn(fraction: c_float, user_data: *mut c_void) -> i32>;
pub type zaya_token_fn = Option<unsafe extern "C" fn(event: *const zaya_token_event, user_data: *mut c_void) -> i32>;
pub type zaya_rsa_progress_fn =
    Option<unsafe extern "C" fn(event_json: *const c_char, length: usize, user_data: *mut c_void) -> i32>;

// ---- structs ----------------------------------------------------------------------------------------

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zaya_model_params {
    pub struct_size: usize,
    pub backend: *const c_char,
    pub skip_semantics: i32,
    pub load_tokenizer: i32,
    pub tokenizer_path: *const c_char,
    pub progress: zaya_progress_fn,
    pub progress_user_data: *mut c_void,
    pub head_shortlist: i64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zaya_model_info {
    pub struct_size: usize,
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub layers: i64,
    pub experts: i64,
    pub max_position: i64,
    pub bos_id: i64,
    pub eos_id: i64,
    pub total_params: u64,
    pub active_params: u64,
    pub stored_bytes: u64,
    pub has_tokenizer: i32,
    pub has_chat_template: i32,
    pub backend: *const c_char,
    pub backend_log: *const c_char,
    pub directory: *const c_char,
    pub stored_dtypes: *const c_char,
    pub head_shortlist_bytes: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zaya_chat_params {
    pub struct_size: usize,
    pub add_generation_prompt: i32,
    pub tools_json: *const c_char,
    pub tools_json_length: usize,
    pub extra_json: *const c_char,
    pub extra_json_length: usize,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zaya_context_params {
    pub struct_size: usize,
    pub max_sequences: i32,
    pub threads: i32,
    pub max_context: i64,
    pub truncate_window: i64,
    pub kv_cache_type: i32,
}

/// Frozen: never changes.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct zaya_batch_token {
    pub sequence: i32,
    pub token: i32,
    pub logits: i32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zaya_sampling_params {
    pub struct_size: usize,
    pub temperature: c_float,
    pub top_k: i32,
    pub top_p: c_float,
    pub min_p: c_float,
    pub repetition_penalty: c_float,
    pub presence_penalty: c_float,
    pub frequency_penalty: c_float,
    pub penalty_last_n: i32,
    pub greedy: i32,
    pub temperature_placement: i32,
    pub seed: u64,
    pub logit_bias_ids: *const i32,
    pub logit_bias_values: *const c_float,
    pub n_logit_bias: usize,
    pub banned_tokens: *const i32,
    pub n_banned_tokens: usize,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zaya_request {
    pub struct_size: usize,
    pub sequence: i32,
    pub prompt_tokens: *const i32,
    pub n_prompt_tokens: usize,
    pub prompt_text: *const c_char,
    pub prompt_text_length: usize,
    pub add_special_tokens: i32,
    pub start_logits: *const c_float,
    pub n_start_logits: usize,
    pub max_tokens: i64,
    pub sampling: *const zaya_sampling_params,
    pub stop_at_eos: i32,
    pub stop_tokens: *const i32,
    pub n_stop_tokens: usize,
    pub stop_strings: *const *const c_char,
    pub n_stop_strings: usize,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zaya_token_event {
    pub struct_size: usize,
    pub request: usize,
    pub token: i32,
    pub finish: i32,
    pub text: *const c_char,
    pub text_length: usize,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zaya_result {
    pub struct_size: usize,
    pub finish: i32,
    pub prompt_tokens: i64,
    pub generated_tokens: i64,
}

// ---- functions --------------------------------------------------------------------------------------

extern "C" {
    pub fn zaya_version() -> *const c_char;
    pub fn zaya_version_number() -> u32;
    pub fn zaya_abi_version() -> u32;
    pub fn zaya_status_name(status: zaya_status) -> *const c_char;
    pub fn zaya_last_error() -> *const c_char;
    pub fn zaya_set_log_callback(callback: zaya_log_fn, user_data: *mut c_void, min_level: i32);
    pub fn zaya_backend_count() -> usize;
    pub fn zaya_backend_info(index: usize, name: *mut *const c_char, status: *mut *const c_char) -> zaya_status;

    pub fn zaya_model_params_init(params: *mut zaya_model_params, struct_size: usize) -> zaya_status;
    pub fn zaya_model_load(directory: *const c_char, params: *const zaya_model_params, out_model: *mut *mut zaya_model) -> zaya_status;
    pub fn zaya_model_free(model: *mut zaya_model);
    pub fn zaya_model_get_info(model: *const zaya_model, info: *mut zaya_model_info) -> zaya_status;
    pub fn zaya_model_get_tokenizer(model: *const zaya_model, out_tokenizer: *mut *mut zaya_tokenizer) -> zaya_status;

    pub fn zaya_tokenizer_load(path: *const c_char, out_tokenizer: *mut *mut zaya_tokenizer) -> zaya_status;
    pub fn zaya_tokenizer_free(tokenizer: *mut zaya_tokenizer);
    pub fn zaya_tokenize(tokenizer: *const zaya_tokenizer, text: *const c_char, text_length: usize, add_special_tokens: i32,
                         ids: *mut i32, capacity: usize, out_count: *mut usize) -> zaya_status;
    pub fn zaya_detokenize(tokenizer: *const zaya_tokenizer, ids: *const i32, count: usize, skip_special_tokens: i32,
                           text: *mut c_char, capacity: usize, out_length: *mut usize) -> zaya_status;
    pub fn zaya_tokenizer_vocab_size(tokenizer: *const zaya_tokenizer, out_size: *mut usize) -> zaya_status;
    pub fn zaya_tokenizer_token_text(tokenizer: *const zaya_tokenizer, id: i32, text: *mut c_char, capacity: usize,
                                     out_length: *mut usize) -> zaya_status;
    pub fn zaya_tokenizer_token_id(tokenizer: *const zaya_tokenizer, token: *const c_char, token_length: usize,
                                   out_id: *mut i32) -> zaya_status;
    pub fn zaya_tokenizer_is_special(tokenizer: *const zaya_tokenizer, id: i32, out_special: *mut i32) -> zaya_status;
    pub fn zaya_tokenizer_special_id(tokenizer: *const zaya_tokenizer, which: i32, out_id: *mut i32) -> zaya_status;

    pub fn zaya_detokenizer_new(tokenizer: *const zaya_tokenizer, skip_special_tokens: i32,
                                out_detokenizer: *mut *mut zaya_detokenizer) -> zaya_status;
    pub fn zaya_detokenizer_free(detokenizer: *mut zaya_detokenizer);
    pub fn zaya_detokenizer_push(detokenizer: *mut zaya_detokenizer, id: i32, out_text: *mut *const c_char,
                                 out_length: *mut usize) -> zaya_status;
    pub fn zaya_detokenizer_finish(detokenizer: *mut zaya_detokenizer, out_text: *mut *const c_char,
                                   out_length: *mut usize) -> zaya_status;

    pub fn zaya_chat_template_from_tokenizer(tokenizer: *const zaya_tokenizer,
                                             out_template: *mut *mut zaya_chat_template) -> zaya_status;
    pub fn zaya_chat_template_parse(source: *const c_char, source_length: usize,
                                    out_template: *mut *mut zaya_chat_template) -> zaya_status;
    pub fn zaya_chat_template_free(chat_template: *mut zaya_chat_template);
    pub fn zaya_chat_params_init(params: *mut zaya_chat_params, struct_size: usize) -> zaya_status;
    pub fn zaya_chat_template_render(chat_template: *mut zaya_chat_template, messages_json: *const c_char,
                                     messages_json_length: usize, params: *const zaya_chat_params,
                                     out_text: *mut *const c_char, out_length: *mut usize) -> zaya_status;
    pub fn zaya_parse_chat_output(text: *const c_char, text_length: usize, starts_in_reasoning: i32,
                                  out_json: *mut *const c_char, out_length: *mut usize) -> zaya_status;

    pub fn zaya_context_params_init(params: *mut zaya_context_params, struct_size: usize) -> zaya_status;
    pub fn zaya_context_new(model: *const zaya_model, params: *const zaya_context_params,
                            out_context: *mut *mut zaya_context) -> zaya_status;
    pub fn zaya_context_free(context: *mut zaya_context);
    pub fn zaya_context_get_limits(context: *mut zaya_context, max_sequences: *mut i32, max_context: *mut i64,
                                   threads: *mut i32) -> zaya_status;
    pub fn zaya_context_cancel(context: *mut zaya_context);
    pub fn zaya_decode(context: *mut zaya_context, batch: *const zaya_batch_token, count: usize) -> zaya_status;
    pub fn zaya_prefill(context: *mut zaya_context, sequence: i32, tokens: *const i32, count: usize) -> zaya_status;
    pub fn zaya_logits_rows(context: *mut zaya_context, out_rows: *mut usize) -> zaya_status;
    pub fn zaya_logits(context: *mut zaya_context, row: usize, out_logits: *mut *const c_float,
                       out_vocab: *mut usize) -> zaya_status;
    pub fn zaya_sequence_length(context: *mut zaya_context, sequence: i32, out_length: *mut i64) -> zaya_status;
    pub fn zaya_sequence_clear(context: *mut zaya_context, sequence: i32) -> zaya_status;
    pub fn zaya_sequence_fork(context: *mut zaya_context, source: i32, target: i32) -> zaya_status;
    pub fn zaya_sequence_truncate(context: *mut zaya_context, sequence: i32, length: i64) -> zaya_status;
    pub fn zaya_sequence_save(context: *mut zaya_context, sequence: i32, buffer: *mut c_void, capacity: usize,
                              out_size: *mut usize) -> zaya_status;
    pub fn zaya_sequence_load(context: *mut zaya_context, sequence: i32, buffer: *const c_void, size: usize) -> zaya_status;

    pub fn zaya_sampling_params_init(params: *mut zaya_sampling_params, struct_size: usize) -> zaya_status;
    pub fn zaya_sampling_params_init_greedy(params: *mut zaya_sampling_params, struct_size: usize) -> zaya_status;
    pub fn zaya_sampler_new(params: *const zaya_sampling_params, out_sampler: *mut *mut zaya_sampler) -> zaya_status;
    pub fn zaya_sampler_free(sampler: *mut zaya_sampler);
    pub fn zaya_sampler_sample(sampler: *mut zaya_sampler, logits: *const c_float, n_logits: usize, history: *const i32,
                               n_history: usize, step: u64, allowed_vocab: usize, out_token: *mut i32,
                               out_probability: *mut c_float) -> zaya_status;

    pub fn zaya_finish_reason_name(finish: i32) -> *const c_char;
    pub fn zaya_request_init(request: *mut zaya_request, struct_size: usize) -> zaya_status;
    pub fn zaya_result_init(result: *mut zaya_result, struct_size: usize) -> zaya_status;
    pub fn zaya_generate(context: *mut zaya_context, requests: *const zaya_request, n_requests: usize,
                         on_token: zaya_token_fn, user_data: *mut c_void, results: *mut zaya_result) -> zaya_status;
    pub fn zaya_stream_new(context: *mut zaya_context, request: *const zaya_request,
                           out_stream: *mut *mut zaya_stream) -> zaya_status;
    pub fn zaya_stream_free(stream: *mut zaya_stream);
    pub fn zaya_stream_next(stream: *mut zaya_stream, event: *mut zaya_token_event) -> zaya_status;
    pub fn zaya_stream_tokens(stream: *mut zaya_stream, ids: *mut i32, capacity: usize, out_count: *mut usize) -> zaya_status;

    pub fn zaya_rsa_new(model: *const zaya_model, preset: *const c_char, out_rsa: *mut *mut zaya_rsa) -> zaya_status;
    pub fn zaya_rsa_free(run: *mut zaya_rsa);
    pub fn zaya_rsa_set(run: *mut zaya_rsa, name: *const c_char, value: *const c_char) -> zaya_status;
    pub fn zaya_rsa_run(run: *mut zaya_rsa, question: *const c_char, question_length: usize, prompt_ids: *const i32,
                        n_prompt_ids: usize, progress: zaya_rsa_progress_fn, user_data: *mut c_void) -> zaya_status;
    pub fn zaya_rsa_cancel(run: *mut zaya_rsa);
    pub fn zaya_rsa_answer(run: *mut zaya_rsa, out_answer: *mut *const c_char, out_length: *mut usize) -> zaya_status;
    pub fn zaya_rsa_result_json(run: *mut zaya_rsa, include_text: i32, out_json: *mut *const c_char,
                                out_length: *mut usize) -> zaya_status;
}

/// `static inline zaya_abi_compatible()` of the header.
pub fn zaya_abi_compatible() -> bool {
    unsafe { zaya_abi_version() == ZAYA_ABI_VERSION }
}

/// Fills a parameter struct with the library's defaults (the header's `*_default()` helpers).
///
/// # Safety
/// `init` must be the `*_init` function of `T`.
pub unsafe fn defaults<T>(init: unsafe extern "C" fn(*mut T, usize) -> zaya_status) -> T {
    let mut value = core::mem::MaybeUninit::<T>::zeroed();
    let status = init(value.as_mut_ptr(), core::mem::size_of::<T>());
    assert_eq!(status, ZAYA_OK, "zaya: initialising a parameter struct failed");
    value.assume_init()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::mem::{offset_of, size_of};

    /// Every struct's size and field offsets equal the C compiler's (tests/capi/layout.c).
    #[test]
    fn layout_matches_the_c_compiler() {
        let Ok(exe) = std::env::var("ZAYA_LAYOUT_EXE") else {
            eprintln!("ZAYA_LAYOUT_EXE not set: layout check skipped");
            return;
        };
        let out = std::process::Command::new(exe).output().expect("run the layout program");
        let text = String::from_utf8(out.stdout).unwrap();
        let layout: HashMap<String, usize> = text
            .lines()
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').unwrap();
                (k.to_string(), v.parse().unwrap())
            })
            .collect();
        let mut checked = 0;
        macro_rules! check {
            ($t:ident { $($f:ident),* $(,)? }) => {{
                assert_eq!(layout[stringify!($t)], size_of::<$t>(), "sizeof {}", stringify!($t));
                $(
                    assert_eq!(layout[concat!(stringify!($t), ".", stringify!($f))], offset_of!($t, $f),
                               "offset of {}.{}", stringify!($t), stringify!($f));
                    checked += 1;
                )*
                let fields = layout.keys().filter(|k| k.starts_with(concat!(stringify!($t), "."))).count();
                assert_eq!(fields, [$(stringify!($f)),*].len(), "fields of {}", stringify!($t));
            }};
        }
        check!(zaya_model_params { struct_size, backend, skip_semantics, load_tokenizer, tokenizer_path, progress, progress_user_data,
            head_shortlist });
        check!(zaya_model_info { struct_size, vocab_size, hidden_size, layers, experts, max_position, bos_id, eos_id,
            total_params, active_params, stored_bytes, has_tokenizer, has_chat_template, backend, backend_log, directory,
            stored_dtypes, head_shortlist_bytes });
        check!(zaya_chat_params { struct_size, add_generation_prompt, tools_json, tools_json_length, extra_json, extra_json_length });
        check!(zaya_context_params { struct_size, max_sequences, threads, max_context, truncate_window, kv_cache_type });
        check!(zaya_batch_token { sequence, token, logits });
        check!(zaya_sampling_params { struct_size, temperature, top_k, top_p, min_p, repetition_penalty, presence_penalty,
            frequency_penalty, penalty_last_n, greedy, temperature_placement, seed, logit_bias_ids, logit_bias_values,
            n_logit_bias, banned_tokens, n_banned_tokens });
        check!(zaya_request { struct_size, sequence, prompt_tokens, n_prompt_tokens, prompt_text, prompt_text_length,
            add_special_tokens, start_logits, n_start_logits, max_tokens, sampling, stop_at_eos, stop_tokens, n_stop_tokens,
            stop_strings, n_stop_strings });
        check!(zaya_token_event { struct_size, request, token, finish, text, text_length });
        check!(zaya_result { struct_size, finish, prompt_tokens, generated_tokens });
        let structs = layout.keys().filter(|k| !k.contains('.')).count();
        assert_eq!(structs, 9, "a struct of zaya.h is not declared here");
        assert!(checked > 80);
    }

    #[test]
    fn the_library_is_the_abi_of_these_declarations() {
        assert!(zaya_abi_compatible());
        let version = unsafe { std::ffi::CStr::from_ptr(zaya_version()) }.to_str().unwrap();
        assert_eq!(version, format!("{ZAYA_VERSION_MAJOR}.{ZAYA_VERSION_MINOR}.{ZAYA_VERSION_PATCH}"));
        let params: zaya_context_params = unsafe { defaults(zaya_context_params_init) };
        assert_eq!(params.struct_size, size_of::<zaya_context_params>());
        assert_eq!(params.max_context, 4096);
    }
}
