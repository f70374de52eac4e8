"""SemSegEvaluator / PreciseEvaluator with a fake trainer and a tiny fake model."""
import logging
import os

import numpy as np
import pytest
import torch
from torch import nn

from pointlab.config import ConfigDict
from pointlab.evaluation.hooks import PreciseEvaluator, SemSegEvaluator
from pointlab.evaluation.testers import SemSegTester
from pointlab.registry import HOOKS


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


class LogitsFromFeat(nn.Module):
    """seg_logits = feat @ W (W starts as identity); loss = a constant when segment is given."""

    def __init__(self, k):
        super().__init__()
        self.proj = nn.Linear(k, k, bias=False)
        with torch.no_grad():
            self.proj.weight.copy_(torch.eye(k))

    def forward(self, d):
        out = {"seg_logits": self.proj(d["feat"])}
        if "segment" in d:
            out["loss"] = torch.tensor(0.25)
        return out


class Recorder:
    def __init__(self):
        self.scalars = {}

    def add_scalar(self, tag, value, step):
        self.scalars[tag] = (float(value), step)


class FakeTrainer:
    def __init__(self, cfg, model, val_loader):
        self.cfg, self.model, self.val_loader = cfg, model, val_loader
        self.logger = logging.getLogger("pointlab.test_evaluator")
        self.writer = Recorder()
        self.epoch, self.max_epoch = 2, 5
        self.comm_info = {}
        self.device = torch.device("cpu")
        self.best_metric_value = -float("inf")


def _onehot(labels, k, scale=5.0):
    return torch.nn.functional.one_hot(torch.as_tensor(labels), k).float() * scale


def _cfg(tmp_path, k=3, ignore=-1, **kw):
    return ConfigDict(
        evaluate=True,
        save_path=str(tmp_path),
        data=dict(num_classes=k, ignore_index=ignore, names=["wall", "floor", "chair"][:k]),
        **kw,
    )


def test_semseg_evaluator_inverse_to_origin_segment(tmp_path, caplog):
    k = 3
    # batch 1: 3 voxels predicted [0,1,2]; 5 raw points map to voxels [0,0,1,2,2]
    b1 = dict(
        feat=_onehot([0, 1, 2], k), segment=torch.tensor([0, 1, 2]),
        inverse=torch.tensor([0, 0, 1, 2, 2]), origin_segment=torch.tensor([0, 1, 1, 2, -1]),
    )
    # batch 2: no inverse, scored against segment directly
    b2 = dict(feat=_onehot([1, 1], k), segment=torch.tensor([1, 0]))
    trainer = FakeTrainer(_cfg(tmp_path, k), LogitsFromFeat(k), [b1, b2])
    hook = SemSegEvaluator(write_cls_iou=True)
    hook._attach(trainer)
    trainer.model.train()
    with caplog.at_level(logging.INFO, logger="pointlab.test_evaluator"):
        hook.after_epoch()
    # raw preds b1: [0,0,1,2,2] vs [0,1,1,2,ign]; b2: [1,1] vs [1,0]
    # class0: I=1, P=2, T=2 -> U=3; class1: I=2, P=3, T=3 -> U=4; class2: I=1, P=1, T=1 -> U=1
    m = hook.last_metrics
    np.testing.assert_allclose(m["iou_class"], [1 / 3, 2 / 4, 1.0])
    assert m["mIoU"] == pytest.approx((1 / 3 + 0.5 + 1) / 3)
    assert m["allAcc"] == pytest.approx(4 / 6)
    assert trainer.comm_info["current_metric_value"] == pytest.approx(m["mIoU"])
    assert trainer.comm_info["current_metric_name"] == "mIoU"
    w = trainer.writer.scalars
    assert w["val/mIoU"] == (pytest.approx(m["mIoU"]), 3)  # written at epoch + 1
    assert w["val/loss"][0] == pytest.approx(0.25)
    assert w["val/cls_2-chair IoU"][0] == pytest.approx(1.0)
    text = caplog.text
    assert "Val result: mIoU/mAcc/allAcc {:.4f}/".format(m["mIoU"]) in text
    assert "Class_1-floor Result: iou/accuracy 0.5000/0.6667" in text
    assert "Test: [2/2] Loss 0.2500" in text
    assert trainer.model.training  # mode restored


