"""An independent PyTorch implementation of the ZAYA1 architecture (native layout), for training.

Written from /work/shared/spec/zaya1-architecture.md (sections 2 and 3.1); parameter names are
the native checkpoint names, so `state_dict()` is the checkpoint (minus nothing: the LM head is
tied to the embedding).

Per block:  x = S_a(CCA(RMSNorm(x)), x);  x = S_m(MoE(RMSNorm(x)), x)
  S(o, r) = (o + b_o) * s_o + (r + b_r) * s_r            learned residual-scale merge
  CCA:   q_raw, k_raw -> causal depthwise conv (k=2) -> grouped conv (k=2, one group per head),
         inputs left-padded with two zero columns; + mean residual of the raw projections;
         L2 norm to sqrt(D), keys times a learned per-KV-head temperature; partial NeoX RoPE;
         V = [W_vcur h_t | W_vdel h_{t-1}] (first NK/2 KV heads current, the rest delayed);
         causal GQA softmax attention, scale 1/sqrt(D); o_proj.
  MoE:   router r = down(h) + b (+ r_prev * router_states_scale for blocks > 0, EDA);
         RMSNorm -> Linear+GELU(erf) -> Linear+GELU -> Linear (E+1 classes, last = skip);
         p = softmax; c = argmax(p + balancing_biases); out = p[c] * SwiGLU_c(h)
         (skip: p[c] * h, never chosen with balancing_biases[skip] = -1 and max expert bias >= 0).
Input  x0 = (embed[tok] + b_in) * s_in; output logits = embed @ RMSNorm(x).

Training top-1 routing: the choice is a hard argmax (no gradient); the router learns through the
raw probability weight p[c] that multiplies the chosen expert's output (as in Switch
Transformers), plus an auxiliary load-balancing loss (Switch style, over the expert classes) and
DeepSeek-style bias updates of the balancing biases outside the gradient (`update_biases`).
"""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ZayaConfig:
    vocab_size: int = 512
    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 32
    num_experts: int = 8
    moe_intermediate_size: int = 128
    router_hidden_size: int = 32
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    partial_rotary_factor: float = 0.5
    max_position_embeddings: int = 4096

    def to_dict(self):
        return asdict(self)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)


