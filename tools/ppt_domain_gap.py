"""The BN-vs-PDNorm domain-gap study on the three synthetic styles (issue 5, item 7).

Trains the small SpUNet of ``configs/synthetic/ppt-domain-gap-spunet.py`` (PPT-v1m2, one head per
dataset) with different norms, jointly on ScanNet-, S3DIS- and Structured3D-style synthetic rooms
(one dataset per batch, sampled 1:1:1), and each dataset alone; writes the per-domain val mIoU as a
Markdown table and a PNG bar chart.

    python tools/ppt_domain_gap.py [--out exp/ppt_domain_gap/report] [--data data/synthetic_ppt] [--variants ...]

Variants: joint-bn (one shared BatchNorm), joint-pdnorm (decoupled + adaptive PDNorm, PPT's setting),
joint-pdnorm-decouple (decoupled, not adaptive), joint-ln (LayerNorm everywhere), and
alone-<dataset> (shared BatchNorm, that dataset only, the same number of batches of it).
The synthetic data (6 rooms per style: 4 train, 2 val) is written on first use.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "synthetic" / "ppt-domain-gap-spunet.py"
DOMAINS = ("ScanNet", "S3DIS", "Structured3D")
STYLE = {"ScanNet": "scannet", "S3DIS": "s3dis", "Structured3D": "structured3d"}
BN = ["model.backbone.norm_decouple=False", "model.backbone.norm_adaptive=False"]
VARIANTS = {
    "joint-bn": (BN, DOMAINS),
    "joint-pdnorm": ([], DOMAINS),
    "joint-pdnorm-decouple": (["model.backbone.norm_adaptive=False"], DOMAINS),  # not in the default set
    "joint-ln": (BN + ["model.backbone.norm_type=LN"], DOMAINS),
    **{f"alone-{d}": (BN, (d,)) for d in DOMAINS},
}


def ensure_data(root: Path, scenes: int, seed: int) -> None:
    from pointlab.data.synth import write_dataset

    for domain, style in STYLE.items():
        out = root / style
        if out.is_dir() and any(out.iterdir()):
            continue
        print(f"writing synthetic {style} rooms to {out}", flush=True)
        write_dataset(style, str(out), scenes=scenes, seed=seed, val_ratio=0.34, rooms_per_scene=1)


def run_variant(name: str, data_root: Path, exp_root: Path, extra: list[str]) -> dict:
    from pointlab.config import default_config_parser
    from pointlab.engine.multi_dataset import MultiDatasetSemSegEvaluator
    from pointlab.registry import TRAINERS

    options, domains = VARIANTS[name]
    cfg = default_config_parser(str(CONFIG), [f"save_path={exp_root / name}", f"data_root={data_root}"] + options + extra)
    keep = [DOMAINS.index(d) for d in domains]
    for split in ("train", "val"):
        sets = cfg.data[split].datasets
        for s in sets:  # data_root was substituted when the config executed: point it at --data
            s.data_root = str(data_root / Path(s.data_root).name)
        cfg.data[split].datasets = [sets[i] for i in keep]
    trainer = TRAINERS.build(cfg.train, default_args=dict(cfg=cfg))
    start = time.perf_counter()
    trainer.train()
    evaluator = next(h for h in trainer.hooks if isinstance(h, MultiDatasetSemSegEvaluator))
    return {
        "seconds": time.perf_counter() - start,
        "steps": len(trainer.train_loader) * trainer.max_epoch,
        "mIoU": {d: float(m["mIoU"]) for d, m in evaluator.last_metrics.items()},
        "allAcc": {d: float(m["allAcc"]) for d, m in evaluator.last_metrics.items()},
    }


def write_report(results: dict, out: Path, command: str) -> None:
    rows = ["| variant | " + " | ".join(DOMAINS) + " | mean | train steps | time (s) |", "|---" * (len(DOMAINS) + 4) + "|"]
    for name, r in results.items():
        vals = [r["mIoU"].get(d) for d in DOMAINS]
        cells = [f"{v:.3f}" if v is not None else "–" for v in vals]
        present = [v for v in vals if v is not None]
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {sum(present) / len(present):.3f} | {r['steps']} | {r['seconds']:.0f} |")
    text = "\n".join(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(f"Per-domain val mIoU (last epoch).\n\n```\n{command}\n```\n\n{text}\n")
    out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np

        names = list(results)
        x = np.arange(len(DOMAINS))
        width = 0.8 / max(len(names), 1)
        fig, ax = plt.subplots(figsize=(8, 4))
        for i, name in enumerate(names):
            vals = [results[name]["mIoU"].get(d, np.nan) for d in DOMAINS]
            ax.bar(x + (i - (len(names) - 1) / 2) * width, vals, width, label=name)
        ax.set_xticks(x, DOMAINS)
        ax.set_ylabel("val mIoU")
        ax.set_title("Norm layers under multi-dataset training (synthetic styles)")
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(out.with_suffix(".png"), dpi=100)
        plt.close(fig)
    except ImportError:
        print("matplotlib missing: no PNG", file=sys.stderr)
    print(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "exp" / "ppt_domain_gap" / "report"), help="report path without suffix (.md/.png/.json)")
    parser.add_argument("--data", default=str(REPO / "data" / "synthetic_ppt"), help="synthetic data root (written if absent)")
    parser.add_argument("--exp", default=str(REPO / "exp" / "ppt_domain_gap"), help="run folders")
    parser.add_argument("--variants", nargs="+", default=[v for v in VARIANTS if v != "joint-pdnorm-decouple"], choices=list(VARIANTS))
    parser.add_argument("--scenes", type=int, default=6, help="rooms per style (default 6: 4 train, 2 val)")
    parser.add_argument("--options", nargs="*", default=[], help="extra config overrides for every run, e.g. epoch=4 eval_epoch=2")
    args = parser.parse_args(argv)
    data, exp = Path(args.data).resolve(), Path(args.exp).resolve()
    ensure_data(data, args.scenes, seed=0)
    command = ("python tools/ppt_domain_gap.py " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    results = {}
    for name in args.variants:
        print(f"== {name}", flush=True)
        results[name] = run_variant(name, data, exp, args.options)
        write_report(results, Path(args.out), command)  # after every run: a stopped study keeps its rows
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    sys.exit(main())
