"""Crash safety: a training process killed with SIGKILL mid-epoch resumes to the exact uninterrupted result.

CPU, deterministic (seeded, ``num_worker=0``); the toy model has dropout and the toy data draws
noise from numpy's global RNG, so the resumed run only matches when the RNG states are restored.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

CONFIG = """
save_path = {save_path!r}
seed = 5
epoch = 4
eval_epoch = 4
batch_size = 2
num_worker = 0
evaluate = False
model = dict(type="_EngineToySeg", in_channels=4, num_classes=3)
data = dict(num_classes=3, ignore_index=-1, names=["a", "b", "c"],
            train=dict(type="_EngineToyPoints", n=6), val=dict(type="_EngineToyPoints", n=2, split="val"))
optimizer = dict(type="SGD", lr=0.1, momentum=0.9, weight_decay=1e-4)
scheduler = dict(type="OneCycleLR", max_lr=0.1, pct_start=0.3)
hooks = [dict(type="CheckpointLoader"), dict(type="IterationTimer", warmup_iter=1),
         dict(type="InformationWriter"), dict(type="_SlowStep"), dict(type="CheckpointSaver")]
"""

RUNNER = textwrap.dedent(f"""
    import os, sys, time
    sys.path.insert(0, {TESTS_DIR!r})
    import test_engine_toys  # noqa: F401  (registers the toy model/dataset)
    from pointlab.engine.hooks import HookBase
    from pointlab.registry import HOOKS

    @HOOKS.register_module("_SlowStep", force=True)
    class SlowStep(HookBase):
        # sleeps after each step when PL_TEST_SLOW is set, so the test can kill inside an epoch
        def after_step(self):
            time.sleep(float(os.environ.get("PL_TEST_SLOW", 0)))

    if __name__ == "__main__":
        from pointlab.cli import main
        sys.exit(main(sys.argv[1:]))
""")

LINE = re.compile(r"Train: \[(\d+)/\d+\]\[(\d+)/\d+\] .*?loss: (\S+)")


def _cmd(tmp_path, name, *options):
    cfg_file = tmp_path / f"{name}_cfg.py"
    cfg_file.write_text(CONFIG.format(save_path=str(tmp_path / name)))
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    cmd = [sys.executable, str(runner), "train", "--config-file", str(cfg_file)]
    return cmd + (["--options", *options] if options else [])


def _env(slow=0.0):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1", PL_TEST_SLOW=str(slow))
    return env


def _losses(log_text):
    """(epoch, iter) → loss string; a step logged again after the resume replaces the killed run's line."""
    return {(int(e), int(i)): loss for e, i, loss in LINE.findall(log_text)}


def _weights(path):
    from pointlab.engine.checkpoint import load_checkpoint

    return load_checkpoint(path)["state_dict"]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(tmp_path):
    full = subprocess.run(_cmd(tmp_path, "full"), capture_output=True, text=True, env=_env(), timeout=180)
    assert full.returncode == 0, full.stdout[-3000:] + full.stderr[-3000:]

    log = tmp_path / "killed" / "train.log"
    proc = subprocess.Popen(_cmd(tmp_path, "killed"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=_env(slow=0.4))
    try:
        deadline = time.monotonic() + 150
        # epoch 3, iteration 2 logged: two epochs are checkpointed, the third is half done
        while not (log.exists() and "Train: [3/4][2/3]" in log.read_text()):
            assert proc.poll() is None, "the training process ended before it could be killed"
            assert time.monotonic() < deadline, "timed out waiting for epoch 3"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    killed_log = log.read_text()
    assert "Train: [4/4]" not in killed_log
    model_dir = tmp_path / "killed" / "model"
    assert torch.load(model_dir / "model_last.pth", weights_only=True)["epoch"] == 2
    assert not [p for p in os.listdir(model_dir) if p.endswith(".tmp")]  # no half-written file left behind

    resumed = subprocess.run(_cmd(tmp_path, "killed", "resume=True"), capture_output=True, text=True,
                             env=_env(), timeout=180)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]

    ref, got = _weights(tmp_path / "full" / "model" / "model_last.pth"), _weights(model_dir / "model_last.pth")
    assert ref.keys() == got.keys()
    for k in ref:
        assert torch.equal(ref[k], got[k]), k
    ref_losses, got_losses = _losses((tmp_path / "full" / "train.log").read_text()), _losses(log.read_text())
    assert len(ref_losses) == 12
    assert got_losses == ref_losses
    # the killed run's partial epoch 3 was logged, then redone identically after the resume
    assert _losses(killed_log)[(3, 1)] == ref_losses[(3, 1)]
