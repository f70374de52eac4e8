"""Process launch: one process per GPU (PyTorch DDP), NCCL on CUDA, gloo on CPU.

Two ways to start a distributed run, both ending in the same :func:`launch`:

* ``torchrun --nproc-per-node N -m pointlab train ...``: torchrun starts the processes and sets
  ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_ADDR``/``MASTER_PORT``; :func:`launch` sees them,
  initialises the process group from the environment and runs the job in this process
  (``--num-gpus`` and friends are then ignored, with a warning if they disagree).
* ``pointlab train --num-gpus N [--num-machines M --machine-rank R --dist-url URL]``: :func:`launch`
  spawns N processes on this machine (``torch.multiprocessing.spawn``) with the same environment
  variables a torchrun worker has, so both paths behave identically.

Backend: NCCL when the processes have GPUs, gloo otherwise.

``--num-gpus N`` on a machine **without any CUDA device**: pointlab falls back to N CPU processes
over gloo, with a warning (useful for testing DDP code paths and CPU clusters). On a machine
**with** CUDA devices but fewer than N, it refuses with :class:`LaunchError` (a silent fallback there
would hide a misconfigured node).
"""
from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from typing import Any, Callable, Sequence

import torch
import torch.distributed as dist

from pointlab.engine import comm

log = logging.getLogger("pointlab")

__all__ = ["LaunchError", "launch", "launched_by_torchrun", "init_process_group_from_env"]


class LaunchError(RuntimeError):
    """The requested process layout cannot run on this machine."""


