//! Safe Rust API of zaya, an embeddable inference engine for Zyphra's ZAYA1 models, over its
//! stable C ABI (`zaya-sys`).
//!
//! ```no_run
//! use zaya::{GenerateOptions, Model};
//!
//! let model = Model::load("path/to/ZAYA1-8B")?;
//! let mut options = GenerateOptions::default();
//! options.max_tokens = 64;
//! options.sampling.temperature = 0.7;
//! for piece in model.generate("The capital of France is", &options)? {
//!     print!("{}", piece?);
//! }
//! # Ok::<(), zaya::Error>(())
//! ```
//!
//! Threading (the C API's contract, expressed in types):
//! * [`Model`] and [`Tokenizer`] are immutable: `Send + Sync`, share them with `Arc`.
//! * [`Context`] is `Send`; every call that uses it takes `&mut self`, so it is used by one thread
//!   at a time by construction. [`CancelHandle`] (`Send + Sync + Clone`) cancels it from anywhere.
//! * [`Generation`] (a streaming iterator), [`Sampler`], [`ChatTemplate`] are `Send`, not `Sync`.
//! * Every handle is freed when dropped; a context keeps its model alive, a generation its context.

use std::ffi::{c_void, CStr, CString};
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use zaya_sys as sys;

pub use sys::ZAYA_ABI_VERSION as ABI_VERSION;

// ---- errors -------------------------------------------------------------------------------------

/// What kind of failure an [`Error`] is (the C status codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidArgument,
    Io,
    BadFormat,
    Unsupported,
    OutOfMemory,
    Cancelled,
    OutOfRange,
    LimitExceeded,
    Template,
    Internal,
    BufferTooSmall,
    Busy,
    /// A status this version of the bindings does not know.
    Other(i32),
}

impl ErrorKind {
    fn from_status(status: i32) -> Self {
        match status {
            sys::ZAYA_ERR_INVALID_ARGUMENT => Self::InvalidArgument,
            sys::ZAYA_ERR_IO => Self::Io,
            sys::ZAYA_ERR_BAD_FORMAT => Self::BadFormat,
            sys::ZAYA_ERR_UNSUPPORTED => Self::Unsupported,
            sys::ZAYA_ERR_OUT_OF_MEMORY => Self::OutOfMemory,
            sys::ZAYA_ERR_CANCELLED => Self::Cancelled,
            sys::ZAYA_ERR_OUT_OF_RANGE => Self::OutOfRange,
            sys::ZAYA_ERR_LIMIT_EXCEEDED => Self::LimitExceeded,
            sys::ZAYA_ERR_TEMPLATE => Self::Template,
            sys::ZAYA_ERR_INTERNAL => Self::Internal,
            sys::ZAYA_ERR_BUFFER_TOO_SMALL => Self::BufferTooSmall,
            sys::ZAYA_ERR_BUSY => Self::Busy,
            other => Self::Other(other),
        }
    }
}

/// A failed zaya call: the status and the library's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: i32,
    message: String,
}

impl Error {
    fn last(status: i32) -> Self {
        let message = unsafe { cstr(sys::zaya_last_error()) };
        Error { status, message }
    }
    fn new(status: i32, message: impl Into<String>) -> Self {
        Error { status, message: message.into() }
    }
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::from_status(self.status)
    }
    pub fn status(&self) -> i32 {
        self.status
    }
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = unsafe { cstr(sys::zaya_status_name(self.status)) };
        write!(f, "{} ({})", self.message, name)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

fn check(status: i32) -> Result<()> {
    if status == sys::ZAYA_OK {
        Ok(())
    } else {
        Err(Error::last(status))
    }
}

unsafe fn cstr(p: *const std::os::raw::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

unsafe fn text(p: *const std::os::raw::c_char, len: usize) -> String {
    if p.is_null() || len == 0 {
        String::new()
    } else {
        String::from_utf8_lossy(std::slice::from_raw_parts(p as *const u8, len)).into_owned()
    }
}

fn c_string(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::new(sys::ZAYA_ERR_INVALID_ARGUMENT, format!("{what} contains a NUL byte")))
}

fn c_path(p: &Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::new(sys::ZAYA_ERR_INVALID_ARGUMENT, "path contains a NUL byte"))
}

fn handle<T>(p: *mut T) -> Result<NonNull<T>> {
    NonNull::new(p).ok_or_else(|| Error::new(sys::ZAYA_ERR_INTERNAL, "the library returned a NULL handle"))
}

// Panics must not unwind into C: callbacks catch them, ask the library to stop, and the panic
// resumes once the C call has returned.
struct PanicSlot(Option<Box<dyn std::any::Any + Send>>);

impl PanicSlot {
    fn resume(self) {
        if let Some(payload) = self.0 {
            panic::resume_unwind(payload);
        }
    }
}

// ---- library --------------------------------------------------------------------------------------

/// The library's version, e.g. "0.1.0".
pub fn version() -> String {
    unsafe { cstr(sys::zaya_version()) }
}

/// The library's ABI version (must equal [`ABI_VERSION`]).
pub fn abi_version() -> u32 {
    unsafe { sys::zaya_abi_version() }
}

/// (name, status) of every compute backend this build knows.
pub fn backends() -> Result<Vec<(String, String)>> {
    let n = unsafe { sys::zaya_backend_count() };
    (0..n)
        .map(|i| {
            let (mut name, mut status) = (ptr::null(), ptr::null());
            check(unsafe { sys::zaya_backend_info(i, &mut name, &mut status) })?;
            Ok(unsafe { (cstr(name), cstr(status)) })
        })
        .collect()
}

