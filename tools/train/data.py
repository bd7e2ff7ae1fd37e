"""Training examples as token ids: (ids, number of prompt tokens). Loss is on what follows the prompt."""
import random

import arith
from tok import IM_END, BpeTokenizer, render_user_prompt, train_bpe


def plain_example(tk, problem):
    prompt = tk.encode(render_user_prompt(problem.text))
    target = tk.encode(problem.completion()) + [IM_END]
    return prompt + target, len(prompt)


def aggregation_example(tk, problem, tails, target_lines):
    prompt = tk.encode(render_user_prompt(arith.aggregation_text(problem.text, tails)))
    target = tk.encode(problem.completion(target_lines)) + [IM_END]
    return prompt + target, len(prompt)


def tokenizer_corpus(seed=12345, count=3000):
    """Text the BPE is trained on: problems, solutions (plain and re-derived) and aggregation prompts."""
    rng = random.Random(seed)
    texts = []
    for p in arith.make_problems(seed, count, 1, 8):
        texts.append(p.text)
        texts += ["user\n", "assistant\n"]
        texts.append(p.completion([arith.rederive(l) for l in p.lines]))
        if rng.random() < 0.2:
            texts.append(arith.aggregation_text(p.text, [p.reasoning()] * rng.randint(2, 4)))
            texts.append(arith.aggregation_text(p.text, [p.reasoning()]))
    return texts


def build_tokenizer(seed=12345):
    return BpeTokenizer(train_bpe(tokenizer_corpus(seed), max_merges=600, min_count=8))
