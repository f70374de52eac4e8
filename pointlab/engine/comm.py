"""Process-group helpers: world size, rank, barrier, reductions.

They answer for a single process (world size 1, rank 0) when ``torch.distributed`` is not
initialised, so library code can call them unconditionally. :func:`pointlab.engine.launch.launch`
is the one place that initialises a process group (NCCL on CUDA, gloo on CPU).
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

# env vars set by torchrun (and by pointlab's own spawn launcher) for every process
DIST_ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def is_dist_avail_and_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    """Number of processes in the default group (1 without distributed)."""
    return dist.get_world_size() if is_dist_avail_and_initialized() else 1


def get_rank() -> int:
    """Global rank of this process (0 without distributed)."""
    return dist.get_rank() if is_dist_avail_and_initialized() else 0


def get_local_rank() -> int:
    """Rank within this machine; set by the launcher via ``LOCAL_RANK`` (torchrun convention)."""
    return int(os.environ.get("LOCAL_RANK", 0)) if is_dist_avail_and_initialized() else 0


def get_local_size() -> int:
    """Processes on this machine (``LOCAL_WORLD_SIZE``, torchrun convention; 1 without distributed)."""
    if not is_dist_avail_and_initialized():
        return 1
    return int(os.environ.get("LOCAL_WORLD_SIZE", get_world_size()))


def is_main_process() -> bool:
    return get_rank() == 0


def synchronize() -> None:
    """Barrier across all processes; a no-op for a single process."""
    if is_dist_avail_and_initialized() and get_world_size() > 1:
        dist.barrier()


def backend_device() -> torch.device:
    """Device that collective tensors must live on: this process's GPU for NCCL, else the CPU."""
    if is_dist_avail_and_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """Reduce ``tensor`` over all processes (``op``: "sum", "max", "min", "mean"); returns a new tensor.

    The result has the input's device and dtype; the input is not modified. Without
    distributed it is a copy of the input.
    """
    if get_world_size() == 1:
        return tensor.clone()
    ops = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN, "mean": dist.ReduceOp.SUM}
    if op not in ops:
        raise ValueError(f"all_reduce op must be one of {sorted(ops)}, got {op!r}")
    work = tensor.detach().to(backend_device(), copy=True)
    dist.all_reduce(work, op=ops[op])
    if op == "mean":
        work = work / get_world_size()
    return work.to(tensor.device)


def any_process(flag: bool) -> bool:
    """True when ``flag`` is true on at least one process (all processes must call it)."""
    if get_world_size() == 1:
        return bool(flag)
    return bool(all_reduce(torch.tensor([int(bool(flag))], dtype=torch.int32), op="max").item())


def gather_object_to_main(obj):
    """A list with every process's ``obj`` on rank 0 (``None`` elsewhere); ``[obj]`` for one process."""
    if get_world_size() == 1:
        return [obj]
    out = [None] * get_world_size() if is_main_process() else None
    dist.gather_object(obj, out, dst=0)
    return out
