"""The two-stage PointGroup recipe end to end through the CLI on two tiny synthetic rooms:
stage 1 trains the semantic SpUNet-v1m1, stage 2 trains PG-v1m1 from its model_best.pth."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pointlab.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "synthetic"
STAGE1 = str(CONFIGS / "semseg-spunet-v1m1-small-pg-stage1.py")
STAGE2 = str(CONFIGS / "insseg-pointgroup-small.py")


def _common(root, save):
    return [
        f"save_path={save}", f"data_root={root}",
        f"data.train.data_root={root}", f"data.val.data_root={root}",
        "synthetic_data.scenes=2", "synthetic_data.density=150", "synthetic_data.val_ratio=0.5",
        "grid_size=0.1", "data.train.transform.8.grid_size=0.1", "data.val.transform.2.grid_size=0.1",
        "data.train.transform.9.point_max=3000", "epoch=1", "eval_epoch=1", "batch_size=1", "num_worker=0",
    ]


@pytest.mark.slow
def test_two_stage_recipe(tmp_path):
    root = tmp_path / "data"
    s1, s2 = tmp_path / "stage1", tmp_path / "stage2"
    assert main(["train", "--config-file", STAGE1, "--options", *_common(root, s1)]) == 0
    best = s1 / "model" / "model_best.pth"
    assert best.is_file()
    options = _common(root, s2) + [
        f"weight={best}", f"data.test.data_root={root}", "data.test.transform.2.grid_size=0.1",
        "model.voxel_size=0.1", "model.cluster_propose_points=5", "model.cluster_min_points=3",
    ]
    assert main(["train", "--config-file", STAGE2, "--options", *options]) == 0
    log = (s2 / "train.log").read_text()
    # the loader's report: backbone loaded, stage-1 classifier dropped, PointGroup heads fresh
    assert "Loading layer weights with keyword: module., replace keyword with: module." in log
    assert "unexpected      2" in log and "backbone.final.weight" in log
    assert "missing        11" in log and "bias_head.0.weight" in log and "seg_head.weight" in log
    assert "Val result: mAP/AP50/AP25" in log and "Class_0-cabinet Result: AP/AP50/AP25" in log
    assert "Start Precise Evaluation" in log  # InsSegTester on model_best.pth
    ckpt = torch.load(s2 / "model" / "model_best.pth", map_location="cpu", weights_only=True)
    assert any(k.endswith("bias_head.3.weight") for k in ckpt["state_dict"])
    assert list((s2 / "result" / "submit").glob("scene*.txt"))
    # a different backbone in stage 2 is refused before any training step, naming the key and the cause
    bad = options + ["model.backbone.in_channels=9", f"save_path={tmp_path / 'bad'}"]
    assert main(["train", "--config-file", STAGE2, "--options", *bad]) != 0
    log = (tmp_path / "bad" / "train.log").read_text()
    assert "ShapeMismatchError" in log and "backbone.conv_input.0.weight: checkpoint [16,5,5,5,6] vs model [16,5,5,5,9]" in log
    assert "likely in_channels" in log and "Train: [1/1]" not in log
