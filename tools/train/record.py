"""Records the seeded Markovian RSA run that tests/test_default_model.cpp replays.

Runs RSA through the engine on the held-out problems in order and keeps the first one where the
round-0 candidates disagree and the RSA answer is right (a run where aggregation had something to
do), with the engine's full result JSON.   usage: record.py --model DIR [--out FILE]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine  # noqa: E402
from evaluate import load_heldout  # noqa: E402

CONFIG = {"n": 4, "c": 3, "t": 1, "beta": 160, "tau": 96, "seed": 7}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    e = engine.Engine(a.model, threads=1)
    for i, p in enumerate(load_heldout()):
        r = e.rsa(p.text, **CONFIG)
        round0 = {c["answer"] for c in r["stages"][0]["candidates"]}
        if len(round0) > 1 and r["answer"] == str(p.answer):
            rec = {"heldout_index": i, "question": p.text, "gold": str(p.answer), "config": CONFIG, "result": r}
            out = a.out or os.path.join(a.model, "rsa_reference.json")
            with open(out, "w") as f:
                json.dump(rec, f, indent=1)
                f.write("\n")
            print(f"recorded held-out problem {i}: round-0 answers {sorted(round0)}, RSA answer {r['answer']}")
            return 0
    print("no suitable run found")
    return 1


if __name__ == "__main__":
    sys.exit(main())
