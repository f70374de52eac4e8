"""Offset batching helpers and the ``Point`` batch structure.

A batch of B clouds is one concatenated array of N = ΣNᵢ points plus ``offset``:
the cumulative end index of each cloud. Sizes (3, 4, 2) → offset [3, 7, 9],
batch [0,0,0,1,1,1,1,2,2], bincount [3, 4, 2].
"""
from __future__ import annotations

import torch


@torch.no_grad()
def offset2bincount(offset: torch.Tensor) -> torch.Tensor:
    """[B] cumulative ends → [B] per-sample point counts."""
    return torch.diff(offset, prepend=offset.new_zeros(1)).long()


@torch.no_grad()
def offset2batch(offset: torch.Tensor) -> torch.Tensor:
    """[B] cumulative ends → [N] sample index of every point (int64)."""
    bincount = offset2bincount(offset)
    return torch.arange(len(bincount), device=offset.device, dtype=torch.long).repeat_interleave(bincount)


@torch.no_grad()
def bincount2offset(bincount: torch.Tensor) -> torch.Tensor:
    return torch.cumsum(bincount, dim=0).long()


@torch.no_grad()
def batch2offset(batch: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """[N] sorted sample indices → [B] cumulative ends."""
    return bincount2offset(torch.bincount(batch, minlength=batch_size or 0))


class Point(dict):
    """The batch dict that flows through point models (Pointcept's ``Point``).

    Keys (any subset; ``offset`` or ``batch`` is required for batching):
        coord [N,3] float — metric coordinates
        grid_coord [N,3] int64 — voxel index ≥ 0
        feat [N,C] float — input features
        offset [B] int64 — cumulative ends; ``batch`` [N] int64 — sample of each point
        grid_size float — voxel size, used to derive ``grid_coord`` from ``coord``
        condition list[str] — dataset name per sample (Point Prompt Training)
        serialized_code / serialized_order / serialized_inverse [S,N] — from ``serialization``
        sparse_conv_feat — the sparse tensor built by ``sparsify``

    Attribute access reads keys (``point.coord``); a missing key raises ``AttributeError``
    naming the key and the keys present. Constructing a Point with only one of ``batch``/``offset``
    derives the other (later assignments do not).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "batch" not in self and "offset" in self:
            self["batch"] = offset2batch(self["offset"])
        elif "offset" not in self and "batch" in self:
            self["offset"] = batch2offset(self["batch"])

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"Point has no key '{key}' (present: {sorted(self.keys())})") from None

    def __setattr__(self, key, value):
        self[key] = value

    def __delattr__(self, key):
        try:
            del self[key]
        except KeyError:
            raise AttributeError(key) from None

    def require(self, *keys: str) -> None:
        missing = [k for k in keys if k not in self]
        if missing:
            raise KeyError(f"Point is missing required key(s) {missing}; present: {sorted(self.keys())}")

    @property
    def batch_size(self) -> int:
        self.require("offset")
        return int(self["offset"].numel())
