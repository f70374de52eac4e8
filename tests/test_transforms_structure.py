"""Collect, Copy, Update/Add, ToTensor, InstanceParser, RandomDropNormal, Compose and the registry."""
import inspect
import random

import numpy as np
import pytest
import torch

from pointlab.data.transforms import (
    Collect,
    Compose,
    Copy,
    InstanceParser,
    RandomDropNormal,
    ToTensor,
    Update,
    build_transform,
)
from pointlab.registry import TRANSFORMS


def test_to_tensor_rules():
    data = dict(
        i=3, f=0.5, s="scene", b=np.array([True, False]), i32=np.arange(3, dtype=np.int32), u8=np.array([1, 2], np.uint8),
        f64=np.ones((2, 3)), f32=np.ones(2, np.float32), t=torch.arange(2), nested=[np.zeros(1, np.int16), {"x": 1.0}],
    )
    out = ToTensor()(data)
    assert out["i"].dtype == torch.int64 and out["i"].tolist() == [3]
    assert out["f"].dtype == torch.float32 and out["f"].tolist() == [0.5]
    assert out["s"] == "scene"
    assert out["b"].dtype == torch.bool
    assert out["i32"].dtype == torch.int64 and out["u8"].dtype == torch.int64
    assert out["f64"].dtype == torch.float32 and out["f64"].shape == (2, 3)
    assert out["f32"].dtype == torch.float32
    assert out["t"] is data["t"]
    assert out["nested"][0].dtype == torch.int64 and out["nested"][1]["x"].dtype == torch.float32
    with pytest.raises(TypeError, match="key 'bad'"):
        ToTensor()(dict(bad=object()))


def _sample(n=5):
    rs = np.random.RandomState(0)
    return ToTensor()(dict(
        coord=rs.rand(n, 3).astype(np.float32), color=rs.rand(n, 3) * 255, normal=rs.rand(n, 3),
        grid_coord=rs.randint(0, 9, (n, 3)), segment=rs.randint(0, 3, n), name="s0", strength=rs.rand(n),
    ))


def test_collect_keys_offset_and_feat_order():
    data = _sample(5)
    out = Collect(keys=("coord", "grid_coord", "segment", "name"), feat_keys=("color", "normal"))(data)
    assert set(out) == {"coord", "grid_coord", "segment", "name", "offset", "feat"}
    assert out["offset"].tolist() == [5] and out["offset"].dtype == torch.int64
    assert out["feat"].dtype == torch.float32 and out["feat"].shape == (5, 6)
    assert torch.equal(out["feat"][:, :3], data["color"])
    assert torch.equal(out["feat"][:, 3:], data["normal"].float())
    assert out["coord"] is data["coord"]
    out = Collect(keys="coord", feat_keys=("normal", "coord", "strength"))(data)
    assert set(out) == {"coord", "offset", "feat"} and out["feat"].shape == (5, 7)
    assert torch.equal(out["feat"][:, 3:6], data["coord"])
    assert torch.equal(out["feat"][:, 6], data["strength"])
    data["origin_coord"] = torch.zeros(8, 3)
    out = Collect(keys=("coord",), offset_keys_dict=dict(offset="coord", origin_offset="origin_coord"))(data)
    assert out["offset"].tolist() == [5] and out["origin_offset"].tolist() == [8]


def test_collect_errors_name_the_problem():
    data = _sample(5)
    with pytest.raises(KeyError, match=r"'instance'.*present keys"):
        Collect(keys=("coord", "instance"))(data)
    data["short"] = torch.zeros(4, 2)
    with pytest.raises(ValueError, match=r"color: \(5, 3\).*short: \(4, 2\)"):
        Collect(keys=("coord",), feat_keys=("color", "short"))(data)
    with pytest.raises(TypeError, match="feat_keys"):
        Collect(keys=("coord",), feat_keys="color")


def test_copy_and_update():
    arr, ten = np.arange(3), torch.arange(3)
    data = dict(coord=arr, segment=ten, meta={"a": [1]})
    out = Copy(keys_dict=dict(coord="origin_coord", segment="origin_segment", meta="meta2"))(data)
    assert out["origin_coord"] is not arr and np.array_equal(out["origin_coord"], arr)
    assert out["origin_segment"] is not ten and torch.equal(out["origin_segment"], ten)
    out["meta2"]["a"].append(2)
    assert data["meta"] == {"a": [1]} and "origin_coord" not in data
    assert set(Copy()(dict(coord=arr, segment=ten))) == {"coord", "segment", "origin_coord", "origin_segment"}
    out = Update(keys_dict=dict(condition="ScanNet"))(data)
    assert out["condition"] == "ScanNet" and "condition" not in data
    assert TRANSFORMS.get("Add") is Update
    assert TRANSFORMS.build(dict(type="Add", keys_dict={"x": 1}))({})["x"] == 1


