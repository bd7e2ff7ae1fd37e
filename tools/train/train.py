"""Trains the default model (models/zaya-arith): a small ZAYA1-architecture MoE that solves
multi-step arithmetic word problems with a short <think> chain and a \\boxed{} answer, and
aggregates its own candidate solutions the way Markovian RSA prompts it to.

  phase 0  tokenizer: byte-level BPE trained on the task's text (tok.py, data.py)
  phase 1  plain problems -> solutions (arith.py), next-token loss on the assistant's part
  sample   the phase-1 checkpoint, exported and run by the zaya engine, samples K solutions per
           problem for fresh problems at temperature 1 (engine.py)
  phase 2  plain problems mixed with aggregation examples built from those samples: the engine's
           own aggregation prompt (problem + C candidate reasoning tails) -> the correct chain in
           which the steps the candidates got wrong are re-derived in smaller pieces
           (arith.aggregation_target)
  export   native HF checkpoint (export.py), reference logits, greedy accuracy on the held-out set
           through the engine

Reproducible: fixed seeds, one thread, fixed step counts (the wall-clock time varies with the
machine's load, the result does not). usage: see scripts/train-default-model.sh
"""
import argparse
import json
import math
import os
import random
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import arith  # noqa: E402
import data  # noqa: E402
from export import export, load_safetensors, save_safetensors  # noqa: E402
from tok import PAD  # noqa: E402
from zaya_torch import ZayaConfig, ZayaForCausalLM, count_params  # noqa: E402

HELDOUT_SEED = 20260611


def log(fh, **kw):
    kw["time"] = round(time.time() - T0, 1)
    line = json.dumps(kw)
    print(line, flush=True)
    if fh:
        fh.write(line + "\n")
        fh.flush()


def heldout(count=200, seed=HELDOUT_SEED, min_steps=2, max_steps=6):
    return arith.make_problems(seed, count, min_steps, max_steps)


def collate(examples):
    L = max(len(ids) for ids, _ in examples)
    x = torch.full((len(examples), L), PAD, dtype=torch.long)
    y = torch.full((len(examples), L), -100, dtype=torch.long)
    for i, (ids, n_prompt) in enumerate(examples):
        t = torch.tensor(ids)
        x[i, :len(ids)] = t
        y[i, n_prompt - 1:len(ids) - 1] = t[n_prompt:]      # predict the assistant's tokens
    return x, y


class Bucketed:
    """Batches of similar length: draws `batch * pool` examples from `make`, sorts them by length,
    cuts them into batches and serves those in a shuffled order (padding waste ~3% instead of
    ~35% for randomly mixed 2-6-step problems). Deterministic given the rng."""

    def __init__(self, make, batch, rng, pool=16):
        self.make, self.batch, self.rng, self.pool, self.queue = make, batch, rng, pool, []

    def next(self):
        if not self.queue:
            exs = sorted((self.make() for _ in range(self.batch * self.pool)), key=lambda e: len(e[0]))
            self.queue = [exs[i:i + self.batch] for i in range(0, len(exs), self.batch)]
            self.rng.shuffle(self.queue)
        return self.queue.pop()


def bucket_list(examples, batch, rng, pool=16):
    """The same for a fixed list: sorted within chunks of batch * pool, batches shuffled."""
    out = []
    for i in range(0, len(examples), batch * pool):
        chunk = sorted(examples[i:i + batch * pool], key=lambda e: len(e[0]))
        bs = [chunk[j:j + batch] for j in range(0, len(chunk), batch)]
        rng.shuffle(bs)
        for b in bs:
            out += b
    return out


def lr_at(step, total, peak, warmup, floor):
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))


def make_optimizer(model, lr):
    decay, no_decay, temps = [], [], []
    for n, p in model.named_parameters():
        if n.endswith("qk_norm.temp"):
            temps.append(p)
        else:
            (decay if p.dim() >= 2 and "embed" not in n else no_decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.05, "lr_mult": 1.0},
                              {"params": no_decay, "weight_decay": 0.0, "lr_mult": 1.0},
                              {"params": temps, "weight_decay": 0.0, "lr_mult": 10.0}],
                             lr=lr, betas=(0.9, 0.98), eps=1e-8)


