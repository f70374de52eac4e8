"""Kernel maps ("rulebooks"): which input voxel feeds which output voxel through which kernel offset.

Voxels are identified by packed int64 keys ``((b*X + x)*Y + y)*Z + z``. Neighbour look-up is a sort of
the keys plus one batched ``searchsorted``. Kernel offsets are numbered like spconv's weight
``[C_out, kx, ky, kz, C_in]``: flat index ``k = (i*ky + j)*kz + l`` over the kernel axes (x, y, z).

A map stores the pairs of all non-identity offsets concatenated in segments ``(k, start, stop)``:
``out[out_idx[p]] += W_k @ x[in_idx[p]]`` for ``start <= p < stop``. For submanifold convs the identity (centre) offset is not
stored: it is a dense matmul over all rows. Reductions over outputs go through cached CSR matrices
(one per chunk of pairs), which are row-wise (output-stationary) and therefore deterministic.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

__all__ = ["KernelMap", "Chunk", "pack_keys", "build_subm_map", "build_conv_map", "kernel_offsets"]

_MAX_KEY = 1 << 62
_TABLE_PER_VOXEL = 64  # dense look-up table when the occupied box has <= 64 cells per voxel
_TABLE_MIN = 1 << 16


def _flat_nonzero(mask: torch.Tensor) -> torch.Tensor:
    """Positions (int64) of the True entries of a contiguous bool tensor, in flat order.

    On CPU numpy's ``flatnonzero`` is used: measured 2.5-5x faster than ``torch.nonzero`` on the
    millions of look-up results of a full-resolution map (torch's CPU nonzero is single-threaded and
    two-pass). Same result, same order.
    """
    if mask.device.type == "cpu":
        return torch.from_numpy(np.flatnonzero(mask.numpy()))
    return torch.nonzero(mask.reshape(-1)).view(-1)


def _triple(v, name: str) -> Tuple[int, int, int]:
    if isinstance(v, int):
        return (v, v, v)
    v = tuple(int(x) for x in v)
    if len(v) != 3:
        raise ValueError(f"{name} must be an int or 3 ints, got {v}")
    return v


def pack_keys(indices: torch.Tensor, spatial_shape: Sequence[int]) -> torch.Tensor:
    """Packed int64 key of each ``(batch, x, y, z)`` row of ``indices`` ``[N, 4]`` -> ``[N]``."""
    sx, sy, sz = (int(s) for s in spatial_shape)
    idx = indices.long()
    return ((idx[:, 0] * sx + idx[:, 1]) * sy + idx[:, 2]) * sz + idx[:, 3]


def _unpack_keys(keys: torch.Tensor, spatial_shape: Sequence[int]) -> torch.Tensor:
    sx, sy, sz = (int(s) for s in spatial_shape)
    z = keys % sz
    rest = keys // sz
    y = rest % sy
    rest = rest // sy
    x = rest % sx
    b = rest // sx
    return torch.stack([b, x, y, z], dim=1)


def kernel_offsets(kernel_size: Sequence[int], device=None) -> torch.Tensor:
    """All kernel positions ``[K, 3]`` (int64) in spconv's flat order (x slowest, z fastest)."""
    grid = itertools.product(*(range(k) for k in kernel_size))
    return torch.tensor(list(grid), dtype=torch.int64, device=device).reshape(-1, 3)


def _check_indices(indices: torch.Tensor, spatial_shape: Sequence[int], batch_size: int):
    """Boundary check: packing is only collision-free when every voxel lies inside the grid.

    Returns the per-column ``(min, max)`` of ``indices`` ([4] int64 each; None for no voxels).
    """
    if indices.shape[0] == 0:
        return None
    lo_t, hi_t = torch.aminmax(indices.long(), dim=0)
    lo, hi = lo_t.tolist(), hi_t.tolist()
    shape = [int(batch_size)] + [int(s) for s in spatial_shape]
    if min(lo) < 0 or any(h >= s for h, s in zip(hi, shape)):
        raise ValueError(
            f"SparseConvTensor indices out of range: per-column (batch, x, y, z) min {lo}, max {hi}, "
            f"but batch_size={batch_size} and spatial_shape={list(spatial_shape)}; enlarge spatial_shape "
            "(Pointcept uses max(grid_coord) + 96) or fix batch_size"
        )
    volume = 1
    for s in shape:
        volume *= s
    if volume >= _MAX_KEY:
        raise ValueError(
            f"batch_size * prod(spatial_shape) = {volume} does not fit a 62-bit voxel key; "
            "reduce spatial_shape (it only needs to exceed the largest coordinate)"
        )
    return lo, hi


