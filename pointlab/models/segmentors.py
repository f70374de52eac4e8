"""Semantic-segmentation wrappers: a backbone plus a loss (Pointcept ``pointcept/models/default.py``).

Input: the collated batch dict (``coord``, ``grid_coord``, ``feat``, ``offset``, optionally
``segment`` and ``condition`` as a list of str). Output (the reference's convention):
training → ``{"loss"}``; eval with ``segment`` → ``{"loss", "seg_logits"}``; eval without →
``{"seg_logits"}``. ``seg_logits`` is [N, num_classes].
"""
from __future__ import annotations

import torch
import torch.nn as nn

from pointlab.registry import MODELS
from pointlab.structures import Point

from .builder import build_model
from .losses import build_criteria

__all__ = ["DefaultSegmentor", "DefaultSegmentorV2"]


def _outputs(model: nn.Module, seg_logits: torch.Tensor, input_dict, out: dict) -> dict:
    """Fill the reference's output dict for train / eval-with-labels / test."""
    if model.training:
        out["loss"] = model.criteria(seg_logits, _segment(input_dict))
    elif "segment" in input_dict:
        out["loss"] = model.criteria(seg_logits, input_dict["segment"])
        out["seg_logits"] = seg_logits
    else:
        out["seg_logits"] = seg_logits
    return out


def _segment(input_dict) -> torch.Tensor:
    if "segment" not in input_dict:
        raise KeyError(
            "the model is in training mode but the input has no 'segment' labels "
            f"(keys: {sorted(input_dict.keys())}); call model.eval() for inference or add 'segment' to Collect keys"
        )
    return input_dict["segment"]


@MODELS.register_module()
class DefaultSegmentor(nn.Module):
    """Backbone that returns per-point logits, plus criteria.

    Args:
        backbone: model config whose forward returns a [N, num_classes] tensor (e.g. SpUNet-v1m1).
        criteria: list of loss configs, summed (see ``build_criteria``).

    State-dict keys: ``backbone.*`` only.
    """

    def __init__(self, backbone=None, criteria=None):
        super().__init__()
        self.backbone = build_model(backbone)
        self.criteria = build_criteria(criteria)

    def forward(self, input_dict: dict) -> dict:
        if "condition" in input_dict:
            # one condition per batch (PPT); the reference overwrites the caller's dict, we copy it
            input_dict = dict(input_dict)
            cond = input_dict["condition"]
            input_dict["condition"] = cond if isinstance(cond, str) else cond[0]
        seg_logits = self.backbone(input_dict)
        return _outputs(self, seg_logits, input_dict, {})


@MODELS.register_module()
class DefaultSegmentorV2(nn.Module):
    """Backbone returning features (a ``Point`` or a tensor) followed by a linear ``seg_head``.

    Args:
        num_classes: K; ``seg_head`` is Linear(backbone_out_channels, K), or Identity when K ≤ 0.
        backbone_out_channels: C of the backbone's output features.
        backbone: model config.
        criteria: list of loss configs.
        freeze_backbone: set ``requires_grad=False`` on every backbone parameter.

    State-dict keys: ``seg_head.*`` (registered first), then ``backbone.*``.
    ``forward(input_dict, return_point=False)``; with ``return_point`` the output also holds the
    backbone's final ``Point`` under ``"point"``.
    """

    def __init__(self, num_classes: int, backbone_out_channels: int, backbone=None, criteria=None, freeze_backbone: bool = False):
        super().__init__()
        self.seg_head = nn.Linear(backbone_out_channels, num_classes) if num_classes > 0 else nn.Identity()
        self.backbone = build_model(backbone)
        self.criteria = build_criteria(criteria)
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            for p in self.backbone.parameters():
                p.requires_grad = False

    def forward(self, input_dict: dict, return_point: bool = False) -> dict:
        point = self.backbone(Point(input_dict))
        if isinstance(point, Point):
            # encoder-only backbones leave pooled levels: walk back to full resolution,
            # concatenating each parent's features with its children's
            while "pooling_parent" in point:
                if "pooling_inverse" not in point:
                    raise KeyError("backbone output has 'pooling_parent' without 'pooling_inverse'")
                parent = point.pop("pooling_parent")
                inverse = point.pop("pooling_inverse")
                parent["feat"] = torch.cat([parent["feat"], point["feat"][inverse]], dim=-1)
                point = parent
            feat = point["feat"]
        else:
            feat = point
        seg_logits = self.seg_head(feat)
        out = {"point": point} if return_point else {}
        return _outputs(self, seg_logits, input_dict, out)
