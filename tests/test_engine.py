"""DefaultTrainer end to end on a toy model: outputs, log lines, resume exactness, accumulation, NaN, AMP."""
from __future__ import annotations

import math
import os
import re

import pytest
import torch

from pointlab.engine.hooks import HookBase
from pointlab.engine.trainers import DefaultTrainer
from pointlab.registry import HOOKS
from test_engine_toys import toy_config


def _train(cfg):
    trainer = DefaultTrainer(cfg)
    trainer.train()
    return trainer


def _load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


class _Stop(Exception):
    pass


@HOOKS.register_module("_EngineStopAfterEpoch", force=True)
class StopAfterEpoch(HookBase):
    """Simulates a killed run: raises at the end of epoch ``n`` (after CheckpointSaver ran)."""

    def __init__(self, n):
        self.n = n

    def after_epoch(self):
        if self.trainer.epoch + 1 == self.n:
            raise _Stop


def test_train_writes_outputs_and_log_lines(tmp_path):
    cfg = toy_config(tmp_path / "run")
    trainer = _train(cfg)
    out = tmp_path / "run"
    assert (out / "model" / "model_last.pth").is_file()
    assert not (out / "model" / "model_best.pth").exists()  # evaluate=False
    dumped = (out / "config.py").read_text()
    assert "seed = 3" in dumped and "batch_size_per_gpu" not in dumped  # as given, without derived keys
    assert any(p.name.startswith("events.out.tfevents") for p in out.iterdir())
    ckpt = _load(out / "model" / "model_last.pth")
    assert ckpt["epoch"] == 4
    assert set(ckpt) >= {"epoch", "state_dict", "optimizer", "scheduler", "scaler", "best_metric_value"}
    assert ckpt["scaler"] is None and ckpt["best_metric_value"] == -math.inf
    assert set(ckpt["state_dict"]) == set(trainer.model.state_dict())
    # 6 samples, batch 2, loop = epoch // eval_epoch = 1 → 3 iterations per epoch, 4 epochs
    assert len(trainer.train_loader) == 3
    assert trainer.scheduler.last_epoch == trainer.total_steps == 12
    log = (out / "train.log").read_text()
    line = re.compile(
        r"Train: \[2/4\]\[3/3\] Data \d+\.\d{3} \(\d+\.\d{3}\) Batch \d+\.\d{3} \(\d+\.\d{3}\) "
        r"Remain \d\d:\d\d:\d\d loss: \d+\.\d{4} aux: \d+\.\d{4} Lr: \d\.\d{5}"
    )
    assert line.search(log), log[-2000:]
    assert log.count("Train result: loss:") == 4
    assert "Num params: " in log


def test_loop_factor_and_drop_last(tmp_path):
    # epoch=8, eval_epoch=2 → 2 trainer epochs of 4 data passes: 7 samples * 4 = 28, batch 3 → 9 (drop_last)
    cfg = toy_config(tmp_path / "run", epoch=8, eval_epoch=2, batch_size=3, **{"data.train.n": 7})
    trainer = DefaultTrainer(cfg)
    assert trainer.max_epoch == 2 and cfg.data.train.loop == 4
    assert len(trainer.train_loader) == 28 // 3
    # fewer samples than the batch: drop_last off, one short batch
    cfg = toy_config(tmp_path / "run2", batch_size=8, **{"data.train.n": 5})
    assert len(DefaultTrainer(cfg).train_loader) == 1


