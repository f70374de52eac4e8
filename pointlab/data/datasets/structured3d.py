"""Structured3D: ``data_root/{train,val,test}/scene_XXXXX/room_<id>/{coord,color,normal,segment}.npy``.

One sample per room (spec 20-data §1.3); sample name ``"scene_XXXXX_room_<id>"``; 25 classes.
Deviation: ``split`` (``get_split_name``) is the split folder (``train``/``val``/``test``); the
reference inherits the parent-folder rule and reports the scene folder (``scene_XXXXX``) instead.
No target config reads that key.
"""
from __future__ import annotations

import os

from pointlab.registry import DATASETS
from pointlab.data.datasets.base import DefaultDataset

__all__ = ["Structured3DDataset", "STRUCTURED3D_CLASS_NAMES"]

STRUCTURED3D_CLASS_NAMES = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "picture",
    "desk", "shelves", "curtain", "dresser", "pillow", "mirror", "ceiling", "refrigerator",
    "television", "nightstand", "sink", "lamp", "otherstructure", "otherfurniture", "otherprop",
)


@DATASETS.register_module()
class Structured3DDataset(DefaultDataset):
    """Structured3D rooms; the scene list of a split is ``split/scene_*/room_*`` (sorted)."""

    SCENE_GLOB = os.path.join("scene_*", "room_*")
    num_classes = 25
    class_names = STRUCTURED3D_CLASS_NAMES
    synth_style = "structured3d"

    def get_data_name(self, idx: int) -> str:
        """``"scene_XXXXX_room_<id>"``."""
        scene_dir, room = os.path.split(self._scene_path(idx))
        return f"{os.path.basename(scene_dir)}_{room}"

    def get_split_name(self, idx: int) -> str:
        """The split folder two levels up (``train``/``val``/``test``)."""
        return os.path.basename(os.path.dirname(os.path.dirname(self._scene_path(idx))))
