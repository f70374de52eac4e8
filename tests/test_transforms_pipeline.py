"""The target configs' transform lists end to end: output contract, determinism, tiny/empty clouds."""
import random

import numpy as np
import pytest
import torch

from pointlab.data import build_transform, point_collate_fn

TRAIN = [  # configs/scannet/semseg-spunet-v1m1-0-base.py (SphereCrop scaled down)
    dict(type="CenterShift", apply_z=True),
    dict(type="RandomDropout", dropout_ratio=0.2, dropout_application_ratio=0.2),
    dict(type="RandomRotate", angle=[-1, 1], axis="z", center=[0, 0, 0], p=0.5),
    dict(type="RandomRotate", angle=[-1 / 64, 1 / 64], axis="x", p=0.5),
    dict(type="RandomRotate", angle=[-1 / 64, 1 / 64], axis="y", p=0.5),
    dict(type="RandomScale", scale=[0.9, 1.1]),
    dict(type="RandomFlip", p=0.5),
    dict(type="RandomJitter", sigma=0.005, clip=0.02),
    dict(type="ElasticDistortion", distortion_params=[[0.2, 0.4], [0.8, 1.6]]),
    dict(type="ChromaticAutoContrast", p=0.2, blend_factor=None),
    dict(type="ChromaticTranslation", p=0.95, ratio=0.05),
    dict(type="ChromaticJitter", p=0.95, std=0.05),
    dict(type="GridSample", grid_size=0.02, hash_type="fnv", mode="train", return_grid_coord=True),
    dict(type="SphereCrop", point_max=1500, mode="random"),
    dict(type="CenterShift", apply_z=False),
    dict(type="NormalizeColor"),
    dict(type="ShufflePoint"),
    dict(type="Update", keys_dict={"condition": "ScanNet"}),
    dict(type="ToTensor"),
    dict(type="Collect", keys=("coord", "grid_coord", "segment", "condition"), feat_keys=("color", "normal")),
]

VAL = [
    dict(type="CenterShift", apply_z=True),
    dict(type="Copy", keys_dict={"segment": "origin_segment"}),
    dict(type="GridSample", grid_size=0.02, hash_type="fnv", mode="train", return_grid_coord=True, return_inverse=True),
    dict(type="CenterShift", apply_z=False),
    dict(type="NormalizeColor"),
    dict(type="ToTensor"),
    dict(type="Collect", keys=("coord", "grid_coord", "segment", "origin_segment", "inverse"), feat_keys=("color", "normal")),
]

PG_VAL = [  # configs/scannet/insseg-pointgroup-v1m1-0-spunet-base.py, val
    dict(type="CenterShift", apply_z=True),
    dict(type="Copy", keys_dict={"coord": "origin_coord", "segment": "origin_segment", "instance": "origin_instance"}),
    dict(type="GridSample", grid_size=0.02, hash_type="fnv", mode="train", return_grid_coord=True),
    dict(type="CenterShift", apply_z=False),
    dict(type="NormalizeColor"),
    dict(type="InstanceParser", segment_ignore_index=(-1, 0, 1), instance_ignore_index=-1),
    dict(type="ToTensor"),
    dict(
        type="Collect",
        keys=("coord", "grid_coord", "segment", "instance", "origin_coord", "origin_segment", "origin_instance",
              "instance_centroid", "bbox", "name"),
        feat_keys=("color", "normal"),
        offset_keys_dict=dict(offset="coord", origin_offset="origin_coord"),
    ),
]


def room(n, seed=0):
    rs = np.random.RandomState(seed)
    return dict(
        coord=(rs.rand(n, 3) * [1.0, 1.0, 0.5] + [3.0, -2.0, 0.7]).astype(np.float32),
        color=(rs.rand(n, 3) * 255).astype(np.float32),
        normal=rs.randn(n, 3).astype(np.float32),
        segment=rs.randint(-1, 20, n).astype(np.int32),
        instance=rs.randint(-1, 6, n).astype(np.int32),
        name="scene0000_00",
        split="train",
    )


