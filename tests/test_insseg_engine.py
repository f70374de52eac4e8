"""InsSegEvaluator / InsSegTester with a fake instance model, and the weight transfer of the
two-stage PointGroup recipe (semantic model → PG-v1m1)."""
import logging

import numpy as np
import pytest
import torch
from torch import nn

from pointlab.config import ConfigDict
from pointlab.engine.checkpoint import ShapeMismatchError, build_checkpoint, load_weights, save_checkpoint
from pointlab.evaluation.hooks import InsSegEvaluator
from pointlab.evaluation.insseg_hooks import instance_scene, nearest_source_index
from pointlab.evaluation.testers import InsSegTester
from pointlab.models import build_model
from pointlab.registry import HOOKS, TESTERS

NAMES = ["wall", "floor", "chair", "table"]


class OracleInstances(nn.Module):
    """One proposal per ground-truth instance of the (voxelised) batch, class from ``segment``."""

    def forward(self, d):
        inst, seg = d["instance"], d["segment"]
        ids = [int(i) for i in torch.unique(inst) if i >= 0]
        masks = torch.stack([(inst == i).int() for i in ids]) if ids else torch.zeros(0, len(inst), dtype=torch.int32)
        classes = torch.tensor([int(seg[inst == i][0]) for i in ids], dtype=torch.long)
        return dict(loss=torch.tensor(0.5), pred_masks=masks, pred_scores=torch.linspace(0.9, 0.5, len(ids)), pred_classes=classes)


def _batch(seed, name="scene0000_00"):
    """Voxelised points on a line (coord) and raw points (origin_coord) next to them, 2 raw per voxel."""
    rng = np.random.default_rng(seed)
    n = 400
    coord = np.stack([np.arange(n) * 0.1, np.zeros(n), np.zeros(n)], 1).astype(np.float32)
    seg = np.repeat([2, 2, 3, 0], 100)
    inst = np.repeat([0, 1, 2, -1], 100)
    raw = np.concatenate([coord + 0.01, coord - 0.01])
    order = rng.permutation(2 * n)
    raw, rseg, rinst = raw[order], np.tile(seg, 2)[order], np.tile(inst, 2)[order]
    t = torch.from_numpy
    return dict(coord=t(coord), offset=torch.tensor([n]), segment=t(seg), instance=t(inst),
                origin_coord=t(raw), origin_offset=torch.tensor([2 * n]), origin_segment=t(rseg),
                origin_instance=t(rinst), name=[name])


class Recorder:
    def __init__(self):
        self.scalars = {}

    def add_scalar(self, tag, value, step):
        self.scalars[tag] = (float(value), step)


class FakeTrainer:
    def __init__(self, cfg, model, val_loader):
        self.cfg, self.model, self.val_loader = cfg, model, val_loader
        self.logger = logging.getLogger("pointlab.test_insseg")
        self.writer, self.epoch, self.comm_info = Recorder(), 2, {}
        self.best_metric_value = -float("inf")


def _cfg(tmp_path):
    return ConfigDict(evaluate=True, save_path=str(tmp_path), data=dict(num_classes=4, names=NAMES))


def test_nearest_source_index_per_sample():
    src = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 0, 0], [5, 0, 0]])
    q = torch.tensor([[0.9, 0, 0], [0.1, 0, 0], [4, 0, 0]])
    # sample 1's query at x=4 must not pick sample 0's points
    assert nearest_source_index(src, torch.tensor([2, 4]), q, torch.tensor([2, 3])).tolist() == [1, 0, 3]


def test_scene_maps_proposals_to_raw_points():
    b = _batch(0)
    out = OracleInstances()(b)
    scene = instance_scene(b, out)
    assert scene["pred_masks"].shape == (3, 800)
    # every raw point inherits its voxel's proposal: the masks equal the raw instances
    for k in range(3):
        assert np.array_equal(scene["pred_masks"][k], b["origin_instance"].numpy() == k)
    with pytest.raises(KeyError, match="origin_instance"):
        instance_scene({k: v for k, v in b.items() if k != "origin_instance"}, out)
    with pytest.raises(KeyError, match="pred_masks"):
        instance_scene(b, {"loss": out["loss"]})


def test_evaluator_reports_ap50_to_the_saver(tmp_path):
    hook = HOOKS.build(dict(type="InsSegEvaluator", segment_ignore_index=(-1, 0, 1), instance_ignore_index=-1))
    assert isinstance(hook, InsSegEvaluator)
    trainer = FakeTrainer(_cfg(tmp_path), OracleInstances(), [_batch(0), _batch(1)])
    hook.trainer = trainer
    hook.after_epoch()
    m = hook.last_metrics
    assert m["all_ap"] == m["all_ap_50%"] == 1.0 and m["loss"] == 0.5
    assert trainer.comm_info == {"current_metric_value": 1.0, "current_metric_name": "AP50"}
    assert set(trainer.writer.scalars) == {"val/loss", "val/mAP", "val/AP50", "val/AP25"}
    assert trainer.writer.scalars["val/AP50"] == (1.0, 3)
    two = _batch(0)
    two["offset"] = torch.tensor([200, 400])
    trainer.val_loader = [two]
    with pytest.raises(ValueError, match="one scene per batch"):
        hook.eval()


