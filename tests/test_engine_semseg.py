"""End to end through the real parts: synthetic rooms → SpUNet-v1m1 → evaluator → checkpoints → tester."""
from __future__ import annotations

import pytest
import torch

from pointlab.cli import main

CONFIG = "configs/synthetic/semseg-spunet-v1m1-small.py"


@pytest.mark.slow
def test_main_job_config_end_to_end_on_a_tiny_dataset(tmp_path, capsys):
    root, save = tmp_path / "data", tmp_path / "exp"
    options = [
        f"save_path={save}", f"data_root={root}",
        f"data.train.data_root={root}", f"data.val.data_root={root}", f"data.test.data_root={root}",
        # the CLI writes the synthetic rooms on first use; 2 sparse rooms, coarse voxels
        "synthetic_data.scenes=2", "synthetic_data.density=150", "synthetic_data.val_ratio=0.5",
        "grid_size=0.1", "data.train.transform.8.grid_size=0.1", "data.val.transform.2.grid_size=0.1",
        "data.test.test_cfg.voxelize.grid_size=0.1", "data.train.transform.9.point_max=3000",
        "epoch=2", "eval_epoch=2", "batch_size=1", "num_worker=0",
    ]
    assert main(["train", "--config-file", CONFIG, "--options", *options]) == 0
    assert (root / "train").is_dir() and (root / "val").is_dir()
    model_dir = save / "model"
    assert (model_dir / "model_last.pth").is_file() and (model_dir / "model_best.pth").is_file()
    ckpt = torch.load(model_dir / "model_last.pth", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["best_metric_value"] >= 0
    log = (save / "train.log").read_text()
    assert "Val result: mIoU/mAcc/allAcc" in log
    assert "Best validation mIoU updated to" in log
    assert "Start Precise Evaluation" in log  # PreciseEvaluator ran the tester after training
    assert list((save / "result").glob("scene*_pred.npy"))
