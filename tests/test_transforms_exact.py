"""The optimised transforms against literal re-statements of the reference's (Pointcept) code.

Each reference function below is the reference's straightforward formula (scipy convolve and
RegularGridInterpolator, ``np.unique``, axis-0 reductions, copy-then-modify). The fast versions
must give bit-identical arrays (dtype, shape, every bit incl. the sign of zero) and consume
numpy's / Python's global RNG exactly the same way, on a room-like cloud of a few 10k points.
"""
import random

import numpy as np
import pytest
import scipy.ndimage
from scipy.interpolate import RegularGridInterpolator

from pointlab.data.transforms import (
    CenterShift,
    ChromaticAutoContrast,
    ChromaticJitter,
    ChromaticTranslation,
    ElasticDistortion,
    GridSample,
    RandomFlip,
    RandomJitter,
    RandomRotate,
    RandomScale,
)
from pointlab.data.transforms.geometry import _box_blur3, _trilinear, apply_rows, col_max, col_min, elastic_distortion


def room(n=20000, seed=0, dtype=np.float32):
    """Points on the 6 faces of a 5×5×3 m box around the origin, with colours and normals."""
    rs = np.random.RandomState(seed)
    face = rs.randint(0, 6, n)
    coord = (rs.rand(n, 3) - 0.5) * [5.0, 5.0, 3.0]
    axis, sign = face // 2, np.where(face % 2, 1.0, -1.0)
    coord[np.arange(n), axis] = sign * np.array([2.5, 2.5, 1.5])[axis] + rs.randn(n) * 0.003
    normal = np.zeros((n, 3))
    normal[np.arange(n), axis] = -sign
    return dict(
        coord=coord.astype(dtype),
        color=rs.randint(0, 256, (n, 3)).astype(np.float32),
        normal=normal.astype(np.float32),
        segment=rs.randint(0, 20, n).astype(np.int32),
        instance=rs.randint(-1, 30, n).astype(np.int32),
    )


def assert_bits_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def rng_state():
    st = np.random.get_state()
    return st[1].tobytes(), st[2:], random.getstate()


def same_draws(fast, ref, seed):
    """Run ``fast()`` and ``ref()`` from the same seeds; return both results (RNG states must match)."""
    random.seed(seed)
    np.random.seed(seed)
    a = fast()
    after_fast = rng_state()
    random.seed(seed)
    np.random.seed(seed)
    b = ref()
    assert rng_state() == after_fast, "different RNG consumption"
    return a, b


# --------------------------------------------------------------------------- reference formulas


