"""Synthetic indoor-scene generator and ``pointlab synth`` (pointlab.data.synth, pointlab.cli.synth)."""
import json
import os

import numpy as np
import pytest

from pointlab.data.synth import DATASET_CLASSES, SCANNET200_CLASSES, SCANNET200_USED, generate_room, plan_room
from pointlab.data.synth.classes import KIND_NAMES, KINDS, kind_label, scannet200_label
from pointlab.data.synth.rooms import CORE_LEN, SCHEDULES
from pointlab.data.synth.shapes import Ellipsoid, Frustum, Rect, box, sample_prims, tray
from pointlab.data.synth.styles import MATERIALS, pick_color, shade
from pointlab.data.synth.styles import STYLES as STYLE_PARAMS
from pointlab.data.synth.writer import DEFAULT_SCENES, planned_labels, schedule, split_sizes, write_dataset

STYLES = ("scannet", "s3dis", "structured3d")
LOW = 120.0  # points/m² for fast tests


@pytest.fixture(scope="module")
def rooms():
    """One low-density room per style and room type (cached for the module)."""
    return {(s, t): generate_room(s, seed=7, size=None, room_type=t, density=LOW) for s in STYLES for t in ("bedroom", "office")}


# ----------------------------------------------------------------------------- class maps
def test_class_lists_match_the_spec():
    assert len(DATASET_CLASSES["scannet"]) == 20 and DATASET_CLASSES["scannet"][14] == "refridgerator"
    assert DATASET_CLASSES["s3dis"][3:5] == ("beam", "column") and DATASET_CLASSES["s3dis"][-1] == "clutter"
    assert len(DATASET_CLASSES["structured3d"]) == 25 and DATASET_CLASSES["structured3d"][16] == "ceiling"
    assert len(SCANNET200_CLASSES) == 200 and SCANNET200_CLASSES[:3] == ("wall", "chair", "floor")
    assert set(SCANNET200_USED) <= set(SCANNET200_CLASSES)


def test_kind_labels_follow_nyu40_subsets():
    assert kind_label("nightstand", "scannet") == -1  # NYU40 32 is not among the 20
    assert DATASET_CLASSES["structured3d"][kind_label("nightstand", "structured3d")] == "nightstand"
    assert kind_label("bookshelf", "structured3d") == -1  # NYU40 10 is not among the 25
    assert DATASET_CLASSES["s3dis"][kind_label("desk", "s3dis")] == "table"
    assert DATASET_CLASSES["s3dis"][kind_label("whiteboard", "s3dis")] == "board"
    assert kind_label("unlabelled", "scannet") == -1 and scannet200_label("unlabelled") == -1
    assert SCANNET200_CLASSES[scannet200_label("chair", "office chair")] == "office chair"
    for kind in KINDS:
        for style in STYLES:
            assert -1 <= kind_label(kind, style) < len(DATASET_CLASSES[style])


# ----------------------------------------------------------------------------- primitives
def test_sampling_is_area_proportional_and_on_the_surface():
    rng = np.random.default_rng(0)
    small, big = Rect((0, 0, 0), (1, 0, 0), (0, 1, 0)), Rect((0, 0, 1), (3, 0, 0), (0, 2, 0))
    x, n, pid = sample_prims([small, big], 2000.0, rng)
    counts = np.bincount(pid)
    assert abs(counts[0] - 2000) < 60 and abs(counts[1] - 12000) < 150
    assert np.allclose(n, [0, 0, 1]) and np.allclose(x[pid == 1, 2], 1.0)
    # a cone: points per height band proportional to the radius there
    cone = Frustum((0, 0), 0.0, 1.0, 1.0, 0.0)
    x, n = cone.sample(40000, rng)
    r = np.hypot(x[:, 0], x[:, 1])
    assert np.allclose(r, 1.0 - x[:, 2], atol=1e-9)
    lower = (x[:, 2] < 0.5).mean()
    assert abs(lower - 0.75) < 0.02  # ∫0^.5 (1−z) / ∫0^1 (1−z)
    assert np.allclose(np.linalg.norm(n, axis=1), 1.0)
    assert abs(cone.area - np.pi * np.sqrt(2)) < 1e-9


