"""Coordinate transforms: exact values on hand-made clouds, RNG use, the RandomRotate p quirk."""
import copy
import random

import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator

from pointlab.data.transforms import (
    CenterShift,
    ClipGaussianJitter,
    ElasticDistortion,
    NormalizeCoord,
    PointClip,
    PositiveShift,
    RandomFlip,
    RandomJitter,
    RandomRotate,
    RandomRotateTargetAngle,
    RandomScale,
    RandomShift,
)
from pointlab.data.transforms import geometry
from pointlab.data.transforms.geometry import _trilinear, elastic_distortion

COORD = np.array([[0.0, 0.0, 1.0], [2.0, 4.0, 3.0], [1.0, 1.0, 2.0]], dtype=np.float32)
NORMAL = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)


def sample():
    return dict(coord=COORD.copy(), normal=NORMAL.copy(), name="a")


def test_center_shift():
    out = CenterShift(apply_z=True)(sample())
    np.testing.assert_allclose(out["coord"], COORD - [1.0, 2.0, 1.0])
    assert out["coord"].dtype == np.float32
    out = CenterShift(apply_z=False)(sample())
    np.testing.assert_allclose(out["coord"], COORD - [1.0, 2.0, 0.0])
    empty = dict(coord=np.zeros((0, 3), np.float32))
    assert CenterShift()(empty)["coord"].shape == (0, 3)