def test_instance_parser_compaction_centroid_bbox():
    coord = np.array([[0, 0, 0], [1, 0, 0], [3, 2, 0], [5, 5, 5], [9, 9, 9], [2, 2, 2]], dtype=np.float32)
    segment = np.array([0, 2, 2, 5, -1, 3], dtype=np.int32)
    instance = np.array([7, 4, 4, 9, 3, 7], dtype=np.int32)
    data = dict(coord=coord, segment=segment, instance=instance)
    out = InstanceParser(segment_ignore_index=(-1, 0, 1), instance_ignore_index=-1)(data)
    assert out["instance"].tolist() == [-1, 0, 0, 2, -1, 1]
    assert instance.tolist() == [7, 4, 4, 9, 3, 7]  # input untouched
    c = out["instance_centroid"]
    assert c.dtype == np.float64 and c.shape == (6, 3)
    np.testing.assert_array_equal(c[[0, 4]], -1)
    np.testing.assert_allclose(c[1], [2, 1, 0])
    np.testing.assert_allclose(c[2], [2, 1, 0])
    np.testing.assert_allclose(c[3], [5, 5, 5])
    np.testing.assert_allclose(c[5], [2, 2, 2])
    bbox = out["bbox"]
    assert bbox.shape == (3, 8) and bbox.dtype == np.float64
    np.testing.assert_allclose(bbox[0], [2, 1, 0, 2, 2, 0, 0, 0])  # class 2 − 2 vacated (0, 1)
    np.testing.assert_allclose(bbox[1], [2, 2, 2, 0, 0, 0, 0, 1])  # class 3 → 1
    np.testing.assert_allclose(bbox[2], [5, 5, 5, 0, 0, 0, 0, 3])  # class 5 → 3
    # only −1 ignored: classes are not shifted, the segment-0 point is an instance
    out = InstanceParser(segment_ignore_index=(-1,))(data)
    assert out["instance"].tolist() == [1, 0, 0, 2, -1, 1]
    assert out["bbox"][:, 7].tolist() == [2, 0, 5]  # instance 1 takes the class of its first point (0)


def test_instance_parser_no_instances():
    data = dict(coord=np.zeros((3, 3), np.float32), segment=np.array([-1, 0, 1]), instance=np.array([1, 2, 3]))
    out = InstanceParser()(data)
    assert out["bbox"].shape == (0, 8) and out["instance"].tolist() == [-1, -1, -1]
    assert np.all(out["instance_centroid"] == -1)


def test_random_drop_normal(monkeypatch):
    monkeypatch.setattr(random, "random", lambda: 0.0)
    data = dict(normal=np.ones((10, 3), np.float32))
    out = RandomDropNormal(drop_ratio=0.5)(data)
    assert (out["normal"].sum(1) == 0).sum() == 5 and data["normal"].min() == 1


def test_compose_and_build_transform():
    d = {"coord": np.zeros((2, 3))}
    assert build_transform(None)(d) is d and build_transform([])(d) is d
    t = build_transform([dict(type="Update", keys_dict={"a": 1}), dict(type="Copy", keys_dict={"a": "b"})])
    assert isinstance(t, Compose) and [type(x).__name__ for x in t.transforms] == ["Update", "Copy"]
    assert t({})["b"] == 1
    with pytest.raises(KeyError, match="GridSampel"):
        build_transform([dict(type="GridSampel")])
    with pytest.raises(TypeError):
        build_transform(dict(type="Update"))


SPEC_DEFAULTS = {
    "Collect": dict(offset_keys_dict=None),
    "Copy": dict(keys_dict=None),
    "Update": dict(keys_dict=None),
    "CenterShift": dict(apply_z=True),
    "RandomDropout": dict(dropout_ratio=0.2, dropout_application_ratio=0.5),
    "RandomRotate": dict(angle=None, center=None, axis="z", always_apply=False, p=0.5),
    "RandomRotateTargetAngle": dict(angle=(1 / 2, 1, 3 / 2), center=None, axis="z", always_apply=False, p=0.75),
    "RandomScale": dict(scale=None, anisotropic=False),
    "RandomFlip": dict(p=0.5),
    "RandomJitter": dict(sigma=0.01, clip=0.05),
    "ElasticDistortion": dict(distortion_params=None),
    "ChromaticAutoContrast": dict(p=0.2, blend_factor=None),
    "ChromaticTranslation": dict(p=0.95, ratio=0.05),
    "ChromaticJitter": dict(p=0.95, std=0.005),
    "HueSaturationTranslation": dict(hue_max=0.5, saturation_max=0.2),
    "RandomDropColor": dict(drop_ratio=0.2, drop_application_ratio=0.5),
    "RandomColorDrop": dict(p=0.2, color_augment=0.0),
    "GridSample": dict(grid_size=0.05, hash_type="fnv", mode="train", return_inverse=False, return_grid_coord=False,
                       return_min_coord=False, return_displacement=False, project_displacement=False),
    "SphereCrop": dict(point_max=80000, sample_rate=None, mode="random"),
    "InstanceParser": dict(segment_ignore_index=(-1, 0, 1), instance_ignore_index=-1),
}


def test_registry_names_and_spec_defaults():
    names = set(TRANSFORMS.module_dict)
    expected = set(SPEC_DEFAULTS) | {"Add", "ToTensor", "NormalizeColor", "ShufflePoint", "CropBoundary", "PositiveShift",
                                     "NormalizeCoord", "RandomShift", "PointClip", "ClipGaussianJitter",
                                     "RandomColorGrayScale", "RandomColorJitter", "RandomDropNormal"}
    assert expected <= names
    for name, defaults in SPEC_DEFAULTS.items():
        params = inspect.signature(TRANSFORMS.get(name)).parameters
        got = {k: p.default for k, p in params.items() if k in defaults}
        assert got == defaults, name
    assert "keys" in inspect.signature(Collect).parameters
