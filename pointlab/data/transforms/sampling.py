"""Point-subsetting transforms: voxelization, cropping, dropout, shuffling.

They index only the keys listed in ``data_dict["index_valid_keys"]`` (created on first
use with :data:`DEFAULT_INDEX_VALID_KEYS`), so per-point arrays stay aligned while
scene-level entries (``name``, ``origin_*``, ``inverse``, ...) are left alone.

Unlike the reference, no transform here modifies its input dict or arrays: each
returns a new (shallow-copied) dict with new arrays; the values are the same.
Inside a :class:`~pointlab.data.transforms.Compose`, GridSample (train), SphereCrop and
ShufflePoint defer their gathers (:func:`defer_index`): consecutive row indices are
composed and each array is gathered once, when a later transform reads it.
Random draws follow the reference exactly (numpy's global RNG, plus Python's
``random`` where noted) so seeded runs reproduce Pointcept's choices.

Deviations: GridSample(train, project_displacement=True) projects on the normals of the
*input* points (the reference multiplies by the already-subsampled normals and raises a
shape error); GridSample rejects NaN/Inf coordinates with a ValueError; 0-point clouds
give 0 points (train) or no fragments (test) instead of raising; SphereCrop's ``"all"``
mode (removed at the reference's HEAD, which raises) follows the reference's former
implementation, see :meth:`SphereCrop._crop_all`.
"""
from __future__ import annotations

import random
from typing import Any, Sequence

import numpy as np

from pointlab.data.transforms.geometry import apply_rows, col_max, col_min
from pointlab.registry import TRANSFORMS

DEFAULT_INDEX_VALID_KEYS = ("coord", "color", "normal", "superpoint", "strength", "segment", "instance")

_FNV64_OFFSET = np.uint64(14695981039346656037)
_FNV64_PRIME = np.uint64(1099511628211)


def take_rows(value, index):
    """``value[index]`` along the first axis; for numpy arrays via ``np.take``/``np.compress``,
    which gather [N, C] rows several times faster than fancy indexing."""
    if isinstance(value, np.ndarray) and isinstance(index, np.ndarray) and value.ndim >= 1:
        if index.dtype == np.bool_:
            if index.shape != (value.shape[0],):
                raise IndexError(
                    f"boolean index of shape {index.shape} does not match an array with {value.shape[0]} rows"
                )
            return np.compress(index, value, axis=0)
        if value.ndim == 2 and value.flags.f_contiguous and not value.flags.c_contiguous:
            # column-major [N, D] (e.g. a transposed [D, N] block): gather each column, return C order
            return np.ascontiguousarray(np.take(value.T, index, axis=1).T)
        return np.take(value, index, axis=0)
    return value[index]


def index_operator(data_dict: dict, index, duplicate: bool = False) -> dict:
    """Index every key named in ``data_dict["index_valid_keys"]`` with ``index``.

    Args:
        data_dict: the sample; ``index_valid_keys`` defaults to :data:`DEFAULT_INDEX_VALID_KEYS`.
        index: int array [M] or bool mask [N] applied along the first axis.
        duplicate: kept for API compatibility with the reference. The input is never
            modified either way; other keys are shared (shallow copy) with the input.

    Returns:
        a new dict with the listed keys indexed and ``index_valid_keys`` a fresh list.
    """
    out = dict(data_dict)
    valid = list(data_dict.get("index_valid_keys", DEFAULT_INDEX_VALID_KEYS))
    out["index_valid_keys"] = valid
    index = np.asarray(index) if isinstance(index, (list, tuple)) else index
    for key in valid:
        if key in out:
            out[key] = take_rows(out[key], index)
    return out


def _append_valid_key(data_dict: dict, key: str) -> None:
    valid = list(data_dict.get("index_valid_keys", DEFAULT_INDEX_VALID_KEYS))
    if key not in valid:
        valid.append(key)
    data_dict["index_valid_keys"] = valid


# Deferred gathers (used by Compose). A run of point-subsetting transforms (GridSample,
# SphereCrop, ShufflePoint) would gather every per-point array once per transform; instead,
# ``pending`` maps a key to the row index still to be applied to ``data_dict[key]``, later
# indices are composed into it (``a[i][j] == a[i[j]]``, the same elements), and each array is
# gathered once, when a transform reads it or at the end of the pipeline.


