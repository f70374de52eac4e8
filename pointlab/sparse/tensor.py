"""The sparse voxel tensor passed between sparse-convolution layers (spconv's ``SparseConvTensor``)."""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch

__all__ = ["SparseConvTensor"]


class SparseConvTensor:
    """Features on the active voxels of a batch of 3-D grids.

    Args:
        features: ``[N, C]`` float tensor, one row per active voxel.
        indices: ``[N, 4]`` integer tensor ``(batch, x, y, z)``; every row must lie inside
            ``spatial_shape`` and ``batch < batch_size``. Row order is kept by submanifold convs.
        spatial_shape: 3 ints, the grid extent per axis (only needs to be large enough).
        batch_size: number of samples in the batch (samples may be empty).
        indice_dict: kernel-map cache keyed by ``indice_key``; normally left ``None`` (a new,
            empty cache). Tensors derived from this one share the same dict object, so a map built
            by one layer is reused by every later layer with the same key (and by the backward).

    Attributes ``features``, ``indices``, ``spatial_shape`` (list of 3 ints), ``batch_size``,
    ``indice_dict`` mirror spconv's names.
    """

    def __init__(
        self,
        features: torch.Tensor,
        indices: torch.Tensor,
        spatial_shape: Sequence[int],
        batch_size: int,
        indice_dict: Optional[Dict[str, object]] = None,
    ):
        if features.dim() != 2:
            raise ValueError(f"SparseConvTensor: features must be [N, C], got shape {tuple(features.shape)}")
        if indices.dim() != 2 or indices.shape[1] != 4:
            raise ValueError(
                f"SparseConvTensor: indices must be [N, 4] (batch, x, y, z), got shape {tuple(indices.shape)}"
            )
        if indices.shape[0] != features.shape[0]:
            raise ValueError(
                f"SparseConvTensor: {features.shape[0]} feature rows but {indices.shape[0]} index rows"
            )
        if indices.dtype.is_floating_point or indices.dtype == torch.bool:
            raise TypeError(f"SparseConvTensor: indices must be an integer tensor, got {indices.dtype}")
        spatial_shape = [int(s) for s in spatial_shape]
        if len(spatial_shape) != 3:
            raise ValueError(f"SparseConvTensor: spatial_shape must have 3 entries, got {spatial_shape}")
        self.features = features
        self.indices = indices
        self.spatial_shape = spatial_shape
        self.batch_size = int(batch_size)
        self.indice_dict = {} if indice_dict is None else indice_dict

    @property
    def device(self) -> torch.device:
        return self.features.device

    def replace_feature(self, features: torch.Tensor) -> "SparseConvTensor":
        """A new tensor with ``features`` ``[N, C']`` on the same voxels, sharing indices and cache."""
        if features.shape[0] != self.features.shape[0]:
            raise ValueError(
                f"replace_feature: expected {self.features.shape[0]} rows (one per voxel), "
                f"got shape {tuple(features.shape)}"
            )
        out = SparseConvTensor.__new__(SparseConvTensor)
        out.features = features
        out.indices = self.indices
        out.spatial_shape = self.spatial_shape
        out.batch_size = self.batch_size
        out.indice_dict = self.indice_dict
        return out

    def find_indice_pair(self, key: str):
        """The cached kernel map of ``key`` or ``None``."""
        return self.indice_dict.get(key)

    def dense(self, channels_first: bool = True) -> torch.Tensor:
        """Scatter into a dense grid ``[B, C, X, Y, Z]`` (or ``[B, X, Y, Z, C]``); differentiable."""
        c = self.features.shape[1]
        grid = self.features.new_zeros((self.batch_size, *self.spatial_shape, c))
        idx = self.indices.long()
        grid = grid.index_put((idx[:, 0], idx[:, 1], idx[:, 2], idx[:, 3]), self.features)
        return grid.permute(0, 4, 1, 2, 3).contiguous() if channels_first else grid

    def __repr__(self) -> str:
        return (
            f"SparseConvTensor(features={tuple(self.features.shape)}, spatial_shape={self.spatial_shape}, "
            f"batch_size={self.batch_size}, keys={sorted(self.indice_dict)})"
        )
