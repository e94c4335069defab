#!/usr/bin/python3
"""Internal-consistency checks of the reference (no fathom needed).

    selftest.py [--tmp DIR]

- fp8 e4m3fn / e5m2 tables against known values; the e4m3 encoder rounds to nearest even and
  saturates; bf16 rounding to nearest even; safetensors write/read round trip (all dtypes, single
  file and sharded directory, fp8 block dequantisation with partial edge blocks).
- make_checkpoint: deterministic; the bf16 and fp8 checkpoints decode close to the f32 one; the
  config implies exactly the tensors written.
- the forward: causality (logits at i do not depend on later tokens, for the model and MTP), shapes,
  the interleaved RoPE equals HF's de-interleave + rotate_half form, YaRN really changes the
  frequencies, the router bias changes selections, routing is far from ties, prefix runs match.
- sensitivity: each plausible misreading (RoPE layout, YaRN parts, router options, MTP input, fp8
  scales) moves the logits by far more than the 1e-4 tolerance, so the fathom comparison would catch it.
"""

import argparse
import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import deepseek_ref as ref  # noqa: E402
import make_checkpoint as mc  # noqa: E402
import quant_np as qn  # noqa: E402
import safetensors_np as st  # noqa: E402

FAILURES = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        FAILURES.append(what)


def rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / max(np.linalg.norm(b), 1e-300))


# ----------------------------------------------------------------------------------------------


def test_fp8_tables():
    t = st.E4M3_TABLE
    check(t[0x7E] == 448.0 and t[0xFE] == -448.0, "e4m3 max is 448")
    check(t[0x01] == 2.0**-9 and t[0x07] == 7 * 2.0**-9 and t[0x08] == 2.0**-6, "e4m3 subnormals / min normal")
    check(t[0x38] == 1.0 and t[0x3C] == 1.5, "e4m3 1.0 = 0x38, 1.5 = 0x3C")
    check(np.isnan(t[0x7F]) and np.isnan(t[0xFF]) and np.isfinite(t[0x78]), "e4m3 NaN only at 0x7F/0xFF, 0x78 = 256")
    check(t[0x78] == 256.0 and t[0x80] == 0.0, "e4m3 0x78 = 256, 0x80 = -0")
    check(int(np.isnan(t).sum()) == 2 and not np.isinf(t).any(), "e4m3 has no inf")
    u = st.E5M2_TABLE
    check(u[0x7C] == np.inf and u[0xFC] == -np.inf and np.isnan(u[0x7D]), "e5m2 inf / nan")
    check(u[0x7B] == 57344.0 and u[0x01] == 2.0**-16 and u[0x3C] == 1.0, "e5m2 max 57344, min subnormal 2^-16, 1.0")


def test_fp8_encoder():
    codes = np.array([c for c in range(256) if not np.isnan(st.E4M3_TABLE[c])], dtype=np.uint8)
    back = st.encode_e4m3(st.decode_e4m3(codes))
    check(np.array_equal(back, codes), "e4m3 decode -> encode round-trips every finite code (incl. -0)")
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(20000) * 10.0 ** rng.uniform(-4, 3, 20000), [1e6, -1e6, 449, 465, 464]])
    enc = st.decode_e4m3(st.encode_e4m3(x))
    finite = st.E4M3_TABLE[np.isfinite(st.E4M3_TABLE)]
    nearest_err = np.min(np.abs(np.clip(x, -448, 448)[:, None] - finite[None, :]), axis=1)
    check(np.allclose(np.abs(np.clip(x, -448, 448) - enc), nearest_err, rtol=0, atol=0), "e4m3 encoder picks a nearest value")
    check(enc[-5] == 448 and enc[-4] == -448 and enc[-3] == 448 and enc[-1] == 448, "e4m3 saturates to +-448")
    # ties to even: midpoints between consecutive codes go to the even code
    pos = st.E4M3_TABLE[:0x7F]
    mids = (pos[:-1] + pos[1:]) / 2
    got = st.encode_e4m3(mids)
    want = np.array([c if c % 2 == 0 else c + 1 for c in range(0x7E)], dtype=np.uint8)
    check(np.array_equal(got, want), "e4m3 ties round to the even code")
    check(st.encode_e4m3(np.array([np.nan]))[0] == 0x7F, "e4m3 NaN -> 0x7F")