def defer_index(data_dict: dict, index: np.ndarray, pending: dict) -> dict:
    """:func:`index_operator` with an int index [M], recording the gathers in ``pending``.

    numpy arrays are not gathered: ``pending[key]`` becomes ``index`` or, if the key already
    had a pending index ``p``, ``p[index]``. Other values are indexed now.
    """
    out = dict(data_dict)
    valid = list(data_dict.get("index_valid_keys", DEFAULT_INDEX_VALID_KEYS))
    out["index_valid_keys"] = valid
    composed = {}  # id(pending index) -> its composition with ``index``; keys share indices
    top = None
    for key in valid:
        if key not in out:
            continue
        if not isinstance(out[key], np.ndarray):
            out[key] = take_rows(out[key], index)
        elif key in pending:
            prev = pending[key]
            if id(prev) not in composed:
                composed[id(prev)] = (prev, prev.take(index))  # keep prev alive: its id stays unique
            pending[key] = composed[id(prev)][1]
        else:
            if top is None:
                top = int(index.max()) if index.size else -1
            rows = out[key].shape[0] if out[key].ndim else 0
            if top >= rows:  # a later composed index might skip the bad rows: raise now, as a gather would
                raise IndexError(
                    f"'{key}' has {rows} rows but the point index reaches row {top}; every key in "
                    f"index_valid_keys must have one row per point (coord has as many as the index expects)"
                )
            pending[key] = index
    return out


def materialize_rows(data_dict: dict, pending: dict, keys=None) -> dict:
    """Apply the pending gathers of ``keys`` (all if None); a new dict if any was pending."""
    todo = [k for k in (pending if keys is None else keys) if k in pending]
    if not todo:
        return data_dict
    out = dict(data_dict)
    for key in todo:
        index = pending.pop(key)
        if key in out:
            out[key] = take_rows(out[key], index)
    return out


def _rows_after(data_dict: dict, pending: dict, key: str) -> int:
    """The row count of ``data_dict[key]`` once its pending gather is applied."""
    return len(pending[key]) if key in pending else len(data_dict[key])


def squared_distance(coord: np.ndarray, center) -> np.ndarray:
    """``np.sum(np.square(coord − center), 1)`` for [N, 3] coords, column by column.

    Bit-identical (numpy sums 3 values left to right) and several times faster than the
    axis-1 reduction over a narrow array.
    """
    center = np.asarray(center)
    if coord.ndim != 2 or coord.shape[1] != 3:
        return np.sum(np.square(coord - center), 1)
    coord = np.asarray(coord)
    d = apply_rows(np.subtract, coord, center, np.empty(coord.shape, np.result_type(coord, center)))
    np.multiply(d, d, out=d)
    out = d[:, 0] + d[:, 1]
    out += d[:, 2]
    return out


def _require(data_dict: dict, key: str, who: str):
    if key not in data_dict:
        raise KeyError(f"{who} needs key '{key}' in the sample; present keys: {sorted(data_dict.keys())}")
    return data_dict[key]


_CHUNK = 16384  # rows per chunk in _floor_into: the float scratch stays in cache


def _floor_into(out: np.ndarray, src: np.ndarray, size) -> None:
    """``out[:] = floor(src / size)`` cast to ``out``'s dtype (as ``.astype``), chunk by chunk.

    The same element-wise ops as ``np.floor(src / size).astype(out.dtype)``, without a
    full-size float temporary (fewer fresh pages to fault in). ``size``: a scalar, or one per
    column of a 2-D ``src``.
    """
    n = src.shape[0]
    scratch = np.empty((min(_CHUNK, n),) + src.shape[1:], dtype=np.result_type(src, size))
    for s in range(0, n, _CHUNK):
        part = src[s : s + _CHUNK]
        tmp = scratch[: part.shape[0]]
        apply_rows(np.divide, part, size, tmp)
        np.floor(tmp, out=tmp)
        out[s : s + part.shape[0]] = tmp


def _as_uint64(col: np.ndarray) -> np.ndarray:
    # an int64 → uint64 cast is modular, i.e. the same bits: view instead of copying
    return col.view(np.uint64) if col.dtype == np.int64 else col.astype(np.uint64)