def train_steps(model, opt, batches, steps, peak, floor, warmup, args, fh, phase):
    model.train()
    t_last, tok_count, real_count, loss_acc, n_acc = time.time(), 0, 0, 0.0, 0
    for step in range(steps):
        lr = lr_at(step, steps, peak, warmup, floor)
        for g in opt.param_groups:
            g["lr"] = lr * g["lr_mult"]
        examples, kind = batches(step)
        x, y = collate(examples)
        logits, stats = model(x, return_stats=True)
        mask = y != -100
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1), ignore_index=-100)
        valid = x != PAD
        aux = model.aux_loss(stats, valid)
        opt.zero_grad(set_to_none=True)
        (loss + args.aux_weight * aux).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loads = model.update_biases(stats, valid, args.bias_rate)
        tok_count += x.numel()
        real_count += int(valid.sum())
        loss_acc += loss.item()
        n_acc += 1
        if (step + 1) % args.log_every == 0 or step + 1 == steps:
            dt = time.time() - t_last
            maxload = max(l.max().item() for l in loads)
            log(fh, phase=phase, step=step + 1, loss=round(loss_acc / n_acc, 4), aux=round(aux.item(), 4), lr=round(lr, 6),
                tok_per_s=round(tok_count / dt), real_tok_per_s=round(real_count / dt), max_expert_load=round(maxload, 3), kind=kind,
                target_tokens=int(mask.sum()))
            t_last, tok_count, real_count, loss_acc, n_acc = time.time(), 0, 0, 0.0, 0


def greedy_accuracy(model_dir, problems, threads=1):
    import engine
    e = engine.Engine(model_dir, threads=threads)
    outs = e.solve(problems, max_tokens=args_global.beta, greedy=True)
    correct = 0
    for p, o in zip(problems, outs):
        _, ans, _ = engine.split_output(e.tk, o)
        correct += arith.extract_answer(ans) == str(p.answer)
    e.close()
    return correct


def sample_pool(model_dir, problems, k, seed, beta):
    """k engine samples (temperature 1) per problem: [{'reasoning', 'answer', 'correct'}]."""
    import engine
    e = engine.Engine(model_dir, threads=1)
    prompts, seeds = [], []
    rng = random.Random(seed)
    for p in problems:
        for _ in range(k):
            prompts.append(p)
            seeds.append(rng.getrandbits(63))
    outs = e.solve(prompts, max_tokens=beta, temperature=1.0, top_p=1.0, seeds=seeds)
    pool = []
    for i, p in enumerate(problems):
        cands = []
        for o in outs[i * k:(i + 1) * k]:
            reasoning, ans, finished = engine.split_output(e.tk, o)
            a = arith.extract_answer(ans)
            cands.append({"reasoning": reasoning, "answer": a, "correct": a == str(p.answer), "tokens": len(o)})
        pool.append({"problem": p.to_json(), "candidates": cands})
    e.close()
    return pool


def aggregation_examples(tk, pool, rng, count, args):
    """Aggregation examples from the sampled pool (see module doc and arith.aggregation_target)."""
    out, stats = [], {"all_correct": 0, "some_wrong": 0, "none_correct": 0, "rederived_steps": 0, "round2_style": 0}
    tries = 0
    while len(out) < count and tries < count * 20:
        tries += 1
        item = rng.choice(pool)
        p = arith.Problem.from_json(item["problem"])
        cands = item["candidates"]
        c = rng.choices([2, 3, 4], weights=[0.2, 0.4, 0.4])[0]
        sub = rng.sample(cands, min(c, len(cands)))
        ncorrect = sum(x["correct"] for x in sub)
        if ncorrect == len(sub) and rng.random() > args.p2_keep_all_correct:
            continue
        tails = [x["reasoning"] for x in sub]
        if rng.random() < args.round2_fraction:
            # candidates as a later round would see them: correct ones written by an aggregator,
            # with some of their steps re-derived
            new = []
            for x, tail in zip(sub, tails):
                if x["correct"] and tail == p.reasoning():
                    lines = [arith.rederive(l) if rng.random() < 0.3 else l for l in p.lines]
                    new.append("\n".join(lines))
                else:
                    new.append(tail)
            tails = new
            stats["round2_style"] += 1
        lines, rederived = arith.aggregation_target(p, tails)
        stats["rederived_steps"] += rederived
        key = "all_correct" if ncorrect == len(sub) else ("none_correct" if ncorrect == 0 else "some_wrong")
        stats[key] += 1
        out.append(data.aggregation_example(tk, p, tails, lines))
    return out, stats


def reference_logits(model_dir, out_path):
    import check_engine
    m = check_engine.load_model(model_dir)
    tk = data.BpeTokenizer.from_tokenizer_json(os.path.join(model_dir, "tokenizer.json"))
    tensors = {}
    for i, ids in enumerate(check_engine.reference_prompts(tk)):
        with torch.no_grad():
            logits = m(torch.tensor([ids]))[0]
        tensors[f"ids.{i}"] = torch.tensor(ids, dtype=torch.int32)
        tensors[f"logits.{i}"] = logits.float()
    save_safetensors(out_path, tensors, {"source": "tools/train/zaya_torch.py float32 on the BF16 checkpoint"})


