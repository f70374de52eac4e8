"""``pointlab synth``: write built-in synthetic indoor scenes in a dataset's preprocessed layout."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--style", choices=("scannet", "s3dis", "structured3d"), default="scannet",
                        help="which dataset to imitate (layout, class list, colours, noise); default scannet")
    parser.add_argument("--out", required=True, help="output root, e.g. data/synthetic_scannet")
    parser.add_argument("--scenes", type=int, default=24,
                        help="number of scenes (default 24; every class then occurs in train and val)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed -> identical files)")
    parser.add_argument("--density", type=float, default=None,
                        help="points per m² of surface (default: the style's, 1500 scannet / 1800 s3dis / "
                             "1100 structured3d); lower it for quick experiments")
    parser.add_argument("--val-ratio", type=float, default=0.2,
                        help="fraction of scenes in the val split (S3DIS: Area_5); at least one (default 0.2)")
    parser.add_argument("--rooms-per-scene", type=int, default=2,
                        help="structured3d only: rooms per scene folder (default 2)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the split folders of an earlier dataset in --out (default: refuse)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")


def run(args: argparse.Namespace) -> int:
    import sys

    from pointlab.data.synth.writer import write_dataset

    def progress(done, total):
        if not args.quiet:
            print(f"\rgenerating rooms: {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

    try:
        summary = write_dataset(args.style, args.out, scenes=args.scenes, seed=args.seed, density=args.density,
                                val_ratio=args.val_ratio, rooms_per_scene=args.rooms_per_scene,
                                overwrite=args.overwrite, progress=progress)
    except (ValueError, FileExistsError) as e:
        print(f"pointlab synth: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.style}-style synthetic dataset to {summary['out_dir']} (seed {summary['seed']})")
    for split in ("train", "val"):
        name = summary["val_split"] if split == "val" else ("Area_1-4,6" if args.style == "s3dis" else "train")
        lo, mean, hi = summary["points"][split]
        classes = summary["classes"][split]
        print(f"  {name}: {summary['scenes'][split]} scenes / {summary['rooms'][split]} rooms, "
              f"points per room min {lo} mean {mean} max {hi}, "
              f"{len(classes)}/{len(summary['class_names'])} classes")
        if summary["missing"][split]:
            print(f"    missing classes: {', '.join(summary['missing'][split])}")
        print(f"    room types: {', '.join(f'{k} {v}' for k, v in sorted(summary['room_types'][split].items()))}")
    return 0