def _fnv_hash_columns(cols: Sequence[np.ndarray]) -> np.ndarray:
    """:func:`fnv_hash_vec` of the rows whose D columns are the 1-D arrays ``cols``."""
    start = np.uint64((int(_FNV64_OFFSET) * int(_FNV64_PRIME)) % 2**64)  # the first step, on the constant
    hashed = np.bitwise_xor(_as_uint64(cols[0]), start)
    for col in cols[1:]:  # over the D columns, not over points
        hashed *= _FNV64_PRIME  # uint64 arrays wrap around silently (mod 2**64)
        hashed ^= _as_uint64(col)
    return hashed


def _ravel_hash_columns(cols: Sequence[np.ndarray], col_max: Sequence[int]) -> np.ndarray:
    """:func:`ravel_hash_vec` of non-negative columns whose minima are 0 and maxima ``col_max``."""
    keys = np.zeros(cols[0].shape[0], dtype=np.uint64)
    for j in range(len(cols) - 1):
        keys += _as_uint64(cols[j])
        keys *= np.uint64(int(col_max[j + 1]) + 1)
    keys += _as_uint64(cols[-1])
    return keys


def fnv_hash_vec(arr: np.ndarray) -> np.ndarray:
    """Pointcept's 64-bit "FNV" voxel key of non-negative integer rows.

    ``h = 14695981039346656037``; for each column v: ``h = (h * 1099511628211) mod 2**64;
    h ^= v`` (multiply *then* xor, although the reference calls it FNV-1a).

    Args:
        arr: [N, D] non-negative integers.
    Returns:
        [N] uint64 keys.
    """
    arr = np.asarray(arr)
    if arr.ndim != 2:
        raise ValueError(f"fnv_hash_vec expects a [N, D] array, got shape {arr.shape}")
    if arr.shape[1] == 0:
        return np.full(arr.shape[0], _FNV64_OFFSET, dtype=np.uint64)
    return _fnv_hash_columns([np.ascontiguousarray(arr[:, j]) for j in range(arr.shape[1])])


def ravel_hash_vec(arr: np.ndarray) -> np.ndarray:
    """Row-major ("ravel") key ``((x·Ymax)+y)·Zmax + z`` after subtracting the column minima.

    Args:
        arr: [N, D] integers.
    Returns:
        [N] uint64 keys (Ymax/Zmax = extent + 1).
    """
    arr = np.asarray(arr)
    if arr.ndim != 2:
        raise ValueError(f"ravel_hash_vec expects a [N, D] array, got shape {arr.shape}")
    if arr.shape[0] == 0:
        return np.zeros(0, dtype=np.uint64)
    arr = (arr - arr.min(0)).astype(np.uint64, copy=False)
    return _ravel_hash_columns([arr[:, j] for j in range(arr.shape[1])], arr.max(0))


@TRANSFORMS.register_module()
class RandomDropout:
    """With probability ``dropout_application_ratio`` (py-random) keep ``int(n·(1−dropout_ratio))``
    points drawn without replacement (random order, numpy RNG).

    ScanNet data-efficient (``sampled_index`` present): the labelled points are always kept
    and ``sampled_index`` is re-expressed in the new point order.
    """

    def __init__(self, dropout_ratio=0.2, dropout_application_ratio=0.5):
        self.dropout_ratio = dropout_ratio
        self.dropout_application_ratio = dropout_application_ratio

    def __call__(self, data_dict):
        if random.random() < self.dropout_application_ratio:
            n = len(_require(data_dict, "coord", "RandomDropout"))
            if n == 0:
                return data_dict
            idx = np.random.choice(n, int(n * (1 - self.dropout_ratio)), replace=False)
            data_dict = dict(data_dict)
            if "sampled_index" in data_dict:
                idx = np.unique(np.append(idx, data_dict["sampled_index"]))
                mask = np.zeros(n, dtype=bool)
                mask[data_dict["sampled_index"]] = True
                data_dict["sampled_index"] = np.where(mask[idx])[0]
            data_dict = index_operator(data_dict, idx)
        return data_dict