@pytest.mark.parametrize("num_worker", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_resume_ends_with_the_same_weights(tmp_path, num_worker):
    full = _train(toy_config(tmp_path / "full", num_worker=num_worker))
    reference = {k: v.clone() for k, v in full.model.state_dict().items()}

    cfg = toy_config(tmp_path / "split", num_worker=num_worker)
    cfg.hooks = cfg.hooks + [dict(type="_EngineStopAfterEpoch", n=2)]
    with pytest.raises(_Stop):
        _train(cfg)
    assert _load(tmp_path / "split" / "model" / "model_last.pth")["epoch"] == 2

    config_py = tmp_path / "split" / "config.py"
    config_py.write_text("# first run\n")
    # resume=True without weight finds save_path/model/model_last.pth
    cfg = toy_config(tmp_path / "split", num_worker=num_worker, resume=True)
    resumed = DefaultTrainer(cfg)
    resumed.train()
    assert resumed.start_epoch == 2
    for k, v in resumed.model.state_dict().items():
        assert torch.equal(v, reference[k]), k
    log = (tmp_path / "split" / "train.log").read_text()
    assert "Train: [1/4]" in log and "Train: [3/4]" in log  # appended, not overwritten
    assert config_py.read_text() == "# first run\n"  # not re-dumped on resume


def test_weight_path_that_does_not_exist_is_an_error(tmp_path):
    cfg = toy_config(tmp_path / "run", weight=str(tmp_path / "nope.pth"))
    trainer = DefaultTrainer(cfg)
    with pytest.raises(FileNotFoundError, match="nope.pth.*weight=None"):
        trainer.train()


def test_resume_without_any_checkpoint_is_an_error(tmp_path):
    trainer = DefaultTrainer(toy_config(tmp_path / "run", resume=True))
    with pytest.raises(FileNotFoundError, match="model_last.pth"):
        trainer.train()


@pytest.mark.parametrize("weight", [None, "None"])
def test_weight_none_trains_from_scratch(tmp_path, weight):
    trainer = _train(toy_config(tmp_path / "run", weight=weight, epoch=1, eval_epoch=1))
    assert "training from scratch" in (tmp_path / "run" / "train.log").read_text()
    assert trainer.start_epoch == 0


def test_weight_fine_tunes_from_epoch_zero(tmp_path):
    first = _train(toy_config(tmp_path / "a", epoch=2, eval_epoch=2))
    cfg = toy_config(tmp_path / "b", epoch=1, eval_epoch=1, weight=str(tmp_path / "a" / "model" / "model_last.pth"))
    seen = {}

    @HOOKS.register_module("_EnginePeek", force=True)
    class Peek(HookBase):
        def before_train(self):
            seen.update({k: v.clone() for k, v in self.trainer.model.state_dict().items()})
            seen["start"] = self.trainer.start_epoch

    cfg.hooks = cfg.hooks[:1] + [dict(type="_EnginePeek")] + cfg.hooks[1:]
    _train(cfg)
    assert seen["start"] == 0
    for k, v in first.model.state_dict().items():
        assert torch.equal(seen[k], v), k


def test_gradient_accumulation_matches_a_larger_batch(tmp_path):
    model = dict(type="_EngineToySeg", in_channels=4, dropout=0.0)
    common = dict(model=model, optimizer=dict(type="SGD", lr=0.05), scheduler=dict(type="CosineAnnealingLR"),
                  epoch=2, eval_epoch=2, **{"data.train.n": 8})
    big = _train(toy_config(tmp_path / "big", batch_size=4, **common))
    acc = _train(toy_config(tmp_path / "acc", batch_size=2, gradient_accumulation_steps=2, **common))
    assert len(acc.train_loader) == 4 and acc.total_steps == 4 == big.total_steps
    assert acc.scheduler.last_epoch == 4
    for k, v in big.model.state_dict().items():
        torch.testing.assert_close(acc.model.state_dict()[k], v, rtol=1e-5, atol=1e-6)


def test_clip_grad_bounds_the_update(tmp_path):
    cfg = toy_config(tmp_path / "run", epoch=1, eval_epoch=1, batch_size=6, clip_grad=1e-3,
                     optimizer=dict(type="SGD", lr=1.0), scheduler=dict(type="CosineAnnealingLR"))
    trainer = DefaultTrainer(cfg)
    before = torch.cat([p.detach().flatten().clone() for p in trainer.model.parameters()])
    trainer.train()
    after = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    assert 0 < (after - before).norm() <= 1e-3 * 1.0001


def test_nan_loss_stops_with_iteration_and_keeps_checkpoint(tmp_path):
    # 3 iterations per epoch: the 5th forward is epoch 2, iteration 2
    cfg = toy_config(tmp_path / "run", model=dict(type="_EngineToySeg", in_channels=4, nan_at_call=5))
    trainer = DefaultTrainer(cfg)
    with pytest.raises(FloatingPointError, match=r"epoch 2/4, iteration 2/3: \{'loss': nan, 'aux': nan\}.*model_last"):
        trainer.train()
    assert _load(tmp_path / "run" / "model" / "model_last.pth")["epoch"] == 1


def test_amp_on_cpu_never_crashes(tmp_path, caplog):
    t16 = _train(toy_config(tmp_path / "fp16", epoch=1, eval_epoch=1, enable_amp=True, amp_dtype="float16"))
    assert not t16.amp_enabled and t16.scaler is None
    assert "needs CUDA" in (tmp_path / "fp16" / "train.log").read_text()
    tbf = _train(toy_config(tmp_path / "bf16", epoch=1, eval_epoch=1, enable_amp=True, amp_dtype="bfloat16"))
    assert tbf.amp_enabled and tbf.amp_dtype == torch.bfloat16
    assert math.isfinite(tbf.storage.history("loss").val) if tbf.storage.has("loss") else True
    assert all(torch.isfinite(p).all() for p in tbf.model.parameters())


def test_checkpoint_saver_best_and_save_freq(tmp_path):
    values = iter([0.3, 0.5, 0.4, 0.6])

    @HOOKS.register_module("_EngineFakeEvaluator", force=True)
    class FakeEvaluator(HookBase):
        def after_epoch(self):
            self.trainer.comm_info["current_metric_value"] = next(values)
            self.trainer.comm_info["current_metric_name"] = "mIoU"

    cfg = toy_config(tmp_path / "run", evaluate=True)
    cfg.hooks = [dict(type="CheckpointLoader"), dict(type="_EngineFakeEvaluator"), dict(type="CheckpointSaver", save_freq=2)]
    trainer = _train(cfg)
    model_dir = tmp_path / "run" / "model"
    assert sorted(os.listdir(model_dir)) == ["epoch_2.pth", "epoch_4.pth", "model_best.pth", "model_last.pth"]
    assert trainer.best_metric_value == 0.6
    assert _load(model_dir / "model_best.pth")["best_metric_value"] == 0.6
    assert _load(model_dir / "epoch_2.pth")["epoch"] == 2
    log = (tmp_path / "run" / "train.log").read_text()
    assert log.count("Best validation mIoU updated to") == 3  # 0.3, 0.5, 0.6 (strictly greater)


def test_model_hook_forwards_events_to_a_hook_model(tmp_path):
    from pointlab.registry import MODELS
    from test_engine_toys import ToySeg

    @MODELS.register_module("_EngineHookModel", force=True)
    class HookModel(ToySeg, HookBase):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.events = []

        def before_epoch(self):
            self.events.append(("before_epoch", self.trainer.epoch))

    cfg = toy_config(tmp_path / "run", epoch=2, eval_epoch=2, model=dict(type="_EngineHookModel", in_channels=4))
    cfg.hooks = [dict(type="ModelHook")]
    trainer = _train(cfg)
    assert trainer.model.events == [("before_epoch", 0), ("before_epoch", 1)]


def test_unknown_hook_type_names_the_registry(tmp_path):
    cfg = toy_config(tmp_path / "run")
    cfg.hooks = [dict(type="CheckpointSaverr")]
    with pytest.raises(KeyError, match="CheckpointSaver"):
        DefaultTrainer(cfg)


def test_precise_bn_recomputes_running_stats_as_a_plain_average(tmp_path):
    from torch import nn

    from pointlab.engine.hooks import update_bn_stats

    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3, momentum=0.01))
    batches = [{"feat": torch.randn(16, 4) * (i + 1) + i} for i in range(5)]
    model.eval()
    n = update_bn_stats(model, batches, lambda b: model(b["feat"]))
    assert n == 5 and not model.training and model[1].momentum == 0.01
    with torch.no_grad():
        outs = [model[0](b["feat"]) for b in batches]
    torch.testing.assert_close(model[1].running_mean, torch.stack([o.mean(0) for o in outs]).mean(0))
    torch.testing.assert_close(model[1].running_var, torch.stack([o.var(0) for o in outs]).mean(0))


