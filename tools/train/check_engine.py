"""Checks a checkpoint directory against the zaya engine (through its CLI):

  1. tokenizer: `zaya tokenize` gives the ids tools/train/tok.py gives, on training-like text
     (problems, solutions, aggregation prompts, chat renderings) and some arbitrary text;
  2. chat template: `zaya template render` renders what tok.render_user_prompt assumes;
  3. logits: `zaya logits` vs this PyTorch implementation (float32) on fixed prompts.

usage: check_engine.py --model DIR [--zaya build/zaya]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import arith  # noqa: E402
from export import load_safetensors  # noqa: E402
from tok import CHAT_TEMPLATE, BpeTokenizer, render_user_prompt  # noqa: E402
from zaya_torch import ZayaConfig, ZayaForCausalLM  # noqa: E402


def run_lines(cmd, lines):
    p = subprocess.run(cmd, input="".join(json.dumps(x) + "\n" for x in lines), capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd}: {p.stderr}")
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def config_from_dir(d):
    with open(os.path.join(d, "config.json")) as f:
        h = json.load(f)
    rp = h["rope_parameters"]["hybrid"]
    return ZayaConfig(vocab_size=h["vocab_size"], hidden_size=h["hidden_size"], num_hidden_layers=h["num_hidden_layers"],
                      num_attention_heads=h["num_attention_heads"], num_key_value_heads=h["num_key_value_heads"],
                      head_dim=h["head_dim"], num_experts=h["num_experts"],
                      moe_intermediate_size=h["moe_intermediate_size"], router_hidden_size=h["router_hidden_size"],
                      rms_norm_eps=h["rms_norm_eps"], rope_theta=rp["rope_theta"],
                      partial_rotary_factor=rp["partial_rotary_factor"],
                      max_position_embeddings=h["max_position_embeddings"])


def load_model(d):
    m = ZayaForCausalLM(config_from_dir(d))
    m.load_state_dict(load_safetensors(os.path.join(d, "model.safetensors")), strict=True)
    m.eval()
    return m


def engine_logits(zaya, model_dir, ids):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "l.safetensors")
        subprocess.run([zaya, "logits", "--model", model_dir, "--ids", ",".join(map(str, ids)), "--out", out],
                       check=True, capture_output=True)
        t = load_safetensors(out)
        return next(iter(t.values()))


def reference_prompts(tk):
    """Fixed prompts (ids) whose logits are recorded with the checkpoint."""
    ps = arith.make_problems(777, 3, 3, 6)
    out = [tk.encode(render_user_prompt(ps[0].text) + ps[0].completion() + "<|im_end|>"),
           tk.encode(render_user_prompt(ps[1].text)),
           tk.encode(render_user_prompt(arith.aggregation_text(ps[2].text, [ps[2].reasoning(), ps[1].reasoning()]))),
           tk.encode("Hello, world! 12+34=46", add_bos=True)]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--zaya", default="build/zaya")
    a = ap.parse_args()
    tk = BpeTokenizer.from_tokenizer_json(os.path.join(a.model, "tokenizer.json"))

    # 1. tokenizer
    texts = []
    for p in arith.make_problems(4242, 40, 1, 8):
        texts.append(p.text)
        texts.append(render_user_prompt(p.text) + p.completion([arith.rederive(l) for l in p.lines]) + "<|im_end|>")
        texts.append(render_user_prompt(arith.aggregation_text(p.text, [p.reasoning()] * 3)))
    texts += ["A farmer has 3 pens with 4 sheep each and buys 5 more sheep. How many sheep are there?",
              "Ünïcödé ☃ text, tabs\tand  double  spaces\n\n\n end  ", "x" * 50, "   ", "1234567890"]
    got = run_lines([a.zaya, "tokenize", "--tokenizer", a.model], [{"text": t} for t in texts])
    bad = 0
    for t, g in zip(texts, got):
        want = tk.encode(t, add_bos=True)
        if g["ids"] != want and g["ids"] != want[1:]:
            bad += 1
            if bad <= 3:
                print("tokenize mismatch:", repr(t[:80]), g["ids"][:20], want[:20])
    print(f"tokenizer: {len(texts) - bad}/{len(texts)} texts identical")

    # 2. chat template
    msgs = [{"role": "user", "content": "Mia has 3 pens."}]
    r = run_lines([a.zaya, "template", "render"],
                  [{"template": CHAT_TEMPLATE, "messages": msgs, "add_generation_prompt": True,
                    "special_tokens": {"bos_token": "<bos>", "eos_token": "<|im_end|>"}}])[0]
    ok_tpl = r.get("output") == render_user_prompt("Mia has 3 pens.")
    print("chat template:", "ok" if ok_tpl else f"MISMATCH {r}")

    # 3. logits
    m = load_model(a.model)
    worst = 0.0
    for ids in reference_prompts(tk):
        with torch.no_grad():
            want = m(torch.tensor([ids]))[0]
        got = engine_logits(a.zaya, a.model, ids)
        err = ((got - want).abs().max() / want.abs().max()).item()
        worst = max(worst, err)
        print(f"logits: {len(ids)} tokens, max |diff| / max |logit| = {err:.2e}, argmax equal {(got.argmax(-1) == want.argmax(-1)).float().mean().item():.3f}")
    print(f"worst relative logit error {worst:.2e}")
    return 0 if bad == 0 and ok_tpl and worst < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
