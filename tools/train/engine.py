"""The zaya engine from Python (its C ABI through bindings/python): batched sampling and RSA runs.

Everything the training pipeline samples (the model's own candidates for the aggregation data)
and everything the evaluation measures goes through the engine, so the numbers are the engine's.
The shared library is $ZAYA_LIBRARY, else build-train/ or build/ of this checkout.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
if "ZAYA_LIBRARY" not in os.environ:
    for b in ("build-train", "build"):
        p = os.path.join(ROOT, b, "capi", "libzaya.so")
        if os.path.exists(p):
            os.environ["ZAYA_LIBRARY"] = p
            break

import zaya  # noqa: E402

from tok import END_THINK, IM_END, BpeTokenizer, render_user_prompt  # noqa: E402


def split_output(tk, tokens):
    """(reasoning text, answer text, finished) of a completion that started inside <think>.
    The reasoning is what the engine carries as a tail (special tokens dropped, trimmed)."""
    if END_THINK in tokens:
        i = tokens.index(END_THINK)
        r, a = tokens[:i], tokens[i + 1:]
    else:
        r, a = tokens, []
    finished = bool(tokens) and tokens[-1] == IM_END
    return tk.decode(r, skip_special=True).strip(), tk.decode(a, skip_special=True).strip(), finished


class Engine:
    def __init__(self, model_dir, threads=1, max_sequences=64, max_context=1024):
        self.model = zaya.Model.load(model_dir)
        self.tk = BpeTokenizer.from_tokenizer_json(os.path.join(model_dir, "tokenizer.json"))
        self.threads = threads
        self.max_sequences = max_sequences
        self.ctx = self.model.context(max_sequences=max_sequences, max_context=max_context, threads=threads)

    def close(self):
        self.ctx.close()
        self.model.close()

    def generate(self, prompts, max_tokens, greedy=False, temperature=1.0, top_p=1.0, seeds=None):
        """prompts: list of id lists. Returns a list of token lists (a final <|im_end|> included)."""
        out = []
        for start in range(0, len(prompts), self.max_sequences):
            chunk = prompts[start:start + self.max_sequences]
            reqs = []
            for j, ids in enumerate(chunk):
                self.ctx.clear(j)
                r = {"prompt": ids, "sequence": j, "max_tokens": max_tokens}
                if greedy:
                    r["greedy"] = True
                else:
                    r.update(temperature=temperature, top_p=top_p, seed=seeds[start + j])
                reqs.append(r)
            res = self.ctx.generate_batch(reqs)
            out += [r["tokens"] for r in res]
        return out

    def solve(self, problems, max_tokens=160, **kw):
        prompts = [self.tk.encode(render_user_prompt(p.text)) for p in problems]
        return self.generate(prompts, max_tokens, **kw)

    def rsa(self, question, n, c, t, beta, tau, seed, temperature=1.0, top_p=1.0):
        with self.model.rsa(preset="light", n=n, c=c, t=t, beta=beta, tau=tau, seed=seed, temperature=temperature,
                            top_p=top_p, threads=self.threads) as run:
            return run.run(question)
