#!/usr/bin/env python3
"""Writes the reference results of one mixed-precision Linear for tests/train_lowp_test.cpp.

    lowp_linear_ref.py DIR     (DIR holds shape.json {"N", "I", "O"} and x.f32, w.f32, dy.f32)

For precision in bf16, fp8 it writes DIR/<precision>.f64: y, dx, dW (lowp_ref.linear_passes,
float64) and then the same three for the absolute values of the operands (the size of the sums,
which scales the tolerance of f32 accumulation), all concatenated.
Exits 77 when NumPy is missing.
"""
import json
import os
import sys

try:
    import numpy as np
except ImportError:
    sys.exit(77)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lowp_ref import linear_passes, operand  # noqa: E402


def main(d):
    s = json.load(open(os.path.join(d, "shape.json")))
    N, I, O = s["N"], s["I"], s["O"]
    x = np.fromfile(os.path.join(d, "x.f32"), dtype="<f4").reshape(N, I)
    w = np.fromfile(os.path.join(d, "w.f32"), dtype="<f4").reshape(O, I)
    dy = np.fromfile(os.path.join(d, "dy.f32"), dtype="<f4").reshape(N, O)
    for p in ("bf16", "fp8"):
        y, dx, dw = linear_passes(x, w, dy, p)
        stored = operand(x, 1, p).astype(np.float32)
        my = np.abs(operand(x, 1, p)) @ np.abs(operand(w, 128, p)).T
        mdx = np.abs(operand(dy, 1, p)) @ np.abs(operand(w.T, 128, p)).T
        mdw = np.abs(operand(dy.T, 1, p)) @ np.abs(operand(stored.T, 1, p)).T
        np.concatenate([a.ravel() for a in (y, dx, dw, my, mdx, mdw)]).astype("<f8").tofile(
            os.path.join(d, p + ".f64"))


if __name__ == "__main__":
    main(sys.argv[1])
