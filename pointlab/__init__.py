"""pointlab: 3D point-cloud perception research in plain PyTorch, Pointcept-compatible.

Stable public API (imported lazily so ``import pointlab`` stays cheap):
    Config, build_dataset, build_transform, collate_fn, build_model, load_weights,
    Point, offset2batch, batch2offset, offset2bincount, bincount2offset
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "Config": "pointlab.config",
    "build_dataset": "pointlab.data",
    "build_transform": "pointlab.data",
    "collate_fn": "pointlab.data",
    "point_collate_fn": "pointlab.data",
    "build_model": "pointlab.models",
    "load_weights": "pointlab.engine.checkpoint",
    "Predictor": "pointlab.inference",
    "Point": "pointlab.structures",
    "offset2batch": "pointlab.structures",
    "batch2offset": "pointlab.structures",
    "offset2bincount": "pointlab.structures",
    "bincount2offset": "pointlab.structures",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pointlab' has no attribute '{name}'")


def __dir__():
    return __all__
