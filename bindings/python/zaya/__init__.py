"""zaya: Python bindings for the zaya inference engine (ZAYA1 models), over its stable C ABI.

Standard library only (ctypes). The shared library is found through $ZAYA_LIBRARY, the build
directories of a source checkout, or the system's library path.

    import zaya

    with zaya.Model.load("path/to/ZAYA1-8B") as model:
        for piece in model.generate("The capital of France is", max_tokens=32, temperature=0.7):
            print(piece, end="", flush=True)

        reply = model.chat([{"role": "user", "content": "Hi!"}], max_tokens=256)
        print(reply.content)

Threading follows the C API: a Model and a Tokenizer may be used from many threads; a Context (and
a Generation, which runs on one) from one thread at a time; Generation.cancel() and
Context.cancel() from any thread.
"""
import array
import ctypes
import json
import threading
from collections import namedtuple

from . import _ffi
from ._ffi import lib as _lib  # noqa: F401  (import error surfaces here)

__all__ = [
    "Model", "Tokenizer", "Context", "Generation", "ChatTemplate", "ChatResponse", "Sampler", "ModelInfo", "Rsa",
    "ZayaError", "InvalidArgument", "ZayaIOError", "BadFormat", "Unsupported", "OutOfMemory", "Cancelled",
    "OutOfRange", "LimitExceeded", "TemplateError", "InternalError", "BufferTooSmall", "Busy",
    "version", "abi_version", "backends", "set_log_callback", "parse_chat_output",
]

# ---- errors ----------------------------------------------------------------------------------------


class ZayaError(Exception):
    """A failed zaya call: `status` (the C status code), `status_name` and the library's message."""

    def __init__(self, status, message):
        self.status = status
        self.status_name = _ffi.zaya_status_name(status).decode()
        self.message = message
        super().__init__("%s (%s)" % (message, self.status_name) if message else self.status_name)


class InvalidArgument(ZayaError, ValueError):
    pass


class ZayaIOError(ZayaError, OSError):
    pass


class BadFormat(ZayaError, ValueError):
    pass


class Unsupported(ZayaError):
    pass


class OutOfMemory(ZayaError, MemoryError):
    pass


class Cancelled(ZayaError):
    pass


class OutOfRange(ZayaError, IndexError):
    pass


class LimitExceeded(ZayaError):
    pass


class TemplateError(ZayaError):
    pass


class InternalError(ZayaError):
    pass


class BufferTooSmall(ZayaError):
    pass


class Busy(ZayaError):
    pass


_ERRORS = {1: InvalidArgument, 2: ZayaIOError, 3: BadFormat, 4: Unsupported, 5: OutOfMemory, 6: Cancelled,
           7: OutOfRange, 8: LimitExceeded, 9: TemplateError, 10: InternalError, 100: BufferTooSmall, 101: Busy}


def _error(status):
    message = _ffi.zaya_last_error().decode("utf-8", "replace")
    return _ERRORS.get(status, ZayaError)(status, message)


def _check(status):
    if status != 0:
        raise _error(status)


def _text(s):
    if isinstance(s, bytes):
        return s
    if not isinstance(s, str):
        raise TypeError("expected str, got %s" % type(s).__name__)
    return s.encode("utf-8", "surrogatepass")


def _path(p):
    import os
    return os.fsencode(p)


# ---- library-level ---------------------------------------------------------------------------------


def version():
    """The library's version string, e.g. '0.1.0'."""
    return _ffi.zaya_version().decode()


def abi_version():
    return int(_ffi.zaya_abi_version())


if abi_version() != _ffi.ABI_VERSION:
    raise ImportError("zaya: libzaya implements ABI %d, these bindings need ABI %d" % (abi_version(), _ffi.ABI_VERSION))


def backends():
    """[(name, status)] of every compute backend this build knows."""
    out = []
    for i in range(_ffi.zaya_backend_count()):
        name, status = ctypes.c_char_p(), ctypes.c_char_p()
        _check(_ffi.zaya_backend_info(i, ctypes.byref(name), ctypes.byref(status)))
        out.append((name.value.decode(), status.value.decode()))
    return out


_LEVELS = {"debug": 0, "info": 1, "warn": 2, "warning": 2, "error": 3, "none": 4}
_log_keepalive = None
_log_lock = threading.Lock()


