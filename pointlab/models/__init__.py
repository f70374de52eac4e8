"""Models: backbones, segmentors and losses, built from configs through the registries.

Importing this package registers every model in ``MODELS``/``MODULES`` (the registries import it
on first lookup). Model families written as separate modules are imported here when present.
"""
from __future__ import annotations

import importlib
import importlib.util

from .builder import MODELS, MODULES, build_model
from .losses import LOSSES, build_criteria
from . import spunet, segmentors  # noqa: F401  (registration)

# Families added as their own modules/packages; each registers itself on import. A family that is
# absent is skipped; one that is present but fails to import raises (never hidden).
_OPTIONAL_FAMILIES = ("pdnorm", "ptv3", "ppt", "pointgroup")
for _name in _OPTIONAL_FAMILIES:
    if importlib.util.find_spec(f"{__name__}.{_name}") is not None:
        importlib.import_module(f"{__name__}.{_name}")

__all__ = ["build_model", "build_criteria", "MODELS", "MODULES", "LOSSES"]
