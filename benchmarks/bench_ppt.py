"""PPT train-step overhead: PPT-v1m2 + SpUNet-v1m3 (decoupled + adaptive PDNorm, the PPT config's
norm settings) vs DefaultSegmentor + SpUNet-v1m1 (plain BatchNorm), same widths, same room.

Usage:  python benchmarks/bench_ppt.py [--grid 0.02] [--repeats 5] [--threads 2] [--small]

A train step = forward with labels + backward + SGD step. The two models are timed alternately
(1 warm-up each, then ``--repeats`` rounds) so that machine load hits both alike; prints each median,
the ratio PPT / plain (issue target ≤ 1.1) in wall and in CPU time, and the process's peak RSS.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

FULL = dict(channels=(32, 64, 128, 256, 256, 128, 96, 96), layers=(2, 3, 4, 6, 2, 2, 2, 2), base_channels=32)
SMALL = dict(channels=(16, 32, 64, 64, 64, 32, 32, 32), layers=(1, 1, 1, 1, 1, 1, 1, 1), base_channels=16)


def models(size: dict):
    ce = [dict(type="CrossEntropyLoss", loss_weight=1.0, ignore_index=-1)]
    plain = dict(type="DefaultSegmentor", backbone=dict(type="SpUNet-v1m1", in_channels=6, num_classes=20, **size), criteria=ce)
    ppt = dict(
        type="PPT-v1m2",
        backbone=dict(type="SpUNet-v1m3", in_channels=6, num_classes=0, context_channels=256, zero_init=False,
                      norm_decouple=True, norm_adaptive=True, norm_affine=True, **size),
        criteria=ce, backbone_out_channels=size["channels"][-1], context_channels=256, num_classes=(25, 20, 13),
    )
    return {"plain BN (SpUNet-v1m1)": plain, "PPT PDNorm (SpUNet-v1m3)": ppt}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", type=float, default=0.02)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--small", action="store_true", help="the study's small widths instead of the full-size config")
    args = parser.parse_args()

    import torch

    from bench_spunet import make_scene
    from pointlab.models import build_model

    torch.set_num_threads(args.threads)
    grid, feat, segment = make_scene(grid_size=args.grid)
    base = dict(grid_coord=torch.from_numpy(grid), feat=torch.from_numpy(feat), offset=torch.tensor([len(grid)]),
                segment=torch.from_numpy(segment), condition=["ScanNet"])
    runs = {}
    for name, cfg in models(SMALL if args.small else FULL).items():
        torch.manual_seed(0)
        model = build_model(cfg).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
        runs[name] = (model, opt)

    def step(model, opt) -> tuple[float, float]:
        t, c = time.perf_counter(), time.process_time()
        loss = model(dict(base))["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t, time.process_time() - c

    times = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    for r in range(args.repeats + 1):
        for name, (model, opt) in runs.items():
            dt, dc = step(model, opt)
            if r > 0:  # round 0 is the warm-up
                times[name].append(dt)
                cpu[name].append(dc)
    print(f"{len(grid)} voxels (grid {args.grid} m), {'small' if args.small else 'full-size'} widths, {args.threads} threads, "
          f"{args.repeats} rounds")
    med = {name: statistics.median(ts) for name, ts in times.items()}
    for name, m in med.items():
        print(f"  {name:<28} train step median {m:.3f} s  (all: {', '.join(f'{t:.3f}' for t in times[name])})")
    a, b = med.values()
    ca, cb = (statistics.median(cpu[n]) for n in runs)
    # CPU time (all threads of this process) is less sensitive than wall time to other jobs on a shared machine
    print(f"  CPU-time medians: {ca:.3f} s / {cb:.3f} s")
    print(f"  ratio PPT / plain: wall {b / a:.3f}, CPU {cb / ca:.3f}   peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