def test_semseg_evaluator_absent_class_counts_zero_and_ignore_k_no_leak(tmp_path):
    k = 3
    # ignore_index == num_classes; class 2 never present except as ignored label 3
    b = dict(feat=_onehot([0, 1, 1, 0], k), segment=torch.tensor([0, 1, 3, 3]))
    trainer = FakeTrainer(_cfg(tmp_path, k, ignore=k), LogitsFromFeat(k), [b])
    hook = SemSegEvaluator()
    hook._attach(trainer)
    hook.after_epoch()
    m = hook.last_metrics
    np.testing.assert_allclose(m["iou_class"], [1.0, 1.0, 0.0])  # the reference would give class 2 union 2
    assert m["mIoU"] == pytest.approx(2 / 3)
    assert "val/cls_0-wall IoU" not in trainer.writer.scalars


def test_semseg_evaluator_skips_when_evaluate_false_and_checks_num_classes(tmp_path):
    trainer = FakeTrainer(_cfg(tmp_path, 3), LogitsFromFeat(2), [dict(feat=torch.eye(2), segment=torch.tensor([0, 1]))])
    trainer.cfg.evaluate = False
    hook = SemSegEvaluator()
    hook._attach(trainer)
    hook.after_epoch()
    assert trainer.comm_info == {}
    trainer.cfg.evaluate = True
    with pytest.raises(ValueError, match="num_classes=3"):
        hook.after_epoch()


def test_hooks_registered():
    assert HOOKS.get("SemSegEvaluator") is SemSegEvaluator
    assert HOOKS.get("PreciseEvaluator") is PreciseEvaluator


class SceneLoader:
    """A test loader: a list of scene dicts, batch size 1, SemSegTester's identity collate."""

    batch_size = 1

    def __init__(self, scenes):
        self.scenes = scenes
        self.dataset = None

    def __iter__(self):
        return iter([[s] for s in self.scenes])

    def __len__(self):
        return len(self.scenes)


def test_precise_evaluator_loads_model_best_and_tests(tmp_path):
    k = 3
    best = LogitsFromFeat(k)
    with torch.no_grad():  # the best weights swap classes 0 and 1
        best.proj.weight.copy_(torch.eye(k)[[1, 0, 2]])
    os.makedirs(tmp_path / "model")
    torch.save({"epoch": 4, "state_dict": {"module." + key: v for key, v in best.state_dict().items()}},
               tmp_path / "model" / "model_best.pth")
    frag = dict(feat=_onehot([0, 1, 2], k), index=torch.tensor([0, 1, 2]), offset=torch.tensor([3]))
    scene = dict(segment=np.array([1, 0, 2]), name="scene0", fragment_list=[frag])
    cfg = _cfg(tmp_path, k, test=dict(type="SemSegTester", verbose=True, plot=False))
    live = LogitsFromFeat(k)  # identity: would score 1/3 allAcc
    trainer = FakeTrainer(cfg, live, None)
    hook = PreciseEvaluator()
    hook._attach(trainer)
    import pointlab.evaluation.testers as testers

    orig = testers.TesterBase.build_test_loader
    testers.TesterBase.build_test_loader = lambda self: SceneLoader([scene])
    try:
        hook.after_train()
    finally:
        testers.TesterBase.build_test_loader = orig
    assert torch.equal(live.proj.weight, best.proj.weight)  # loaded strictly, module. stripped
    assert hook.result["allAcc"] == pytest.approx(1.0)
    assert np.load(tmp_path / "result" / "scene0_pred.npy").tolist() == [1, 0, 2]


def test_precise_evaluator_without_model_best_explains(tmp_path):
    cfg = _cfg(tmp_path, 3, test=dict(type="SemSegTester"))
    trainer = FakeTrainer(cfg, LogitsFromFeat(3), None)
    hook = PreciseEvaluator()
    hook._attach(trainer)
    with pytest.raises(FileNotFoundError, match="test_last=True"):
        hook.after_train()


# ---------------------------------------------------------------------------------------------
# Train → evaluate each epoch → CheckpointSaver → PreciseEvaluator, with the real trainer, datasets
# and transforms and a per-point linear model (colour encodes the class, so it learns in a few steps).
class _LinearSeg(nn.Module):
    def __init__(self, in_channels=6, num_classes=3):
        super().__init__()
        self.lin = nn.Linear(in_channels, num_classes)

    def forward(self, d):
        out = {"seg_logits": self.lin(d["feat"])}
        if "segment" in d:
            out["loss"] = nn.functional.cross_entropy(out["seg_logits"], d["segment"].long(), ignore_index=-1)
        return out