def test_box_faces_point_outwards_and_tray_inwards():
    faces = box((0, 0, 0), (1, 2, 3))
    assert abs(sum(f.area for f in faces) - 2 * (2 + 3 + 6)) < 1e-9
    for f in faces:
        centre = f.origin + (f.u + f.v) / 2
        assert (centre - np.array([0.5, 1, 1.5])) @ f.normal > 0
    inner_bottom = [f for f in tray((0, 0, 0), (1, 1, 0.5), 0.05) if f.origin[2] > 0 and abs(f.normal[2] - 1) < 1e-9]
    assert inner_bottom, "the inside floor of a tub faces up"
    e = Ellipsoid((0, 0, 0), (1, 1, 1))
    assert abs(e.area - 4 * np.pi) < 1e-6
    x, n = e.sample(1000, np.random.default_rng(0))
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0) and np.allclose(n, x)


# ----------------------------------------------------------------------------- rooms
def test_same_seed_same_room_other_seed_other_room():
    a = generate_room("scannet", seed=3, density=LOW)
    b = generate_room("scannet", seed=3, density=LOW)
    c = generate_room("scannet", seed=4, density=LOW)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert len(a["coord"]) != len(c["coord"]) or not np.array_equal(a["coord"], c["coord"])


def test_global_rng_untouched():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    generate_room("structured3d", seed=0, density=LOW)
    assert np.array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("style", STYLES)
def test_dtypes_shapes_ranges(rooms, style):
    r = rooms[(style, "bedroom")]
    n = len(r["coord"])
    assert r["coord"].dtype == np.float32 and r["coord"].shape == (n, 3)
    assert r["color"].dtype == np.uint8 and r["color"].shape == (n, 3)
    assert r["normal"].dtype == np.float32 and r["normal"].shape == (n, 3)
    for key in ("segment", "instance"):
        assert r[key].dtype == np.int64 and r[key].shape == (n,)
    assert r["segment"].min() >= -1 and r["segment"].max() < len(DATASET_CLASSES[style])
    assert r["instance"].min() >= -1
    np.testing.assert_allclose(np.linalg.norm(r["normal"], axis=1), 1.0, atol=1e-5)
    if style == "scannet":
        s200 = r["segment200"]
        assert s200.dtype == np.int64 and s200.shape == (n,) and s200.min() >= -1 and s200.max() < 200
        # ignore in ScanNet-20 only where the object has no 20-class (e.g. nightstand) or no annotation
        assert ((s200 >= 0) | (r["segment"] == -1)).all()
        assert {SCANNET200_CLASSES[i] for i in np.unique(s200[s200 >= 0])} <= set(SCANNET200_USED)
    else:
        assert "segment200" not in r


def test_instances_are_objects_with_one_label(rooms):
    for (style, _), r in rooms.items():
        inst, seg = r["instance"], r["segment"]
        ids = np.unique(inst[inst >= 0])
        assert len(ids) >= 10  # walls, floor, ceiling, door(s), window(s) and furniture
        pairs = np.unique(np.stack([inst[inst >= 0], seg[inst >= 0]], 1), axis=0)
        assert len(pairs) == len(ids), f"{style}: an instance carries two semantic labels"
        wall = DATASET_CLASSES[style].index("wall")
        assert (inst[seg == wall] >= 0).all() and len(np.unique(inst[seg == wall])) == 4
    r = rooms[("scannet", "bedroom")]
    unl = r["kind"] == KIND_NAMES.index("unlabelled")
    assert (r["instance"][unl] == -1).all() and (r["segment"][unl] == -1).all()


def test_points_lie_on_surfaces():
    # structured3d is noise free: floor at z 0 facing up, ceiling at H facing down, walls on planes
    W, D, H = 5.0, 4.0, 2.8
    r = generate_room("structured3d", seed=1, size=(W, D, H), density=LOW)
    c, n, k = r["coord"], r["normal"], r["kind"]
    floor, ceil, wall = (k == KIND_NAMES.index(x) for x in ("floor", "ceiling", "wall"))
    assert np.abs(c[floor, 2]).max() < 1e-5 and np.allclose(n[floor], [0, 0, 1])
    assert np.abs(c[ceil, 2] - H).max() < 1e-5 and np.allclose(n[ceil], [0, 0, -1])
    on_plane = (np.abs(c[wall, 0]) < 1e-5) | (np.abs(c[wall, 0] - W) < 1e-5) | (np.abs(c[wall, 1]) < 1e-5) | (np.abs(c[wall, 1] - D) < 1e-5)
    assert on_plane.mean() > 0.9  # the rest are the reveals of door/window openings in the wall thickness
    inside = (c[:, 0] > 0.01) & (c[:, 0] < W - 0.01) & (c[:, 1] > 0.01) & (c[:, 1] < D - 0.01)
    assert (c[inside, 2] >= -1e-5).all() and (c[inside, 2] <= H + 1e-5).all()
    assert (c[:, 0] > -0.3).all() and (c[:, 0] < W + 0.3).all()  # nothing beyond the wall thickness
    # scannet floor: noisy but centred on z 0, normals roughly up
    s = generate_room("scannet", seed=1, size=(W, D, H), density=LOW)
    f = s["kind"] == KIND_NAMES.index("floor")
    assert abs(np.median(s["coord"][f, 2])) < 3e-3 and 0.002 < s["coord"][f, 2].std() < 0.02
    assert np.median(s["normal"][f, 2]) > 0.95


