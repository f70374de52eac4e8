"""Datasets (registry ``datasets``): build with ``build_dataset(dict(type="ScanNetDataset", ...))``.

Importing this package registers ``DefaultDataset``, ``ScanNetDataset``, ``ScanNet200Dataset``,
``S3DISDataset``, ``Structured3DDataset`` and ``ConcatDataset``.
"""
from pointlab.data.datasets.validation import DataRootError, SceneDataError
from pointlab.data.datasets.base import DefaultDataset, build_dataset
from pointlab.data.datasets.scannet import ScanNet200Dataset, ScanNetDataset
from pointlab.data.datasets.s3dis import S3DISDataset
from pointlab.data.datasets.structured3d import Structured3DDataset
from pointlab.data.datasets.concat import ConcatDataset

__all__ = [
    "build_dataset",
    "DefaultDataset",
    "ScanNetDataset",
    "ScanNet200Dataset",
    "S3DISDataset",
    "Structured3DDataset",
    "ConcatDataset",
    "SceneDataError",
    "DataRootError",
]
