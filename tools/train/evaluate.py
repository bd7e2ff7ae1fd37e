"""Evaluates a checkpoint THROUGH THE ENGINE (zaya's C ABI via bindings/python; the same code as
the `zaya` CLI): every number below is produced by the engine's forward pass, sampler and RSA
orchestrator, on the fixed held-out set tests/data/default-model/heldout.jsonl.

  greedy         greedy accuracy on the whole held-out set
  single         mean accuracy of single samples (temperature 1, top-p 1): the RSA round-0 candidates
  rsa            Markovian RSA (N, C, T, beta, tau; temperature 1): accuracy of its answer (majority
                 vote over the final round, the engine's `answer`) and the mean accuracy of the final
                 round's candidates (the report's metric), with decode / prefill tokens
  majority       majority vote over k independent samples (engine, temperature 1), for k = 1..K, and
                 the compute-matched k: the k whose decode tokens match the RSA run's
  by_correct     round-1 candidates of RSA grouped by how many of their C source candidates were
                 correct: accuracy of the aggregated answer in each group

usage: evaluate.py --model DIR [--problems 100] [--n 4,8 --c 3 --t 1,2 --beta 160 --tau 96] [--json OUT]
"""
import argparse
import collections
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import arith  # noqa: E402
import engine  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HELDOUT = os.path.join(ROOT, "tests", "data", "default-model", "heldout.jsonl")


def load_heldout(path=HELDOUT):
    with open(path) as f:
        return [arith.Problem.from_json(json.loads(l)) for l in f if l.strip()]


def normalize(a):
    return None if a is None else a.strip()


def greedy(e, problems, beta):
    outs = e.solve(problems, max_tokens=beta, greedy=True)
    answers = []
    for o in outs:
        _, ans, _ = engine.split_output(e.tk, o)
        answers.append(arith.extract_answer(ans))
    correct = [a == str(p.answer) for a, p in zip(answers, problems)]
    return sum(correct), answers, sum(len(o) for o in outs)


def vote(answers):
    """The engine's rule: most votes; ties to the answer whose first occurrence comes first
    (finished-first preference does not arise: only answered candidates vote)."""
    counts = collections.Counter(a for a in answers if a)
    if not counts:
        return None
    best = max(counts.values())
    for a in answers:
        if a and counts[a] == best:
            return a


def majority_curve(e, problems, k_max, beta, seed):
    rng = random.Random(seed)
    reps = [p for p in problems for _ in range(k_max)]
    seeds = [rng.getrandbits(63) for _ in reps]
    outs = e.solve(reps, max_tokens=beta, temperature=1.0, top_p=1.0, seeds=seeds)
    per_problem, tokens = [], 0
    for i, p in enumerate(problems):
        ans = []
        for o in outs[i * k_max:(i + 1) * k_max]:
            _, a, _ = engine.split_output(e.tk, o)
            ans.append(arith.extract_answer(a))
            tokens += len(o)
        per_problem.append(ans)
    curve = {}
    for k in range(1, k_max + 1):
        curve[k] = sum(vote(ans[:k]) == str(p.answer) for ans, p in zip(per_problem, problems))
    return curve, tokens / len(reps), per_problem


