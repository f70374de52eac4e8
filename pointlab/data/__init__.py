"""Data: datasets, transforms, collate, synthetic scenes, file I/O.

Public entry points: ``build_dataset(cfg)``, ``build_transform(list_of_dicts)``,
``collate_fn(batch)``, ``point_collate_fn(batch, mix_prob=0.0)``.
"""
from pointlab.data.collate import collate_fn, point_collate_fn
from pointlab.data.datasets import build_dataset
from pointlab.data.transforms import build_transform

__all__ = ["build_dataset", "build_transform", "collate_fn", "point_collate_fn"]
