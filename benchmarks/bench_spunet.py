"""Full-size SpUNet-v1m1 (ScanNet base config) on one synthetic room voxelised at 0.02 m.

Usage:  python benchmarks/bench_spunet.py [--threads 2] [--repeats 5] [--cases eval,train,step] [--device cpu]
                                          [--scene box-room|synthetic]

Scenes (0.02 m voxels):
    box-room   (default) the scene timings.json describes for the reference run: a 3.4 x 2.6 m floor,
               1.0 m walls and 8 boxes (seed 303), surfaces sampled densely: 81,661 voxels vs the
               reference's 81,135, clean surfaces (about 9 occupied 3x3x3 neighbours per voxel).
               The reference's own generator is not available, so this is its description rebuilt.
    synthetic  pointlab's ScanNet-style room (3.6 x 2.8 x 2.0 m, furniture, sensor noise): 89,965
               voxels with about 12.5 neighbours each, i.e. ~40% more pairs per conv than box-room.

Cases, each in a fresh subprocess (so peak RSS is per case), 1 warm-up then ``--repeats`` timed runs:
    eval   model.eval(), torch.no_grad(), forward without labels
    train  model.train(), forward with labels + loss.backward()    (what the reference timed)
    step   train + SGD(lr 0.05, momentum 0.9, nesterov, wd 1e-4) step + zero_grad
Prints the median seconds, peak RSS (ru_maxrss: includes imports, model build and scene
generation, as in the reference measurement) and the ratio to the reference's times in
``shared/fixtures/timings.json`` (Pointcept + spconv 2.3.8 CPU on this kind of machine), then, from
one extra instrumented run per case, the time spent building kernel maps and their reduction plans.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TIMINGS = [REPO / "tests" / "fixtures" / "timings.json", REPO.parent / "shared" / "fixtures" / "timings.json"]
MODEL = dict(
    type="DefaultSegmentor",
    backbone=dict(type="SpUNet-v1m1", in_channels=6, num_classes=20, channels=(32, 64, 128, 256, 256, 128, 96, 96), layers=(2, 3, 4, 6, 2, 2, 2, 2)),
    criteria=[dict(type="CrossEntropyLoss", loss_weight=1.0, ignore_index=-1)],
)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def box_room(grid_size: float = 0.02, seed: int = 303, size=(3.4, 2.6), wall_height=1.0, boxes=8, density=10000.0):
    """A floor, four walls and ``boxes`` boxes standing on the floor, sampled at ``density`` points/m² so
    that every surface voxel is occupied. Returns (grid_coord [N,3], feat [N,6], segment [N])."""
    import numpy as np

    rng = np.random.default_rng(seed)
    width, depth = size
    ex, ey, ez = np.eye(3)
    rects = [(np.zeros(3), ex, ey, width, depth, 0)]  # (origin, u, v, |u|, |v|, class)
    rects += [(np.zeros(3), ex, ez, width, wall_height, 1), (depth * ey, ex, ez, width, wall_height, 1),
              (np.zeros(3), ey, ez, depth, wall_height, 1), (width * ex, ey, ez, depth, wall_height, 1)]
    for b in range(boxes):
        sx, sy, sz = rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.9)
        o = np.array([rng.uniform(0.1, width - sx - 0.1), rng.uniform(0.1, depth - sy - 0.1), 0.0])
        c = 2 + b % 18
        rects += [(o + sz * ez, ex, ey, sx, sy, c), (o, ex, ez, sx, sz, c), (o + sy * ey, ex, ez, sx, sz, c),
                  (o, ey, ez, sy, sz, c), (o + sx * ex, ey, ez, sy, sz, c)]
    coords, normals, labels = [], [], []
    for origin, u, v, lu, lv, cls in rects:
        a = rng.uniform(0, 1, (int(density * lu * lv), 2))
        coords.append(origin + a[:, :1] * lu * u + a[:, 1:] * lv * v)
        normals.append(np.broadcast_to(np.cross(u, v), coords[-1].shape))
        labels.append(np.full(len(a), cls))
    coord, normal, segment = np.concatenate(coords), np.concatenate(normals), np.concatenate(labels)
    color = rng.uniform(0, 1, coord.shape)
    grid = np.floor(coord / grid_size).astype(np.int64)
    _, first = np.unique(grid, axis=0, return_index=True)  # one point per voxel
    feat = np.concatenate([color[first], normal[first]], axis=1).astype(np.float32)
    return grid[first], feat, segment[first].astype(np.int64)


def make_scene(grid_size: float = 0.02, seed: int = 303, scene: str = "box-room"):
    """One voxelised room: (grid_coord int64 [N,3], feat float32 [N,6] color/255+normal, segment int64 [N])."""
    import numpy as np

    if scene == "box-room":
        return box_room(grid_size, seed)

    try:
        from pointlab.data.synth import generate_room

        room = generate_room("scannet", seed=seed, size=(3.6, 2.8, 2.0))
        coord, color, normal, segment = room["coord"], room["color"].astype(np.float32), room["normal"], room["segment"]
    except ImportError:  # fallback: the surfaces of a box room
        rng = np.random.default_rng(seed)
        n = 100_000
        coord = rng.uniform([0, 0, 0], [3.6, 2.8, 2.0], (n, 3)).astype(np.float32)
        face = rng.integers(0, 5, n)
        coord[face == 0, 2] = 0.0
        coord[face == 1, 0] = 0.0
        coord[face == 2, 0] = 3.6
        coord[face == 3, 1] = 0.0
        coord[face == 4, 1] = 2.8
        normal = np.zeros_like(coord)
        normal[np.arange(n), np.array([2, 0, 0, 1, 1])[face]] = 1.0
        color = rng.uniform(0, 255, (n, 3)).astype(np.float32)
        segment = (face > 0).astype(np.int64)
    grid = np.floor((coord - coord.min(0)) / grid_size).astype(np.int64)
    _, first = np.unique(grid, axis=0, return_index=True)  # one point per voxel
    feat = np.concatenate([color[first] / 255.0, normal[first]], axis=1).astype(np.float32)
    return grid[first], feat, segment[first].astype(np.int64)


def run_case(case: str, repeats: int, threads: int, device: str, scene: str = "box-room") -> dict:
    import torch

    from pointlab.engine.allocator import tune_host_allocator

    tune_host_allocator()  # reads POINTLAB_MALLOC_TUNING, set by the parent from --malloc-tuning
    torch.set_num_threads(threads)
    from pointlab.models import build_model

    torch.manual_seed(0)
    model = build_model(MODEL).to(device)
    grid, feat, segment = make_scene(scene=scene)
    data = dict(
        grid_coord=torch.from_numpy(grid).to(device),
        feat=torch.from_numpy(feat).to(device),
        offset=torch.tensor([len(grid)], device=device),
    )
    rss_build = _rss_mb()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4, nesterov=True)

    def once():
        if case == "eval":
            model.eval()
            with torch.no_grad():
                model(dict(data))
        else:
            model.train()
            loss = model(dict(data, segment=torch.from_numpy(segment).to(device)))["loss"]
            loss.backward()
            if case == "step":
                opt.step()
            opt.zero_grad(set_to_none=True)

    cpu_times = []

    def timed():
        if device != "cpu":
            torch.cuda.synchronize()
        t, c = time.perf_counter(), time.process_time()
        once()
        if device != "cpu":
            torch.cuda.synchronize()
        cpu_times.append(time.process_time() - c)
        return time.perf_counter() - t

    timed()  # warm-up
    times = [timed() for _ in range(repeats)]
    cpu_median = statistics.median(cpu_times[1:])
    peak = _rss_mb()
    map_s, total_s = map_time(timed)
    return dict(
        case=case, scene=scene, num_points=len(grid), times_s=[round(t, 4) for t in times], median_s=statistics.median(times), cpu_median_s=cpu_median,
        peak_rss_mb=peak, rss_after_build_mb=rss_build, threads=threads, device=device, dense_gflops=dense_gflops(),
        map_s=map_s, map_run_s=total_s,
    )


def map_time(run) -> tuple[float, float]:
    """One more run with the kernel-map builders and reduction-plan construction timed: (their
    seconds, the run's seconds). Maps are built afresh every forward (new indices each batch)."""
    from pointlab.sparse import conv, kernel_map

    spent = [0.0]

    def timed_fn(fn):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - t

        return wrapper

    originals = (conv.build_subm_map, conv.build_conv_map, kernel_map.KernelMap._make_plan)
    conv.build_subm_map, conv.build_conv_map = timed_fn(originals[0]), timed_fn(originals[1])
    kernel_map.KernelMap._make_plan = timed_fn(originals[2])
    try:
        total = run()
    finally:
        conv.build_subm_map, conv.build_conv_map, kernel_map.KernelMap._make_plan = originals
    return spent[0], total


def dense_gflops(n: int = 1024, reps: int = 8) -> float:
    """This machine's fp32 matmul throughput right now (180–230 GFLOP/s on 2 idle cores): shows contention."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def reference_times() -> dict:
    for p in TIMINGS:
        if p.is_file():
            rows = json.loads(p.read_text())["results"]
            return {r["mode"]: r for r in rows if r["model"] == "spunet_v1m1"}
    return {}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cases", default="eval,train,step")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--scene", default="box-room", choices=["box-room", "synthetic"])
    ap.add_argument("--malloc-tuning", type=int, default=1, choices=(0, 1),
                    help="1: keep freed memory in the heap as `pointlab train/test/infer` do (pointlab.engine.allocator); 0: glibc defaults")
    ap.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case in this process
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.repeats, args.threads, args.device, args.scene)))
        return 0

    ref = reference_times()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               POINTLAB_MALLOC_TUNING=str(args.malloc_tuning))
    print(f"host allocator tuning {'on' if args.malloc_tuning else 'off'} (--malloc-tuning; what pointlab's CLI does)")
    print(f"SpUNet-v1m1 full size (39.16 M params), scene {args.scene}, {args.threads} threads, {args.device}, median of {args.repeats} after 1 warm-up")
    print(f"{'case':6s} {'points':>7s} {'median s':>9s} {'min s':>7s} {'CPU s':>7s} {'peak RSS MB':>12s}  {'ref s':>6s} {'ratio':>6s} {'ref RSS':>8s} {'matmul GF/s':>12s}")
    map_lines = []
    for case in args.cases.split(","):
        cmd = [sys.executable, __file__, "--case", case, "--repeats", str(args.repeats), "--threads", str(args.threads), "--device", args.device, "--scene", args.scene]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            print(f"{case}: failed\n{proc.stderr[-2000:]}")
            return 1
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        map_lines.append(
            f"{case}: kernel maps + reduction plans {r['map_s'] * 1e3:.0f} ms of a {r['map_run_s']:.2f} s run "
            f"({100 * r['map_s'] / r['map_run_s']:.1f}%, one extra instrumented run)"
        )
        # the reference's "train" is forward + backward without an optimizer step
        rr = ref.get("train" if case in ("train", "step") else case)
        ratio = f"{r['median_s'] / rr['median_s']:6.2f}" if rr else "   n/a"
        print(
            f"{case:6s} {r['num_points']:7d} {r['median_s']:9.3f} {min(r['times_s']):7.3f} {r['cpu_median_s']:7.2f} {r['peak_rss_mb']:12.0f}  "
            f"{rr['median_s'] if rr else float('nan'):6.2f} {ratio} {rr['peak_rss_mb'] if rr else float('nan'):8.0f} "
            f"{r.get('dense_gflops', float('nan')):12.0f}"
        )
    for line in map_lines:
        print(line)
    print("ratio = ours / reference (Pointcept + spconv 2.3.8 CPU); < 1 is faster. 'step' is compared with the reference's train (no optimizer step).")
    print("CPU s = median process CPU time per run (all threads): time stolen by other tenants of the machine does not count.")
    print("matmul GF/s = dense fp32 throughput measured after the case (180-230 on 2 idle cores): far lower means a busy machine.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
