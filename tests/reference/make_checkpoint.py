#!/usr/bin/python3
"""Writes a random tiny DeepSeek-V2/V3 checkpoint in the exact Hugging Face layout of the real ones.

    make_checkpoint.py --family v2-lite|v2|v3 --dtype f32|bf16|fp8 --seed S --out DIR

The directory gets config.json, model.safetensors.index.json (metadata.total_size, weight_map) and
2+ shards model-0000K-of-0000N.safetensors. Tensor names follow the HF checkpoints (see `tensor_specs`).

Values are drawn from numpy.random.default_rng(seed) in a fixed order that does not depend on the
dtype, so the f32, bf16 and fp8 checkpoints of one (family, seed) are the same model up to rounding.
Dtypes, as in the released checkpoints:
  f32   every tensor F32
  bf16  every tensor BF16 except mlp.gate.e_score_correction_bias (F32)
  fp8   every linear weight inside a decoder layer (attention projections, dense MLP, experts, shared
        experts) F8_E4M3 with an F32 `<name>_scale_inv` of 128x128 blocks (W = e4m3 * scale_inv);
        embeddings, lm_head, norms, the router mlp.gate.weight, eh_proj and shared_head BF16;
        e_score_correction_bias F32.
Weights get a random factor per 128x128 block (in every dtype) so that fp8 block scales differ.
"""

import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np as st  # noqa: E402

# ----------------------------------------------------------------------------------------------
# families: tiny but structurally faithful configs

COMMON = dict(
    hidden_size=64,
    num_attention_heads=4,
    num_key_value_heads=4,
    kv_lora_rank=32,
    qk_nope_head_dim=16,
    qk_rope_head_dim=8,
    v_head_dim=16,
    num_hidden_layers=3,
    first_k_dense_replace=1,
    moe_layer_freq=1,
    n_routed_experts=8,
    moe_intermediate_size=32,
    intermediate_size=200,  # > 128 and not a multiple: partial fp8 edge blocks
    rms_norm_eps=1e-6,
    rope_theta=10000.0,
    max_position_embeddings=2048,
    hidden_act="silu",
    attention_bias=False,
    attention_dropout=0.0,
    aux_loss_alpha=0.001,
    seq_aux=True,
    initializer_range=0.02,
    pretraining_tp=1,
    tie_word_embeddings=False,
    use_cache=True,
    bos_token_id=0,
    eos_token_id=1,
)

FAMILIES = {
    # DeepSeek-V2-Lite-like: direct q_proj, softmax, greedy, 2 shared experts, no normalisation
    "v2-lite": dict(
        model_type="deepseek_v2",
        architectures=["DeepseekV2ForCausalLM"],
        vocab_size=300,
        q_lora_rank=None,
        num_experts_per_tok=2,
        n_shared_experts=2,
        scoring_func="softmax",
        topk_method="greedy",
        n_group=1,
        topk_group=1,
        norm_topk_prob=False,
        routed_scaling_factor=1.0,
        rope_scaling=None,
    ),
    # DeepSeek-V2-like: q_lora, group_limited_greedy, routed scaling, YaRN (mscale == mscale_all_dim)
    "v2": dict(
        model_type="deepseek_v2",
        architectures=["DeepseekV2ForCausalLM"],
        vocab_size=320,
        q_lora_rank=48,
        num_experts_per_tok=3,
        n_shared_experts=2,
        scoring_func="softmax",
        topk_method="group_limited_greedy",
        n_group=4,
        topk_group=2,
        norm_topk_prob=False,
        routed_scaling_factor=2.0,
        rope_scaling=dict(
            type="yarn",
            factor=4.0,
            original_max_position_embeddings=64,
            beta_fast=32,
            beta_slow=1,
            mscale=0.707,
            mscale_all_dim=0.707,
        ),
    ),
    # DeepSeek-V3-like: q_lora, sigmoid, noaux_tc with bias, groups, norm_topk_prob, MTP, YaRN
    "v3": dict(
        model_type="deepseek_v3",
        architectures=["DeepseekV3ForCausalLM"],
        vocab_size=288,
        q_lora_rank=160,  # > 128: two fp8 blocks, the second partial
        num_experts_per_tok=3,
        n_shared_experts=1,
        scoring_func="sigmoid",
        topk_method="noaux_tc",
        n_group=4,
        topk_group=2,
        norm_topk_prob=True,
        routed_scaling_factor=2.5,
        num_nextn_predict_layers=1,
        ep_size=1,
        rope_scaling=dict(
            type="yarn",
            factor=4.0,
            original_max_position_embeddings=16,
            beta_fast=32,
            beta_slow=1,
            mscale=1.0,
            mscale_all_dim=0.8,
        ),
    ),
}