def ref_elastic(coords, granularity, magnitude):
    blurs = [np.ones(s, dtype=np.float32) / 3 for s in ((3, 1, 1, 1), (1, 3, 1, 1), (1, 1, 3, 1))]
    coords_min = coords.min(0)
    noise_dim = ((coords - coords_min).max(0) // granularity).astype(int) + 3
    noise = np.random.randn(*noise_dim, 3).astype(np.float32)
    for _ in range(2):
        for blur in blurs:
            noise = scipy.ndimage.convolve(noise, blur, mode="constant", cval=0)
    ax = [
        np.linspace(lo, hi, d)
        for lo, hi, d in zip(coords_min - granularity, coords_min + granularity * (noise_dim - 2), noise_dim)
    ]
    interp = RegularGridInterpolator(ax, noise, bounds_error=False, fill_value=0)
    coords = coords.copy()
    coords += interp(coords) * magnitude
    return coords


def ref_fnv(arr):
    arr = arr.astype(np.uint64)
    h = np.uint64(14695981039346656037) * np.ones(arr.shape[0], dtype=np.uint64)
    for j in range(arr.shape[1]):
        h *= np.uint64(1099511628211)
        h = np.bitwise_xor(h, arr[:, j])
    return h


def ref_grid_sample_train(data, grid_size):
    scaled = data["coord"] / np.array(grid_size)
    grid = np.floor(scaled).astype(int)
    grid -= grid.min(0)
    key = ref_fnv(grid)
    idx_sort = np.argsort(key)
    _, count = np.unique(key[idx_sort], return_counts=True)
    start = np.cumsum(np.insert(count, 0, 0)[:-1])
    idx_unique = idx_sort[start + np.random.randint(0, count.max(), count.size) % count]
    out = {k: v[idx_unique] for k, v in data.items()}
    out["grid_coord"] = grid[idx_unique]
    return out


def ref_rotate(data, angle, axis, center, p):
    if random.random() > p:
        return data
    a = np.random.uniform(angle[0], angle[1]) * np.pi
    c, s = np.cos(a), np.sin(a)
    rot = {
        "x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
        "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
    }[axis]
    data = dict(data)
    coord = data["coord"].copy()
    if center is None:
        x_min, y_min, z_min = coord.min(0)
        x_max, y_max, z_max = coord.max(0)
        center = [(x_min + x_max) / 2, (y_min + y_max) / 2, (z_min + z_max) / 2]
    coord -= center
    coord = np.dot(coord, np.transpose(rot))
    coord += center
    data["coord"] = coord
    data["normal"] = np.dot(data["normal"], np.transpose(rot))
    return data


def ref_center_shift(data, apply_z):
    coord = data["coord"].copy()
    x_min, y_min, z_min = coord.min(0)
    x_max, y_max, _ = coord.max(0)
    coord -= [(x_min + x_max) / 2, (y_min + y_max) / 2, z_min if apply_z else 0]
    return coord


def ref_scale_flip_jitter(data):
    coord, normal = data["coord"].copy(), data["normal"].copy()
    coord *= np.random.uniform(0.9, 1.1, 1)
    if np.random.rand() < 0.5:
        coord[:, 0] = -coord[:, 0]
        normal[:, 0] = -normal[:, 0]
    if np.random.rand() < 0.5:
        coord[:, 1] = -coord[:, 1]
        normal[:, 1] = -normal[:, 1]
    coord += np.clip(0.005 * np.random.randn(coord.shape[0], 3), -0.02, 0.02)
    return coord, normal


def ref_chromatic(color):
    color = color.copy()
    if np.random.rand() < 0.6:  # auto contrast
        lo = np.min(color, 0, keepdims=True)
        hi = np.max(color, 0, keepdims=True)
        scale = 255 / (hi - lo)
        contrast = (color[:, :3] - lo) * scale
        blend = np.random.rand()
        color[:, :3] = (1 - blend) * color[:, :3] + blend * contrast
    if np.random.rand() < 0.95:  # translation
        tr = (np.random.rand(1, 3) - 0.5) * 255 * 2 * 0.05
        color[:, :3] = np.clip(tr + color[:, :3], 0, 255)
    if np.random.rand() < 0.95:  # jitter
        noise = np.random.randn(color.shape[0], 3)
        noise *= 0.05 * 255
        color[:, :3] = np.clip(noise + color[:, :3], 0, 255)
    return color


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elastic_distortion_matches_scipy_reference(dtype):
    data = room(dtype=dtype)
    for seed in range(3):
        fast, ref = same_draws(
            lambda: ElasticDistortion([[0.2, 0.4], [0.8, 1.6]])(data)["coord"],
            lambda: ref_elastic(ref_elastic(data["coord"], 0.2, 0.4), 0.8, 1.6) if random.random() < 0.95 else data["coord"],
            seed,
        )
        assert_bits_equal(fast, ref)
    one, ref = same_draws(lambda: elastic_distortion(data["coord"], 0.05, 0.1), lambda: ref_elastic(data["coord"], 0.05, 0.1), 7)
    assert_bits_equal(one, ref)


def test_box_blur_and_trilinear_match_scipy_on_room_sized_grids():
    rs = np.random.RandomState(3)
    for shape in [(28, 28, 18, 3), (9, 9, 6, 3), (1, 40, 2, 3), (2, 1, 1, 3)]:
        noise = rs.randn(*shape).astype(np.float32)
        noise[rs.rand(*shape) < 0.05] = 0.0
        noise[rs.rand(*shape) < 0.05] = -0.0
        for axis in range(3):
            kernel = [1, 1, 1, 1]
            kernel[axis] = 3
            ref = scipy.ndimage.convolve(noise, np.ones(kernel, np.float32) / 3, mode="constant", cval=0)
            assert_bits_equal(_box_blur3(noise, axis), ref)
    values = rs.randn(28, 28, 18, 3).astype(np.float32)
    axes = [np.linspace(-2.7, 2.7, 28), np.linspace(-2.7, 2.7, 28), np.linspace(-1.7, 1.7, 18)]
    pts = room(30000, seed=4)["coord"].astype(np.float64)
    pts[:500] = np.array([rs.choice(ax, 500) for ax in axes]).T  # exactly on grid planes
    ref = RegularGridInterpolator(axes, values, bounds_error=False, fill_value=0)(pts)
    assert_bits_equal(_trilinear(axes, values, pts), ref)


def test_col_min_max_equal_axis0_reductions_incl_zero_signs():
    rs = np.random.RandomState(0)
    for it in range(400):
        shape = (rs.randint(1, 50) if it % 3 else rs.randint(128, 2000), rs.randint(1, 5))
        a = rs.choice([-1.0, -0.0, 0.0, 2.0, np.nan] if it % 4 == 0 else [-0.0, 0.0, 1.0], shape)
        if it % 5 == 1:
            a = rs.randn(*shape)
        a = a.astype([np.float32, np.float64][it % 2]) if it % 3 else rs.randint(-3, 3, shape).astype(np.int32)
        if it % 7 == 0:
            a = a[::2]  # not contiguous
        for fast, ref in ((col_min(a), a.min(0)), (col_max(a), a.max(0))):
            assert_bits_equal(fast, ref)
            assert np.array_equal(np.signbit(fast), np.signbit(ref))


def test_apply_rows_equals_in_place_broadcast():
    rs = np.random.RandomState(1)
    for it in range(60):
        a = (rs.randn(rs.randint(0, 300), 3) * 10).astype([np.float32, np.float64, np.int64][it % 3])
        for v in (rs.randn(3).astype(np.float32), rs.randn(3), [1, 2, 3], [0.5] * 3, rs.randn(1, 3), np.float32(2.0), 3, 0.1):
            for ufunc in (np.add, np.subtract, np.multiply):
                try:
                    ref = a.copy()
                    ufunc(ref, v, out=ref, casting="same_kind")
                except TypeError:
                    with pytest.raises(TypeError):
                        apply_rows(ufunc, a, v, np.empty_like(a))
                    continue
                assert_bits_equal(apply_rows(ufunc, a, v, np.empty_like(a)), ref)


@pytest.mark.parametrize("grid_size", [0.02, 0.05, [0.05, 0.02, 0.1]])
def test_grid_sample_train_matches_reference(grid_size):
    data = room(seed=1)
    for seed in range(3):
        fast, ref = same_draws(
            lambda: GridSample(grid_size=grid_size, hash_type="fnv", mode="train", return_grid_coord=True)(data),
            lambda: ref_grid_sample_train(data, grid_size),
            seed,
        )
        for key in ("coord", "color", "normal", "segment", "instance", "grid_coord"):
            assert_bits_equal(fast[key], ref[key])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rotations_center_shift_scale_flip_jitter_match_reference(dtype):
    data = room(seed=2, dtype=dtype)
    configs = [
        dict(angle=[-1, 1], axis="z", center=[0, 0, 0], p=0.5),
        dict(angle=[-1 / 64, 1 / 64], axis="x", center=None, p=0.5),
        dict(angle=[-1 / 64, 1 / 64], axis="y", center=None, p=1.0),
    ]
    for cfg in configs:
        for seed in range(4):
            fast, ref = same_draws(lambda: RandomRotate(**cfg)(data), lambda: ref_rotate(data, **cfg), seed)
            assert_bits_equal(fast["coord"], ref["coord"])
            assert_bits_equal(fast["normal"], ref["normal"])
    for apply_z in (True, False):
        assert_bits_equal(CenterShift(apply_z=apply_z)(data)["coord"], ref_center_shift(data, apply_z))

    def fast_chain():
        out = RandomJitter(sigma=0.005, clip=0.02)(RandomFlip(p=0.5)(RandomScale(scale=[0.9, 1.1])(data)))
        return out["coord"], out["normal"]

    for seed in range(6):
        (fc, fn), (rc, rn) = same_draws(fast_chain, lambda: ref_scale_flip_jitter(data), seed)
        assert_bits_equal(fc, rc)
        assert_bits_equal(fn, rn)


def test_chromatic_transforms_match_reference():
    data = room(seed=3)
    data["color"][:50] = 0.0  # zero minima

    def fast():
        out = ChromaticAutoContrast(p=0.6)(data)
        out = ChromaticTranslation(p=0.95, ratio=0.05)(out)
        return ChromaticJitter(p=0.95, std=0.05)(out)["color"]

    for seed in range(8):
        a, b = same_draws(fast, lambda: ref_chromatic(data["color"]), seed)
        assert_bits_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rotation_centers_incl_signed_zeros_match_reference(dtype):
    """RandomRotate skips a +0 center and subtracts float32 centers into float64 directly:
    -0 coordinates, a -0 center entry and float64 centers on float32 coords must still match."""
    data = room(seed=5, dtype=dtype)
    data["coord"][:300] = np.array([-0.0, 0.0, -0.0], dtype=dtype)
    data["normal"][:300] = -0.0
    for center in ([0, 0, 0], [0.0, -0.0, 0.0], [-0.0, -0.0, -0.0], [0.5, 0.25, 0], np.float32([0.5, -1.25, 2.0])):
        cfg = dict(angle=[-1, 1], axis="z", center=center, p=1.0)
        for seed in range(2):
            fast, ref = same_draws(lambda: RandomRotate(**cfg)(data), lambda: ref_rotate(data, **cfg), seed)
            assert_bits_equal(fast["coord"], ref["coord"])
            assert_bits_equal(fast["normal"], ref["normal"])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32])
def test_flip_negates_like_the_reference_for_special_values(dtype):
    """RandomFlip flips sign bits with one XOR pass: NaN, ±inf, ±0 and subnormals must come out
    exactly as ``arr[:, axis] = -arr[:, axis]``."""
    rs = np.random.RandomState(6)
    coord = rs.randn(500, 3)
    if dtype != np.int32:
        special = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, np.finfo(dtype).tiny / 4, -np.finfo(dtype).max]
        coord[: len(special)] = np.array(special)[:, None]
    data = dict(coord=coord.astype(dtype), normal=rs.randn(500, 3).astype(dtype)[:, ::-1])  # normal: a strided view
    for seed in range(8):
        def ref():
            coord, normal = data["coord"].copy(), data["normal"].copy()
            for axis in (0, 1):
                if np.random.rand() < 0.5:
                    coord[:, axis] = -coord[:, axis]
                    normal[:, axis] = -normal[:, axis]
            return coord, normal

        fast, want = same_draws(lambda: (lambda o: (o["coord"], o["normal"]))(RandomFlip(p=0.5)(data)), ref, seed)
        for a, b in zip(fast, want):
            assert_bits_equal(a, b)
