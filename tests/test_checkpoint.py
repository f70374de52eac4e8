"""Checkpoint save/load and load_weights: format, atomicity, safety, renaming, mismatch reports."""
import collections
import math
import os

import numpy as np
import pytest
import torch
import torch.nn as nn

import pointlab
from pointlab.engine.checkpoint import (
    CheckpointError,
    ShapeMismatchError,
    build_checkpoint,
    convert_checkpoint,
    load_checkpoint,
    load_weights,
    rename_state_dict_keys,
    save_checkpoint,
)


class Tiny(nn.Module):
    """Stand-in segmentor with Pointcept-like key names: backbone.{stem,bn,body,final}."""

    def __init__(self, in_channels=6, channels=8, num_classes=5):
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.stem = nn.Linear(in_channels, channels, bias=False)
        self.backbone.bn = nn.BatchNorm1d(channels)
        self.backbone.body = nn.Linear(channels, channels)
        self.backbone.final = nn.Linear(channels, num_classes)


class Evil:
    """Pickles as a call to builtins.open(path, "w"): running it would create the file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _train_state(model):
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    loss = sum(p.sum() for p in model.parameters())
    loss.backward()
    opt.step()
    sched.step()
    return opt, sched


def test_checkpoint_round_trip_in_reference_format(tmp_path):
    torch.manual_seed(0)
    model = Tiny()
    opt, sched = _train_state(model)
    ckpt = build_checkpoint(model, opt, sched, None, epoch=3, best_metric_value=np.float64(0.25))
    assert set(ckpt) >= {"epoch", "state_dict", "optimizer", "scheduler", "scaler", "best_metric_value", "pointlab_version", "model_type"}
    assert all(k.startswith("module.") for k in ckpt["state_dict"])
    path = save_checkpoint(ckpt, tmp_path / "model" / "model_last.pth")
    assert os.listdir(tmp_path / "model") == ["model_last.pth"]  # no temporary file left behind
    # plain torch can read it weights-only (what Pointcept >= torch 2.6 does by default)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert type(raw["best_metric_value"]) is float and raw["best_metric_value"] == 0.25
    back = load_checkpoint(path)
    assert back["epoch"] == 3 and back["model_type"] == "Tiny" and back["scaler"] is None
    for k, v in model.state_dict().items():
        assert torch.equal(back["state_dict"]["module." + k], v)
    opt2 = torch.optim.SGD(Tiny().parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(back["optimizer"])  # restorable
    assert opt2.state_dict()["param_groups"][0]["lr"] == opt.state_dict()["param_groups"][0]["lr"]


def test_save_refuses_objects_that_would_need_unpickling(tmp_path):
    with pytest.raises(TypeError, match="scheduler"):
        save_checkpoint({"epoch": 1, "scheduler": lambda: 0}, tmp_path / "x.pth")
    assert not list(tmp_path.iterdir())


def test_save_replaces_atomically(tmp_path):
    path = tmp_path / "ckpt.pth"
    save_checkpoint({"epoch": 1, "state_dict": {"w": torch.zeros(2)}}, path)
    save_checkpoint({"epoch": 2, "state_dict": {"w": torch.ones(2)}}, path)
    assert load_checkpoint(path)["epoch"] == 2 and len(list(tmp_path.iterdir())) == 1


def test_missing_truncated_and_garbage_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_checkpoint(tmp_path / "nope.pth")
    with pytest.raises(FileNotFoundError, match="model_best.pth"):
        load_weights(Tiny(), tmp_path / "nope.pth")
    good = save_checkpoint(build_checkpoint(Tiny()), tmp_path / "good.pth")
    trunc = tmp_path / "trunc.pth"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="trunc.pth.*truncated"):
        load_checkpoint(trunc)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pth"):
        load_weights(Tiny(), garbage)


def test_pickled_code_is_refused_but_weights_still_load_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    torch.manual_seed(1)
    src = Tiny()
    opt = torch.optim.SGD(src.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    old = {
        "epoch": 7,
        "state_dict": collections.OrderedDict(("module." + k, v) for k, v in src.state_dict().items()),
        "scheduler": {"anneal_func": sched._anneal_func if hasattr(sched, "_anneal_func") else sched._annealing_cos, "evil": Evil(str(marker))},
        "best_metric_value": np.float64(0.5),
    }
    path = tmp_path / "old.pth"
    torch.save(old, path)

    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert "old.pth" in msg and "scheduler.evil" in msg and "convert_checkpoint" in msg
    assert not marker.exists()

    dst = Tiny()
    report = load_weights(dst, path)
    assert not marker.exists()
    assert report.ok and report.epoch == 7 and len(report.loaded) == len(dst.state_dict())
    assert any("scheduler.evil" == w for w, _ in report.ignored_objects)
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v)

    dropped = convert_checkpoint(path, tmp_path / "clean.pth")
    assert not marker.exists() and {w for w, _ in dropped} >= {"scheduler.evil"}
    clean = load_checkpoint(tmp_path / "clean.pth")
    assert clean["best_metric_value"] == 0.5 and "evil" not in clean["scheduler"]


def test_load_weights_handles_prefixes_and_bare_state_dicts(tmp_path):
    torch.manual_seed(2)
    src = Tiny()
    for name, sd in [
        ("prefixed.pth", {"state_dict": {"module." + k: v for k, v in src.state_dict().items()}}),
        ("plain.pth", {"state_dict": src.state_dict()}),
        ("bare.pth", src.state_dict()),
    ]:
        torch.save(sd, tmp_path / name)
        dst = Tiny()
        report = pointlab.load_weights(dst, tmp_path / name, strict=True)
        assert report.ok, name
        assert torch.equal(dst.backbone.final.weight, src.backbone.final.weight), name


def test_rename_follows_pointcept_keywords_rules():
    sd = {"module.backbone.conv.weight": 1, "backbone.final.bias": 2, "module.embedding_table.weight": 3}
    assert list(rename_state_dict_keys(sd)) == ["backbone.conv.weight", "backbone.final.bias", "embedding_table.weight"]
    # PPT → PointGroup fine-tune: module.X → module.backbone.X (first occurrence only)
    out = rename_state_dict_keys(sd, keywords="module.", replacement="module.backbone.")
    assert list(out) == ["backbone.backbone.conv.weight", "backbone.backbone.final.bias", "backbone.embedding_table.weight"]
    # PointGroup stage 2: keywords == replacement → only the DDP prefix is normalised
    assert list(rename_state_dict_keys(sd, "module.", "module.")) == list(rename_state_dict_keys(sd))
    assert list(rename_state_dict_keys(sd, keep_module_prefix=True))[1] == "module.backbone.final.bias"


def test_missing_and_unexpected_are_reported_and_strict_raises(tmp_path):
    src = Tiny()
    sd = {k: v for k, v in src.state_dict().items() if not k.startswith("backbone.final")}
    sd["backbone.extra.weight"] = torch.zeros(3)
    torch.save({"state_dict": sd}, tmp_path / "w.pth")
    dst = Tiny()
    before = dst.backbone.final.weight.clone()
    report = load_weights(dst, tmp_path / "w.pth")
    assert report.missing == ["backbone.final.weight", "backbone.final.bias"]
    assert report.unexpected == ["backbone.extra.weight"]
    assert torch.equal(dst.backbone.final.weight, before) and torch.equal(dst.backbone.stem.weight, src.backbone.stem.weight)
    table = str(report)
    assert "missing" in table and "backbone.final.bias" in table and "backbone.extra.weight" in table
    with pytest.raises(CheckpointError, match="strict"):
        load_weights(Tiny(), tmp_path / "w.pth", strict=True)


@pytest.mark.parametrize(
    "kwargs, key, cause",
    [
        (dict(in_channels=9), "backbone.stem.weight", "in_channels"),
        (dict(num_classes=13), "backbone.final.weight", "num_classes"),
        (dict(channels=16), "backbone.body.weight", "channels"),
    ],
)
def test_shape_mismatch_raises_with_both_shapes_and_cause(tmp_path, kwargs, key, cause):
    torch.save({"state_dict": Tiny().state_dict()}, tmp_path / "w.pth")
    dst = Tiny(**kwargs)
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    with pytest.raises(ShapeMismatchError) as err:
        load_weights(dst, tmp_path / "w.pth")
    msg = str(err.value)
    assert key in msg and "likely " + cause in msg
    row = next(r for r in err.value.report.mismatched if r[0] == key)
    assert row[1] == tuple(Tiny().state_dict()[key].shape) and row[2] == tuple(before[key].shape)
    assert all(torch.equal(v, dst.state_dict()[k]) for k, v in before.items())  # nothing half-loaded
    # opt-in: keep the mismatched layers at their initialisation and load the rest
    report = load_weights(dst, tmp_path / "w.pth", skip_mismatched=True)
    assert key in [r[0] for r in report.mismatched] and report.loaded


def test_spconv_first_layer_in_channels_and_final_num_classes_causes(tmp_path):
    class Sp(nn.Module):
        def __init__(self, c_in, k):
            super().__init__()
            self.conv_input = nn.ParameterDict({"w": nn.Parameter(torch.zeros(32, 5, 5, 5, c_in))})
            self.final = nn.ParameterDict({"w": nn.Parameter(torch.zeros(k, 1, 1, 1, 96))})

    torch.save({"state_dict": Sp(6, 20).state_dict()}, tmp_path / "w.pth")
    with pytest.raises(ShapeMismatchError) as err:
        load_weights(Sp(9, 13), tmp_path / "w.pth")
    causes = {k: c for k, _, _, c in err.value.report.mismatched}
    assert causes["conv_input.w"].startswith("in_channels (6 in the checkpoint, 9")
    assert causes["final.w"].startswith("num_classes (20 in the checkpoint, 13")


def test_checkpoint_of_another_model_is_an_error(tmp_path):
    torch.save({"state_dict": nn.Linear(3, 3).state_dict()}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="another model"):
        load_weights(Tiny(), tmp_path / "other.pth")


def test_inf_best_metric_survives(tmp_path):
    path = save_checkpoint(build_checkpoint(Tiny()), tmp_path / "a.pth")
    assert load_checkpoint(path)["best_metric_value"] == -math.inf