/// Splits ZAYA1 output into reasoning, content and tool calls; returns the library's JSON.
pub fn parse_chat_output(output: &str, starts_in_reasoning: bool) -> Result<String> {
    let (mut json, mut len) = (ptr::null(), 0usize);
    check(unsafe {
        sys::zaya_parse_chat_output(output.as_ptr().cast(), output.len(), starts_in_reasoning as i32, &mut json, &mut len)
    })?;
    Ok(unsafe { text(json, len) })
}

// ---- sampling parameters -------------------------------------------------------------------------

/// Sampling parameters (see the C header for the chain). `Default` is the library's default:
/// sampling from the model's own distribution with a fixed seed.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    pub temperature: f32,
    pub top_k: i32,
    pub top_p: f32,
    pub min_p: f32,
    pub repetition_penalty: f32,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    pub penalty_last_n: i32,
    pub greedy: bool,
    /// llama.cpp order (temperature after the filters) instead of HF's.
    pub temperature_after_filters: bool,
    pub seed: u64,
    pub logit_bias: Vec<(i32, f32)>,
    pub banned_tokens: Vec<i32>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self::from_c(&unsafe { sys::defaults(sys::zaya_sampling_params_init) })
    }
}

impl SamplingParams {
    /// Deterministic arg-max decoding.
    pub fn greedy() -> Self {
        Self::from_c(&unsafe { sys::defaults(sys::zaya_sampling_params_init_greedy) })
    }

    /// Seeded sampling at temperature 1.
    pub fn seeded(seed: u64) -> Self {
        SamplingParams { seed, ..Default::default() }
    }

    fn from_c(p: &sys::zaya_sampling_params) -> Self {
        SamplingParams {
            temperature: p.temperature,
            top_k: p.top_k,
            top_p: p.top_p,
            min_p: p.min_p,
            repetition_penalty: p.repetition_penalty,
            presence_penalty: p.presence_penalty,
            frequency_penalty: p.frequency_penalty,
            penalty_last_n: p.penalty_last_n,
            greedy: p.greedy != 0,
            temperature_after_filters: p.temperature_placement == sys::ZAYA_TEMPERATURE_AFTER_FILTERS,
            seed: p.seed,
            logit_bias: Vec::new(),
            banned_tokens: Vec::new(),
        }
    }

    /// The C struct; it points into `self`'s vectors and `biases`, so both must outlive its use.
    fn to_c(&self, biases: &mut (Vec<i32>, Vec<f32>)) -> sys::zaya_sampling_params {
        let mut p: sys::zaya_sampling_params = unsafe { sys::defaults(sys::zaya_sampling_params_init) };
        p.temperature = self.temperature;
        p.top_k = self.top_k;
        p.top_p = self.top_p;
        p.min_p = self.min_p;
        p.repetition_penalty = self.repetition_penalty;
        p.presence_penalty = self.presence_penalty;
        p.frequency_penalty = self.frequency_penalty;
        p.penalty_last_n = self.penalty_last_n;
        p.greedy = self.greedy as i32;
        p.temperature_placement = if self.temperature_after_filters {
            sys::ZAYA_TEMPERATURE_AFTER_FILTERS
        } else {
            sys::ZAYA_TEMPERATURE_BEFORE_FILTERS
        };
        p.seed = self.seed;
        biases.0 = self.logit_bias.iter().map(|b| b.0).collect();
        biases.1 = self.logit_bias.iter().map(|b| b.1).collect();
        p.logit_bias_ids = biases.0.as_ptr();
        p.logit_bias_values = biases.1.as_ptr();
        p.n_logit_bias = biases.0.len();
        p.banned_tokens = self.banned_tokens.as_ptr();
        p.n_banned_tokens = self.banned_tokens.len();
        p
    }
}

/// A sampler: one row of logits in, one token id out.
pub struct Sampler {
    raw: NonNull<sys::zaya_sampler>,
}

unsafe impl Send for Sampler {}

impl Sampler {
    pub fn new(params: &SamplingParams) -> Result<Sampler> {
        let mut biases = Default::default();
        let c = params.to_c(&mut biases);
        let mut raw = ptr::null_mut();
        check(unsafe { sys::zaya_sampler_new(&c, &mut raw) })?;
        Ok(Sampler { raw: handle(raw)? })
    }

    /// Draws a token; `step` is the draw counter, `allowed_vocab` 0 means all of `logits`.
    pub fn sample(&mut self, logits: &[f32], history: &[i32], step: u64, allowed_vocab: usize) -> Result<i32> {
        let mut token = -1;
        check(unsafe {
            sys::zaya_sampler_sample(self.raw.as_ptr(), logits.as_ptr(), logits.len(), history.as_ptr(), history.len(),
                                     step, allowed_vocab, &mut token, ptr::null_mut())
        })?;
        Ok(token)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        unsafe { sys::zaya_sampler_free(self.raw.as_ptr()) }
    }
}

// ---- tokenizer ------------------------------------------------------------------------------------

/// Text <-> ids. Immutable and shareable between threads.
pub struct Tokenizer {
    raw: NonNull<sys::zaya_tokenizer>,
}

unsafe impl Send for Tokenizer {}
unsafe impl Sync for Tokenizer {}

