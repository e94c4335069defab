#!/usr/bin/env python3
"""Synthetic worked solutions for the arithmetic task of `fathom train-grpo` / `fathom eval-arith`
(src/training/arith_task.h): JSONL conversations for `fathom prepare --chat`, and (--text) the same
turns as plain text for `fathom train-tokenizer`.

The problem distribution is the task's (A + B, A - B with A, B in 0..9999; A * B with A in 0..999,
B in 0..99), drawn with Python's generator from --seed (a stream apart from fathom's). The answer
is written the way it is computed by hand, digit by digit:
  addition        column by column from the units, "d1 + d2 + carry = s, write s%10 carry s//10"
  subtraction     the larger minus the smaller with borrows, then the sign
  multiplication  A times each digit of B, itself digit by digit with carries (so every step is a
                  one-digit product), shifted, then their column sum
followed by </think> and the integer alone on the last line.
"""

import argparse
import json
import random
import sys


def carry_steps(columns):
    """Column by column from the units, each column (x, y, op, value) written
    "x{op}y+carry=s write s%10 carry s//10"; a last carry becomes the leading digit."""
    lines, carry, out = [], 0, []
    for x, y, op, value in columns:
        s = value + carry
        lines.append(f"{x}{op}{y}+{carry}={s} write {s % 10} carry {s // 10}")
        out.append(str(s % 10))
        carry = s // 10
    if carry:
        out.append(str(carry))
        lines.append(f"carry {carry} written")
    return lines, int("".join(reversed(out)))


def add_steps(a, b):
    da, db = str(a)[::-1], str(b)[::-1]
    digits = [(int(da[i]) if i < len(da) else 0, int(db[i]) if i < len(db) else 0)
              for i in range(max(len(da), len(db)))]
    return carry_steps((x, y, "+", x + y) for x, y in digits)


def sub_steps(a, b):
    big, small, neg = (a, b, False) if a >= b else (b, a, True)
    lines = [f"{a}<{b} so compute {big}-{small} and negate"] if neg else []
    borrow, out = 0, []
    dx, dy = str(big)[::-1], str(small)[::-1]
    for i in range(len(dx)):
        x = int(dx[i])
        y = int(dy[i]) if i < len(dy) else 0
        d = x - y - borrow
        nb = 1 if d < 0 else 0
        d += 10 * nb
        lines.append(f"{x}-{y}-{borrow} write {d} borrow {nb}")
        out.append(str(d))
        borrow = nb
    r = int("".join(reversed(out)))
    return lines, -r if neg else r


def times_digit_steps(a, d):
    """A times one digit, digit by digit from the units: "x*d+carry=s write s%10 carry s//10"."""
    lines, product = carry_steps((int(ch), d, "*", int(ch) * d) for ch in reversed(str(a)))
    return [f"{a}*{d}"] + lines, product


def mul_steps(a, b):
    lines, parts = [], []
    for i, d in enumerate(reversed(str(b))):
        step_lines, p = times_digit_steps(a, int(d))
        lines += step_lines
        lines.append(f"gives {p} shift {i} is {p * 10 ** i}")
        parts.append(p * 10 ** i)
    total = parts[0]
    for p in parts[1:]:
        add_lines, s = add_steps(total, p)
        lines.append(f"add {total}+{p}")
        lines += add_lines
        total = s
    return lines, total


def problem(rng):
    op = rng.randrange(3)
    if op == 2:
        return rng.randrange(1000), "*", rng.randrange(100)
    return rng.randrange(10000), "+" if op == 0 else "-", rng.randrange(10000)


def solution(a, op, b):
    lines, r = {"+": add_steps, "-": sub_steps, "*": mul_steps}[op](a, b)
    assert r == {"+": a + b, "-": a - b, "*": a * b}[op]
    return "<think>\n" + "\n".join(lines) + "\n</think>\n" + str(r)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--text", action="store_true", help="plain text (blank-line separated) instead of JSONL")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    out = sys.stdout
    for _ in range(a.n):
        x, op, y = problem(rng)
        q, ans = f"What is {x} {op} {y}?", solution(x, op, y)
        if a.text:
            out.write(f"{q}\n{ans}\n\n")
        else:
            out.write(json.dumps({"messages": [{"role": "user", "content": q},
                                               {"role": "assistant", "content": ans}]}) + "\n")


if __name__ == "__main__":
    main()
