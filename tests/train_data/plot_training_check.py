#!/usr/bin/python3
"""scripts/plot-training.py on synthetic logs: both kinds write a PNG of the size asked (8x6 in and
8x5 in at 100 dpi), and bad input (a log of the wrong kind, a line that is not JSON, a loss run
without NAME=) is a clear error naming the problem, not a traceback or an empty plot."""
import json
import os
import struct
import subprocess
import sys

script, tmp = sys.argv[1], sys.argv[2]
os.makedirs(tmp, exist_ok=True)
grpo = os.path.join(tmp, "grpo.jsonl")
train = os.path.join(tmp, "train.jsonl")
with open(grpo, "w") as f:
    for s in range(1, 41):
        f.write(json.dumps({"step": s, "reward_mean": s / 40, "accuracy": s / 50, "kl": 0.001 * s}) + "\n")
with open(train, "w") as f:
    for s in range(1, 101):
        f.write(json.dumps({"step": s, "loss": 5.0 / s}) + "\n")
        if s % 50 == 0:
            f.write(json.dumps({"step": s, "val_loss": 5.5 / s}) + "\n")


def run(*args):
    return subprocess.run([sys.executable, script, *args], capture_output=True, text=True)


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


for kind, args, size in (("grpo", [grpo], (800, 600)), ("loss", [f"a={train}", f"b={train}", "--log-y"], (800, 500))):
    out = os.path.join(tmp, kind + ".png")
    if os.path.exists(out):
        os.remove(out)
    r = run(kind, *args, "--out", out)
    assert r.returncode == 0, r.stderr
    assert png_size(out) == size, (kind, png_size(out))

bad = os.path.join(tmp, "bad.jsonl")
with open(bad, "w") as f:
    f.write('{"step": 1, "loss": 1}\nnot json\n')
for args, expect in ((["grpo", train], "no 'reward_mean' field"), (["loss", f"x={bad}"], "bad.jsonl:2: not a JSON line"),
                     (["loss", train], "write each run as NAME=LOG"), (["grpo", grpo, "--window", "0"], "--window")):
    r = run(*args, "--out", os.path.join(tmp, "x.png"))
    assert r.returncode != 0 and expect in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
print("plot-training: both kinds plotted, bad input refused")
