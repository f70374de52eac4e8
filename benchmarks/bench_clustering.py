"""PointGroup clustering (ball query + BFS grouping) on 100k synthetic points, CPU.

    python benchmarks/bench_clustering.py [--points 100000] [--repeats 5]

Two workloads of shifted centres (voxel units, ball radius 1.5, min 50 points):
  surface    points on object/room surfaces at one point per 2 cm voxel, offsets ~ 0 (an untrained
             bias head): ~8 neighbours per point, many small components;
  collapsed  every point moved to its instance centre with Gaussian noise (sigma 3 voxels = 6 cm), as
             after training: dense blobs, hundreds of neighbours per point.
Prints the median wall time per call (after one warm-up), the median CPU time of this process (the
work is single-threaded, so on a machine shared with other jobs the CPU time is the figure to compare),
pair counts and the peak RSS increase.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np

from pointlab.models.pointgroup.clustering import cluster_points, neighbour_pairs


def surface_scene(n: int, rng: np.random.Generator):
    """Boxes' surfaces sampled on a 1-voxel lattice (in voxel units), 12 classes, one sample."""
    pts, labels = [], []
    while sum(len(p) for p in pts) < n:
        size = rng.uniform(10, 60, 3)
        corner = rng.uniform(0, 400, 3) * np.array([1, 1, 0.25])
        faces = []
        for axis in range(3):
            u, v = [a for a in range(3) if a != axis]
            gu, gv = np.meshgrid(np.arange(0, size[u]), np.arange(0, size[v]), indexing="ij")
            for side in (0.0, size[axis]):
                f = np.zeros((gu.size, 3))
                f[:, u], f[:, v], f[:, axis] = gu.ravel(), gv.ravel(), side
                faces.append(f)
        box = np.concatenate(faces) + corner
        pts.append(box)
        labels.append(np.full(len(box), rng.integers(2, 14)))
    pts = np.concatenate(pts)[:n] + rng.normal(0, 0.1, (n, 3))
    return pts.astype(np.float32), np.concatenate(labels)[:n]


def collapsed_scene(n: int, rng: np.random.Generator, sigma: float = 3.0):
    """Instances of 200..4000 points, each a Gaussian blob around its centre, 12 classes."""
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(200, 4000)))
    sizes[-1] -= sum(sizes) - n
    centres = rng.uniform(0, 400, (len(sizes), 3)) * np.array([1, 1, 0.25])
    pts = np.concatenate([c + rng.normal(0, sigma, (s, 3)) for c, s in zip(centres, sizes)])
    labels = np.concatenate([np.full(s, rng.integers(2, 14)) for s in sizes])
    perm = rng.permutation(n)  # points of an instance are not contiguous in real data
    return pts[perm].astype(np.float32), labels[perm]


def bench(name, centers, labels, repeats):
    offsets = np.array([0, len(centers)])
    cluster_points(centers, labels, offsets, 1.5, 50)  # warm-up
    times, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        clusters = cluster_points(centers, labels, offsets, 1.5, 50)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    i, _ = neighbour_pairs(centers, offsets, 1.5)
    print(f"{name:10s} N={len(centers):7d}  pairs={len(i):9d}  clusters={len(clusters):5d}  "
          f"median {statistics.median(times) * 1e3:8.1f} ms  (min {min(times) * 1e3:.1f}, max {max(times) * 1e3:.1f}); "
          f"CPU time median {statistics.median(cpu) * 1e3:.1f} ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    bench("surface", *surface_scene(args.points, rng), args.repeats)
    bench("collapsed", *collapsed_scene(args.points, rng), args.repeats)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS {rss1 / 1024:.0f} MiB (+{(rss1 - rss0) / 1024:.0f} MiB during the runs)")


if __name__ == "__main__":
    main()