def seeded(fn, seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return fn()


def test_train_pipeline_contract_and_determinism():
    t = build_transform(TRAIN)
    data = room(3000)
    out = seeded(lambda: t(data), 1)
    n = out["coord"].shape[0]
    assert 0 < n <= 1500
    assert set(out) == {"coord", "grid_coord", "segment", "condition", "feat", "offset"}
    assert out["coord"].dtype == torch.float32 and out["grid_coord"].dtype == torch.int64
    assert out["segment"].dtype == torch.int64 and out["feat"].shape == (n, 6) and out["feat"].dtype == torch.float32
    assert out["offset"].tolist() == [n] and out["condition"] == "ScanNet"
    assert out["feat"][:, :3].min() >= 0 and out["feat"][:, :3].max() <= 1
    assert out["grid_coord"].min() >= 0
    again = seeded(lambda: t(room(3000)), 1)
    for k in ("coord", "grid_coord", "segment", "feat"):
        assert torch.equal(out[k], again[k])
    other = seeded(lambda: t(room(3000)), 2)
    assert not torch.equal(out["coord"][:10], other["coord"][:10])
    batch = seeded(lambda: point_collate_fn([t(room(3000, s)) for s in range(4)], mix_prob=0.8), 3)
    assert batch["coord"].shape[0] == batch["offset"][-1]
    assert len(batch["condition"]) == 4


def test_val_and_pointgroup_pipelines():
    out = build_transform(VAL)(room(2000))
    assert out["inverse"].shape == (2000,) and out["origin_segment"].shape == (2000,)
    assert out["inverse"].max() == out["coord"].shape[0] - 1
    m = out["coord"].shape[0]
    assert torch.unique(out["inverse"]).numel() == m  # every output voxel holds ≥ 1 raw point
    # each representative is one of its voxel's raw points, so its label appears among them
    same = out["segment"][out["inverse"]] == out["origin_segment"]
    hit = torch.zeros(m, dtype=torch.bool).index_put_((out["inverse"][same],), torch.tensor(True))
    assert hit.all()
    pg = build_transform(PG_VAL)(room(2000))
    assert pg["origin_offset"].tolist() == [2000] and pg["offset"].tolist() == [pg["coord"].shape[0]]
    assert pg["bbox"].shape[1] == 8 and pg["instance_centroid"].shape == (pg["coord"].shape[0], 3)
    assert pg["name"] == "scene0000_00"
    valid = pg["instance"] != -1
    assert torch.all(pg["segment"][valid] >= 2)


@pytest.mark.parametrize("n", [0, 1, 5])
def test_pipelines_on_tiny_and_empty_clouds(n):
    for cfg in (TRAIN, VAL, PG_VAL):
        out = seeded(lambda: build_transform(cfg)(room(n)), 0)
        assert out["coord"].shape[0] <= n and out["offset"].tolist() == [out["coord"].shape[0]]
        assert out["feat"].shape == (out["coord"].shape[0], 6)


def test_pipelines_pickle_for_dataloader_workers():
    import pickle

    for cfg in (TRAIN, VAL, PG_VAL):
        t = pickle.loads(pickle.dumps(build_transform(cfg)))
        out = seeded(lambda: t(room(300)), 0)
        ref = seeded(lambda: build_transform(cfg)(room(300)), 0)
        assert torch.equal(out["coord"], ref["coord"])


def _plain_loop(transforms, data):
    for t in transforms:
        data = t(data)
    return data


def _assert_same(a, b, where):
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
        return
    assert a.keys() == b.keys(), where
    for k in a:
        x, y = a[k], b[k]
        assert type(x) is type(y), (where, k)
        if isinstance(x, torch.Tensor):
            x, y = x.numpy(), y.numpy()
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), (where, k)
            assert x.flags.c_contiguous == y.flags.c_contiguous, (where, k, "memory layout")
        else:
            assert x == y, (where, k)


DEFERRED = [  # index transforms in a row, with row-key and plain transforms between them
    TRAIN,
    [dict(type="GridSample", grid_size=0.05, return_grid_coord=True, return_inverse=True, return_min_coord=True),
     dict(type="ShufflePoint"), dict(type="SphereCrop", point_max=200, mode="center"), dict(type="NormalizeColor")],
    [dict(type="GridSample", grid_size=0.05, return_displacement=True, project_displacement=True),
     dict(type="SphereCrop", sample_rate=0.5), dict(type="RandomScale"), dict(type="ShufflePoint")],
    [dict(type="ShufflePoint"), dict(type="Copy", keys_dict={"coord": "origin_coord"}), dict(type="ShufflePoint"),
     dict(type="GridSample", grid_size=0.05, mode="test", return_grid_coord=True)],
    [dict(type="SphereCrop", point_max=10_000), dict(type="ShufflePoint"), dict(type="CenterShift"),
     dict(type="SphereCrop", point_max=100, mode="all")],
    [dict(type="ShufflePoint"), dict(type="SphereCrop", point_max=300, mode="given"), dict(type="ShufflePoint")],
]