def set_log_callback(callback, level="info"):
    """Calls callback(level_name, message) for library messages at `level` and above; None stops."""
    global _log_keepalive
    names = {0: "debug", 1: "info", 2: "warn", 3: "error"}

    with _log_lock:
        if callback is None:
            _ffi.zaya_set_log_callback(_ffi.log_fn(), None, 4)
            _log_keepalive = None
            return

        def trampoline(lvl, message, _user):
            try:
                callback(names.get(lvl, str(lvl)), message.decode("utf-8", "replace"))
            except Exception:  # never propagate into C
                pass

        fn = _ffi.log_fn(trampoline)
        _ffi.zaya_set_log_callback(fn, None, _LEVELS[level] if isinstance(level, str) else int(level))
        _log_keepalive = fn  # the previous one is no longer called once set returned


def parse_chat_output(text, starts_in_reasoning=False):
    """Splits ZAYA1 output into {'reasoning', 'content', 'tool_calls', ...} (a dict)."""
    data = _text(text)
    out, n = ctypes.POINTER(ctypes.c_char)(), ctypes.c_size_t()
    _check(_ffi.zaya_parse_chat_output(data, len(data), int(bool(starts_in_reasoning)), ctypes.byref(out),
                                       ctypes.byref(n)))
    return json.loads(ctypes.string_at(out, n.value).decode("utf-8"))


# ---- handles ---------------------------------------------------------------------------------------


