"""SemSegTester: fragment voting, inverse mapping, saved files, resume, weight loading, errors."""
import logging
import math

import numpy as np
import pytest
import torch
from torch import nn

from pointlab.config import ConfigDict
from pointlab.evaluation.testers import SemSegTester, load_model_weights_strict
from pointlab.registry import TESTERS


def _simple_collate(fragments):
    """Fallback when pointlab.data.collate is not built yet: cat tensors, cumulative offsets."""
    out = {k: torch.cat([f[k] for f in fragments]) for k in fragments[0] if k != "offset"}
    out["offset"] = torch.cumsum(torch.cat([f["offset"] for f in fragments]), 0)
    return out


@pytest.fixture(autouse=True)
def _collate(monkeypatch):
    try:
        import pointlab.data.collate  # noqa: F401
    except ImportError:
        monkeypatch.setattr(SemSegTester, "collate_fragments", staticmethod(_simple_collate))


class FeatIsLogits(nn.Module):
    """seg_logits = feat * scale; counts its forward calls."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.calls = 0

    def forward(self, d):
        self.calls += 1
        return {"seg_logits": d["feat"] * self.scale}


class SceneLoader:
    batch_size = 1

    def __init__(self, scenes, dataset=None):
        self.scenes, self.dataset = scenes, dataset

    def __iter__(self):
        return iter([[dict(s)] for s in self.scenes])

    def __len__(self):
        return len(self.scenes)


def _frag(index, probs):
    """A fragment whose softmax is exactly ``probs`` (logits = log p)."""
    p = torch.tensor(probs, dtype=torch.float32)
    return dict(feat=p.log(), index=torch.tensor(index), offset=torch.tensor([len(index)]))


def _cfg(tmp_path, k=3, names=("wall", "floor", "chair"), **data):
    return ConfigDict(
        save_path=str(tmp_path), weight=None, resume=False,
        data=dict(num_classes=k, ignore_index=-1, names=list(names), **data),
    )


# point 1: fragment A alone says class 0, fragment B alone says class 2, the sum says class 1
FRAG_A = ([0, 1, 2], [[0.8, 0.1, 0.1], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8]])
FRAG_B = ([1, 2, 3], [[0.05, 0.45, 0.5], [0.2, 0.2, 0.6], [0.1, 0.7, 0.2]])


def test_voting_sums_probabilities_of_all_fragments(tmp_path):
    tester = SemSegTester(_cfg(tmp_path), model=FeatIsLogits(), test_loader=SceneLoader([]))
    prob = tester.predict_scene([_frag(*FRAG_A), _frag(*FRAG_B)], num_points=5, name="s")
    expected = np.zeros((5, 3))
    for idx, p in (FRAG_A, FRAG_B):
        expected[idx] += np.array(p)
    np.testing.assert_allclose(prob.numpy(), expected, atol=1e-6)
    assert prob.argmax(1)[:4].tolist() == [0, 1, 2, 1]
    assert prob[4].abs().sum() == 0  # a point no fragment covers keeps zero votes

    chunked = SemSegTester(_cfg(tmp_path), model=FeatIsLogits(), test_loader=SceneLoader([]), fragment_batch_size=2)
    prob2 = chunked.predict_scene([_frag(*FRAG_A), _frag(*FRAG_B)], num_points=5, name="s")
    np.testing.assert_allclose(prob2.numpy(), expected, atol=1e-6)
    assert chunked.model.calls == 1


def test_test_maps_inverse_saves_files_and_reports(tmp_path, caplog):
    # scene "a": 4 voxel-level points, 6 raw points via inverse; scene "b": no origin_segment
    scene_a = dict(
        segment=np.array([0, 1, 2, 1]), name="a", fragment_list=[_frag(*FRAG_A), _frag(*FRAG_B)],
        origin_segment=np.array([0, 0, 1, 2, 1, -1]), inverse=np.array([0, 0, 1, 2, 3, 3]),
    )
    scene_b = dict(segment=np.array([2, 0]), name="b", fragment_list=[_frag([0, 1], [[0.1, 0.1, 0.8], [0.2, 0.7, 0.1]])])

    class Dataset:
        class2id = np.array([1, 2, 5])

    model = FeatIsLogits()
    tester = SemSegTester(_cfg(tmp_path), model=model, test_loader=SceneLoader([scene_a, scene_b], Dataset()))
    with caplog.at_level(logging.INFO, logger="pointlab"):
        m = tester.test()
    result = tmp_path / "result"
    pred_a = np.load(result / "a_pred.npy")
    assert pred_a.tolist() == [0, 0, 1, 2, 1, 1]  # voxel preds [0,1,2,1] gathered by inverse
    assert np.load(result / "b_pred.npy").tolist() == [2, 1]
    assert np.loadtxt(result / "submit" / "a.txt", dtype=int).tolist() == [1, 1, 2, 5, 2, 2]  # class2id
    # totals: a (5 labelled raw points, all right) + b (1 of 2 right)
    np.testing.assert_array_equal(m["intersection"], [2, 2, 2])
    np.testing.assert_array_equal(m["target"], [3, 2, 2])
    np.testing.assert_array_equal(m["union"], [3, 3, 2])
    assert m["mIoU"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert m["allAcc"] == pytest.approx(6 / 7)
    text = caplog.text
    assert "Val result: mIoU/mAcc/allAcc {:.4f}/{:.4f}/{:.4f}".format(m["mIoU"], m["mAcc"], m["allAcc"]) in text
    assert "Class_1 - floor Result: iou/accuracy 0.6667/1.0000" in text
    assert "Test: a [1/2]-6 " in text and "mIoU 1.0000" in text
    assert "  0  wall" in text and "idx  class" in text  # the per-class table
    png = (result / "class_iou.png").read_bytes()
    assert png[:4] == b"\x89PNG"

    # resume: existing predictions are loaded, the model is not run again
    calls = model.calls
    m2 = SemSegTester(_cfg(tmp_path), model=model, test_loader=SceneLoader([scene_a, scene_b], Dataset())).test()
    assert model.calls == calls
    np.testing.assert_array_equal(m2["intersection"], m["intersection"])


def test_stale_prediction_file_is_reported(tmp_path):
    (tmp_path / "result").mkdir()
    np.save(tmp_path / "result" / "x_pred.npy", np.zeros(3, dtype=np.int64))
    scene = dict(segment=np.array([0, 1]), name="x", fragment_list=[])
    tester = SemSegTester(_cfg(tmp_path), model=FeatIsLogits(), test_loader=SceneLoader([scene]))
    with pytest.raises(ValueError, match="stale prediction"):
        tester.test()


def test_s3dis_area_record(tmp_path):
    class Dataset:
        split = "Area_5"

    cfg = _cfg(tmp_path, test=dict(type="S3DISDataset"))
    scene = dict(segment=np.array([0, 2]), name="Area_5-office_1", fragment_list=[_frag([0, 1], [[0.9, 0.05, 0.05], [0.1, 0.1, 0.8]])])
    SemSegTester(cfg, model=FeatIsLogits(), test_loader=SceneLoader([scene], Dataset()), plot=False).test()
    rec = torch.load(tmp_path / "result" / "Area_5.pth", weights_only=True)
    assert sorted(rec) == ["intersection", "target", "union"]
    assert rec["intersection"].tolist() == [1, 0, 1] and rec["union"].tolist() == [1, 0, 1]
    assert not (tmp_path / "result" / "class_iou.png").exists()


def test_errors_batch_size_num_classes_and_index(tmp_path):
    loader = SceneLoader([dict(segment=np.array([0]), name="s", fragment_list=[_frag([0], [[0.5, 0.5]])])])
    loader.batch_size = 2
    with pytest.raises(ValueError, match="batch_size=2"):
        SemSegTester(_cfg(tmp_path), model=FeatIsLogits(), test_loader=loader).test()
    loader.batch_size = 1
    with pytest.raises(ValueError, match="num_classes=3"):  # 2 logits per point, 3 classes configured
        SemSegTester(_cfg(tmp_path), model=FeatIsLogits(), test_loader=loader).test()
    frag = _frag([0], [[0.2, 0.3, 0.5]])
    del frag["index"]
    with pytest.raises(KeyError, match="Collect"):
        SemSegTester(_cfg(tmp_path), model=FeatIsLogits(), test_loader=SceneLoader([])).predict_scene([frag], 1)


def test_missing_weight_is_a_clear_error(tmp_path):
    cfg = _cfg(tmp_path)
    cfg.weight = str(tmp_path / "nope.pth")
    cfg.model = dict(type="NotBuiltBecauseWeightIsMissing")
    with pytest.raises(FileNotFoundError, match="nope.pth.*weight="):
        SemSegTester(cfg, test_loader=SceneLoader([]))
    assert (tmp_path / "test.log").exists()


def test_strict_weight_loading(tmp_path):
    src = nn.Linear(3, 2)
    path = tmp_path / "w.pth"
    torch.save({"epoch": 7, "state_dict": {"module." + k: v for k, v in src.state_dict().items()}}, path)
    dst = nn.Linear(3, 2)
    report = load_model_weights_strict(dst, str(path))
    assert report.epoch == 7 and torch.equal(dst.weight, src.weight)
    with pytest.raises(RuntimeError, match=r"weight: checkpoint \[2,3\] vs model \[4,3\]"):
        load_model_weights_strict(nn.Linear(3, 4), str(path))
    m = nn.Linear(3, 2)
    m.register_buffer("extra", torch.zeros(1))
    with pytest.raises(RuntimeError, match=r"(?s)strict.*missing.*extra"):
        load_model_weights_strict(m, str(path))
    with pytest.raises(FileNotFoundError, match="weight="):
        load_model_weights_strict(m, "None")


def test_registered_and_built_from_config(tmp_path):
    assert TESTERS.get("SemSegTester") is SemSegTester
    scene = dict(segment=np.array([1]), name="s", fragment_list=[_frag([0], [[0.2, 0.7, 0.1]])])
    tester = TESTERS.build(dict(type="SemSegTester", verbose=True, plot=False),
                           default_args=dict(cfg=_cfg(tmp_path), model=FeatIsLogits(), test_loader=SceneLoader([scene])))
    assert math.isclose(tester.test()["allAcc"], 1.0, rel_tol=1e-6)


# ---------------------------------------------------------------------------------------------
# End to end through `pointlab test`: real dataset (test mode), transforms, collate, a tiny model
class _LinearSeg(nn.Module):
    def __init__(self, in_channels=6, num_classes=3):
        super().__init__()
        self.lin = nn.Linear(in_channels, num_classes)

    def forward(self, d):
        out = {"seg_logits": self.lin(d["feat"])}
        if "segment" in d:
            out["loss"] = nn.functional.cross_entropy(out["seg_logits"], d["segment"].long(), ignore_index=-1)
        return out


def _register_linear_seg():
    from pointlab.registry import MODELS

    if "PointlabTest-LinearSeg" not in MODELS:
        MODELS.register_module("PointlabTest-LinearSeg", module=_LinearSeg)


_CLI_CONFIG = """
num_classes = 3
data = dict(
    num_classes=3, ignore_index=-1, names=["wall", "floor", "chair"],
    test=dict(
        type="DefaultDataset", split="val", data_root={root!r},
        transform=[dict(type="CenterShift", apply_z=True), dict(type="NormalizeColor")],
        test_mode=True,
        test_cfg=dict(
            voxelize=dict(type="GridSample", grid_size=0.1, hash_type="fnv", mode="test", return_grid_coord=True),
            crop=None,
            post_transform=[
                dict(type="CenterShift", apply_z=False),
                dict(type="ToTensor"),
                dict(type="Collect", keys=("coord", "grid_coord", "index"), feat_keys=("color", "normal")),
            ],
            aug_transform=[
                [dict(type="RandomRotateTargetAngle", angle=[0], axis="z", center=[0, 0, 0], p=1)],
                [dict(type="RandomFlip", p=1)],
            ],
        ),
    ),
)
model = dict(type="PointlabTest-LinearSeg", in_channels=6, num_classes=3)
"""


@pytest.mark.slow
def test_cli_test_end_to_end(tmp_path):
    pytest.importorskip("pointlab.data.collate")
    from pointlab.cli import main

    _register_linear_seg()
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for name, n in (("scene_a", 300), ("scene_b", 200)):
        d = root / "val" / name
        d.mkdir(parents=True)
        seg = rng.integers(0, 3, n).astype(np.int32)
        color = np.zeros((n, 3), np.float32)
        color[np.arange(n), seg] = 255.0  # colour encodes the class: the model can be exact
        np.save(d / "coord.npy", rng.uniform(0, 2, (n, 3)).astype(np.float32))
        np.save(d / "color.npy", color)
        np.save(d / "normal.npy", np.zeros((n, 3), np.float32))
        np.save(d / "segment.npy", seg)
    model = _LinearSeg()
    with torch.no_grad():
        model.lin.weight.zero_()
        model.lin.weight[:, :3] = torch.eye(3) * 10
        model.lin.bias.zero_()
    weight = tmp_path / "w.pth"
    torch.save({"epoch": 1, "state_dict": model.state_dict()}, weight)
    cfg_file = tmp_path / "cfg.py"
    cfg_file.write_text(_CLI_CONFIG.format(root=str(root)))
    save = tmp_path / "exp"

    # missing weight: a clear error, exit code 2
    assert main(["test", "--config-file", str(cfg_file), "--options", f"save_path={save}"]) == 2

    code = main(["test", "--config-file", str(cfg_file), "--options", f"save_path={save}", f"weight={weight}"])
    assert code == 0
    log = (save / "test.log").read_text()
    assert "Val result: mIoU/mAcc/allAcc 1.0000/1.0000/1.0000" in log
    assert "Loaded weight" in log and "Test: scene_a [1/2]-300" in log
    pred = np.load(save / "result" / "scene_a_pred.npy")
    np.testing.assert_array_equal(pred, np.load(root / "val" / "scene_a" / "segment.npy"))
    assert (save / "result" / "class_iou.png").exists()


def test_empty_fragment_is_skipped(tmp_path):
    empty = dict(feat=torch.zeros(0, 3), index=torch.zeros(0, dtype=torch.long), offset=torch.tensor([0]))
    model = FeatIsLogits()
    tester = SemSegTester(_cfg(tmp_path), model=model, test_loader=SceneLoader([]))
    prob = tester.predict_scene([empty, _frag([1], [[0.1, 0.2, 0.7]])], num_points=2)
    assert model.calls == 1 and prob[1].argmax() == 2 and prob[0].sum() == 0