@pytest.mark.parametrize("style", STYLES)
def test_point_count_of_a_5x5x3_room(style):
    r = generate_room(style, seed=2, size=(5.0, 5.0, 3.0))
    assert 100_000 <= len(r["coord"]) <= 400_000, len(r["coord"])


def test_unknown_style_room_type_or_size_is_an_actionable_error():
    with pytest.raises(ValueError, match="scannet, s3dis, structured3d"):
        generate_room("kitti")
    with pytest.raises(ValueError, match="bedroom"):
        generate_room("scannet", room_type="garage")
    with pytest.raises(ValueError, match="too small"):
        generate_room("scannet", size=(1.0, 5.0, 3.0))


def test_room_layout_objects_do_not_overlap():
    for seed in range(3):
        plan = plan_room("scannet", seed, None, "living_room")
        assert not plan.forced
    # every mandatory item kind of a room type is in its plan
    plan = plan_room("structured3d", 0, None, "bedroom")
    assert {"bed", "pillow", "nightstand", "lamp", "dresser", "cabinet", "mirror", "picture", "curtain"} <= plan.kinds()
    plan = plan_room("scannet", 0, None, "bathroom")
    assert {"toilet", "sink", "bathtub", "shower_curtain", "mirror", "door"} <= plan.kinds()


def test_furniture_stays_inside_the_room():
    from pointlab.data.synth.rooms import ROOM_TYPES

    structure = [KIND_NAMES.index(k) for k in ("wall", "door", "window", "floor", "ceiling")]
    for i, room_type in enumerate(ROOM_TYPES):
        plan = plan_room("structured3d", np.random.default_rng(i), None, room_type)
        r = generate_room("structured3d", seed=np.random.default_rng(i), size=None, room_type=room_type, density=40)
        W, D, H = plan.size
        c = r["coord"][~np.isin(r["kind"], structure)]
        excess = np.maximum.reduce([-c[:, 0], c[:, 0] - W, -c[:, 1], c[:, 1] - D, -c[:, 2], c[:, 2] - H])
        assert excess.max() < 5e-3, (room_type, float(excess.max()))


def test_plan_labels_equal_sampled_labels():
    for style, rt in (("scannet", "kitchen"), ("s3dis", "office"), ("structured3d", "living_room")):
        rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
        plan = plan_room(style, rng_a, None, rt)
        r = generate_room(style, seed=rng_b, size=None, room_type=rt, density=LOW)
        assert plan.labels() == set(np.unique(r["segment"][r["segment"] >= 0]).tolist())


# ----------------------------------------------------------------------------- styles
def _saturation(color):
    c = color.astype(np.float64)
    mx, mn = c.max(1), c.min(1)
    return float(np.mean((mx - mn) / np.maximum(mx, 1)))