impl Tokenizer {
    /// A tokenizer.json file, or a directory holding one (plus tokenizer_config.json, ...).
    pub fn load(path: impl AsRef<Path>) -> Result<Tokenizer> {
        let p = c_path(path.as_ref())?;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::zaya_tokenizer_load(p.as_ptr(), &mut raw) })?;
        Ok(Tokenizer { raw: handle(raw)? })
    }

    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<i32>> {
        let mut n = 0usize;
        let status = unsafe {
            sys::zaya_tokenize(self.raw.as_ptr(), text.as_ptr().cast(), text.len(), add_special_tokens as i32,
                               ptr::null_mut(), 0, &mut n)
        };
        if status != sys::ZAYA_OK && status != sys::ZAYA_ERR_BUFFER_TOO_SMALL {
            return Err(Error::last(status));
        }
        let mut ids = vec![0i32; n];
        check(unsafe {
            sys::zaya_tokenize(self.raw.as_ptr(), text.as_ptr().cast(), text.len(), add_special_tokens as i32,
                               ids.as_mut_ptr(), ids.len(), &mut n)
        })?;
        ids.truncate(n);
        Ok(ids)
    }

    pub fn decode(&self, ids: &[i32], skip_special_tokens: bool) -> Result<String> {
        let mut n = 0usize;
        let status = unsafe {
            sys::zaya_detokenize(self.raw.as_ptr(), ids.as_ptr(), ids.len(), skip_special_tokens as i32,
                                 ptr::null_mut(), 0, &mut n)
        };
        if status != sys::ZAYA_OK && status != sys::ZAYA_ERR_BUFFER_TOO_SMALL {
            return Err(Error::last(status));
        }
        let mut buf = vec![0u8; n + 1];
        check(unsafe {
            sys::zaya_detokenize(self.raw.as_ptr(), ids.as_ptr(), ids.len(), skip_special_tokens as i32,
                                 buf.as_mut_ptr().cast(), buf.len(), &mut n)
        })?;
        buf.truncate(n);
        String::from_utf8(buf).map_err(|_| Error::new(sys::ZAYA_ERR_INTERNAL, "decoded text is not UTF-8"))
    }

    pub fn vocab_size(&self) -> Result<usize> {
        let mut n = 0;
        check(unsafe { sys::zaya_tokenizer_vocab_size(self.raw.as_ptr(), &mut n) })?;
        Ok(n)
    }

    pub fn token_to_id(&self, token: &str) -> Result<Option<i32>> {
        let mut id = -1;
        check(unsafe { sys::zaya_tokenizer_token_id(self.raw.as_ptr(), token.as_ptr().cast(), token.len(), &mut id) })?;
        Ok((id >= 0).then_some(id))
    }

    /// (bos, eos) ids from the tokenizer's configuration.
    pub fn bos_eos(&self) -> Result<(Option<i32>, Option<i32>)> {
        let get = |which| -> Result<Option<i32>> {
            let mut id = -1;
            check(unsafe { sys::zaya_tokenizer_special_id(self.raw.as_ptr(), which, &mut id) })?;
            Ok((id >= 0).then_some(id))
        };
        Ok((get(sys::ZAYA_TOKEN_BOS)?, get(sys::ZAYA_TOKEN_EOS)?))
    }

    /// The tokenizer's chat template (ErrorKind::Unsupported if it has none).
    pub fn chat_template(&self) -> Result<ChatTemplate> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::zaya_chat_template_from_tokenizer(self.raw.as_ptr(), &mut raw) })?;
        Ok(ChatTemplate { raw: handle(raw)? })
    }
}

impl Drop for Tokenizer {
    fn drop(&mut self) {
        unsafe { sys::zaya_tokenizer_free(self.raw.as_ptr()) }
    }
}

/// A parsed chat template.
pub struct ChatTemplate {
    raw: NonNull<sys::zaya_chat_template>,
}

unsafe impl Send for ChatTemplate {}

impl ChatTemplate {
    pub fn parse(source: &str) -> Result<ChatTemplate> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::zaya_chat_template_parse(source.as_ptr().cast(), source.len(), &mut raw) })?;
        Ok(ChatTemplate { raw: handle(raw)? })
    }

    /// Renders `messages_json` (a JSON array of {"role", "content"} objects); `extra_json` is an
    /// optional JSON object of further template variables (e.g. {"enable_thinking": true}).
    pub fn render(&mut self, messages_json: &str, add_generation_prompt: bool, extra_json: Option<&str>) -> Result<String> {
        let mut params: sys::zaya_chat_params = unsafe { sys::defaults(sys::zaya_chat_params_init) };
        params.add_generation_prompt = add_generation_prompt as i32;
        if let Some(extra) = extra_json {
            params.extra_json = extra.as_ptr().cast();
            params.extra_json_length = extra.len();
        }
        let (mut out, mut len) = (ptr::null(), 0usize);
        check(unsafe {
            sys::zaya_chat_template_render(self.raw.as_ptr(), messages_json.as_ptr().cast(), messages_json.len(), &params,
                                           &mut out, &mut len)
        })?;
        Ok(unsafe { text(out, len) })
    }
}

impl Drop for ChatTemplate {
    fn drop(&mut self) {
        unsafe { sys::zaya_chat_template_free(self.raw.as_ptr()) }
    }
}

// ---- model ----------------------------------------------------------------------------------------

/// Where the model's tokenizer comes from.
#[derive(Debug, Clone, Default)]
pub enum TokenizerSource {
    /// tokenizer.json in the model directory, if present.
    #[default]
    ModelDirectory,
    /// No tokenizer: ids only.
    None,
    /// A tokenizer.json file or a directory holding one.
    Path(std::path::PathBuf),
}

/// Options of [`Model::load_with`].
#[derive(Default)]
pub struct ModelOptions<'a> {
    /// "auto" (default when empty), "cpu" or "hip".
    pub backend: String,
    pub tokenizer: TokenizerSource,
    /// Called with the fraction loaded; return false to cancel (ErrorKind::Cancelled).
    pub progress: Option<&'a mut dyn FnMut(f32) -> bool>,
    /// 0 (default): every logit from the model's LM head. K > 0 (opt-in, CPU backend): a cheaper
    /// copy of the head (Q4_0, or 2-bit for a 4-bit head) scores the vocabulary and each row's K
    /// best tokens are rescored by the model's head (their logits exact, the rest approximate).
    pub head_shortlist: usize,
}