def test_precise_bn_hook_runs_before_the_evaluator(tmp_path):
    from pointlab.registry import MODELS
    from test_engine_toys import ToySeg

    @MODELS.register_module("_EngineToySegBN", force=True)
    class ToySegBN(ToySeg):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.net.insert(1, torch.nn.BatchNorm1d(16, momentum=0.01))

    seen = []

    @HOOKS.register_module("_EngineBNProbe", force=True)
    class Probe(HookBase):
        def after_epoch(self):
            bn = self.trainer.model.net[1]
            seen.append(int(bn.num_batches_tracked))
            self.trainer.comm_info["current_metric_value"] = 0.0

    cfg = toy_config(tmp_path / "run", evaluate=True, epoch=2, eval_epoch=2,
                     model=dict(type="_EngineToySegBN", in_channels=4))
    cfg.hooks = [dict(type="PreciseBN", num_iter=2), dict(type="_EngineBNProbe"), dict(type="CheckpointSaver")]
    _train(cfg)
    assert seen == [2, 2]  # statistics from exactly 2 batches, recomputed every epoch
    assert "PreciseBN: BatchNorm statistics recomputed over 2 training batches" in (tmp_path / "run" / "train.log").read_text()


def test_resume_from_another_models_checkpoint_is_refused_before_loading(tmp_path):
    from pointlab.engine.checkpoint import CheckpointError

    _train(toy_config(tmp_path / "a", epoch=1, eval_epoch=1))
    ckpt_path = tmp_path / "a" / "model" / "model_last.pth"
    ckpt = _load(ckpt_path)
    ckpt["state_dict"] = {f"{k}.renamed": v for k, v in ckpt["state_dict"].items()}  # another layout
    torch.save(ckpt, tmp_path / "other.pth")
    trainer = DefaultTrainer(toy_config(tmp_path / "b", epoch=1, eval_epoch=1, resume=True,
                                        weight=str(tmp_path / "other.pth")))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    with pytest.raises(CheckpointError, match="resume=True continues a run of the same model.*without resume=True"):
        trainer.train()
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(v, before[k]), k  # nothing was half-loaded