def launched_by_torchrun() -> bool:
    """True when this process was started by torchrun (or another launcher setting ``RANK``/``WORLD_SIZE``)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _backend() -> str:
    return "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"


def init_process_group_from_env(timeout_s: float = 1800) -> None:
    """Initialise the default group from torchrun's env vars (``env://``); set this process's GPU.

    Raises:
        LaunchError: an env var is missing or malformed, or the rendezvous fails.
    """
    if comm.is_dist_avail_and_initialized():
        return
    missing = [k for k in comm.DIST_ENV_VARS if k not in os.environ]
    if missing:
        raise LaunchError(f"distributed launch: environment variable(s) {', '.join(missing)} are not set; start "
                          "with `torchrun --nproc-per-node N -m pointlab train ...` or `pointlab train --num-gpus N`")
    try:
        rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except ValueError as e:
        raise LaunchError(f"distributed launch: RANK/WORLD_SIZE/LOCAL_RANK must be integers ({e})") from e
    backend = _backend()
    if backend == "nccl":
        if local >= torch.cuda.device_count():
            raise LaunchError(f"LOCAL_RANK={local} but this machine has {torch.cuda.device_count()} CUDA device(s); "
                              "start at most one process per GPU")
        torch.cuda.set_device(local)
    try:
        dist.init_process_group(backend=backend, init_method="env://", world_size=world, rank=rank,
                                timeout=timedelta(seconds=timeout_s))
    except (RuntimeError, ValueError) as e:
        raise LaunchError(f"cannot initialise the {backend} process group (rank {rank}/{world}, "
                          f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}): {e}") from e


def _parse_dist_url(dist_url: str, num_machines: int) -> tuple[str, int]:
    """(address, port) of the rendezvous; ``auto`` = a free local port (single machine only)."""
    if dist_url == "auto":
        if num_machines > 1:
            raise LaunchError("--dist-url auto works on one machine only; with --num-machines > 1 give "
                              "--dist-url tcp://<machine 0 address>:<port> on every machine")
        return "127.0.0.1", _free_port()
    url = dist_url[len("tcp://"):] if dist_url.startswith("tcp://") else None
    host, _, port = (url or "").rpartition(":")
    if not url or not host or not port.isdigit():
        raise LaunchError(f"--dist-url {dist_url!r} is not understood; use 'auto' or tcp://HOST:PORT")
    return host, int(port)


def _spawned_worker(local_rank: int, main_func, args, world_size: int, num_per_machine: int, machine_rank: int,
                    addr: str, port: int) -> None:
    # the same environment a torchrun worker gets, so the rest of pointlab has a single code path
    os.environ.update(RANK=str(machine_rank * num_per_machine + local_rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(local_rank), LOCAL_WORLD_SIZE=str(num_per_machine),
                      MASTER_ADDR=addr, MASTER_PORT=str(port))
    if "OMP_NUM_THREADS" not in os.environ:  # share the cores between the processes, as torchrun does
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // num_per_machine))
    init_process_group_from_env()
    try:
        comm.synchronize()
        main_func(*args)
    finally:
        if comm.is_dist_avail_and_initialized():
            dist.destroy_process_group()


def launch(main_func: Callable[..., Any], num_gpus_per_machine: int = 1, num_machines: int = 1,
           machine_rank: int = 0, dist_url: str = "auto", args: Sequence[Any] = ()) -> Any:
    """Run ``main_func(*args)`` in the process layout described by the arguments (or by torchrun).

    Args:
        num_gpus_per_machine: processes per machine (Pointcept's ``--num-gpus``).
        num_machines, machine_rank, dist_url: multi-machine settings (``auto`` = free local port).

    ``main_func`` and ``args`` must be picklable when processes are spawned (world size > 1
    without torchrun).

    Returns:
        what ``main_func`` returns in this process (``None`` after spawning several).

    Raises:
        LaunchError: bad numbers, more GPUs asked than a CUDA machine has, or a failed rendezvous.
    """
    if launched_by_torchrun():
        world = int(os.environ["WORLD_SIZE"])
        if num_gpus_per_machine * num_machines not in (1, world):
            log.warning(f"started by torchrun with WORLD_SIZE={world}: --num-gpus {num_gpus_per_machine} / "
                        f"--num-machines {num_machines} are ignored")
        if world == 1:
            return main_func(*args)
        init_process_group_from_env()
        try:
            comm.synchronize()
            return main_func(*args)
        finally:
            if comm.is_dist_avail_and_initialized():
                dist.destroy_process_group()

    if num_gpus_per_machine < 1 or num_machines < 1:
        raise LaunchError(f"--num-gpus ({num_gpus_per_machine}) and --num-machines ({num_machines}) must be ≥ 1")
    if not 0 <= machine_rank < num_machines:
        raise LaunchError(f"--machine-rank {machine_rank} must be in [0, {num_machines})")
    world_size = num_gpus_per_machine * num_machines
    if world_size == 1:
        return main_func(*args)
    available = torch.cuda.device_count()
    if available == 0:
        from pointlab.engine.logger import get_root_logger

        get_root_logger().warning(f"--num-gpus {num_gpus_per_machine}: this machine has no CUDA device; starting "
                    f"{num_gpus_per_machine} CPU processes over gloo instead (each with 1/{world_size} of the "
                    "batch). Use --num-gpus 1 for ordinary CPU training")
    elif num_gpus_per_machine > available:
        raise LaunchError(
            f"--num-gpus {num_gpus_per_machine} asks for {num_gpus_per_machine} GPUs but this machine has "
            f"{available} CUDA device(s). Use --num-gpus {available} (batch_size is the total over all GPUs)"
        )
    addr, port = _parse_dist_url(dist_url, num_machines)
    import torch.multiprocessing as mp

    try:
        mp.start_processes(_spawned_worker, nprocs=num_gpus_per_machine, join=True, start_method="spawn",
                           args=(main_func, tuple(args), world_size, num_gpus_per_machine, machine_rank, addr, port))
    except mp.ProcessRaisedException as e:  # the child's own error line is already logged; keep its traceback
        raise LaunchError(f"training process {e.error_index} of {num_gpus_per_machine} failed:\n{e}") from None
    except mp.ProcessExitedException as e:
        raise LaunchError(f"training process {e.error_index} of {num_gpus_per_machine} died "
                          f"(exit code {e.exit_code}); the other processes were stopped") from None
    return None
