#!/usr/bin/env python3
"""Writes the tiny chat tokenizer used by the C ABI, binding and example tests.

A Gemma-style byte-fallback BPE with 384 ids, so it fits the tiny test models (vocab 384):
  0-7     <pad> <eos> <bos> <unk> <|im_start|> <|im_end|> <think> </think>
  8-263   byte-fallback tokens <0x00> .. <0xFF>
  264-... single characters (space is U+2581 as in SentencePiece), then BPE merges learned
          greedily from the small corpus below until the vocabulary holds 384 ids.
tokenizer_config.json carries a ChatML chat template. Deterministic: rerunning it rewrites
identical files (tests/data/tiny-chat/tokenizer.json, tokenizer_config.json).
"""
import collections
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB_SIZE = 384
SPACE = "\u2581"
SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
CHARS = [SPACE] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + \
        [chr(c) for c in range(ord("A"), ord("Z") + 1)] + list("0123456789") + list(".,!?'\n:-")
CORPUS = """
Hello world! This is the tiny chat model of zaya. It says hello to the user and answers in short
sentences. The user asks a question and the assistant thinks before it writes the answer. What is
the weather in Paris today? It is sunny and warm. Tell me a story about a dragon and a knight.
Once upon a time there was a small dragon who lived in the mountains with the other dragons.
The knight rode to the mountain and the dragon said hello. They became friends and the story ends.
You are a helpful assistant. Answer the question of the user as well as you can. Thank you!
"""


def main():
    vocab = {}
    for token in SPECIALS:
        vocab[token] = len(vocab)
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for c in CHARS:
        vocab[c] = len(vocab)

    words = collections.Counter(
        tuple((SPACE + w) if i else w) for line in CORPUS.strip().split("\n") for i, w in enumerate(line.split(" ")))
    words = collections.Counter({tuple(w): n for w, n in words.items()})
    merges = []
    while len(vocab) < VOCAB_SIZE:
        pairs = collections.Counter()
        for word, n in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merged = a + b
        merges.append(a + " " + b)
        vocab[merged] = len(vocab)
        new_words = collections.Counter()
        for word, n in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
                    out.append(merged)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            new_words[tuple(out)] += n
        words = new_words
    assert len(vocab) == VOCAB_SIZE, len(vocab)

    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for i, t in enumerate(SPECIALS)
        ],
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": SPACE},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}},
        },
        "decoder": {
            "type": "Sequence",
            "decoders": [
                {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
                {"type": "ByteFallback"},
                {"type": "Fuse"},
            ],
        },
        "model": {
            "type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
            "vocab": vocab, "merges": merges,
        },
    }
    template = (
        "{{ bos_token }}"
        "{%- for message in messages %}"
        "{{ '<|im_start|>' + message['role'] + '\\n' }}"
        "{%- if message['role'] == 'assistant' and message.get('reasoning_content') %}"
        "{{ '<think>\\n' + message['reasoning_content'] + '\\n</think>\\n\\n' }}"
        "{%- endif %}"
        "{{ message['content'] + '<|im_end|>\\n' }}"
        "{%- endfor %}"
        "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
        "{%- if enable_thinking is defined and enable_thinking %}{{ '<think>\\n' }}{%- endif %}"
        "{%- endif %}"
    )
    config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": "<bos>",
        "eos_token": "<|im_end|>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "model_max_length": 4096,
        "chat_template": template,
    }
    with open(os.path.join(HERE, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(os.path.join(HERE, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
