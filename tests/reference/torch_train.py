#!/usr/bin/env python3
"""An independent PyTorch trainer for DeepSeek-V3-architecture models, the reference `fathom train`
is compared against (tests/train_reference.py, docs/TRAINING.md "Reference comparison").

Written from the published architecture (DeepSeek-V2/V3 reports, Hugging Face's
modeling_deepseek_v3 semantics, /work/shared/CONVENTIONS.md), not from fathom's code:
  * RMSNorm with rms_norm_eps.
  * MLA: q = q_b(RMSNorm(q_a(x))) (or q_proj), [c, k_pe] = kv_a_proj_with_mqa(x),
    [k_nope, v] = kv_b(RMSNorm(c)); RoPE on (q_pe, k_pe) rotating interleaved pairs
    (x[2i], x[2i+1]) by t * inv_freq[i]; YaRN as Hugging Face applies it at every length
    (blended inv_freq, cos/sin times mscale(factor, mscale)/mscale(factor, mscale_all_dim), softmax
    scale times mscale(factor, mscale_all_dim)^2); causal softmax.
  * MoE: sigmoid (or softmax) scores; noaux_tc selection on scores + e_score_correction_bias
    with group-limited routing (group score = sum of its top-2, topk_group groups kept, the others
    masked to -inf), top-k; gate weights are the unbiased scores of the chosen experts, normalised
    when norm_topk_prob, times routed_scaling_factor; shared experts added.
  * MTP (depth D): module k gets h = the main model's output after model.norm (k = 0) or the
    previous module's shared_head.norm output, input [enorm(embed(t_{i+k+1})); hnorm(h_i)] ->
    eh_proj -> decoder layer -> shared_head.norm -> lm_head (embedding and head shared with the
    main model), cross-entropy against t_{i+k+2}.
  * loss = CE + lambda * mean_k CE_mtp_k + sum over MoE layers of the sequence-wise balance loss
    alpha * sum_i f_i P_i (f_i = E/(K T) * #tokens choosing i, P_i = mean_t s_{i,t} / sum_j s_{j,t}),
    averaged over the B sequences of the batch.
  * AdamW (torch.optim.AdamW; weight decay on Linear weights only), linear warmup then cosine
    decay to min_lr_ratio * lr, global-norm clipping (clip_grad_norm_), and after each step the
    auxiliary-loss-free balancing rule bias_e += gamma * sign(mean load - load_e) per MoE layer.

Data: DATA/train.bin (uint32 tokens); batch row b of step s is the window of T + 1 + D tokens
starting at splitmix64-derived position h(seed, s, b) mod (n - W + 1) -- the documented,
deterministic batch order of `fathom train` (src/training/data.h), reproduced here from its
definition.

    torch_train.py --init DIR --data DATA --steps N --batch B --seq T [--lr ...] --out LOG.jsonl
                   [--final-weights FINAL.safetensors]

Each step's log line: loss, mtp_loss, balance_loss, grad_norm (before clipping), lr, step_s (wall
seconds of the step, for speed comparisons), load_max_mean and expert_load (tokens routed to each expert, per MoE layer: main layers, then MTP).
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_np import SafetensorsFile, write_safetensors  # noqa: E402
from lowp_ref import BLOCK, bf16_round, operand  # noqa: E402

M64 = (1 << 64) - 1


def mix(z):
    """splitmix64's finaliser (with its increment), on Python ints."""
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def batch_windows(tokens, seed, step, B, W):
    starts = len(tokens) - W + 1
    rows = []
    for b in range(B):
        h = mix(seed ^ mix(step ^ mix(b + 0x5EED)))
        s = h % starts
        rows.append(tokens[s:s + W].astype(np.int64))
    return np.stack(rows)


# ---- rope / yarn ---------------------------------------------------------------------------------


