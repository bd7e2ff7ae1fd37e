"""The default model's own small byte-level BPE tokenizer: training, encoding, HF files.

Pipeline (the HF `tokenizers` components zaya implements):
  added tokens   <pad> <eos> <bos> <|im_start|> <|im_end|> <think> </think>   (ids 0..6)
  pre-tokenizer  Sequence[ByteLevel(GPT-2 regex, no prefix space), Digits(individual)]
                 -> every digit is its own token, words keep their leading space
  model          BPE over the 256 byte-level symbols (ids 7..262) + learned merges
  decoder        ByteLevel
  post-processor TemplateProcessing: <bos> $A  (raw prompts; chat prompts get <bos> from the
                 template and are encoded without special tokens)

`BpeTokenizer.encode` reproduces what zaya's tokenizer does with these files (checked by
tools/train/check_tokenizer.py through `zaya tokenize`). Stdlib only.
"""
import collections
import json
import re

SPECIALS = ["<pad>", "<eos>", "<bos>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
PAD, EOS, BOS, IM_START, IM_END, THINK, END_THINK = range(7)

# GPT-2's pre-tokenizer regex, restricted to ASCII letters / digits (\p{L} -> [A-Za-z],
# \p{N} -> [0-9]). Non-ASCII text still encodes, through the byte-level symbols, but Python's
# split of it may differ from the Unicode one; the training data is ASCII.
GPT2_RE = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_ENC = bytes_to_unicode()
BYTE_DEC = {v: k for k, v in BYTE_ENC.items()}


def pre_tokenize(text):
    """Text (no added tokens) -> byte-level pre-tokens, digits isolated."""
    out = []
    for piece in GPT2_RE.findall(text):
        mapped = "".join(BYTE_ENC[b] for b in piece.encode("utf-8"))
        cur = ""
        for ch in mapped:
            if ch.isdigit():
                if cur:
                    out.append(cur)
                    cur = ""
                out.append(ch)
            else:
                cur += ch
        if cur:
            out.append(cur)
    return out


def train_bpe(texts, max_merges=600, min_count=8):
    """Plain BPE on pre-token counts. Ties go to the lexicographically smallest pair."""
    counts = collections.Counter()
    for t in texts:
        counts.update(pre_tokenize(t))
    words = {w: list(w) for w in counts}
    merges = []
    for _ in range(max_merges):
        pairs = collections.Counter()
        for w, syms in words.items():
            c = counts[w]
            for a, b in zip(syms, syms[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        if best[1] < min_count:
            break
        a, b = best[0]
        merges.append((a, b))
        for w, syms in words.items():
            i, out = 0, []
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            words[w] = out
    return merges


class BpeTokenizer:
    def __init__(self, merges):
        self.merges = [tuple(m) for m in merges]
        self.rank = {m: i for i, m in enumerate(self.merges)}
        self.vocab = {s: i for i, s in enumerate(SPECIALS)}
        for b in range(256):
            self.vocab[BYTE_ENC[b]] = len(self.vocab)
        for a, b in self.merges:
            if a + b not in self.vocab:
                self.vocab[a + b] = len(self.vocab)
        self.id_to_token = {i: s for s, i in self.vocab.items()}
        self.cache = {}
        self.special_re = re.compile("(" + "|".join(re.escape(s) for s in SPECIALS) + ")")

    def __len__(self):
        return len(self.vocab)

    def _bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        syms = list(word)
        while len(syms) > 1:
            best, best_rank = None, None
            for i in range(len(syms) - 1):
                r = self.rank.get((syms[i], syms[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = i, r
            if best is None:
                break
            a, b = syms[best], syms[best + 1]
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            syms = out
        ids = [self.vocab[s] for s in syms]
        self.cache[word] = ids
        return ids

    def encode(self, text, add_bos=False):
        ids = [BOS] if add_bos else []
        for part in self.special_re.split(text):
            if not part:
                continue
            if part in self.vocab and part in SPECIALS:
                ids.append(self.vocab[part])
                continue
            for w in pre_tokenize(part):
                ids += self._bpe(w)
        return ids

    def decode(self, ids, skip_special=False):
        out, buf = [], []
        for i in ids:
            s = self.id_to_token[int(i)]
            if s in SPECIALS:
                if buf:
                    out.append(bytes(BYTE_DEC[c] for c in "".join(buf)).decode("utf-8", "replace"))
                    buf = []
                if not skip_special:
                    out.append(s)
            else:
                buf.append(s)
        if buf:
            out.append(bytes(BYTE_DEC[c] for c in "".join(buf)).decode("utf-8", "replace"))
        return "".join(out)

    # ---- HF files ------------------------------------------------------------------------------

    def tokenizer_json(self):
        added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": False, "special": s not in ("<think>", "</think>")} for i, s in enumerate(SPECIALS)]
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
                {"type": "Digits", "individual_digits": True}]},
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<bos>": {"id": "<bos>", "ids": [BOS], "tokens": ["<bos>"]}}},
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                      "vocab": self.vocab, "merges": [f"{a} {b}" for a, b in self.merges]},
        }

    @staticmethod
    def from_tokenizer_json(path):
        with open(path) as f:
            d = json.load(f)
        return BpeTokenizer([tuple(m.split(" ")) for m in d["model"]["merges"]])


# ---- chat template --------------------------------------------------------------------------------

CHAT_TEMPLATE = """{{- bos_token -}}
{%- for message in messages -%}
{%- if message.role == 'assistant' and message.reasoning_content is defined and message.reasoning_content -%}
<|im_start|>assistant
<think>
{{ message.reasoning_content }}
</think>

{{ message.content }}<|im_end|>
{% else -%}
<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
{% endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
<|im_start|>assistant
{% if enable_thinking is defined and enable_thinking is false %}<think>

</think>

{% else %}<think>
{% endif -%}
{%- endif -%}
"""


def render_user_prompt(text):
    """What CHAT_TEMPLATE renders for one user turn with add_generation_prompt (thinking on)."""
    return f"<bos><|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n<think>\n"


def tokenizer_config():
    return {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": "<bos>",
        "eos_token": "<|im_end|>",
        "pad_token": "<pad>",
        "unk_token": None,
        "model_max_length": 4096,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": CHAT_TEMPLATE,
    }
