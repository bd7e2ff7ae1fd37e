#!/usr/bin/env python3
"""Renders zaya bench / zaya compare JSON lines into docs/PERFORMANCE.md (between its markers).

usage: render_performance.py BENCH.jsonl QUALITY.jsonl PERFORMANCE.md [LOAD_MMAP.jsonl]
"""
import json
import os
import platform
import re
import sys


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def fmt_name(dtype):
    # The stored types list ("BF16", "BF16+Q4_0") -> the format of the bulk of the weights.
    parts = dtype.split("+")
    quant = [p for p in parts if p.startswith("Q")]
    return "+".join(quant) if quant else parts[0]


def variant(r):
    # The format as the tables name it: the bulk format, plus the opt-in LM-head shortlist, plus
    # "mapped" for a memory-mapped file (the others are copied into the huge-page arena).
    k = r.get("head_shortlist", 0)
    return (fmt_name(r["dtype"]) + (f" + head shortlist {k}" if k else "") +
            (", mapped" if r.get("load") == "mmap" else ""))


def main():
    bench_path, quality_path, doc_path = sys.argv[1:4]
    bench = [json.loads(l) for l in open(bench_path) if l.strip()]
    quality = [json.loads(l) for l in open(quality_path) if l.strip()] if os.path.exists(quality_path) else []

    lines = []
    lines.append(f"Measured on: {cpu_name()}, {os.cpu_count()} cores, "
                 f"{bench[0]['threads'] if bench else '?'} threads; {bench[0]['prompt_tokens'] if bench else '?'}-token prefill, "
                 f"{bench[0]['gen_tokens'] if bench else '?'} decode steps; weights in the huge-page arena (`--load copy`) "
                 "except in the rows marked mapped (`--load mmap`: the file's page-cache pages, mapped 2 MiB "
                 "at a time where the kernel caches the file in 2 MiB folios).")
    lines.append("")
    lines.append("| format | KV cache | weights GB | batch | prefill tok/s (exact; bf16-dot) | decode tok/s (aggregate) | weights MB / token | "
                 "achieved GB/s | bandwidth GB/s (same run) | roofline fraction | peak RSS GB | load s |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in bench:
        lines.append(
            f"| {variant(r)} | {r.get('kv_cache', 'f32')} | {r.get('weights_bytes', 0) / 1e9:.2f} | {r['batch']} | {r['prefill_tok_s']:.1f}"
            f"{'; %.1f' % r['prefill_bf16dp_tok_s'] if r.get('prefill_bf16dp_tok_s') else ''} | "
            f"{r['decode_tok_s']:.2f} | {r['bytes_per_token'] / 1e6:.0f} | {r['achieved_gbs']:.2f} | {r['bandwidth_gbs']:.1f} | "
            f"{100 * r['roofline_fraction']:.0f}% | {r['peak_rss_mb'] / 1024:.1f} | {r['load_seconds']:.1f} |")
    by_batch = {}
    for r in bench:
        by_batch.setdefault(f"{variant(r)}, {r.get('kv_cache', 'f32')} KV", {})[r["batch"]] = r["decode_tok_s"]
    lines.append("")
    lines.append("Batched decode gain (aggregate tok/s over batch 1):")
    lines.append("")
    for name, d in by_batch.items():
        if 1 in d:
            gains = ", ".join(f"batch {b}: x{d[b] / d[1]:.2f}" for b in sorted(d) if b != 1)
            lines.append(f"- {name}: {gains}")
    if len(sys.argv) > 4 and os.path.exists(sys.argv[4]):
        loads = [json.loads(l) for l in open(sys.argv[4]) if l.strip()]
        lines.append("")
        lines.append("Load with `--load mmap` (no copy; the matrices are paged in by the first tokens): " +
                     ", ".join(f"{fmt_name(r['dtype'])} {r['load_seconds']:.2f} s" for r in loads) + ".")
    bench_text = "\n".join(lines)

    q = ["| model | candidate | positions | top-1 agreement | mean relative logit error | max | mean KL (nats) |",
         "|---|---|---|---|---|---|---|"]
    for r in quality:
        model = os.path.basename(r["reference"].rstrip("/"))
        cand = r["quantize"] or os.path.basename(r["candidate"])
        if r.get("kv_cache", "f32") != "f32":
            cand = "f16 KV cache" if r["candidate"] == r["reference"] and not r["quantize"] else f"{cand}, f16 KV cache"
        if r.get("head_shortlist", 0):
            shortlist = f"head shortlist {r['head_shortlist']}"
            cand = shortlist if r["candidate"] == r["reference"] and not r["quantize"] else f"{cand}, {shortlist}"
        q.append(f"| {model} ({r['reference_format']}) | {cand} ({r['candidate_format']}) | {r['positions']} | "
                 f"{100 * r['top1_agreement']:.1f}% | {r['mean_relative_error']:.4f} | {r['max_relative_error']:.4f} | "
                 f"{r['mean_kl']:.5f} |")
    quality_text = "\n".join(q)

    doc = open(doc_path).read()
    for tag, text in (("BENCH", bench_text), ("QUALITY", quality_text)):
        pattern = re.compile(rf"(<!-- BEGIN {tag} -->\n).*?(<!-- END {tag} -->)", re.S)
        if not pattern.search(doc):
            sys.exit(f"{doc_path}: no <!-- BEGIN {tag} --> ... <!-- END {tag} --> markers")
        doc = pattern.sub(lambda m: m.group(1) + text + "\n" + m.group(2), doc)
    open(doc_path, "w").write(doc)


if __name__ == "__main__":
    main()
