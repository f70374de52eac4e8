"""Coordinate transforms: centring, rotation, scaling, flips, jitter, elastic distortion.

Random draws follow the reference call for call (numpy's global RNG; Python's
``random`` for the apply/skip decisions of RandomRotate* and ElasticDistortion), so a
seeded run reproduces Pointcept's augmentations. Arithmetic is the reference's too —
including in-place dtype rules (e.g. ``coord *= scale`` keeps float32) — but applied to
copies: the input dict and arrays are never modified. ElasticDistortion's box blur and
trilinear interpolation are numpy re-statements of scipy's ``ndimage.convolve`` and
``RegularGridInterpolator`` that give bit-identical results, several times faster
(checked against scipy in tests/test_transforms_exact.py).

Deviations:
- ``RandomRotate``/``RandomRotateTargetAngle`` return float64 ``coord``/``normal``
  (the rotation matrix is float64), exactly as the reference does; ``ToTensor`` casts
  back to float32. Kept for bit-equal downstream results.
- ``ClipGaussianJitter``: the reference passes ``np.mean(3)`` (= 3.0) as the mean, which
  makes ``multivariate_normal`` raise; here the mean is zero (the evident intent).
- Empty clouds (0 points) are returned unchanged where the reference would raise on
  ``min()`` of an empty array; the random draws are still made in the same order.
"""
from __future__ import annotations

import random

import numpy as np

from pointlab.registry import TRANSFORMS


def _rotation_matrix(axis: str, angle: float) -> np.ndarray:
    """Right-handed 3×3 rotation about ``axis`` ("x", "y" or "z") by ``angle`` radians."""
    c, s = np.cos(angle), np.sin(angle)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    if axis == "z":
        return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    raise ValueError(f"rotation axis must be 'x', 'y' or 'z', got {axis!r}")