def test_styles_differ_in_colour_noise_and_density():
    # the same surfaces and base colours rendered by each style: saturation and brightness spread differ
    rng = np.random.default_rng(0)
    n = 20000
    coord = rng.uniform(0, 5, (n, 3)) * [1, 1, 0.6]
    normal = np.zeros((n, 3))
    normal[np.arange(n), rng.integers(0, 3, n)] = 1.0
    base = np.stack([pick_color(m, rng) for m in rng.choice(MATERIALS, n)])
    shaded = {s: shade(STYLE_PARAMS[s], coord, normal, base, (5.0, 5.0, 3.0), np.random.default_rng(1)) for s in STYLES}
    sat = {s: _saturation(shaded[s]) for s in STYLES}
    assert sat["structured3d"] > sat["scannet"] > sat["s3dis"], sat
    # s3dis' lighting gradient: brightness depends strongly on position; structured3d's does not
    def gradient_strength(c):
        v = c.astype(float).mean(1) / np.maximum(base.mean(1) * 255, 1)
        a = np.c_[coord[:, :2], np.ones(n)]
        fit = np.linalg.lstsq(a, v, rcond=None)[0]
        return float(np.hypot(*fit[:2]))
    assert gradient_strength(shaded["s3dis"]) > 3 * gradient_strength(shaded["structured3d"]) + 0.02

    size = (5.0, 5.0, 3.0)
    r = {s: generate_room(s, seed=11, size=size, room_type="office", density=LOW) for s in STYLES}
    floor_std = {}
    for s in STYLES:
        f = r[s]["kind"] == KIND_NAMES.index("floor")
        floor_std[s] = float(r[s]["coord"][f, 2].std())
    assert floor_std["structured3d"] == 0.0 and floor_std["scannet"] > floor_std["s3dis"] > 0.0, floor_std
    # colour noise: neighbouring floor points of one instance vary in scannet, not in structured3d
    def local_colour_noise(x):
        f = x["kind"] == KIND_NAMES.index("floor")
        return float(np.abs(np.diff(x["color"][f].astype(int), axis=0)).mean())
    assert local_colour_noise(r["scannet"]) > 3 * max(local_colour_noise(r["structured3d"]), 0.5)
    full = {s: generate_room(s, seed=11, size=size, room_type="office") for s in ("s3dis", "structured3d")}
    assert len(full["s3dis"]["coord"]) > 1.3 * len(full["structured3d"]["coord"])


def test_colour_alone_does_not_tell_the_class():
    train = [generate_room("scannet", seed=s, size=None, density=80) for s in range(3)]
    test = [generate_room("scannet", seed=s, size=None, density=80) for s in (50, 51)]
    c = np.concatenate([t["color"] for t in train]).astype(float)
    y = np.concatenate([t["segment"] for t in train])
    means = np.stack([c[y == k].mean(0) if (y == k).any() else np.full(3, 1e9) for k in range(20)])
    ct = np.concatenate([t["color"] for t in test]).astype(float)
    yt = np.concatenate([t["segment"] for t in test])
    m = yt >= 0
    pred = np.argmin(((ct[m, None, :] - means[None]) ** 2).sum(-1), 1)
    recall = [(pred[yt[m] == k] == k).mean() for k in np.unique(yt[m])]
    assert np.mean(recall) < 0.35  # nearest colour mean is close to chance


# ----------------------------------------------------------------------------- datasets on disk
def test_split_sizes_and_schedule():
    assert split_sizes(24) == (19, 5) and split_sizes(2) == (1, 1) and split_sizes(10, 0.5) == (5, 5)
    with pytest.raises(ValueError, match="at least 2"):
        split_sizes(1)
    rooms = schedule("s3dis", 24)
    assert sum(r["path"].startswith("Area_5") for r in rooms) == 5
    assert {r["path"].split(os.sep)[0] for r in rooms} == {f"Area_{i}" for i in range(1, 7)}
    s3d = schedule("structured3d", 24)
    assert any(r["path"].startswith(os.path.join("val", "scene_03000")) for r in s3d)
    for style in STYLES:
        assert len(SCHEDULES[style]) >= CORE_LEN[style]


@pytest.mark.parametrize("style", STYLES)
def test_every_class_in_train_and_val_of_the_default_dataset(style):
    labels = planned_labels(style, DEFAULT_SCENES, seed=0)
    everything = set(range(len(DATASET_CLASSES[style])))
    for split in ("train", "val"):
        missing = [DATASET_CLASSES[style][i] for i in sorted(everything - labels[split])]
        assert not missing, f"{style} {split} lacks {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_every_class_in_both_splits_for_other_seeds(seed):
    for style in STYLES:
        labels = planned_labels(style, DEFAULT_SCENES, seed=seed)
        n = len(DATASET_CLASSES[style])
        assert labels["train"] == labels["val"] == set(range(n)), style


def _load(d, name):
    return np.load(os.path.join(d, name + ".npy"))


