"""Data transforms (registry ``TRANSFORMS``, Pointcept's names and arguments).

Importing this package registers every transform; ``build_transform(list_of_cfgs)``
returns a :class:`Compose`. Split by concern: ``geometry`` (coordinates), ``color``,
``sampling`` (point subsets, voxelization, ``index_operator``), ``structure`` (dict
plumbing: Copy/Update/ToTensor/Collect/InstanceParser).
"""
from pointlab.data.transforms.color import (
    ChromaticAutoContrast,
    ChromaticJitter,
    ChromaticTranslation,
    HueSaturationTranslation,
    NormalizeColor,
    RandomColorDrop,
    RandomColorGrayScale,
    RandomColorJitter,
    RandomDropColor,
)
from pointlab.data.transforms.compose import Compose, build_transform
from pointlab.data.transforms.geometry import (
    CenterShift,
    ClipGaussianJitter,
    ElasticDistortion,
    NormalizeCoord,
    PointClip,
    PositiveShift,
    RandomFlip,
    RandomJitter,
    RandomRotate,
    RandomRotateTargetAngle,
    RandomScale,
    RandomShift,
)
from pointlab.data.transforms.sampling import (
    CropBoundary,
    GridSample,
    RandomDropout,
    ShufflePoint,
    SphereCrop,
    index_operator,
)
from pointlab.data.transforms.structure import Collect, Copy, InstanceParser, RandomDropNormal, ToTensor, Update

Add = Update  # legacy name (Pointcept < v1.6), registered as "Add" too

__all__ = [
    "Compose",
    "build_transform",
    "index_operator",
    "Collect",
    "Copy",
    "Update",
    "Add",
    "ToTensor",
    "InstanceParser",
    "RandomDropNormal",
    "NormalizeColor",
    "ChromaticAutoContrast",
    "ChromaticTranslation",
    "ChromaticJitter",
    "HueSaturationTranslation",
    "RandomDropColor",
    "RandomColorDrop",
    "RandomColorGrayScale",
    "RandomColorJitter",
    "CenterShift",
    "RandomRotate",
    "RandomRotateTargetAngle",
    "RandomScale",
    "RandomFlip",
    "RandomJitter",
    "ElasticDistortion",
    "NormalizeCoord",
    "PositiveShift",
    "RandomShift",
    "PointClip",
    "ClipGaussianJitter",
    "GridSample",
    "SphereCrop",
    "RandomDropout",
    "ShufflePoint",
    "CropBoundary",
]
