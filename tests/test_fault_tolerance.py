"""Faults: truncated checkpoints, bad scenes (stop or skip), non-finite losses (stop or skip), model-type mismatch."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from pointlab.data.datasets import DefaultDataset, SceneDataError
from pointlab.engine.checkpoint import (CheckpointError, build_checkpoint, load_checkpoint, load_weights,
                                        previous_good_checkpoint, save_checkpoint)
from pointlab.engine.trainers import DefaultTrainer
from test_engine_toys import ToySeg, toy_config


# -- truncated checkpoints ---------------------------------------------------------------------------
def _write_ckpts(model_dir, epochs):
    model = ToySeg()
    for i, e in enumerate(epochs):
        p = model_dir / f"epoch_{e}.pth"
        save_checkpoint(build_checkpoint(model, epoch=e), p)
        os.utime(p, (1000 + i, 1000 + i))  # deterministic "newest"
    last = model_dir / "model_last.pth"
    save_checkpoint(build_checkpoint(model, epoch=epochs[-1]), last)
    return last


def test_truncated_checkpoint_is_detected_and_the_previous_good_one_named(tmp_path):
    last = _write_ckpts(tmp_path, [1, 2, 3])
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"truncated, corrupt.*previous good checkpoint in that folder is "
                                              r"'.*epoch_3\.pth' \(epoch 3\)"):
        load_checkpoint(last)
    # epoch_3 truncated as well: the one before is named
    p3 = tmp_path / "epoch_3.pth"
    p3.write_bytes(p3.read_bytes()[:100])
    os.utime(p3, (2000, 2000))
    assert previous_good_checkpoint(last)[0].name == "epoch_2.pth"
    with pytest.raises(CheckpointError, match=r"epoch_2\.pth' \(epoch 2\)"):
        load_weights(ToySeg(), last)


def test_truncated_checkpoint_alone_says_there_is_no_fallback(tmp_path):
    p = tmp_path / "model_last.pth"
    save_checkpoint(build_checkpoint(ToySeg(), epoch=1), p)
    p.write_bytes(p.read_bytes()[:-50])
    with pytest.raises(CheckpointError, match="No other readable checkpoint"):
        load_checkpoint(p)


def test_resume_from_a_truncated_model_last_stops_naming_the_previous_good_one(tmp_path):
    cfg = toy_config(tmp_path / "run", epoch=2, eval_epoch=2,
                     hooks=[dict(type="CheckpointLoader"), dict(type="CheckpointSaver", save_freq=1)])
    DefaultTrainer(cfg).train()
    last = tmp_path / "run" / "model" / "model_last.pth"
    last.write_bytes(last.read_bytes()[:200])
    trainer = DefaultTrainer(toy_config(tmp_path / "run", epoch=2, eval_epoch=2, resume=True,
                                        hooks=[dict(type="CheckpointLoader"), dict(type="CheckpointSaver", save_freq=1)]))
    with pytest.raises(CheckpointError, match=r"model_last\.pth.*previous good checkpoint.*epoch_2\.pth' \(epoch 2\)"):
        trainer.train()


def test_loading_weights_of_another_model_type_warns_first(tmp_path):
    class OtherSeg(ToySeg):  # same keys and shapes, another type
        pass

    p = save_checkpoint(build_checkpoint(ToySeg(), epoch=1), tmp_path / "m.pth")
    assert load_checkpoint(p)["model_type"] == "_EngineToySeg" and load_checkpoint(p)["pointlab_version"]
    with pytest.warns(UserWarning, match=r"saved from a '_EngineToySeg' model .* into a 'OtherSeg' model"):
        report = load_weights(OtherSeg(), p)
    assert report.loaded


# -- bad scenes -------------------------------------------------------------------------------------------
def _scenes(root, n=6, points=30, bad=(2,)):
    rng = np.random.default_rng(0)
    for i in range(n):
        d = root / "train" / f"scene{i:02d}"
        d.mkdir(parents=True)
        np.save(d / "coord.npy", rng.random((points, 3)).astype(np.float32))
        np.save(d / "color.npy", (rng.random((points, 3)) * 255).astype(np.float32))
        np.save(d / "segment.npy", rng.integers(0, 3, points).astype(np.int32))
        if i in bad:  # truncated on disk (an interrupted copy)
            f = d / "coord.npy"
            f.write_bytes(f.read_bytes()[:90])
    return root


TRANSFORM = [dict(type="ToTensor"), dict(type="Collect", keys=("coord", "segment"), feat_keys=("coord", "color"))]


def test_bad_scene_stops_naming_scene_and_file_by_default(tmp_path):
    ds = DefaultDataset(split="train", data_root=str(_scenes(tmp_path)), transform=TRANSFORM)
    assert ds[1]["coord"].shape == (30, 3)
    with pytest.raises(SceneDataError, match=r"scene 'scene02': cannot read .*scene02.coord\.npy") as info:
        ds[2]
    assert info.value.scene == "scene02" and info.value.file.endswith("coord.npy")


def test_skip_bad_scenes_returns_the_next_scene_and_counts_across_workers(tmp_path):
    ds = DefaultDataset(split="train", data_root=str(_scenes(tmp_path, bad=(2, 5))), transform=TRANSFORM,
                        skip_bad_scenes=True)
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=2, collate_fn=lambda b: b[0])
    seen = [len(batch["coord"]) for batch in loader]
    assert len(seen) == 6  # every index yields a sample
    assert [os.path.basename(p) for p in ds.skipped_scenes()] == ["scene02", "scene05"]  # seen by the parent
    # index 5 (bad, last) wraps around to scene 0
    torch.testing.assert_close(ds[5]["coord"], ds[0]["coord"])


def test_all_scenes_bad_is_an_error_even_when_skipping(tmp_path):
    ds = DefaultDataset(split="train", data_root=str(_scenes(tmp_path, n=2, bad=(0, 1))), transform=TRANSFORM,
                        skip_bad_scenes=True)
    with pytest.raises(SceneDataError, match="all 2 scenes .* failed to load with skip_bad_scenes=True"):
        ds[0]


def test_training_skips_bad_scenes_and_reports_the_count(tmp_path):
    root = _scenes(tmp_path / "data", n=6, bad=(1, 4))
    train = dict(type="DefaultDataset", split="train", data_root=str(root), transform=TRANSFORM, skip_bad_scenes=True)
    data = dict(num_classes=3, ignore_index=-1, names=["a", "b", "c"], train=train,
                val=dict(type="_EngineToyPoints", n=2, split="val"))
    cfg = toy_config(tmp_path / "run", epoch=1, eval_epoch=1, model=dict(type="_EngineToySeg", in_channels=6),
                     data=data)
    trainer = DefaultTrainer(cfg)
    trainer.train()
    assert [os.path.basename(p) for p in trainer.skipped_report["scenes"]["train"]] == ["scene01", "scene04"]
    log = (tmp_path / "run" / "train.log").read_text()
    assert "Skipped 2 bad train scene(s) (skip_bad_scenes=True)" in log
    assert "skipping scene" in log and "scene04" in log


# -- non-finite losses -----------------------------------------------------------------------------------
def test_skip_nonfinite_loss_skips_the_steps_and_counts_them(tmp_path):
    # 3 iterations per epoch, 4 epochs; from the 5th forward on every loss is NaN
    cfg = toy_config(tmp_path / "run", skip_nonfinite_loss=True,
                     model=dict(type="_EngineToySeg", in_channels=4, nan_at_call=5))
    trainer = DefaultTrainer(cfg)
    trainer.train()
    assert trainer.skipped_report["steps"] == 8
    log = (tmp_path / "run" / "train.log").read_text()
    assert "non-finite loss at epoch 2/4, iteration 2/3: step skipped" in log
    assert "Skipped 8 step(s) with a non-finite loss" in log
    weights = torch.load(tmp_path / "run" / "model" / "model_last.pth", weights_only=True)["state_dict"]
    assert all(bool(torch.isfinite(v).all()) for v in weights.values())


def test_nonfinite_loss_default_stops_with_the_option_named(tmp_path):
    cfg = toy_config(tmp_path / "run", model=dict(type="_EngineToySeg", in_channels=4, nan_at_call=2))
    with pytest.raises(FloatingPointError, match=r"epoch 1/4, iteration 2/3.*skip_nonfinite_loss=True"):
        DefaultTrainer(cfg).train()
