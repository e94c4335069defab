#!/usr/bin/env python3
"""Checks scripts/arith_sft_data.py's worked solutions line by line, independently of how it builds
them:
  - the labelled restatements ("A d0 c9 b0 a7") hold the operands' (or partial products') digits
    behind the letters of their columns, most significant first;
  - every column step uses exactly the digits those letters name, in column order from the units,
    with the carry/borrow the previous step produced; a subtraction's comparison walks the columns
    from the top to the first that differs and takes the larger number first;
  - every step's arithmetic is recomputed from its own numbers, and each is a one-digit fact;
  - the answer is the true result, and the JSONL and text forms hold the same turns."""
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

LIST = re.compile(r"^([ABPQ])((?: [a-z]\d)+)$")
ADD = re.compile(r"^([a-z])(\d)\+([a-z])(\d)\+(\d)=(\d+) write (\d) carry (\d)$")
SUB = re.compile(r"^([a-z])(\d)-([a-z])(\d)-(\d) write (\d) borrow (\d)$")
MUL = re.compile(r"^([a-z])(\d)\*([a-z])(\d)=(\d+)\+(\d)=(\d+) write (\d) carry (\d)$")
CARRY = re.compile(r"^carry (\d) written$")
GIVES = re.compile(r"^gives (\d+)(?: shift 1 is (\d+))?$")
COMPARE = re.compile(r"^((?:[a-z]\d[=<>][a-z]\d )+)so (A=B: A-B|A>B: A-B|A<B: B-A, then negate)$")
COLS = {"A": "abcd", "B": "pqrs", "P": "fghij", "Q": "tuvwx"}  # units first


