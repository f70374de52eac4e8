"""GridSample (hashes, train/test modes), SphereCrop, RandomDropout, ShufflePoint, CropBoundary."""
import copy

import numpy as np
import pytest

from pointlab.data.transforms import (
    CropBoundary,
    GridSample,
    RandomDropout,
    ShufflePoint,
    SphereCrop,
    index_operator,
)
from pointlab.data.transforms.sampling import fnv_hash_vec, ravel_hash_vec

M64 = 2**64


def py_fnv(row):
    h = 14695981039346656037
    for v in row:
        h = (h * 1099511628211) % M64
        h ^= int(v)
    return h


def cloud(n=200, seed=0):
    rs = np.random.RandomState(seed)
    return dict(
        coord=(rs.rand(n, 3) * [1.0, 0.8, 0.5]).astype(np.float32),
        color=(rs.rand(n, 3) * 255).astype(np.float32),
        normal=rs.randn(n, 3).astype(np.float32),
        segment=rs.randint(-1, 5, n).astype(np.int32),
        instance=rs.randint(-1, 4, n).astype(np.int32),
        name="scene0000_00",
        origin_segment=rs.randint(0, 3, n),
    )


def test_fnv_hash_matches_python_integers_mod_2_64():
    rows = np.array([[0, 0, 0], [1, 2, 3], [3, 2, 1], [250, 0, 7], [123456, 654321, 99], [2**40, 5, 2**33]], dtype=np.int64)
    got = fnv_hash_vec(rows)
    assert got.dtype == np.uint64
    assert [int(x) for x in got] == [py_fnv(r) for r in rows.tolist()]
    # multiply-then-xor, not FNV-1a (xor-then-multiply)
    fnv1a = 14695981039346656037
    for v in (1, 2, 3):
        fnv1a = ((fnv1a ^ v) * 1099511628211) % M64
    assert int(got[1]) != fnv1a


def test_ravel_hash_is_row_major_after_min():
    rows = np.array([[2, 3, 4], [3, 3, 4], [2, 5, 6], [4, 4, 5]])
    # extent after subtracting min (2,3,4): x 0..2, y 0..2 (Ymax 3), z 0..2 (Zmax 3)
    expect = [((x - 2) * 3 + (y - 3)) * 3 + (z - 4) for x, y, z in rows.tolist()]
    assert ravel_hash_vec(rows).tolist() == expect


HAND = np.array(
    [
        [0.1, 0.1, 0.1],  # voxel (0,0,0)
        [1.5, 0.2, 0.3],  # (1,0,0)
        [0.7, 0.4, 0.9],  # (0,0,0)
        [1.2, 0.9, 0.1],  # (1,0,0)
        [0.3, 2.5, 0.5],  # (0,2,0)
        [0.5, 0.5, 0.5],  # (0,0,0)
    ],
    dtype=np.float32,
) + np.float32(-3.0)  # negative coordinates: voxel indices are taken relative to the minimum


def _expected_voxels(coord, grid_size):
    g = np.floor(coord.astype(np.float64) / grid_size).astype(np.int64)
    g = g - g.min(0)
    keys = np.array([py_fnv(r) for r in g.tolist()], dtype=np.uint64)
    idx_sort = np.argsort(keys)  # the reference's (default-kind) argsort
    ks = keys[idx_sort]
    _, start, count = np.unique(ks, return_index=True, return_counts=True)
    return g, idx_sort, start, count


def test_grid_sample_train_picks_seeded_random_member_in_key_order():
    data = dict(coord=HAND.copy(), segment=np.arange(6), name="x")
    g, idx_sort, start, count = _expected_voxels(HAND, 1.0)
    assert sorted(count.tolist()) == [1, 2, 3]
    np.random.seed(7)
    r = np.random.randint(0, count.max(), count.size)
    expected = idx_sort[start + r % count]
    np.random.seed(7)
    out = GridSample(grid_size=1.0, return_grid_coord=True, return_inverse=True, return_min_coord=True)(data)
    assert out["segment"].tolist() == expected.tolist()
    np.testing.assert_array_equal(out["coord"], HAND[expected])
    np.testing.assert_array_equal(out["grid_coord"], g[expected])
    assert out["grid_coord"].dtype == np.int64 and out["grid_coord"].min() == 0
    assert "grid_coord" in out["index_valid_keys"]
    # inverse: every input point → the output row of its voxel
    assert out["inverse"].shape == (6,)
    np.testing.assert_array_equal(out["grid_coord"][out["inverse"]], g)
    np.testing.assert_allclose(out["min_coord"], [[-3.0, -3.0, -3.0]])
    assert out["name"] == "x"
    # train mode is seeded by numpy's global RNG only
    np.random.seed(7)
    again = GridSample(grid_size=1.0)(dict(coord=HAND.copy(), segment=np.arange(6)))
    assert again["segment"].tolist() == expected.tolist()


