#!/usr/bin/python3
"""Compares `fathom logits` with the independent float64 reference (deepseek_ref.py).

    check_logits.py --fathom BIN (--model DIR | --family v2-lite|v2|v3 | --synth PRESET)
                    [--dtype f32|bf16|fp8] [--seed S] [--tmp DIR] [--len 12] [--ids-seed S]
                    [--modes prefill,decode] [--mtp auto|on|off] [--tol 1e-4] [--no-mtp-embed]
                    [--set KEY=JSON ...] [--quantize q8_0|q4_0]

The model is an existing directory (--model), one written by make_checkpoint.py (--family, so
fathom's loader reads files it did not write), or one written by `fathom synth --preset` (--synth).
Random token ids (seeded) run through `fathom logits` in every mode, with --mtp-out when the config
has an MTP layer, and through the reference; the relative L2 error ||a - b|| / ||b|| over the whole
array must be <= tol for the logits and the MTP logits. Exit status 0 when all pass.

--set overrides config fields of a --family checkpoint (e.g. intermediate_size=808, so that a row
holds groups of 16, 8 and 2 quant blocks). --quantize runs `fathom quantize` on the model first and
compares the quantized model against the reference computed on its weights dequantized by
quant_np.py, an independent reading of fathom's block layouts.
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
import deepseek_ref as ref  # noqa: E402
import make_checkpoint as mc  # noqa: E402


def rel_l2(a, b):
    return float(np.linalg.norm(a.astype(np.float64) - b.astype(np.float64)) / max(np.linalg.norm(b.astype(np.float64)), 1e-30))


def default_fathom():
    if os.environ.get("FATHOM"):
        return os.environ["FATHOM"]
    return os.path.join(os.path.dirname(os.path.dirname(HERE)), "build", "fathom")


def run(cmd):
    t = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        print("command failed (exit %d): %s\n%s" % (p.returncode, " ".join(cmd), p.stdout))
        sys.exit(2)
    return time.time() - t


def load_npy(path, shape, what):
    if not os.path.exists(path):
        print(f"FAIL  {what}: fathom wrote no {path}")
        return None
    a = np.load(path)
    if a.dtype != np.float32 or a.shape != shape:
        print(f"FAIL  {what}: expected float32 {shape}, got {a.dtype} {a.shape}")
        return None
    return a


def compare(name, got, want, tol, margins=None):
    if got is None:
        return False
    if not np.isfinite(got).all():
        print(f"FAIL  {name}: non-finite values")
        return False
    err = rel_l2(got, want)
    rows = [rel_l2(got[i], want[i]) for i in range(got.shape[0])]
    worst = int(np.argmax(rows)) if rows else -1
    ok = err <= tol
    msg = f"{'ok   ' if ok else 'FAIL '} {name}: rel L2 error {err:.3e} (tol {tol:.0e})"
    if rows:
        msg += f", worst position {worst}: {rows[worst]:.3e}"
    print(msg)
    if not ok and margins:
        print(f"      (min MoE selection margin in the reference: {min(margins):.2e}; near 1e-6 a float32 engine may route differently)")
    return ok


def prepare_model(a, work):
    """-> model directory."""
    if a.model:
        return a.model
    model = os.path.join(work, "model")
    shutil.rmtree(model, ignore_errors=True)
    if a.family:
        overrides = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in a.set)}
        mc.make(a.family, a.dtype, a.seed, model, mtp_embed=not a.no_mtp_embed, overrides=overrides)
    else:
        cmd = [a.fathom, "synth", "--preset", a.synth, "--out", model, "--dtype", a.dtype, "--seed", str(a.seed)]
        dt = run(cmd)
        print(f"fathom synth --preset {a.synth} --dtype {a.dtype} --seed {a.seed}: {dt:.2f}s")
    if a.quantize:
        quantized = os.path.join(work, "model-" + a.quantize)
        shutil.rmtree(quantized, ignore_errors=True)
        dt = run([a.fathom, "quantize", model, quantized, "--type", a.quantize])
        print(f"fathom quantize --type {a.quantize}: {dt:.2f}s")
        return quantized
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fathom", default=default_fathom())
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="an existing model directory")
    src.add_argument("--family", choices=sorted(mc.FAMILIES), help="write one with make_checkpoint.py")
    src.add_argument("--synth", metavar="PRESET", help="write one with `fathom synth --preset`")
    ap.add_argument("--dtype", choices=["f32", "bf16", "fp8"], default="f32")
    ap.add_argument("--seed", type=int, default=1, help="checkpoint seed")
    ap.add_argument("--no-mtp-embed", action="store_true", help="(--family) omit the MTP layer's own embed_tokens")
    ap.add_argument("--tmp", default=None, help="work directory (default: a fresh one under /tmp)")
    ap.add_argument("--len", type=int, default=12, help="number of tokens")
    ap.add_argument("--ids", help="explicit comma-separated ids (overrides --len/--ids-seed)")
    ap.add_argument("--ids-seed", type=int, default=None, help="seed of the random ids (default: --seed)")
    ap.add_argument("--modes", default="prefill,decode")
    ap.add_argument("--mtp", choices=["auto", "on", "off"], default="auto")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--fast", action="store_true",
                    help="run fathom's fast kernels (`logits`' default; without this flag: `logits --reference`)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                    help="(--family) override a config field, e.g. intermediate_size=808")
    ap.add_argument("--quantize", choices=["q8_0", "q4_0"], help="check `fathom quantize`'s output instead")
    a = ap.parse_args(argv)

    if not os.path.exists(a.fathom):
        print(f"fathom binary not found: {a.fathom}")
        return 2
    if a.tmp:
        work = a.tmp
        os.makedirs(work, exist_ok=True)
    else:
        import tempfile

        work = tempfile.mkdtemp(prefix="fathom-check-")
    model = prepare_model(a, work)
    with open(os.path.join(model, "config.json")) as f:
        cfg = json.load(f)
    V = cfg["vocab_size"]
    has_mtp = (cfg.get("num_nextn_predict_layers") or 0) >= 1
    want_mtp = has_mtp if a.mtp == "auto" else a.mtp == "on"

    if a.ids:
        ids = [int(t) for t in a.ids.split(",")]
    else:
        rng = np.random.default_rng(a.seed if a.ids_seed is None else a.ids_seed)
        ids = [int(t) for t in rng.integers(0, V, a.len)]
    ids_arg = ",".join(str(t) for t in ids)
    print(f"model {model} ({cfg.get('model_type')}, torch_dtype {cfg.get('torch_dtype')}, "
          f"{'fp8' if 'quantization_config' in cfg else 'no fp8'}), {len(ids)} ids: {ids_arg}")

    t = time.time()
    ref.ROUTING_MARGINS = []
    want, want_mtp_logits = ref.reference(model, ids, with_mtp=want_mtp)
    margins, ref.ROUTING_MARGINS = ref.ROUTING_MARGINS, None
    print(f"reference: {time.time() - t:.2f}s")

    ok = True
    for mode in [m for m in a.modes.split(",") if m]:
        out = os.path.join(work, f"logits-{mode}.npy")
        mtp_out = os.path.join(work, f"mtp-{mode}.npy")
        for p in (out, mtp_out):
            if os.path.exists(p):
                os.remove(p)
        cmd = [a.fathom, "logits", model, "--ids", ids_arg, "--out", out, "--mode", mode]
        if not a.fast:
            cmd.append("--reference")
        if want_mtp:
            cmd += ["--mtp-out", mtp_out]
        dt = run(cmd)
        print(f"fathom logits --mode {mode}: {dt:.2f}s")
        ok &= compare(f"logits [{mode}]", load_npy(out, want.shape, f"logits [{mode}]"), want, a.tol, margins)
        if want_mtp:
            got = load_npy(mtp_out, want_mtp_logits.shape, f"MTP logits [{mode}]")
            ok &= compare(f"MTP logits [{mode}]", got, want_mtp_logits, a.tol, margins)
    print("PASS" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
