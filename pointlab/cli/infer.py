"""``pointlab infer``: segment your own point-cloud files with a trained model.

::

    pointlab infer --config-file configs/synthetic/semseg-spunet-v1m1-small.py \\
        --weight exp/synthetic/semseg-spunet-v1m1-small/model/model_best.pth \\
        --input my_room.ply --output predictions/

Inputs: a file or a folder of ``.ply`` (binary/ASCII), ``.las``/``.laz`` (``pip install 'pointlab[las]'``),
``.npy``/``.npz`` and ``.txt``/``.xyz`` files (see :mod:`pointlab.data.io`). Per input ``<name>``:

    <name>_pred.npy         int64 [N] class of every point (the input's order)
    <name>_pred.ply         the points coloured by class, with an int ``label`` field
    <name>.png              top-down and oblique renders with a class legend (``--no-render`` skips it)

Instance models (PointGroup) also write ``<name>_instances.npz`` (``pred_masks`` bool [P, N],
``pred_scores``, ``pred_classes``, per-point ``instance``), an ``instance`` field in the PLY and
``<name>_instances.png``. ``--fill-missing`` fills colours/normals the model needs but a file lacks
(grey colour; normals by PCA over neighbours), otherwise such a file is an error.
"""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from pointlab.config import DictAction

    parser.add_argument("--config-file", required=True, metavar="FILE", help="the config the model was trained with")
    parser.add_argument("--weight", required=True, metavar="CKPT", help="checkpoint, e.g. <save_path>/model/model_best.pth")
    parser.add_argument("--input", required=True, metavar="FILE_OR_DIR", help="a point-cloud file or a folder of them")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder for the predictions")
    parser.add_argument("--options", nargs="+", action=DictAction, default=None, metavar="KEY=VALUE",
                        help="config overrides, e.g. data.test.test_cfg.voxelize.grid_size=0.04")
    parser.add_argument("--fill-missing", action="store_true",
                        help="fill colours (grey) / normals (PCA estimate) the model needs but a file lacks")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: CUDA when available)")
    parser.add_argument("--fragment-batch-size", type=int, default=1, metavar="N",
                        help="test fragments per forward pass (faster, more memory)")
    parser.add_argument("--save-probs", action="store_true", help="also write <name>_probs.npy (float32 [N, K])")
    parser.add_argument("--ascii-ply", action="store_true", help="write ASCII PLY instead of binary")
    parser.add_argument("--no-render", action="store_true", help="skip the PNG renders")


def list_inputs(path: str) -> list:
    """Supported files: ``path`` itself, or the files of the folder ``path`` (sorted, not recursive)."""
    from pathlib import Path

    from pointlab.data.io import SUPPORTED_SUFFIXES

    p = Path(path)
    if p.is_file():
        return [p]
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"no point-cloud files in {p} (looked for {', '.join(SUPPORTED_SUFFIXES)})")
        return files
    raise FileNotFoundError(f"--input {path} does not exist")


def _output_names(files) -> list[str]:
    """File stems, with the suffix appended where two inputs share a stem (room.ply, room.npy)."""
    stems = [f.stem for f in files]
    return [f"{s}_{f.suffix.lstrip('.').lower()}" if stems.count(s) > 1 else s for s, f in zip(stems, files)]


def _summary(segment, names) -> str:
    import numpy as np

    counts = np.bincount(segment[segment >= 0], minlength=len(names))
    top = np.argsort(-counts, kind="stable")[:5]
    return ", ".join(f"{names[c] if c < len(names) else c} {100.0 * counts[c] / max(segment.size, 1):.0f}%"
                     for c in top if counts[c])


def infer_file(predictor, path, out_dir, name: str, save_probs=False, ascii_ply=False, render=True) -> dict:
    """Predict one file and write its outputs (see the module docstring). Returns the written paths."""
    import os

    import numpy as np

    from pointlab.data.io import read_point_cloud, write_ply
    from pointlab.viz.palette import colorize, palette_for

    cloud = read_point_cloud(path)
    out = predictor.predict(cloud["coord"], color=cloud.get("color"), normal=cloud.get("normal"),
                            return_probs=save_probs, name=name)
    written = {}
    seg = out["segment"]
    written["pred"] = os.path.join(out_dir, f"{name}_pred.npy")
    np.save(written["pred"], seg)
    if save_probs:
        written["probs"] = os.path.join(out_dir, f"{name}_probs.npy")
        np.save(written["probs"], out["probs"])
    palette = palette_for(predictor.names, predictor.num_classes)
    instance = out.get("instance")
    written["ply"] = str(write_ply(os.path.join(out_dir, f"{name}_pred.ply"), cloud["coord"], color=colorize(seg, palette),
                                   label=seg, instance=instance, binary=not ascii_ply))
    if instance is not None:
        written["instances"] = os.path.join(out_dir, f"{name}_instances.npz")
        np.savez_compressed(written["instances"], pred_masks=out["pred_masks"], pred_scores=out["pred_scores"],
                            pred_classes=out["pred_classes"], instance=instance)
    if render:
        from pointlab.viz.render import render_instances, render_segmentation

        written["png"] = render_segmentation(
            cloud["coord"], seg, os.path.join(out_dir, f"{name}.png"), names=predictor.names, palette=palette,
            title=f"{name}: predicted classes ({seg.size:,} points)", color=cloud.get("color"), normal=cloud.get("normal"))
        if instance is not None:
            written["instances_png"] = render_instances(
                cloud["coord"], instance, os.path.join(out_dir, f"{name}_instances.png"), normal=cloud.get("normal"),
                title=f"{name}: {len(out['pred_scores'])} predicted instances")
    return written


def run(args: argparse.Namespace) -> int:
    import os
    import sys
    import time

    from pointlab.data.io import PointCloudFileError
    from pointlab.engine.allocator import tune_host_allocator
    from pointlab.engine.checkpoint import CheckpointError
    from pointlab.engine.logger import get_root_logger
    from pointlab.inference import MissingInputError, Predictor

    tune_host_allocator()
    logger = get_root_logger()
    try:
        files = list_inputs(args.input)
        predictor = Predictor(args.config_file, args.weight, device=args.device, options=args.options,
                              fill_missing=args.fill_missing, fragment_batch_size=args.fragment_batch_size)
    except (FileNotFoundError, CheckpointError, ValueError, KeyError, ImportError) as e:
        print(f"pointlab infer: error: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.output, exist_ok=True)
    failed = []
    for path, name in zip(files, _output_names(files)):
        start = time.time()
        try:
            written = infer_file(predictor, path, args.output, name, save_probs=args.save_probs,
                                 ascii_ply=args.ascii_ply, render=not args.no_render)
        except (MissingInputError, PointCloudFileError, ImportError, FileNotFoundError) as e:
            print(f"pointlab infer: error: {e}", file=sys.stderr)
            failed.append(str(path))
            continue
        import numpy as np

        seg = np.load(written["pred"])
        logger.info(f"{path}: {seg.size} points in {time.time() - start:.1f}s ({_summary(seg, predictor.names)}) "
                    f"-> {', '.join(os.path.basename(p) for p in written.values())}")
    if failed:
        print(f"pointlab infer: {len(failed)} of {len(files)} input(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
