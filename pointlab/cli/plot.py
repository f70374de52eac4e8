"""``pointlab plot SAVE_PATH``: training curves (loss, learning rate, validation metrics) to a PNG.

Reads ``SAVE_PATH/train.log`` (Pointcept's line shapes; tensorboard events as a fallback) and writes
``SAVE_PATH/curves.png`` unless ``--output`` says otherwise.
"""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("save_path", metavar="SAVE_PATH", help="a run's folder (holding train.log) or a log file")
    parser.add_argument("--output", default=None, metavar="PNG", help="output image (default: SAVE_PATH/curves.png)")
    parser.add_argument("--smooth", type=float, default=0.8, help="EMA weight for per-iteration losses, 0..1 (0 = raw)")
    parser.add_argument("--title", default=None, help="figure title (default: the run's folder name)")


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    from pointlab.viz.curves import load_history, plot_training_curves

    if not 0.0 <= args.smooth < 1.0:
        print(f"pointlab plot: error: --smooth must be in [0, 1), got {args.smooth}", file=sys.stderr)
        return 2
    try:
        history = load_history(args.save_path)
    except FileNotFoundError as e:
        print(f"pointlab plot: error: {e}", file=sys.stderr)
        return 2
    folder = args.save_path if os.path.isdir(args.save_path) else os.path.dirname(os.path.abspath(args.save_path))
    out = args.output or os.path.join(folder, "curves.png")
    title = args.title or os.path.basename(os.path.normpath(os.path.abspath(folder)))
    plot_training_curves(history, out, title=title, smooth=args.smooth)
    n_ep = len(history.epochs)
    print(f"wrote {out} ({history.iter_x.size} iterations, {n_ep} evaluated epoch{'s' if n_ep != 1 else ''} "
          f"from {history.source})")
    return 0