@dataclass
class Chunk:
    """A contiguous range ``[a, b)`` of pairs, its pieces ``(k, start, stop)`` relative to ``a``, and
    the CSR structure reducing the range's rows into the target rows (sorted by target, stable)."""

    a: int
    b: int
    pieces: List[Tuple[int, int, int]]
    crow: torch.Tensor
    col: torch.Tensor
    n_target: int
    _csr: Dict[Tuple[torch.dtype, torch.device], torch.Tensor] = field(default_factory=dict)

    def csr(self, dtype: torch.dtype) -> torch.Tensor:
        key = (dtype, self.crow.device)
        m = self._csr.get(key)
        if m is None:
            ones = torch.ones(self.b - self.a, dtype=dtype, device=self.crow.device)
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore")
                m = torch.sparse_csr_tensor(
                    self.crow, self.col, ones, size=(self.n_target, self.b - self.a), check_invariants=False
                )
            self._csr[key] = m
        return m


@dataclass
class KernelMap:
    """Index pairs of one sparse convolution, shared by every layer with the same ``indice_key``.

    Attributes:
        kind: ``"subm"``, ``"conv"`` (strided/regular) or ``"inverse"``.
        kernel_size, stride, padding, dilation: 3-tuples the map was built for.
        n_in, n_out: number of input / output voxels.
        in_idx, out_idx: ``[P]`` int64 pair rows, grouped by kernel offset.
        segments: ``(k, start, stop)`` python ints: offset ``k`` owns pairs ``start:stop`` (any order).
        center: flat index of the identity offset handled densely (submanifold, odd kernel) or None.
        in_indices / out_indices: ``[n, 4]`` voxel indices of both sides; in/out spatial shapes.
    """

    kind: str
    kernel_size: Tuple[int, int, int]
    stride: Tuple[int, int, int]
    padding: Tuple[int, int, int]
    dilation: Tuple[int, int, int]
    n_in: int
    n_out: int
    in_idx: torch.Tensor
    out_idx: torch.Tensor
    segments: List[Tuple[int, int, int]]
    center: Optional[int]
    in_indices: torch.Tensor
    out_indices: torch.Tensor
    in_spatial_shape: List[int]
    out_spatial_shape: List[int]
    _plans: Dict[Tuple[bool, int], List[Chunk]] = field(default_factory=dict, repr=False)
    _inverse: Optional["KernelMap"] = field(default=None, repr=False)

    @property
    def kernel_volume(self) -> int:
        return self.kernel_size[0] * self.kernel_size[1] * self.kernel_size[2]

    @property
    def num_pairs(self) -> int:
        """Input/output pairs including the dense identity offset of submanifold maps."""
        return self.in_idx.numel() + (self.n_in if self.center is not None else 0)

    def plan(self, transpose: bool, rows: int) -> List[Chunk]:
        """Chunks of at most ``rows`` pairs reducing into outputs (or into inputs if ``transpose``)."""
        key = (transpose, rows)
        chunks = self._plans.get(key)
        if chunks is None:
            chunks = self._make_plan(transpose, rows)
            self._plans[key] = chunks
        return chunks

    def _make_plan(self, transpose: bool, rows: int) -> List[Chunk]:
        target = self.in_idx if transpose else self.out_idx
        n_target = self.n_in if transpose else self.n_out
        total = target.numel()
        chunks = []
        for a in range(0, total, rows):
            b = min(a + rows, total)
            pieces = []
            for k, start, stop in self.segments:
                s0, s1 = max(start, a), min(stop, b)
                if s1 > s0:
                    pieces.append((k, s0 - a, s1 - a))
            t = target[a:b]
            counts = torch.bincount(t, minlength=n_target)
            crow = torch.zeros(n_target + 1, dtype=torch.int64, device=t.device)
            torch.cumsum(counts, 0, out=crow[1:])
            # Counting sort by target (a stable argsort, without sorting): a target normally occurs
            # at most once per kernel offset, so each piece fills the next free slot of its rows.
            col = torch.empty(b - a, dtype=torch.int64, device=t.device)
            fill = crow[:-1].clone()
            for _, s0, s1 in pieces:
                tt = t[s0:s1]
                slot = fill.index_select(0, tt)
                col.index_copy_(0, slot, torch.arange(s0, s1, device=t.device))
                fill.index_copy_(0, tt, slot + 1)
            if not torch.equal(fill, crow[1:]):
                # Duplicate voxels (e.g. scenes merged by collate mixing keep their own grids) put a
                # target twice into one offset; the slots collided, so sort for real (same order).
                col = torch.argsort(t, stable=True)
            chunks.append(Chunk(a, b, pieces, crow, col, n_target))
        return chunks

    def inverse(self) -> "KernelMap":
        """The map of the matching inverse conv: same pairs and offsets with the roles swapped."""
        if self.kind != "conv":
            raise ValueError(f"only a strided/regular conv map can be inverted, this one is '{self.kind}'")
        if self._inverse is None:
            self._inverse = KernelMap(
                kind="inverse",
                kernel_size=self.kernel_size,
                stride=self.stride,
                padding=self.padding,
                dilation=self.dilation,
                n_in=self.n_out,
                n_out=self.n_in,
                in_idx=self.out_idx,
                out_idx=self.in_idx,
                segments=self.segments,
                center=None,
                in_indices=self.out_indices,
                out_indices=self.in_indices,
                in_spatial_shape=self.out_spatial_shape,
                out_spatial_shape=self.in_spatial_shape,
            )
        return self._inverse

    def describe(self) -> str:
        return (
            f"{self.kind} map kernel_size={list(self.kernel_size)} stride={list(self.stride)} "
            f"dilation={list(self.dilation)} n_in={self.n_in} n_out={self.n_out}"
        )


