#!/usr/bin/env python3
"""examples/python/generate.py - streaming generation through the Python bindings.

    PYTHONPATH=bindings/python python3 examples/python/generate.py <model-dir> [--tokenizer PATH]
        [--prompt TEXT] [--chat] [--max-tokens N] [--temperature T] [--seed S]

With --chat the prompt is sent as a user message through the model's chat template and the
answer is split into reasoning and content at the end.
"""
import argparse
import sys

import zaya


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--tokenizer", default=True)
    ap.add_argument("--prompt", default="Once upon a time")
    ap.add_argument("--chat", action="store_true")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    print("zaya %s, backends: %s" % (zaya.version(), ", ".join(n for n, _ in zaya.backends())), file=sys.stderr)
    try:
        with zaya.Model.load(args.model, tokenizer=args.tokenizer) as model:
            sampling = dict(temperature=args.temperature, top_p=0.95, seed=args.seed)
            if args.chat:
                gen = model.chat([{"role": "user", "content": args.prompt}], stream=True,
                                 max_tokens=args.max_tokens, **sampling)
            else:
                gen = model.generate(args.prompt, max_tokens=args.max_tokens, **sampling)
                print(args.prompt, end="")
            with gen:
                for piece in gen:
                    print(piece, end="", flush=True)
            print("\n[%d tokens, %s]" % (len(gen.tokens), gen.finish_reason))
            if args.chat:
                parsed = zaya.parse_chat_output(gen.text)
                print("[reasoning: %d chars, answer: %d chars]" % (len(parsed["reasoning"]), len(parsed["content"])))
    except zaya.ZayaError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    return 0 if gen.tokens else 1


if __name__ == "__main__":
    sys.exit(main())
