"""ScanNet v2 (20 classes), ScanNet200, and the ScanNet data-efficient benchmark (``lr_file``/``la_file``).

Layout: ``data_root/{train,val,test}/sceneXXXX_YY/{coord,color,normal,segment20,segment200,instance}.npy``
(spec 20-data §1.1). ``segment20`` (resp. ``segment200``) is loaded and renamed ``segment``.
"""
from __future__ import annotations

import logging
import os

import numpy as np

from pointlab.registry import DATASETS
from pointlab.data.datasets.base import DefaultDataset
from pointlab.data.datasets.scannet_meta import (
    CLASS_NAMES_20,
    CLASS_NAMES_200,
    VALID_CLASS_IDS_20,
    VALID_CLASS_IDS_200,
)
from pointlab.data.datasets.validation import DataRootError, SceneDataError

logger = logging.getLogger(__name__)

__all__ = ["ScanNetDataset", "ScanNet200Dataset"]


def _load_limited_annotations(la_file: str) -> dict:
    """``{scene name: indices of the annotated points}`` from a data-efficient ``.pth`` file."""
    import torch

    if not os.path.isfile(la_file):
        raise DataRootError(f"la_file {la_file} does not exist (ScanNet data-efficient limited-annotation file, "
                            f"e.g. tasks/points/points20)")
    try:
        la = torch.load(la_file, map_location="cpu", weights_only=True)
    except Exception:  # the published files pickle numpy arrays, which weights_only refuses
        logger.info("la_file %s holds pickled objects; loading it with weights_only=False", la_file)
        la = torch.load(la_file, map_location="cpu", weights_only=False)
    if not isinstance(la, dict):
        raise ValueError(f"la_file {la_file} must hold a dict {{scene name: point indices}}, got {type(la).__name__}")
    return la


@DATASETS.register_module()
class ScanNetDataset(DefaultDataset):
    """ScanNet v2 with the 20-class benchmark labels.

    Args:
        lr_file: "limited reconstructions": a text file of scene names (one per line); the dataset then
            holds exactly ``data_root/train/<name>`` for those names (``split`` is ignored).
        la_file: "limited annotations": a ``.pth`` dict ``{scene name: indices}``; every other point's
            ``segment`` is set to ``ignore_index`` and ``sampled_index`` (the indices) is added.
        **kwargs: :class:`DefaultDataset` arguments.
    """

    VALID_ASSETS = ["coord", "color", "normal", "segment20", "instance"]
    REQUIRED_ASSETS = ("coord", "color", "normal")
    SEGMENT_ASSETS = ("segment20",)
    num_classes = 20
    class_names = CLASS_NAMES_20
    class2id = np.array(VALID_CLASS_IDS_20)
    synth_style = "scannet"

    def __init__(self, lr_file=None, la_file=None, **kwargs):
        # set before DefaultDataset.__init__, which calls get_data_list()
        self.lr = np.loadtxt(lr_file, dtype=str, ndmin=1) if lr_file is not None else None
        self.la = _load_limited_annotations(la_file) if la_file is not None else None
        super().__init__(**kwargs)

    def get_data_list(self) -> list[str]:
        if self.lr is None:
            return super().get_data_list()
        data_list = [os.path.join(self.data_root, "train", name) for name in self.lr]
        missing = [p for p in data_list if not os.path.isdir(p)]
        if missing:
            raise DataRootError(f"lr_file lists {len(missing)} scene(s) missing under {self.data_root}/train, "
                                f"e.g. {missing[0]}")
        return data_list

    def get_data(self, idx: int) -> dict:
        data = super().get_data(idx)
        if self.la:
            name = data["name"]
            if name not in self.la:
                raise KeyError(f"la_file has no entry for scene '{name}'; it covers {len(self.la)} scenes")
            sampled = np.asarray(self.la[name]).reshape(-1).astype(np.int64)
            n = len(data["segment"])
            if sampled.size and (sampled.min() < 0 or sampled.max() >= n):
                raise SceneDataError(f"scene '{name}': la_file indices range {sampled.min()}..{sampled.max()} but the "
                                     f"scene has {n} points", scene=name)
            unlabelled = np.ones(n, dtype=bool)
            unlabelled[sampled] = False
            data["segment"][unlabelled] = self.ignore_index
            data["sampled_index"] = sampled
        return data


@DATASETS.register_module()
class ScanNet200Dataset(ScanNetDataset):
    """ScanNet v2 with the 200-class labels (``segment200.npy``)."""

    VALID_ASSETS = ["coord", "color", "normal", "segment200", "instance"]
    SEGMENT_ASSETS = ("segment200",)
    num_classes = 200
    class_names = CLASS_NAMES_200
    class2id = np.array(VALID_CLASS_IDS_200)
