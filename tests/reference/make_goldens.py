#!/usr/bin/python3
"""(Re)generates the golden logits in tests/goldens/ from the reference.

    make_goldens.py [--out tests/goldens] [--tmp DIR]

For each family (v2-lite, v2, v3) x dtype (f32, bf16, fp8) it writes a checkpoint with
make_checkpoint.py (fixed seed per family, so the three dtypes are one model), runs deepseek_ref.py
on fixed random ids and stores:
    <case>.logits.npy   float32 [12, vocab]
    <case>.mtp.npy      float32 [11, vocab]   (families with an MTP layer)
    manifest.json       per case: family, dtype, seed, ids, the make_checkpoint command line, a
                        sha256 of the checkpoint's tensors (to detect that make_checkpoint no longer
                        reproduces it), the config, and the smallest MoE selection margin (how far
                        the reference's expert choice is from a tie; it should be >> 1e-6).
check_goldens.py re-creates each checkpoint and checks fathom (and the reference) against them.
Only regenerate after checking that a change of the reference is intended.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import deepseek_ref as ref  # noqa: E402
import make_checkpoint as mc  # noqa: E402
from safetensors_np import ModelDir  # noqa: E402

FAMILY_SEEDS = {"v2-lite": 101, "v2": 102, "v3": 103}
DTYPES = ["f32", "bf16", "fp8"]
N_IDS = 12


def case_ids(family):
    seed = FAMILY_SEEDS[family]
    V = mc.make_config(family, "f32")["vocab_size"]
    return [int(t) for t in np.random.default_rng(seed + 1000).integers(0, V, N_IDS)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "goldens"))
    ap.add_argument("--tmp")
    a = ap.parse_args()
    tmp = a.tmp or tempfile.mkdtemp(prefix="fathom-goldens-")
    os.makedirs(a.out, exist_ok=True)
    cases = []
    for family, seed in FAMILY_SEEDS.items():
        ids = case_ids(family)
        for dtype in DTYPES:
            name = f"{family}-{dtype}"
            model = os.path.join(tmp, name)
            shutil.rmtree(model, ignore_errors=True)
            mc.make(family, dtype, seed, model)
            md = ModelDir(model)
            has_mtp = (md.config.get("num_nextn_predict_layers") or 0) >= 1
            ref.ROUTING_MARGINS = []
            logits, mtp = ref.reference(model, ids, with_mtp=has_mtp)
            margin, ref.ROUTING_MARGINS = min(ref.ROUTING_MARGINS), None
            np.save(os.path.join(a.out, f"{name}.logits.npy"), logits.astype(np.float32))
            case = dict(
                name=name,
                family=family,
                dtype=dtype,
                seed=seed,
                ids=ids,
                make_checkpoint=f"tests/reference/make_checkpoint.py --family {family} --dtype {dtype} --seed {seed} --out DIR",
                tensors_sha256=md.digest(),
                min_routing_margin=margin,
                logits=f"{name}.logits.npy",
                config=md.config,
            )
            if has_mtp:
                np.save(os.path.join(a.out, f"{name}.mtp.npy"), mtp.astype(np.float32))
                case["mtp"] = f"{name}.mtp.npy"
            cases.append(case)
            print(f"{name}: logits {logits.shape}" + (f", mtp {mtp.shape}" if has_mtp else "")
                  + f", min routing margin {margin:.1e}")
    manifest = {
        "generator": "tests/reference/make_goldens.py (float64 NumPy reference, tests/reference/deepseek_ref.py)",
        "numpy": np.__version__,
        "cases": cases,
    }
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    if not a.tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {len(cases)} golden cases to {a.out}")


if __name__ == "__main__":
    main()
