#!/usr/bin/python3
"""Plots fathom's training logs (OUT_DIR/train_log.jsonl) as a PNG.

  scripts/plot-training.py grpo RUN/grpo/train_log.jsonl --out docs/grpo-reasoner.png
      reward and accuracy per step (points) with their moving average over --window steps, and
      the KL to the reference on a second panel: what `fathom train-grpo` logs
  scripts/plot-training.py loss NAME=LOG [NAME=LOG ...] --out docs/loss.png
      training loss per step of several `fathom train` runs on one axis (moving average), with each
      run's validation losses as markers

It needs matplotlib for the system python (Debian's python3-matplotlib, which `make test-deps`
installs). Lines of the log that do not carry the plotted field (validation records, for example)
are skipped."""
import argparse
import json
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def read_log(path):
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{n}: not a JSON line ({e})")
    if not rows:
        sys.exit(f"{path}: no records")
    return rows


def series(rows, key):
    pts = [(r["step"], r[key]) for r in rows if key in r and "step" in r]
    return [p[0] for p in pts], [p[1] for p in pts]


def moving_average(ys, window):
    out, acc = [], 0.0
    for i, y in enumerate(ys):
        acc += y
        if i >= window:
            acc -= ys[i - window]
        out.append(acc / min(i + 1, window))
    return out


def plot_grpo(args):
    rows = read_log(args.logs[0])
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    # Reward and accuracy coincide while every answer is well formed: accuracy is drawn dashed
    # over the reward so that both stay visible.
    for key, colour, label, style in (("reward_mean", "tab:blue", "mean reward", "-"),
                                      ("accuracy", "tab:green", "accuracy", "--")):
        xs, ys = series(rows, key)
        if not xs:
            sys.exit(f"{args.logs[0]}: no '{key}' field: not a train-grpo log?")
        top.plot(xs, ys, ".", color=colour, alpha=0.25, markersize=3)
        top.plot(xs, moving_average(ys, args.window), style, color=colour,
                 label=f"{label} ({args.window}-step mean)")
    top.set_ylabel("per step (G answers x prompts)")
    top.set_ylim(args.reward_min - 0.02 * (1 - args.reward_min), 1 + 0.02 * (1 - args.reward_min))
    top.grid(alpha=0.3)
    top.legend(loc="lower right")
    xs, ys = series(rows, "kl")
    bottom.plot(xs, ys, "-", color="tab:red", linewidth=1)
    bottom.set_ylabel("KL to reference")
    bottom.set_xlabel("GRPO step")
    bottom.grid(alpha=0.3)
    fig.suptitle(args.title or "fathom train-grpo")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)


def plot_loss(args):
    fig, ax = plt.subplots(figsize=(8, 5))
    for spec in args.logs:
        name, sep, path = spec.partition("=")
        if not sep:
            sys.exit(f"'{spec}': write each run as NAME=LOG")
        rows = read_log(path)
        xs, ys = series(rows, "loss")
        if not xs:
            sys.exit(f"{path}: no 'loss' field: not a fathom train log?")
        line, = ax.plot(xs, moving_average(ys, args.window), "-", linewidth=1.2,
                        label=f"{name} (train, {args.window}-step mean)")
        vx, vy = series(rows, "val_loss")
        if vx:
            ax.plot(vx, vy, "o", color=line.get_color(), markersize=5, label=f"{name} (validation)")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    if args.log_y:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(args.title or "fathom train")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kind", choices=["grpo", "loss"])
    ap.add_argument("logs", nargs="+", help="train_log.jsonl (grpo) or NAME=train_log.jsonl ... (loss)")
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--window", type=int, default=10, help="moving-average window in steps (default 10)")
    ap.add_argument("--title", default="")
    ap.add_argument("--log-y", action="store_true", help="loss on a log scale (loss plots)")
    ap.add_argument("--reward-min", type=float, default=0.0,
                    help="lower end of the reward / accuracy axis (grpo plots; default 0)")
    args = ap.parse_args()
    if args.window < 1:
        sys.exit("--window must be at least 1")
    if args.kind == "grpo" and len(args.logs) != 1:
        sys.exit("grpo plots one log")
    (plot_grpo if args.kind == "grpo" else plot_loss)(args)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
