"""scripts/compare-eval.py against counts made by hand: two --show outputs of 12 problems where
the second model fixes 5 and breaks 1 (exact McNemar p = 2 * (1 + 6) / 64 = 0.22), and one with
10 fixed, 0 broken (p = 2 / 1024 = 0.002); files over different problems are refused.
Usage: compare_eval_check.py COMPARE_EVAL_PY SCRATCH_DIR"""
import os
import subprocess
import sys

script, tmp = sys.argv[1], sys.argv[2]
os.makedirs(tmp, exist_ok=True)


def show(path, verdicts, offset=0):
    with open(path, "w") as f:
        f.write("loading...\n")
        for i, v in enumerate(verdicts):
            f.write(f"What is {i + offset} + 1?  expected {i + offset + 1}  {v}\n<think>\n...\n</think>\n{i}\n\n")
        f.write(f"problems       {len(verdicts)} (seed 1, greedy)\n")


def run(a, b):
    return subprocess.run([sys.executable, script, a, b], capture_output=True, text=True)


first = ["wrong"] * 5 + ["correct"] * 6 + ["format error"]
second = ["correct"] * 5 + ["correct"] * 5 + ["wrong"] + ["format error"]
show(f"{tmp}/a.txt", first)
show(f"{tmp}/b.txt", second)
r = run(f"{tmp}/a.txt", f"{tmp}/b.txt")
assert r.returncode == 0, r.stderr
assert "first 6 correct, second 10" in r.stdout, r.stdout
assert "wrong: 5; the reverse: 1" in r.stdout, r.stdout
assert "p = 0.22" in r.stdout, r.stdout

show(f"{tmp}/c.txt", ["wrong"] * 10)
show(f"{tmp}/d.txt", ["correct"] * 10)
r = run(f"{tmp}/c.txt", f"{tmp}/d.txt")
assert "wrong: 10; the reverse: 0" in r.stdout and "p = 0.002" in r.stdout, r.stdout

show(f"{tmp}/e.txt", ["correct"] * 10, offset=100)
r = run(f"{tmp}/c.txt", f"{tmp}/e.txt")
assert r.returncode != 0 and "same problems" in r.stderr, (r.returncode, r.stdout, r.stderr)
print("ok")