def test_bf16():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(50000) * 10.0 ** rng.uniform(-20, 20, 50000)).astype(np.float32)
    bits = st.encode_bf16(x)
    back = st.decode_bf16(bits)
    lo = st.decode_bf16(np.ascontiguousarray(x).view(np.uint32) >> 16)  # truncation
    hi = st.decode_bf16((np.ascontiguousarray(x).view(np.uint32) >> 16) + 1)
    x64 = x.astype(np.float64)
    best = np.where(np.abs(hi - x64) < np.abs(lo - x64), hi, lo)
    tie = np.abs(hi - x64) == np.abs(lo - x64)
    ok = (back == best) | tie
    check(bool(ok.all()), "bf16 encoder rounds to nearest")
    ties = np.array([1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8], dtype=np.float32)  # halfway cases
    check(list(st.decode_bf16(st.encode_bf16(ties))) == [1.0, 1.0 + 2**-6], "bf16 ties to even")


def test_safetensors_roundtrip(tmp):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((5, 7))
    tensors = {
        "a32": ("F32", a),
        "a16": ("F16", a),
        "abf": ("BF16", a),
        "a8": ("F8_E4M3", a),
        "ai": ("I32", np.arange(6, dtype=np.int32).reshape(2, 3)),
        "e52": ("F8_E5M2", np.array([0x3C, 0x7B, 0x01], dtype=np.uint8)),
    }
    path = os.path.join(tmp, "rt.safetensors")
    st.write_safetensors(path, tensors, {"format": "pt"})
    f = st.SafetensorsFile(path)
    check(f.metadata == {"format": "pt"} and sorted(f.names()) == sorted(tensors), "safetensors header and metadata")
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
    check(n % 8 == 0, "safetensors header padded to 8 bytes")
    check(np.array_equal(f.get("a32"), a.astype(np.float32)), "F32 round trip")
    check(np.array_equal(f.get("a16"), a.astype(np.float16).astype(np.float64)), "F16 round trip")
    check(rel(f.get("abf"), a) < 4e-3, "BF16 round trip close")
    check(rel(f.get("a8"), a) < 6e-2, "F8_E4M3 round trip close")
    check(list(f.get("e52")) == [1.0, 57344.0, 2.0**-16], "F8_E5M2 decode")
    check(np.array_equal(f.get("ai"), np.arange(6).reshape(2, 3)), "I32 round trip")
    # fp8 blocks with partial edges
    w = rng.standard_normal((200, 300)) * np.repeat(np.repeat(np.exp(rng.standard_normal((2, 3))), 128, 0), 128, 1)[:200, :300]
    codes, scale = mc.quantize_fp8_blocks(w)
    check(scale.shape == (2, 3) and scale.dtype == np.float32, "scale_inv shape [ceil(out/128), ceil(in/128)]")
    deq = st.dequantize_blocks(st.decode_e4m3(codes), scale.astype(np.float64))
    check(rel(deq, w) < 0.05 and np.abs(deq).max() <= np.abs(w).max() * (1 + 1e-6), "fp8 block quantise/dequantise")
    check(abs(deq[199, 299] - w[199, 299]) <= abs(w[199, 299]) * 0.07 + scale[1, 2] * 2**-9, "partial edge block uses its own scale")