class _Dataset:
    class2id = np.array([1, 2, 5, 7])


class _Loader(list):
    batch_size = 1
    dataset = _Dataset()


def test_tester_scores_and_writes_scannet_submission(tmp_path):
    tester = TESTERS.build(dict(type="InsSegTester", segment_ignore_index=(-1, 0, 1), instance_ignore_index=-1),
                           default_args=dict(cfg=_cfg(tmp_path), model=OracleInstances(), test_loader=_Loader([_batch(0, "sceneA")])))
    assert isinstance(tester, InsSegTester)
    r = tester.test()
    assert r["all_ap_50%"] == 1.0
    lines = (tmp_path / "result" / "submit" / "sceneA.txt").read_text().splitlines()
    assert lines == ["predicted_masks/sceneA_000.txt 5 0.9000", "predicted_masks/sceneA_001.txt 5 0.7000",
                     "predicted_masks/sceneA_002.txt 7 0.5000"]  # NYU40-style ids through class2id
    mask = np.loadtxt(tmp_path / "result" / "submit" / "predicted_masks" / "sceneA_002.txt")
    assert mask.shape == (800,) and mask.sum() == 200


def _tiny_semseg(in_channels=6, channels=(8, 8, 8, 8, 8, 8, 8, 8), num_classes=4):
    return build_model(dict(type="DefaultSegmentor", backbone=dict(
        type="SpUNet-v1m1", in_channels=in_channels, num_classes=num_classes, base_channels=8, channels=channels,
        layers=(1,) * 8), criteria=[dict(type="CrossEntropyLoss", ignore_index=-1)]))


def _tiny_pg(in_channels=6, channels=(8, 8, 8, 8, 8, 8, 8, 8), num_classes=4):
    return build_model(dict(type="PG-v1m1", backbone=dict(
        type="SpUNet-v1m1", in_channels=in_channels, num_classes=0, base_channels=8, channels=channels,
        layers=(1,) * 8), backbone_out_channels=channels[-1], semantic_num_classes=num_classes))


def test_stage_two_loads_the_backbone_and_starts_the_heads_fresh(tmp_path):
    torch.manual_seed(0)
    stage1 = _tiny_semseg()
    path = save_checkpoint(build_checkpoint(stage1, epoch=3, best_metric_value=0.4), tmp_path / "model_best.pth")
    pg = _tiny_pg()
    heads = {k: v.clone() for k, v in pg.state_dict().items() if not k.startswith("backbone.")}
    report = load_weights(pg, path, keywords="module.", replacement="module.")  # the reference's loader settings
    assert report.unexpected == ["backbone.final.weight", "backbone.final.bias"]  # the stage-1 classifier
    assert sorted(report.missing) == sorted(heads)  # bias_head.* and seg_head.* keep their initialisation
    assert len(report.loaded) == len(stage1.state_dict()) - 2
    sd = pg.state_dict()
    assert all(torch.equal(sd[k], v) for k, v in heads.items())
    assert all(torch.equal(sd[k], stage1.state_dict()[k]) for k in report.loaded)
    text = str(report)
    assert "missing" in text and "bias_head.0.weight" in text and "backbone.final.weight" in text


@pytest.mark.parametrize("kw, key, cause", [
    (dict(in_channels=9), "backbone.conv_input.0.weight", "in_channels"),
    (dict(channels=(8, 8, 8, 16, 8, 8, 8, 8)), "backbone.down.3.0.weight", "channels"),
])
def test_stage_two_mismatch_is_reported_key_by_key(tmp_path, kw, key, cause):
    path = save_checkpoint(build_checkpoint(_tiny_semseg()), tmp_path / "model_best.pth")
    pg = _tiny_pg(**kw)
    before = {k: v.clone() for k, v in pg.state_dict().items()}
    with pytest.raises(ShapeMismatchError) as err:
        load_weights(pg, path, keywords="module.", replacement="module.")
    assert key in str(err.value) and cause in str(err.value) and "Fix the model config" in str(err.value)
    assert all(torch.equal(v, before[k]) for k, v in pg.state_dict().items())  # nothing half-loaded


def test_reusing_a_pg_checkpoint_with_another_class_count_names_num_classes(tmp_path):
    path = save_checkpoint(build_checkpoint(_tiny_pg(num_classes=4)), tmp_path / "pg.pth")
    with pytest.raises(ShapeMismatchError, match=r"seg_head.weight.*num_classes"):
        load_weights(_tiny_pg(num_classes=13), path, keywords="module.", replacement="module.")
