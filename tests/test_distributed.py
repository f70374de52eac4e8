"""DDP on CPU (gloo): 2 processes with half the batch each equal 1 process with the whole batch.

The runs go through ``pointlab train`` (the CLI) in a subprocess: spawned workers re-import the
runner script, which registers the toy model and dataset from ``test_engine_toys``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

# toy model without dropout, toy data without noise, same point count per sample: the mean loss
# over a 4-sample batch equals the mean of two 2-sample means, so the gradients agree exactly.
CONFIG = """
save_path = {save_path!r}
seed = 3
epoch = 2
eval_epoch = 2
batch_size = 4
num_worker = 0
evaluate = False
model = dict(type="_EngineToySeg", in_channels=4, num_classes=3, dropout=0.0)
data = dict(num_classes=3, ignore_index=-1, names=["a", "b", "c"],
            train=dict(type="_EngineToyPoints", n=12, noise=0.0), val=dict(type="_EngineToyPoints", n=2, split="val"))
optimizer = dict(type="SGD", lr=0.1, momentum=0.9, weight_decay=1e-4)
scheduler = dict(type="OneCycleLR", max_lr=0.1, pct_start=0.3)
hooks = [dict(type="CheckpointLoader"), dict(type="IterationTimer", warmup_iter=1),
         dict(type="InformationWriter"), dict(type="CheckpointSaver")]
{extra}
"""

RUNNER = textwrap.dedent(f"""
    import sys
    sys.path.insert(0, {TESTS_DIR!r})
    import test_engine_toys  # noqa: F401  (registers the toy model/dataset, also in spawned workers)

    if __name__ == "__main__":
        from pointlab.cli import main
        sys.exit(main(sys.argv[1:]))
""")


def _run_cli(tmp_path, name, num_gpus, extra=""):
    save = tmp_path / name
    cfg_file = tmp_path / f"{name}_cfg.py"
    cfg_file.write_text(CONFIG.format(save_path=str(save), extra=extra))
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["CUDA_VISIBLE_DEVICES"] = ""  # the CPU path, also on a GPU machine
    env["OMP_NUM_THREADS"] = "1"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(runner), "train", "--config-file", str(cfg_file),
                           "--num-gpus", str(num_gpus)], capture_output=True, text=True, timeout=240, env=env)
    return proc, save, time.perf_counter() - t0


def _weights(save):
    from pointlab.engine.checkpoint import load_checkpoint

    sd = load_checkpoint(save / "model" / "model_last.pth")["state_dict"]
    return {k.removeprefix("module."): v for k, v in sd.items()}


@pytest.mark.slow
def test_two_gloo_processes_equal_one_process_with_the_same_global_batch(tmp_path):
    one, save1, t1 = _run_cli(tmp_path, "one", 1)
    assert one.returncode == 0, one.stdout[-3000:] + one.stderr[-3000:]
    two, save2, t2 = _run_cli(tmp_path, "two", 2, extra="sync_bn = True\nfind_unused_parameters = True")
    assert two.returncode == 0, two.stdout[-3000:] + two.stderr[-3000:]
    print(f"1 process: {t1:.1f}s, 2 gloo processes: {t2:.1f}s")
    # no CUDA device → documented fallback: CPU processes over gloo, with a warning
    assert "no CUDA device; starting 2 CPU processes over gloo" in two.stdout + two.stderr
    assert "sync_bn=True is ignored on CPU" in (save2 / "train.log").read_text()
    w1, w2 = _weights(save1), _weights(save2)
    assert w1.keys() == w2.keys() and w1
    for k in w1:
        assert torch.allclose(w1[k], w2[k], atol=1e-5, rtol=0), (k, (w1[k] - w2[k]).abs().max())
    # the runs trained at all: the weights moved away from the seeded initial model
    from pointlab.engine.defaults import set_seed
    from test_engine_toys import ToySeg

    set_seed(3)
    init = ToySeg(dropout=0.0).state_dict()
    assert (w1["net.0.weight"] - init["net.0.weight"]).abs().max() > 1e-3
    ck = torch.load(save2 / "model" / "model_last.pth", weights_only=True)
    assert ck["epoch"] == 2 and next(iter(ck["state_dict"])).startswith("module.")
    # only rank 0 writes the log: one line per iteration (3 per epoch ⇒ 12 samples / 4 per global batch)
    lines = [line for line in (save2 / "train.log").read_text().splitlines() if "Train: [" in line]
    assert len(lines) == 6, lines


def test_more_gpus_than_a_cuda_machine_has_is_a_clear_error(monkeypatch):
    from pointlab.engine import launch as launch_mod

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for k in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(launch_mod.LaunchError, match=r"--num-gpus 4 asks for 4 GPUs but this machine has 1 .*--num-gpus 1"):
        launch_mod.launch(print, num_gpus_per_machine=4)
    with pytest.raises(launch_mod.LaunchError, match="must be ≥ 1"):
        launch_mod.launch(print, num_gpus_per_machine=0)
    with pytest.raises(launch_mod.LaunchError, match=r"--machine-rank 2 must be in \[0, 2\)"):
        launch_mod.launch(print, num_machines=2, machine_rank=2)


def test_dist_url_forms():
    from pointlab.engine.launch import LaunchError, _parse_dist_url

    assert _parse_dist_url("tcp://10.0.0.1:29500", 2) == ("10.0.0.1", 29500)
    host, port = _parse_dist_url("auto", 1)
    assert host == "127.0.0.1" and 0 < port < 65536
    with pytest.raises(LaunchError, match="one machine only"):
        _parse_dist_url("auto", 2)
    with pytest.raises(LaunchError, match="tcp://HOST:PORT"):
        _parse_dist_url("10.0.0.1", 1)


def test_torchrun_env_with_world_size_one_runs_in_process(monkeypatch):
    from pointlab.engine.launch import launch, launched_by_torchrun

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert launched_by_torchrun()
    assert launch(lambda x: x + 1, num_gpus_per_machine=1, args=(41,)) == 42


def test_comm_helpers_without_a_process_group():
    from pointlab.engine import comm

    t = torch.tensor([1.0, 2.0])
    assert torch.equal(comm.all_reduce(t, "max"), t) and comm.all_reduce(t) is not t
    assert comm.any_process(True) and not comm.any_process(False)
    assert comm.gather_object_to_main({"a": 1}) == [{"a": 1}]
    assert comm.get_world_size() == 1 and comm.get_rank() == 0 and comm.is_main_process()