@TRANSFORMS.register_module()
class GridSample:
    """Voxelize: one point per voxel (train mode) or a list of fragments (test mode).

    Args:
        grid_size: voxel edge (metres), a float or one per axis.
        hash_type: ``"fnv"`` (:func:`fnv_hash_vec`); anything else → :func:`ravel_hash_vec`.
        mode: ``"train"`` (also used for validation) or ``"test"``.
        return_inverse: add ``inverse`` [N_in] int64 — each input point's voxel position
            in the output (train mode: row of the output point).
        return_grid_coord: add ``grid_coord`` [M, 3] int64 voxel index ≥ 0 (relative to
            this scene's minimum voxel) and list it in ``index_valid_keys``.
        return_min_coord: add ``min_coord`` [1, 3] = minimum voxel index · grid_size.
        return_displacement: add ``displacement`` [M, 3] = offset from the voxel centre
            in voxel units (−0.5..0.5); ``project_displacement`` projects it on
            ``normal`` → [M, 1].

    Train mode: voxels in ascending key order, each represented by a uniformly random
    member (``start + randint(0, max_count, n_voxels) % count``, numpy RNG).
    Test mode: returns a list of ``max(count)`` dicts; part i holds, for every voxel, its
    ``(i mod count)``-th point in key-sorted order and ``index`` [M] int64 (input rows).
    Parts share the non-indexed keys with the input. A cloud with 0 points gives 0 points
    (train) or an empty list (test).
    """

    def __init__(
        self,
        grid_size=0.05,
        hash_type="fnv",
        mode="train",
        return_inverse=False,
        return_grid_coord=False,
        return_min_coord=False,
        return_displacement=False,
        project_displacement=False,
    ):
        if mode not in ("train", "test"):
            raise ValueError(f"GridSample: mode must be 'train' or 'test', got {mode!r}")
        self.grid_size = grid_size
        self.hash_type = hash_type
        self.hash = fnv_hash_vec if hash_type == "fnv" else ravel_hash_vec
        self.mode = mode
        self.return_inverse = return_inverse
        self.return_grid_coord = return_grid_coord
        self.return_min_coord = return_min_coord
        self.return_displacement = return_displacement
        self.project_displacement = project_displacement

    fnv_hash_vec = staticmethod(fnv_hash_vec)
    ravel_hash_vec = staticmethod(ravel_hash_vec)

    def _check_coord(self, coord: np.ndarray) -> None:
        if coord.ndim != 2:
            raise ValueError(f"GridSample: 'coord' must be [N, 3], got shape {coord.shape}")
        if not np.isfinite(coord).all():
            bad = np.flatnonzero(~np.isfinite(coord).all(axis=1))
            raise ValueError(
                f"GridSample: 'coord' has {bad.size} of {coord.shape[0]} rows with NaN/Inf values "
                f"(first at row {bad[0]}: {coord[bad[0]].tolist()}); clean the input or drop those "
                "points before voxelization"
            )

    @staticmethod
    def _grid_coord(out, idx, coord, grid_size, min_index, grid_cols):
        """[M, D] int64 voxel indices of the selected rows ``idx``."""
        if "coord" in out["index_valid_keys"] and out["coord"].shape == (idx.shape[0], coord.shape[1]):
            # recompute floor(coord / grid_size) − min on the already gathered rows: the same
            # element-wise ops as for grid_cols, on contiguous memory instead of a random gather
            sel = out["coord"]
            grid = np.empty(sel.shape, dtype=np.int64)
            _floor_into(grid, sel, grid_size)
            return apply_rows(np.subtract, grid, min_index, out=grid)
        grid = np.empty((idx.shape[0], len(grid_cols)), dtype=np.int64)
        for j, col in enumerate(grid_cols):
            grid[:, j] = col.take(idx)
        return grid

    def _empty(self, data_dict, coord):
        d = coord.shape[1]
        out = index_operator(data_dict, np.zeros(0, dtype=np.int64))
        if self.mode == "test":
            return []
        if self.return_inverse:
            out["inverse"] = np.zeros(0, dtype=np.int64)
        if self.return_grid_coord:
            out["grid_coord"] = np.zeros((0, d), dtype=np.int64)
            _append_valid_key(out, "grid_coord")
        if self.return_min_coord:
            out["min_coord"] = np.zeros((1, d))
        if self.return_displacement:
            out["displacement"] = np.zeros((0, 1 if self.project_displacement else d))
            _append_valid_key(out, "displacement")
        return out

    def __call__(self, data_dict):
        return self._call(data_dict, None)

    def call_deferred(self, data_dict, pending):
        """Train mode for :class:`Compose`: the same output, gathers recorded in ``pending``
        (see :func:`defer_index`); ``NotImplemented`` where that does not apply."""
        if self.mode != "train" or "sampled_index" in data_dict or "coord" not in data_dict:
            return NotImplemented
        data_dict = materialize_rows(data_dict, pending, ("coord", "normal") if self.return_displacement else ("coord",))
        if len(data_dict["coord"]) == 0:
            return NotImplemented
        return self._call(data_dict, pending)

    def _call(self, data_dict, pending):
        coord = np.asarray(_require(data_dict, "coord", "GridSample"))
        if coord.ndim != 2:
            raise ValueError(f"GridSample: 'coord' must be [N, 3], got shape {coord.shape}")
        n = coord.shape[0]
        if n == 0:
            return self._empty(data_dict, coord)
        # the column extremes validate the input (min/max propagate NaN, show ±Inf) and give the
        # extremes of the voxel indices: x ↦ floor(x / grid_size) is monotonic
        lo, hi = col_min(coord), col_max(coord)
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            self._check_coord(coord)
        grid_size = np.array(self.grid_size)  # 0-d (or [D]) float64 array: divisions run in float64
        lo_scaled, hi_scaled = lo / grid_size, hi / grid_size
        # int64 voxel indices (and the 21-bit packing downstream) need |coord / grid_size| < 2^62
        too_far = float(max(np.abs(lo_scaled).max(), np.abs(hi_scaled).max()))
        if too_far >= 2.0**62:
            raise ValueError(
                f"GridSample: 'coord' reaches {too_far * float(np.max(grid_size)):.3g} m, "
                f"{too_far:.3g} voxels of {self.grid_size} from the origin; voxel indices overflow int64. "
                f"Check the input's units or shift the cloud (e.g. CenterShift) before GridSample."
            )
        min_coord = np.floor(lo_scaled).astype(np.int64)  # == min of the voxel indices
        # voxel indices column by column: contiguous 1-D arrays hash and gather fastest
        sizes = np.broadcast_to(grid_size, (coord.shape[1],))
        grid_block = np.empty((coord.shape[1], n), dtype=np.int64)  # one contiguous row per axis
        grid_cols = list(grid_block)
        for j, col in enumerate(grid_cols):
            # the same float64 division as coord / grid_size
            _floor_into(col, coord[:, j], sizes[j])
            col -= min_coord[j]
        if self.hash_type == "fnv":
            key = _fnv_hash_columns(grid_cols)
        else:
            key = _ravel_hash_columns(grid_cols, np.floor(hi_scaled).astype(np.int64) - min_coord)
        idx_sort = np.argsort(key)  # numpy's default (unstable) kind, as the reference
        key_sort = key.take(idx_sort)
        # the outputs of np.unique(key_sort, return_inverse, return_counts), from the sorted keys
        first = np.empty(n, dtype=bool)
        first[0] = True
        np.not_equal(key_sort[1:], key_sort[:-1], out=first[1:])
        start = np.flatnonzero(first)
        count = np.diff(start, append=n)

        displacement = None
        if self.return_displacement:
            # position inside the voxel, [0, 1) → [−0.5, 0.5) about its centre
            grid_coord = np.stack(grid_cols, axis=1)
            displacement = (coord / grid_size - min_coord) - grid_coord - 0.5
            if self.project_displacement:
                normal = np.asarray(_require(data_dict, "normal", "GridSample(project_displacement=True)"))
                displacement = np.sum(displacement * normal, axis=-1, keepdims=True)
        voxel = (coord, grid_size, min_coord, grid_cols)  # what _grid_coord needs
        min_coord = min_coord * grid_size
        inverse = None
        if self.return_inverse:
            inverse = np.empty(n, dtype=np.int64)  # idx_sort is a permutation: every entry is set
            inverse[idx_sort] = np.cumsum(first) - 1

        if self.mode == "train":
            idx_select = np.random.randint(0, count.max(), count.size)
            np.remainder(idx_select, count, out=idx_select)  # start + r % count, in place
            idx_select += start
            idx_unique = idx_sort.take(idx_select)
            data_dict = dict(data_dict)
            if "sampled_index" in data_dict:
                # ScanNet data-efficient: labelled points are always kept
                idx_unique = np.unique(np.append(idx_unique, data_dict["sampled_index"]))
                mask = np.zeros(n, dtype=bool)
                mask[data_dict["sampled_index"]] = True
                data_dict["sampled_index"] = np.where(mask[idx_unique])[0]
            if pending is None:
                out = index_operator(data_dict, idx_unique)
                self._add_outputs(out, idx_unique, voxel, inverse, min_coord, displacement)
                return out
            out = defer_index(data_dict, idx_unique, pending)
            self._add_outputs(out, idx_unique, None, inverse, min_coord, displacement)
            if self.return_grid_coord:  # every point's voxel index, gathered with the other keys
                out["grid_coord"] = grid_block.T  # column-major [N, D]; take_rows returns C order
                pending["grid_coord"] = idx_unique
            return out

        parts = []
        for i in range(int(count.max())):  # one fragment per "layer" of the fullest voxel
            idx_part = idx_sort[start + i % count]
            part = index_operator(data_dict, idx_part, duplicate=True)
            part["index"] = idx_part
            self._add_outputs(part, idx_part, voxel, inverse, min_coord, displacement)
            parts.append(part)
        return parts

    def _add_outputs(self, out, idx, voxel, inverse, min_coord, displacement):
        if self.return_inverse:
            out["inverse"] = inverse
        if self.return_grid_coord:
            if voxel is not None:  # None: the deferred path sets grid_coord itself
                out["grid_coord"] = self._grid_coord(out, idx, *voxel)
            _append_valid_key(out, "grid_coord")
        if self.return_min_coord:
            out["min_coord"] = min_coord.reshape([1, -1])
        if self.return_displacement:
            out["displacement"] = take_rows(displacement, idx)
            _append_valid_key(out, "displacement")


