#!/usr/bin/python3
"""Checks fathom (or the reference itself) against the stored golden logits in tests/goldens/.

    check_goldens.py --fathom BIN [--case v3-fp8] [--tmp DIR] [--tol 1e-4]
    check_goldens.py --reference  [--case v3-fp8] [--tmp DIR]

Each case's checkpoint is re-created with make_checkpoint.py (same family, dtype and seed) and its
tensors' sha256 checked against the manifest, so a change of the generator (or of NumPy's random
streams) is reported as such rather than as a wrong model. With --fathom, `fathom logits` runs in
prefill and decode mode (with --mtp-out where the case has MTP logits) and must be within tol
(relative L2 over the whole array) of the goldens; this catches a regression even if the reference
were broken. With --reference, deepseek_ref.py must reproduce the goldens (tol 1e-5).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import deepseek_ref as ref  # noqa: E402
import make_checkpoint as mc  # noqa: E402
from check_logits import compare, load_npy  # noqa: E402
from safetensors_np import ModelDir  # noqa: E402

GOLDENS = os.path.join(os.path.dirname(HERE), "goldens")


def check_case(case, a, tmp):
    print(f"== {case['name']} (make_checkpoint --family {case['family']} --dtype {case['dtype']} --seed {case['seed']})")
    model = os.path.join(tmp, case["name"])
    shutil.rmtree(model, ignore_errors=True)
    mc.make(case["family"], case["dtype"], case["seed"], model)
    md = ModelDir(model)
    if md.digest() != case["tensors_sha256"]:
        print("FAIL  make_checkpoint.py no longer reproduces the golden checkpoint (tensor sha256 differs):"
              " the generator or NumPy's random streams changed. Check the reference, then regenerate the"
              " goldens with tests/reference/make_goldens.py.")
        return False
    if md.config != case["config"]:
        print("FAIL  make_checkpoint.py writes a different config.json than the golden case's; regenerate goldens.")
        return False
    want = np.load(os.path.join(a.goldens, case["logits"]))
    want_mtp = np.load(os.path.join(a.goldens, case["mtp"])) if case.get("mtp") else None
    ok = True
    if a.reference:
        got, got_mtp = ref.reference(model, case["ids"], with_mtp=want_mtp is not None)
        ok &= compare("reference logits", got.astype(np.float32), want, a.tol)
        if want_mtp is not None:
            ok &= compare("reference MTP logits", got_mtp.astype(np.float32), want_mtp, a.tol)
        return ok
    ids_arg = ",".join(str(t) for t in case["ids"])
    for mode in ("prefill", "decode"):
        out = os.path.join(tmp, f"{case['name']}-{mode}.npy")
        mtp_out = os.path.join(tmp, f"{case['name']}-{mode}-mtp.npy")
        for p in (out, mtp_out):
            if os.path.exists(p):
                os.remove(p)
        cmd = [a.fathom, "logits", model, "--ids", ids_arg, "--out", out, "--mode", mode, "--reference"]
        if want_mtp is not None:
            cmd += ["--mtp-out", mtp_out]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            print(f"FAIL  command failed (exit {p.returncode}): {' '.join(cmd)}\n{p.stdout}")
            ok = False
            continue
        ok &= compare(f"logits [{mode}]", load_npy(out, want.shape, f"logits [{mode}]"), want, a.tol)
        if want_mtp is not None:
            ok &= compare(f"MTP logits [{mode}]", load_npy(mtp_out, want_mtp.shape, f"MTP [{mode}]"), want_mtp, a.tol)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    who = ap.add_mutually_exclusive_group(required=True)
    who.add_argument("--fathom")
    who.add_argument("--reference", action="store_true")
    ap.add_argument("--case", action="append", help="case name(s) (default: all)")
    ap.add_argument("--goldens", default=GOLDENS)
    ap.add_argument("--tmp")
    ap.add_argument("--tol", type=float, default=None, help="default 1e-4 (fathom) / 1e-5 (reference)")
    a = ap.parse_args()
    if a.tol is None:
        a.tol = 1e-5 if a.reference else 1e-4
    if a.fathom and not os.path.exists(a.fathom):
        print(f"fathom binary not found: {a.fathom}")
        return 2
    with open(os.path.join(a.goldens, "manifest.json")) as f:
        manifest = json.load(f)
    cases = manifest["cases"]
    if a.case:
        unknown = set(a.case) - {c["name"] for c in cases}
        if unknown:
            print(f"unknown case(s): {sorted(unknown)}")
            return 2
        cases = [c for c in cases if c["name"] in a.case]
    tmp = a.tmp or tempfile.mkdtemp(prefix="fathom-goldens-")
    os.makedirs(tmp, exist_ok=True)
    ok = all([check_case(c, a, tmp) for c in cases])
    print("PASS" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