def _write_scenes(root, split, n_scenes, rng):
    for s in range(n_scenes):
        d = root / split / f"{split}_{s}"
        d.mkdir(parents=True)
        n = 150
        seg = rng.integers(0, 3, n).astype(np.int32)
        color = rng.uniform(0, 60, (n, 3)).astype(np.float32)
        color[np.arange(n), seg] += 180.0
        np.save(d / "coord.npy", rng.uniform(0, 1.5, (n, 3)).astype(np.float32))
        np.save(d / "color.npy", color)
        np.save(d / "normal.npy", np.zeros((n, 3), np.float32))
        np.save(d / "segment.npy", seg)


@pytest.mark.slow
def test_training_run_evaluates_and_precise_tests(tmp_path):
    from pointlab.config import default_config_parser
    from pointlab.registry import MODELS, TRAINERS

    MODELS.register_module("PointlabTest-EvalLinearSeg", module=_LinearSeg, force=True)
    rng = np.random.default_rng(1)
    root = tmp_path / "data"
    _write_scenes(root, "train", 4, rng)
    _write_scenes(root, "val", 2, rng)
    grid = dict(type="GridSample", grid_size=0.1, hash_type="fnv", return_grid_coord=True)
    collect = dict(type="Collect", feat_keys=("color", "normal"))
    cfg = dict(
        save_path=str(tmp_path / "exp"), seed=0, epoch=4, eval_epoch=2, batch_size=2, num_worker=0,
        model=dict(type="PointlabTest-EvalLinearSeg"),
        optimizer=dict(type="AdamW", lr=0.05, weight_decay=0.0),
        scheduler=dict(type="OneCycleLR", max_lr=0.05, pct_start=0.3),
        data=dict(
            num_classes=3, ignore_index=-1, names=["wall", "floor", "chair"],
            train=dict(type="DefaultDataset", split="train", data_root=str(root), transform=[
                dict(type="CenterShift", apply_z=True), dict(grid, mode="train"), dict(type="NormalizeColor"),
                dict(type="ToTensor"), dict(collect, keys=("coord", "grid_coord", "segment"))]),
            val=dict(type="DefaultDataset", split="val", data_root=str(root), transform=[
                dict(type="CenterShift", apply_z=True), dict(type="Copy", keys_dict={"segment": "origin_segment"}),
                dict(grid, mode="train", return_inverse=True), dict(type="CenterShift", apply_z=False),
                dict(type="NormalizeColor"), dict(type="ToTensor"),
                dict(collect, keys=("coord", "grid_coord", "segment", "origin_segment", "inverse"))]),
            test=dict(type="DefaultDataset", split="val", data_root=str(root), test_mode=True, transform=[
                dict(type="CenterShift", apply_z=True), dict(type="NormalizeColor")],
                test_cfg=dict(voxelize=dict(grid, mode="test"), crop=None, post_transform=[
                    dict(type="CenterShift", apply_z=False), dict(type="ToTensor"),
                    dict(collect, keys=("coord", "grid_coord", "index"))],
                    aug_transform=[[dict(type="RandomScale", scale=[1, 1])], [dict(type="RandomFlip", p=1)]])),
        ),
    )
    cfg = default_config_parser(cfg)
    trainer = TRAINERS.build(cfg.train, default_args=dict(cfg=cfg))
    trainer.train()
    exp = tmp_path / "exp"
    log = (exp / "train.log").read_text()
    assert log.count("Val result: mIoU/mAcc/allAcc") == 3  # 2 evaluations + the precise test
    assert "Best mIoU:" in log and "Start Precise Evaluation" in log and "Testing on model_best" in log
    assert (exp / "model" / "model_best.pth").exists()
    for s in ("val_0", "val_1"):
        pred = np.load(exp / "result" / f"{s}_pred.npy")
        seg = np.load(root / "val" / s / "segment.npy")
        assert pred.shape == seg.shape and (pred == seg).mean() > 0.9
    precise = [h for h in trainer.hooks if isinstance(h, PreciseEvaluator)][0]
    assert precise.result["mIoU"] > 0.8
