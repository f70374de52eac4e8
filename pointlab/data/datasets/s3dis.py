"""S3DIS: ``data_root/Area_{1..6}/<room>/{coord,color,normal,segment,instance}.npy`` (spec 20-data §1.2).

Splits are area folders (``"Area_5"`` or a list of them); ``segment``/``instance`` are stored int16
[N,1] and flattened to int32 [N] on load. Sample name: ``"Area_5-office_19"``.
"""
from __future__ import annotations

import os

from pointlab.registry import DATASETS
from pointlab.data.datasets.base import DefaultDataset

__all__ = ["S3DISDataset", "S3DIS_CLASS_NAMES"]

S3DIS_CLASS_NAMES = (
    "ceiling", "floor", "wall", "beam", "column", "window", "door", "table", "chair", "sofa",
    "bookcase", "board", "clutter",
)


@DATASETS.register_module()
class S3DISDataset(DefaultDataset):
    """S3DIS rooms (13 classes); otherwise exactly :class:`DefaultDataset`."""

    num_classes = 13
    class_names = S3DIS_CLASS_NAMES
    synth_style = "s3dis"

    def get_data_name(self, idx: int) -> str:
        """``"<Area>-<room>"``."""
        area_dir, room = os.path.split(self._scene_path(idx))
        return f"{os.path.basename(area_dir)}-{room}"
