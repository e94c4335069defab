#!/usr/bin/python3
"""Independent float64 reference forward pass of DeepSeek-V2/V3-architecture models (NumPy only).

    deepseek_ref.py MODEL_DIR --ids 1,2,3 --out logits.npy [--mtp-out mtp.npy]

writes float32 .npy [tokens, vocab] with every position's logits, and with --mtp-out the MTP layer's
logits for positions 0..n-2 (hidden state i with token i+1, predicting token i+2).

This file is documentation of the semantics as much as a test oracle: one function per concept,
written from the published architecture (DeepSeek-V2/V3 papers, deepseek-ai/DeepSeek-V3
inference/model.py, Hugging Face modeling_deepseek.py), with the team's CONVENTIONS.md choices
where they disagree: MTP input after model.norm, embedding first; YaRN at every length; norm_topk_prob
then routed_scaling_factor always; the router bias steers selection only; scale_inv multiplies.
Everything is the plain math in float64: keys and values are decompressed from the latent (the
"absorbed" form appears nowhere).
"""

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_np import ModelDir  # noqa: E402

# ----------------------------------------------------------------------------------------------
# basic ops


def linear(x, w):
    """y = x W^T, W stored [out, in] as in PyTorch."""
    return x @ w.T


def rms_norm(x, w, eps):
    """RMSNorm(x) = x / sqrt(mean(x^2) + eps) * w."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


# ----------------------------------------------------------------------------------------------
# rotary embedding (RoPE / YaRN)


def yarn_get_mscale(scale, mscale):
    """HF yarn_get_mscale: 1 if scale <= 1 else 0.1 * mscale * ln(scale) + 1."""
    if scale <= 1:
        return 1.0
    return 0.1 * mscale * math.log(scale) + 1.0


def yarn_params(cfg):
    """rope_scaling of type yarn with HF's defaults for absent keys (DeepseekV3YarnRotaryEmbedding:
    original_max_position_embeddings 4096, beta_fast 32, beta_slow 1, mscale 1, mscale_all_dim 0);
    None without YaRN."""
    rs = cfg.get("rope_scaling")
    if not rs:
        return None
    kind = rs.get("type", rs.get("rope_type"))
    if kind != "yarn":
        raise NotImplementedError(f"rope_scaling type {kind!r} is not modelled by the reference")
    return dict(
        factor=float(rs["factor"]),
        original_max_position_embeddings=rs.get("original_max_position_embeddings", 4096),
        beta_fast=rs.get("beta_fast", 32),
        beta_slow=rs.get("beta_slow", 1),
        mscale=rs.get("mscale", 1),
        mscale_all_dim=rs.get("mscale_all_dim", 0),
    )


def yarn_correction_dim(num_rotations, dim, base, max_pos):
    return (dim * math.log(max_pos / (num_rotations * 2 * math.pi))) / (2 * math.log(base))


def rope_frequencies(cfg):
    """-> (inv_freq [dim/2], scale applied to cos and sin)."""
    dim = cfg["qk_rope_head_dim"]
    base = float(cfg.get("rope_theta", 10000.0))
    exponents = np.arange(0, dim, 2, dtype=np.float64) / dim
    freq_extra = 1.0 / base**exponents
    y = yarn_params(cfg)
    if y is None:
        return freq_extra, 1.0
    factor = y["factor"]
    freq_inter = 1.0 / (factor * base**exponents)
    orig = y["original_max_position_embeddings"]
    low = max(math.floor(yarn_correction_dim(y["beta_fast"], dim, base, orig)), 0)
    high = min(math.ceil(yarn_correction_dim(y["beta_slow"], dim, base, orig)), dim - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(dim // 2, dtype=np.float64) - low) / (high - low), 0.0, 1.0)
    mask = 1.0 - ramp  # 1: keep the original (extrapolated) frequency, 0: interpolate
    inv_freq = freq_inter * (1.0 - mask) + freq_extra * mask
    cos_sin_scale = yarn_get_mscale(factor, y["mscale"]) / yarn_get_mscale(factor, y["mscale_all_dim"])
    return inv_freq, cos_sin_scale


def apply_rope(x, positions, inv_freq, scale):
    """Interleaved-pair RoPE (the official view_as_complex form): for each i, the pair
    (x[2i], x[2i+1]) is rotated by the angle pos * inv_freq[i]; cos and sin carry `scale`.
    x: [T, ..., dim], positions: [T]."""
    angles = np.outer(positions.astype(np.float64), inv_freq)  # [T, dim/2]
    cos = np.cos(angles) * scale
    sin = np.sin(angles) * scale
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (inv_freq.shape[0],)
    cos, sin = cos.reshape(shape), sin.reshape(shape)
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out


def softmax_scale(cfg):
    """(qk_nope + qk_rope)^-0.5, times mscale^2 with mscale = yarn_get_mscale(factor, mscale_all_dim)
    when YaRN is configured with a non-zero mscale_all_dim (HF semantics)."""
    s = (cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]) ** -0.5
    y = yarn_params(cfg)
    if y is not None and y["mscale_all_dim"]:
        m = yarn_get_mscale(y["factor"], y["mscale_all_dim"])
        s = s * m * m
    return s


# ----------------------------------------------------------------------------------------------
# Multi-head Latent Attention


def mla(cfg, W, p, x, positions):
    """x: [T, hidden] (already input_layernorm-ed); causal attention over the T positions."""
    T = x.shape[0]
    nh = cfg["num_attention_heads"]
    dn, dr, dv = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
    r = cfg["kv_lora_rank"]
    eps = cfg["rms_norm_eps"]
    inv_freq, rope_scale = rope_frequencies(cfg)

    # queries
    if cfg.get("q_lora_rank") is None:
        q = linear(x, W(p + "self_attn.q_proj.weight"))
    else:
        qa = rms_norm(linear(x, W(p + "self_attn.q_a_proj.weight")), W(p + "self_attn.q_a_layernorm.weight"), eps)
        q = linear(qa, W(p + "self_attn.q_b_proj.weight"))
    q = q.reshape(T, nh, dn + dr)
    q_nope, q_pe = q[..., :dn], q[..., dn:]

    # keys and values through the compressed latent
    kv_a = linear(x, W(p + "self_attn.kv_a_proj_with_mqa.weight"))  # [T, r + dr]
    c_kv, k_pe = kv_a[:, :r], kv_a[:, r:]  # k_pe is shared by all heads
    c_kv = rms_norm(c_kv, W(p + "self_attn.kv_a_layernorm.weight"), eps)
    kv = linear(c_kv, W(p + "self_attn.kv_b_proj.weight")).reshape(T, nh, dn + dv)
    k_nope, v = kv[..., :dn], kv[..., dn:]

    q_pe = apply_rope(q_pe, positions, inv_freq, rope_scale)  # [T, nh, dr]
    k_pe = apply_rope(k_pe, positions, inv_freq, rope_scale)  # [T, dr]

    # scores[h, i, j] = q_i . k_j over the nope and rope parts
    scores = np.einsum("ihd,jhd->hij", q_nope, k_nope) + np.einsum("ihd,jd->hij", q_pe, k_pe)
    scores = scores * softmax_scale(cfg)
    causal = np.tril(np.ones((T, T), dtype=bool))
    scores = np.where(causal[None], scores, -np.inf)
    attn = softmax(scores, axis=-1)
    out = np.einsum("hij,jhd->ihd", attn, v).reshape(T, nh * dv)
    return linear(out, W(p + "self_attn.o_proj.weight"))


# ----------------------------------------------------------------------------------------------
# feed-forward: dense MLP and MoE


def gated_mlp(W, p, x):
    """down(silu(gate(x)) * up(x)); p ends with '.' (e.g. 'model.layers.0.mlp.')."""
    return linear(silu(linear(x, W(p + "gate_proj.weight"))) * linear(x, W(p + "up_proj.weight")), W(p + "down_proj.weight"))


def is_moe_layer(cfg, i):
    return (
        cfg.get("n_routed_experts") is not None
        and i >= cfg.get("first_k_dense_replace", 0)
        and i % cfg.get("moe_layer_freq", 1) == 0
    )


def route(cfg, logits, bias):
    """Router for one token. logits: [n_experts]. -> (expert indices [top_k], weights [top_k])."""
    n = logits.shape[0]
    k = cfg["num_experts_per_tok"]
    scoring = cfg.get("scoring_func", "softmax")
    if scoring == "softmax":
        scores = softmax(logits)
    elif scoring == "sigmoid":
        scores = sigmoid(logits)
    else:
        raise NotImplementedError(f"scoring_func {scoring!r}")

    method = cfg.get("topk_method", "greedy")
    n_group = cfg.get("n_group") or 1
    topk_group = cfg.get("topk_group") or n_group
    if method == "greedy":
        choice = scores
    elif method == "group_limited_greedy":
        group_score = scores.reshape(n_group, -1).max(axis=-1)
        choice = keep_top_groups(scores, group_score, topk_group)
    elif method == "noaux_tc":
        biased = scores + bias  # the bias only steers the selection
        group_score = np.sort(biased.reshape(n_group, -1), axis=-1)[:, -2:].sum(axis=-1)
        choice = keep_top_groups(biased, group_score, topk_group)
    else:
        raise NotImplementedError(f"topk_method {method!r}")

    idx = np.argsort(-choice, kind="stable")[:k]
    if ROUTING_MARGINS is not None:
        ROUTING_MARGINS.append(selection_margin(choice, k, group_score if method != "greedy" else None, topk_group))
    weights = scores[idx]  # the weights are the unbiased scores
    if cfg.get("norm_topk_prob", False) and k > 1:
        weights = weights / (weights.sum() + 1e-20)
    weights = weights * cfg.get("routed_scaling_factor", 1.0)
    return idx, weights


# When a list, route() appends each token's selection margin: how far the selection is from a tie
# (the gap between the last chosen and the first unchosen expert, and between the last kept and the
# first dropped group). A float32 engine may legitimately choose differently when it is ~1e-6.
ROUTING_MARGINS = None


def selection_margin(choice, k, group_score, topk_group):
    c = np.sort(choice[np.isfinite(choice)])[::-1]
    m = c[k - 1] - c[k] if len(c) > k else np.inf
    if group_score is not None and topk_group < len(group_score):
        g = np.sort(group_score)[::-1]
        m = min(m, g[topk_group - 1] - g[topk_group])
    return float(m)


def keep_top_groups(values, group_score, topk_group):
    """Masks (to -inf) the experts of every group but the topk_group best-scoring groups."""
    n_group = group_score.shape[0]
    keep = np.zeros(n_group, dtype=bool)
    keep[np.argsort(-group_score, kind="stable")[:topk_group]] = True
    mask = np.repeat(keep, values.shape[0] // n_group)
    return np.where(mask, values, -np.inf)


def moe(cfg, W, p, x):
    """Routed experts (weighted by the router) plus the shared experts; x: [T, hidden]."""
    gate = W(p + "mlp.gate.weight")
    bias = W(p + "mlp.gate.e_score_correction_bias") if cfg.get("topk_method") == "noaux_tc" else None
    logits = linear(x, gate)  # [T, n_experts]
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        idx, weights = route(cfg, logits[t], bias)
        for e, w in zip(idx, weights):
            out[t] += w * gated_mlp(W, f"{p}mlp.experts.{e}.", x[t : t + 1])[0]
    if cfg.get("n_shared_experts"):
        out += gated_mlp(W, p + "mlp.shared_experts.", x)
    return out


def ffn(cfg, W, i, p, x):
    if is_moe_layer(cfg, i):
        return moe(cfg, W, p, x)
    return gated_mlp(W, p + "mlp.", x)


# ----------------------------------------------------------------------------------------------
# decoder layer, model, MTP


def decoder_layer(cfg, W, i, x, positions):
    """h = x + MLA(RMSNorm(x)); out = h + FFN(RMSNorm(h))."""
    p = f"model.layers.{i}."
    eps = cfg["rms_norm_eps"]
    h = x + mla(cfg, W, p, rms_norm(x, W(p + "input_layernorm.weight"), eps), positions)
    return h + ffn(cfg, W, i, p, rms_norm(h, W(p + "post_attention_layernorm.weight"), eps))


class Weights:
    """Callable name -> float64 weight (fp8 dequantised), cached."""

    def __init__(self, model_dir):
        self.md = ModelDir(model_dir)
        self.cache = {}

    def has(self, name):
        return self.md.has(name)

    def __call__(self, name):
        if name not in self.cache:
            self.cache[name] = self.md.weight(name)
        return self.cache[name]


def forward(cfg, W, ids):
    """-> (logits [T, vocab], final hidden states after model.norm [T, hidden])."""
    ids = np.asarray(ids, dtype=np.int64)
    positions = np.arange(len(ids))
    x = W("model.embed_tokens.weight")[ids]
    for i in range(cfg["num_hidden_layers"]):
        x = decoder_layer(cfg, W, i, x, positions)
    h = rms_norm(x, W("model.norm.weight"), cfg["rms_norm_eps"])
    return linear(h, W("lm_head.weight")), h


def mtp_forward(cfg, W, ids, h):
    """Multi-token prediction layer L = num_hidden_layers, for positions 0..n-2:
    x_i = eh_proj([enorm(embed(token_{i+1})); hnorm(h_i)]) with h_i the main model's hidden state
    after model.norm; then the full decoder layer L (its own causal attention over positions
    0..n-2), shared_head.norm and shared_head.head. -> logits [n-1, vocab] (predicting token i+2)."""
    L = cfg["num_hidden_layers"]
    p = f"model.layers.{L}."
    eps = cfg["rms_norm_eps"]
    ids = np.asarray(ids, dtype=np.int64)
    n = len(ids) - 1
    if n <= 0:
        return np.zeros((0, cfg["vocab_size"]))
    embed_name = p + "embed_tokens.weight" if W.has(p + "embed_tokens.weight") else "model.embed_tokens.weight"
    e = rms_norm(W(embed_name)[ids[1:]], W(p + "enorm.weight"), eps)
    hh = rms_norm(h[:n], W(p + "hnorm.weight"), eps)
    x = linear(np.concatenate([e, hh], axis=-1), W(p + "eh_proj.weight"))
    x = decoder_layer(cfg, W, L, x, np.arange(n))
    x = rms_norm(x, W(p + "shared_head.norm.weight"), eps)
    return linear(x, W(p + "shared_head.head.weight"))


def reference(model_dir, ids, with_mtp=False):
    """-> (logits float64 [T, vocab], mtp logits [T-1, vocab] or None)."""
    W = Weights(model_dir)
    cfg = W.md.config
    logits, h = forward(cfg, W, ids)
    mtp = None
    if with_mtp:
        if not (cfg.get("num_nextn_predict_layers") or 0) >= 1:
            raise ValueError(f"{model_dir}: config has no MTP layer (num_nextn_predict_layers)")
        mtp = mtp_forward(cfg, W, ids, h)
    return logits, mtp


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--ids", required=True, help="comma-separated token ids")
    ap.add_argument("--out", required=True)
    ap.add_argument("--mtp-out")
    a = ap.parse_args(argv)
    ids = [int(t) for t in a.ids.split(",") if t.strip()]
    logits, mtp = reference(a.model_dir, ids, with_mtp=a.mtp_out is not None)
    np.save(a.out, logits.astype(np.float32))
    if a.mtp_out:
        np.save(a.mtp_out, mtp.astype(np.float32))


if __name__ == "__main__":
    main()