def run_rsa(e, problems, n, c, t, beta, tau, seed):
    out = {"n": n, "c": c, "t": t, "beta": beta, "tau": tau, "temperature": 1.0, "top_p": 1.0, "seed": seed}
    acc_answer, final_mean, round0_mean, decode, prefill = 0, 0.0, 0.0, 0, 0
    by_round = collections.defaultdict(float)
    by_correct = collections.defaultdict(lambda: [0, 0])
    t0 = time.time()
    for i, p in enumerate(problems):
        r = e.rsa(p.text, n=n, c=c, t=t, beta=beta, tau=tau, seed=seed + i)
        gold = str(p.answer)
        acc_answer += r["answer"] == gold
        decode += r["decode_tokens"]
        prefill += r["prefill_tokens"]
        stages = r["stages"]
        for s in stages:
            by_round[s["round"]] += sum(cand["answer"] == gold for cand in s["candidates"]) / len(s["candidates"])
        round0_mean += sum(cand["answer"] == gold for cand in stages[0]["candidates"]) / len(stages[0]["candidates"])
        final_mean += sum(cand["answer"] == gold for cand in stages[-1]["candidates"]) / len(stages[-1]["candidates"])
        if len(stages) > 1:
            prev = stages[0]["candidates"]
            for cand in stages[1]["candidates"]:
                k = sum(prev[j]["answer"] == gold for j in cand["sources"])
                by_correct[k][0] += cand["answer"] == gold
                by_correct[k][1] += 1
    m = len(problems)
    out.update({
        "problems": m,
        "answer_accuracy": acc_answer / m,
        "answer_correct": acc_answer,
        "final_round_mean_accuracy": final_mean / m,
        "round0_mean_accuracy": round0_mean / m,
        "mean_accuracy_by_round": {str(k): v / m for k, v in sorted(by_round.items())},
        "decode_tokens_per_problem": decode / m,
        "prefill_tokens_per_problem": prefill / m,
        "by_correct_sources": {str(k): {"correct": v[0], "total": v[1], "accuracy": v[0] / v[1]}
                               for k, v in sorted(by_correct.items())},
        "seconds": round(time.time() - t0, 1),
    })
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--problems", type=int, default=100, help="held-out problems used for the sampled evaluations")
    ap.add_argument("--n", default="4", help="population sizes to evaluate, comma-separated")
    ap.add_argument("--c", type=int, default=3)
    ap.add_argument("--t", default="1,2", help="aggregation rounds to evaluate, comma-separated")
    ap.add_argument("--beta", type=int, default=160)
    ap.add_argument("--tau", type=int, default=96)
    ap.add_argument("--k-max", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()

    problems = load_heldout()
    e = engine.Engine(a.model, threads=a.threads)
    report = {"model": a.model, "heldout": len(problems)}
    g, g_answers, g_tokens = greedy(e, problems, a.beta)
    report["greedy"] = {"correct": g, "total": len(problems), "accuracy": g / len(problems),
                        "tokens_per_problem": g_tokens / len(problems)}
    print(f"greedy: {g}/{len(problems)}", flush=True)
    longer = arith.make_problems(a.seed + 99, 100, 7, 8)   # more steps than the training data has
    g_long, _, _ = greedy(e, longer, 2 * a.beta)
    report["greedy_longer_problems"] = {"steps": "7-8", "correct": g_long, "total": len(longer)}
    print(f"greedy on 7-8 step problems (trained on 2-6): {g_long}/{len(longer)}", flush=True)

    sub = problems[:a.problems]
    curve, mean_tokens, _ = majority_curve(e, sub, a.k_max, a.beta, a.seed + 17)
    report["majority"] = {"problems": len(sub), "tokens_per_sample": mean_tokens,
                          "accuracy_by_k": {str(k): v / len(sub) for k, v in curve.items()}}
    print(f"single sample (independent): {curve[1] / len(sub):.3f}, tokens/sample {mean_tokens:.1f}", flush=True)
    print("majority@k: " + ", ".join(f"{k}:{v / len(sub):.3f}" for k, v in curve.items()), flush=True)

    report["rsa"] = []
    for n, t in [(int(n), int(t)) for n in a.n.split(",") for t in a.t.split(",")]:
        r = run_rsa(e, sub, n, a.c, t, a.beta, a.tau, a.seed)
        k_match = max(1, min(a.k_max, round(r["decode_tokens_per_problem"] / mean_tokens)))
        r["compute_matched_k"] = k_match
        r["compute_matched_majority_accuracy"] = curve[k_match] / len(sub)
        report["rsa"].append(r)
        print(json.dumps(r), flush=True)
    e.close()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
