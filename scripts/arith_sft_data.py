#!/usr/bin/env python3
"""Synthetic worked solutions for the arithmetic task of `fathom train-grpo` / `fathom eval-arith`
(src/training/arith_task.h): JSONL conversations for `fathom prepare --chat`, and (--text) the same
turns as plain text for `fathom train-tokenizer`.

The problems are the task's (A + B, A - B with A, B in 0..9999; A * B with A in 0..999, B in
0..99), drawn with Python's generator from --seed (a stream apart from fathom's); half of them
uniform as in the task, half with a digit count drawn first (see operand()). The answer
is written the way it is computed by hand, digit by digit, in a form a small transformer can follow.

Every operand is first restated zero-padded to a fixed width, each digit behind a letter that names
its column ("A d0 c9 b0 a7" is 907: a is the units of A, b its tens, ...; B's columns are p q r s).
A column step then names the digits it uses by those letters ("a7+p2+0=9 ..."), so fetching a digit
is finding its letter, the same lookup at every step, instead of counting positions from the end of
a number in the question (the first format did that, and a 3 M-parameter model got it wrong).
  addition        4 columns from the units: "a7+p2+0=9 write 9 carry 0" (x + y + carry)
  subtraction     a comparison from the top column down to the first that differs ("d6=s6 c2>r0
                  so A>B: A-B"), then the larger minus the smaller with borrows, by letters
                  ("a4-p6-0 write 8 borrow 1", or "p6-a4-0 ..." for B-A, negated)
  multiplication  A (3 columns a b c) times each digit of B (p, then q), every step one product
                  and one carry added ("a7*p5=35+0=35 write 5 carry 3"), then the two partial
                  products restated in 5 columns (f..j and t..x) and added column by column
followed by </think> and the integer alone on the last line.
"""

import argparse
import json
import random
import sys

A_COLS, B_COLS = "abcd", "pqrs"      # the operands' columns, units first
P_COLS, Q_COLS = "fghij", "tuvwx"    # multiplication's two partial products, units first


def labelled(name, value, cols):
    """"A d0 c9 b0 a7": value zero-padded to len(cols) digits, most significant first, each digit
    behind the letter of its column."""
    digits = str(value).zfill(len(cols))
    assert len(digits) == len(cols), (value, cols)
    return name + "".join(f" {cols[len(cols) - 1 - i]}{d}" for i, d in enumerate(digits))


def column(value, i):
    return value // 10 ** i % 10


def add_columns(x, y, xc, yc):
    """x + y column by column from the units: "a7+p2+0=9 write 9 carry 0"; a last carry becomes
    the leading digit ("carry 1 written")."""
    lines, carry, total = [], 0, 0
    for i in range(len(xc)):
        dx, dy = column(x, i), column(y, i)
        s = dx + dy + carry
        lines.append(f"{xc[i]}{dx}+{yc[i]}{dy}+{carry}={s} write {s % 10} carry {s // 10}")
        total += s % 10 * 10 ** i
        carry = s // 10
    if carry:
        lines.append(f"carry {carry} written")
        total += carry * 10 ** len(xc)
    return lines, total


def add_steps(a, b):
    lines, total = add_columns(a, b, A_COLS, B_COLS)
    return [labelled("A", a, A_COLS), labelled("B", b, B_COLS)] + lines, total


def compare_line(a, b):
    """A against B from the top column down to the first column that differs, by their letters:
    "d6=s6 c2>r0 so A>B: A-B"; "d0<s7 so A<B: B-A, then negate"; all equal: "... so A=B: A-B"."""
    parts = []
    for i in reversed(range(len(A_COLS))):
        x, y = column(a, i), column(b, i)
        rel = "=" if x == y else "<" if x < y else ">"
        parts.append(f"{A_COLS[i]}{x}{rel}{B_COLS[i]}{y}")
        if rel != "=":
            break
    verdict = {"=": "A=B: A-B", ">": "A>B: A-B", "<": "A<B: B-A, then negate"}[rel]
    return " ".join(parts) + " so " + verdict


def sub_steps(a, b):
    """The larger minus the smaller, column by column with borrows, each digit named by its letter:
    "a4-p6-0 write 8 borrow 1" (A-B) or "p6-a4-0 ..." (B-A); the sign from the comparison line."""
    lines = [labelled("A", a, A_COLS), labelled("B", b, B_COLS), compare_line(a, b)]
    neg = a < b
    (big, bc), (small, sc) = ((b, B_COLS), (a, A_COLS)) if neg else ((a, A_COLS), (b, B_COLS))
    borrow, r = 0, 0
    for i in range(len(A_COLS)):
        x, y = column(big, i), column(small, i)
        d = x - y - borrow
        nb = 1 if d < 0 else 0
        d += 10 * nb
        lines.append(f"{bc[i]}{x}-{sc[i]}{y}-{borrow} write {d} borrow {nb}")
        r += d * 10 ** i
        borrow = nb
    return lines, -r if neg else r


def times_digit(a, j, d):
    """A (3 columns) times B's digit in column j: "a7*p5=35+0=35 write 5 carry 3" (the product,
    then the carry added), a last carry written as the leading digit."""
    lines, carry, product = [], 0, 0
    for i in range(3):
        x = column(a, i)
        s = x * d + carry
        lines.append(f"{A_COLS[i]}{x}*{B_COLS[j]}{d}={x * d}+{carry}={s} write {s % 10} carry {s // 10}")
        product += s % 10 * 10 ** i
        carry = s // 10
    if carry:
        lines.append(f"carry {carry} written")
        product += carry * 1000
    return lines, product


def mul_steps(a, b):
    lines = [labelled("A", a, A_COLS[:3]), labelled("B", b, B_COLS[:2])]
    p_lines, p = times_digit(a, 0, column(b, 0))
    q_lines, q = times_digit(a, 1, column(b, 1))
    lines += p_lines + [f"gives {p}"] + q_lines + [f"gives {q} shift 1 is {q * 10}"]
    lines += [labelled("P", p, P_COLS), labelled("Q", q * 10, Q_COLS)]
    add_lines, total = add_columns(p, q * 10, P_COLS, Q_COLS)
    return lines + add_lines, total


def operand(rng, limit, by_length):
    """Uniform in 0..limit-1 (the task's distribution), or (by_length) a digit count uniform first:
    short operands are rare in the task (1% of 4-digit draws have two digits or fewer) but each
    needs its own zero padding, so half of the worked solutions draw them this way."""
    if not by_length:
        return rng.randrange(limit)
    digits = rng.randrange(1, len(str(limit - 1)) + 1)
    return rng.randrange(0 if digits == 1 else 10 ** (digits - 1), 10 ** digits)


def problem(rng):
    op = rng.randrange(3)
    by_length = rng.randrange(2) == 1
    if op == 2:
        return operand(rng, 1000, by_length), "*", operand(rng, 100, by_length)
    return operand(rng, 10000, by_length), "+" if op == 0 else "-", operand(rng, 10000, by_length)


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