def make_config(family, dtype):
    cfg = dict(COMMON)
    cfg.update(FAMILIES[family])
    cfg["torch_dtype"] = "float32" if dtype == "f32" else "bfloat16"
    cfg["transformers_version"] = "4.33.1"
    if family == "v3" or cfg["model_type"] == "deepseek_v3":
        cfg["auto_map"] = {
            "AutoConfig": "configuration_deepseek.DeepseekV3Config",
            "AutoModel": "modeling_deepseek.DeepseekV3Model",
            "AutoModelForCausalLM": "modeling_deepseek.DeepseekV3ForCausalLM",
        }
    else:
        cfg["auto_map"] = {
            "AutoConfig": "configuration_deepseek.DeepseekV2Config",
            "AutoModel": "modeling_deepseek.DeepseekV2Model",
            "AutoModelForCausalLM": "modeling_deepseek.DeepseekV2ForCausalLM",
        }
    if dtype == "fp8":
        cfg["quantization_config"] = {
            "activation_scheme": "dynamic",
            "fmt": "e4m3",
            "quant_method": "fp8",
            "weight_block_size": [128, 128],
        }
    return dict(sorted(cfg.items()))


# ----------------------------------------------------------------------------------------------
# tensor list
#
# Each spec: (name, shape, kind) with kind one of
#   "embed"  N(0, 1)
#   "linear" N(0, 1/fan_in) times a per-128x128-block factor; quantised to fp8 in fp8 checkpoints
#   "plain"  like linear but never quantised (lm_head, router, eh_proj, shared_head.head)
#   "norm"   1 + 0.2 N(0, 1)
#   "bias"   0.2 N(0, 1), always F32 (e_score_correction_bias)


def is_moe_layer(cfg, i):
    return (
        cfg.get("n_routed_experts") is not None
        and i >= cfg["first_k_dense_replace"]
        and i % cfg.get("moe_layer_freq", 1) == 0
    )


def decoder_layer_specs(cfg, i):
    p = f"model.layers.{i}."
    h = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    qk = cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]
    specs = []
    if cfg.get("q_lora_rank") is None:
        specs.append((p + "self_attn.q_proj.weight", (nh * qk, h), "linear"))
    else:
        r = cfg["q_lora_rank"]
        specs.append((p + "self_attn.q_a_proj.weight", (r, h), "linear"))
        specs.append((p + "self_attn.q_a_layernorm.weight", (r,), "norm"))
        specs.append((p + "self_attn.q_b_proj.weight", (nh * qk, r), "linear"))
    kvr = cfg["kv_lora_rank"]
    specs.append((p + "self_attn.kv_a_proj_with_mqa.weight", (kvr + cfg["qk_rope_head_dim"], h), "linear"))
    specs.append((p + "self_attn.kv_a_layernorm.weight", (kvr,), "norm"))
    specs.append(
        (p + "self_attn.kv_b_proj.weight", (nh * (cfg["qk_nope_head_dim"] + cfg["v_head_dim"]), kvr), "linear")
    )
    specs.append((p + "self_attn.o_proj.weight", (h, nh * cfg["v_head_dim"]), "linear"))
    if is_moe_layer(cfg, i):
        m = cfg["moe_intermediate_size"]
        specs.append((p + "mlp.gate.weight", (cfg["n_routed_experts"], h), "plain"))
        if cfg["topk_method"] == "noaux_tc":
            specs.append((p + "mlp.gate.e_score_correction_bias", (cfg["n_routed_experts"],), "bias"))
        for e in range(cfg["n_routed_experts"]):
            q = f"{p}mlp.experts.{e}."
            specs.append((q + "gate_proj.weight", (m, h), "linear"))
            specs.append((q + "up_proj.weight", (m, h), "linear"))
            specs.append((q + "down_proj.weight", (h, m), "linear"))
        if cfg.get("n_shared_experts"):
            s = m * cfg["n_shared_experts"]
            specs.append((p + "mlp.shared_experts.gate_proj.weight", (s, h), "linear"))
            specs.append((p + "mlp.shared_experts.up_proj.weight", (s, h), "linear"))
            specs.append((p + "mlp.shared_experts.down_proj.weight", (h, s), "linear"))
    else:
        f = cfg["intermediate_size"]
        specs.append((p + "mlp.gate_proj.weight", (f, h), "linear"))
        specs.append((p + "mlp.up_proj.weight", (f, h), "linear"))
        specs.append((p + "mlp.down_proj.weight", (h, f), "linear"))
    specs.append((p + "input_layernorm.weight", (h,), "norm"))
    specs.append((p + "post_attention_layernorm.weight", (h,), "norm"))
    return specs


def tensor_specs(cfg, mtp_embed=True):
    h, v = cfg["hidden_size"], cfg["vocab_size"]
    specs = [("model.embed_tokens.weight", (v, h), "embed")]
    for i in range(cfg["num_hidden_layers"]):
        specs += decoder_layer_specs(cfg, i)
    for k in range(cfg.get("num_nextn_predict_layers", 0) or 0):
        L = cfg["num_hidden_layers"] + k
        p = f"model.layers.{L}."
        if mtp_embed:
            specs.append((p + "embed_tokens.weight", (v, h), "embed"))
        specs.append((p + "enorm.weight", (h,), "norm"))
        specs.append((p + "hnorm.weight", (h,), "norm"))
        specs.append((p + "eh_proj.weight", (h, 2 * h), "plain"))
        specs += decoder_layer_specs(cfg, L)
        specs.append((p + "shared_head.norm.weight", (h,), "norm"))
        specs.append((p + "shared_head.head.weight", (v, h), "plain"))
    specs.append(("model.norm.weight", (h,), "norm"))
    specs.append(("lm_head.weight", (v, h), "plain"))
    return specs