def _last_zero_sign(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Give the zeros of a column-wise min/max the sign numpy's axis-0 reduction gives them.

    ``a.min(0)`` walks the rows in order and keeps the later of two equal values, so a zero
    minimum carries the sign of the column's *last* zero; a per-column reduction (SIMD) may
    return the other one. Only columns whose result is ±0 are re-read.
    """
    if out.dtype.kind == "f" and a.shape[1] > 1:  # one column: numpy reduces it as 1-D, like here
        for j in np.flatnonzero(out == 0):
            col = a[:, j]
            out[j] = col[col.shape[0] - 1 - int(np.argmax(col[::-1] == 0))]
    return out


def _col_reduce(ufunc, a: np.ndarray) -> np.ndarray:
    """``ufunc.reduce(a, axis=0)`` for min/max over an [N, D] array, fast for narrow D.

    numpy's axis-0 reduction of a narrow array runs its inner loop D elements at a time; here
    a C-contiguous array is reduced as [N/64, 64·D] rows first (long vector loops), otherwise
    column by column. min/max values do not depend on the order (see _last_zero_sign for ±0).
    """
    n, d = a.shape
    if d > 1 and n >= 2 * _TILE and a.flags.c_contiguous:
        m = n // _TILE * _TILE
        part = ufunc.reduce(ufunc.reduce(a[:m].reshape(-1, _TILE * d), axis=0).reshape(_TILE, d), axis=0)
        return ufunc(part, ufunc.reduce(a[m:], axis=0)) if m < n else part
    return np.array([ufunc.reduce(a[:, j]) for j in range(d)], dtype=a.dtype)


def col_min(a: np.ndarray) -> np.ndarray:
    """``a.min(0)`` for an [N, D] array (N ≥ 1), several times faster for narrow D.

    The values are the same, the sign of a zero result included.
    """
    return _last_zero_sign(a, _col_reduce(np.minimum, np.asarray(a)))


def col_max(a: np.ndarray) -> np.ndarray:
    """``a.max(0)`` for an [N, D] array (see :func:`col_min`)."""
    return _last_zero_sign(a, _col_reduce(np.maximum, np.asarray(a)))


def _copy(x) -> np.ndarray:
    return np.array(x, copy=True)


_TILE = 64  # rows per tile in apply_rows


def apply_rows(ufunc, a: np.ndarray, vec, out: np.ndarray) -> np.ndarray:
    """``ufunc(a, vec, out=out, casting="same_kind")`` for [N, D] ``a`` and a per-column ``vec``.

    Broadcasting a length-D vector over an [N, D] array runs numpy's inner loop D elements at
    a time (slow for D = 3); here ``vec`` is tiled over 64 rows, so the loop spans 64·D
    elements. Same elements, same dtypes (``vec`` is converted with ``np.asarray`` as the
    ufunc would), same results. Other shapes fall back to the plain call.
    """
    if not isinstance(vec, (list, tuple, np.ndarray)):  # scalars keep numpy's scalar promotion rules
        return ufunc(a, vec, out=out, casting="same_kind")
    v = np.asarray(vec)
    d = a.shape[1] if a.ndim == 2 else -1
    if (
        d > 0
        and v.ndim in (1, 2)
        and v.size == d
        and v.shape[-1] == d
        and a.shape[0] >= _TILE
        and a.flags.c_contiguous
        and out.flags.c_contiguous
        and out.shape == a.shape
    ):
        v = v.reshape(d)
        m = a.shape[0] // _TILE * _TILE
        ufunc(a[:m].reshape(-1, _TILE * d), np.tile(v, _TILE), out=out[:m].reshape(-1, _TILE * d), casting="same_kind")
        ufunc(a[m:], v, out=out[m:], casting="same_kind")
        return out
    return ufunc(a, v, out=out, casting="same_kind")


def _applied_to_copy(ufunc, a, b) -> np.ndarray:
    """``x = a.copy(); ufunc(x, b, out=x)`` (e.g. ``x -= b``) without the copy pass.

    The same dtype rules as the in-place operator: computed in the promoted dtype, cast back
    to ``a``'s dtype ("same_kind"), so float32 coords stay float32.
    """
    a = np.asarray(a)
    return apply_rows(ufunc, a, b, np.empty_like(a))


def _minus_center(coord: np.ndarray, center) -> np.ndarray:
    """``c = coord.copy(); c -= center`` for ``np.dot`` (which casts float32 to float64 anyway).

    A center of +0s is skipped (``x − 0 == x``, the sign of −0 included); float32 differences
    computed in float32 are written straight into a float64 array (the cast is exact),
    sparing ``np.dot`` its own conversion copy.
    """
    c = np.asarray(center)
    if c.dtype.kind in "iuf" and not c.any() and not np.signbit(c).any():
        return coord
    if coord.dtype == np.float32 and np.result_type(coord, c) == np.float32:
        return apply_rows(np.subtract, coord, c, np.empty(coord.shape))
    return _applied_to_copy(np.subtract, coord, center)


def _nonempty(data_dict, key="coord") -> bool:
    return key in data_dict and len(data_dict[key]) > 0


@TRANSFORMS.register_module()
class NormalizeCoord:
    """Centre ``coord`` on its mean and scale it into the unit sphere (PointNet++ style)."""

    def __call__(self, data_dict):
        if _nonempty(data_dict):
            coord = _copy(data_dict["coord"])
            coord -= np.mean(coord, axis=0)
            m = np.max(np.sqrt(np.sum(coord**2, axis=1)))
            data_dict = dict(data_dict, coord=coord / m)
        return data_dict


@TRANSFORMS.register_module()
class PositiveShift:
    """Subtract the per-axis minimum so every coordinate is ≥ 0."""

    def __call__(self, data_dict):
        if _nonempty(data_dict):
            coord = data_dict["coord"]
            data_dict = dict(data_dict, coord=_applied_to_copy(np.subtract, coord, col_min(coord)))
        return data_dict


@TRANSFORMS.register_module()
class CenterShift:
    """Subtract ``[(xmin+xmax)/2, (ymin+ymax)/2, zmin]`` (``apply_z``) or ``[..., ..., 0]``."""

    row_keys = ("coord",)  # the only per-point key read or written (see Compose)

    def __init__(self, apply_z=True):
        self.apply_z = apply_z

    def __call__(self, data_dict):
        if _nonempty(data_dict):
            coord = np.asarray(data_dict["coord"])
            x_min, y_min, z_min = col_min(coord)
            x_max, y_max = col_max(coord[:, :2])  # z's maximum is not used
            shift = [(x_min + x_max) / 2, (y_min + y_max) / 2, z_min if self.apply_z else 0]
            data_dict = dict(data_dict, coord=_applied_to_copy(np.subtract, coord, shift))
        return data_dict


@TRANSFORMS.register_module()
class RandomShift:
    """Add one uniform random offset per axis, ``shift = ((lo_x, hi_x), (lo_y, hi_y), (lo_z, hi_z))``."""

    def __init__(self, shift=((-0.2, 0.2), (-0.2, 0.2), (0, 0))):
        self.shift = shift

    def __call__(self, data_dict):
        if "coord" in data_dict:
            offset = [np.random.uniform(self.shift[i][0], self.shift[i][1]) for i in range(3)]
            data_dict = dict(data_dict, coord=_applied_to_copy(np.add, data_dict["coord"], offset))
        return data_dict


@TRANSFORMS.register_module()
class PointClip:
    """Clip ``coord`` into ``point_cloud_range = (xmin, ymin, zmin, xmax, ymax, zmax)``."""

    def __init__(self, point_cloud_range=(-80, -80, -3, 80, 80, 1)):
        self.point_cloud_range = point_cloud_range

    def __call__(self, data_dict):
        if "coord" in data_dict:
            r = self.point_cloud_range
            coord = np.clip(data_dict["coord"], a_min=r[:3], a_max=r[3:])
            data_dict = dict(data_dict, coord=coord)
        return data_dict


class _RotateBase:
    """Shared rotation logic; subclasses choose the angle (after the py-random skip test)."""

    def __init__(self, angle, center, axis, always_apply, p):
        _rotation_matrix(axis, 0.0)  # validate the axis name now, not at the first call
        self.angle = angle
        self.axis = axis
        self.always_apply = always_apply
        self.p = p if not always_apply else 1
        self.center = center

    def _draw_angle(self) -> float:
        raise NotImplementedError

    def __call__(self, data_dict):
        if random.random() > self.p:  # skip iff u > p (reference quirk: not u >= p)
            return data_dict
        rot_t = _rotation_matrix(self.axis, self._draw_angle())
        data_dict = dict(data_dict)
        if _nonempty(data_dict):
            coord = np.asarray(data_dict["coord"])
            if self.center is None:
                x_min, y_min, z_min = col_min(coord)
                x_max, y_max, z_max = col_max(coord)
                center = [(x_min + x_max) / 2, (y_min + y_max) / 2, (z_min + z_max) / 2]
            else:
                center = self.center
            coord = np.dot(_minus_center(coord, center), np.transpose(rot_t))  # float64, as the reference
            apply_rows(np.add, coord, center, out=coord)  # coord += center
            data_dict["coord"] = coord
        if "normal" in data_dict:
            data_dict["normal"] = np.dot(data_dict["normal"], np.transpose(rot_t))
        return data_dict


@TRANSFORMS.register_module()
class RandomRotate(_RotateBase):
    """Rotate ``coord`` (about ``center``; None → bbox centre incl. z) and ``normal`` by
    ``U(angle[0], angle[1])·π`` about ``axis``.

    Applied unless ``random.random() > p`` (py-random; ``always_apply`` forces p = 1);
    the angle comes from numpy's RNG. Outputs are float64 (see module docstring).
    """

    def __init__(self, angle=None, center=None, axis="z", always_apply=False, p=0.5):
        super().__init__([-1, 1] if angle is None else angle, center, axis, always_apply, p)

    def _draw_angle(self) -> float:
        return np.random.uniform(self.angle[0], self.angle[1]) * np.pi


@TRANSFORMS.register_module()
class RandomRotateTargetAngle(_RotateBase):
    """Like :class:`RandomRotate`, but the angle is ``np.random.choice(angle)·π``."""

    def __init__(self, angle=(1 / 2, 1, 3 / 2), center=None, axis="z", always_apply=False, p=0.75):
        super().__init__(angle, center, axis, always_apply, p)

    def _draw_angle(self) -> float:
        return np.random.choice(self.angle) * np.pi


@TRANSFORMS.register_module()
class RandomScale:
    """``coord *= U(scale[0], scale[1])`` — one factor, or one per axis if ``anisotropic``.
    Always applied; normals untouched."""

    def __init__(self, scale=None, anisotropic=False):
        self.scale = scale if scale is not None else [0.95, 1.05]
        self.anisotropic = anisotropic

    def __call__(self, data_dict):
        if "coord" in data_dict:
            scale = np.random.uniform(self.scale[0], self.scale[1], 3 if self.anisotropic else 1)
            data_dict = dict(data_dict, coord=_applied_to_copy(np.multiply, data_dict["coord"], scale))
        return data_dict


@TRANSFORMS.register_module()
class RandomFlip:
    """With probability p negate x of ``coord`` and ``normal``; then, independently, y."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, data_dict):
        # the two draws come first; applying a flip draws nothing, so the order is the reference's
        axes = [axis for axis in (0, 1) if np.random.rand() < self.p]
        if axes:
            data_dict = dict(data_dict)
            for key in ("coord", "normal"):
                if key in data_dict:
                    data_dict[key] = _negate_columns(data_dict[key], axes)
        return data_dict


def _negate_columns(a, axes) -> np.ndarray:
    """A copy of ``a`` [N, D] with ``arr[:, axis] = -arr[:, axis]`` for each of ``axes``.

    For IEEE floats negation flips the sign bit and nothing else (NaN, ±0 and ±inf
    included), so copy and negation are one XOR pass over the bits.
    """
    a = np.asarray(a)
    if a.dtype.kind == "f" and a.ndim == 2 and a.dtype.itemsize in (2, 4, 8):
        bits = np.dtype(f"u{a.dtype.itemsize}")
        mask = np.zeros(a.shape[1], dtype=bits)
        mask[list(axes)] = np.array(1, dtype=bits) << (8 * a.dtype.itemsize - 1)
        out = np.empty_like(a)
        apply_rows(np.bitwise_xor, a.view(bits), mask, out.view(bits))
        return out
    arr = _copy(a)
    for axis in axes:
        np.negative(arr[:, axis], out=arr[:, axis])  # == arr[:, axis] = -arr[:, axis]
    return arr


@TRANSFORMS.register_module()
class RandomJitter:
    """``coord += clip(sigma·randn(N, 3), −clip, clip)``."""

    def __init__(self, sigma=0.01, clip=0.05):
        if not clip > 0:
            raise ValueError(f"RandomJitter: clip must be > 0, got {clip}")
        self.sigma = sigma
        self.clip = clip

    def __call__(self, data_dict):
        if "coord" in data_dict:
            coord = data_dict["coord"]
            jitter = np.random.randn(coord.shape[0], 3)
            jitter *= self.sigma  # == sigma · randn
            np.clip(jitter, -self.clip, self.clip, out=jitter)
            if isinstance(coord, np.ndarray) and coord.dtype == np.float64 and coord.shape == jitter.shape:
                np.add(coord, jitter, out=jitter)  # == coord + jitter: the sum goes where the noise was
                data_dict = dict(data_dict, coord=jitter)
            else:
                data_dict = dict(data_dict, coord=_applied_to_copy(np.add, coord, jitter))
        return data_dict


@TRANSFORMS.register_module()
class ClipGaussianJitter:
    """``coord += scalar · clip(n / 1.96, −1, 1)`` with n ~ N(0, I₃) per point.

    ``store_jitter`` keeps the added offsets in ``jitter``. (The reference's mean is the
    scalar 3.0, which makes it raise; zero mean here.)
    """

    def __init__(self, scalar=0.02, store_jitter=False):
        self.scalar = scalar
        self.mean = np.zeros(3)
        self.cov = np.identity(3)
        self.quantile = 1.96
        self.store_jitter = store_jitter

    def __call__(self, data_dict):
        if "coord" in data_dict:
            coord = _copy(data_dict["coord"])
            jitter = np.random.multivariate_normal(self.mean, self.cov, coord.shape[0])
            jitter = self.scalar * np.clip(jitter / self.quantile, -1, 1)
            coord += jitter
            data_dict = dict(data_dict, coord=coord)
            if self.store_jitter:
                data_dict["jitter"] = jitter
        return data_dict


_BLOCK = 8192  # points per block: the ~30 temporaries of one block stay in L2 cache


def _corner_offsets(dims) -> list[int]:
    """Flat offsets of a cell's 8 corners, in the order RegularGridInterpolator sums them."""
    return [(c0 * dims[1] + c1) * dims[2] + c2 for c0 in (0, 1) for c1 in (0, 1) for c2 in (0, 1)]


def _trilinear_channels(
    axes, values: np.ndarray, points: np.ndarray, block: int | None = None, bounds=None, consume=None
) -> np.ndarray | None:
    """:func:`_trilinear`, returned channel-major: [C, N] float64.

    ``bounds``: the points' exact per-axis ``(min, max)`` if known; then the per-block
    inside-the-grid test is decided once. ``consume(start, stop, values)``: if given, it
    receives each block's [C, stop − start] values (a reused buffer) instead, and None is
    returned (no [C, N] array).
    """
    points = np.asarray(points)
    if points.dtype != np.float32:
        points = points.astype(np.float64, copy=False)
    n_pts = points.shape[0]
    axes = [np.asarray(ax, dtype=float) for ax in axes]
    dims = [len(ax) for ax in axes]
    values = np.asarray(values)
    n_ch = values.shape[-1]
    # float64 channel-major tables: the cast of float32 values is exact and turns every
    # corner product into a plain float64 multiply (scipy promotes the same way)
    chans = np.empty((n_ch, dims[0] * dims[1] * dims[2]))
    chans[:] = np.moveaxis(values, -1, 0).reshape(n_ch, -1)
    # corner k of the cell at flat index ``lin`` is ``chans[c, off_k + lin]``: gather from a
    # shifted view instead of adding the offset to every index
    shifted = [[chans[c, off:] for c in range(n_ch)] for off in _corner_offsets(dims)]
    grid = _GridSearch(axes)
    inside = None
    if bounds is not None:
        lo, hi = (np.asarray(b, dtype=np.float64) for b in bounds)
        inside = bool((lo >= grid.first[:, 0]).all() and (hi <= grid.last[:, 0]).all())  # False for NaN
        inside = inside or None  # not all inside: test block by block
    block = block or _BLOCK
    out = np.empty((n_ch, n_pts if consume is None else min(block, n_pts)))
    cols = np.empty((3, min(block, n_pts)))
    for s in range(0, n_pts, block):  # blocks of points, not single points
        e = min(s + block, n_pts)
        c = cols[:, : e - s]
        c[:] = points[s:e].T  # float64, one contiguous row per axis
        if consume is None:
            _trilinear_block(grid, dims, shifted, c, out[:, s:e], inside)
        else:
            _trilinear_block(grid, dims, shifted, c, out[:, : e - s], inside)
            consume(s, e, out[:, : e - s])
    return out if consume is None else None


class _GridSearch:
    """Per-axis data for locating points on 3 evenly spaced grids (as scipy's ``find_indices``)."""

    def __init__(self, axes):
        self.axes = axes
        self.upper = [ax[1:] for ax in axes]  # upper[d][i] == axes[d][i + 1]
        self.width = [ax[1:] - ax[:-1] for ax in axes]  # width[d][i] == axes[d][i + 1] − axes[d][i]
        self.first = np.array([ax[0] for ax in axes])[:, None]
        self.last = np.array([ax[-1] for ax in axes])[:, None]
        self.inv_step = np.array([(len(ax) - 1) / (ax[-1] - ax[0]) for ax in axes])[:, None]
        self.top = np.array([len(ax) - 2 for ax in axes])[:, None]


def _trilinear_block(grid: _GridSearch, dims, shifted, cols: np.ndarray, out: np.ndarray, inside=None) -> None:
    """Interpolate one block of points: ``cols`` [3, n] float64 → ``out`` [C, n] float64."""
    n_pts = cols.shape[1]
    # cell index: i = clip(searchsorted(ax, x, "right") − 1, 0, len(ax) − 2), as scipy. It is
    # estimated arithmetically, then verified against the grid values (redone where off by one).
    if inside is None:
        inside = bool((cols.min(axis=1) >= grid.first[:, 0]).all() and (cols.max(axis=1) <= grid.last[:, 0]).all())
    est = cols - grid.first
    est *= grid.inv_step
    if inside:  # est ≥ 0, so truncation is floor
        i = est.astype(np.int64)
        np.minimum(i, grid.top, out=i)
    else:  # NaN or points outside the grid: they get 0 / NaN below, any in-range cell will do
        np.floor(est, out=est)
        est[np.isnan(est)] = 0
        np.clip(est, 0, grid.top, out=est)
        i = est.astype(np.int64)
    lo = np.empty_like(cols)
    width = np.empty_like(cols)
    for d in range(3):
        grid.axes[d].take(i[d], out=lo[d], mode="clip")  # i is in range: "clip" skips the check
        grid.width[d].take(i[d], out=width[d], mode="clip")
    num = cols - lo
    frac = num / width  # (x − ax[i]) / (ax[i+1] − ax[i])
    # x < lo  ⟺  num < 0 (exact sign); x ≥ hi ⟹ frac ≥ 1 (monotonic rounding): if neither bound
    # is hit, every estimate is right; otherwise check exactly and search the wrong ones
    if not inside or num.min() < 0 or frac.max() >= 1:
        upper = np.empty_like(cols)
        for d in range(3):
            grid.upper[d].take(i[d], out=upper[d], mode="clip")
        wrong = (lo > cols) | (upper <= cols)
        for d in range(3):
            sub = np.flatnonzero(wrong[d])
            if sub.size:
                ax = grid.axes[d]
                j = np.clip(np.searchsorted(ax, cols[d, sub], side="right") - 1, 0, len(ax) - 2)
                i[d, sub] = j
                frac[d, sub] = (cols[d, sub] - ax[j]) / (ax[j + 1] - ax[j])
    lin = i[0] * dims[1]
    lin += i[1]
    lin *= dims[2]
    lin += i[2]
    # corner weights ((1·w0)·w1)·w2 with w = 1 − frac (lower corner) or frac (upper), as scipy
    low = 1.0 - frac
    sel = [(low[d], frac[d]) for d in range(3)]
    w01 = [np.multiply(sel[0][c0], sel[1][c1]) for c0 in (0, 1) for c1 in (0, 1)]
    weights = [np.multiply(w01[k >> 1], sel[2][k & 1]) for k in range(8)]
    term = np.empty(n_pts)
    for c in range(out.shape[0]):
        acc = out[c]
        for k in range(8):  # value = ((0 + t0) + t1) + … + t7, t = corner value × weight
            shifted[k][c].take(lin, out=term, mode="clip")
            term *= weights[k]
            if k == 0:
                np.add(term, 0.0, out=acc)
            else:
                acc += term
    if not inside:
        outside = ((cols < grid.first) | (cols > grid.last)).any(axis=0)
        out[:, outside] = 0
        nan = np.isnan(cols).any(axis=0)
        out[:, nan] = np.nan


def _trilinear(axes, values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Linear interpolation on a regular grid, 0 outside it.

    Bit-identical to ``scipy.interpolate.RegularGridInterpolator(axes, values,
    bounds_error=False, fill_value=0)(points)`` ("linear"): same cell search, the same
    float64 weights and the same corner summation order, without its per-call overhead.

    Args:
        axes: 3 strictly ascending, evenly spaced 1-D grids (lengths ≥ 2).
        values: [len(ax0), len(ax1), len(ax2), C].
        points: [N, 3].
    Returns:
        [N, C] float64.
    """
    return np.ascontiguousarray(_trilinear_channels(axes, values, points).T)


_BLUR_WEIGHT = np.float64(np.float32(1) / np.float32(3))  # the reference's float32 1/3, as scipy reads it (a float64)


def _box_blur3(noise: np.ndarray, axis: int) -> np.ndarray:
    """``scipy.ndimage.convolve(noise, ones(3)/3 along axis, mode="constant", cval=0)``, bit-identical.

    scipy sums ``x[i−1]·w + x[i]·w + x[i+1]·w`` in float64 from 0.0 (cval terms: 0·w) and
    rounds to the input dtype; this does the same additions in the same order on whole arrays.
    """
    shape = list(noise.shape)
    shape[axis] += 2
    prod = np.zeros(shape)  # zero padding: the products of the cval terms
    np.multiply(noise, _BLUR_WEIGHT, out=prod[(slice(None),) * axis + (slice(1, -1),)])

    def shift(k):
        return prod[(slice(None),) * axis + (slice(k, k + noise.shape[axis]),)]

    acc = np.add(shift(0), 0.0)
    acc += shift(1)
    acc += shift(2)
    return acc.astype(noise.dtype)


def elastic_distortion(
    coords: np.ndarray, granularity: float, magnitude: float, _bounds=None, _in_place: bool = False
) -> np.ndarray:
    """One elastic-distortion pass (numpy RNG: one ``randn`` grid).

    A float32 N(0,1) noise grid of ``floor(extent / granularity) + 3`` cells per axis × 3
    channels, smoothed twice by separable 3-tap box filters along x, y, z (zero padding),
    spans ``[min − g, min + g·(dim − 2)]``; ``coords + interp(coords)·magnitude``.

    Args:
        coords: [N, 3] (N ≥ 1). Not modified.
    Returns:
        [N, 3], same dtype as ``coords``.
    """
    coords_min, coords_max = _bounds if _bounds is not None else (col_min(coords), col_max(coords))
    # max(c − min) == max(c) − min: float subtraction is monotonic
    noise_dim = ((coords_max - coords_min) // granularity).astype(int) + 3
    noise = np.random.randn(*noise_dim, 3).astype(np.float32)
    for _ in range(2):
        for axis in range(3):
            noise = _box_blur3(noise, axis)
    axes = [
        np.linspace(d_min, d_max, d)
        for d_min, d_max, d in zip(coords_min - granularity, coords_min + granularity * (noise_dim - 2), noise_dim)
    ]
    # in place (an array the caller owns): each block's rows are read before they are written
    out = coords if _in_place else _copy(coords)

    def add_shift(s, e, shift):  # block by block, column by column: ``out += interp * magnitude``
        for c in range(3):
            shift[c] *= magnitude
            out[s:e, c] += shift[c]

    _trilinear_channels(axes, noise, coords, bounds=(coords_min, coords_max), consume=add_shift)
    return out


@TRANSFORMS.register_module()
class ElasticDistortion:
    """With probability 0.95 (py-random) apply :func:`elastic_distortion` once per
    ``(granularity, magnitude)`` pair of ``distortion_params``, in order.

    The noise grid spans the cloud's whole extent, so non-finite coordinates or an extent of
    more than ``max_cells`` grid cells raise a ValueError naming the transform (instead of
    numpy's "negative dimensions" / "array is too big" or a multi-GB allocation).
    """

    max_cells = 2**24  # 16.7M cells × 3 channels × 4 B = 200 MB of noise at most

    def __init__(self, distortion_params=None):
        self.distortion_params = [[0.2, 0.4], [0.8, 1.6]] if distortion_params is None else distortion_params

    def __call__(self, data_dict):
        if "coord" in data_dict and self.distortion_params is not None:
            if random.random() < 0.95:
                coord = data_dict["coord"]
                if len(coord) == 0:
                    return data_dict
                bounds = self._check_extent(coord)
                for i, (granularity, magnitude) in enumerate(self.distortion_params):
                    # later passes distort this transform's own output in place
                    coord = elastic_distortion(coord, granularity, magnitude, _bounds=bounds, _in_place=i > 0)
                    bounds = None  # the next pass measures the distorted cloud
                data_dict = dict(data_dict, coord=coord)
        return data_dict

    def _check_extent(self, coord):
        """Raise on non-finite coordinates or a too large extent; return ``(col_min, col_max)``."""
        lo, hi = col_min(coord), col_max(coord)
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):  # min/max propagate NaN, show ±Inf
            bad = int((~np.isfinite(coord).all(axis=1)).sum())
            raise ValueError(
                f"ElasticDistortion: 'coord' has {bad} row(s) with NaN/Inf; "
                f"drop or repair them before the transform pipeline"
            )
        extent = hi.astype(np.float64) - lo
        for granularity, _ in self.distortion_params:
            cells = float(np.prod(extent // granularity + 3))
            if cells > self.max_cells:
                raise ValueError(
                    f"ElasticDistortion: the cloud's extent {np.round(extent, 2).tolist()} m needs a noise grid of "
                    f"{cells:.3g} cells at granularity {granularity} (limit {self.max_cells}); check the units "
                    f"(millimetres?), crop the scene, or raise the granularity in distortion_params"
                )
        return lo, hi


__all__ = [
    "NormalizeCoord",
    "PositiveShift",
    "CenterShift",
    "RandomShift",
    "PointClip",
    "RandomRotate",
    "RandomRotateTargetAngle",
    "RandomScale",
    "RandomFlip",
    "RandomJitter",
    "ClipGaussianJitter",
    "ElasticDistortion",
    "elastic_distortion",
]
