"""``pointlab pipeline``: run a dataset's transform pipeline and collate, and print what comes out.

Two ways to name the data:

* ``--config-file CFG [--options k=v ...] [--split train]``: the dataset of ``cfg.data.<split>``
  (``train``/``val``/``test``), with its own transforms;
* ``--data-root DIR --style scannet``: a dataset of that layout with the built-in ScanNet SpUNet
  training transforms (:data:`DEFAULT_TRAIN_TRANSFORM`); ``--split`` is then the split folder.

If the data root does not exist (or is empty) and ``--style`` is given, a small synthetic dataset is
written there first (``pointlab.data.synth.write_dataset``). ``--samples`` items are produced and
collated into one batch; for every key the dtype, shape and value range are printed, then the
offsets and the class histogram of ``segment``. Test-mode datasets print their fragment lists and
collate the first item's fragments.
"""
from __future__ import annotations

import argparse
import copy
import glob
import os
import sys
import time

STYLES = {
    "scannet": "ScanNetDataset",
    "s3dis": "S3DISDataset",
    "structured3d": "Structured3DDataset",
}

# Pointcept configs/scannet/semseg-spunet-v1m1-0-base.py, data.train.transform
DEFAULT_TRAIN_TRANSFORM = [
    dict(type="CenterShift", apply_z=True),
    dict(type="RandomDropout", dropout_ratio=0.2, dropout_application_ratio=0.2),
    dict(type="RandomRotate", angle=[-1, 1], axis="z", center=[0, 0, 0], p=0.5),
    dict(type="RandomRotate", angle=[-1 / 64, 1 / 64], axis="x", p=0.5),
    dict(type="RandomRotate", angle=[-1 / 64, 1 / 64], axis="y", p=0.5),
    dict(type="RandomScale", scale=[0.9, 1.1]),
    dict(type="RandomFlip", p=0.5),
    dict(type="RandomJitter", sigma=0.005, clip=0.02),
    dict(type="ElasticDistortion", distortion_params=[[0.2, 0.4], [0.8, 1.6]]),
    dict(type="ChromaticAutoContrast", p=0.2, blend_factor=None),
    dict(type="ChromaticTranslation", p=0.95, ratio=0.05),
    dict(type="ChromaticJitter", p=0.95, std=0.05),
    dict(type="GridSample", grid_size=0.02, hash_type="fnv", mode="train", return_grid_coord=True),
    dict(type="SphereCrop", point_max=100000, mode="random"),
    dict(type="CenterShift", apply_z=False),
    dict(type="NormalizeColor"),
    dict(type="ShufflePoint"),
    dict(type="ToTensor"),
    dict(type="Collect", keys=("coord", "grid_coord", "segment"), feat_keys=("color", "normal")),
]