# ----------------------------------------------------------------------------------------------
# values


def draw(rng, shape, kind):
    if kind == "embed":
        return rng.standard_normal(shape)
    if kind == "norm":
        return 1.0 + 0.2 * rng.standard_normal(shape)
    if kind == "bias":
        return 0.2 * rng.standard_normal(shape)
    rows, cols = shape
    w = rng.standard_normal(shape) / math.sqrt(cols)
    br, bc = -(-rows // 128), -(-cols // 128)
    factor = np.exp(0.5 * rng.standard_normal((br, bc)))
    return w * np.repeat(np.repeat(factor, 128, 0), 128, 1)[:rows, :cols]


def quantize_fp8_blocks(w, block=128):
    """-> (e4m3 codes, F32 scale_inv) with W ~= e4m3 * scale_inv per block (amax maps to 448)."""
    rows, cols = w.shape
    br, bc = -(-rows // block), -(-cols // block)
    scale = np.ones((br, bc), dtype=np.float32)
    for a in range(br):
        for b in range(bc):
            amax = np.abs(w[a * block : (a + 1) * block, b * block : (b + 1) * block]).max()
            if amax > 0:
                scale[a, b] = np.float32(amax / st.E4M3_MAX)
    full = np.repeat(np.repeat(scale.astype(np.float64), block, 0), block, 1)[:rows, :cols]
    return st.encode_e4m3(w / full), scale


def storage_for(name, kind, dtype):
    """The safetensors dtype a tensor is stored in (F8_E4M3 means: plus an F32 _scale_inv)."""
    if kind == "bias":
        return "F32"
    if dtype == "f32":
        return "F32"
    if dtype == "bf16" or kind != "linear":
        return "BF16"
    return "F8_E4M3"


def build_tensors(cfg, dtype, seed, mtp_embed=True):
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape, kind in tensor_specs(cfg, mtp_embed):
        values = draw(rng, shape, kind)
        sdt = storage_for(name, kind, dtype)
        if sdt == "F8_E4M3":
            codes, scale = quantize_fp8_blocks(values)
            out[name] = ("F8_E4M3", codes)
            out[name + "_scale_inv"] = ("F32", scale)
        else:
            out[name] = (sdt, values)
    return out


# ----------------------------------------------------------------------------------------------
# writing


def nbytes(dtype, arr):
    return st.DTYPES[dtype][0] * int(np.prod(arr.shape, dtype=np.int64))


def write_checkpoint(out_dir, cfg, tensors, n_shards):
    os.makedirs(out_dir, exist_ok=True)
    for stale in os.listdir(out_dir):  # shards of an earlier checkpoint written here
        if stale.startswith("model") and (stale.endswith(".safetensors") or stale.endswith(".index.json")):
            os.remove(os.path.join(out_dir, stale))
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    names = list(tensors)
    sizes = [nbytes(*tensors[n]) for n in names]
    total = sum(sizes)
    # contiguous split by bytes; a weight and its scale_inv may land in different shards
    shards = [[] for _ in range(n_shards)]
    acc = 0
    for n, s in zip(names, sizes):
        k = min(n_shards - 1, acc * n_shards // total)
        shards[k].append(n)
        acc += s
    weight_map = {}
    for k, members in enumerate(shards):
        fname = f"model-{k + 1:05d}-of-{n_shards:05d}.safetensors"
        st.write_safetensors(os.path.join(out_dir, fname), {n: tensors[n] for n in members}, {"format": "pt"})
        for n in members:
            weight_map[n] = fname
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    return total


def make(family, dtype, seed, out_dir, shards=None, mtp_embed=True, overrides=None):
    cfg = make_config(family, dtype)
    cfg.update(overrides or {})  # e.g. a wider intermediate_size (check_logits.py --set)
    tensors = build_tensors(cfg, dtype, seed, mtp_embed)
    if shards is None:
        shards = 3 if family == "v3" else 2
    return write_checkpoint(out_dir, cfg, tensors, shards)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", choices=sorted(FAMILIES), required=True)
    ap.add_argument("--dtype", choices=["f32", "bf16", "fp8"], default="f32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--shards", type=int, default=None, help="number of shards (default 2, v3: 3)")
    ap.add_argument(
        "--no-mtp-embed",
        action="store_true",
        help="omit model.layers.L.embed_tokens.weight (the MTP layer then uses model.embed_tokens)",
    )
    a = ap.parse_args(argv)
    total = make(a.family, a.dtype, a.seed, a.out, a.shards, not a.no_mtp_embed)
    print(f"wrote {a.out} ({a.family}, {a.dtype}, seed {a.seed}, {total} bytes of tensors)")


if __name__ == "__main__":
    main()
