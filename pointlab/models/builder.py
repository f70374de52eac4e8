"""``build_model``: a model from a config dict (``dict(type="DefaultSegmentor", backbone=..., ...)``)."""
from __future__ import annotations

from collections.abc import Mapping

import torch.nn as nn

from pointlab.registry import MODELS, MODULES

__all__ = ["build_model", "MODELS", "MODULES"]


def build_model(cfg: Mapping | None) -> nn.Module:
    """Build ``MODELS[cfg["type"]](**rest)`` (the config is deep-copied, never modified).

    Args:
        cfg: a dict or Config node with a ``type`` key naming a registered model
            (e.g. "DefaultSegmentor", "SpUNet-v1m1"); wrappers build their ``backbone`` dict
            the same way.
    Returns:
        the ``nn.Module``.
    """
    if cfg is None:
        raise ValueError("build_model: the model config is None; give a dict with a 'type' key, e.g. dict(type='SpUNet-v1m1', in_channels=6, num_classes=20)")
    if not isinstance(cfg, Mapping):
        raise TypeError(f"build_model: expected a dict with a 'type' key, got {type(cfg).__name__}: {cfg!r}")
    return MODELS.build(dict(cfg))
