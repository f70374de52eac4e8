"""Sparse convolution speed: pointlab.sparse vs a plain per-offset loop and dense matmul.

One command:  python benchmarks/bench_sparse_conv.py  [--channels 32 64 128 256] [--levels 0 1 2 3]
              [--reps 5] [--threads 2]

Scene: pointlab's synthetic ScanNet-style room voxelised at 0.02 m (default size 3.0×3.0×2.5 m at
5000 pts/m², ≈170k voxels with ≈12 occupied 3×3×3 neighbours each), plus its stride-2/4/8 levels
(coordinates // 2^l). For every level and channel count C (C_in = C_out = C) it reports, as medians:
  - kernel map: building the submanifold map, and its reduction plan for C (both paid once per
    indice_key and shared by every conv of the level and by the backward);
  - SubMConv3d k=3 forward and forward+backward (features and weight grads), ours and the baseline,
    timed interleaved in the same run, with the per-repetition time ratio baseline / ours;
  - achieved GFLOP/s = 2 × pairs × C_in × C_out / time (×3 for forward+backward);
  - dense matmul GFLOP/s of ``[N, C] @ [C, C]`` on this machine (the ceiling);
  - peak memory growth (VmHWM above the RSS before the case, Linux) of our forward+backward.
Baseline = a plain torch loop like spconv's native CPU path: centre offset as one dense matmul, every
other offset ``index_select`` → ``mm`` → ``index_add_`` (backward written by hand the same way).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from pointlab.sparse import SparseConvTensor, SubMConv3d
from pointlab.sparse.functional import _rows_for, weight_to_kio
from pointlab.sparse.kernel_map import build_subm_map


def room_voxels(size, density, seed=0) -> torch.Tensor:
    """Unique voxel coordinates ``[N, 3]`` of a synthetic room at 0.02 m."""
    try:
        from pointlab.data.synth import generate_room

        coord = generate_room(style="scannet", seed=seed, size=size, density=density)["coord"]
    except ImportError:  # fallback: floor and three walls sampled uniformly
        rng = np.random.default_rng(seed)
        w, d, h = size
        parts = []
        for dims, fix in (((w, d), (2, 0.0)), ((w, h), (1, 0.0)), ((w, h), (1, d)), ((d, h), (0, 0.0))):
            n = int(density * dims[0] * dims[1])
            uv = rng.uniform(0, 1, (n, 2)) * dims
            p = np.insert(uv, fix[0], fix[1], axis=1)
            parts.append(p)
        coord = np.concatenate(parts) + rng.normal(0, 0.002, (sum(len(p) for p in parts), 3))
    grid = np.unique(np.floor(coord / 0.02).astype(np.int64), axis=0)
    return torch.from_numpy(grid - grid.min(0))


def make_level(grid: torch.Tensor, level: int) -> SparseConvTensor:
    g = torch.unique(grid // (2**level), dim=0)
    idx = torch.cat([torch.zeros(len(g), 1, dtype=torch.int64), g], 1).int()
    shape = (g.max(0).values + 2).tolist()
    return SparseConvTensor(torch.zeros(len(g), 1), idx, shape, 1)


class _LoopConv(torch.autograd.Function):
    """The baseline: per-offset gather → mm → index_add_, forward and hand-written backward."""

    @staticmethod
    def forward(ctx, x, w, kmap):
        out = x @ w[kmap.center]
        for k, a, b in kmap.segments:
            out.index_add_(0, kmap.out_idx[a:b], x.index_select(0, kmap.in_idx[a:b]) @ w[k])
        ctx.save_for_backward(x, w)
        ctx.kmap = kmap
        return out

    @staticmethod
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        kmap = ctx.kmap
        gx = dy @ w[kmap.center].t()
        gw = torch.zeros_like(w)
        gw[kmap.center] = x.t() @ dy
        for k, a, b in kmap.segments:
            i, o = kmap.in_idx[a:b], kmap.out_idx[a:b]
            gy = dy.index_select(0, o)
            gx.index_add_(0, i, gy @ w[k].t())
            gw[k] += x.index_select(0, i).t() @ gy
        return gx, gw, None


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def rss_mb(field: str) -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def bench_level(x: SparseConvTensor, channels, reps: int, label: str):
    n = x.indices.shape[0]
    # kernel map; its reduction plan (CSR per chunk, chunk size depends on C) is timed per C below
    map_times = []
    for _ in range(reps):
        t = time.perf_counter()
        kmap = build_subm_map(x.indices, x.spatial_shape, x.batch_size, 3)
        map_times.append(time.perf_counter() - t)
    t_map = statistics.median(map_times)
    pairs = kmap.num_pairs
    print(f"\n== {label}: {n} voxels, {pairs} pairs ({pairs / max(n, 1):.1f} per voxel); "
          f"kernel map {t_map * 1e3:.1f} ms (+ plan per C)")
    print(f"{'C':>4} | {'fwd ms':>8} {'loop':>8} {'x':>5} {'GF/s':>6} | {'f+b ms':>8} {'loop':>8} {'x':>5} "
          f"{'GF/s':>6} | {'dense GF/s':>10} | {'plan ms':>7} | {'map+plan/fwd':>12} | {'peak MB':>7}")
    rows = []
    for c in channels:
        torch.manual_seed(0)
        conv = SubMConv3d(c, c, 3, bias=False, indice_key="bench")
        feats = torch.randn(n, c)
        xt = x.replace_feature(feats)
        xt.indice_dict = {"bench": kmap}
        w_kio = weight_to_kio(conv.weight.detach()).requires_grad_(True)

        def ours_fwd():
            with torch.no_grad():
                conv(xt)

        def loop_fwd():
            with torch.no_grad():
                _LoopConv.apply(feats, w_kio, kmap)

        fr = feats.clone().requires_grad_(True)
        xr = xt.replace_feature(fr)

        def ours_fb():
            conv(xr).features.sum().backward()
            fr.grad = None
            conv.weight.grad = None

        def loop_fb():
            _LoopConv.apply(fr, w_kio, kmap).sum().backward()
            fr.grad = None
            w_kio.grad = None

        plan_times = []
        for _ in range(reps):
            kmap._plans.clear()
            plan_times.append(timed(lambda: kmap.plan(False, _rows_for(c, torch.float32))))
        t_plan = statistics.median(plan_times)
        ours_fwd(), loop_fwd(), ours_fb(), loop_fb()  # warm-up (plans, allocator)
        res = {"of": [], "lf": [], "ob": [], "lb": []}
        for r in range(reps):  # interleaved, alternating who goes first
            pairs_of_fns = [("of", ours_fwd), ("lf", loop_fwd), ("ob", ours_fb), ("lb", loop_fb)]
            if r % 2:
                pairs_of_fns = [pairs_of_fns[1], pairs_of_fns[0], pairs_of_fns[3], pairs_of_fns[2]]
            for key, fn in pairs_of_fns:
                res[key].append(timed(fn))
        base = rss_mb("VmRSS")
        reset_peak()
        ours_fb()
        peak = rss_mb("VmHWM") - base
        a = torch.randn(n, c)
        b = torch.randn(c, c)
        t_dense = statistics.median(timed(lambda: a @ b) for _ in range(max(reps, 3)))
        med = {k: statistics.median(v) for k, v in res.items()}
        ratio_f = statistics.median(l / o for l, o in zip(res["lf"], res["of"]))
        ratio_b = statistics.median(l / o for l, o in zip(res["lb"], res["ob"]))
        flops = 2 * pairs * c * c
        row = dict(level=label, C=c, fwd=med["of"], loop_fwd=med["lf"], ratio_fwd=ratio_f, fb=med["ob"],
                   loop_fb=med["lb"], ratio_fb=ratio_b, gflops_fwd=flops / med["of"] / 1e9,
                   gflops_fb=3 * flops / med["ob"] / 1e9, dense_gflops=2 * n * c * c / t_dense / 1e9,
                   plan=t_plan, map_over_fwd=(t_map + t_plan) / med["of"], peak_mb=peak)
        rows.append(row)
        print(f"{c:>4} | {row['fwd'] * 1e3:8.1f} {row['loop_fwd'] * 1e3:8.1f} {ratio_f:5.2f} {row['gflops_fwd']:6.1f} | "
              f"{row['fb'] * 1e3:8.1f} {row['loop_fb'] * 1e3:8.1f} {ratio_b:5.2f} {row['gflops_fb']:6.1f} | "
              f"{row['dense_gflops']:10.1f} | {t_plan * 1e3:7.1f} | {row['map_over_fwd']:12.2f} | {peak:7.0f}")
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--channels", type=int, nargs="+", default=[32, 64, 128, 256])
    p.add_argument("--levels", type=int, nargs="+", default=[0, 1, 2, 3], help="0 = full, l = stride 2^l")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--size", type=float, nargs=3, default=[3.0, 3.0, 2.5], help="room W D H in metres")
    p.add_argument("--density", type=float, default=5000.0, help="surface points per m²")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    grid = room_voxels(tuple(args.size), args.density)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; room {args.size} m at 0.02 m; "
          f"times are medians of {args.reps}; 'x' = baseline time / ours (per-rep median)")
    all_rows = []
    for level in args.levels:
        all_rows += bench_level(make_level(grid, level), args.channels, args.reps,
                                "full" if level == 0 else f"stride {2 ** level}")
    full = [r for r in all_rows if r["level"] == "full"]
    if full:
        print("\nTargets on the full level:")
        for r in full:
            goal = (f"speed-up vs loop fwd {r['ratio_fwd']:.2f}x / f+b {r['ratio_fb']:.2f}x (target >= 1.5x)"
                    if r["C"] <= 64 else
                    f"{r['gflops_fwd'] / r['dense_gflops'] * 100:.0f}% of dense matmul (target >= 60%)")
            print(f"  C={r['C']}: {goal}")
        r32 = [r for r in full if r["C"] == 32]
        if r32:
            print(f"  kernel map + plan / 32-ch forward: {r32[0]['map_over_fwd'] * 100:.0f}% (target <= 20%)")
    print(f"peak RSS of the process: {rss_mb('VmPeak'):.0f} MB virtual, "
          f"{__import__('resource').getrusage(__import__('resource').RUSAGE_SELF).ru_maxrss / 1024:.0f} MB resident")
    return 0


if __name__ == "__main__":
    sys.exit(main())