def build_subm_map(
    indices: torch.Tensor,
    spatial_shape: Sequence[int],
    batch_size: int,
    kernel_size,
    dilation=1,
) -> KernelMap:
    """Submanifold map: ``out[p] = Σ_k W_k x[p + (κ_k - k//2)·dilation]`` over active neighbours.

    Output set and order = input set and order. For odd kernels the offsets are symmetric, so only
    half of them are searched and each hit gives the pair of the mirrored offset too.
    """
    ks = _triple(kernel_size, "kernel_size")
    dil = _triple(dilation, "dilation")
    bounds = _check_indices(indices, spatial_shape, batch_size)
    device = indices.device
    n = indices.shape[0]
    kvol = ks[0] * ks[1] * ks[2]
    radius = torch.tensor([k // 2 for k in ks])
    deltas = ((kernel_offsets(ks) - radius) * torch.tensor(dil)).tolist()
    symmetric = all(k % 2 == 1 for k in ks)
    center = kvol // 2 if symmetric else None
    search = list(range(kvol // 2)) if symmetric else list(range(kvol))

    # Pack with a margin of the kernel reach on every side: then key(p + d) = key(p) + key_delta(d)
    # never wraps onto another voxel, and neighbours outside the occupied box are simply not found.
    margin = [max(abs(d[a]) for d in deltas) for a in range(3)]
    lo, hi = bounds if bounds is not None else ([0] * 4, [0] * 4)
    dims = [hi[a + 1] - lo[a + 1] + 1 + 2 * margin[a] for a in range(3)]
    nb = hi[0] + 1
    volume = nb * dims[0] * dims[1] * dims[2]
    if volume >= _MAX_KEY:
        raise ValueError(f"{nb} batches x grid {dims} does not fit a 62-bit voxel key")
    # key = ((b*X + x')*Y + y')*Z + z' with x' = x - lo + margin: one fused affine form per column
    strides = [dims[0] * dims[1] * dims[2], dims[1] * dims[2], dims[2], 1]
    const = sum((margin[a] - lo[a + 1]) * strides[a + 1] for a in range(3))
    idx = indices.long()
    keys = idx[:, 3] + const
    for col in range(3):
        keys.add_(idx[:, col], alpha=strides[col])
    key_dtype = torch.int32 if volume < (1 << 31) else torch.int64  # int32: half the memory traffic
    keys = keys.to(key_dtype)
    key_delta = torch.tensor(
        [(d[0] * dims[1] + d[1]) * dims[2] + d[2] for d in (deltas[j] for j in search)], dtype=key_dtype, device=device
    )  # [H]
    n_search = len(search)

    if volume <= max(_TABLE_PER_VOXEL * n, _TABLE_MIN) and n < (1 << 31):
        # Dense grid of row numbers (int32): O(1) look-ups, no sort; pairs in input order.
        table = torch.full((volume,), -1, dtype=torch.int32, device=device)
        table.index_copy_(0, keys.long(), torch.arange(n, dtype=torch.int32, device=device))
        queries = keys[None, :] + key_delta[:, None]  # [H, N]
        hit = table.index_select(0, queries.view(-1))
        del queries
        found = hit >= 0
        # One flat nonzero, then plain gathers: measured ~1.5x faster than a 2-D nonzero + masked_select.
        flat = _flat_nonzero(found)
        # hits per offset from the sorted flat positions (a row sum would first widen the mask to int64)
        bounds = torch.searchsorted(flat, torch.arange(n_search + 1, device=device) * n)
        counts = (bounds[1:] - bounds[:-1]).tolist()
        half = flat.numel()
        q_rows = hit.index_select(0, flat)  # int32: the neighbour p + d of each hit
        p_rows = flat  # becomes the searching voxel p: flat = h * n + p, block h by block h
        start = 0
        for j, c in enumerate(counts):
            if c and j:
                p_rows[start : start + c].sub_(j * n)
            start += c
    else:
        # Sparse grids: sort + binary search. Queries in sorted-key order stay sorted per offset
        # (cache-friendly searches) and pairs come out in key order.
        sorted_keys, order = torch.sort(keys.long())
        queries = sorted_keys[None, :] + key_delta.long()[:, None]  # [H, N]
        pos = torch.searchsorted(sorted_keys, queries)
        pos.clamp_(max=max(n - 1, 0))
        found = sorted_keys[pos] == queries if n > 0 else torch.zeros_like(queries, dtype=torch.bool)
        flat = _flat_nonzero(found)
        h = flat // max(n, 1)
        i = flat - h * n
        p_rows = order[i]  # output voxel of offset search[h]
        q_rows = order.index_select(0, pos.masked_select(found))  # its neighbour p + d
        half = p_rows.numel()
        counts = torch.bincount(h, minlength=n_search).tolist()

    segments, start = [], 0
    for j, c in enumerate(counts):
        if c:
            segments.append((search[j], start, start + c))  # out[p] += W_k x[p + d_k]
        start += c
    if symmetric:
        start = 0
        for j, c in enumerate(counts):
            if c:  # the same pairs swapped: out[q] += W_{K-1-k} x[q - d_k]
                segments.append((kvol - 1 - search[j], half + start, half + start + c))
            start += c
        # in = [q, p] and out = [p, q] are two overlapping views of one [q, p, q] buffer (read-only)
        qpq = torch.empty(3 * half, dtype=torch.int64, device=device)
        qpq[:half].copy_(q_rows)
        qpq[half : 2 * half].copy_(p_rows)
        qpq[2 * half :].copy_(qpq[:half])
        in_idx, out_idx = qpq[: 2 * half], qpq[half:]
    else:
        in_idx, out_idx = q_rows.long(), p_rows
    shape_list = [int(s) for s in spatial_shape]
    return KernelMap(
        kind="subm",
        kernel_size=ks,
        stride=(1, 1, 1),
        padding=(0, 0, 0),
        dilation=dil,
        n_in=n,
        n_out=n,
        in_idx=in_idx,
        out_idx=out_idx,
        segments=segments,
        center=center,
        in_indices=indices,
        out_indices=indices,
        in_spatial_shape=shape_list,
        out_spatial_shape=shape_list,
    )


def conv_output_shape(spatial_shape, kernel_size, stride, padding, dilation) -> List[int]:
    return [
        (s + 2 * p - d * (k - 1) - 1) // st + 1
        for s, k, st, p, d in zip(spatial_shape, kernel_size, stride, padding, dilation)
    ]


def build_conv_map(
    indices: torch.Tensor,
    spatial_shape: Sequence[int],
    batch_size: int,
    kernel_size,
    stride=1,
    padding=0,
    dilation=1,
) -> KernelMap:
    """Regular (strided) conv map: input ``p`` feeds output ``o`` through offset ``κ`` when
    ``o·stride = p + padding − κ·dilation`` (per axis), like dense ``conv3d``.

    Output voxels are numbered in order of first appearance when scanning inputs in their order and,
    per input, offsets in flat order — the order of spconv's CPU rulebook (a hash table filled in that
    scan). For stride = kernel (the U-Nets) this is the order of first appearance of ``p // stride``.
    """
    ks = _triple(kernel_size, "kernel_size")
    st = _triple(stride, "stride")
    pad = _triple(padding, "padding")
    dil = _triple(dilation, "dilation")
    _check_indices(indices, spatial_shape, batch_size)
    out_shape = conv_output_shape(spatial_shape, ks, st, pad, dil)
    if min(out_shape) <= 0:
        raise ValueError(
            f"conv with kernel_size={ks}, stride={st}, padding={pad}, dilation={dil} on spatial_shape "
            f"{list(spatial_shape)} has an empty output grid {out_shape}"
        )
    device = indices.device
    idx = indices.long()
    n = idx.shape[0]
    kvol = ks[0] * ks[1] * ks[2]
    out_shape_t = torch.tensor(out_shape, device=device)
    st_t = torch.tensor(st, device=device)
    if ks == st and pad == (0, 0, 0) and dil == (1, 1, 1):
        # Stride = kernel (the U-Nets): every input has exactly one offset, p % s, into p // s.
        o = torch.div(idx[:, 1:], st_t, rounding_mode="floor")
        kap = idx[:, 1:] - o * st_t
        k_all = (kap[:, 0] * ks[1] + kap[:, 1]) * ks[2] + kap[:, 2]
        inside = (o < out_shape_t).all(-1)  # dense conv drops a trailing partial window
        if bool(inside.all()):
            i_in, k_of, ov, b_in = torch.arange(n, device=device), k_all, o, idx[:, 0]
        else:
            i_in = inside.nonzero().squeeze(1)
            k_of, ov, b_in = k_all[i_in], o[i_in], idx[i_in, 0]
    else:
        kap = kernel_offsets(ks, device) * torch.tensor(dil, device=device)  # [K, 3]
        num = idx[:, None, 1:] + torch.tensor(pad, device=device) - kap[None]  # [N, K, 3]
        o = torch.div(num, st_t, rounding_mode="floor")
        valid = ((num - o * st_t) == 0).all(-1) & (o >= 0).all(-1) & (o < out_shape_t).all(-1)
        i_in, k_of = valid.nonzero(as_tuple=True)  # row-major: input order, then offset order
        ov = o[i_in, k_of]
        b_in = idx[i_in, 0]
    okeys = ((b_in * out_shape[0] + ov[:, 0]) * out_shape[1] + ov[:, 1]) * out_shape[2] + ov[:, 2]
    uniq, inv = torch.unique(okeys, return_inverse=True)
    first = torch.full((uniq.numel(),), okeys.numel(), dtype=torch.int64, device=device)
    first.scatter_reduce_(0, inv, torch.arange(okeys.numel(), device=device), reduce="amin")
    rank_order = torch.argsort(first)
    rank = torch.empty_like(rank_order)
    rank[rank_order] = torch.arange(rank_order.numel(), device=device)
    out_id = rank[inv]
    out_indices = _unpack_keys(uniq[rank_order], out_shape).to(indices.dtype)

    by_k = torch.argsort(k_of, stable=True)  # group by offset, keep input order inside
    counts = torch.bincount(k_of, minlength=kvol).tolist()
    segments, start = [], 0
    for k, c in enumerate(counts):
        if c:
            segments.append((k, start, start + c))
        start += c
    return KernelMap(
        kind="conv",
        kernel_size=ks,
        stride=st,
        padding=pad,
        dilation=dil,
        n_in=n,
        n_out=int(uniq.numel()),
        in_idx=i_in[by_k],
        out_idx=out_id[by_k],
        segments=segments,
        center=None,
        in_indices=indices,
        out_indices=out_indices,
        in_spatial_shape=[int(s) for s in spatial_shape],
        out_spatial_shape=out_shape,
    )