def test_checkpoint_dtypes(tmp):
    dirs = {}
    for d in ("f32", "bf16", "fp8"):
        dirs[d] = os.path.join(tmp, f"v3-{d}")
        mc.make("v3", d, 7, dirs[d])
    md = {d: st.ModelDir(p) for d, p in dirs.items()}
    cfg = md["f32"].config
    expected = {n for n, _, _ in mc.tensor_specs(cfg)}
    check(set(md["f32"].where) == expected, "f32 checkpoint holds exactly the tensors the config implies")
    fp8_names = set(md["fp8"].where)
    check(expected <= fp8_names and all(n[: -len("_scale_inv")] in expected for n in fp8_names - expected),
          "fp8 checkpoint = same tensors + weight_scale_inv companions")
    worst = {"bf16": 0.0, "fp8": 0.0}
    for name in expected:
        ref32 = md["f32"].weight(name)
        for d in ("bf16", "fp8"):
            worst[d] = max(worst[d], rel(md[d].weight(name), ref32))
    check(worst["bf16"] < 4e-3, f"bf16 tensors within {worst['bf16']:.2e} of f32")
    check(worst["fp8"] < 0.05, f"fp8 (dequantised) tensors within {worst['fp8']:.2e} of f32")
    # the dtype policy of the real checkpoints
    m = md["fp8"]
    check(m.dtype("model.layers.1.mlp.experts.0.gate_proj.weight") == "F8_E4M3"
          and m.dtype("model.layers.1.mlp.experts.0.gate_proj.weight_scale_inv") == "F32", "fp8: experts in e4m3 + F32 scale")
    check(m.dtype("model.layers.1.mlp.gate.weight") == "BF16" and m.dtype("model.layers.1.mlp.gate.e_score_correction_bias") == "F32",
          "fp8: router BF16, bias F32")
    check(m.dtype("model.layers.3.eh_proj.weight") == "BF16" and m.dtype("model.layers.3.shared_head.head.weight") == "BF16"
          and m.dtype("model.layers.3.self_attn.q_b_proj.weight") == "F8_E4M3", "fp8: MTP eh_proj/head BF16, its decoder layer e4m3")
    check(md["bf16"].dtype("model.layers.2.mlp.gate.e_score_correction_bias") == "F32", "bf16: bias stays F32")
    shards = {m.where[n] for n in m.where}
    check(len(shards) == 3, "v3 checkpoint written as 3 shards")
    with open(os.path.join(dirs["fp8"], "model.safetensors.index.json")) as f:
        idx = json.load(f)
    total = sum(os.path.getsize(os.path.join(dirs["fp8"], s)) for s in shards)
    check(0 < idx["metadata"]["total_size"] < total, "index metadata.total_size present and plausible")
    # determinism
    again = os.path.join(tmp, "v3-f32-again")
    mc.make("v3", "f32", 7, again)
    same = all(
        open(os.path.join(again, f), "rb").read() == open(os.path.join(dirs["f32"], f), "rb").read()
        for f in os.listdir(again)
    )
    check(same, "make_checkpoint is deterministic for a seed")
    # single-file layout reads the same
    single = os.path.join(tmp, "single")
    os.makedirs(single)
    with open(os.path.join(single, "config.json"), "w") as f:
        json.dump(cfg, f)
    st.write_safetensors(os.path.join(single, "model.safetensors"), mc.build_tensors(cfg, "f32", 7))
    ids = [5, 9, 2, 7]
    a, _ = ref.reference(dirs["f32"], ids)
    b, _ = ref.reference(single, ids)
    check(np.array_equal(a, b), "single model.safetensors gives the same logits as the sharded checkpoint")
    return dirs


