#!/usr/bin/env python3
"""Paired comparison of two `fathom eval-arith --show` outputs over the same problems (same --seed
and --n; with --temp, the same sampling seeds too): how many problems the second model gets right
where the first is wrong and the reverse, with the exact two-sided McNemar test on those discordant
pairs. This is what shows a difference between two models that are both right 98-99% of the time.

  scripts/compare-eval.py FIRST_SHOW.txt SECOND_SHOW.txt
"""
import math
import re
import sys

LINE = re.compile(r"^(What is .*\?)  expected (\S+)  (correct|wrong|format error)$")


def read(path):
    rows = []
    for line in open(path, encoding="utf-8"):
        m = LINE.match(line.rstrip("\n"))
        if m:
            rows.append((m.group(1), m.group(3) == "correct"))
    return rows


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a, b = read(sys.argv[1]), read(sys.argv[2])
    if not a or len(a) != len(b) or any(x[0] != y[0] for x, y in zip(a, b)):
        sys.exit(f"the two files do not hold the same problems ({len(a)} and {len(b)} found)")
    fixed = sum(1 for x, y in zip(a, b) if not x[1] and y[1])
    broke = sum(1 for x, y in zip(a, b) if x[1] and not y[1])
    k, low = fixed + broke, min(fixed, broke)
    p = min(1.0, 2 * sum(math.comb(k, i) for i in range(low + 1)) / 2**k) if k else 1.0
    print(f"{len(a)} problems: first {sum(x[1] for x in a)} correct, second {sum(y[1] for y in b)}")
    print(f"second right where the first is wrong: {fixed}; the reverse: {broke}")
    print(f"exact McNemar test, two-sided: p = {p:.2g}")


if __name__ == "__main__":
    main()
