"""``ConcatDataset``: several datasets behind one index space (spec 20-data §2.4).

Index space = sub-dataset 0's full length (its own ``loop`` included), then sub-dataset 1's, …;
the whole is repeated ``loop`` times. Items are the sub-datasets' own ``__getitem__`` results
(transformed samples), so each sub-dataset keeps its own transform.
"""
from __future__ import annotations

import logging

import numpy as np
from torch.utils.data import Dataset

from pointlab.registry import DATASETS

logger = logging.getLogger(__name__)

__all__ = ["ConcatDataset"]


@DATASETS.register_module()
class ConcatDataset(Dataset):
    """Concatenate datasets.

    Args:
        datasets: list of dataset configs (``dict(type=..., ...)``) or already built datasets.
        loop: repeat the concatenation this many times.

    Attributes:
        datasets: the built sub-datasets.
        data_list: list of ``(dataset_index, index_in_that_dataset)``, one per position of one pass.
    """

    def __init__(self, datasets, loop=1):
        super().__init__()
        from pointlab.data.datasets.base import build_dataset

        if not isinstance(datasets, (list, tuple)) or not datasets:
            raise ValueError(f"ConcatDataset: datasets must be a non-empty list of dataset configs, got {datasets!r}")
        self.datasets = [d if isinstance(d, Dataset) else build_dataset(d) for d in datasets]
        self.loop = loop
        self.data_list = self.get_data_list()
        logger.info("Totally %d x %d samples in the concat set.", len(self.data_list), self.loop)

    def get_data_list(self) -> list[tuple[int, int]]:
        data_list = []
        for i, d in enumerate(self.datasets):
            data_list.extend(zip(np.full(len(d), i).tolist(), range(len(d))))
        return data_list

    def _locate(self, idx: int) -> tuple[int, int]:
        return self.data_list[idx % len(self.data_list)]

    def get_data(self, idx: int):
        """The sub-dataset's item (already transformed) at concatenated position ``idx``."""
        i, j = self._locate(idx)
        return self.datasets[i][j]

    def get_data_name(self, idx: int) -> str:
        i, j = self._locate(idx)
        return self.datasets[i].get_data_name(j)

    def get_split_name(self, idx: int) -> str:
        i, j = self._locate(idx)
        return self.datasets[i].get_split_name(j)

    def __getitem__(self, idx: int):
        return self.get_data(idx)

    def __len__(self) -> int:
        return len(self.data_list) * self.loop
