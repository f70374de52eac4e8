"""Time the ScanNet training transform pipeline (SpUNet-v1m1 config) on one core.

Usage:  python benchmarks/bench_data_pipeline.py [--runs 7] [--points N] [--no-breakdown]

Prints the median seconds per scene over ``--runs`` runs (each with a different RNG seed),
wall-clock and process CPU time (the CPU figure is the one to trust on a shared machine),
peak Python-heap memory of one run (tracemalloc) and the process's peak RSS (ru_maxrss),
then the median CPU time of each transform (same seeds; a transform skipped by its
probability counts 0 for that seed).
The scene is a synthetic 5×5×3 m ScanNet-style room from ``pointlab.data.synth`` (or a
random box-surface room if that generator is unavailable), cast the way the dataset
loads it (float32 coord/color/normal, int32 segment/instance).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy/torch load their thread pools

import argparse  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from pointlab.config import Config  # noqa: E402
from pointlab.data.transforms import Compose  # noqa: E402

# The transform lists of the reference SpUNet-v1m1 ScanNet config, read from the config file itself.
_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "scannet", "semseg-spunet-v1m1-0-base.py")
_DATA = Config.fromfile(_CONFIG).data
SCANNET_TRAIN = list(_DATA.train.transform)
SCANNET_VAL = list(_DATA.val.transform)


def box_room(n_points: int, seed: int = 0, size=(5.0, 5.0, 3.0)) -> dict:
    """Fallback scene: points on the 6 faces of a box, area-proportional, with noise."""
    rs = np.random.RandomState(seed)
    w, d, h = size
    faces = [  # (fixed axis, value, normal sign, area)
        (2, 0.0, 1, w * d), (2, h, -1, w * d), (0, 0.0, 1, d * h), (0, w, -1, d * h), (1, 0.0, 1, w * h), (1, d, -1, w * h),
    ]
    area = np.array([f[3] for f in faces])
    face = rs.choice(len(faces), n_points, p=area / area.sum())
    coord = rs.rand(n_points, 3) * np.array(size)
    normal = np.zeros((n_points, 3))
    for i, (axis, value, sign, _) in enumerate(faces):  # 6 faces, not points
        sel = face == i
        coord[sel, axis] = value + rs.randn(sel.sum()) * 0.005
        normal[sel, axis] = sign
    return dict(
        coord=coord.astype(np.float32),
        color=rs.randint(0, 256, (n_points, 3)).astype(np.uint8),
        normal=normal.astype(np.float32),
        segment=np.where(face < 2, face, 0).astype(np.int64),
        instance=np.full(n_points, -1, dtype=np.int64),
    )


def load_scene(n_points: int | None) -> tuple[dict, str]:
    try:
        from pointlab.data.synth import generate_room

        room = generate_room(style="scannet", seed=0, size=(5.0, 5.0, 3.0), room_type=None)
        source = "pointlab.data.synth.generate_room(style='scannet', seed=0, size=(5,5,3))"
    except ImportError:
        room = box_room(n_points or 200_000)
        source = "fallback box-surface room"
    # what ScanNetDataset.get_data hands the transforms
    scene = dict(
        coord=room["coord"].astype(np.float32),
        color=room["color"].astype(np.float32),
        normal=room["normal"].astype(np.float32),
        segment=room["segment"].reshape(-1).astype(np.int32),
        instance=room["instance"].reshape(-1).astype(np.int32),
        name="synthetic_room",
        split="train",
    )
    if n_points is not None and n_points != len(scene["coord"]):
        idx = np.random.RandomState(1).choice(len(scene["coord"]), n_points, replace=n_points > len(scene["coord"]))
        scene = {k: (v[idx] if isinstance(v, np.ndarray) else v) for k, v in scene.items()}
    return scene, source


def time_pipeline(pipeline: Compose, scene: dict, runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and process-CPU seconds per run (CPU time is the robust figure on a busy machine)."""
    wall, cpu = [], []
    for seed in range(runs):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        t0, c0 = time.perf_counter(), time.process_time()
        pipeline(dict(scene))
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def breakdown(pipeline: Compose, scene: dict, runs: int) -> dict[str, float]:
    """Median CPU seconds per transform (same seeds as the timed runs), as Compose runs them:
    a transform's time includes the deferred gathers it triggered; the last row is the
    gathers left for the end of the pipeline."""
    names = [f"{i:2d} {type(t).__name__}" for i, t in enumerate(pipeline.transforms)] + ["   (final gathers)"]
    per: dict[str, list[float]] = {name: [] for name in names}
    for seed in range(runs):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        last = [time.process_time()]

        def on_step(i):
            now = time.process_time()
            per[names[i]].append(now - last[0])
            last[0] = now

        pipeline.run(dict(scene), on_step=on_step)
    return {k: statistics.median(v) for k, v in per.items()}


def peak_traced_mib(pipeline: Compose, scene: dict) -> float:
    random.seed(0)
    np.random.seed(0)
    tracemalloc.start()
    tracemalloc.reset_peak()
    pipeline(dict(scene))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs (median reported; ≥ 5 recommended)")
    parser.add_argument("--points", type=int, default=None, help="resample the scene to this many points")
    parser.add_argument(
        "--breakdown", action=argparse.BooleanOptionalAction, default=True,
        help="print the median CPU time of each transform (default: on; --no-breakdown to skip)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    scene, source = load_scene(args.points)
    print(f"scene: {source}; {len(scene['coord'])} points")
    print(f"threads: torch {torch.get_num_threads()}, OMP/OpenBLAS/MKL 1; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for name, cfg in (("scannet-train", SCANNET_TRAIN), ("scannet-val", SCANNET_VAL)):
        pipeline = Compose(cfg)
        pipeline(dict(scene))  # warm-up (imports, allocator)
        wall, cpu = time_pipeline(pipeline, scene, args.runs)
        out = pipeline(dict(scene))
        print(
            f"{name:14s} median {statistics.median(wall):.4f} s/scene wall (min {min(wall):.4f}), "
            f"{statistics.median(cpu):.4f} s CPU (min {min(cpu):.4f}) over {args.runs} runs; "
            f"output {tuple(out['coord'].shape)[0]} points; tracemalloc peak {peak_traced_mib(pipeline, scene):.1f} MiB"
        )
        if args.breakdown:
            for k, v in breakdown(pipeline, scene, args.runs).items():
                print(f"    {k:28s} {v * 1000:8.2f} ms")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"process peak RSS (ru_maxrss): {rss:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
