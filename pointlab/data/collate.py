"""Batching of point-cloud samples without padding (Pointcept's ``collate_fn`` and
``point_collate_fn``).

Per-point tensors are concatenated along dim 0; every key whose name contains
``"offset"`` (``offset``, ``origin_offset``, ...) holds cumulative ends and is rebuilt for
the batch: per-sample offsets → counts → concatenated → cumulative sum. Sizes (3, 4, 2)
→ ``offset = [3, 7, 9]``. Strings become lists (``name``, ``condition``).

Deviations from the reference (both are bugs there):
- mixing shifts the instance ids of the second sample of a pair by ``max + 1`` of the
  first sample's ids (the reference adds ``max``, so id ``max`` of one scene collides
  with id 0 of the other), and works when a sample has no points;
- mixing merges every ``*offset*`` key, ``origin_offset`` included (the reference then
  tries a multi-view regrouping that crashes for ``origin_offset``). The multi-view
  (``global_``/``local_`` views, images, correspondences) extras are not implemented.
Samples with 0 points are fine everywhere.
"""
from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import torch
from torch.utils.data.dataloader import default_collate


def _offset_to_count(offset: torch.Tensor) -> torch.Tensor:
    offset = torch.as_tensor(offset).reshape(-1)
    return torch.diff(offset, prepend=offset.new_zeros(1))


def collate_fn(batch):
    """Collate a list of samples (val/test loaders; first step of :func:`point_collate_fn`).

    Recursive on the first element's type: tensor → ``cat`` along dim 0; str → list;
    list → each made a tensor, then ``cat``; other sequence → element-wise, with the
    per-sample length of the first element appended as cumulative offsets; mapping →
    per key (``*offset*`` keys re-cumsummed as described in the module docstring);
    anything else → torch's ``default_collate``.

    Args:
        batch: a sequence of B samples of the same structure.
    Returns:
        the batched structure (e.g. a dict with ``coord`` [ΣN, 3], ``offset`` [B]).
    """
    return _collate(batch, "batch")


def _collate(batch, _path: str):
    """:func:`collate_fn` with the position inside the sample (for error messages)."""
    if not isinstance(batch, Sequence):
        raise TypeError(f"collate_fn expects a list of samples, got {type(batch).__name__}")
    if len(batch) == 0:
        raise ValueError(f"collate_fn: {_path} is an empty list of samples")
    first = batch[0]
    if isinstance(first, torch.Tensor):
        try:
            return torch.cat(list(batch))
        except RuntimeError as e:
            shapes = [tuple(b.shape) for b in batch]
            raise RuntimeError(f"collate_fn: cannot concatenate {_path} with shapes {shapes}: {e}") from None
    if isinstance(first, str):  # before Sequence: a str is a Sequence
        return list(batch)
    if isinstance(first, list):
        return torch.cat([torch.tensor(item) for item in batch])
    if isinstance(first, Sequence):
        samples = [list(item) + [torch.tensor([item[0].shape[0]])] for item in batch]
        out = [_collate(list(field), f"{_path}[{i}]") for i, field in enumerate(zip(*samples))]
        out[-1] = torch.cumsum(out[-1], dim=0).int()
        return out
    if isinstance(first, Mapping):
        out = {}
        for key in first:
            missing = [i for i, d in enumerate(batch) if key not in d]
            if missing:
                raise KeyError(f"collate_fn: key '{key}' of sample 0 is missing from sample(s) {missing}")
            values = [d[key] for d in batch]
            if "offset" in key:
                out[key] = torch.cumsum(torch.cat([_offset_to_count(v) for v in values]), dim=0)
            else:
                out[key] = _collate(values, f"'{key}'")
        return out
    return default_collate(batch)


def _mix_instance_ids(instance: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Shift the ids of every odd sample by (max id + 1) of the even sample before it.

    Ids of −1 (no instance) are kept. Args: instance [N] int, offset [B] cumulative ends.
    """
    counts = _offset_to_count(offset).to(instance.device)
    b = counts.numel()
    if b < 2 or instance.numel() == 0:
        return instance
    sample = torch.repeat_interleave(torch.arange(b, device=instance.device), counts)
    per_sample_max = torch.full((b,), -1, dtype=instance.dtype, device=instance.device)
    per_sample_max = per_sample_max.scatter_reduce(0, sample, instance, reduce="amax", include_self=True)
    shift = torch.zeros(b, dtype=instance.dtype, device=instance.device)
    odd = torch.arange(1, b, 2, device=instance.device)
    shift[odd] = per_sample_max[odd - 1] + 1
    return torch.where(instance != -1, instance + shift[sample], instance)


def point_collate_fn(batch, mix_prob=0.0):
    """Training collate: :func:`collate_fn`, then with probability ``mix_prob`` (Python
    ``random``; one draw per call, also when ``mix_prob`` is 0) merge consecutive sample
    pairs (0, 1), (2, 3), ... into one sample each: B → ceil(B/2).

    Merging keeps the points as they are and drops every other entry of each
    ``*offset*`` key (``offset[1:-1:2] ++ offset[-1]``); ``instance`` ids of the second
    sample of a pair are shifted past the first's; ``grid_coord`` is recomputed only
    when the batch carries ``grid_size``; ``name``/``condition`` lists stay length B.

    Args:
        batch: list of sample dicts (output of ``Collect``).
        mix_prob: probability of mixing.
    Returns:
        the batch dict.
    """
    if not isinstance(batch[0], Mapping):
        raise TypeError(f"point_collate_fn expects a list of dicts, got a list of {type(batch[0]).__name__}")
    batch = collate_fn(batch)
    if random.random() < mix_prob:
        if "instance" in batch and "offset" in batch:
            batch["instance"] = _mix_instance_ids(batch["instance"], batch["offset"])
        for key in [k for k in batch if "offset" in k]:
            off = batch[key]
            batch[key] = torch.cat([off[1:-1:2], off[-1:]], dim=0)
        if "grid_coord" in batch and "grid_size" in batch:
            # merged scenes get one grid each, starting at 0 (only when the voxel size is known)
            counts = _offset_to_count(batch["offset"])
            sample = torch.repeat_interleave(torch.arange(counts.numel(), device=counts.device), counts)
            grid_size = torch.as_tensor(batch["grid_size"]).reshape(-1)[0]
            grid = torch.floor(batch["coord"] / grid_size).to(torch.int64)
            gmin = torch.zeros((counts.numel(), grid.shape[1]), dtype=torch.int64, device=grid.device)
            big = torch.iinfo(torch.int64).max
            gmin = gmin.fill_(big).scatter_reduce(0, sample[:, None].expand_as(grid), grid, reduce="amin")
            batch["grid_coord"] = grid - gmin[sample]
    return batch


__all__ = ["collate_fn", "point_collate_fn"]