def test_grid_sample_every_voxel_once_and_displacement():
    data = cloud(500)
    out = GridSample(grid_size=0.1, return_grid_coord=True, return_displacement=True)(data)
    g = np.floor(data["coord"].astype(np.float64) / 0.1).astype(np.int64)
    g -= g.min(0)
    assert len(np.unique(out["grid_coord"], axis=0)) == len(out["coord"]) == len(np.unique(g, axis=0))
    assert out["displacement"].shape == (len(out["coord"]), 3)
    assert np.all(out["displacement"] >= -0.5) and np.all(out["displacement"] < 0.5)
    # non-indexed keys untouched; indexed keys aligned
    assert out["origin_segment"] is data["origin_segment"]
    assert len(out["segment"]) == len(out["color"]) == len(out["coord"])
    proj = GridSample(grid_size=0.1, return_displacement=True, project_displacement=True)(data)
    assert proj["displacement"].shape == (len(proj["coord"]), 1)


def test_grid_sample_ravel_groups_like_fnv():
    data = cloud(300, seed=1)
    a = GridSample(grid_size=0.1, hash_type="ravel", return_grid_coord=True)(data)
    b = GridSample(grid_size=0.1, hash_type="fnv", return_grid_coord=True)(data)
    as_set = lambda gc: {tuple(r) for r in gc.tolist()}
    assert as_set(a["grid_coord"]) == as_set(b["grid_coord"])
    # ravel keys ascend with the row-major voxel index
    gc = a["grid_coord"]
    lin = (gc[:, 0] * (gc[:, 1].max() + 1) + gc[:, 1]) * (gc[:, 2].max() + 1) + gc[:, 2]
    assert np.all(np.diff(lin) > 0)


def test_grid_sample_test_mode_parts_cover_every_voxel():
    data = dict(coord=HAND.copy(), segment=np.arange(6), name="x")
    g, idx_sort, start, count = _expected_voxels(HAND, 1.0)
    parts = GridSample(grid_size=1.0, mode="test", return_grid_coord=True, return_inverse=True)(data)
    assert isinstance(parts, list) and len(parts) == count.max() == 3
    seen = set()
    for i, part in enumerate(parts):
        np.testing.assert_array_equal(part["index"], idx_sort[start + i % count])
        assert part["index"].dtype == np.int64
        # one point per voxel, every voxel once
        vox = {tuple(r) for r in part["grid_coord"].tolist()}
        assert len(vox) == len(part["index"]) == len(count)
        np.testing.assert_array_equal(part["coord"], HAND[part["index"]])
        np.testing.assert_array_equal(part["segment"], part["index"])
        assert part["name"] == "x"
        np.testing.assert_array_equal(part["grid_coord"][part["inverse"]], g)
        seen |= set(part["index"].tolist())
    assert seen == set(range(6))


def test_grid_sample_rejects_nan_and_handles_empty():
    data = cloud(10)
    data["coord"][[2, 5]] = [np.nan, 0, 0]
    data["coord"][7, 1] = np.inf
    with pytest.raises(ValueError, match=r"'coord' has 3 of 10 rows"):
        GridSample(grid_size=0.1)(data)
    empty = dict(coord=np.zeros((0, 3), np.float32), segment=np.zeros(0, np.int64))
    out = GridSample(grid_size=0.1, return_grid_coord=True, return_inverse=True)(empty)
    assert out["coord"].shape == (0, 3) and out["grid_coord"].shape == (0, 3) and out["inverse"].shape == (0,)
    assert GridSample(grid_size=0.1, mode="test")(empty) == []
    with pytest.raises(ValueError, match="mode"):
        GridSample(mode="val")


def test_grid_sample_keeps_sampled_index_points():
    data = cloud(400, seed=3)
    data["sampled_index"] = np.array([0, 17, 399])
    np.random.seed(0)
    out = GridSample(grid_size=0.2)(data)
    labelled = data["coord"][[0, 17, 399]]
    np.testing.assert_array_equal(out["coord"][out["sampled_index"]], labelled)