/// What a loaded model is.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub layers: i64,
    pub experts: i64,
    pub max_position: i64,
    pub bos_id: Option<i64>,
    pub eos_id: Option<i64>,
    pub total_params: u64,
    pub active_params: u64,
    pub stored_bytes: u64,
    pub has_tokenizer: bool,
    pub has_chat_template: bool,
    pub backend: String,
    pub backend_log: String,
    pub directory: String,
    pub stored_dtypes: String,
    /// The LM-head shortlist's approximate copy of the head (not in stored_bytes); 0 without one.
    pub head_shortlist_bytes: u64,
}

/// A loaded ZAYA1 model. Immutable: share it between threads (e.g. in an `Arc`).
pub struct Model {
    raw: NonNull<sys::zaya_model>,
}

unsafe impl Send for Model {}
unsafe impl Sync for Model {}

impl Model {
    /// Loads a Hugging Face checkpoint directory with default options.
    pub fn load(directory: impl AsRef<Path>) -> Result<Model> {
        Self::load_with(directory, ModelOptions::default())
    }

    pub fn load_with(directory: impl AsRef<Path>, options: ModelOptions<'_>) -> Result<Model> {
        let dir = c_path(directory.as_ref())?;
        let mut params: sys::zaya_model_params = unsafe { sys::defaults(sys::zaya_model_params_init) };
        let backend = c_string(if options.backend.is_empty() { "auto" } else { &options.backend }, "backend")?;
        params.backend = backend.as_ptr();
        params.head_shortlist = i64::try_from(options.head_shortlist)
            .map_err(|_| Error::new(sys::ZAYA_ERR_INVALID_ARGUMENT, format!("head_shortlist = {}", options.head_shortlist)))?;
        let tokenizer_path;
        match &options.tokenizer {
            TokenizerSource::ModelDirectory => {}
            TokenizerSource::None => params.load_tokenizer = 0,
            TokenizerSource::Path(p) => {
                tokenizer_path = c_path(p)?;
                params.tokenizer_path = tokenizer_path.as_ptr();
            }
        }

        struct ProgressState<'a, 'b> {
            callback: &'a mut (dyn FnMut(f32) -> bool + 'b),
            panic: PanicSlot,
        }
        unsafe extern "C" fn trampoline(fraction: f32, user: *mut c_void) -> i32 {
            let state = &mut *(user as *mut ProgressState<'_, '_>);
            match panic::catch_unwind(AssertUnwindSafe(|| (state.callback)(fraction))) {
                Ok(true) => sys::ZAYA_CONTINUE,
                Ok(false) => sys::ZAYA_STOP,
                Err(payload) => {
                    state.panic.0 = Some(payload);
                    sys::ZAYA_STOP
                }
            }
        }
        let mut state = options.progress.map(|callback| ProgressState { callback, panic: PanicSlot(None) });
        if let Some(s) = state.as_mut() {
            params.progress = Some(trampoline);
            params.progress_user_data = s as *mut ProgressState<'_, '_> as *mut c_void;
        }
        let mut raw = ptr::null_mut();
        let status = unsafe { sys::zaya_model_load(dir.as_ptr(), &params, &mut raw) };
        if let Some(s) = state {
            s.panic.resume();
        }
        check(status)?;
        Ok(Model { raw: handle(raw)? })
    }

    pub fn info(&self) -> Result<ModelInfo> {
        let mut i: sys::zaya_model_info = unsafe { std::mem::zeroed() };
        i.struct_size = std::mem::size_of::<sys::zaya_model_info>();
        check(unsafe { sys::zaya_model_get_info(self.raw.as_ptr(), &mut i) })?;
        Ok(unsafe {
            ModelInfo {
                vocab_size: i.vocab_size,
                hidden_size: i.hidden_size,
                layers: i.layers,
                experts: i.experts,
                max_position: i.max_position,
                bos_id: (i.bos_id >= 0).then_some(i.bos_id),
                eos_id: (i.eos_id >= 0).then_some(i.eos_id),
                total_params: i.total_params,
                active_params: i.active_params,
                stored_bytes: i.stored_bytes,
                has_tokenizer: i.has_tokenizer != 0,
                has_chat_template: i.has_chat_template != 0,
                backend: cstr(i.backend),
                backend_log: cstr(i.backend_log),
                directory: cstr(i.directory),
                stored_dtypes: cstr(i.stored_dtypes),
                head_shortlist_bytes: i.head_shortlist_bytes,
            }
        })
    }

    /// The tokenizer loaded with the model (None for an ids-only model).
    pub fn tokenizer(&self) -> Result<Option<Tokenizer>> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::zaya_model_get_tokenizer(self.raw.as_ptr(), &mut raw) })?;
        Ok(NonNull::new(raw).map(|raw| Tokenizer { raw }))
    }

    /// A new context over this model (which it keeps alive).
    pub fn context(&self, options: &ContextOptions) -> Result<Context> {
        let mut params: sys::zaya_context_params = unsafe { sys::defaults(sys::zaya_context_params_init) };
        params.max_sequences = options.max_sequences;
        params.max_context = options.max_context;
        params.threads = options.threads;
        params.truncate_window = options.truncate_window;
        params.kv_cache_type = match options.kv_cache_type {
            KvCacheType::F32 => sys::ZAYA_KV_F32,
            KvCacheType::F16 => sys::ZAYA_KV_F16,
        };
        let mut raw = ptr::null_mut();
        check(unsafe { sys::zaya_context_new(self.raw.as_ptr(), &params, &mut raw) })?;
        Ok(Context { inner: Arc::new(ContextHandle(handle(raw)?)) })
    }

    /// Streams a continuation of `prompt` on a private context: an iterator of text pieces.
    pub fn generate<'p>(&self, prompt: impl Into<Prompt<'p>>, options: &GenerateOptions) -> Result<Generation<'static>> {
        let prompt = prompt.into();
        let prompt_len = match &prompt {
            Prompt::Text(t) => t.len() + 2, // bytes bound the token count
            Prompt::Tokens(t) => t.len(),
        };
        let max_position = self.info()?.max_position;
        let size = (prompt_len as i64 + options.max_tokens + 1).clamp(1, max_position.max(1));
        let context = self.context(&ContextOptions { max_context: size, threads: options.threads, ..Default::default() })?;
        start_stream(&context.inner, prompt, options)
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        unsafe { sys::zaya_model_free(self.raw.as_ptr()) }
    }
}

