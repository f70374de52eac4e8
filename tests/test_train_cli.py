"""``pointlab train`` command line: options, outputs, launch errors."""
from __future__ import annotations

import os
import subprocess
import sys

import torch

import test_engine_toys  # noqa: F401  (registers the toy model/dataset)
from pointlab.cli import main

CONFIG = """
seed = 5
epoch = 2
eval_epoch = 2
batch_size = 2
num_worker = 0
evaluate = False
model = dict(type="_EngineToySeg", in_channels=4, num_classes=3)
data = dict(num_classes=3, ignore_index=-1, names=["a", "b", "c"], train=dict(type="_EngineToyPoints", n=4))
optimizer = dict(type="AdamW", lr=0.01, weight_decay=0.01)
scheduler = dict(type="OneCycleLR", max_lr=optimizer["lr"], pct_start=0.1)
hooks = [dict(type="CheckpointLoader"), dict(type="IterationTimer", warmup_iter=2),
         dict(type="InformationWriter"), dict(type="CheckpointSaver")]
"""


def _config(tmp_path):
    path = tmp_path / "toy.py"
    path.write_text(CONFIG)
    return str(path)


def test_train_command_runs_with_options(tmp_path, capsys):
    save = tmp_path / "exp"
    code = main(["train", "--config-file", _config(tmp_path), "--options", f"save_path={save}", "epoch=4",
                 "optimizer.lr=0.02"])
    assert code == 0
    ckpt = torch.load(save / "model" / "model_last.pth", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 2  # eval_epoch trainer epochs, each of epoch // eval_epoch = 2 passes
    dumped = (save / "config.py").read_text()
    assert "epoch = 4" in dumped and "lr=0.02" in dumped
    out = capsys.readouterr().out
    assert "Train: [2/2][4/4]" in out  # 4 samples * 2 passes / batch 2
    assert "Train: [2/2][4/4]" in (save / "train.log").read_text()

    # resume=True on a finished run: nothing left, the log is appended
    assert main(["train", "--config-file", _config(tmp_path), "--options", f"save_path={save}", "epoch=4",
                 "optimizer.lr=0.02", "resume=True"]) == 0
    log = (save / "train.log").read_text()
    assert log.count(">>>>>>>>>>>>>>>> Start Training") == 2 and "nothing left to train" in log


def test_impossible_process_layout_is_a_clear_error(tmp_path, capsys):
    code = main(["train", "--config-file", _config(tmp_path), "--num-machines", "1", "--machine-rank", "3",
                 "--options", f"save_path={tmp_path / 'x'}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--machine-rank 3" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_missing_config_file(tmp_path, capsys):
    assert main(["train", "--config-file", str(tmp_path / "none.py")]) == 2
    assert "none.py" in capsys.readouterr().err


def test_python_dash_m_help():
    res = subprocess.run([sys.executable, "-m", "pointlab", "train", "--help"], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert res.returncode == 0, res.stderr
    for flag in ("--config-file", "--num-gpus", "--num-machines", "--machine-rank", "--dist-url", "--options"):
        assert flag in res.stdout


def test_missing_weight_is_reported_without_traceback(tmp_path, capsys):
    save = tmp_path / "exp"
    code = main(["train", "--config-file", _config(tmp_path), "--options", f"save_path={save}",
                 f"weight={tmp_path / 'missing.pth'}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "missing.pth" in err and "Traceback" not in err
    assert "missing.pth" in (save / "train.log").read_text()