def test_normalize_positive_clip_shift():
    out = NormalizeCoord()(sample())
    assert np.isclose(np.linalg.norm(out["coord"], axis=1).max(), 1.0)
    np.testing.assert_allclose(out["coord"].mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(PositiveShift()(sample())["coord"].min(0), 0)
    clipped = PointClip(point_cloud_range=(0, 0, 0, 1.5, 1.5, 1.5))(sample())["coord"]
    np.testing.assert_allclose(clipped[1], [1.5, 1.5, 1.5])
    np.random.seed(0)
    expect = [np.random.uniform(-0.2, 0.2), np.random.uniform(-0.2, 0.2), np.random.uniform(0, 0)]
    np.random.seed(0)
    np.testing.assert_allclose(RandomShift()(sample())["coord"], COORD + np.array(expect, dtype=np.float32), rtol=1e-6)


@pytest.mark.parametrize("u, applied", [(0.5, True), (0.4999, True), (0.5001, False), (1.0, False)])
def test_random_rotate_skips_iff_u_greater_than_p(monkeypatch, u, applied):
    monkeypatch.setattr(random, "random", lambda: u)
    out = RandomRotate(angle=[0.5, 0.5], axis="z", center=[0, 0, 0], p=0.5)(sample())
    if applied:
        np.testing.assert_allclose(out["coord"][1], [-4.0, 2.0, 3.0], atol=1e-6)
    else:
        np.testing.assert_array_equal(out["coord"], COORD)


def test_random_rotate_p0_still_applies_at_u0(monkeypatch):
    monkeypatch.setattr(random, "random", lambda: 0.0)  # u > p is false when u == p == 0
    out = RandomRotate(angle=[1, 1], axis="x", center=[0, 0, 0], p=0)(sample())
    np.testing.assert_allclose(out["coord"][1], [2.0, -4.0, -3.0], atol=1e-6)
    monkeypatch.setattr(random, "random", lambda: 0.99)
    out = RandomRotate(angle=[1, 1], axis="x", center=[0, 0, 0], p=0.1, always_apply=True)(sample())
    np.testing.assert_allclose(out["coord"][1], [2.0, -4.0, -3.0], atol=1e-6)


def test_random_rotate_right_handed_about_bbox_centre_and_normals(monkeypatch):
    monkeypatch.setattr(random, "random", lambda: 0.0)
    out = RandomRotate(angle=[0.5, 0.5], axis="z")(sample())  # +90° about the bbox centre (1, 2, 2)
    rel = COORD - [1.0, 2.0, 2.0]
    expect = np.stack([-rel[:, 1], rel[:, 0], rel[:, 2]], 1) + [1.0, 2.0, 2.0]
    np.testing.assert_allclose(out["coord"], expect, atol=1e-6)
    np.testing.assert_allclose(out["normal"], [[0, 1, 0], [-1, 0, 0], [0, 0, 1]], atol=1e-7)
    assert out["coord"].dtype == np.float64  # the reference's float64 rotation result
    out = RandomRotate(angle=[0.5, 0.5], axis="y", center=[0, 0, 0])(sample())
    np.testing.assert_allclose(out["normal"][0], [0, 0, -1], atol=1e-7)  # x → −z about +y
    with pytest.raises(ValueError, match="axis"):
        RandomRotate(axis="w")


def test_random_rotate_rng_calls(monkeypatch):
    random.seed(3)
    np.random.seed(3)
    random.random()
    second_u = random.random()
    angle = np.random.uniform(-1, 1) * np.pi
    random.seed(3)
    np.random.seed(3)
    out = RandomRotate(axis="z", center=[0, 0, 0], p=1.0)(sample())
    assert random.random() == second_u  # exactly one py-random draw per call
    c, s = np.cos(angle), np.sin(angle)
    np.testing.assert_allclose(out["coord"][1], [2 * c - 4 * s, 2 * s + 4 * c, 3.0], atol=1e-6)
    monkeypatch.setattr(random, "random", lambda: 0.0)
    np.random.seed(0)
    choice = np.random.choice((1 / 2, 1, 3 / 2))
    np.random.seed(0)
    out = RandomRotateTargetAngle(center=[0, 0, 0])(sample())
    c, s = np.cos(choice * np.pi), np.sin(choice * np.pi)
    np.testing.assert_allclose(out["coord"][1], [2 * c - 4 * s, 2 * s + 4 * c, 3.0], atol=1e-6)


def test_random_scale_and_flip():
    np.random.seed(5)
    f = np.random.uniform(0.9, 1.1, 1)
    np.random.seed(5)
    out = RandomScale(scale=[0.9, 1.1])(sample())
    np.testing.assert_allclose(out["coord"], COORD * f.astype(np.float32), rtol=1e-6)
    assert out["coord"].dtype == np.float32
    np.testing.assert_array_equal(out["normal"], NORMAL)
    out = RandomScale(scale=[2, 3], anisotropic=True)(sample())
    ratio = out["coord"][1] / COORD[1]
    assert np.all((ratio >= 2) & (ratio <= 3)) and len(set(np.round(ratio, 6))) == 3
    out = RandomFlip(p=1)(sample())
    np.testing.assert_array_equal(out["coord"], COORD * [-1, -1, 1])
    np.testing.assert_array_equal(out["normal"], NORMAL * [-1, -1, 1])
    np.testing.assert_array_equal(RandomFlip(p=0)(sample())["coord"], COORD)


def test_jitters():
    rs = np.random.RandomState(0)
    data = dict(coord=rs.rand(1000, 3).astype(np.float32))
    out = RandomJitter(sigma=0.05, clip=0.02)(data)
    d = out["coord"] - data["coord"]
    assert np.abs(d).max() <= 0.02 + 1e-6 and np.abs(d).max() > 0.019
    with pytest.raises(ValueError):
        RandomJitter(clip=0)
    out = ClipGaussianJitter(scalar=0.02, store_jitter=True)(data)
    assert np.abs(out["jitter"]).max() <= 0.02 + 1e-12
    np.testing.assert_allclose(out["coord"] - data["coord"], out["jitter"], atol=1e-6)


def test_trilinear_equals_regular_grid_interpolator(monkeypatch):
    monkeypatch.setattr(geometry, "_BLOCK", 64)  # several blocks per call
    rs = np.random.RandomState(1)
    for _ in range(30):
        dims = rs.randint(2, 12, 3)
        axes = [np.linspace(s, s + d * (rs.rand() * 0.5 + 0.01), d) for s, d in zip(rs.randn(3) * 3, dims)]
        values = rs.randn(*dims, 3).astype(np.float32)
        lo, hi = np.array([a[0] for a in axes]), np.array([a[-1] for a in axes])
        pts = lo + (hi - lo) * (rs.rand(200, 3) * 1.2 - 0.1)  # ~1/6 of the points outside → 0
        for d in range(3):
            pts[:40, d] = axes[d][rs.randint(0, dims[d], 40)]  # exactly on grid planes
            pts[40:50, d] = np.nextafter(axes[d][rs.randint(0, dims[d], 10)], -np.inf)  # just below them
        pts[60] = np.nan
        ref = RegularGridInterpolator(axes, values, bounds_error=False, fill_value=0)(pts)
        np.testing.assert_array_equal(_trilinear(axes, values, pts), ref)  # bit-identical


def test_elastic_distortion_smooth_bounded_and_seeded(monkeypatch):
    rs = np.random.RandomState(0)
    coord = (rs.rand(2000, 3) * [3, 2, 1]).astype(np.float32)
    np.random.seed(9)
    a = elastic_distortion(coord, 0.2, 0.4)
    np.random.seed(9)
    b = elastic_distortion(coord, 0.2, 0.4)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32
    d = a - coord
    assert 0 < np.abs(d).max() < 0.4  # smoothed N(0,1) noise (std ≈ 1/9 after 2×3 box blurs) × 0.4
    # nearby points move alike (smooth field)
    near = np.linalg.norm(coord[1:] - coord[:1], axis=1) < 0.01
    if near.any():
        assert np.abs(d[1:][near] - d[0]).max() < 0.05
    monkeypatch.setattr(random, "random", lambda: 0.96)  # not < 0.95 → skipped
    data = dict(coord=coord)
    assert ElasticDistortion()(data) is data
    monkeypatch.setattr(random, "random", lambda: 0.0)
    assert not np.array_equal(ElasticDistortion()(data)["coord"], coord)


def test_geometry_never_mutates_input(monkeypatch):
    monkeypatch.setattr(random, "random", lambda: 0.0)
    data = dict(coord=np.random.rand(50, 3).astype(np.float32), normal=np.random.rand(50, 3).astype(np.float32))
    snapshot = copy.deepcopy(data)
    for t in (CenterShift(), RandomRotate(p=1), RandomScale(), RandomFlip(p=1), RandomJitter(), ElasticDistortion(),
              NormalizeCoord(), PositiveShift(), RandomShift(), ClipGaussianJitter()):
        t(data)
        for k in data:
            np.testing.assert_array_equal(data[k], snapshot[k], err_msg=type(t).__name__)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elastic_distortion_leaves_its_input_alone(dtype):
    """Later passes work in place on the transform's own output, never on the caller's array."""
    rs = np.random.RandomState(0)
    coord = (rs.rand(3000, 3) * [2.0, 2.0, 1.0]).astype(dtype)
    before = coord.copy()
    random.seed(0)
    np.random.seed(0)
    out = ElasticDistortion([[0.2, 0.4], [0.8, 1.6], [0.4, 0.2]])(dict(coord=coord))["coord"]
    assert np.shares_memory(out, coord) is False and out.dtype == dtype
    assert coord.tobytes() == before.tobytes() and not np.array_equal(out, coord)