// ---- context --------------------------------------------------------------------------------------

/// Element type of a context's KV caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvCacheType {
    /// Exact (the default).
    F32,
    /// IEEE halves: half the bytes decode streams per cached position; logits move by ~1e-3 relative.
    F16,
}

/// Options of [`Model::context`]; `Default` is the library's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextOptions {
    pub max_sequences: i32,
    pub max_context: i64,
    pub threads: i32,
    pub truncate_window: i64,
    pub kv_cache_type: KvCacheType,
}

impl Default for ContextOptions {
    fn default() -> Self {
        let p: sys::zaya_context_params = unsafe { sys::defaults(sys::zaya_context_params_init) };
        ContextOptions {
            max_sequences: p.max_sequences,
            max_context: p.max_context,
            threads: p.threads,
            truncate_window: p.truncate_window,
            kv_cache_type: if p.kv_cache_type == sys::ZAYA_KV_F16 { KvCacheType::F16 } else { KvCacheType::F32 },
        }
    }
}

struct ContextHandle(NonNull<sys::zaya_context>);

// The C context is one-thread-at-a-time (enforced by &mut on Context) except for
// zaya_context_cancel, which is callable from any thread: that is all a shared ContextHandle does.
unsafe impl Send for ContextHandle {}
unsafe impl Sync for ContextHandle {}

impl Drop for ContextHandle {
    fn drop(&mut self) {
        unsafe { sys::zaya_context_free(self.0.as_ptr()) }
    }
}

/// Cancels what runs on a context, from any thread.
#[derive(Clone)]
pub struct CancelHandle {
    inner: Arc<ContextHandle>,
}

impl CancelHandle {
    /// Stops the running call (within one layer's work) and every generation begun before now.
    pub fn cancel(&self) {
        unsafe { sys::zaya_context_cancel(self.inner.0.as_ptr()) }
    }
}

/// One token of a decode batch.
pub type BatchToken = sys::zaya_batch_token;

/// A set of sequences with their caches. Every use takes `&mut self`: one thread at a time.
pub struct Context {
    inner: Arc<ContextHandle>,
}