def hf_rope(x, positions, inv_freq, scale):
    """HF modeling_deepseek form: de-interleave the pairs, then rotate_half with cat(freqs, freqs)."""
    d = x.shape[-1]
    xd = np.concatenate([x[..., 0::2], x[..., 1::2]], axis=-1)
    emb = np.concatenate([np.outer(positions, inv_freq)] * 2, axis=-1)
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (d,)
    cos, sin = (np.cos(emb) * scale).reshape(shape), (np.sin(emb) * scale).reshape(shape)
    rot = np.concatenate([-xd[..., d // 2 :], xd[..., : d // 2]], axis=-1)
    return xd * cos + rot * sin


def test_rope():
    rng = np.random.default_rng(3)
    T, H, d = 9, 3, 8
    inv = 1.0 / 10000 ** (np.arange(0, d, 2) / d)
    pos = np.arange(T)
    q, k = rng.standard_normal((T, H, d)), rng.standard_normal((T, d))
    a = np.einsum("ihd,jd->hij", ref.apply_rope(q, pos, inv, 1.1), ref.apply_rope(k, pos, inv, 1.1))
    b = np.einsum("ihd,jd->hij", hf_rope(q, pos, inv, 1.1), hf_rope(k, pos, inv, 1.1))
    check(np.allclose(a, b, rtol=1e-12, atol=1e-12), "interleaved RoPE gives HF's (de-interleave + rotate_half) dot products")
    # relative position property: q_i . k_j depends on i - j only
    q1 = ref.apply_rope(np.tile(q[:1], (T, 1, 1)), pos, inv, 1.0)
    k1 = ref.apply_rope(np.tile(k[:1], (T, 1)), pos, inv, 1.0)
    s = np.einsum("ihd,jd->hij", q1, k1)
    check(np.allclose(s[:, 3, 1], s[:, 7, 5]) and np.allclose(s[:, 2, 2], s[:, 8, 8]), "RoPE scores depend on i - j only")
    # official complex form: (x0 + i x1) * e^{i theta}
    z = (q[..., 0::2] + 1j * q[..., 1::2]) * np.exp(1j * np.outer(pos, inv))[:, None, :]
    r = ref.apply_rope(q, pos, inv, 1.0)
    check(np.allclose(r[..., 0::2], z.real) and np.allclose(r[..., 1::2], z.imag), "RoPE equals the official view_as_complex form")


def test_yarn():
    plain = dict(qk_rope_head_dim=8, rope_theta=10000.0, qk_nope_head_dim=16)
    f0, s0 = ref.rope_frequencies(plain)
    for fam in ("v2", "v3"):
        cfg = mc.make_config(fam, "f32")
        f, s = ref.rope_frequencies(cfg)
        check(not np.allclose(f, f0), f"{fam}: YaRN changes the RoPE frequencies ({np.round(f / f0, 4)})")
        y = cfg["rope_scaling"]
        mall = 0.1 * y["mscale_all_dim"] * math.log(y["factor"]) + 1
        want = (16 + 8) ** -0.5 * mall * mall
        check(abs(ref.softmax_scale(cfg) - want) < 1e-15, f"{fam}: softmax scale with mscale_all_dim = {want:.6f}")
        want_s = (0.1 * y["mscale"] * math.log(y["factor"]) + 1) / mall
        check(abs(s - want_s) < 1e-15, f"{fam}: cos/sin scale = {s:.6f}")
    f, _ = ref.rope_frequencies(mc.make_config("v2", "f32"))
    ratio = f / f0
    check(np.any((ratio > 0.26) & (ratio < 0.99)), "v2: YaRN ramp has a fractional (blended) frequency")
    # defaults for absent keys (HF: mscale 1, mscale_all_dim 0 -> no softmax correction)
    cfg = dict(plain, rope_scaling={"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16})
    f, s = ref.rope_frequencies(cfg)
    check(abs(s - (0.1 * math.log(4) + 1)) < 1e-15 and ref.softmax_scale(cfg) == 24**-0.5, "yarn absent keys: mscale 1, mscale_all_dim 0")
    check(ref.rope_frequencies(dict(plain, rope_scaling={"type": "yarn", "factor": 1.0}))[1] == 1.0, "yarn factor 1: no magnitude scale")


def test_router():
    cfg = dict(num_experts_per_tok=3, scoring_func="sigmoid", topk_method="noaux_tc", n_group=4, topk_group=2,
               norm_topk_prob=True, routed_scaling_factor=2.5)
    logits = np.array([2.0, 1.9, -1.0, -1.1, 0.5, 0.4, 0.1, 0.0])
    bias = np.array([0, 0, 0, 0, 0, 0, 5.0, 0])
    idx, w = ref.route(cfg, logits, np.zeros(8))
    check(sorted(idx) == [0, 1, 4], f"noaux_tc without bias picks experts 0,1,4 ({idx})")
    check(abs(w.sum() - 2.5) < 1e-12, "norm_topk_prob then routed_scaling_factor: weights sum to 2.5")
    idx, w = ref.route(cfg, logits, bias)
    check(6 in idx and 2 not in idx, f"the bias steers the group and expert choice ({idx})")
    s = ref.sigmoid(logits)
    check(np.allclose(w, s[idx] / s[idx].sum() * 2.5), "weights come from the unbiased scores")
    cfg2 = dict(num_experts_per_tok=3, scoring_func="softmax", topk_method="group_limited_greedy", n_group=4, topk_group=2,
                norm_topk_prob=False, routed_scaling_factor=2.0)
    logits = np.array([3.0, -5.0, 2.9, 2.8, 2.7, 2.6, -1, -2])
    idx, w = ref.route(cfg2, logits, None)
    check(sorted(idx) == [0, 2, 3], f"group_limited_greedy: groups by max, top-3 within kept groups ({idx})")
    check(np.allclose(w, ref.softmax(logits)[idx] * 2.0), "softmax weights over all experts, times routed_scaling_factor")
    cfg3 = dict(num_experts_per_tok=3, scoring_func="softmax", topk_method="greedy", norm_topk_prob=False,
                routed_scaling_factor=1.0)
    idx, _ = ref.route(cfg3, logits, None)
    check(sorted(idx) == [0, 2, 3], "greedy top-k")


def test_forward(dirs_by_family):
    rng = np.random.default_rng(4)
    for fam, d in dirs_by_family.items():
        cfg = st.ModelDir(d).config
        V = cfg["vocab_size"]
        has_mtp = (cfg.get("num_nextn_predict_layers") or 0) > 0
        ids = rng.integers(0, V, 10)
        ref.ROUTING_MARGINS = []
        a, am = ref.reference(d, ids, has_mtp)
        margins = ref.ROUTING_MARGINS
        ref.ROUTING_MARGINS = None
        check(a.shape == (10, V) and np.isfinite(a).all(), f"{fam}: logits shape {a.shape}")
        ids2 = ids.copy()
        ids2[6:] = (ids2[6:] + 1 + rng.integers(0, V - 1, 4)) % V
        b, bm = ref.reference(d, ids2, has_mtp)
        check(np.array_equal(a[:6], b[:6]) and not np.allclose(a[6:], b[6:]), f"{fam}: causal (positions < 6 unchanged by later tokens)")
        if has_mtp:
            check(am.shape == (9, V) and np.isfinite(am).all(), f"{fam}: MTP logits shape {am.shape}")
            # MTP at i uses tokens <= i+1: changing tokens >= 6 leaves MTP positions < 5 unchanged
            check(np.array_equal(am[:5], bm[:5]) and not np.allclose(am[5:], bm[5:]), f"{fam}: MTP causal")
            one, om = ref.reference(d, ids[:1], True)
            check(om.shape == (0, V) and np.array_equal(one[0], a[0]), f"{fam}: one token: MTP empty, logits[0] equal")
        # the MoE really routes tokens to different experts
        nsel = len(margins)
        check(nsel > 0 and min(margins) > 1e-7, f"{fam}: {nsel} routings, min selection margin {min(margins):.2e}")
        # prefix consistency: running on a prefix reproduces the first rows exactly (decode == prefill)
        c, _ = ref.reference(d, ids[:4])
        check(np.allclose(c, a[:4], rtol=1e-12, atol=1e-12), f"{fam}: prefix run equals the first rows")
    # bias matters in v3: zeroing the router bias changes the logits
    d = dirs_by_family["v3"]
    W = ref.Weights(d)
    cfg = W.md.config
    ids = rng.integers(0, cfg["vocab_size"], 12)
    a, _ = ref.forward(cfg, W, ids)
    for i in range(cfg["num_hidden_layers"] + 1):
        n = f"model.layers.{i}.mlp.gate.e_score_correction_bias"
        if W.has(n):
            W.cache[n] = np.zeros_like(W(n))
    b, _ = ref.forward(cfg, W, ids)
    check(rel(b, a) > 1e-3, f"v3: the router bias changes expert selection (logits change {rel(b, a):.2e})")


def test_mtp_embed_fallback(tmp):
    d1 = os.path.join(tmp, "v3-embed")
    d2 = os.path.join(tmp, "v3-noembed")
    mc.make("v3", "f32", 9, d1)
    mc.make("v3", "f32", 9, d2, mtp_embed=False)
    ids = [3, 8, 1, 4, 4, 7]
    a, am = ref.reference(d1, ids, True)
    b, bm = ref.reference(d2, ids, True)
    check(not np.allclose(am, bm), "MTP uses model.layers.L.embed_tokens when present")
    W = ref.Weights(d2)
    W.cache["model.layers.3.embed_tokens.weight"] = W("model.embed_tokens.weight")
    W.md.where["model.layers.3.embed_tokens.weight"] = W.md.where["model.embed_tokens.weight"]
    _, h = ref.forward(W.md.config, W, ids)
    check(np.array_equal(ref.mtp_forward(W.md.config, W, ids, h), bm), "without it, MTP falls back to model.embed_tokens")


def test_sensitivity(dirs_by_family, tol=1e-4):
    """The whole-model comparison would catch each plausible misreading of the architecture: every
    mutation below must move the logits (or MTP logits) of some family by >> the 1e-4 tolerance."""
    ids = [5, 17, 88, 3, 140, 22, 9, 61, 200, 7, 45, 101]
    base = {f: ref.reference(d, ids, f == "v3") for f, d in dirs_by_family.items()}
    saved = {k: getattr(ref, k) for k in ("apply_rope", "rope_frequencies", "softmax_scale", "route", "mtp_forward", "forward")}
    saved_dq = st.dequantize_blocks

    def half_split_rope(x, pos, inv, scale):  # rotate_half on the checkpoint layout, without de-interleaving
        d = x.shape[-1]
        emb = np.concatenate([np.outer(pos, inv)] * 2, -1)
        sh = (x.shape[0],) + (1,) * (x.ndim - 2) + (d,)
        rot = np.concatenate([-x[..., d // 2 :], x[..., : d // 2]], -1)
        return x * (np.cos(emb) * scale).reshape(sh) + rot * (np.sin(emb) * scale).reshape(sh)

    def biased_weights(c, logits, bias):
        idx, w = saved["route"](c, logits, bias)
        if bias is None:
            return idx, w
        s = ref.sigmoid(logits) + bias
        return idx, s[idx] / s[idx].sum() * c["routed_scaling_factor"]

    def mtp_hidden_first(cfg, W, ids, h):
        L = cfg["num_hidden_layers"]
        p, eps, n = f"model.layers.{L}.", cfg["rms_norm_eps"], len(ids) - 1
        e = ref.rms_norm(W(p + "embed_tokens.weight")[np.asarray(ids)[1:]], W(p + "enorm.weight"), eps)
        hh = ref.rms_norm(h[:n], W(p + "hnorm.weight"), eps)
        x = ref.decoder_layer(cfg, W, L, ref.linear(np.concatenate([hh, e], -1), W(p + "eh_proj.weight")), np.arange(n))
        return ref.linear(ref.rms_norm(x, W(p + "shared_head.norm.weight"), eps), W(p + "shared_head.head.weight"))

    def forward_prenorm_hidden(cfg, W, ids):  # hands MTP the hidden state before model.norm
        logits, h = saved["forward"](cfg, W, ids)
        return logits, h / W("model.norm.weight")

    mutations = {
        "RoPE on halves instead of interleaved pairs": ("apply_rope", half_split_rope),
        "no YaRN cos/sin magnitude scale": ("rope_frequencies", lambda c: (saved["rope_frequencies"](c)[0], 1.0)),
        "no YaRN frequencies": ("rope_frequencies", lambda c: saved["rope_frequencies"]({**c, "rope_scaling": None})),
        "no YaRN softmax mscale": ("softmax_scale", lambda c: saved["softmax_scale"]({**c, "rope_scaling": None})),
        "norm_topk_prob ignored": ("route", lambda c, l, b: saved["route"]({**c, "norm_topk_prob": False}, l, b)),
        "routed_scaling_factor ignored": ("route", lambda c, l, b: saved["route"]({**c, "routed_scaling_factor": 1.0}, l, b)),
        "expert groups ignored": ("route", lambda c, l, b: saved["route"]({**c, "n_group": 1, "topk_group": 1}, l, b)),
        "router bias in the weights": ("route", biased_weights),
        "MTP concat hidden first": ("mtp_forward", mtp_hidden_first),
        "MTP fed the hidden state before model.norm": ("forward", forward_prenorm_hidden),
        "fp8 scale_inv divides": ("dequantize_blocks", lambda w, sc, block=128: saved_dq(w, 1.0 / sc, block)),
        "fp8 first block's scale for all": ("dequantize_blocks", lambda w, sc, block=128: w * sc[0, 0]),
    }
    for what, (attr, fn) in mutations.items():
        if attr == "dequantize_blocks":
            st.dequantize_blocks = fn
        else:
            setattr(ref, attr, fn)
        try:
            worst = 0.0
            with np.errstate(all="ignore"):
                for f, d in dirs_by_family.items():
                    logits, mtp = ref.reference(d, ids, f == "v3")
                    worst = max(worst, rel(logits, base[f][0]), rel(mtp, base[f][1]) if mtp is not None else 0.0)
        finally:
            st.dequantize_blocks = saved_dq
            for k, v in saved.items():
                setattr(ref, k, v)
        check(worst > 100 * tol, f"caught: {what} (logits move by {worst:.1e})")


def test_quant_layout():
    """quant_np.py's reading of fathom's Q8_0 / Q4_0 rows, on rows built here by hand from the
    documented layout (docs/MODELS.md)."""
    check(qn.block_groups(1) == [(0, 1)] and qn.block_groups(7) == [(0, 4), (4, 2), (6, 1)]
          and qn.block_groups(26) == [(0, 16), (16, 8), (24, 2)], "quant block groups: 16s, then 8, 4, 2, 1")
    rng = np.random.default_rng(3)
    for fmt, B in (("Q8_0G", 32), ("Q4_0G", 16)):
        cols = 26 * 32 - 5  # 26 blocks: groups of 16, 8 and 2; the last block partial
        nb = 26
        nat = rng.integers(0, 256, size=(nb, B), dtype=np.uint8)  # each block's bytes in natural order
        d = rng.uniform(0.5, 2.0, size=nb).astype(np.float16)
        stored = np.zeros(nb * B, dtype=np.uint8)
        for first, G in qn.block_groups(nb):
            for j in range(G):
                for k in range(B // 4):
                    at = first * B + (k * G + j) * 4
                    stored[at:at + 4] = nat[first + j, 4 * k:4 * k + 4]
        row = np.concatenate([d.view(np.uint8), stored])[None, :]
        w = qn.dequantize(row, f"{fmt}:1x{cols}")[0]
        if fmt == "Q8_0G":
            q = nat.astype(np.int64) - 128
        else:
            q = np.concatenate([(nat & 15).astype(np.int64) - 8, (nat >> 4).astype(np.int64) - 8], axis=1)
        want = (q * d.astype(np.float64)[:, None]).reshape(-1)[:cols]
        check(w.shape == (cols,) and np.array_equal(w, want), f"{fmt} rows dequantize block by block, groups interleaved")
    try:
        qn.dequantize(np.zeros((2, 10), dtype=np.uint8), "Q8_0G:2x64")
        check(False, "a quantized tensor of the wrong size is refused")
    except ValueError:
        check(True, "a quantized tensor of the wrong size is refused")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tmp")
    a = ap.parse_args()
    tmp_ctx = None
    if a.tmp:
        shutil.rmtree(a.tmp, ignore_errors=True)
        os.makedirs(a.tmp)
        tmp = a.tmp
    else:
        tmp_ctx = tempfile.TemporaryDirectory()
        tmp = tmp_ctx.name
    test_fp8_tables()
    test_fp8_encoder()
    test_bf16()
    test_safetensors_roundtrip(tmp)
    dirs = test_checkpoint_dtypes(tmp)
    test_rope()
    test_yarn()
    test_router()
    test_quant_layout()
    fam_dirs = {"v3": dirs["fp8"]}
    for fam in ("v2-lite", "v2"):
        fam_dirs[fam] = os.path.join(tmp, f"{fam}-bf16")
        mc.make(fam, "bf16", 11, fam_dirs[fam])
    test_forward(fam_dirs)
    test_mtp_embed_fallback(tmp)
    test_sensitivity(fam_dirs)
    if FAILURES:
        print(f"\n{len(FAILURES)} check(s) failed")
        sys.exit(1)
    print("\nall reference self-checks passed")


if __name__ == "__main__":
    main()