def test_write_scannet_layout(tmp_path):
    summary = write_dataset("scannet", str(tmp_path), scenes=3, seed=0, density=60)
    assert summary["scenes"] == {"train": 2, "val": 1}
    assert sorted(os.listdir(tmp_path / "train")) == ["scene0000_00", "scene0001_00"]
    assert os.listdir(tmp_path / "val") == ["scene0002_00"]
    d = tmp_path / "val" / "scene0002_00"
    assert sorted(os.listdir(d)) == sorted(f"{k}.npy" for k in ("coord", "color", "normal", "segment20", "segment200", "instance"))
    n = len(_load(d, "coord"))
    assert _load(d, "coord").dtype == np.float32 and _load(d, "color").dtype == np.uint8
    assert _load(d, "normal").dtype == np.float32 and _load(d, "normal").shape == (n, 3)
    for k in ("segment20", "segment200", "instance"):
        a = _load(d, k)
        assert a.dtype == np.int64 and a.shape == (n,)
    assert json.load(open(tmp_path / "synth_summary.json"))["style"] == "scannet"
    # like raw ScanNet, rooms are turned about z (walls not parallel to the axes) but z stays up
    seg, normal = _load(d, "segment20"), _load(d, "normal")
    wall_n = normal[seg == 0].astype(np.float64)
    yaw = np.angle(np.exp(4j * np.arctan2(wall_n[:, 1], wall_n[:, 0])).mean()) / 4  # wall yaw modulo 90°
    assert abs(yaw) > 0.05, yaw
    assert np.median(normal[seg == 1][:, 2]) > 0.95


def test_write_s3dis_layout(tmp_path):
    summary = write_dataset("s3dis", str(tmp_path), scenes=2, seed=0, density=60)
    assert summary["val_split"] == "Area_5" and os.listdir(tmp_path / "Area_5") == ["office_1"]
    d = tmp_path / "Area_5" / "office_1"
    seg, inst = _load(d, "segment"), _load(d, "instance")
    n = len(_load(d, "coord"))
    assert seg.dtype == np.int16 and seg.shape == (n, 1) and inst.dtype == np.int16 and inst.shape == (n, 1)
    assert _load(d, "normal").shape == (n, 3) and seg.min() >= 0 and seg.max() <= 12
    ids = np.unique(inst)
    assert ids[0] == 0 and np.array_equal(ids, np.arange(len(ids)))  # every point belongs to an object
    # numbered like sorted annotation files "<class>_<k>.txt": the classes of instances 0, 1, ... are in name order
    first_class = [int(seg[inst[:, 0] == i][0, 0]) for i in ids]
    names = [DATASET_CLASSES["s3dis"][c] for c in first_class]
    assert names == sorted(names)


def test_write_structured3d_layout(tmp_path):
    write_dataset("structured3d", str(tmp_path), scenes=2, seed=0, density=60, rooms_per_scene=2)
    assert os.listdir(tmp_path / "train") == ["scene_00000"] and os.listdir(tmp_path / "val") == ["scene_03000"]
    rooms = sorted(os.listdir(tmp_path / "val" / "scene_03000"))
    assert rooms == ["room_1", "room_2"]
    d = tmp_path / "val" / "scene_03000" / "room_1"
    assert sorted(os.listdir(d)) == ["color.npy", "coord.npy", "normal.npy", "segment.npy"]
    seg = _load(d, "segment")
    assert seg.dtype == np.int16 and seg.shape == (len(_load(d, "coord")), 1) and seg.max() <= 24


def test_cli_synth(tmp_path, capsys):
    from pointlab.cli import main

    out = tmp_path / "syn"
    code = main(["synth", "--style", "scannet", "--out", str(out), "--scenes", "2", "--seed", "3", "--density", "50", "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    assert "train: 1 scenes" in text and "val: 1 scenes" in text and "classes" in text
    assert (out / "train" / "scene0000_00" / "segment20.npy").exists()
    assert main(["synth", "--out", str(tmp_path / "x"), "--scenes", "1", "--quiet"]) == 2
    assert "at least 2" in capsys.readouterr().err
    # an existing dataset is not silently mixed with a new one
    args = ["synth", "--out", str(out), "--scenes", "2", "--density", "30", "--quiet"]
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err
    (out / "train" / "scene0099_00").mkdir()
    assert main(args + ["--overwrite"]) == 0
    assert sorted(os.listdir(out / "train")) == ["scene0000_00"]


def test_written_datasets_load_with_the_dataset_classes(tmp_path):
    datasets = pytest.importorskip("pointlab.data.datasets")
    from pointlab.data import build_dataset

    for style, cfg in (("scannet", dict(type="ScanNetDataset", split="val")),
                       ("s3dis", dict(type="S3DISDataset", split="Area_5")),
                       ("structured3d", dict(type="Structured3DDataset", split="val"))):
        root = tmp_path / style
        write_dataset(style, str(root), scenes=2, seed=1, density=40)
        ds = build_dataset(dict(cfg, data_root=str(root)))
        d = ds.get_data(0)
        n = len(d["coord"])
        assert len(ds) >= 1 and d["segment"].shape == (n,) and d["normal"].shape == (n, 3)
        assert d["segment"].max() < len(DATASET_CLASSES[style])
    assert datasets is not None