impl Context {
    fn raw(&self) -> *mut sys::zaya_context {
        self.inner.0.as_ptr()
    }

    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle { inner: self.inner.clone() }
    }

    /// Runs the forward pass; on error or cancel no sequence changes.
    pub fn decode(&mut self, batch: &[BatchToken]) -> Result<()> {
        check(unsafe { sys::zaya_decode(self.raw(), batch.as_ptr(), batch.len()) })
    }

    /// Appends tokens to a sequence; returns the logits after the last one.
    pub fn prefill(&mut self, sequence: i32, tokens: &[i32]) -> Result<&[f32]> {
        check(unsafe { sys::zaya_prefill(self.raw(), sequence, tokens.as_ptr(), tokens.len()) })?;
        self.logits(0)
    }

    /// Row `row` of the last decode's logits (borrowed until the context is used again).
    pub fn logits(&mut self, row: usize) -> Result<&[f32]> {
        let (mut p, mut n) = (ptr::null(), 0usize);
        check(unsafe { sys::zaya_logits(self.raw(), row, &mut p, &mut n) })?;
        Ok(unsafe { std::slice::from_raw_parts(p, n) })
    }

    pub fn length(&mut self, sequence: i32) -> Result<i64> {
        let mut n = 0;
        check(unsafe { sys::zaya_sequence_length(self.raw(), sequence, &mut n) })?;
        Ok(n)
    }

    pub fn clear(&mut self, sequence: i32) -> Result<()> {
        check(unsafe { sys::zaya_sequence_clear(self.raw(), sequence) })
    }

    pub fn fork(&mut self, source: i32, target: i32) -> Result<()> {
        check(unsafe { sys::zaya_sequence_fork(self.raw(), source, target) })
    }

    pub fn truncate(&mut self, sequence: i32, length: i64) -> Result<()> {
        check(unsafe { sys::zaya_sequence_truncate(self.raw(), sequence, length) })
    }

    /// The sequence's full state (caches included) as bytes.
    pub fn save_state(&mut self, sequence: i32) -> Result<Vec<u8>> {
        let mut n = 0usize;
        let status = unsafe { sys::zaya_sequence_save(self.raw(), sequence, ptr::null_mut(), 0, &mut n) };
        if status != sys::ZAYA_OK && status != sys::ZAYA_ERR_BUFFER_TOO_SMALL {
            return Err(Error::last(status));
        }
        let mut buf = vec![0u8; n];
        check(unsafe { sys::zaya_sequence_save(self.raw(), sequence, buf.as_mut_ptr().cast(), buf.len(), &mut n) })?;
        buf.truncate(n);
        Ok(buf)
    }

    pub fn load_state(&mut self, sequence: i32, state: &[u8]) -> Result<()> {
        check(unsafe { sys::zaya_sequence_load(self.raw(), sequence, state.as_ptr().cast(), state.len()) })
    }

    /// Streams a generation on `options.sequence`: an iterator of text pieces. The generation
    /// borrows the context mutably until it is dropped.
    pub fn generate<'p>(&mut self, prompt: impl Into<Prompt<'p>>, options: &GenerateOptions) -> Result<Generation<'_>> {
        start_stream(&self.inner, prompt.into(), options)
    }

    /// Runs several requests (on distinct sequences) as one batch. `on_token` sees every event;
    /// returning false stops that request. Returns each request's result.
    pub fn generate_batch<'p>(&mut self, requests: &[(Prompt<'p>, GenerateOptions)],
                              mut on_token: impl FnMut(&TokenEvent) -> bool) -> Result<Vec<Finished>> {
        let data: Vec<RequestData> =
            requests.iter().map(|(p, o)| RequestData::new(p.clone(), o)).collect::<Result<_>>()?;
        let c_requests: Vec<sys::zaya_request> = data.iter().map(|d| *d.as_c()).collect();
        let mut results: Vec<sys::zaya_result> =
            (0..requests.len()).map(|_| unsafe { sys::defaults(sys::zaya_result_init) }).collect();
        let mut outputs: Vec<Finished> = requests.iter().map(|_| Finished::default()).collect();

        struct State<'a> {
            callback: &'a mut dyn FnMut(&TokenEvent) -> bool,
            outputs: &'a mut Vec<Finished>,
            panic: PanicSlot,
        }
        unsafe extern "C" fn trampoline(event: *const sys::zaya_token_event, user: *mut c_void) -> i32 {
            let state = &mut *(user as *mut State<'_>);
            let e = &*event;
            let ev = TokenEvent {
                request: e.request,
                token: (e.token >= 0).then_some(e.token),
                text: text(e.text, e.text_length),
                finish: FinishReason::from_c(e.finish),
            };
            let out = &mut state.outputs[e.request];
            if let Some(t) = ev.token {
                out.tokens.push(t);
            }
            out.text.push_str(&ev.text);
            match panic::catch_unwind(AssertUnwindSafe(|| (state.callback)(&ev))) {
                Ok(true) => sys::ZAYA_CONTINUE,
                Ok(false) => sys::ZAYA_STOP,
                Err(payload) => {
                    state.panic.0 = Some(payload);
                    sys::ZAYA_STOP
                }
            }
        }
        let mut state = State { callback: &mut on_token, outputs: &mut outputs, panic: PanicSlot(None) };
        let status = unsafe {
            sys::zaya_generate(self.raw(), c_requests.as_ptr(), c_requests.len(), Some(trampoline),
                               &mut state as *mut State<'_> as *mut c_void, results.as_mut_ptr())
        };
        state.panic.resume();
        check(status)?;
        for (out, r) in outputs.iter_mut().zip(&results) {
            out.finish = FinishReason::from_c(r.finish);
            out.prompt_tokens = r.prompt_tokens;
        }
        Ok(outputs)
    }
}

// ---- generation -----------------------------------------------------------------------------------

fn start_stream<'g>(context: &Arc<ContextHandle>, prompt: Prompt<'_>, options: &GenerateOptions) -> Result<Generation<'g>> {
    let request = RequestData::new(prompt, options)?;
    let mut raw = ptr::null_mut();
    check(unsafe { sys::zaya_stream_new(context.0.as_ptr(), request.as_c(), &mut raw) })?;
    Ok(Generation {
        raw: handle(raw)?,
        context: context.clone(),
        tokens: Vec::new(),
        text: String::new(),
        finish: None,
        failed: false,
        _borrow: PhantomData,
    })
}

/// A prompt: text (encoded with the model's tokenizer) or token ids.
#[derive(Debug, Clone)]
pub enum Prompt<'a> {
    Text(std::borrow::Cow<'a, str>),
    Tokens(std::borrow::Cow<'a, [i32]>),
}

impl<'a> From<&'a str> for Prompt<'a> {
    fn from(s: &'a str) -> Self {
        Prompt::Text(s.into())
    }
}
impl From<String> for Prompt<'static> {
    fn from(s: String) -> Self {
        Prompt::Text(s.into())
    }
}
impl<'a> From<&'a String> for Prompt<'a> {
    fn from(s: &'a String) -> Self {
        Prompt::Text(s.as_str().into())
    }
}
impl<'a> From<&'a [i32]> for Prompt<'a> {
    fn from(t: &'a [i32]) -> Self {
        Prompt::Tokens(t.into())
    }
}
impl From<Vec<i32>> for Prompt<'static> {
    fn from(t: Vec<i32>) -> Self {
        Prompt::Tokens(t.into())
    }
}

/// Options of one generation.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub sequence: i32,
    pub max_tokens: i64,
    pub sampling: SamplingParams,
    pub stop_at_eos: bool,
    pub stop_tokens: Vec<i32>,
    pub stop_strings: Vec<String>,
    /// For text prompts: apply the tokenizer's post-processor (e.g. a leading <bos>).
    pub add_special_tokens: bool,
    /// Threads of the private context of [`Model::generate`] (0: one per hardware thread).
    pub threads: i32,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        let r: sys::zaya_request = unsafe { sys::defaults(sys::zaya_request_init) };
        GenerateOptions {
            sequence: r.sequence,
            max_tokens: r.max_tokens,
            sampling: SamplingParams::default(),
            stop_at_eos: r.stop_at_eos != 0,
            stop_tokens: Vec::new(),
            stop_strings: Vec::new(),
            add_special_tokens: true,
            threads: 0,
        }
    }
}

