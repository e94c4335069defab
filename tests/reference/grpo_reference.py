#!/usr/bin/env python3
"""One GRPO step: fathom's trainer (grpo_step_tool) against PyTorch, written from the DeepSeekMath
objective, not from fathom's code:

  J = 1/M sum_i 1/|o_i| sum_t [min(rho A_i, clip(rho, 1-eps, 1+eps) A_i) - beta D_it]
  rho = exp(logp - logp_old), D = pi_ref/pi - log(pi_ref/pi) - 1,
  A_i = (r_i - mean) / (population std + 1e-4) within the group, 0 when all rewards are equal.

The model is train_reference.py's tiny DeepSeek-V3 (MLA with q_lora and YaRN, MoE with noaux_tc
group routing, MTP), run by torch_train.py's Model in float64; the reference policy is the policy
with its weights perturbed. logp_old is the policy's own log-probability plus noise, so that the
clip is active on some tokens with either sign of advantage. Compared: the loss -J, the KL, the
number of clipped tokens (exactly), and the gradient of -J for every tensor (relative L2 within
--grad-tol). --perturb beta|clip_eps|adv_eps changes torch's value by 10%: the check must then fail.

Exits 77 (CTest: skipped) when torch cannot be imported.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from safetensors_np import SafetensorsFile, write_safetensors  # noqa: E402
from train_reference import CONFIG, write_init  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--loss-tol", type=float, default=1e-5, help="relative, loss and KL")
    ap.add_argument("--grad-tol", type=float, default=1e-5, help="relative L2 per tensor")
    ap.add_argument("--perturb", choices=["beta", "clip_eps", "adv_eps"])
    a = ap.parse_args()
    try:
        import torch
        import torch_train
    except ImportError:
        print("SKIPPED: PyTorch is not importable (apt-get install python3-torch)")
        return 77

    shutil.rmtree(a.tmp, ignore_errors=True)
    policy_dir, ref_dir = os.path.join(a.tmp, "policy"), os.path.join(a.tmp, "ref")
    write_init(policy_dir, a.seed)
    rng = np.random.default_rng(a.seed + 1)
    pol = SafetensorsFile(os.path.join(policy_dir, "model.safetensors"))
    os.makedirs(ref_dir)
    ref_t = {}
    for n in pol.names():
        w = pol.get(n)
        if not n.endswith("e_score_correction_bias"):
            w = w + 0.05 * np.abs(w).mean() * rng.standard_normal(w.shape)
        ref_t[n] = ("F32", w.astype(np.float32))
    write_safetensors(os.path.join(ref_dir, "model.safetensors"), ref_t, {"format": "pt"})
    shutil.copy(os.path.join(policy_dir, "config.json"), ref_dir)

    V, eos = CONFIG["vocab_size"], CONFIG["eos_token_id"]
    clip_eps, beta = 0.2, 0.1
    groups = []
    for rewards in ([1.0, 0.0, 0.0, 1.0], [0.5, 0.5, 0.5], [0.0, 2.0, 1.0]):
        prompt = rng.integers(2, V, size=int(rng.integers(3, 7))).tolist()
        answers = [rng.integers(2, V, size=int(rng.integers(2, 8))).tolist() + [eos] for _ in rewards]
        groups.append({"prompt": prompt, "answers": answers, "rewards": rewards})
    rows = [(g["prompt"], ans, gi, ai) for gi, g in enumerate(groups) for ai, ans in enumerate(g["answers"])]
    T = max(len(p) + len(ans) for p, ans, _, _ in rows) - 1
    D = CONFIG["num_nextn_predict_layers"]
    win = np.full((len(rows), T + 1 + D), eos, dtype=np.int64)
    for b, (p, ans, _, _) in enumerate(rows):
        win[b, :len(p) + len(ans)] = p + ans

    dtype = torch.float64

    def load(d):
        st = SafetensorsFile(os.path.join(d, "model.safetensors"))
        return {n: torch.tensor(st.get(n), dtype=dtype) for n in st.names()}

    def token_logp(weights):
        """log pi of every window's next token at every position [M, T] (the main head)."""
        m = torch_train.Model(CONFIG, weights, T, dtype)
        m.alpha, m.balance, m.loads = 0.0, torch.zeros((), dtype=dtype), []
        x = weights["model.embed_tokens.weight"][torch.from_numpy(win[:, :T])]
        for i in range(CONFIG["num_hidden_layers"]):
            x = m.layer(x, i)
        h = m.rmsnorm(x, "model.norm.weight")
        lp = torch.log_softmax(h @ weights["lm_head.weight"].t(), dim=-1)
        return lp.gather(-1, torch.from_numpy(win[:, 1:T + 1])[..., None])[..., 0]

    def answer_values(lp, b):
        p, ans = rows[b][0], rows[b][1]
        return lp[b, len(p) - 1:len(p) - 1 + len(ans)]

    ref_w = load(ref_dir)
    with torch.no_grad():
        lp_ref = token_logp(ref_w)
    pol_w = load(policy_dir)
    with torch.no_grad():
        lp_now = token_logp(pol_w)
    # logp_old: the policy's values moved by noise so that ratios fall on both sides of the clip.
    for g in groups:
        g["logp_old"] = []
    for b, (_, ans, gi, _) in enumerate(rows):
        old = answer_values(lp_now, b).numpy() + 0.3 * rng.standard_normal(len(ans))
        groups[gi]["logp_old"].append(old.astype(np.float32).tolist())
    samples = os.path.join(a.tmp, "samples.json")
    with open(samples, "w") as f:
        json.dump({"T": T, "clip_eps": clip_eps, "beta": beta, "groups": groups}, f)
    out = os.path.join(a.tmp, "fathom")
    subprocess.run([a.tool, policy_dir, ref_dir, samples, out], check=True)

    t_beta, t_eps, adv_eps = beta, clip_eps, 1e-4
    if a.perturb == "beta":
        t_beta *= 1.1
    elif a.perturb == "clip_eps":
        t_eps *= 1.1
    elif a.perturb == "adv_eps":
        adv_eps = 0.1  # an epsilon that matters: a visibly different advantage scale
    if a.perturb:
        print(f"perturbed torch's {a.perturb}: this must FAIL")

    for t in pol_w.values():
        t.requires_grad_(True)
    lp = token_logp(pol_w)
    M = len(rows)
    J = torch.zeros((), dtype=dtype)
    kl_sum, clipped, tokens = 0.0, 0, 0
    for b, (_, ans, gi, ai) in enumerate(rows):
        r = np.array(groups[gi]["rewards"])
        A = 0.0 if np.all(r == r[0]) else (r[ai] - r.mean()) / (r.std() + adv_eps)
        lpa = answer_values(lp, b)
        old = torch.tensor(groups[gi]["logp_old"][ai], dtype=torch.float32).to(dtype)
        rho = torch.exp(lpa - old)
        ratio_ref = torch.exp(answer_values(lp_ref, b) - lpa)
        d = ratio_ref - torch.log(ratio_ref) - 1
        surr = torch.minimum(rho * A, torch.clamp(rho, 1 - t_eps, 1 + t_eps) * A)
        J = J + (surr - t_beta * d).mean() / M
        kl_sum += float(d.mean()) / M
        if A > 0:
            clipped += int((rho > 1 + t_eps).sum())
        elif A < 0:
            clipped += int((rho < 1 - t_eps).sum())
        tokens += len(ans)
    loss = -J
    loss.backward()

    res = json.load(open(os.path.join(out, "result.json")))
    failures = []

    def rel(x, y):
        return abs(x - y) / max(abs(y), 1e-30)

    if rel(res["loss"], float(loss)) > a.loss_tol:
        failures.append(f"loss fathom {res['loss']:.10g} torch {float(loss):.10g}")
    if rel(res["kl"], kl_sum) > a.loss_tol:
        failures.append(f"kl fathom {res['kl']:.10g} torch {kl_sum:.10g}")
    if res["clipped"] != clipped or res["tokens"] != tokens:
        failures.append(f"clipped tokens fathom {res['clipped']}/{res['tokens']} torch {clipped}/{tokens}")
    grads = SafetensorsFile(os.path.join(out, "grads.safetensors"))
    worst = (0.0, "")
    for n, t in pol_w.items():
        if n.endswith("e_score_correction_bias") or n not in grads.header:
            continue
        want = t.grad.numpy() if t.grad is not None else np.zeros(t.shape)
        got = grads.get(n)
        norm = np.linalg.norm(want)
        if norm == 0:
            if np.any(got != 0):
                failures.append(f"{n}: fathom has a gradient where torch has none")
            continue
        e = float(np.linalg.norm(got - want) / norm)
        if e > worst[0]:
            worst = (e, n)
        if e > a.grad_tol:
            failures.append(f"{n}: gradient relative L2 {e:.2e}")
    print(f"loss fathom {res['loss']:.10g} torch {float(loss):.10g}; kl fathom {res['kl']:.8g} torch {kl_sum:.8g}; "
          f"clipped {res['clipped']}/{res['tokens']} (torch {clipped}/{tokens}); largest gradient difference "
          f"{worst[0]:.2e} ({worst[1]}; tolerance {a.grad_tol})")
    for f in failures[:12]:
        print("FAIL " + f)
    print("PASS" if not failures else f"FAIL ({len(failures)})")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
