"""Point-cloud file readers and writers: round trips for every format, colour scaling, errors, normals."""
import numpy as np
import pytest

from pointlab.data.io import (
    PointCloudFileError,
    estimate_normals,
    read_point_cloud,
    write_npz,
    write_ply,
    write_txt,
)


def _cloud(n=50, seed=0):
    rng = np.random.default_rng(seed)
    coord = rng.uniform(-5, 5, (n, 3))
    color = rng.integers(0, 256, (n, 3)).astype(np.float32)
    normal = rng.normal(size=(n, 3)).astype(np.float32)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    label = rng.integers(-1, 20, n)
    instance = rng.integers(-1, 8, n)
    return coord, color, normal, label, instance


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("with_color,with_normal", [(False, False), (True, False), (False, True), (True, True)])
def test_ply_round_trip(tmp_path, binary, with_color, with_normal):
    coord, color, normal, label, instance = _cloud()
    path = write_ply(tmp_path / "c.ply", coord, color=color if with_color else None,
                     normal=normal if with_normal else None, label=label, instance=instance, binary=binary)
    header = path.read_bytes()[:400]
    assert (b"binary_little_endian" in header) == binary and (b"ascii" in header) == (not binary)
    out = read_point_cloud(path)
    assert out["coord"].dtype == np.float64
    np.testing.assert_allclose(out["coord"], coord, atol=1e-5)
    assert ("color" in out) == with_color and ("normal" in out) == with_normal
    if with_color:
        assert out["color"].dtype == np.float32
        np.testing.assert_array_equal(out["color"], color)
    if with_normal:
        np.testing.assert_allclose(out["normal"], normal, atol=1e-6)
    np.testing.assert_array_equal(out["segment"], label)
    np.testing.assert_array_equal(out["instance"], instance)


def test_ply_keeps_large_coordinates_and_reads_16_bit_and_foreign_fields(tmp_path):
    from plyfile import PlyData, PlyElement

    coord = np.array([[500000.123, 5000000.456, 12.5], [500001.0, 5000001.0, 13.0]])
    out = read_point_cloud(write_ply(tmp_path / "utm.ply", coord))
    np.testing.assert_allclose(out["coord"], coord, atol=1e-6)  # float64 when float32 would round

    v = np.zeros(2, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u2"), ("green", "u2"), ("blue", "u2"),
                           ("scalar_Label", "f4")])
    v["red"], v["green"], v["blue"], v["scalar_Label"] = [65535, 0], [257, 0], [0, 514], [3, 7]
    PlyData([PlyElement.describe(v, "vertex")]).write(str(tmp_path / "cc.ply"))
    out = read_point_cloud(tmp_path / "cc.ply")
    np.testing.assert_allclose(out["color"], [[255, 1, 0], [0, 0, 2]])
    np.testing.assert_array_equal(out["segment"], [3, 7])


def test_npy_npz_and_txt_round_trips(tmp_path):
    coord, color, normal, label, instance = _cloud()
    # .npy: columns x y z [r g b] [nx ny nz]
    for cols in (coord, np.c_[coord, color], np.c_[coord, color, normal]):
        np.save(tmp_path / "a.npy", cols)
        out = read_point_cloud(tmp_path / "a.npy")
        np.testing.assert_allclose(out["coord"], coord)
        assert ("color" in out) == (cols.shape[1] >= 6) and ("normal" in out) == (cols.shape[1] == 9)
    np.testing.assert_allclose(out["color"], color)
    np.testing.assert_allclose(out["normal"], normal, atol=1e-6)
    # .npz: named arrays
    out = read_point_cloud(write_npz(tmp_path / "b.npz", coord=coord, normal=normal, segment=label, instance=instance))
    assert "color" not in out
    np.testing.assert_allclose(out["normal"], normal, atol=1e-6)
    np.testing.assert_array_equal(out["segment"], label)
    np.testing.assert_array_equal(out["instance"], instance)
    # .txt / .xyz: x y z [r g b] [nx ny nz] [label]
    out = read_point_cloud(write_txt(tmp_path / "c.txt", coord, color, normal, label=label))
    np.testing.assert_allclose(out["coord"], coord, atol=1e-6)
    np.testing.assert_array_equal(out["color"], color)
    np.testing.assert_allclose(out["normal"], normal, atol=1e-6)
    np.testing.assert_array_equal(out["segment"], label)
    out = read_point_cloud(write_txt(tmp_path / "d.xyz", coord))
    assert set(out) == {"coord"}