/// Everything a zaya_request points to, owned together.
struct RequestData<'p> {
    request: sys::zaya_request,
    _prompt: Prompt<'p>,
    _sampling: Box<sys::zaya_sampling_params>,
    _biases: Box<(Vec<i32>, Vec<f32>)>,
    _banned: Vec<i32>,
    _stop_tokens: Vec<i32>,
    _stop_strings: Vec<CString>,
    _stop_pointers: Vec<*const std::os::raw::c_char>,
}

impl<'p> RequestData<'p> {
    fn new(prompt: Prompt<'p>, options: &GenerateOptions) -> Result<RequestData<'p>> {
        let mut request: sys::zaya_request = unsafe { sys::defaults(sys::zaya_request_init) };
        request.sequence = options.sequence;
        request.max_tokens = options.max_tokens;
        request.stop_at_eos = options.stop_at_eos as i32;
        match &prompt {
            Prompt::Text(t) => {
                request.prompt_text = t.as_ptr().cast();
                request.prompt_text_length = t.len();
                request.add_special_tokens = options.add_special_tokens as i32;
            }
            Prompt::Tokens(t) => {
                request.prompt_tokens = t.as_ptr();
                request.n_prompt_tokens = t.len();
            }
        }
        let banned = options.sampling.banned_tokens.clone();
        let mut biases = Box::<(Vec<i32>, Vec<f32>)>::default();
        let mut sampling = Box::new(options.sampling.to_c(&mut biases));
        sampling.banned_tokens = banned.as_ptr();
        request.sampling = &*sampling;
        let stop_tokens = options.stop_tokens.clone();
        request.stop_tokens = stop_tokens.as_ptr();
        request.n_stop_tokens = stop_tokens.len();
        let stop_strings: Vec<CString> =
            options.stop_strings.iter().map(|s| c_string(s, "stop string")).collect::<Result<_>>()?;
        let stop_pointers: Vec<_> = stop_strings.iter().map(|s| s.as_ptr()).collect();
        request.stop_strings = stop_pointers.as_ptr();
        request.n_stop_strings = stop_pointers.len();
        Ok(RequestData {
            request,
            _prompt: prompt,
            _sampling: sampling,
            _biases: biases,
            _banned: banned,
            _stop_tokens: stop_tokens,
            _stop_strings: stop_strings,
            _stop_pointers: stop_pointers,
        })
    }

    fn as_c(&self) -> &sys::zaya_request {
        &self.request
    }
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    StopToken,
    StopString,
    MaxTokens,
    ContextFull,
    Cancelled,
    /// A reason this version of the bindings does not know.
    Other(i32),
}

impl FinishReason {
    fn from_c(finish: i32) -> Option<FinishReason> {
        match finish {
            sys::ZAYA_FINISH_NONE => None,
            sys::ZAYA_FINISH_STOP_TOKEN => Some(Self::StopToken),
            sys::ZAYA_FINISH_STOP_STRING => Some(Self::StopString),
            sys::ZAYA_FINISH_MAX_TOKENS => Some(Self::MaxTokens),
            sys::ZAYA_FINISH_CONTEXT_FULL => Some(Self::ContextFull),
            sys::ZAYA_FINISH_CANCELLED => Some(Self::Cancelled),
            other => Some(Self::Other(other)),
        }
    }
}

/// One event of [`Context::generate_batch`].
#[derive(Debug, Clone)]
pub struct TokenEvent {
    pub request: usize,
    pub token: Option<i32>,
    pub text: String,
    pub finish: Option<FinishReason>,
}

/// The result of one request of [`Context::generate_batch`].
#[derive(Debug, Clone, Default)]
pub struct Finished {
    pub tokens: Vec<i32>,
    pub text: String,
    pub finish: Option<FinishReason>,
    pub prompt_tokens: i64,
}

/// A streaming generation: iterate to get text pieces as they are produced. After the last
/// piece, [`finish_reason`](Self::finish_reason) says why it ended.
pub struct Generation<'a> {
    raw: NonNull<sys::zaya_stream>,
    context: Arc<ContextHandle>,
    tokens: Vec<i32>,
    text: String,
    finish: Option<FinishReason>,
    failed: bool,
    _borrow: PhantomData<&'a mut Context>,
}

// A stream is one-thread-at-a-time and may move between threads.
unsafe impl Send for Generation<'_> {}

impl Generation<'_> {
    pub fn tokens(&self) -> &[i32] {
        &self.tokens
    }
    /// All text so far.
    pub fn text(&self) -> &str {
        &self.text
    }
    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.finish
    }
    /// Cancels this generation (and whatever runs on its context) from any thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle { inner: self.context.clone() }
    }
    /// Runs to the end; returns the whole text.
    pub fn read_to_end(&mut self) -> Result<&str> {
        for piece in self.by_ref() {
            piece?;
        }
        Ok(&self.text)
    }
}

impl Iterator for Generation<'_> {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        while self.finish.is_none() && !self.failed {
            let mut ev: sys::zaya_token_event = unsafe { std::mem::zeroed() };
            ev.struct_size = std::mem::size_of::<sys::zaya_token_event>();
            let status = unsafe { sys::zaya_stream_next(self.raw.as_ptr(), &mut ev) };
            if status != sys::ZAYA_OK {
                self.failed = true;
                return Some(Err(Error::last(status)));
            }
            if ev.token >= 0 {
                self.tokens.push(ev.token);
            }
            let piece = unsafe { text(ev.text, ev.text_length) };
            self.text.push_str(&piece);
            self.finish = FinishReason::from_c(ev.finish);
            if !piece.is_empty() {
                return Some(Ok(piece));
            }
        }
        None
    }
}