def yarn_get_mscale(scale, mscale):
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def rope_tables(cfg, T, dtype):
    dr, base = cfg["qk_rope_head_dim"], cfg.get("rope_theta", 10000.0)
    idx = torch.arange(0, dr, 2, dtype=torch.float64) / dr
    inv_freq = 1.0 / base ** idx
    factor = 1.0
    rs = cfg.get("rope_scaling")
    if rs and rs.get("type", rs.get("rope_type")) == "yarn":
        factor = rs["factor"]
        orig = rs.get("original_max_position_embeddings", 4096)
        beta_fast, beta_slow = rs.get("beta_fast", 32), rs.get("beta_slow", 1)
        mscale, mscale_all_dim = rs.get("mscale", 1), rs.get("mscale_all_dim", 0)

        def corr_dim(n_rot):
            return (dr * math.log(orig / (n_rot * 2 * math.pi))) / (2 * math.log(base))

        low = max(math.floor(corr_dim(beta_fast)), 0)
        high = min(math.ceil(corr_dim(beta_slow)), dr - 1)
        if low == high:
            high += 0.001
        ramp = ((torch.arange(dr // 2, dtype=torch.float64) - low) / (high - low)).clamp(0, 1)
        extra_mask = 1 - ramp  # 1: keep the original frequency (high-frequency dims)
        inv_freq = inv_freq / factor * (1 - extra_mask) + inv_freq * extra_mask
        attn = yarn_get_mscale(factor, mscale) / yarn_get_mscale(factor, mscale_all_dim)
    else:
        attn = 1.0
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    return (torch.cos(ang) * attn).to(dtype), (torch.sin(ang) * attn).to(dtype)


def softmax_scale(cfg):
    s = (cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]) ** -0.5
    rs = cfg.get("rope_scaling")
    if rs and rs.get("type", rs.get("rope_type")) == "yarn" and rs.get("mscale_all_dim", 0):
        m = yarn_get_mscale(rs["factor"], rs["mscale_all_dim"])
        s = s * m * m
    return s


def apply_rope(x, cos, sin):
    """x [..., T, dr]: rotates the pairs (x[2i], x[2i+1]) by angle t * inv_freq[i]."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    r0 = x0 * cos - x1 * sin
    r1 = x1 * cos + x0 * sin
    return torch.stack((r0, r1), dim=-1).flatten(-2)


# ---- the model -----------------------------------------------------------------------------------

# The Linears --precision bf16 / fp8 computes in low precision (DeepSeek-V3 §3.3: those of the
# decoder layers, MTP's included; not eh_proj, the router gate, the embedding or the head).
LOWP_LINEARS = ("q_a_proj", "q_b_proj", "q_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj", "gate_proj",
                "up_proj", "down_proj")


class LowpLinear(torch.autograd.Function):
    """y = x w^T with the three GEMMs of linear_passes (torch tensors in, torch tensors out)."""

    @staticmethod
    def forward(ctx, x, w, precision):
        x2 = x.detach().reshape(-1, x.shape[-1]).numpy()
        wn = w.detach().numpy()
        ctx.save_for_backward(x, w)
        ctx.precision = precision
        y = operand(x2, 1, precision) @ operand(wn, BLOCK, precision).T
        return torch.from_numpy(y).to(x.dtype).reshape(*x.shape[:-1], w.shape[0])

    @staticmethod
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        p = ctx.precision
        x2 = x.detach().reshape(-1, x.shape[-1]).numpy()
        wn = w.detach().numpy()
        dy2 = dy.detach().reshape(-1, w.shape[0]).numpy()
        dx = operand(dy2, 1, p) @ operand(wn.T, BLOCK, p).T
        stored = operand(x2, 1, p).astype(np.float32)
        dw = operand(dy2.T, 1, p) @ operand(stored.T, 1, p).T
        return torch.from_numpy(dx).to(x.dtype).reshape(x.shape), torch.from_numpy(dw).to(w.dtype), None




class Model:
    def __init__(self, cfg, weights, T, dtype):
        self.c = cfg
        self.w = weights  # name -> tensor
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.cos, self.sin = rope_tables(cfg, T, dtype)
        self.scale = softmax_scale(cfg)
        self.loads = []
        self.precision = "f32"

    def rmsnorm(self, x, name):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w[name]

    def lin(self, x, name):
        if self.precision != "f32" and name.split(".")[-2] in LOWP_LINEARS:
            return LowpLinear.apply(x, self.w[name], self.precision)
        return x @ self.w[name].t()

    def mla(self, x, p):
        c, w = self.c, self.w
        B, T, _ = x.shape
        nh, dn, dr, dv = c["num_attention_heads"], c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"]
        r = c["kv_lora_rank"]
        if c.get("q_lora_rank"):
            q = self.lin(self.rmsnorm(self.lin(x, p + "q_a_proj.weight"), p + "q_a_layernorm.weight"),
                         p + "q_b_proj.weight")
        else:
            q = self.lin(x, p + "q_proj.weight")
        q = q.view(B, T, nh, dn + dr).transpose(1, 2)  # [B, nh, T, dq]
        q_nope, q_pe = q[..., :dn], q[..., dn:]
        ckv = self.lin(x, p + "kv_a_proj_with_mqa.weight")
        latent, k_pe = ckv[..., :r], ckv[..., r:]
        kv = self.lin(self.rmsnorm(latent, p + "kv_a_layernorm.weight"), p + "kv_b_proj.weight")
        kv = kv.view(B, T, nh, dn + dv).transpose(1, 2)
        k_nope, v = kv[..., :dn], kv[..., dn:]
        q_pe = apply_rope(q_pe, self.cos[:T], self.sin[:T])
        k_pe = apply_rope(k_pe[:, None, :, :], self.cos[:T], self.sin[:T])  # one key for all heads
        s = (q_nope @ k_nope.transpose(-1, -2) + q_pe @ k_pe.transpose(-1, -2)) * self.scale
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        s = s.masked_fill(mask, float("-inf"))
        o = torch.softmax(s, dim=-1) @ v  # [B, nh, T, dv]
        return self.lin(o.transpose(1, 2).reshape(B, T, nh * dv), p + "o_proj.weight")

    def mlp(self, x, p):
        return self.lin(F.silu(self.lin(x, p + "gate_proj.weight")) * self.lin(x, p + "up_proj.weight"),
                        p + "down_proj.weight")

    def moe(self, x, p):
        c = self.c
        B, T, H = x.shape
        E, K = c["n_routed_experts"], c["num_experts_per_tok"]
        xf = x.reshape(B * T, H)
        logits = self.lin(xf, p + "gate.weight")
        scores = torch.sigmoid(logits) if c.get("scoring_func", "softmax") == "sigmoid" else torch.softmax(logits, -1)
        with torch.no_grad():
            choice = scores.detach().clone()
            if c.get("topk_method") == "noaux_tc":
                choice = choice + self.w[p + "gate.e_score_correction_bias"]
            G = c.get("n_group", 1)
            if c.get("topk_method", "greedy") != "greedy" and G > 1:
                grouped = choice.view(B * T, G, E // G)
                if c.get("topk_method") == "noaux_tc":
                    gscore = grouped.topk(2, dim=-1).values.sum(-1)
                else:
                    gscore = grouped.max(-1).values
                keep = gscore.topk(c["topk_group"], dim=-1).indices
                gmask = torch.zeros(B * T, G, dtype=torch.bool)
                gmask.scatter_(1, keep, True)
                choice = choice.masked_fill(~gmask.repeat_interleave(E // G, dim=1), float("-inf"))
            idx = choice.topk(K, dim=-1).indices  # [N, K]
        g = scores.gather(1, idx)
        if c.get("norm_topk_prob") and K > 1:
            g = g / (g.sum(-1, keepdim=True) + 1e-20)
        g = g * c.get("routed_scaling_factor", 1.0)
        out = torch.zeros_like(xf)
        for e in range(E):
            rows, slot = (idx == e).nonzero(as_tuple=True)
            if rows.numel() == 0:
                continue
            y = self.mlp(xf[rows], f"{p}experts.{e}.")
            out = out.index_add(0, rows, y * g[rows, slot][:, None])
        if c.get("n_shared_experts"):
            out = out + self.mlp(xf, p + "shared_experts.")
        load = torch.bincount(idx.flatten(), minlength=E)
        self.loads.append((p, load))
        # Sequence-wise balance loss.
        onehot = torch.zeros(B * T, E, dtype=scores.dtype).scatter_(1, idx, 1.0).view(B, T, E)
        f = onehot.sum(1) * (E / (K * T))  # [B, E]
        P = (scores / scores.sum(-1, keepdim=True)).view(B, T, E).mean(1)
        self.balance = self.balance + self.alpha * (f * P).sum(-1).mean()
        return out.view(B, T, H)

    def layer(self, x, i):
        c = self.c
        p = f"model.layers.{i}."
        x = x + self.mla(self.rmsnorm(x, p + "input_layernorm.weight"), p + "self_attn.")
        h = self.rmsnorm(x, p + "post_attention_layernorm.weight")
        moe = c.get("n_routed_experts") and i >= c.get("first_k_dense_replace", 0) and \
            i % c.get("moe_layer_freq", 1) == 0
        return x + (self.moe(h, p + "mlp.") if moe else self.mlp(h, p + "mlp."))

    def losses(self, win, alpha):
        """win [B, T + 1 + D] -> (CE, mean MTP CE, balance, total)."""
        c = self.c
        D = c.get("num_nextn_predict_layers", 0)
        T = win.shape[1] - 1 - D
        self.alpha, self.balance, self.loads = alpha, torch.zeros((), dtype=self.cos.dtype), []
        emb = self.w["model.embed_tokens.weight"]
        head = emb if c.get("tie_word_embeddings") else self.w["lm_head.weight"]
        x = emb[win[:, :T]]
        for i in range(c["num_hidden_layers"]):
            x = self.layer(x, i)
        h = self.rmsnorm(x, "model.norm.weight")
        V = head.shape[0]
        ce = F.cross_entropy((h @ head.t()).reshape(-1, V), win[:, 1:T + 1].reshape(-1))
        mtp = []
        for k in range(D):
            i = c["num_hidden_layers"] + k
            p = f"model.layers.{i}."
            e = self.rmsnorm(emb[win[:, k + 1:k + 1 + T]], p + "enorm.weight")
            z = self.lin(torch.cat([e, self.rmsnorm(h, p + "hnorm.weight")], -1), p + "eh_proj.weight")
            h = self.rmsnorm(self.layer(z, i), p + "shared_head.norm.weight")
            mtp.append(F.cross_entropy((h @ head.t()).reshape(-1, V), win[:, k + 2:k + 2 + T].reshape(-1)))
        mtp_loss = torch.stack(mtp).mean() if mtp else torch.zeros((), dtype=ce.dtype)
        return ce, mtp_loss, self.balance


def lr_at(step, lr, min_lr, warmup, total):
    if step < warmup:
        return lr * (step + 1) / warmup
    span = max(1, total - warmup)
    prog = min(1.0, (step - warmup) / span)
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * prog))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--init", required=True, help="HF checkpoint dir (config.json + model.safetensors)")
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True, help="JSONL loss log")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr-ratio", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.95)
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--mtp-weight", type=float, default=0.3)
    ap.add_argument("--balance-alpha", type=float, default=1e-4)
    ap.add_argument("--bias-update", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    ap.add_argument("--precision", choices=["f32", "bf16", "fp8"], default="f32",
                    help="the decoder Linears' arithmetic (lowp_ref.py); bf16 / fp8 also keep AdamW's moments in BF16")
    ap.add_argument("--final-weights", help="write the weights after the last step here (F64 safetensors)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dtype = getattr(torch, a.dtype)

    cfg = json.load(open(os.path.join(a.init, "config.json")))
    st = SafetensorsFile(os.path.join(a.init, "model.safetensors"))
    weights = {n: torch.tensor(st.get(n), dtype=dtype) for n in st.names()}
    decay, no_decay = [], []
    for n, t in weights.items():
        if n.endswith("e_score_correction_bias"):
            continue  # owned by the balancing rule, never by gradients
        t.requires_grad_(True)
        is_vector = t.dim() == 1
        (no_decay if is_vector or n == "model.embed_tokens.weight" else decay).append(t)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps)
    trainable = decay + no_decay

    tokens = np.fromfile(os.path.join(a.data, "train.bin"), dtype="<u4")
    D = cfg.get("num_nextn_predict_layers", 0)
    W = a.seq + 1 + D
    model = Model(cfg, weights, a.seq, dtype)
    model.precision = a.precision
    E, K = cfg.get("n_routed_experts") or 0, cfg.get("num_experts_per_tok", 1)
    out = open(a.out, "w")
    t0 = time.time()
    for step in range(a.steps):
        ts = time.time()
        win = torch.from_numpy(batch_windows(tokens, a.seed, step, a.batch, W))
        ce, mtp, bal = model.losses(win, a.balance_alpha)
        total = ce + a.mtp_weight * mtp + bal
        opt.zero_grad(set_to_none=True)
        total.backward()
        gnorm = float(torch.nn.utils.clip_grad_norm_(trainable, a.clip if a.clip > 0 else float("inf")))
        lr = lr_at(step, a.lr, a.lr * a.min_lr_ratio, a.warmup, a.steps)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        if a.precision != "f32":  # the moments are stored in BF16 once the step has used them
            with torch.no_grad():
                for st in opt.state.values():
                    for k in ("exp_avg", "exp_avg_sq"):
                        st[k].copy_(torch.from_numpy(bf16_round(st[k].numpy()).astype(np.float64)))
        load_ratio, expert_load = [], []
        with torch.no_grad():
            mean = a.batch * a.seq * K / max(E, 1)
            for p, load in model.loads:
                if a.bias_update > 0 and cfg.get("topk_method") == "noaux_tc":
                    weights[p + "gate.e_score_correction_bias"] += a.bias_update * torch.sign(mean - load.to(dtype))
                load_ratio.append(float(load.max()) / mean)
                expert_load.append([int(x) for x in load])
        rec = {"step": step + 1, "loss": float(ce), "mtp_loss": float(mtp), "balance_loss": float(bal),
               "grad_norm": gnorm, "lr": lr, "step_s": time.time() - ts}
        if load_ratio:
            rec["load_max_mean"] = sum(load_ratio) / len(load_ratio)
            rec["expert_load"] = expert_load
        out.write(json.dumps(rec) + "\n")
        out.flush()
    print(f"torch_train: {a.steps} steps in {time.time() - t0:.1f} s, final loss {float(ce):.4f}")
    if a.final_weights:
        write_safetensors(a.final_weights, {n: ("F64", t.detach().numpy()) for n, t in weights.items()})


if __name__ == "__main__":
    main()