@pytest.mark.parametrize("cfg", range(len(DEFERRED)))
@pytest.mark.parametrize("n", [0, 1, 1000])
def test_compose_defers_gathers_with_the_plain_loops_results(cfg, n):
    """Compose composes the row indices of GridSample/SphereCrop/ShufflePoint and gathers each
    array once; outputs and random draws must equal the transforms applied one by one."""
    t = build_transform(DEFERRED[cfg])
    data = room(n, seed=cfg)
    data["correspondence"] = np.where(np.arange(n) % 3 == 0, np.arange(n), -1)
    data["index_valid_keys"] = ["coord", "color", "normal", "segment", "instance", "correspondence"]
    data["superpoint"] = list(range(n))  # not listed: left alone by both
    ref = seeded(lambda: _plain_loop(t.transforms, dict(data)), 4)
    state = (np.random.get_state()[1].tobytes(), random.getstate())
    out = seeded(lambda: t(dict(data)), 4)
    assert (np.random.get_state()[1].tobytes(), random.getstate()) == state
    _assert_same(out, ref, f"cfg {cfg}")


def test_deferred_gather_is_applied_when_a_transform_reads_the_key():
    from pointlab.data.transforms import ShufflePoint
    from pointlab.data.transforms.sampling import defer_index, materialize_rows

    data = dict(coord=np.arange(12.0).reshape(6, 2), segment=np.arange(6), index_valid_keys=["coord", "segment"])
    pending = {}
    step = defer_index(data, np.array([5, 4, 3, 2]), pending)
    step = defer_index(step, np.array([0, 2]), pending)
    assert step["segment"] is data["segment"] and pending["coord"] is pending["segment"]  # not gathered yet
    out = materialize_rows(step, pending, ("segment",))
    assert out["segment"].tolist() == [5, 3] and list(pending) == ["coord"]
    out = materialize_rows(out, pending)
    assert out["coord"].tolist() == [[10.0, 11.0], [6.0, 7.0]] and not pending
    with pytest.raises(KeyError, match="ShufflePoint needs key 'coord'"):
        ShufflePoint().call_deferred(dict(segment=np.arange(3)), {})


def test_deferred_gather_rejects_a_key_with_too_few_rows():
    """A key shorter than coord fails in the transform that indexes it (as a direct gather
    would), even if a later crop would have skipped the missing rows."""
    data = room(500)
    data["segment"] = data["segment"][:400]
    t = build_transform([dict(type="ShufflePoint"), dict(type="SphereCrop", point_max=10, mode="center")])
    with pytest.raises(IndexError, match="'segment' has 400 rows"):
        seeded(lambda: t(data), 0)
    with pytest.raises(IndexError):
        seeded(lambda: _plain_loop(t.transforms, data), 0)


def test_compose_uses_no_deferred_hook_past_an_overridden_call():
    """A subclass that overrides __call__ must be called, not bypassed by the inherited
    call_deferred / row_keys hooks."""
    from pointlab.data.transforms import CenterShift, ShufflePoint

    class TaggedShuffle(ShufflePoint):
        def __call__(self, data_dict):
            return dict(super().__call__(data_dict), tagged=True)

    class ColorReadingShift(CenterShift):  # reads a key CenterShift's row_keys do not list
        def __call__(self, data_dict):
            return dict(super().__call__(data_dict), first_segment=int(data_dict["segment"][0]))

    t = build_transform([ShufflePoint(), ColorReadingShift(), TaggedShuffle()])
    data = room(50)
    out = seeded(lambda: t(data), 3)
    ref = seeded(lambda: _plain_loop(t.transforms, data), 3)
    assert out["tagged"] is True and out["first_segment"] == ref["first_segment"]
    _assert_same(out, ref, "subclasses")
