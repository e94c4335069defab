#!/usr/bin/env python3
"""Checks scripts/arith_sft_data.py's worked solutions line by line, independently of how it builds
them: every step line's arithmetic is recomputed from its own numbers, every write/carry/borrow is
the right digit, the answer is the true result, and the JSONL and text forms hold the same turns.
Each step must be a one-digit fact (single-digit operands), which is what the reasoner is taught."""
import json
import re
import subprocess
import sys

script, n = sys.argv[1], 3000
jsonl = subprocess.run([sys.executable, script, "--n", str(n), "--seed", "11"], capture_output=True,
                       text=True, check=True).stdout.splitlines()
text = subprocess.run([sys.executable, script, "--n", str(n), "--seed", "11", "--text"], capture_output=True,
                      text=True, check=True).stdout
assert len(jsonl) == n, f"{len(jsonl)} lines, expected {n}"

ADD = re.compile(r"^(\d)\+(\d)\+(\d)=(\d+) write (\d) carry (\d)$")
SUB = re.compile(r"^(\d)-(\d)-(\d) write (\d) borrow (\d)$")
MUL = re.compile(r"^(\d)\*(\d)\+(\d)=(\d+) write (\d) carry (\d)$")
OTHER = [re.compile(p) for p in (r"^carry \d written$", r"^\d+\*\d$", r"^gives (\d+) shift (\d) is (\d+)$",
                                 r"^add \d+\+\d+$", r"^\d+<\d+ so compute \d+-\d+ and negate$")]
ops = {"+": 0, "-": 0, "*": 0}
texts = []
for line in jsonl:
    msgs = json.loads(line)["messages"]
    q, a = msgs[0]["content"], msgs[1]["content"]
    m = re.fullmatch(r"What is (\d+) ([-+*]) (\d+)\?", q)
    assert m, q
    x, op, y = int(m[1]), m[2], int(m[3])
    ops[op] += 1
    assert a.startswith("<think>\n") and "\n</think>\n" in a, a
    think, answer = a[len("<think>\n"):].split("\n</think>\n")
    assert answer == str({"+": x + y, "-": x - y, "*": x * y}[op]), (q, answer)
    for step in think.split("\n"):
        if (s := ADD.match(step)):
            d1, d2, c, tot, w, k = map(int, s.groups())
            assert tot == d1 + d2 + c and w == tot % 10 and k == tot // 10 and c <= 1, step
        elif (s := SUB.match(step)):
            d1, d2, b, w, nb = map(int, s.groups())
            assert (d1 - d2 - b) % 10 == w and nb == (1 if d1 - d2 - b < 0 else 0) and b <= 1, step
        elif (s := MUL.match(step)):
            d1, d2, c, tot, w, k = map(int, s.groups())
            assert tot == d1 * d2 + c and w == tot % 10 and k == tot // 10 and c <= 8, step
        elif (s := OTHER[2].match(step)):
            p, shift, shifted = map(int, s.groups())
            assert shifted == p * 10 ** shift, step
        else:
            assert any(o.match(step) for o in OTHER), f"unexpected step line: {step!r} in {q}"
    texts.append(f"{q}\n{a}\n")
assert text == "\n".join(texts) + "\n", "the --text form differs from the JSONL turns"
assert min(ops.values()) > n // 5, ops
print(f"{n} worked solutions checked: {ops}")
