"""Datasets: on-disk layouts, names/splits, casts, loop, split lists/files, concat, test mode, bad input."""
import json
import os

import numpy as np
import pytest
import torch

from pointlab.data.datasets import (
    ConcatDataset,
    DataRootError,
    DefaultDataset,
    S3DISDataset,
    ScanNet200Dataset,
    ScanNetDataset,
    SceneDataError,
    Structured3DDataset,
    build_dataset,
)


def write_scene(folder, n=10, seed=0, segment_key="segment", num_classes=13, extra=None, skip=(), **overrides):
    """Write one scene folder of ``n`` points; ``overrides`` replace arrays, ``skip`` omits files."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    arrays = {
        "coord": rng.uniform(0, 2, (n, 3)).astype(np.float32),
        "color": rng.integers(0, 256, (n, 3)).astype(np.uint8),
        "normal": np.tile(np.array([0, 0, 1], np.float32), (n, 1)),
        segment_key: rng.integers(-1, num_classes, n).astype(np.int64),
        "instance": rng.integers(-1, 4, n).astype(np.int64),
    }
    arrays.update(extra or {})
    arrays.update(overrides)
    for k, v in arrays.items():
        if k not in skip:
            np.save(os.path.join(folder, k + ".npy"), v)
    return arrays


@pytest.fixture
def scannet_root(tmp_path):
    root = tmp_path / "scannet"
    for split, scene, seed in [("train", "scene0001_00", 1), ("train", "scene0000_00", 0), ("val", "scene0002_00", 2)]:
        write_scene(root / split / scene, n=12, seed=seed, segment_key="segment20", num_classes=20,
                    extra={"segment200": np.random.default_rng(seed).integers(0, 200, 12)})
    (root / "train" / "README.txt").write_text("not a scene")  # stray files are not scenes
    return root


# -- layouts ----------------------------------------------------------------------------------------
def test_scannet_loads_casts_and_renames(scannet_root):
    ds = ScanNetDataset(split="train", data_root=str(scannet_root))
    assert len(ds) == 2
    assert [ds.get_data_name(i) for i in range(2)] == ["scene0000_00", "scene0001_00"]  # sorted order
    d = ds.get_data(0)
    raw = scannet_root / "train" / "scene0000_00"
    assert d["name"] == "scene0000_00" and d["split"] == "train"
    assert d["coord"].dtype == np.float32 and d["coord"].shape == (12, 3)
    assert d["color"].dtype == np.float32 and d["normal"].dtype == np.float32
    assert d["segment"].dtype == np.int32 and d["segment"].shape == (12,)
    assert d["instance"].dtype == np.int32
    np.testing.assert_array_equal(d["segment"], np.load(raw / "segment20.npy"))
    np.testing.assert_array_equal(d["color"], np.load(raw / "color.npy").astype(np.float32))
    assert "segment20" not in d and "segment200" not in d
    d200 = ScanNet200Dataset(split="train", data_root=str(scannet_root)).get_data(0)
    np.testing.assert_array_equal(d200["segment"], np.load(raw / "segment200.npy"))


def test_scannet_class_facts():
    assert len(ScanNetDataset.class_names) == 20 and ScanNetDataset.num_classes == 20
    assert len(ScanNet200Dataset.class_names) == 200 == len(set(ScanNet200Dataset.class_names))
    assert ScanNetDataset.class2id.tolist()[12:15] == [14, 16, 24]
    assert ScanNet200Dataset.class2id.shape == (200,) and ScanNet200Dataset.class2id[-1] == 1191
    assert ScanNet200Dataset.class_names[:3] == ("wall", "chair", "floor")
    assert S3DISDataset.num_classes == 13 and len(S3DISDataset.class_names) == 13
    assert Structured3DDataset.num_classes == 25 and len(Structured3DDataset.class_names) == 25


def test_missing_labels_are_filled_with_minus_one(tmp_path):
    write_scene(tmp_path / "test" / "scene0707_00", n=7, segment_key="segment20", skip=("segment20", "instance"))
    d = ScanNetDataset(split="test", data_root=str(tmp_path)).get_data(0)
    assert d["segment"].tolist() == [-1] * 7 and d["instance"].tolist() == [-1] * 7
    assert d["segment"].dtype == np.int32


def test_s3dis_names_flattening_and_split_list(tmp_path):
    seg = np.arange(9, dtype=np.int16).reshape(-1, 1) % 13
    write_scene(tmp_path / "Area_1" / "office_1", n=9, segment=seg, instance=seg.copy())
    write_scene(tmp_path / "Area_2" / "hallway_3", n=5, segment=np.zeros((5, 1), np.int16))
    ds = build_dataset(dict(type="S3DISDataset", split=("Area_1", "Area_2"), data_root=str(tmp_path)))
    assert isinstance(ds, S3DISDataset) and len(ds) == 2
    assert [ds.get_data_name(i) for i in range(2)] == ["Area_1-office_1", "Area_2-hallway_3"]
    assert ds.get_split_name(1) == "Area_2"
    d = ds.get_data(0)
    assert d["segment"].shape == (9,) and d["segment"].dtype == np.int32
    assert d["instance"].shape == (9,) and d["instance"].dtype == np.int32
    assert d["segment"].tolist() == seg.reshape(-1).tolist() and d["name"] == "Area_1-office_1"


def test_structured3d_scene_list_and_names(tmp_path):
    for scene, room in [("scene_03001", "room_2"), ("scene_03000", "room_10"), ("scene_03000", "room_1")]:
        write_scene(tmp_path / "val" / scene / room, n=6, num_classes=25, skip=("instance",))
    (tmp_path / "val" / "scene_03000" / "notes.txt").write_text("x")
    ds = Structured3DDataset(split="val", data_root=str(tmp_path))
    assert [ds.get_data_name(i) for i in range(len(ds))] == [
        "scene_03000_room_1", "scene_03000_room_10", "scene_03001_room_2"]
    d = ds.get_data(2)
    assert d["name"] == "scene_03001_room_2" and d["split"] == "val"
    assert d["instance"].tolist() == [-1] * 6


def test_default_dataset_keeps_only_whitelisted_assets(tmp_path):
    write_scene(tmp_path / "train" / "a", n=4, extra={"superpoint": np.zeros(4), "strength": np.ones((4, 1))})
    d = DefaultDataset(split="train", data_root=str(tmp_path)).get_data(0)
    assert "superpoint" not in d and d["strength"].shape == (4, 1)
    assert set(d) == {"coord", "color", "normal", "segment", "instance", "strength", "name", "split"}


# -- index space ----------------------------------------------------------------------------------
def test_loop_length_and_modulo(scannet_root):
    ds = ScanNetDataset(split="train", data_root=str(scannet_root), loop=3)
    assert len(ds) == 6
    assert [ds[i]["name"] for i in range(6)] == ["scene0000_00", "scene0001_00"] * 3
    assert ds.get_data_name(5) == "scene0001_00"
    with pytest.raises(ValueError, match="loop"):
        ScanNetDataset(split="train", data_root=str(scannet_root), loop=0)


def test_split_list_and_json_split_file(scannet_root):
    ds = ScanNetDataset(split=["val", "train"], data_root=str(scannet_root))
    assert [ds.get_data_name(i) for i in range(3)] == ["scene0002_00", "scene0000_00", "scene0001_00"]
    (scannet_root / "mine.json").write_text(json.dumps(["val/scene0002_00", "train/scene0001_00"]))
    ds = ScanNetDataset(split="mine.json", data_root=str(scannet_root))
    assert [(ds.get_data_name(i), ds.get_split_name(i)) for i in range(2)] == [
        ("scene0002_00", "val"), ("scene0001_00", "train")]
    (scannet_root / "bad.json").write_text(json.dumps(["train/scene9999_00"]))
    with pytest.raises(DataRootError, match="scene9999_00"):
        ScanNetDataset(split="bad.json", data_root=str(scannet_root))


def test_concat_dataset_indexing(tmp_path):
    for room in ("r0", "r1"):
        write_scene(tmp_path / "s3dis" / "Area_1" / room, n=5)
    for room in ("room_0", "room_1", "room_2"):
        write_scene(tmp_path / "s3d" / "train" / "scene_00000" / room, n=5)
    ds = ConcatDataset(
        datasets=[
            dict(type="S3DISDataset", split="Area_1", data_root=str(tmp_path / "s3dis"), loop=2),
            dict(type="Structured3DDataset", split="train", data_root=str(tmp_path / "s3d")),
        ],
        loop=2,
    )
    assert [type(d).__name__ for d in ds.datasets] == ["S3DISDataset", "Structured3DDataset"]
    assert len(ds.data_list) == 4 + 3 and len(ds) == 14
    assert ds.data_list[:5] == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)]
    names = [ds[i]["name"] for i in range(len(ds))]
    one_pass = ["Area_1-r0", "Area_1-r1"] * 2 + [f"scene_00000_room_{i}" for i in range(3)]
    assert names == one_pass * 2
    assert ds.get_data_name(13) == "scene_00000_room_2" and ds.get_split_name(4) == "train"


# -- test mode ------------------------------------------------------------------------------------
def _fragment_test_cfg(crop=None):
    return dict(
        voxelize=dict(type="GridSample", grid_size=0.5, hash_type="fnv", mode="test", return_grid_coord=True),
        crop=crop,
        post_transform=[
            dict(type="CenterShift", apply_z=False),
            dict(type="ToTensor"),
            dict(type="Collect", keys=("coord", "grid_coord", "index"), feat_keys=("color", "normal")),
        ],
        aug_transform=[[dict(type="RandomScale", scale=[1, 1])], [dict(type="RandomFlip", p=1)]],
    )


def test_test_mode_fragments_cover_every_voxel(tmp_path):
    # 4 voxels of 0.5 m; voxel (0,0,0) holds 3 points, so test-mode GridSample yields 3 parts
    coord = np.array([[0.1, 0.1, 0.1], [0.2, 0.1, 0.1], [0.3, 0.3, 0.3], [0.7, 0.1, 0.1],
                      [0.1, 0.8, 0.1], [1.2, 1.2, 0.2], [1.3, 1.3, 0.3]], np.float32)
    n = len(coord)
    write_scene(tmp_path / "val" / "scene0000_00", n=n, segment_key="segment20", coord=coord,
                segment20=np.arange(n) % 20)
    # no CenterShift before voxelizing, so the voxels are those of floor(coord / 0.5) (also after the flip)
    ds = ScanNetDataset(split="val", data_root=str(tmp_path), loop=5, test_mode=True,
                        transform=[dict(type="NormalizeColor")], test_cfg=_fragment_test_cfg())
    assert len(ds) == 1  # loop forced to 1 in test mode
    out = ds[0]
    assert set(out) == {"segment", "name", "fragment_list"}
    assert out["name"] == "scene0000_00" and out["segment"].tolist() == (np.arange(n) % 20).tolist()
    frags = out["fragment_list"]
    assert len(frags) == 2 * 3  # 2 augmentations x max 3 points per voxel
    voxel_of = np.floor(coord / 0.5).astype(int)
    n_voxels = len(np.unique(voxel_of, axis=0))
    for f in frags:
        assert {"coord", "grid_coord", "index", "feat", "offset"} <= set(f)
        idx = f["index"].numpy()
        assert len(np.unique(voxel_of[idx], axis=0)) == n_voxels == len(idx)  # one point per voxel, all voxels
        assert len(np.unique(f["grid_coord"].numpy(), axis=0)) == n_voxels
        assert f["feat"].shape == (len(idx), 6) and f["offset"].tolist() == [len(idx)]
    for aug in range(2):  # within one augmentation the parts together visit every point
        seen = np.concatenate([f["index"].numpy() for f in frags[3 * aug: 3 * aug + 3]])
        assert set(seen.tolist()) == set(range(n))


def test_test_mode_keeps_origin_segment_and_inverse(tmp_path):
    write_scene(tmp_path / "val" / "scene0000_00", n=20, segment_key="segment20", num_classes=20)
    ds = ScanNetDataset(
        split="val", data_root=str(tmp_path), test_mode=True, test_cfg=_fragment_test_cfg(),
        transform=[dict(type="Copy", keys_dict={"segment": "origin_segment"}),
                   dict(type="GridSample", grid_size=0.01, hash_type="fnv", mode="train", return_inverse=True)],
    )
    out = ds[0]
    assert {"origin_segment", "inverse"} <= set(out)
    assert out["origin_segment"].shape == (20,) and out["inverse"].shape == (20,)


def test_test_mode_without_test_cfg_is_an_error(scannet_root):
    with pytest.raises(ValueError, match="test_cfg"):
        ScanNetDataset(split="val", data_root=str(scannet_root), test_mode=True)


# -- ScanNet data-efficient ---------------------------------------------------------------------------
def test_scannet_limited_reconstruction_and_annotation(scannet_root, tmp_path):
    lr = tmp_path / "lr.txt"
    lr.write_text("scene0001_00\n")
    ds = ScanNetDataset(split="val", data_root=str(scannet_root), lr_file=str(lr))
    assert len(ds) == 1 and ds.get_data_name(0) == "scene0001_00" and ds.get_split_name(0) == "train"

    la = tmp_path / "la.pth"
    torch.save({"scene0000_00": np.array([0, 3]), "scene0001_00": np.array([1])}, la)
    ds = ScanNetDataset(split="train", data_root=str(scannet_root), la_file=str(la))
    d = ds.get_data(0)
    full = np.load(scannet_root / "train" / "scene0000_00" / "segment20.npy")
    expected = np.full(12, -1)
    expected[[0, 3]] = full[[0, 3]]
    assert d["segment"].tolist() == expected.tolist()
    assert d["sampled_index"].tolist() == [0, 3]


# -- bad input --------------------------------------------------------------------------------------
def test_cache_is_accepted_and_ignored(scannet_root):
    ds = ScanNetDataset(split="train", data_root=str(scannet_root), cache=True)
    assert ds.get_data(0)["coord"].shape == (12, 3)


@pytest.mark.parametrize(
    "case, kwargs, file, message",
    [
        ("missing coord", dict(skip=("coord",)), "coord.npy", "required file coord.npy is missing"),
        ("coord 2 columns", dict(coord=np.zeros((10, 2), np.float32)), "coord.npy", "expected [N,3]"),
        ("coord strings", dict(coord=np.full((10, 3), "a")), "coord.npy", "dtype <U1"),
        ("nan coord", dict(coord=np.where(np.eye(10, 3) > 0, np.nan, 1.0)), "coord.npy", "NaN/Inf"),
        ("inf coord", dict(coord=np.full((10, 3), np.inf)), "coord.npy", "NaN/Inf"),
        ("empty", dict(n=0), "coord.npy", "empty scene (0 points)"),
        ("short segment", dict(segment20=np.zeros(9, np.int64)), "segment20.npy", "length 9"),
        ("color 4 columns", dict(color=np.zeros((10, 4), np.uint8)), "color.npy", "3 columns"),
        ("normal rows", dict(normal=np.zeros((11, 3), np.float32)), "normal.npy", "11 rows"),
        ("label too big", dict(segment20=np.array([0] * 9 + [20])), "segment20.npy", "found 20"),
        ("label below -1", dict(segment20=np.array([-3] + [0] * 9)), "segment20.npy", "found -3"),
        ("fractional labels", dict(segment20=np.full(10, 0.5)), "segment20.npy", "non-integer"),
        ("instance shape", dict(instance=np.zeros((10, 2), np.int64)), "instance.npy", "shape [10, 2]"),
    ],
)
def test_bad_scene_errors_name_scene_and_file(tmp_path, case, kwargs, file, message):
    kwargs = dict(kwargs)
    n = kwargs.pop("n", 10)
    write_scene(tmp_path / "train" / "scene0042_00", n=n, segment_key="segment20", num_classes=20, **kwargs)
    ds = ScanNetDataset(split="train", data_root=str(tmp_path))
    with pytest.raises(SceneDataError) as info:
        ds[0]
    text = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "scene0042_00" in text and file in text and message in text, text
    assert info.value.scene == "scene0042_00" and info.value.file.endswith(file)


def test_unreadable_file_is_reported(tmp_path):
    write_scene(tmp_path / "Area_1" / "office_1", n=5)
    (tmp_path / "Area_1" / "office_1" / "color.npy").write_bytes(b"not numpy")
    with pytest.raises(SceneDataError, match=r"Area_1-office_1.*color\.npy"):
        S3DISDataset(split="Area_1", data_root=str(tmp_path)).get_data(0)


def test_s3dis_label_range_and_custom_ignore_index(tmp_path):
    write_scene(tmp_path / "Area_1" / "office_1", n=5, segment=np.array([[0], [12], [13], [1], [2]], np.int16))
    with pytest.raises(SceneDataError, match="outside the valid range 0..12"):
        S3DISDataset(split="Area_1", data_root=str(tmp_path)).get_data(0)
    write_scene(tmp_path / "Area_2" / "office_1", n=3, segment=np.array([[0], [255], [12]], np.int16))
    d = S3DISDataset(split="Area_2", data_root=str(tmp_path), ignore_index=255).get_data(0)
    assert d["segment"].tolist() == [0, 255, 12]


def test_missing_or_empty_data_root_hints_synth(tmp_path):
    with pytest.raises(DataRootError) as info:
        ScanNetDataset(split="train", data_root=str(tmp_path / "nowhere"))
    assert "nowhere" in str(info.value) and "pointlab synth --style scannet --out" in str(info.value)
    (tmp_path / "Area_1").mkdir()
    with pytest.raises(DataRootError, match="no scenes found.*--style s3dis"):
        S3DISDataset(split="Area_1", data_root=str(tmp_path))
    with pytest.raises(DataRootError, match=r"split 'Area_9' not found.*Area_1"):
        S3DISDataset(split="Area_9", data_root=str(tmp_path))
    with pytest.raises(DataRootError, match="structured3d"):
        Structured3DDataset(split="Area_1", data_root=str(tmp_path))


def test_registry_errors_keep_the_type(tmp_path):
    with pytest.raises(DataRootError, match="ScanNetDataset"):
        build_dataset(dict(type="ScanNetDataset", split="train", data_root=str(tmp_path / "x")))
