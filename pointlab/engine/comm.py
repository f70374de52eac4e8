"""Process-group helpers: world size, rank, barrier.

They answer for a single process (world size 1, rank 0) when ``torch.distributed`` is not
initialised, so library code can call them unconditionally. ``launch`` is the one place that
initialises a process group (one process per GPU, a later issue).
"""
from __future__ import annotations

import torch.distributed as dist


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
    import os

    return int(os.environ.get("LOCAL_RANK", 0)) if is_dist_avail_and_initialized() else 0


def is_main_process() -> bool:
    return get_rank() == 0


def synchronize() -> None:
    """Barrier across all processes; a no-op for a single process."""
    if is_dist_avail_and_initialized() and get_world_size() > 1:
        dist.barrier()