def test_text_variants_comma_header_and_unit_colours(tmp_path):
    path = tmp_path / "pts.csv"
    path.write_text("# x,y,z,r,g,b\n0,0,0,1.0,0.5,0\n1,2,3,0,0,1\n")
    out = read_point_cloud(path)
    np.testing.assert_allclose(out["coord"], [[0, 0, 0], [1, 2, 3]])
    np.testing.assert_allclose(out["color"], [[255, 127.5, 0], [0, 0, 255]])  # 0..1 colours scaled


def test_read_errors_name_the_file_and_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.ply"):
        read_point_cloud(tmp_path / "nope.ply")
    (tmp_path / "x.obj").write_text("v 0 0 0\n")
    with pytest.raises(PointCloudFileError, match=r"unsupported file type '\.obj'"):
        read_point_cloud(tmp_path / "x.obj")
    (tmp_path / "bad.txt").write_text("1 2\n3 4\n")
    with pytest.raises(PointCloudFileError, match=r"bad.txt.*3, 6 or 9 columns"):
        read_point_cloud(tmp_path / "bad.txt")
    np.save(tmp_path / "nan.npy", np.array([[0, 0, 0], [np.nan, 1, 1.0]]))
    with pytest.raises(PointCloudFileError, match=r"1 of 2 points have NaN"):
        read_point_cloud(tmp_path / "nan.npy")
    (tmp_path / "broken.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 5\n")
    with pytest.raises(PointCloudFileError, match="broken.ply"):
        read_point_cloud(tmp_path / "broken.ply")
    np.savez(tmp_path / "nocoord.npz", xyz=np.zeros((3, 3)))
    with pytest.raises(PointCloudFileError, match="no 'coord' array"):
        read_point_cloud(tmp_path / "nocoord.npz")


def test_las_round_trip_or_a_clear_install_hint(tmp_path, monkeypatch):
    coord, color, _, label, _ = _cloud()
    try:
        import laspy
    except ImportError:
        laspy = None
    if laspy is None:  # without the extra: the error names it
        (tmp_path / "a.las").write_bytes(b"LASF")
        with pytest.raises(ImportError, match=r"pip install 'pointlab\[las\]'"):
            read_point_cloud(tmp_path / "a.las")
        return
    header = laspy.LasHeader(point_format=3, version="1.2")
    header.offsets = coord.min(0)
    header.scales = np.array([0.001, 0.001, 0.001])
    las = laspy.LasData(header)
    las.x, las.y, las.z = coord[:, 0], coord[:, 1], coord[:, 2]
    las.red, las.green, las.blue = (color.astype(np.uint16) * 257).T
    las.classification = np.clip(label, 0, 20).astype(np.uint8)
    las.write(str(tmp_path / "a.las"))
    out = read_point_cloud(tmp_path / "a.las")
    np.testing.assert_allclose(out["coord"], coord, atol=1e-3)
    np.testing.assert_allclose(out["color"], color)
    np.testing.assert_array_equal(out["segment"], np.clip(label, 0, 20))
    # and the hint when laspy is missing
    import builtins

    real_import = builtins.__import__

    def no_laspy(name, *args, **kwargs):
        if name == "laspy":
            raise ImportError("No module named 'laspy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_laspy)
    with pytest.raises(ImportError, match=r"pip install 'pointlab\[las\]'"):
        read_point_cloud(tmp_path / "a.las")


def test_estimate_normals_on_planes_points_into_the_room():
    rng = np.random.default_rng(0)
    floor = np.c_[rng.uniform(0, 4, (400, 2)), np.zeros(400)]
    wall = np.c_[rng.uniform(0, 4, 300), np.zeros(300), rng.uniform(0, 2.5, 300)]
    n = estimate_normals(np.concatenate([floor, wall]), k=12, chunk=128)  # several blocks
    assert n.dtype == np.float32 and n.shape == (700, 3)
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-5)
    inner_floor = (floor[:, 1] > 0.3)  # away from the wall's edge
    assert (n[:400][inner_floor, 2] > 0.95).all()  # floor normals up (towards the box centre)
    inner_wall = wall[:, 2] > 0.3
    assert (n[400:][inner_wall, 1] > 0.95).all()  # wall normals into the room (+y)
