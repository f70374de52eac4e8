"""MultiDatasetTrainer end to end: two tiny synthetic styles, PPT-v1m2 + SpUNet-v1m3, one dataset per
batch, per-dataset validation, checkpoints."""
from pathlib import Path

import pytest
import torch

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "synthetic" / "ppt-domain-gap-spunet.py"


@pytest.mark.slow
def test_two_styles_train_and_validate_per_dataset(tmp_path, monkeypatch):
    from pointlab.config import default_config_parser
    from pointlab.data.synth import write_dataset
    from pointlab.engine.multi_dataset import MultiDatasetSemSegEvaluator
    from pointlab.registry import TRAINERS

    for style in ("scannet", "structured3d"):
        write_dataset(style, str(tmp_path / style), scenes=2, seed=0, density=150, val_ratio=0.5, rooms_per_scene=1)
    cfg = default_config_parser(str(CONFIG), [f"save_path={tmp_path / 'exp'}", "epoch=2", "eval_epoch=1", "batch_size=1"])
    for split in ("train", "val"):
        sets = [s for s in cfg.data[split].datasets if s.type != "S3DISDataset"]
        for s in sets:
            s.data_root = str(tmp_path / Path(s.data_root).name)
        cfg.data[split].datasets = sets
    trainer = TRAINERS.build(cfg.train, default_args=dict(cfg=cfg))
    # data.train.loop = 2 went to the first dataset; the second is sampled alongside (ratio 1:1)
    assert trainer.train_loader.ratio == [1, 1] and len(trainer.train_loader) == 4
    seen = []
    original = trainer.run_step

    def spy():
        cond = trainer.comm_info["input_dict"]["condition"]
        seen.append(tuple(cond))
        original()

    monkeypatch.setattr(trainer, "run_step", spy)
    trainer.train()
    assert seen == [("ScanNet",), ("Structured3D",)] * 2
    evaluator = next(h for h in trainer.hooks if isinstance(h, MultiDatasetSemSegEvaluator))
    assert set(evaluator.last_metrics) == {"ScanNet", "Structured3D"}
    assert all(0.0 <= m["allAcc"] <= 1.0 for m in evaluator.last_metrics.values())
    ckpt = torch.load(tmp_path / "exp" / "model" / "model_last.pth", map_location="cpu", weights_only=False)
    assert ckpt["epoch"] == 1 and "embedding_table.weight" in ckpt["state_dict"]
    log = (tmp_path / "exp" / "train.log").read_text()
    assert "Val result [ScanNet]" in log and "Val result [Structured3D]" in log
