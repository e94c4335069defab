#!/usr/bin/python3
"""Cross-entropy baselines on a `fathom prepare` data directory, for judging a model's val loss:
the unigram model (token frequencies of train.bin, add-one smoothed over the vocabulary) and the
bigram model (counts of (previous, next) in train.bin, interpolated with the unigram 0.9 / 0.1),
each evaluated on val.bin in nats per token, the unit `fathom train` logs its losses in.

    scripts/unigram_baseline.py DATA [--json]
"""
import json
import math
import os
import sys

import numpy as np


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        print(__doc__)
        return 2
    d = args[0]
    meta = json.load(open(os.path.join(d, "meta.json")))
    V = int(meta["vocab_size"])
    train = np.fromfile(os.path.join(d, "train.bin"), dtype="<u4").astype(np.int64)
    val = np.fromfile(os.path.join(d, "val.bin"), dtype="<u4").astype(np.int64)
    uni = (np.bincount(train, minlength=V) + 1.0) / (len(train) + V)
    uni_ce = float(-np.log(uni[val]).mean())
    # Bigram: sparse counts via a combined key.
    keys = train[:-1] * V + train[1:]
    uk, uc = np.unique(keys, return_counts=True)
    prev_counts = np.bincount(train[:-1], minlength=V).astype(np.float64)
    vkeys = val[:-1] * V + val[1:]
    pos = np.searchsorted(uk, vkeys)
    pos = np.minimum(pos, len(uk) - 1)
    pair = np.where(uk[pos] == vkeys, uc[pos], 0).astype(np.float64)
    prev = prev_counts[val[:-1]]
    p_bi = np.where(prev > 0, pair / np.maximum(prev, 1), 0.0)
    p = 0.9 * p_bi + 0.1 * uni[val[1:]]
    bi_ce = float(-np.log(p).mean())
    res = {"val_tokens": int(len(val)), "unigram_ce": uni_ce, "bigram_ce": bi_ce,
           "unigram_ppl": math.exp(uni_ce), "bigram_ppl": math.exp(bi_ce)}
    if "--json" in sys.argv:
        print(json.dumps(res))
    else:
        print(f"val.bin: {len(val)} tokens; unigram CE {uni_ce:.4f} nats (ppl {math.exp(uni_ce):.1f}), "
              f"bigram CE {bi_ce:.4f} nats (ppl {math.exp(bi_ce):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
