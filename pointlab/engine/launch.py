"""Process launch. Single process today; the seam for one process per GPU (DDP) is :func:`launch`.

Multi-GPU training (``mp.spawn``/torchrun, NCCL, ``DistributedSampler``) is a later issue:
everything else already asks :mod:`pointlab.engine.comm` for world size and rank, so only
this module has to change.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch


class LaunchError(RuntimeError):
    """The requested process layout cannot run on this machine."""


def launch(main_func: Callable[..., Any], num_gpus_per_machine: int = 1, num_machines: int = 1,
           machine_rank: int = 0, dist_url: str = "auto", args: Sequence[Any] = ()) -> Any:
    """Run ``main_func(*args)`` in the process layout described by the arguments.

    Args:
        num_gpus_per_machine: processes per machine (Pointcept's ``--num-gpus``).
        num_machines, machine_rank, dist_url: multi-machine settings (``auto`` = free local port).

    Returns:
        what ``main_func`` returns (world size 1).

    Raises:
        LaunchError: world size > 1 (not implemented yet) or more GPUs asked than present.
    """
    world_size = num_gpus_per_machine * num_machines
    if num_gpus_per_machine < 1 or num_machines < 1:
        raise LaunchError(f"--num-gpus ({num_gpus_per_machine}) and --num-machines ({num_machines}) must be ≥ 1")
    if not 0 <= machine_rank < num_machines:
        raise LaunchError(f"--machine-rank {machine_rank} must be in [0, {num_machines})")
    if world_size == 1:
        return main_func(*args)
    available = torch.cuda.device_count()
    if num_gpus_per_machine > available:
        raise LaunchError(
            f"--num-gpus {num_gpus_per_machine} asks for {num_gpus_per_machine} GPUs but this machine has "
            f"{available} CUDA device(s). Use --num-gpus 1 (or {available} once multi-GPU training is available)"
        )
    raise LaunchError(
        f"multi-process training (world size {world_size}) is not implemented yet; run with --num-gpus 1 "
        "--num-machines 1 (a single GPU or the CPU)"
    )