class PipelineError(Exception):
    """A usage problem reported as one line on stderr (exit code 2)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-file", default=None, help="config whose cfg.data.<split> dataset is run")
    parser.add_argument("--options", nargs="+", default=None, metavar="KEY=VALUE",
                        help="config overrides, e.g. data.train.transform.0.apply_z=False")
    parser.add_argument("--split", default=None,
                        help="with a config: the data section (train/val/test, default train); without: the split "
                             "folder (default train, S3DIS: the first Area_*)")
    parser.add_argument("--samples", type=int, default=4, help="number of items to produce and collate (default 4)")
    parser.add_argument("--data-root", default=None, help="dataset folder (overrides the config's data_root)")
    parser.add_argument("--style", choices=sorted(STYLES), default=None,
                        help="dataset layout; also the synthetic style written when the data root is missing")
    parser.add_argument("--scenes", type=int, default=4, help="scenes to synthesise when the data root is missing")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data and the random transforms")
    parser.add_argument("--mix-prob", type=float, default=None,
                        help="collate mixing probability (default: the config's mix_prob for train, else 0)")


def run(args) -> int:
    from pointlab.data.datasets import SceneDataError

    try:
        return _run(args)
    except PipelineError as e:
        print(f"pointlab pipeline: error: {e}", file=sys.stderr)
        return 2
    except (FileNotFoundError, SceneDataError) as e:
        # missing data root/split/config (DataRootError is a FileNotFoundError) and bad scenes: no traceback
        print(f"pointlab pipeline: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


# -- setup ----------------------------------------------------------------------------------------------
def _guess_style(data_root: str) -> str:
    if glob.glob(os.path.join(data_root, "Area_*")):
        return "s3dis"
    if glob.glob(os.path.join(data_root, "*", "scene_*", "room_*")):
        return "structured3d"
    return "scannet"


def _needs_data(data_root: str | None) -> bool:
    return data_root is not None and (not os.path.isdir(data_root) or not os.listdir(data_root))


def _synthesise(style: str, data_root: str, scenes: int, seed: int) -> None:
    from pointlab.data.synth import write_dataset

    print(f"data root {data_root} is missing or empty: writing {scenes} synthetic '{style}' scenes (seed {seed})")
    t0 = time.perf_counter()
    write_dataset(style, data_root, scenes=scenes, seed=seed)
    print(f"  written in {time.perf_counter() - t0:.2f} s")


def _dataset_cfg_from_config(args):
    from pointlab.config import Config, parse_options, resolve_config_path

    cfg = Config.fromfile(resolve_config_path(args.config_file))
    if args.options:
        cfg.merge_from_dict(parse_options(args.options))
    section = args.split or "train"
    data = cfg.get("data")
    if not data or section not in data:
        have = ", ".join(k for k in (data or {}) if isinstance(data[k], dict)) or "none"
        raise PipelineError(f"{args.config_file} has no data.{section} dataset (dataset sections: {have})")
    ds_cfg = copy.deepcopy(dict(data[section]))
    if args.data_root is not None:
        if "data_root" not in ds_cfg and ds_cfg.get("type") == "ConcatDataset":
            raise PipelineError("--data-root cannot override a ConcatDataset; set each sub-dataset's data_root "
                                "with --options")
        ds_cfg["data_root"] = args.data_root
    mix_prob = args.mix_prob if args.mix_prob is not None else (cfg.get("mix_prob", 0) if section == "train" else 0)
    names = data.get("names")
    return ds_cfg, mix_prob, names


def _dataset_cfg_builtin(args, style):
    split = args.split
    if split is None:
        areas = sorted(os.path.basename(p) for p in glob.glob(os.path.join(args.data_root, "Area_*")))
        split = (areas[0] if areas else "Area_1") if style == "s3dis" else "train"
    ds_cfg = dict(type=STYLES[style], split=split, data_root=args.data_root,
                  transform=copy.deepcopy(DEFAULT_TRAIN_TRANSFORM))
    return ds_cfg, (args.mix_prob or 0), None


def _run(args) -> int:
    if args.samples < 1:
        raise PipelineError(f"--samples must be ≥ 1, got {args.samples}")
    if args.config_file is None and args.data_root is None:
        raise PipelineError("give --config-file CFG, or --data-root DIR [--style scannet|s3dis|structured3d]")

    if args.config_file is not None:
        ds_cfg, mix_prob, names = _dataset_cfg_from_config(args)
        data_root = ds_cfg.get("data_root")
        if args.style and _needs_data(data_root):
            _synthesise(args.style, data_root, args.scenes, args.seed)
    else:
        if args.style and _needs_data(args.data_root):
            _synthesise(args.style, args.data_root, args.scenes, args.seed)
        style = args.style or (_guess_style(args.data_root) if os.path.isdir(args.data_root) else "scannet")
        ds_cfg, mix_prob, names = _dataset_cfg_builtin(args, style)

    import random

    import numpy as np
    import torch

    from pointlab.data.datasets import build_dataset

    dataset = build_dataset(ds_cfg)
    names = names or _class_names(dataset)
    print(f"dataset: {_describe_dataset(dataset)}; {len(dataset)} items")

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    items, t0 = [], time.perf_counter()
    for i in range(args.samples):
        items.append(dataset[i % len(dataset)])
    per_item = (time.perf_counter() - t0) / args.samples
    print(f"produced {args.samples} item(s), {per_item * 1000:.1f} ms per item")

    if isinstance(items[0], dict) and "fragment_list" in items[0]:
        _report_test_items(items, names)
    else:
        from pointlab.data.collate import point_collate_fn

        batch = point_collate_fn(items, mix_prob=mix_prob)
        print(f"batch (point_collate_fn, mix_prob={mix_prob}):")
        _report_batch(batch, names)
    return 0


# -- reporting --------------------------------------------------------------------------------------------
def _describe_dataset(dataset) -> str:
    subs = getattr(dataset, "datasets", None)
    if subs is not None:
        return f"ConcatDataset(loop={dataset.loop}) of [" + ", ".join(_describe_dataset(d) for d in subs) + "]"
    return repr(dataset)


def _class_names(dataset):
    subs = getattr(dataset, "datasets", None)
    if subs:
        return _class_names(subs[0])
    names = getattr(dataset, "class_names", None)
    return list(names) if names is not None else None


def _fmt(x) -> str:
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def describe_value(value) -> str:
    """One line: dtype, shape and value range of a tensor/array, or a short summary of anything else."""
    import numpy as np
    import torch

    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value) if value.dtype.kind in "biuf" else value
    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).replace("torch.", "")
        text = f"{dtype:8s} {str(list(value.shape)):14s}"
        if value.numel():
            v = value.detach()
            if v.dtype == torch.bool:
                text += f" true {int(v.sum())}/{v.numel()}"
            else:
                lo, hi = v.min().item(), v.max().item()
                text += f" range [{_fmt(lo)}, {_fmt(hi)}]"
                if v.is_floating_point() and not torch.isfinite(v).all():
                    text += "  (contains NaN/Inf!)"
        return text
    if isinstance(value, (list, tuple)):
        head = ", ".join(repr(v) if isinstance(v, str) else type(v).__name__ for v in value[:3])
        return f"{type(value).__name__}[{len(value)}] {head}{', …' if len(value) > 3 else ''}"
    return f"{type(value).__name__} {value!r}"


def _report_batch(batch, names, indent="  ") -> None:
    import torch

    width = max(len(k) for k in batch)
    for key, value in batch.items():
        print(f"{indent}{key:{width}s}  {describe_value(value)}")
    for key, value in batch.items():
        if "offset" in key and isinstance(value, torch.Tensor):
            counts = torch.diff(value, prepend=value.new_zeros(1))
            print(f"{indent}{key}: {_short_list(value.tolist())} (points per sample {_short_list(counts.tolist())})")
    segment = batch.get("segment")
    if isinstance(segment, torch.Tensor) and segment.numel():
        _report_histogram(segment, names, indent)


def _short_list(values, head=8, tail=4) -> str:
    if len(values) <= head + tail:
        return str(values)
    return "[" + ", ".join(map(str, values[:head])) + ", …, " + ", ".join(map(str, values[-tail:])) + f"] ({len(values)})"


def _report_histogram(segment, names, indent) -> None:
    import torch

    seg = segment.reshape(-1).long()
    valid = seg >= 0
    counts = torch.bincount(seg[valid], minlength=len(names) if names else 0)
    total = seg.numel()
    print(f"{indent}segment histogram ({total} points, {int((~valid).sum())} ignored = "
          f"{100.0 * (~valid).sum().item() / total:.1f}%):")
    for c in torch.nonzero(counts).reshape(-1).tolist():
        label = names[c] if names and c < len(names) else "(beyond class names!)"
        print(f"{indent}  {c:3d} {label:22s} {int(counts[c]):8d}  {100.0 * counts[c].item() / total:5.1f}%")
    present = int((counts > 0).sum())
    print(f"{indent}  classes present: {present}" + (f"/{len(names)}" if names else ""))


def _report_test_items(items, names) -> None:
    from pointlab.data.collate import collate_fn

    for item in items:
        frags = item["fragment_list"]
        sizes = [len(f["coord"]) if "coord" in f else 0 for f in frags]
        extra = ", ".join(k for k in item if k not in ("segment", "name", "fragment_list"))
        print(f"  {item['name']}: segment {describe_value(item['segment'])}; {len(frags)} fragments "
              f"({min(sizes)}..{max(sizes)} points)" + (f"; also {extra}" if extra else ""))
    print(f"fragments of {items[0]['name']} collated (collate_fn):")
    _report_batch(collate_fn(items[0]["fragment_list"]), names)
    import torch

    seg = items[0]["segment"]
    _report_histogram(torch.as_tensor(seg), names, "  ")