impl Drop for Generation<'_> {
    fn drop(&mut self) {
        unsafe { sys::zaya_stream_free(self.raw.as_ptr()) }
    }
}

// ---- Markovian RSA --------------------------------------------------------------------------------

/// A Markovian RSA run over a model. Options are set by name (the `zaya rsa` flag names with
/// underscores: "n", "c", "t", "beta", "tau", "seed", "temperature", "tail", "threads", ...).
pub struct Rsa {
    inner: Arc<RsaHandle>,
}

struct RsaHandle(NonNull<sys::zaya_rsa>);

// The C object is one-thread-at-a-time (enforced by &mut on Rsa) except zaya_rsa_cancel.
unsafe impl Send for RsaHandle {}
unsafe impl Sync for RsaHandle {}

impl Drop for RsaHandle {
    fn drop(&mut self) {
        unsafe { sys::zaya_rsa_free(self.0.as_ptr()) }
    }
}

/// Cancels a running [`Rsa::run`] from any thread.
#[derive(Clone)]
pub struct RsaCancelHandle {
    inner: Arc<RsaHandle>,
}

impl RsaCancelHandle {
    pub fn cancel(&self) {
        unsafe { sys::zaya_rsa_cancel(self.inner.0.as_ptr()) }
    }
}

impl Rsa {
    /// A run over `model` from a preset ("single", "light", "recommended", "high", "extra-high").
    pub fn new(model: &Model, preset: &str) -> Result<Rsa> {
        let p = c_string(preset, "preset")?;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::zaya_rsa_new(model.raw.as_ptr(), p.as_ptr(), &mut raw) })?;
        Ok(Rsa { inner: Arc::new(RsaHandle(handle(raw)?)) })
    }

    pub fn set(&mut self, name: &str, value: impl ToString) -> Result<&mut Self> {
        let (n, v) = (c_string(name, "option name")?, c_string(&value.to_string(), "option value")?);
        check(unsafe { sys::zaya_rsa_set(self.inner.0.as_ptr(), n.as_ptr(), v.as_ptr()) })?;
        Ok(self)
    }

    pub fn cancel_handle(&self) -> RsaCancelHandle {
        RsaCancelHandle { inner: self.inner.clone() }
    }

    /// Runs the algorithm on a question; `progress` gets each event as JSON and returns false to
    /// stop. Returns the result JSON (with candidate texts when `include_text`).
    pub fn run(&mut self, question: &str, progress: Option<&mut dyn FnMut(&str) -> bool>, include_text: bool) -> Result<String> {
        struct State<'a> {
            callback: &'a mut dyn FnMut(&str) -> bool,
            panic: PanicSlot,
        }
        unsafe extern "C" fn trampoline(json: *const std::os::raw::c_char, len: usize, user: *mut c_void) -> i32 {
            let state = &mut *(user as *mut State<'_>);
            let event = text(json, len);
            match panic::catch_unwind(AssertUnwindSafe(|| (state.callback)(&event))) {
                Ok(true) => sys::ZAYA_CONTINUE,
                Ok(false) => sys::ZAYA_STOP,
                Err(payload) => {
                    state.panic.0 = Some(payload);
                    sys::ZAYA_STOP
                }
            }
        }
        let mut state = progress.map(|callback| State { callback, panic: PanicSlot(None) });
        let (cb, user): (sys::zaya_rsa_progress_fn, *mut c_void) = match state.as_mut() {
            Some(s) => (Some(trampoline), s as *mut State<'_> as *mut c_void),
            None => (None, ptr::null_mut()),
        };
        let status = unsafe {
            sys::zaya_rsa_run(self.inner.0.as_ptr(), question.as_ptr().cast(), question.len(), ptr::null(), 0, cb, user)
        };
        if let Some(s) = state {
            s.panic.resume();
        }
        check(status)?;
        let (mut json, mut len) = (ptr::null(), 0usize);
        check(unsafe { sys::zaya_rsa_result_json(self.inner.0.as_ptr(), include_text as i32, &mut json, &mut len) })?;
        Ok(unsafe { text(json, len) })
    }

    /// The last run's voted answer.
    pub fn answer(&mut self) -> Result<String> {
        let (mut a, mut len) = (ptr::null(), 0usize);
        check(unsafe { sys::zaya_rsa_answer(self.inner.0.as_ptr(), &mut a, &mut len) })?;
        Ok(unsafe { text(a, len) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}

    #[test]
    fn thread_safety_follows_the_contract() {
        assert_send::<Model>();
        assert_sync::<Model>();
        assert_send::<Tokenizer>();
        assert_sync::<Tokenizer>();
        assert_send::<Context>();
        assert_send::<CancelHandle>();
        assert_sync::<CancelHandle>();
        assert_send::<Generation<'static>>();
        assert_send::<Sampler>();
        assert_send::<ChatTemplate>();
        assert_send::<Rsa>();
        assert_send::<RsaCancelHandle>();
        assert_sync::<RsaCancelHandle>();
    }

    #[test]
    fn defaults_come_from_the_library() {
        let s = SamplingParams::default();
        assert_eq!(s.temperature, 1.0);
        assert_eq!(s.seed, 0x5a41594131);
        assert!(SamplingParams::greedy().greedy);
        assert_eq!(ContextOptions::default().max_context, 4096);
        assert_eq!(GenerateOptions::default().max_tokens, 256);
        assert_eq!(abi_version(), ABI_VERSION);
    }
}