def test_sphere_crop_sizes_and_nearest_first_order():
    data = cloud(300, seed=2)
    out = SphereCrop(point_max=100, mode="center")(data)
    assert len(out["coord"]) == 100 and len(out["segment"]) == 100
    centre = data["coord"][150]
    np.testing.assert_array_equal(out["coord"][0], centre)
    d = np.sum((out["coord"] - centre) ** 2, 1)
    assert np.all(np.diff(d) >= 0)
    # the kept points are exactly the 100 nearest
    all_d = np.sort(np.sum((data["coord"] - centre) ** 2, 1))
    assert d.max() <= all_d[100]
    assert len(SphereCrop(sample_rate=0.8)(data)["coord"]) == int(0.8 * 300)
    np.random.seed(4)
    c = np.random.randint(300)
    np.random.seed(4)
    rnd = SphereCrop(point_max=50)(data)
    np.testing.assert_array_equal(rnd["coord"][0], data["coord"][c])
    # no-op when small enough, and on empty clouds
    assert SphereCrop(point_max=300)(data) is data
    empty = dict(coord=np.zeros((0, 3), np.float32))
    assert len(SphereCrop(point_max=10)(empty)["coord"]) == 0


def test_sphere_crop_all_and_given_modes():
    data = cloud(300, seed=5)
    data["index"] = np.arange(300) + 1000
    np.random.seed(0)
    parts = SphereCrop(point_max=80, mode="all")(data)
    assert len(parts) >= 4 and all(len(p["coord"]) == 80 for p in parts)
    assert set(np.concatenate([p["index"] for p in parts]).tolist()) == set(range(1000, 1300))
    assert all(np.all(np.diff(p["weight"]) >= 0) for p in parts)
    corr = -np.ones((300, 2, 2), dtype=np.int64)
    corr[:10] = 1
    data["correspondence"] = corr
    out = SphereCrop(point_max=50, mode="given")(data)
    centre = data["coord"][:10].mean(0)
    d = np.sum((out["coord"] - centre) ** 2, 1)
    assert len(d) == 50 and np.all(np.diff(d) >= 0)


def test_random_dropout(monkeypatch):
    data = cloud(100)
    monkeypatch.setattr("random.random", lambda: 0.1)
    np.random.seed(1)
    expect = np.random.choice(100, 80, replace=False)
    np.random.seed(1)
    out = RandomDropout(dropout_ratio=0.2, dropout_application_ratio=0.2)(data)
    np.testing.assert_array_equal(out["coord"], data["coord"][expect])
    np.testing.assert_array_equal(out["segment"], data["segment"][expect])
    assert out["origin_segment"] is data["origin_segment"]
    monkeypatch.setattr("random.random", lambda: 0.2)  # u < p is false → no dropout
    assert RandomDropout(0.2, 0.2)(data) is data
    data["sampled_index"] = np.array([3, 50])
    monkeypatch.setattr("random.random", lambda: 0.0)
    out = RandomDropout(0.9, 1.0)(data)
    np.testing.assert_array_equal(out["coord"][out["sampled_index"]], data["coord"][[3, 50]])


def test_shuffle_and_crop_boundary_and_index_operator():
    data = cloud(50)
    snapshot = copy.deepcopy(data)
    np.random.seed(3)
    perm = np.arange(50)
    np.random.shuffle(perm)
    np.random.seed(3)
    out = ShufflePoint()(data)
    np.testing.assert_array_equal(out["coord"], data["coord"][perm])
    np.testing.assert_array_equal(out["instance"], data["instance"][perm])
    out = CropBoundary()(data)
    keep = (data["segment"] != 0) & (data["segment"] != 1)
    np.testing.assert_array_equal(out["segment"], data["segment"][keep])
    np.testing.assert_array_equal(out["color"], data["color"][keep])
    # custom index_valid_keys: only listed keys are indexed
    data2 = dict(data, index_valid_keys=["coord"])
    out = index_operator(data2, np.array([0, 1]))
    assert out["coord"].shape == (2, 3) and out["color"].shape == (50, 3)
    for k, v in snapshot.items():  # inputs never modified
        np.testing.assert_array_equal(data[k], v)
    assert "index_valid_keys" not in data