@TRANSFORMS.register_module()
class SphereCrop:
    """Keep the ``limit`` points nearest a centre, nearest first.

    ``limit = int(sample_rate · n)`` if ``sample_rate`` is set, else ``point_max``; nothing
    happens when ``n <= limit``. Centre by ``mode``: ``"random"`` a random point (numpy
    ``randint(n)``), ``"center"`` point ``n // 2``, ``"given"`` the mean of the points with a
    valid ``correspondence`` (random point if none). ``"all"`` returns a *list* of
    overlapping crops that together cover every point (see :meth:`_crop_all`).
    """

    def __init__(self, point_max=80000, sample_rate=None, mode="random"):
        if mode not in ("random", "center", "all", "given"):
            raise ValueError(f"SphereCrop: mode must be one of random/center/all/given, got {mode!r}")
        self.point_max = point_max
        self.sample_rate = sample_rate
        self.mode = mode

    def __call__(self, data_dict):
        coord = np.asarray(_require(data_dict, "coord", "SphereCrop"))
        n = coord.shape[0]
        point_max = int(self.sample_rate * n) if self.sample_rate is not None else self.point_max
        if self.mode == "all":
            return self._crop_all(data_dict, coord, point_max)
        idx_crop = self._crop_index(data_dict, coord, point_max)
        return data_dict if idx_crop is None else index_operator(data_dict, idx_crop)

    def call_deferred(self, data_dict, pending):
        """For :class:`Compose`: the same crop, gathers recorded in ``pending`` (see :func:`defer_index`).

        A pending ``coord`` stays pending: the distances of all its rows are computed and
        gathered (a 1-D gather instead of an [N, 3] one; row by row the same values).
        """
        if self.mode == "all" or "coord" not in data_dict:
            return NotImplemented
        rows = pending.get("coord") if self.mode != "given" else None
        if rows is None:
            data_dict = materialize_rows(data_dict, pending, ("coord", "correspondence"))
        coord = np.asarray(data_dict["coord"])
        n = coord.shape[0] if rows is None else rows.shape[0]
        point_max = int(self.sample_rate * n) if self.sample_rate is not None else self.point_max
        idx_crop = self._crop_index(data_dict, coord, point_max, rows)
        return data_dict if idx_crop is None else defer_index(data_dict, idx_crop, pending)

    def _crop_index(self, data_dict, coord, point_max, rows=None):
        """Rows of the crop, nearest the centre first; None if nothing is cropped.

        ``rows``: the cloud is ``coord[rows]`` (not gathered; "random"/"center" modes only).
        """
        n = coord.shape[0] if rows is None else rows.shape[0]
        if n <= point_max:
            return None
        if self.mode in ("random", "center"):
            pick = np.random.randint(n) if self.mode == "random" else n // 2
            center = coord[pick if rows is None else rows[pick]]
            dist = squared_distance(coord, center)
            return np.argsort(dist if rows is None else dist.take(rows))[:point_max]
        else:  # given
            corr = np.asarray(_require(data_dict, "correspondence", "SphereCrop(mode='given')"))
            corr = corr.reshape(corr.shape[0], -1)
            given = np.all(corr != -1, axis=1)
            center = coord[np.random.randint(n)] if not given.any() else np.mean(coord[given], axis=0)
        return np.argsort(squared_distance(coord, center))[:point_max]

    def _crop_all(self, data_dict, coord, point_max):
        """Overlapping crops covering every point (the reference's former ``mode="all"``).

        Each crop centres on the point with the lowest coverage score (initially
        ``rand(n)·1e-3``, then raised by ``(1 − d²/max d²)²`` for the points a crop takes)
        and adds ``weight`` (squared distance to the centre) and ``index``. Differences to
        the old reference: crops index every key of ``index_valid_keys`` (the old code kept
        a fixed few), and a crop that covers nothing new forces the next centre onto an
        uncovered point so the loop always ends.
        """
        n = coord.shape[0]
        index = np.asarray(data_dict["index"]) if "index" in data_dict else np.arange(n)
        if n <= point_max:
            part = dict(data_dict)
            part["weight"] = np.zeros(n)
            part["index"] = index
            return [part]
        parts = []
        score = np.random.rand(n) * 1e-3
        covered = np.zeros(n, dtype=bool)
        force_uncovered = False
        while not covered.all():
            if force_uncovered:
                free = np.flatnonzero(~covered)
                init_idx = free[np.argmin(score[free])]
            else:
                init_idx = np.argmin(score)
            dist2 = squared_distance(coord, coord[init_idx])
            idx_crop = np.argsort(dist2)[:point_max]
            part = index_operator(data_dict, idx_crop, duplicate=True)
            weight = dist2[idx_crop]
            part["weight"] = weight
            part["index"] = index[idx_crop]
            parts.append(part)
            w_max = weight.max()
            delta = np.square(1 - weight / w_max) if w_max > 0 else np.ones_like(weight)
            score[idx_crop] += delta
            force_uncovered = covered[idx_crop].all()
            covered[idx_crop] = True
        return parts


