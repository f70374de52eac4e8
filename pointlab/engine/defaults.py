"""Per-process run set-up: derived batch/worker keys, seeds, dataloader worker seeding."""
from __future__ import annotations

import logging
import os
import random

import numpy as np
import torch

from pointlab.engine import comm


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, numpy's global RNG and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)


def default_num_workers(device_type: str) -> int:
    """Workers used when ``num_worker`` is None: all CPUs with CUDA, at most one less than the CPUs on CPU.

    On a CPU-only machine the workers compete with the model's own threads, so we keep
    one core for the training process.
    """
    n = os.cpu_count() or 1
    return n if device_type == "cuda" else max(n - 1, 0)


def default_setup(cfg, device_type: str | None = None):
    """Fill the derived runtime keys of ``cfg`` (in place) and seed this process.

    Sets ``num_worker_per_gpu``, ``batch_size_per_gpu``, ``batch_size_val_per_gpu``,
    ``batch_size_test_per_gpu`` (Pointcept names, read by evaluator/tester hooks), checks the
    divisibility of the batch sizes by the world size and ``epoch % eval_epoch``, then seeds
    with ``seed + rank * num_worker_per_gpu`` and asks cuDNN for deterministic kernels.

    Returns:
        the same ``cfg``.
    """
    world_size, rank = comm.get_world_size(), comm.get_rank()
    device_type = device_type or ("cuda" if torch.cuda.is_available() else "cpu")
    log = logging.getLogger("pointlab")

    num_worker = cfg.get("num_worker")
    if num_worker is None:
        num_worker = default_num_workers(device_type) * world_size
    elif device_type == "cpu" and num_worker // world_size > (os.cpu_count() or 1):
        capped = default_num_workers("cpu")
        log.info(f"num_worker={num_worker} exceeds this machine's {os.cpu_count()} CPUs; using {capped} "
                 "dataloader workers (set num_worker to choose)")
        num_worker = capped * world_size
    cfg.num_worker_per_gpu = int(num_worker) // world_size

    for key in ("batch_size", "batch_size_val", "batch_size_test"):
        value = cfg.get(key)
        if value is not None and value % world_size:
            raise ValueError(f"{key}={value} must be divisible by the number of processes ({world_size})")
    cfg.batch_size_per_gpu = cfg.batch_size // world_size
    cfg.batch_size_val_per_gpu = cfg.batch_size_val // world_size if cfg.get("batch_size_val") is not None else 1
    cfg.batch_size_test_per_gpu = cfg.batch_size_test // world_size if cfg.get("batch_size_test") is not None else 1

    if cfg.epoch % cfg.eval_epoch:
        raise ValueError(f"epoch={cfg.epoch} must be a multiple of eval_epoch={cfg.eval_epoch}")
    if cfg.get("seed") is None:
        from pointlab.config import random_seed

        cfg.seed = random_seed()
    set_seed(cfg.seed + rank * cfg.num_worker_per_gpu)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    return cfg


def worker_init_fn(worker_id: int, rank: int = 0, num_workers: int = 0) -> None:
    """Seed numpy/``random`` in a dataloader worker.

    torch seeds each worker with ``base_seed + worker_id``, where ``base_seed`` is drawn from
    the loader's generator; the trainer re-seeds that generator every epoch from
    ``(seed, epoch)``. Deriving the numpy/``random`` seeds from it makes every epoch's
    augmentations reproducible (and a resumed run identical to an uninterrupted one) while
    differing between epochs, workers and ranks.
    """
    seed = (torch.initial_seed() + rank * max(num_workers, 1)) % 2**32
    random.seed(seed)
    np.random.seed(seed)