class _Handle:
    """Owns one C handle; close() (or the context manager, or garbage collection) frees it."""

    _free = None

    def __init__(self, handle):
        self._handle = handle

    @property
    def _h(self):
        if not self._handle:
            raise InvalidArgument(1, "%s is closed" % type(self).__name__)
        return self._handle

    def close(self):
        h, self._handle = getattr(self, "_handle", None), None
        if h:
            type(self)._free(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    @property
    def closed(self):
        return not self._handle


def _new(fn, *args):
    out = ctypes.c_void_p()
    _check(fn(*args, ctypes.byref(out)))
    return out.value


# ---- sampling parameters -------------------------------------------------------------------------

_SAMPLING_KEYS = {"temperature", "top_k", "top_p", "min_p", "repetition_penalty", "presence_penalty",
                  "frequency_penalty", "penalty_last_n", "greedy", "seed", "logit_bias", "banned_tokens",
                  "temperature_placement"}


class _Sampling:
    """A zaya_sampling_params built from keyword arguments, with the arrays it points to kept alive."""

    def __init__(self, kwargs):
        unknown = set(kwargs) - _SAMPLING_KEYS
        if unknown:
            raise TypeError("unknown sampling parameter(s): %s" % ", ".join(sorted(unknown)))
        greedy = kwargs.get("greedy", False)
        self.params = _ffi.init(_ffi.SamplingParams, _ffi.zaya_sampling_params_init_greedy if greedy is True
                                else _ffi.zaya_sampling_params_init)
        p = self.params
        for key in ("temperature", "top_p", "min_p", "repetition_penalty", "presence_penalty", "frequency_penalty"):
            if kwargs.get(key) is not None:
                setattr(p, key, float(kwargs[key]))
        for key in ("top_k", "penalty_last_n", "seed"):
            if kwargs.get(key) is not None:
                setattr(p, key, int(kwargs[key]))
        if greedy is not None and greedy is not True:
            p.greedy = int(bool(greedy))
        placement = kwargs.get("temperature_placement")
        if placement is not None:
            p.temperature_placement = {"before_filters": 0, "after_filters": 1}.get(placement, placement)
        bias = kwargs.get("logit_bias") or {}
        if bias:
            items = list(bias.items())
            self._bias_ids = (ctypes.c_int32 * len(items))(*[int(k) for k, _ in items])
            self._bias_values = (ctypes.c_float * len(items))(*[float(v) for _, v in items])
            p.logit_bias_ids = self._bias_ids
            p.logit_bias_values = self._bias_values
            p.n_logit_bias = len(items)
        banned = list(kwargs.get("banned_tokens") or ())
        if banned:
            self._banned = (ctypes.c_int32 * len(banned))(*banned)
            p.banned_tokens = self._banned
            p.n_banned_tokens = len(banned)


def _split_kwargs(kwargs):
    sampling = {k: v for k, v in kwargs.items() if k in _SAMPLING_KEYS}
    rest = {k: v for k, v in kwargs.items() if k not in _SAMPLING_KEYS}
    return sampling, rest


class Sampler(_Handle):
    """Turns a row of logits into a token id: Sampler(temperature=0.7, top_p=0.9, seed=1)."""

    _free = staticmethod(_ffi.zaya_sampler_free)

    def __init__(self, **sampling):
        s = _Sampling(sampling)
        super().__init__(_new(_ffi.zaya_sampler_new, ctypes.byref(s.params)))

    def sample(self, logits, history=(), step=0, allowed_vocab=0):
        row = logits if isinstance(logits, ctypes.Array) else (ctypes.c_float * len(logits))(*logits)
        hist = (ctypes.c_int32 * len(history))(*history)
        token = ctypes.c_int32()
        _check(_ffi.zaya_sampler_sample(self._h, row, len(row), hist, len(history), int(step), int(allowed_vocab),
                                        ctypes.byref(token), None))
        return token.value


# ---- tokenizer -------------------------------------------------------------------------------------


class ChatTemplate(_Handle):
    """A parsed Jinja chat template (from a tokenizer, or from source)."""

    _free = staticmethod(_ffi.zaya_chat_template_free)

    def __init__(self, handle):
        super().__init__(handle)
        self._lock = threading.Lock()  # the C object is one-thread-at-a-time

    @classmethod
    def parse(cls, source):
        data = _text(source)
        return cls(_new(_ffi.zaya_chat_template_parse, data, len(data)))

    def render(self, messages, add_generation_prompt=True, tools=None, **extra):
        """Renders a list of {'role', 'content'} dicts to prompt text (like HF apply_chat_template)."""
        msgs = json.dumps(messages, ensure_ascii=False).encode("utf-8")
        p = _ffi.init(_ffi.ChatParams, _ffi.zaya_chat_params_init)
        p.add_generation_prompt = int(bool(add_generation_prompt))
        if tools is not None:
            t = json.dumps(tools, ensure_ascii=False).encode("utf-8")
            p.tools_json, p.tools_json_length = t, len(t)
        if extra:
            e = json.dumps(extra, ensure_ascii=False).encode("utf-8")
            p.extra_json, p.extra_json_length = e, len(e)
        out, n = ctypes.POINTER(ctypes.c_char)(), ctypes.c_size_t()
        with self._lock:
            _check(_ffi.zaya_chat_template_render(self._h, msgs, len(msgs), ctypes.byref(p), ctypes.byref(out),
                                                  ctypes.byref(n)))
            return ctypes.string_at(out, n.value).decode("utf-8")


class Tokenizer(_Handle):
    """Text <-> token ids (Hugging Face tokenizer.json). Safe to share between threads."""

    _free = staticmethod(_ffi.zaya_tokenizer_free)

    def __init__(self, handle):
        super().__init__(handle)
        self._template = None
        self._template_lock = threading.Lock()

    @classmethod
    def load(cls, path):
        """From a tokenizer.json file or a directory holding one (plus tokenizer_config.json ...)."""
        return cls(_new(_ffi.zaya_tokenizer_load, _path(path)))

    def encode(self, text, add_special_tokens=False):
        data = _text(text)
        n = ctypes.c_size_t()
        status = _ffi.zaya_tokenize(self._h, data, len(data), int(add_special_tokens), None, 0, ctypes.byref(n))
        if status not in (0, 100):
            raise _error(status)
        ids = (ctypes.c_int32 * max(n.value, 1))()
        _check(_ffi.zaya_tokenize(self._h, data, len(data), int(add_special_tokens), ids, len(ids), ctypes.byref(n)))
        return list(ids[:n.value])

    def decode(self, ids, skip_special_tokens=False):
        ids = list(ids)
        arr = (ctypes.c_int32 * len(ids))(*ids)
        n = ctypes.c_size_t()
        status = _ffi.zaya_detokenize(self._h, arr, len(ids), int(skip_special_tokens), None, 0, ctypes.byref(n))
        if status not in (0, 100):
            raise _error(status)
        buf = ctypes.create_string_buffer(n.value + 1)
        _check(_ffi.zaya_detokenize(self._h, arr, len(ids), int(skip_special_tokens), buf, len(buf), ctypes.byref(n)))
        return buf.raw[:n.value].decode("utf-8")

    @property
    def vocab_size(self):
        n = ctypes.c_size_t()
        _check(_ffi.zaya_tokenizer_vocab_size(self._h, ctypes.byref(n)))
        return n.value

    def __len__(self):
        return self.vocab_size

    def token_to_id(self, token):
        data = _text(token)
        out = ctypes.c_int32()
        _check(_ffi.zaya_tokenizer_token_id(self._h, data, len(data), ctypes.byref(out)))
        return None if out.value < 0 else out.value

    def id_to_token(self, token_id):
        n = ctypes.c_size_t()
        buf = ctypes.create_string_buffer(256)
        status = _ffi.zaya_tokenizer_token_text(self._h, int(token_id), buf, len(buf), ctypes.byref(n))
        if status == 100:
            buf = ctypes.create_string_buffer(n.value + 1)
            status = _ffi.zaya_tokenizer_token_text(self._h, int(token_id), buf, len(buf), ctypes.byref(n))
        _check(status)
        return buf.raw[:n.value].decode("utf-8", "replace")

    def is_special(self, token_id):
        out = ctypes.c_int32()
        _check(_ffi.zaya_tokenizer_is_special(self._h, int(token_id), ctypes.byref(out)))
        return bool(out.value)

    def _special(self, which):
        out = ctypes.c_int32()
        _check(_ffi.zaya_tokenizer_special_id(self._h, which, ctypes.byref(out)))
        return None if out.value < 0 else out.value

    bos_id = property(lambda self: self._special(0))
    eos_id = property(lambda self: self._special(1))
    pad_id = property(lambda self: self._special(2))
    unk_id = property(lambda self: self._special(3))

    @property
    def chat_template(self):
        """The tokenizer's ChatTemplate (raises Unsupported if it has none)."""
        with self._template_lock:
            if self._template is None:
                self._template = ChatTemplate(_new(_ffi.zaya_chat_template_from_tokenizer, self._h))
            return self._template

    def apply_chat_template(self, messages, add_generation_prompt=True, tools=None, **extra):
        return self.chat_template.render(messages, add_generation_prompt=add_generation_prompt, tools=tools, **extra)

    def detokenizer(self, skip_special_tokens=False):
        """An incremental decoder: push(id) -> text that became final; finish() -> the rest."""
        return _Detokenizer(_new(_ffi.zaya_detokenizer_new, self._h, int(skip_special_tokens)))

    def close(self):
        if getattr(self, "_template", None) is not None:
            self._template.close()
        super().close()


class _Detokenizer(_Handle):
    _free = staticmethod(_ffi.zaya_detokenizer_free)

    def push(self, token_id):
        out, n = ctypes.POINTER(ctypes.c_char)(), ctypes.c_size_t()
        _check(_ffi.zaya_detokenizer_push(self._h, int(token_id), ctypes.byref(out), ctypes.byref(n)))
        return ctypes.string_at(out, n.value).decode("utf-8")

    def finish(self):
        out, n = ctypes.POINTER(ctypes.c_char)(), ctypes.c_size_t()
        _check(_ffi.zaya_detokenizer_finish(self._h, ctypes.byref(out), ctypes.byref(n)))
        return ctypes.string_at(out, n.value).decode("utf-8", "replace")


# ---- generation ------------------------------------------------------------------------------------

FINISH_REASONS = {0: None, 1: "stop_token", 2: "stop_string", 3: "max_tokens", 4: "context_full", 5: "cancelled"}


class _RequestBuilder:
    """A zaya_request and everything it points to, kept alive together."""

    def __init__(self, prompt=None, sequence=0, max_tokens=256, stop=None, stop_tokens=None, stop_at_eos=True,
                 add_special_tokens=True, start_logits=None, sampling=None):
        self.request = _ffi.init(_ffi.Request, _ffi.zaya_request_init)
        r = self.request
        r.sequence = int(sequence)
        r.max_tokens = int(max_tokens)
        r.stop_at_eos = int(bool(stop_at_eos))
        if isinstance(prompt, (str, bytes)):
            self._prompt = _text(prompt)
            r.prompt_text = self._prompt
            r.prompt_text_length = len(self._prompt)
            r.add_special_tokens = int(bool(add_special_tokens))
        elif prompt is not None:
            ids = list(prompt)
            self._prompt = (ctypes.c_int32 * len(ids))(*ids)
            r.prompt_tokens = self._prompt
            r.n_prompt_tokens = len(ids)
        if start_logits is not None:
            self._start = (ctypes.c_float * len(start_logits))(*start_logits)
            r.start_logits = self._start
            r.n_start_logits = len(start_logits)
        if isinstance(stop, (str, bytes)):
            stop = [stop]
        if stop:
            self._stops_bytes = [_text(s) for s in stop]
            self._stops = (ctypes.c_char_p * len(stop))(*self._stops_bytes)
            r.stop_strings = self._stops
            r.n_stop_strings = len(stop)
        if stop_tokens:
            self._stop_tokens = (ctypes.c_int32 * len(stop_tokens))(*stop_tokens)
            r.stop_tokens = self._stop_tokens
            r.n_stop_tokens = len(stop_tokens)
        self._sampling = _Sampling(sampling or {})
        r.sampling = ctypes.pointer(self._sampling.params)


class Generation(_Handle):
    """Streaming generation on one sequence: iterate to get text pieces as they are produced.

    After the iteration ends, `finish_reason` says why ('stop_token', 'stop_string', 'max_tokens',
    'context_full' or 'cancelled'), `tokens` holds the generated ids and `text` the whole text.
    cancel() may be called from any thread.
    """

    _free = staticmethod(_ffi.zaya_stream_free)

    def __init__(self, context, builder, owns_context=False):
        self._context = context
        self._owns_context = owns_context
        self._builder = builder
        super().__init__(_new(_ffi.zaya_stream_new, context._h, ctypes.byref(builder.request)))
        self.tokens = []
        self.text = ""
        self.finish_reason = None
        self._event = _ffi.TokenEvent()
        self._event.struct_size = ctypes.sizeof(self._event)

    def __iter__(self):
        return self

    def __next__(self):
        while self.finish_reason is None:
            if not self._handle:
                raise StopIteration
            _check(_ffi.zaya_stream_next(self._handle, ctypes.byref(self._event)))
            ev = self._event
            if ev.token >= 0:
                self.tokens.append(ev.token)
            piece = ctypes.string_at(ev.text, ev.text_length).decode("utf-8", "replace") if ev.text_length else ""
            self.text += piece
            if ev.finish != 0:
                self.finish_reason = FINISH_REASONS.get(ev.finish, "unknown")
                if self._owns_context:
                    self.close()
            if piece:
                return piece
        raise StopIteration

    def read(self):
        """Runs to the end and returns the whole text."""
        for _ in self:
            pass
        return self.text

    def cancel(self):
        """From any thread: the generation ends with finish_reason 'cancelled'."""
        ctx = self._context
        if ctx is not None and ctx._handle:
            _ffi.zaya_context_cancel(ctx._handle)

    def close(self):
        super().close()
        if self._owns_context and self._context is not None:
            self._context.close()


ChatResponse = namedtuple("ChatResponse", "text reasoning content tool_calls finish_reason tokens")


class Context(_Handle):
    """A set of sequences with their caches: decode, logits, fork / truncate / clear, state, generate."""

    _free = staticmethod(_ffi.zaya_context_free)

    _KV_CACHE_TYPES = {"f32": 0, "f16": 1}  # ZAYA_KV_F32, ZAYA_KV_F16

    def __init__(self, model, max_sequences=1, max_context=4096, threads=0, truncate_window=64, kv_cache="f32"):
        """kv_cache: "f32" (exact) or "f16" (half the KV bytes; logits move by ~1e-3 relative)."""
        if kv_cache not in self._KV_CACHE_TYPES:
            raise ValueError(f"kv_cache must be 'f32' or 'f16', not {kv_cache!r}")
        p = _ffi.init(_ffi.ContextParams, _ffi.zaya_context_params_init)
        p.max_sequences, p.max_context, p.threads, p.truncate_window = max_sequences, max_context, threads, truncate_window
        p.kv_cache_type = self._KV_CACHE_TYPES[kv_cache]
        self.model = model
        super().__init__(_new(_ffi.zaya_context_new, model._h, ctypes.byref(p)))

    @property
    def limits(self):
        seqs, ctx_len, threads = ctypes.c_int32(), ctypes.c_int64(), ctypes.c_int32()
        _check(_ffi.zaya_context_get_limits(self._h, ctypes.byref(seqs), ctypes.byref(ctx_len), ctypes.byref(threads)))
        return {"max_sequences": seqs.value, "max_context": ctx_len.value, "threads": threads.value}

    def decode(self, batch):
        """batch: iterable of (sequence, token, want_logits). Returns the number of logits rows."""
        items = [(int(s), int(t), int(bool(lg))) for s, t, lg in batch]
        arr = (_ffi.BatchToken * len(items))(*[_ffi.BatchToken(*it) for it in items])
        _check(_ffi.zaya_decode(self._h, arr, len(items)))
        return sum(it[2] for it in items)

    def prefill(self, sequence, tokens):
        """Appends tokens to a sequence; returns the logits after the last one."""
        ids = list(tokens)
        arr = (ctypes.c_int32 * len(ids))(*ids)
        _check(_ffi.zaya_prefill(self._h, int(sequence), arr, len(ids)))
        return self.logits(0)

    def logits(self, row=0):
        """Row `row` of the last decode's logits as array('f')."""
        ptr, n = ctypes.POINTER(ctypes.c_float)(), ctypes.c_size_t()
        _check(_ffi.zaya_logits(self._h, int(row), ctypes.byref(ptr), ctypes.byref(n)))
        out = array.array("f")
        out.frombytes(ctypes.string_at(ptr, n.value * 4))
        return out

    def length(self, sequence=0):
        n = ctypes.c_int64()
        _check(_ffi.zaya_sequence_length(self._h, int(sequence), ctypes.byref(n)))
        return n.value

    def clear(self, sequence=0):
        _check(_ffi.zaya_sequence_clear(self._h, int(sequence)))

    def fork(self, source, target):
        _check(_ffi.zaya_sequence_fork(self._h, int(source), int(target)))

    def truncate(self, sequence, length):
        _check(_ffi.zaya_sequence_truncate(self._h, int(sequence), int(length)))

    def save_state(self, sequence=0):
        """The sequence's full state (caches included) as bytes."""
        n = ctypes.c_size_t()
        status = _ffi.zaya_sequence_save(self._h, int(sequence), None, 0, ctypes.byref(n))
        if status not in (0, 100):
            raise _error(status)
        buf = ctypes.create_string_buffer(max(n.value, 1))
        _check(_ffi.zaya_sequence_save(self._h, int(sequence), buf, len(buf), ctypes.byref(n)))
        return buf.raw[:n.value]

    def load_state(self, sequence, state):
        data = bytes(state)
        _check(_ffi.zaya_sequence_load(self._h, int(sequence), data, len(data)))

    def cancel(self):
        """From any thread: stop what runs on this context (and its streams)."""
        if self._handle:
            _ffi.zaya_context_cancel(self._handle)

    def generate(self, prompt=None, sequence=0, max_tokens=256, stop=None, stop_tokens=None, stop_at_eos=True,
                 add_special_tokens=True, start_logits=None, **sampling):
        """A Generation (iterator of text pieces) on `sequence` of this context."""
        builder = _RequestBuilder(prompt, sequence, max_tokens, stop, stop_tokens, stop_at_eos, add_special_tokens,
                                  start_logits, sampling)
        return Generation(self, builder)

    def generate_batch(self, requests, on_token=None):
        """Runs several requests (dicts of generate()'s arguments, distinct `sequence`s) as one batch.

        on_token(request_index, token, text, finish_reason) is called for every event; return False
        to stop that request. Returns one dict per request: finish_reason, tokens, text.
        """
        builders = [_RequestBuilder(**_request_args(r)) for r in requests]
        n = len(builders)
        reqs = (_ffi.Request * n)(*[b.request for b in builders])
        results = (_ffi.Result * n)()
        for r in results:
            _ffi.zaya_result_init(ctypes.byref(r), ctypes.sizeof(r))
        out = [{"tokens": [], "text": "", "finish_reason": None} for _ in range(n)]
        error = []

        def trampoline(ev_ptr, _user):
            try:
                ev = ev_ptr.contents
                piece = ctypes.string_at(ev.text, ev.text_length).decode("utf-8", "replace")
                o = out[ev.request]
                if ev.token >= 0:
                    o["tokens"].append(ev.token)
                o["text"] += piece
                if on_token is not None:
                    keep = on_token(ev.request, ev.token, piece, FINISH_REASONS.get(ev.finish))
                    return 0 if keep is None or keep else 1
                return 0
            except BaseException as e:  # never propagate into C; re-raised after the call
                error.append(e)
                return 1

        cb = _ffi.token_fn(trampoline)
        status = _ffi.zaya_generate(self._h, reqs, n, cb, None, results)
        if error:
            raise error[0]
        _check(status)
        for o, r in zip(out, results):
            o["finish_reason"] = FINISH_REASONS.get(r.finish, "unknown")
        return out


def _request_args(r):
    args = dict(r)
    sampling, rest = _split_kwargs(args)
    rest["sampling"] = sampling
    return rest


class Rsa(_Handle):
    """A Markovian RSA run over a model (test-time compute: populations that aggregate).

        with model.rsa(preset="light", n=4, t=1, seed=3) as run:
            result = run.run("What is 17 * 23? Answer in \\boxed{}.")
            print(result["answer"], result["stopped_by"])

    Options are the names of `zaya rsa`'s flags with underscores (n, c, t, beta, tau, seed,
    temperature, top_p, tail, max_decode_tokens, threads, enable_thinking, ...). cancel() may be
    called from any thread; the run then returns the best answer so far.
    """

    _free = staticmethod(_ffi.zaya_rsa_free)

    def __init__(self, model, preset="recommended", **options):
        super().__init__(_new(_ffi.zaya_rsa_new, model._h, _text(preset)))
        self.model = model
        for name, value in options.items():
            self.set(name, value)

    def set(self, name, value):
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif value is None:
            value = "default"
        _check(_ffi.zaya_rsa_set(self._h, _text(name), _text(str(value))))

    def run(self, question="", prompt_ids=None, progress=None, include_text=False):
        """Runs to the end (or a budget / cancel); returns the result as a dict (see zaya.h)."""
        data = _text(question)
        ids = list(prompt_ids or ())
        arr = (ctypes.c_int32 * len(ids))(*ids)
        error = []

        def trampoline(ptr, n, _user):
            try:
                keep = progress(json.loads(ctypes.string_at(ptr, n).decode("utf-8")))
                return 0 if keep is None or keep else 1
            except BaseException as e:
                error.append(e)
                return 1
        cb = _ffi.rsa_progress_fn(trampoline) if progress is not None else _ffi.rsa_progress_fn()
        status = _ffi.zaya_rsa_run(self._h, data, len(data), arr, len(ids), cb, None)
        if error:
            raise error[0]
        _check(status)
        return self.result(include_text)

    def cancel(self):
        if self._handle:
            _ffi.zaya_rsa_cancel(self._handle)

    @property
    def answer(self):
        out, n = ctypes.POINTER(ctypes.c_char)(), ctypes.c_size_t()
        _check(_ffi.zaya_rsa_answer(self._h, ctypes.byref(out), ctypes.byref(n)))
        return ctypes.string_at(out, n.value).decode("utf-8")

    def result(self, include_text=False):
        out, n = ctypes.POINTER(ctypes.c_char)(), ctypes.c_size_t()
        _check(_ffi.zaya_rsa_result_json(self._h, int(bool(include_text)), ctypes.byref(out), ctypes.byref(n)))
        return json.loads(ctypes.string_at(out, n.value).decode("utf-8"))


ModelInfo = namedtuple("ModelInfo", "vocab_size hidden_size layers experts max_position bos_id eos_id total_params "
                       "active_params stored_bytes has_tokenizer has_chat_template backend backend_log directory "
                       "stored_dtypes head_shortlist_bytes")


class Model(_Handle):
    """A loaded ZAYA1 model (weights + tokenizer). Immutable; share it between threads freely."""

    _free = staticmethod(_ffi.zaya_model_free)

    @classmethod
    def load(cls, path, backend="auto", tokenizer=True, progress=None, skip_semantics="scale_input",
             head_shortlist=0):
        """Loads a Hugging Face checkpoint directory.

        tokenizer: True (the one in the directory, if any), False (ids only) or a path.
        progress: callable(fraction) -> return False to cancel the load (raises Cancelled).
        head_shortlist: 0 (default) or K > 0: a cheaper copy of the LM head (Q4_0, or 2-bit for
        a 4-bit head) scores the vocabulary and each row's K best tokens are rescored exactly
        (opt-in; see docs/PERFORMANCE.md).
        """
        p = _ffi.init(_ffi.ModelParams, _ffi.zaya_model_params_init)
        backend_bytes = _text(backend)
        p.backend = backend_bytes
        p.skip_semantics = {"scale_input": 0, "zero": 1}[skip_semantics]
        p.head_shortlist = head_shortlist
        tok_path = None
        if tokenizer is False or tokenizer is None:
            p.load_tokenizer = 0
        elif tokenizer is not True:
            tok_path = _path(tokenizer)
            p.tokenizer_path = tok_path
        error = []
        if progress is not None:
            def trampoline(fraction, _user):
                try:
                    return 0 if progress(fraction) is not False else 1
                except BaseException as e:
                    error.append(e)
                    return 1
            cb = _ffi.progress_fn(trampoline)
            p.progress = cb
        out = ctypes.c_void_p()
        status = _ffi.zaya_model_load(_path(path), ctypes.byref(p), ctypes.byref(out))
        if error:
            raise error[0]
        _check(status)
        return cls(out.value)

    def __init__(self, handle):
        super().__init__(handle)
        self._tokenizer = None
        self._tokenizer_loaded = False

    @property
    def info(self):
        i = _ffi.ModelInfo()
        i.struct_size = ctypes.sizeof(i)
        _check(_ffi.zaya_model_get_info(self._h, ctypes.byref(i)))
        values = []
        for name in ModelInfo._fields:
            v = getattr(i, name)
            values.append(v.decode("utf-8", "replace") if isinstance(v, bytes) else
                          bool(v) if name.startswith("has_") else v)
        return ModelInfo(*values)

    @property
    def tokenizer(self):
        """The model's Tokenizer, or None for an ids-only model."""
        if not self._tokenizer_loaded:
            out = ctypes.c_void_p()
            _check(_ffi.zaya_model_get_tokenizer(self._h, ctypes.byref(out)))
            self._tokenizer = Tokenizer(out.value) if out.value else None
            self._tokenizer_loaded = True
        return self._tokenizer

    def context(self, max_sequences=1, max_context=4096, threads=0, truncate_window=64, kv_cache="f32"):
        return Context(self, max_sequences, max_context, threads, truncate_window, kv_cache)

    def rsa(self, preset="recommended", **options):
        """A Markovian RSA run configuration (see Rsa)."""
        return Rsa(self, preset, **options)

    def generate(self, prompt, max_tokens=256, stop=None, stop_tokens=None, stop_at_eos=True, add_special_tokens=True,
                 threads=0, **sampling):
        """Streams the continuation of `prompt` (text or ids) as an iterator of text pieces.

        Sampling parameters are keyword arguments: temperature, top_k, top_p, min_p, seed,
        repetition_penalty, presence_penalty, frequency_penalty, penalty_last_n, greedy,
        logit_bias ({id: bias}), banned_tokens, temperature_placement.
        """
        ctx = self.context(max_context=self._context_size(prompt, max_tokens), threads=threads)
        try:
            builder = _RequestBuilder(prompt, 0, max_tokens, stop, stop_tokens, stop_at_eos, add_special_tokens,
                                      None, sampling)
            return Generation(ctx, builder, owns_context=True)
        except BaseException:
            ctx.close()
            raise

    def chat(self, messages, stream=False, max_tokens=1024, tools=None, enable_thinking=None, stop=None, threads=0,
             **sampling):
        """Answers a conversation ([{'role': ..., 'content': ...}]) through the chat template.

        stream=True returns a Generation (iterator of text pieces); otherwise a ChatResponse with
        the text split into reasoning, content and tool calls.
        """
        tok = self.tokenizer
        if tok is None:
            raise Unsupported(4, "chat needs a model with a tokenizer")
        extra = {}
        if enable_thinking is not None:
            extra["enable_thinking"] = bool(enable_thinking)
        prompt = tok.apply_chat_template(messages, add_generation_prompt=True, tools=tools, **extra)
        gen = self.generate(prompt, max_tokens=max_tokens, stop=stop, add_special_tokens=False, threads=threads,
                            **sampling)
        if stream:
            return gen
        with gen:
            text = gen.read()
        starts_in_reasoning = prompt.rstrip().endswith("<think>")
        parsed = parse_chat_output(text, starts_in_reasoning=starts_in_reasoning)
        return ChatResponse(text, parsed["reasoning"], parsed["content"], parsed["tool_calls"], gen.finish_reason,
                            gen.tokens)

    def _context_size(self, prompt, max_tokens):
        if isinstance(prompt, (str, bytes)):
            n = len(_text(prompt)) + 2  # an upper bound on the token count
        else:
            n = len(prompt)
        return max(1, min(n + int(max_tokens) + 1, self.info.max_position))

