"""PointGroup clustering without a compiled extension (Pointcept ``libs/pointgroup_ops``).

The reference runs two ops on the shifted centres of the foreground points:

``ballquery_batch_p``  for every point i, the points k of the same sample, scanned in index order,
                       with the float32 value ``(dx²+dy²)+dz² < radius²`` (strict; i itself is one of
                       them), keeping at most the first 1000 in index order.
``bfs_cluster``        seeds i = 0..M-1 in order (visited ones skipped); FIFO breadth-first search
                       along the popped point's neighbour list to unvisited neighbours of the same
                       label, marking points visited when enqueued; components with ≥ min_points
                       points are kept; cluster ids in discovery order.

Here the neighbour pairs come from ``scipy.spatial.cKDTree.query_pairs`` (a slightly larger float64
radius, then the exact float32 test), and the grouping is vectorised:

* Without the 1000 cap the neighbour relation is symmetric, so the BFS from a seed reaches exactly
  the connected component of same-label edges that contains it, and the seed is the component's
  smallest index (any earlier point of it would have reached it). ``scipy.sparse.csgraph``'s
  connected components give every cluster at once.
* A point with more than 1000 neighbours keeps only the first 1000, which makes the relation
  directed and the result order-dependent. Only the components that contain such a point are
  replayed exactly: seeds in index order, level-synchronous BFS (the set a FIFO BFS reaches is the
  set a level-wise search reaches), vectorised per level.

Runs on the CPU (as the reference's ``bfs_cluster``); tensors on another device are copied over.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

__all__ = ["MAX_NEIGHBOURS", "neighbour_pairs", "ball_query", "bfs_cluster", "cluster_points"]

# ``idx_temp[1000]`` in the reference's ball query: neighbours kept per point, in index order.
MAX_NEIGHBOURS = 1000


def _check_inputs(centers: np.ndarray, batch_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centers = np.ascontiguousarray(centers, dtype=np.float32)
    if centers.ndim != 2 or centers.shape[1] != 3:
        raise ValueError(f"clustering: centers must be [M, 3] float, got shape {centers.shape}")
    batch_offsets = np.asarray(batch_offsets, dtype=np.int64).reshape(-1)
    m = centers.shape[0]
    if batch_offsets.size < 2 or batch_offsets[0] != 0 or batch_offsets[-1] != m or np.any(np.diff(batch_offsets) < 0):
        raise ValueError(
            f"clustering: batch_offsets must be [B+1] non-decreasing from 0 to M={m} (e.g. [0, m0, M]), got {batch_offsets.tolist()[:10]}"
        )
    if not np.all(np.isfinite(centers)):
        raise ValueError("clustering: centers hold NaN or inf (the offset prediction diverged; check the loss and learning rate)")
    return centers, batch_offsets


def neighbour_pairs(centers: np.ndarray, batch_offsets: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """All pairs (i < j) of the same sample with float32 ``(dx²+dy²)+dz² < radius²``.

    Args:
        centers: [M, 3] float32 points (for PointGroup: shifted centres in voxel units).
        batch_offsets: [B+1] int, sample b is ``batch_offsets[b]:batch_offsets[b+1]``.
        radius: ball radius (strict).
    Returns:
        (i, j): int64 arrays [E], i < j, in no particular order.
    """
    centers, batch_offsets = _check_inputs(centers, batch_offsets)
    r2 = np.float32(radius) * np.float32(radius)
    # float64 search radius a little larger than the float32 threshold; the exact test follows
    search = float(radius) * (1.0 + 1e-5) + 1e-7
    out_i, out_j = [], []
    for b in range(batch_offsets.size - 1):
        s, e = int(batch_offsets[b]), int(batch_offsets[b + 1])
        if e - s < 2:
            continue
        pts = centers[s:e]
        pairs = cKDTree(pts.astype(np.float64)).query_pairs(search, output_type="ndarray")
        if pairs.size == 0:
            continue
        i, j = np.ascontiguousarray(pairs[:, 0]), np.ascontiguousarray(pairs[:, 1])
        d2 = np.zeros(i.size, np.float32)
        for axis in range(3):  # column by column: contiguous gathers, float32 as the reference
            col = np.ascontiguousarray(pts[:, axis])
            d = col[i] - col[j]
            d2 += d * d  # (dx² + dy²) + dz², in this order
        keep = d2 < r2
        out_i.append(i[keep].astype(np.int64, copy=False) + s)
        out_j.append(j[keep].astype(np.int64, copy=False) + s)
    if not out_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(out_i), np.concatenate(out_j)


def _directed_lists(i: np.ndarray, j: np.ndarray, m: int, rows: np.ndarray | None, max_neighbours: int):
    """CSR (indptr, indices) of the ball-query lists (self included, index order, capped) of the
    points in ``rows`` (bool [M]; None = all); other rows are empty."""
    src = np.concatenate([i, j, np.arange(m, dtype=np.int64)])
    dst = np.concatenate([j, i, np.arange(m, dtype=np.int64)])
    if rows is not None:
        keep = rows[src]
        src, dst = src[keep], dst[keep]
    order = np.argsort(src * m + dst)  # one int64 key: faster than a two-key lexsort
    src, dst = src[order], dst[order]
    counts = np.bincount(src, minlength=m)
    indptr = np.zeros(m + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    rank = np.arange(src.size, dtype=np.int64) - indptr[src]
    keep = rank < max_neighbours
    src, dst = src[keep], dst[keep]
    counts = np.bincount(src, minlength=m)
    indptr[1:] = np.cumsum(counts)
    return indptr, dst


def ball_query(centers: np.ndarray, batch_offsets: np.ndarray, radius: float, max_neighbours: int = MAX_NEIGHBOURS):
    """The reference's ``ballquery_batch_p`` output layout.

    Returns:
        idx: int64 [nActive] neighbour indices, the lists of points 0..M-1 one after another, each
            in index order (self included), at most ``max_neighbours`` long;
        start_len: int64 [M, 2] ``[start, count]`` of each point's list in ``idx`` (exclusive prefix
            sum; the CUDA op assigns starts by atomicAdd, the lists themselves are the same).
    """
    centers, batch_offsets = _check_inputs(centers, batch_offsets)
    m = centers.shape[0]
    i, j = neighbour_pairs(centers, batch_offsets, radius)
    indptr, idx = _directed_lists(i, j, m, None, max_neighbours)
    return idx, np.stack([indptr[:-1], np.diff(indptr)], axis=1)


def bfs_cluster(labels: np.ndarray, idx: np.ndarray, start_len: np.ndarray, min_points: int) -> list[np.ndarray]:
    """Breadth-first grouping over given neighbour lists (the reference's ``bfs_cluster``).

    Args:
        labels: [M] int class of each point.
        idx, start_len: neighbour lists as :func:`ball_query` returns them.
        min_points: keep components with at least this many points.
    Returns:
        clusters in discovery order, each an int64 array of point indices (ascending).
    """
    labels = np.asarray(labels).reshape(-1)
    start_len = np.asarray(start_len, dtype=np.int64).reshape(-1, 2)
    m = labels.size
    indptr = np.zeros(m + 1, np.int64)
    # rebuild a CSR in point order (start_len may come in any layout)
    counts = start_len[:, 1]
    np.cumsum(counts, out=indptr[1:])
    gather = np.repeat(start_len[:, 0] - indptr[:-1], counts) + np.arange(indptr[-1], dtype=np.int64)
    indices = np.asarray(idx, dtype=np.int64)[gather]
    return _replay(indptr, indices, labels, np.arange(m, dtype=np.int64), np.zeros(m, bool), min_points)[1]


def _replay(indptr, indices, labels, seeds, visited, min_points):
    """Sequential seeds, level-synchronous BFS over same-label neighbours. Returns (seeds, clusters)."""
    out_seeds, out = [], []
    for s in seeds.tolist():
        if visited[s]:
            continue
        visited[s] = True
        lab = labels[s]
        members = [np.array([s], np.int64)]
        frontier = members[0]
        while frontier.size:
            starts, ends = indptr[frontier], indptr[frontier + 1]
            counts = ends - starts
            total = int(counts.sum())
            if total == 0:
                break
            pos = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(total, dtype=np.int64)
            nb = indices[pos]
            nb = nb[(labels[nb] == lab) & ~visited[nb]]
            nb = np.unique(nb)
            visited[nb] = True
            if nb.size:
                members.append(nb)
            frontier = nb
        if sum(a.size for a in members) >= min_points:
            out_seeds.append(s)
            out.append(np.sort(np.concatenate(members)))
    return out_seeds, out


def cluster_points(
    centers: np.ndarray,
    labels: np.ndarray,
    batch_offsets: np.ndarray,
    radius: float,
    min_points: int,
    max_neighbours: int = MAX_NEIGHBOURS,
) -> list[np.ndarray]:
    """Ball query + BFS grouping with the reference's semantics, vectorised.

    Args:
        centers: [M, 3] float32 (PointGroup: ``(coord + bias_pred) / voxel_size`` of the candidates).
        labels: [M] int predicted class; only same-label neighbours join a cluster.
        batch_offsets: [B+1] int sample bounds (``[0, m0, ..., M]``).
        radius: ``cluster_thresh`` (strict ``<`` on the squared float32 distance).
        min_points: ``cluster_min_points``; smaller components are dropped (their points stay visited).
        max_neighbours: ball-query cap per point (1000 in the reference).
    Returns:
        clusters in the reference's discovery order, each an int64 array of candidate indices
        (ascending; the first element is the cluster's seed).
    """
    centers, batch_offsets = _check_inputs(centers, batch_offsets)
    labels = np.asarray(labels).reshape(-1)
    m = centers.shape[0]
    if labels.size != m:
        raise ValueError(f"cluster_points: {labels.size} labels for {m} centers")
    if m == 0:
        return []
    i, j = neighbour_pairs(centers, batch_offsets, radius)
    # ball-query list length (self included) decides where the cap bites
    degree = np.bincount(i, minlength=m) + np.bincount(j, minlength=m) + 1
    capped = degree > max_neighbours
    same = labels[i] == labels[j]
    si, sj = i[same], j[same]
    graph = csr_matrix((np.ones(si.size, np.int8), (si, sj)), shape=(m, m))
    n_comp, comp = connected_components(graph, directed=False)  # i<j pairs read as undirected edges

    exact_comp = np.zeros(n_comp, bool)
    exact_comp[comp[capped]] = True
    seeds, clusters = [], []
    # symmetric components: one cluster each, seeded by their smallest index
    free = ~exact_comp[comp]
    if free.any():
        idx_free = np.nonzero(free)[0]
        c = comp[idx_free]
        order = np.argsort(c, kind="stable")  # grouped by component, ascending index inside
        c_sorted, members = c[order], idx_free[order]
        bounds = np.flatnonzero(np.diff(c_sorted)) + 1
        starts = np.concatenate([[0], bounds])
        sizes = np.diff(np.concatenate([starts, [c_sorted.size]]))
        for s0, n in zip(starts[sizes >= min_points].tolist(), sizes[sizes >= min_points].tolist()):
            seeds.append(int(members[s0]))
            clusters.append(members[s0 : s0 + n])
    # components with a capped list: replay the directed BFS exactly
    if exact_comp.any():
        rows = exact_comp[comp]
        indptr, indices = _directed_lists(i, j, m, rows, max_neighbours)
        visited = ~rows
        s_exact, c_exact = _replay(indptr, indices, labels, np.nonzero(rows)[0], visited, min_points)
        seeds += s_exact
        clusters += c_exact
    order = np.argsort(np.asarray(seeds, np.int64), kind="stable")
    return [clusters[k] for k in order.tolist()]
