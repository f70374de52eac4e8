"""``PointModule`` / ``PointSequential``: containers that pass a :class:`~pointlab.structures.Point` through layers.

Matches Pointcept ``pointcept/models/modules.py``. The container decides what each child sees:
- a ``PointModule`` child gets the whole Point and returns it;
- a prompt-driven norm (``PDNorm``/``PDBatchNorm``) gets ``(feat, condition, context)`` and only
  ``point.feat`` is updated (as the reference's PDNorm, a PointModule, does);
- a sparse layer (``pointlab.sparse.SparseModule``) gets ``point.sparse_conv_feat``; its output
  replaces it and ``point.feat`` becomes its features;
- any other torch module gets ``point.feat`` [N, C]; the result replaces ``feat`` **and** the
  features of ``sparse_conv_feat`` when the point has one. (This refresh rule is why, after
  unpooling, the sparse tensor still holds the skip branch's features — see ``blocks.py``.)
"""
from __future__ import annotations

from collections import OrderedDict

import torch.nn as nn

from pointlab import sparse as spconv
from pointlab.models.pdnorm import PDBatchNorm, PDNorm, resolve_condition

__all__ = ["PointModule", "PointSequential"]

_PROMPT_NORMS = (PDNorm, PDBatchNorm)


class PointModule(nn.Module):
    """Marker base class: ``forward(point) -> point`` inside a :class:`PointSequential`."""


class PointSequential(PointModule):
    """Sequential container for Points (children named "0", "1", … or by keyword / OrderedDict).

    Called with something other than a Point (a tensor or a SparseConvTensor) it behaves like
    ``nn.Sequential`` / ``SparseSequential``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)
        for name, module in kwargs.items():
            if name in self._modules:
                raise ValueError(f"PointSequential: duplicate child name {name!r}")
            self.add_module(name, module)

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, str):
            return self._modules[idx]
        if not -len(mods) <= idx < len(mods):
            raise IndexError(f"PointSequential index {idx} out of range for {len(mods)} children")
        return mods[idx]

    def __len__(self) -> int:
        return len(self._modules)

    def add(self, module: nn.Module, name: str | None = None) -> None:
        """Append ``module`` under ``name`` (default: its position)."""
        name = str(len(self._modules)) if name is None else name
        if name in self._modules:
            raise KeyError(f"PointSequential: child name {name!r} exists")
        self.add_module(name, module)

    def forward(self, point):
        is_point = isinstance(point, dict) and "feat" in point
        for module in self._modules.values():
            if isinstance(module, PointModule):
                point = module(point)
            elif not is_point:
                if isinstance(point, spconv.SparseConvTensor) and not isinstance(module, spconv.SparseModule):
                    point = point.replace_feature(module(point.features))
                else:
                    point = module(point)
            elif isinstance(module, _PROMPT_NORMS):
                point["feat"] = module(point["feat"], resolve_condition(point.get("condition")), point.get("context"))
            elif isinstance(module, spconv.SparseModule):
                sp = module(point["sparse_conv_feat"])
                point["sparse_conv_feat"] = sp
                point["feat"] = sp.features
            else:
                feat = module(point["feat"])
                point["feat"] = feat
                if "sparse_conv_feat" in point:
                    point["sparse_conv_feat"] = point["sparse_conv_feat"].replace_feature(feat)
        return point
