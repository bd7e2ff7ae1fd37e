"""Writes a trained zaya_torch model as a Hugging Face checkpoint directory in ZAYA1's native layout.

  config.json              native schema (model_type "zaya", ZayaForCausalLM)
  model.safetensors        tensor names of the spec's section 3.1, BF16 by default (the
                           balancing biases too, as in the released checkpoints)
  generation_config.json   bos / eos / pad ids, sampling defaults
  tokenizer.json, tokenizer_config.json (chat template with <think>)
"""
import json
import os
import struct

import torch

from tok import BOS, EOS, IM_END, PAD, tokenizer_config

DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.int64: "I64", torch.int32: "I32"}


def save_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().tobytes()
        else:
            raw = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    """name -> float32 torch tensor (BF16 / F16 / F32)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = bytearray(data[a:b])
        if info["dtype"] == "BF16":
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16).float()
        elif info["dtype"] == "F16":
            t = torch.frombuffer(raw, dtype=torch.float16).float()
        elif info["dtype"] == "F32":
            t = torch.frombuffer(raw, dtype=torch.float32).clone()
        else:
            raise ValueError(f"{name}: dtype {info['dtype']}")
        out[name] = t.reshape(info["shape"])
    return out


def hf_config(c, dtype="bfloat16"):
    return {
        "architectures": ["ZayaForCausalLM"],
        "model_type": "zaya",
        "hidden_size": c.hidden_size,
        "num_hidden_layers": c.num_hidden_layers,
        "layer_types": ["hybrid"] * c.num_hidden_layers,
        "num_attention_heads": c.num_attention_heads,
        "num_key_value_heads": c.num_key_value_heads,
        "head_dim": c.head_dim,
        "cca_time0": 2,
        "cca_time1": 2,
        "attention_bias": False,
        "num_experts": c.num_experts,
        "num_experts_per_tok": 1,
        "moe_intermediate_size": c.moe_intermediate_size,
        "hidden_act": "silu",
        "router_hidden_size": c.router_hidden_size,
        "rms_norm_eps": c.rms_norm_eps,
        "rope_parameters": {"hybrid": {"rope_type": "default", "rope_theta": c.rope_theta,
                                       "partial_rotary_factor": c.partial_rotary_factor},
                            "rope_type": "default"},
        "partial_rotary_factor": c.partial_rotary_factor,
        "max_position_embeddings": c.max_position_embeddings,
        "sliding_window": None,
        "vocab_size": c.vocab_size,
        "tie_word_embeddings": True,
        "lm_head_bias": False,
        "bos_token_id": BOS,
        "eos_token_id": IM_END,
        "pad_token_id": PAD,
        "dtype": dtype,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "use_cache": True,
    }


def export(model, tokenizer, out_dir, dtype=torch.bfloat16, metadata=None):
    os.makedirs(out_dir, exist_ok=True)
    sd = model.state_dict()
    tensors = {k: v.to(dtype) for k, v in sd.items()}
    save_safetensors(os.path.join(out_dir, "model.safetensors"), tensors, metadata)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(hf_config(model.config, "bfloat16" if dtype == torch.bfloat16 else "float32"), f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": BOS, "eos_token_id": [IM_END, EOS], "pad_token_id": PAD,
                   "do_sample": True, "temperature": 1.0, "top_p": 1.0, "max_new_tokens": 256}, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "tokenizer.json"), "w") as f:
        json.dump(tokenizer.tokenizer_json(), f, ensure_ascii=False)
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(tokenizer_config(), f, indent=2)
        f.write("\n")


def load_into(model, path):
    """Loads model.safetensors (any float dtype) into a zaya_torch model, as float32."""
    sd = load_safetensors(path)
    missing, unexpected = model.load_state_dict(sd, strict=True), None
    return missing
