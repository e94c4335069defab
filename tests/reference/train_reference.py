#!/usr/bin/env python3
"""fathom train vs the independent PyTorch trainer (torch_train.py): same initial weights, same
data, same hyper-parameters. At every step the loss, MTP loss, balance loss, gradient norm and
learning rate must agree within --tol (relative) and the tokens routed to each expert of each MoE
layer must be equal; after the last step every tensor must agree within --weight-tol (relative L2),
the router biases included.

Setup (all under --tmp, regenerated each run):
  init/   a tiny DeepSeek-V3 config (MLA with q_lora and YaRN, one dense + one MoE layer with 8
          routed experts in 4 groups (top-2 of them) + 1 shared, sigmoid / noaux_tc, one MTP layer
          that is MoE too) and random weights, written here with NumPy
  data/   train.bin / val.bin / meta.json of a seeded first-order Markov chain over 256 tokens
          (learnable in a few hundred steps, independent of any tokenizer)
Then `fathom train --init init --data data` and `torch_train.py --init init --data data` for
--steps steps, and a comparison of their per-step logs and final weights.

--perturb KEY=FACTOR multiplies one of torch's hyper-parameters (balance-alpha, bias-update,
mtp-weight, weight-decay, ...) by FACTOR: with 0.9 or 1.1 the comparison must fail, which is how the
tolerances were checked to see a 10% change of any of them (docs/TRAINING.md).

Exits 77 (CTest: skipped) when torch cannot be imported.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from safetensors_np import SafetensorsFile, write_safetensors  # noqa: E402

CONFIG = {
    "architectures": ["DeepseekV3ForCausalLM"],
    "model_type": "deepseek_v3",
    "vocab_size": 256,
    "hidden_size": 64,
    "intermediate_size": 128,
    "moe_intermediate_size": 32,
    "num_hidden_layers": 2,
    "num_nextn_predict_layers": 1,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "n_shared_experts": 1,
    "n_routed_experts": 8,
    "routed_scaling_factor": 2.5,
    "topk_method": "noaux_tc",
    "n_group": 4,
    "topk_group": 2,
    "num_experts_per_tok": 2,
    "moe_layer_freq": 1,
    "first_k_dense_replace": 1,
    "norm_topk_prob": True,
    "scoring_func": "sigmoid",
    "q_lora_rank": 32,
    "kv_lora_rank": 32,
    "qk_rope_head_dim": 8,
    "v_head_dim": 16,
    "qk_nope_head_dim": 16,
    "max_position_embeddings": 128,
    "rope_theta": 10000.0,
    "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32,
                     "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
    "rms_norm_eps": 1e-6,
    "attention_bias": False,
    "tie_word_embeddings": False,
    "hidden_act": "silu",
    "bos_token_id": 0,
    "eos_token_id": 1,
    "torch_dtype": "float32",
}


def tensor_shapes(c):
    """Every tensor of the checkpoint, HF names, in a fixed order."""
    H, V, nh = c["hidden_size"], c["vocab_size"], c["num_attention_heads"]
    dq = c["qk_nope_head_dim"] + c["qk_rope_head_dim"]
    out = [("model.embed_tokens.weight", (V, H))]

    def mlp(p, inter):
        return [(p + "gate_proj.weight", (inter, H)), (p + "up_proj.weight", (inter, H)),
                (p + "down_proj.weight", (H, inter))]

    def layer(i):
        p = f"model.layers.{i}."
        a = p + "self_attn."
        t = [(p + "input_layernorm.weight", (H,)),
             (a + "q_a_proj.weight", (c["q_lora_rank"], H)),
             (a + "q_a_layernorm.weight", (c["q_lora_rank"],)),
             (a + "q_b_proj.weight", (nh * dq, c["q_lora_rank"])),
             (a + "kv_a_proj_with_mqa.weight", (c["kv_lora_rank"] + c["qk_rope_head_dim"], H)),
             (a + "kv_a_layernorm.weight", (c["kv_lora_rank"],)),
             (a + "kv_b_proj.weight", (nh * (c["qk_nope_head_dim"] + c["v_head_dim"]), c["kv_lora_rank"])),
             (a + "o_proj.weight", (H, nh * c["v_head_dim"])),
             (p + "post_attention_layernorm.weight", (H,))]
        if i >= c["first_k_dense_replace"]:
            t += [(p + "mlp.gate.weight", (c["n_routed_experts"], H)),
                  (p + "mlp.gate.e_score_correction_bias", (c["n_routed_experts"],))]
            for e in range(c["n_routed_experts"]):
                t += mlp(f"{p}mlp.experts.{e}.", c["moe_intermediate_size"])
            t += mlp(p + "mlp.shared_experts.", c["moe_intermediate_size"] * c["n_shared_experts"])
        else:
            t += mlp(p + "mlp.", c["intermediate_size"])
        return t

    for i in range(c["num_hidden_layers"]):
        out += layer(i)
    out += [("model.norm.weight", (H,)), ("lm_head.weight", (V, H))]
    for k in range(c["num_nextn_predict_layers"]):
        i = c["num_hidden_layers"] + k
        p = f"model.layers.{i}."
        out += [(p + "enorm.weight", (H,)), (p + "hnorm.weight", (H,)), (p + "eh_proj.weight", (H, 2 * H))]
        out += layer(i)
        out += [(p + "shared_head.norm.weight", (H,))]
    return out


def write_init(d, seed):
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, shape in tensor_shapes(CONFIG):
        if name.endswith("e_score_correction_bias"):
            arr = np.zeros(shape)
        elif len(shape) == 1:
            arr = 1.0 + 0.1 * rng.standard_normal(shape)  # norms near 1, not exactly: tests their grads
        else:
            std = 0.01 if name.endswith(("o_proj.weight", "down_proj.weight")) else 0.02
            arr = std * rng.standard_normal(shape)
            if name.endswith("mlp.gate.weight"):
                arr = 0.1 * rng.standard_normal(shape)  # a router with opinions from the start
        tensors[name] = ("F32", arr.astype(np.float32))
    write_safetensors(os.path.join(d, "model.safetensors"), tensors, {"format": "pt"})
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)


def write_data(d, seed, n_train=60000, n_val=4000):
    """A first-order Markov chain over the vocabulary: each token has 4 likely successors (55/25/12/8%)
    and 5% of tokens are uniform noise, so the loss falls quickly from ln(V) toward ~1.6 nats."""
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(seed)
    V = CONFIG["vocab_size"]
    succ = rng.integers(2, V, size=(V, 4))
    probs = np.array([0.55, 0.25, 0.12, 0.08])
    n = n_train + n_val
    toks = np.empty(n, dtype=np.uint32)
    toks[0] = 2
    choice = rng.choice(4, size=n, p=probs)
    noise = rng.random(n) < 0.05
    rand = rng.integers(2, V, size=n)
    for i in range(1, n):
        toks[i] = rand[i] if noise[i] else succ[toks[i - 1], choice[i]]
    toks[:n_train].tofile(os.path.join(d, "train.bin"))
    toks[n_train:].tofile(os.path.join(d, "val.bin"))
    meta = {"vocab_size": V, "eos_id": 1, "bos_id": 0, "tokenizer": "", "train_tokens": n_train,
            "val_tokens": n_val}
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)


def read_log(path):
    steps = {}
    for line in open(path):
        j = json.loads(line)
        if "loss" in j:
            steps[j["step"]] = j
    return steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fathom", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--tol", type=float, default=1e-6,
                    help="relative tolerance of the per-step values (they agree to ~1e-7)")
    ap.add_argument("--weight-tol", type=float, default=1e-5,
                    help="relative L2 tolerance of each final tensor")
    ap.add_argument("--perturb", metavar="KEY=FACTOR", help="scale one of torch's hyper-parameters (must fail)")
    ap.add_argument("--precision", choices=["f32", "bf16", "fp8"], default="f32",
                    help="both trainers' --precision (torch emulates it: lowp_ref.py)")
    ap.add_argument("--threads", type=int, default=2, help="fathom's threads (torch runs on 1: faster here)")
    a = ap.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        print("SKIPPED: PyTorch is not importable (apt-get install python3-torch); the fathom vs "
              "PyTorch loss-curve comparison did not run")
        return 77

    shutil.rmtree(a.tmp, ignore_errors=True)
    init, data = os.path.join(a.tmp, "init"), os.path.join(a.tmp, "data")
    write_init(init, a.seed)
    write_data(data, a.seed)
    hp = ["--steps", str(a.steps), "--batch", str(a.batch), "--seq", str(a.seq), "--lr", str(a.lr),
          "--warmup", str(a.warmup), "--seed", str(a.seed), "--min-lr-ratio", "0.1",
          "--weight-decay", "0.1", "--clip", "1.0", "--mtp-weight", "0.3", "--balance-alpha", "0.001",
          "--bias-update", "0.001", "--precision", a.precision]

    t0 = time.time()
    fathom_out = os.path.join(a.tmp, "fathom")
    subprocess.run([a.fathom, "train", "--init", init, "--data", data, "--out", fathom_out, "--threads",
                    str(a.threads), "--eval-every", "0", "--log-every", "100"] + hp, check=True)
    t1 = time.time()
    torch_log = os.path.join(a.tmp, "torch.jsonl")
    torch_final = os.path.join(a.tmp, "torch_final.safetensors")
    torch_hp = list(hp)
    if a.perturb:
        key, factor = a.perturb.split("=")
        i = torch_hp.index("--" + key)
        torch_hp[i + 1] = repr(float(torch_hp[i + 1]) * float(factor))
        print(f"perturbed: torch runs with --{key} {torch_hp[i + 1]} (fathom {hp[i + 1]}); this must FAIL")
    subprocess.run([sys.executable, os.path.join(HERE, "torch_train.py"), "--init", init, "--data", data,
                    "--out", torch_log, "--final-weights", torch_final, "--threads", "1"] + torch_hp, check=True)
    t2 = time.time()

    fl, tl = read_log(os.path.join(fathom_out, "train_log.jsonl")), read_log(torch_log)
    keys = ["loss", "mtp_loss", "balance_loss", "grad_norm", "lr"]
    lowp = a.precision != "f32"
    if lowp:
        # fathom's f32 activations and torch's f64 ones round to E4M3 / BF16 differently now and
        # then; each such element changes a step a little, and routing (a discrete choice) can then
        # pick another expert for a token: the losses are compared, not the routing.
        # Step 1 differs by those roundings and f32 sums only: its loss and gradient norm agree
        # within 1e-4 (measured: fp8 6e-9, bf16 1e-5). From step 2 on, AdamW's early steps (≈ lr·sign(g)) turn the odd element rounded
        # differently into weight differences of ~lr, so the final weights are not compared.
        keys = ["loss", "mtp_loss", "lr"]
    worst = {k: (0.0, 0) for k in keys}
    failures = 0

    def report(msg):
        nonlocal failures
        failures += 1
        if failures <= 12:
            print("FAIL " + msg)

    if lowp and 1 in fl and 1 in tl:
        for key in ("loss", "mtp_loss", "grad_norm"):
            f, t = fl[1][key], tl[1][key]
            if abs(f - t) > 1e-4 * abs(t):
                report(f"step 1 {key}: fathom {f:.9g} torch {t:.9g} (rel {abs(f - t) / abs(t):.2e}, tolerance 1e-4)")

    for step in range(1, a.steps + 1):
        if step not in fl or step not in tl:
            report(f"step {step} missing from a log")
            continue
        for key in keys:
            f, t = fl[step][key], tl[step][key]
            rel = abs(f - t) / max(abs(t), 1e-30)
            if rel > worst[key][0]:
                worst[key] = (rel, step)
            if rel > a.tol:
                report(f"step {step} {key}: fathom {f:.9g} torch {t:.9g} (rel {rel:.2e})")
        if not lowp and fl[step].get("expert_load") != tl[step].get("expert_load"):
            report(f"step {step} expert_load: fathom {fl[step].get('expert_load')} torch {tl[step].get('expert_load')}")

    # The final weights, every tensor (the router biases show the bias-update rule directly).
    ff = SafetensorsFile(os.path.join(fathom_out, "model.safetensors"))
    tf = SafetensorsFile(torch_final)
    worst_w = (0.0, "")
    for name in ([] if lowp else tf.names()):
        want = tf.get(name)
        if name not in ff.header:
            if name.endswith("embed_tokens.weight") or name.endswith("shared_head.head.weight"):
                continue  # MTP copies of shared tensors, which fathom does not write
            report(f"final tensor {name} missing from fathom's checkpoint")
            continue
        got = ff.get(name)
        rel = float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30))
        if rel > worst_w[0]:
            worst_w = (rel, name)
        if rel > a.weight_tol:
            report(f"final {name}: relative L2 difference {rel:.2e}")

    for step in [1, 2, 5, 10, 50, 100, 200, a.steps]:
        if step in fl and step in tl:
            print(f"step {step:4d}  loss fathom {fl[step]['loss']:.5f} torch {tl[step]['loss']:.5f}   "
                  f"mtp fathom {fl[step]['mtp_loss']:.5f} torch {tl[step]['mtp_loss']:.5f}   "
                  f"load max/mean fathom {fl[step].get('load_max_mean', 0):.2f} "
                  f"torch {tl[step].get('load_max_mean', 0):.2f}")
    for key, (rel, step) in worst.items():
        print(f"largest relative difference in {key}: {rel:.2e} at step {step} (tolerance {a.tol})")
    print(f"largest relative L2 difference of a final tensor: {worst_w[0]:.2e} ({worst_w[1]}; tolerance "
          f"{a.weight_tol})")
    print(f"fathom {t1 - t0:.1f} s, torch {t2 - t1:.1f} s for {a.steps} steps")
    print("PASS" if failures == 0 else f"FAIL ({failures} values out of tolerance)")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