class ResidualScale(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.hidden_states_scale = nn.Parameter(torch.ones(n))
        self.hidden_states_bias = nn.Parameter(torch.zeros(n))
        self.residual_scale = nn.Parameter(torch.ones(n))
        self.residual_bias = nn.Parameter(torch.zeros(n))

    def forward(self, out, res):
        return (out + self.hidden_states_bias) * self.hidden_states_scale + (res + self.residual_bias) * self.residual_scale


class CCAProjection(nn.Module):
    def __init__(self, c: ZayaConfig):
        super().__init__()
        H, NQ, NK, D = c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim
        C = (NQ + NK) * D
        self.q_proj = nn.Linear(H, NQ * D, bias=False)
        self.k_proj = nn.Linear(H, NK * D, bias=False)
        self.v_proj_current = nn.Linear(H, NK * D // 2, bias=False)
        self.v_proj_delayed = nn.Linear(H, NK * D // 2, bias=False)
        self.conv_qk_depthwise = nn.Conv1d(C, C, 2, groups=C, bias=True)
        self.conv_qk_grouped = nn.Conv1d(C, C, 2, groups=NQ + NK, bias=True)


class QKNorm(nn.Module):
    # The key temperature is the only thing that can sharpen attention (q and k have a fixed norm):
    # it starts at 3 (ZAYA1-8B's trained values span 0.8-12.9) and trains with a larger learning
    # rate (train.py), so copying from far back in the prompt is learnable within a short run.
    def __init__(self, nk, init=3.0):
        super().__init__()
        self.temp = nn.Parameter(torch.full((nk,), init))


class CCAAttention(nn.Module):
    def __init__(self, c: ZayaConfig):
        super().__init__()
        self.c = c
        self.qkv_proj = CCAProjection(c)
        self.qk_norm = QKNorm(c.num_key_value_heads)
        self.o_proj = nn.Linear(c.num_attention_heads * c.head_dim, c.hidden_size, bias=False)

    def forward(self, h, rope, mask):
        c = self.c
        B, L, _ = h.shape
        NQ, NK, D = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        G = NQ // NK
        p = self.qkv_proj
        q_raw = p.q_proj(h)                                      # [B, L, NQ*D]
        k_raw = p.k_proj(h)                                      # [B, L, NK*D]
        X = torch.cat([q_raw, k_raw], -1)                        # [B, L, C]
        # two-stage causal conv over time, inputs left-padded with two zero columns:
        #   Y_t = w0[:,0] X_{t-1} + w0[:,1] X_t + b0  (t = -1 .. L-1; X_{-1} = X_{-2} = 0)
        #   Z_t = b1 + W1[..,0] Y_{t-1} + W1[..,1] Y_t  per head group
        Xp = F.pad(X, (0, 0, 2, 0))                              # [B, L+2, C]
        w0 = p.conv_qk_depthwise.weight[:, 0, :]                 # [C, 2]
        Y = Xp[:, :-1] * w0[:, 0] + Xp[:, 1:] * w0[:, 1] + p.conv_qk_depthwise.bias   # [B, L+1, C]
        Gr = NQ + NK
        W1 = p.conv_qk_grouped.weight.view(Gr, D, D, 2)          # [group, out, in, tap]
        Yg = Y.view(B, L + 1, Gr, D)
        Z = torch.einsum("blgi,goi->blgo", Yg[:, :-1], W1[..., 0]) + torch.einsum("blgi,goi->blgo", Yg[:, 1:], W1[..., 1])
        Z = Z.reshape(B, L, Gr * D) + p.conv_qk_grouped.bias
        qh = q_raw.view(B, L, NK, G, D)
        kh = k_raw.view(B, L, NK, 1, D)
        q = Z[..., :NQ * D].reshape(B, L, NK, G, D) + 0.5 * qh + 0.5 * kh
        k = Z[..., NQ * D:].reshape(B, L, NK, D) + 0.5 * qh.mean(3) + 0.5 * kh[:, :, :, 0]
        q = q * (math.sqrt(D) * torch.rsqrt(q.pow(2).sum(-1, keepdim=True).clamp(min=1e-24)))
        k = k * (math.sqrt(D) * torch.rsqrt(k.pow(2).sum(-1, keepdim=True).clamp(min=1e-24))) * self.qk_norm.temp.view(1, 1, NK, 1)
        v_cur = p.v_proj_current(h)                              # [B, L, NK*D/2]
        v_del = F.pad(p.v_proj_delayed(h), (0, 0, 1, 0))[:, :L]  # W_vdel h_{t-1}, zero at t = 0
        v = torch.cat([v_cur, v_del], -1).view(B, L, NK, D)
        q = apply_rope(q.reshape(B, L, NQ, D), rope)
        k = apply_rope(k, rope)
        # GQA without copying K/V: the G query heads of a KV head are stacked along the rows
        qg = q.view(B, L, NK, G, D).permute(0, 2, 3, 1, 4).reshape(B, NK, G * L, D)
        kt = k.permute(0, 2, 3, 1)                               # [B, NK, D, L]
        s = torch.matmul(qg, kt) * (1.0 / math.sqrt(D)) + mask   # mask [G*L, L] additive causal
        o = torch.matmul(torch.softmax(s, -1), v.transpose(1, 2))  # [B, NK, G*L, D]
        o = o.view(B, NK, G, L, D).permute(0, 3, 1, 2, 4).reshape(B, L, NQ * D)
        return self.o_proj(o)


def rope_tables(c: ZayaConfig, L, device=None, dtype=torch.float32):
    """(cos, sin, R) over all D dims: rope(x) = x * cos + (x @ R) * sin, with cos = 1, sin = 0
    beyond the rotary dims and R the NeoX rotate-half on the first rd dims."""
    D = c.head_dim
    rd = int(D * c.partial_rotary_factor)
    inv = 1.0 / (c.rope_theta ** (torch.arange(0, rd, 2, dtype=torch.float64) / rd))
    ang = torch.arange(L, dtype=torch.float64)[:, None] * inv[None, :]      # [L, rd/2]
    cos = torch.ones(L, D, dtype=torch.float64)
    sin = torch.zeros(L, D, dtype=torch.float64)
    cos[:, :rd] = torch.cat([ang.cos(), ang.cos()], -1)
    sin[:, :rd] = torch.cat([ang.sin(), ang.sin()], -1)
    half = rd // 2
    R = torch.zeros(D, D, dtype=dtype)
    for i in range(half):
        R[i + half, i] = -1.0   # out[i] = -x[i + half]
        R[i, i + half] = 1.0    # out[i + half] = x[i]
    return cos.to(dtype)[:, None, :].to(device), sin.to(dtype)[:, None, :].to(device), R.to(device)


def apply_rope(x, rope):
    # x [B, L, heads, D]
    cos, sin, R = rope
    return x * cos + torch.matmul(x, R) * sin


class RouterMLP(nn.Module):
    def __init__(self, c: ZayaConfig):
        super().__init__()
        R = c.router_hidden_size
        self.norm = RMSNorm(R, c.rms_norm_eps)
        self.fc1 = nn.Linear(R, R, bias=True)
        self.fc2 = nn.Linear(R, R, bias=True)
        self.out_proj = nn.Linear(R, c.num_experts + 1, bias=False)


class Router(nn.Module):
    def __init__(self, c: ZayaConfig, first: bool):
        super().__init__()
        self.down_proj = nn.Linear(c.hidden_size, c.router_hidden_size, bias=True)
        if not first:
            self.router_states_scale = nn.Parameter(torch.ones(c.router_hidden_size))
        self.router_mlp = RouterMLP(c)
        bb = torch.zeros(c.num_experts + 1)
        bb[-1] = -1.0
        self.register_buffer("balancing_biases", bb)

    def forward(self, h, r_prev):
        r = self.down_proj(h)
        if r_prev is not None:
            r = r + r_prev * self.router_states_scale
        m = self.router_mlp
        u = m.norm(r)
        u = F.gelu(m.fc1(u))
        u = F.gelu(m.fc2(u))
        logits = m.out_proj(u)
        return logits, r


class Experts(nn.Module):
    def __init__(self, c: ZayaConfig):
        super().__init__()
        E, I, H = c.num_experts, c.moe_intermediate_size, c.hidden_size
        self.gate_up_proj = nn.Parameter(torch.empty(E, 2 * I, H))
        self.down_proj = nn.Parameter(torch.empty(E, H, I))


class MoE(nn.Module):
    def __init__(self, c: ZayaConfig, first: bool):
        super().__init__()
        self.c = c
        self.gate = Router(c, first)
        self.experts = Experts(c)

    def forward(self, h, r_prev):
        c = self.c
        E, I = c.num_experts, c.moe_intermediate_size
        shape = h.shape
        hf = h.reshape(-1, shape[-1])
        logits, r = self.gate(hf, None if r_prev is None else r_prev)
        prob = torch.softmax(logits, -1)
        with torch.no_grad():
            choice = torch.argmax(prob + self.gate.balancing_biases, -1)
        w = prob.gather(1, choice[:, None])                      # raw probability, not renormalised
        order = torch.argsort(choice)
        counts = torch.bincount(choice, minlength=E + 1).tolist()
        xs = hf.index_select(0, order)
        ws = w.index_select(0, order)
        outs, start = [], 0
        for e in range(E + 1):
            n = counts[e]
            if n == 0:
                continue
            x = xs[start:start + n]
            if e == E:
                y = x                                             # skip class: p_skip * h
            else:
                gu = x @ self.experts.gate_up_proj[e].t()
                y = (F.silu(gu[:, :I]) * gu[:, I:]) @ self.experts.down_proj[e].t()
            outs.append(y * ws[start:start + n])
            start += n
        ys = torch.cat(outs, 0)
        out = torch.empty_like(ys).index_copy(0, order, ys)
        stats = (prob, choice)
        return out.view(shape), r, stats


class DecoderLayer(nn.Module):
    def __init__(self, c: ZayaConfig, index: int):
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.self_attn = CCAAttention(c)
        self.post_attention_residual_scale = ResidualScale(c.hidden_size)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.mlp = MoE(c, first=index == 0)
        self.post_mlp_residual_scale = ResidualScale(c.hidden_size)

    def forward(self, x, r_prev, rope, mask):
        a = self.self_attn(self.input_layernorm(x), rope, mask)
        x = self.post_attention_residual_scale(a, x)
        m, r, stats = self.mlp(self.post_attention_layernorm(x), r_prev)
        x = self.post_mlp_residual_scale(m, x)
        return x, r, stats


class ZayaModel(nn.Module):
    def __init__(self, c: ZayaConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.input_hidden_states_scale = nn.Parameter(torch.ones(c.hidden_size))
        self.input_hidden_states_bias = nn.Parameter(torch.zeros(c.hidden_size))
        self.layers = nn.ModuleList([DecoderLayer(c, i) for i in range(c.num_hidden_layers)])
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)


class ZayaForCausalLM(nn.Module):
    def __init__(self, c: ZayaConfig):
        super().__init__()
        self.config = c
        self.model = ZayaModel(c)
        self._init_weights()

    def _init_weights(self):
        c = self.config
        g = torch.Generator().manual_seed(0)  # overridden by the caller's torch.manual_seed order

        def normal(t, std):
            with torch.no_grad():
                t.normal_(0.0, std)

        normal(self.model.embed_tokens.weight, 0.05)
        out_std = 1.0 / math.sqrt(2 * c.num_hidden_layers)
        for layer in self.model.layers:
            p = layer.self_attn.qkv_proj
            for lin in (p.q_proj, p.k_proj, p.v_proj_current, p.v_proj_delayed):
                normal(lin.weight, 1.0 / math.sqrt(c.hidden_size))
            normal(layer.self_attn.o_proj.weight, out_std / math.sqrt(c.num_attention_heads * c.head_dim))
            with torch.no_grad():
                # convs start near identity (Z ~ X), with a little mixing
                w0 = p.conv_qk_depthwise.weight
                w0.zero_()
                w0[:, 0, 1] = 1.0
                w0.add_(torch.randn_like(w0) * 0.1)
                p.conv_qk_depthwise.bias.zero_()
                w1 = p.conv_qk_grouped.weight                     # [C, D, 2]
                w1.normal_(0.0, 0.1 / math.sqrt(c.head_dim))
                D = c.head_dim
                eye = torch.eye(D)
                for gidx in range(c.num_attention_heads + c.num_key_value_heads):
                    w1[gidx * D:(gidx + 1) * D, :, 1] += eye
                p.conv_qk_grouped.bias.zero_()
            gate = layer.mlp.gate
            normal(gate.down_proj.weight, 1.0 / math.sqrt(c.hidden_size))
            with torch.no_grad():
                gate.down_proj.bias.zero_()
            for lin in (gate.router_mlp.fc1, gate.router_mlp.fc2):
                normal(lin.weight, 1.0 / math.sqrt(c.router_hidden_size))
                with torch.no_grad():
                    lin.bias.zero_()
            normal(gate.router_mlp.out_proj.weight, 0.1 / math.sqrt(c.router_hidden_size))
            normal(layer.mlp.experts.gate_up_proj, 1.0 / math.sqrt(c.hidden_size))
            normal(layer.mlp.experts.down_proj, out_std / math.sqrt(c.moe_intermediate_size))
        del g

    def forward(self, ids, return_stats=False):
        c = self.config
        B, L = ids.shape
        dt = self.model.embed_tokens.weight.dtype
        rope = rope_tables(c, L, ids.device, dt)
        G = c.num_attention_heads // c.num_key_value_heads
        mask = torch.full((L, L), float("-inf"), dtype=dt).triu(1).repeat(G, 1)
        m = self.model
        x = (m.embed_tokens(ids) + m.input_hidden_states_bias) * m.input_hidden_states_scale
        r = None
        stats = []
        for layer in m.layers:
            x, r, st = layer(x, r, rope, mask)
            stats.append(st)
        y = m.norm(x)
        logits = y @ m.embed_tokens.weight.t()
        return (logits, stats) if return_stats else logits

    # ---- MoE balancing ---------------------------------------------------------------------------

    def aux_loss(self, stats, mask):
        """Switch-style load-balancing loss over the expert classes (tokens where mask is true)."""
        E = self.config.num_experts
        total = 0.0
        mf = mask.reshape(-1).float()
        n = mf.sum().clamp(min=1)
        for prob, choice in stats:
            frac = torch.zeros(E + 1).index_add(0, choice, mf)[:E] / n
            # over the expert classes only, renormalised: moving probability into the (never
            # chosen) skip class must not lower the loss
            pe = prob[:, :E] / prob[:, :E].sum(-1, keepdim=True)
            pmean = (pe * mf[:, None]).sum(0) / n
            total = total + E * (frac.detach() * pmean).sum()
        return total / len(stats)

    @torch.no_grad()
    def update_biases(self, stats, mask, rate):
        """Aux-loss-free balancing: raise the bias of under-loaded experts, lower over-loaded ones.
        Biases are re-centred to mean 0 so the best expert bias is >= 0 > skip's -1 - p_skip."""
        E = self.config.num_experts
        mf = mask.reshape(-1).float()
        loads = []
        for layer, (prob, choice) in zip(self.model.layers, stats):
            load = torch.zeros(E + 1).index_add(0, choice, mf)[:E]
            bb = layer.mlp.gate.balancing_biases
            bb[:E] += rate * torch.sign(load.mean() - load)
            bb[:E] -= bb[:E].mean()
            loads.append(load / mf.sum().clamp(min=1))
        return loads


def count_params(model):
    return sum(p.numel() for p in model.parameters())