def main():
    global T0, args_global
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--expert-width", type=int, default=128)
    ap.add_argument("--router-width", type=int, default=32)
    ap.add_argument("--p1-steps", type=int, default=1200)
    ap.add_argument("--p2-steps", type=int, default=700)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--agg-batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--p2-lr", type=float, default=5e-4)
    ap.add_argument("--min-steps", type=int, default=2)
    ap.add_argument("--max-steps", type=int, default=6)
    ap.add_argument("--sample-problems", type=int, default=800)
    ap.add_argument("--sample-k", type=int, default=6)
    ap.add_argument("--agg-fraction", type=float, default=0.7)
    ap.add_argument("--synthetic-share", type=float, default=0.33)
    ap.add_argument("--p1-synthetic", type=float, default=0.2, help="share of phase-1 steps with synthetic aggregation")
    ap.add_argument("--keep-all-correct", type=float, default=0.5, help="phase 1 synthetic data")
    ap.add_argument("--p2-keep-all-correct", type=float, default=1.0)
    ap.add_argument("--p2-synthetic-errors", type=lambda s: [float(x) for x in s.split(",")], default=[0.5, 0.35, 0.15],
                    help="phase 2: weights of 0, 1, 2 slips per synthetic candidate")
    ap.add_argument("--round2-fraction", type=float, default=0.3)
    ap.add_argument("--beta", type=int, default=160)
    ap.add_argument("--aux-weight", type=float, default=0.01)
    ap.add_argument("--bias-rate", type=float, default=2e-3)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--heldout", type=int, default=200)
    ap.add_argument("--resume-phase1", default=None, help="skip phase 1: load this torch state dict")
    args = ap.parse_args()
    args_global = args
    T0 = time.time()
    torch.set_num_threads(1)
    os.makedirs(args.work, exist_ok=True)
    fh = open(os.path.join(args.work, "train_log.jsonl"), "a")
    with open("/proc/self/maps") as f:
        blas = sorted({l.split()[-1] for l in f if "blas" in l})
    log(fh, event="start", args=vars(args), torch=torch.__version__, blas=blas)

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    tk = data.build_tokenizer()
    cfg = ZayaConfig(vocab_size=len(tk), hidden_size=args.hidden, num_hidden_layers=args.layers,
                     num_attention_heads=args.hidden // 32, num_key_value_heads=max(1, args.hidden // 64), head_dim=32,
                     num_experts=args.experts, moe_intermediate_size=args.expert_width,
                     router_hidden_size=args.router_width)
    model = ZayaForCausalLM(cfg)
    log(fh, event="model", params=count_params(model), vocab=len(tk), config=cfg.to_dict())
    held = heldout(args.heldout, min_steps=args.min_steps, max_steps=args.max_steps)
    held_texts = {p.text for p in held}

    gen_rng = random.Random(args.seed * 1000 + 1)

    def fresh_problem():
        while True:
            p = arith.make_problem(gen_rng, gen_rng.randint(args.min_steps, args.max_steps))
            if p.text not in held_texts:
                return p

    plain_bucket = Bucketed(lambda: data.plain_example(tk, fresh_problem()), args.batch,
                            random.Random(args.seed * 71 + 2))

    def plain_batch(_step):
        return plain_bucket.next(), "plain"

    syn_rng = random.Random(args.seed * 53 + 11)
    syn_stats = {"all_correct": 0, "some_wrong": 0, "none_correct": 0, "rederived_steps": 0}

    def synthetic_example(phase=1):
        while True:
            p = fresh_problem()
            c = syn_rng.choices([2, 3, 4], weights=[0.2, 0.4, 0.4])[0]
            if phase == 1:
                errs = [syn_rng.choice([0, 0, 1, 1, 2]) for _ in range(c)]
                keep = args.keep_all_correct
            else:   # phase 2: more candidates without slips, every all-correct subset kept
                errs = syn_rng.choices([0, 1, 2], weights=args.p2_synthetic_errors, k=c)
                keep = args.p2_keep_all_correct
            if all(e == 0 for e in errs) and syn_rng.random() > keep:
                continue
            tails = [arith.synthetic_candidate(p, syn_rng, e) for e in errs]
            lines, rederived = arith.aggregation_target(p, tails)
            ncorrect = sum(t == p.reasoning() for t in tails)
            key = "all_correct" if ncorrect == c else ("none_correct" if ncorrect == 0 else "some_wrong")
            syn_stats[key] += 1
            syn_stats["rederived_steps"] += rederived
            return data.aggregation_example(tk, p, tails, lines)

    # ---- phase 1 --------------------------------------------------------------------------------
    p1_dir = os.path.join(args.work, "phase1")
    n_syn1 = int(round(args.p1_steps * args.p1_synthetic))
    kinds1 = ["plain"] * (args.p1_steps - n_syn1) + ["synthetic"] * n_syn1
    random.Random(args.seed * 89 + 5).shuffle(kinds1)

    syn1_bucket = Bucketed(lambda: synthetic_example(1), args.agg_batch, random.Random(args.seed * 73 + 4))
    syn2_bucket = Bucketed(lambda: synthetic_example(2), args.agg_batch, random.Random(args.seed * 79 + 6))

    def phase1_batch(step):
        if kinds1[step] == "synthetic":
            return syn1_bucket.next(), "synthetic"
        return plain_batch(step)

    if args.resume_phase1:
        model.load_state_dict(torch.load(args.resume_phase1))
        for step in range(args.p1_steps):   # replay the data stream so phase 2 sees what it would have
            phase1_batch(step)
    else:
        opt = make_optimizer(model, args.lr)
        train_steps(model, opt, phase1_batch, args.p1_steps, args.lr, args.lr * 0.1, 100, args, fh, "1")
        torch.save(model.state_dict(), os.path.join(args.work, "phase1.pt"))
    log(fh, event="synthetic_data_phase1", **syn_stats)
    export(model, tk, p1_dir)
    acc1 = greedy_accuracy(p1_dir, held)
    log(fh, event="phase1_done", greedy_heldout=f"{acc1}/{len(held)}")

    # ---- sample the model's own candidates ------------------------------------------------------
    sample_problems = [fresh_problem() for _ in range(args.sample_problems)]
    pool = sample_pool(p1_dir, sample_problems, args.sample_k, args.seed * 7919, args.beta)
    with open(os.path.join(args.work, "pool.json"), "w") as f:
        json.dump(pool, f)
    n_c = sum(c["correct"] for it in pool for c in it["candidates"])
    n_all = sum(len(it["candidates"]) for it in pool)
    log(fh, event="sampled", candidates=n_all, correct=n_c, single_sample_accuracy=round(n_c / n_all, 4))

    # ---- phase 2 --------------------------------------------------------------------------------
    # Steps are plain batches, aggregation batches from the model's own samples, or aggregation
    # batches with synthetic candidates (the chain with injected slips; a warm-up for the copying
    # and comparing, in a fixed share of the aggregation steps).
    agg_rng = random.Random(args.seed * 31 + 7)
    n_agg_steps = int(round(args.p2_steps * args.agg_fraction))
    n_syn_steps = int(round(n_agg_steps * args.synthetic_share))
    n_own_steps = n_agg_steps - n_syn_steps
    agg, agg_stats = aggregation_examples(tk, pool, agg_rng, n_own_steps * args.agg_batch, args)
    log(fh, event="aggregation_data", examples=len(agg), **agg_stats)
    agg_rng.shuffle(agg)
    agg = bucket_list(agg, args.agg_batch, agg_rng)
    kinds = ["plain"] * (args.p2_steps - n_agg_steps) + ["own"] * n_own_steps + ["synthetic"] * n_syn_steps
    random.Random(args.seed * 97 + 3).shuffle(kinds)
    agg_pos = [0]
    def mixed_batch(step):
        kind = kinds[step]
        if kind == "own" and agg_pos[0] < len(agg):
            b = agg[agg_pos[0]:agg_pos[0] + args.agg_batch]
            agg_pos[0] += args.agg_batch
            return b, "own"
        if kind == "synthetic":
            return syn2_bucket.next(), "synthetic"
        return plain_batch(step)

    opt = make_optimizer(model, args.p2_lr)
    train_steps(model, opt, mixed_batch, args.p2_steps, args.p2_lr, args.p2_lr * 0.05, 50, args, fh, "2")
    log(fh, event="synthetic_data", **syn_stats)
    torch.save(model.state_dict(), os.path.join(args.work, "final.pt"))

    # ---- export ---------------------------------------------------------------------------------
    export(model, tk, args.out, metadata={"trained_by": "tools/train/train.py", "seed": args.seed})
    reference_logits(args.out, os.path.join(args.out, "reference_logits.safetensors"))
    acc2 = greedy_accuracy(args.out, held)
    elapsed = time.time() - T0
    record = {"params": count_params(model), "seed": args.seed, "train_seconds": round(elapsed, 1),
              "phase1_steps": args.p1_steps, "phase2_steps": args.p2_steps,
              "phase1_greedy_heldout": acc1, "greedy_heldout": acc2, "heldout_size": len(held),
              "phase1_single_sample_accuracy": round(n_c / n_all, 4), "aggregation_examples": len(agg),
              "aggregation_data": agg_stats, "synthetic_aggregation_data": syn_stats, "args": vars(args)}
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    log(fh, event="done", greedy_heldout=f"{acc2}/{len(held)}", seconds=round(elapsed, 1))


if __name__ == "__main__":
    main()