@TRANSFORMS.register_module()
class ShufflePoint:
    """Random permutation of the points (``np.random.shuffle`` of ``arange(n)``)."""

    def __call__(self, data_dict):
        return index_operator(data_dict, self._permutation(len(_require(data_dict, "coord", "ShufflePoint"))))

    def call_deferred(self, data_dict, pending):
        """For :class:`Compose`: the same permutation, gathers recorded in ``pending``."""
        _require(data_dict, "coord", "ShufflePoint")
        return defer_index(data_dict, self._permutation(_rows_after(data_dict, pending, "coord")), pending)

    @staticmethod
    def _permutation(n: int) -> np.ndarray:
        shuffle_index = np.arange(n)
        np.random.shuffle(shuffle_index)
        return shuffle_index


@TRANSFORMS.register_module()
class CropBoundary:
    """Drop the points whose ``segment`` is 0 or 1 (ScanNet wall / floor)."""

    def __call__(self, data_dict):
        segment = np.asarray(_require(data_dict, "segment", "CropBoundary")).flatten()
        mask = (segment != 0) & (segment != 1)
        return index_operator(data_dict, mask)


__all__ = [
    "DEFAULT_INDEX_VALID_KEYS",
    "index_operator",
    "defer_index",
    "materialize_rows",
    "take_rows",
    "fnv_hash_vec",
    "ravel_hash_vec",
    "RandomDropout",
    "GridSample",
    "SphereCrop",
    "ShufflePoint",
    "CropBoundary",
]