def digits_of(value, width):
    return [value // 10 ** i % 10 for i in range(width)]  # units first


def check(q, think, x, op, y):
    lines = think.split("\n")
    labels = {}   # letter -> digit, from the restatements
    lists = {}    # list name -> value
    written = []  # digits written by the current run of column steps, units first
    carry = 0
    col = 0       # the column the next step must work on
    expect_value = {}  # what each restatement must hold
    expect_value["A"], expect_value["B"] = x, y
    swapped = False  # subtraction of B-A (A < B): the steps take B's digit first
    widths = {"+": (4, 4), "-": (4, 4), "*": (3, 2)}[op]
    partials = []
    for step in lines:
        if (m := LIST.match(step)):
            name, body = m[1], m[2].split()
            width = widths[0] if name == "A" else widths[1] if name == "B" else 5
            cols = COLS[name][:width]
            assert [t[0] for t in body] == list(reversed(cols)), (q, step)
            value = int("".join(t[1] for t in body))
            assert value == expect_value[name], (q, step, expect_value[name])
            for t in body:
                labels[t[0]] = int(t[1])
            lists[name] = value
            written, carry, col = [], 0, 0
            continue
        if (m := COMPARE.match(step)):
            assert op == "-" and sorted(lists) == ["A", "B"], (q, step)
            pairs = m[1].split()
            # From the top column down, each pair the digits of one column by their letters, all
            # equal but the last, which decides (or all four equal).
            for k, pr in enumerate(pairs):
                i = 3 - k
                assert pr[0] == "abcd"[i] and pr[3] == "pqrs"[i], (q, step)
                dx, rel, dy = int(pr[1]), pr[2], int(pr[4])
                assert (dx, dy) == (digits_of(x, 4)[i], digits_of(y, 4)[i]), f"{q}: {step!r} fetched a wrong digit"
                assert rel == ("=" if dx == dy else "<" if dx < dy else ">"), (q, step)
                assert rel == "=" or k == len(pairs) - 1, (q, step)
            assert len(pairs) == 4 or pairs[-1][2] != "=", (q, step)
            verdict = "A=B: A-B" if x == y else "A>B: A-B" if x > y else "A<B: B-A, then negate"
            assert m[2] == verdict, (q, step)
            swapped = x < y
            continue
        if (m := ADD.match(step)) or (m := SUB.match(step)) or (m := MUL.match(step)):
            la, da, lb, db = m[1], int(m[2]), m[3], int(m[4])
            assert labels.get(la) == da and labels.get(lb) == db, f"{q}: {step!r} fetched a wrong digit"
            if m.re is MUL:
                prod, c, tot, w, k = map(int, m.groups()[4:])
                assert prod == da * db and tot == prod + c and c == carry and c <= 8, (q, step)
                assert la == "abc"[col] and lb == ("p" if len(partials) == 0 else "q"), (q, step)
            elif m.re is ADD:
                c, tot, w, k = map(int, m.groups()[4:])
                assert tot == da + db + c and c == carry and c <= 1, (q, step)
                pair = ("abcd", "pqrs") if op == "+" else ("fghij", "tuvwx")
                assert la == pair[0][col] and lb == pair[1][col], (q, step)
            else:
                b, w, k = map(int, m.groups()[4:])
                assert b == carry and (da - db - b) % 10 == w and k == (1 if da - db - b < 0 else 0), (q, step)
                first, second = ("pqrs", "abcd") if swapped else ("abcd", "pqrs")
                assert la == first[col] and lb == second[col], (q, step)
                tot = w + 10 * k  # so that the checks below hold for borrows too
            assert w == tot % 10 and k == tot // 10, (q, step)
            written.append(w)
            carry, col = k, col + 1
            continue
        if (m := CARRY.match(step)):
            assert int(m[1]) == carry and carry > 0, (q, step)
            written.append(carry)
            carry = 0
            continue
        if (m := GIVES.match(step)):
            assert op == "*", (q, step)
            value = int("".join(map(str, reversed(written))))
            assert int(m[1]) == value == x * digits_of(y, 2)[len(partials)], (q, step)
            if m[2] is not None:
                assert len(partials) == 1 and int(m[2]) == value * 10, (q, step)
                expect_value["Q"] = value * 10
            else:
                assert len(partials) == 0, (q, step)
                expect_value["P"] = value
            partials.append(value)
            written, carry, col = [], 0, 0
            continue
        raise AssertionError(f"unexpected step line: {step!r} in {q}")
    assert col == ({"+": 4, "-": 4, "*": 5}[op]), (q, "not every column was worked")
    names = ["A", "B", "P", "Q"] if op == "*" else ["A", "B"]
    if op == "-":
        assert any(COMPARE.match(line) for line in lines), (q, "no comparison line")
    assert sorted(lists) == sorted(names), (q, lists)


ops = {"+": 0, "-": 0, "*": 0}
short = plus_minus = 0
texts = []
for line in jsonl:
    msgs = json.loads(line)["messages"]
    q, a = msgs[0]["content"], msgs[1]["content"]
    m = re.fullmatch(r"What is (\d+) ([-+*]) (\d+)\?", q)
    assert m, q
    x, op, y = int(m[1]), m[2], int(m[3])
    ops[op] += 1
    if op != "*":
        short += (x < 100) + (y < 100)
        plus_minus += 1
    assert a.startswith("<think>\n") and "\n</think>\n" in a, a
    think, answer = a[len("<think>\n"):].split("\n</think>\n")
    assert answer == str({"+": x + y, "-": x - y, "*": x * y}[op]), (q, answer)
    check(q, think, x, op, y)
    texts.append(f"{q}\n{a}\n")
assert text == "\n".join(texts) + "\n", "the --text form differs from the JSONL turns"
assert min(ops.values()) > n // 5, ops
# Half the problems draw a digit count first: an operand of A + B / A - B has at most two digits in
# about a quarter of draws (half x 2 of 4 lengths), not the task's 1%.
assert 0.15 < short / (2 * plus_minus) < 0.35, f"{short} operands of 1-2 digits in {plus_minus} problems"
print(f"{n} worked solutions checked: {ops}")
