"""Segmentation losses (registry ``losses``) and ``build_criteria``.

Matches Pointcept ``pointcept/models/losses/{misc,lovasz,builder}.py``: same type strings,
constructor arguments and values. Differences, all on inputs where the reference breaks:
class weights follow the prediction's device instead of being moved to CUDA at construction;
Lovász losses return a 0-dim zero (connected to the graph) when no point is valid instead of an
empty tensor; every loss is computed without Python loops over classes or points.

The Lovász-Softmax loss is from Berman et al., "The Lovász-Softmax loss", CVPR 2018
(https://arxiv.org/abs/1705.08790).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from pointlab.registry import LOSSES

__all__ = [
    "CrossEntropyLoss",
    "SmoothCELoss",
    "BinaryFocalLoss",
    "FocalLoss",
    "DiceLoss",
    "LovaszLoss",
    "Criteria",
    "build_criteria",
]


def _as_class_dim_last(pred: torch.Tensor) -> torch.Tensor:
    """[B, C, d1, ...] or [N, C] → [P, C] (class dimension last)."""
    if pred.dim() == 2:
        return pred
    return pred.movedim(1, -1).reshape(-1, pred.shape[1])


@LOSSES.register_module()
class CrossEntropyLoss(nn.Module):
    """``torch.nn.functional.cross_entropy`` × ``loss_weight``.

    Args:
        weight: optional per-class weights (list or tensor of length K).
        size_average, reduce: torch's deprecated reduction flags, accepted as in torch.
        reduction: "mean" | "sum" | "none".
        label_smoothing: as in torch.
        loss_weight: factor applied to the result.
        ignore_index: target value that contributes nothing (-1 in Pointcept configs).

    Shapes: pred [N, K] logits, target [N] int64 → scalar (or [N] with reduction "none").
    """

    def __init__(
        self,
        weight=None,
        size_average=None,
        reduce=None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
        loss_weight: float = 1.0,
        ignore_index: int = -1,
    ):
        super().__init__()
        if size_average is not None or reduce is not None:
            # torch's legacy flags → reduction string (same rule as torch.nn._reduction)
            size_average = True if size_average is None else size_average
            reduce = True if reduce is None else reduce
            reduction = ("mean" if size_average else "sum") if reduce else "none"
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"CrossEntropyLoss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        # A plain attribute, not a buffer: criteria must add no state_dict keys.
        self.class_weight = None if weight is None else torch.as_tensor(weight, dtype=torch.float32)
        self.reduction = reduction
        self.label_smoothing = float(label_smoothing)
        self.loss_weight = loss_weight
        self.ignore_index = ignore_index

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        weight = None
        if self.class_weight is not None:
            if self.class_weight.numel() != pred.shape[1]:
                raise ValueError(
                    f"CrossEntropyLoss: {self.class_weight.numel()} class weights given but the prediction "
                    f"has {pred.shape[1]} classes; make `weight` as long as num_classes"
                )
            weight = self.class_weight.to(device=pred.device, dtype=pred.dtype)
        loss = F.cross_entropy(
            pred,
            target,
            weight=weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )
        return loss * self.loss_weight


@LOSSES.register_module()
class SmoothCELoss(nn.Module):
    """Label-smoothed cross entropy: the target class gets ``1 − ε``, the others ``ε/(K−1)``.

    Points whose loss is not finite are dropped before the mean (as in the reference).
    Shapes: pred [N, K], target [N] → scalar.
    """

    def __init__(self, smoothing_ratio: float = 0.1):
        super().__init__()
        self.smoothing_ratio = smoothing_ratio

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        eps = self.smoothing_ratio
        n_class = pred.size(1)
        one_hot = torch.zeros_like(pred).scatter(1, target.view(-1, 1), 1)
        one_hot = one_hot * (1 - eps) + (1 - one_hot) * eps / (n_class - 1)
        loss = -(one_hot * F.log_softmax(pred, dim=1)).sum(dim=1)
        return loss[torch.isfinite(loss)].mean()


@LOSSES.register_module()
class BinaryFocalLoss(nn.Module):
    """Binary focal loss (Lin et al., https://arxiv.org/abs/1708.02002).

    Shapes: pred [N] logits (or probabilities when ``logits=False``), target [N] in [0, 1].
    """

    def __init__(self, gamma: float = 2.0, alpha: float = 0.5, logits: bool = True, reduce: bool = True, loss_weight: float = 1.0):
        super().__init__()
        if not 0 < alpha < 1:
            raise ValueError(f"BinaryFocalLoss: alpha must be in (0, 1), got {alpha}")
        self.gamma = gamma
        self.alpha = alpha
        self.logits = logits
        self.reduce = reduce
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor, **kwargs) -> torch.Tensor:
        target = target.to(pred.dtype)
        if self.logits:
            bce = F.binary_cross_entropy_with_logits(pred, target, reduction="none")
        else:
            bce = F.binary_cross_entropy(pred, target, reduction="none")
        pt = torch.exp(-bce)
        alpha = self.alpha * target + (1 - self.alpha) * (1 - target)
        loss = alpha * (1 - pt) ** self.gamma * bce
        if self.reduce:
            loss = loss.mean()
        return loss * self.loss_weight


@LOSSES.register_module()
class FocalLoss(nn.Module):
    """Sigmoid focal loss over one-hot targets, ignoring ``ignore_index``.

    Shapes: pred [N, K] (or [B, K, d…]), target [N] (or [B, d…]) → scalar.
    ``alpha`` may be a float or a per-class list.
    """

    def __init__(self, gamma: float = 2.0, alpha=0.5, reduction: str = "mean", loss_weight: float = 1.0, ignore_index: int = -1):
        super().__init__()
        if reduction not in ("mean", "sum"):
            raise ValueError(f"FocalLoss: reduction must be 'mean' or 'sum', got {reduction!r}")
        if not isinstance(alpha, (float, list, tuple)):
            raise TypeError(f"FocalLoss: alpha must be a float or a list of floats, got {type(alpha).__name__}")
        self.gamma = float(gamma)
        self.alpha = alpha
        self.reduction = reduction
        self.loss_weight = float(loss_weight)
        self.ignore_index = int(ignore_index)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, **kwargs) -> torch.Tensor:
        pred = _as_class_dim_last(pred)
        target = target.reshape(-1)
        if pred.size(0) != target.size(0):
            raise ValueError(f"FocalLoss: {pred.size(0)} predictions but {target.size(0)} targets")
        valid = target != self.ignore_index
        pred, target = pred[valid], target[valid]
        if target.numel() == 0:
            return pred.sum() * 0.0
        onehot = F.one_hot(target, num_classes=pred.size(1)).to(pred.dtype)
        alpha = pred.new_tensor(self.alpha) if isinstance(self.alpha, (list, tuple)) else self.alpha
        p = pred.sigmoid()
        one_minus_pt = (1 - p) * onehot + p * (1 - onehot)
        focal_weight = (alpha * onehot + (1 - alpha) * (1 - onehot)) * one_minus_pt.pow(self.gamma)
        loss = F.binary_cross_entropy_with_logits(pred, onehot, reduction="none") * focal_weight
        loss = loss.mean() if self.reduction == "mean" else loss.sum()
        return self.loss_weight * loss


@LOSSES.register_module()
class DiceLoss(nn.Module):
    """Soft Dice loss averaged over classes (V-Net, https://arxiv.org/abs/1606.04797).

    Shapes: pred [N, K] logits, target [N] → scalar. A class index equal to ``ignore_index``
    is skipped in the sum but still counted in the division by K (as in the reference).
    """

    def __init__(self, smooth: float = 1, exponent: float = 2, loss_weight: float = 1.0, ignore_index: int = -1):
        super().__init__()
        self.smooth = smooth
        self.exponent = exponent
        self.loss_weight = loss_weight
        self.ignore_index = ignore_index

    def forward(self, pred: torch.Tensor, target: torch.Tensor, **kwargs) -> torch.Tensor:
        pred = _as_class_dim_last(pred)
        target = target.reshape(-1)
        valid = target != self.ignore_index
        pred, target = pred[valid], target[valid]
        prob = F.softmax(pred, dim=1)
        num_classes = prob.shape[1]
        onehot = F.one_hot(target.long().clamp(0, num_classes - 1), num_classes=num_classes).to(prob.dtype)
        num = (prob * onehot).sum(0) * 2 + self.smooth
        den = (prob.pow(self.exponent) + onehot.pow(self.exponent)).sum(0) + self.smooth
        per_class = 1 - num / den
        keep = torch.arange(num_classes, device=prob.device) != self.ignore_index
        return self.loss_weight * per_class[keep].sum() / num_classes


# ---------------------------------------------------------------------------------------------
# Lovász losses


def _lovasz_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovász extension of the Jaccard loss w.r.t. errors sorted descending.

    gt_sorted [P, M] in {0, 1} (one column per class/row) → [P, M].
    """
    # counts up to N: accumulate in at least float32 (half precision cannot count past 2048)
    gt_sorted = gt_sorted.to(torch.promote_types(gt_sorted.dtype, torch.float32))
    gts = gt_sorted.sum(0, keepdim=True)
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    return torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]], dim=0)


def _lovasz_columns(errors: torch.Tensor, fg: torch.Tensor) -> torch.Tensor:
    """Per-column Lovász value ⟨sort↓(errors), grad(fg sorted alike)⟩. errors, fg [P, M] → [M]."""
    errors_sorted, perm = torch.sort(errors, dim=0, descending=True)
    fg_sorted = torch.gather(fg, 0, perm)
    return (errors_sorted * _lovasz_grad(fg_sorted)).sum(0)


def lovasz_softmax_flat(probas: torch.Tensor, labels: torch.Tensor, class_seen: Iterable[int] | None = None) -> torch.Tensor:
    """Multi-class Lovász-Softmax over the classes present in ``labels``.

    probas [P, K] class probabilities, labels [P] (already without ignored points) → scalar:
    mean over present classes (optionally only those in ``class_seen``) of the Lovász hinge of
    ``|1[label = c] − p_c|``; 0 when no class qualifies.
    """
    if probas.numel() == 0:
        return probas.sum() * 0.0
    num_classes = probas.size(1)
    classes = torch.unique(labels)
    if class_seen is not None:
        seen = torch.as_tensor(list(class_seen), device=labels.device, dtype=labels.dtype)
        classes = classes[torch.isin(classes, seen)]
    if classes.numel() == 0:
        return probas.sum() * 0.0
    fg = (labels[:, None] == classes[None, :]).to(probas.dtype)  # [P, M]
    # a single-channel input is a sigmoid output shared by every class (reference behaviour)
    class_pred = probas[:, classes] if num_classes > 1 else probas[:, :1].expand_as(fg)
    return _lovasz_columns((fg - class_pred).abs(), fg).mean()


def lovasz_hinge_rows(logits: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Binary Lovász hinge of each row. logits, labels, valid [R, M] → [R].

    Invalid entries are given error −inf so they sort last; ``relu`` zeroes their contribution and,
    being last, they do not change the gradient of the valid ones. A row without valid entries
    gives 0 (the reference's ``logits.sum() * 0``).
    """
    signs = 2.0 * labels.to(logits.dtype) - 1.0
    errors = 1.0 - logits * signs
    errors = torch.where(valid, errors, torch.full_like(errors, float("-inf")))
    gt = (labels.to(logits.dtype) * valid).t()  # columns = rows of the input
    errors_sorted, perm = torch.sort(errors.t(), dim=0, descending=True)
    gt_sorted = torch.gather(gt, 0, perm)
    return (F.relu(errors_sorted) * _lovasz_grad(gt_sorted)).sum(0)


@LOSSES.register_module()
class LovaszLoss(nn.Module):
    """Lovász loss for binary, multi-label or multi-class segmentation.

    Args:
        mode: "binary" | "multilabel" (Lovász hinge on logits) or "multiclass" (Lovász-Softmax).
        class_seen: multiclass only; restrict the average to these class ids.
        per_image: compute the loss per row of the input and average (for point clouds given as
            [N, K] this means per point, exactly what the reference does).
        ignore_index: label excluded from the loss (None: nothing ignored).
        loss_weight: factor applied to the result.

    Shapes: multiclass pred [N, K] logits, target [N]; binary/multilabel pred and target of the same
    shape ([N] or [N, K]). Returns a scalar.
    """

    MODES = ("binary", "multiclass", "multilabel")

    def __init__(self, mode: str, class_seen: Sequence[int] | None = None, per_image: bool = False, ignore_index: int | None = None, loss_weight: float = 1.0):
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"LovaszLoss: mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode
        self.class_seen = class_seen
        self.per_image = per_image
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight

    def _valid(self, labels: torch.Tensor) -> torch.Tensor:
        if self.ignore_index is None:
            return torch.ones_like(labels, dtype=torch.bool)
        return labels != self.ignore_index

    def forward(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        if self.mode == "multiclass":
            loss = self._multiclass(y_pred.softmax(dim=1), y_true)
        else:
            loss = self._hinge(y_pred, y_true)
        return loss * self.loss_weight

    def _hinge(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.per_image:
            rows, lab = logits.reshape(logits.shape[0], -1), labels.reshape(labels.shape[0], -1)
            return lovasz_hinge_rows(rows, lab, self._valid(lab)).mean()
        flat, lab = logits.reshape(1, -1), labels.reshape(1, -1)
        return lovasz_hinge_rows(flat, lab, self._valid(lab))[0]

    def _multiclass(self, probas: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        probas = _as_class_dim_last(probas)
        labels = labels.reshape(-1)
        valid = self._valid(labels)
        if self.per_image:
            # One point per "image": only its own class is present, so its Lovász value is
            # 1 − p_label; points with an ignored label count as 0 in the mean.
            if probas.size(1) == 1:
                p = probas[:, 0]
            else:
                p = probas.gather(1, labels.clamp(0, probas.size(1) - 1)[:, None])[:, 0]
            per_point = torch.where(valid, 1.0 - p, torch.zeros_like(p))
            if self.class_seen is not None:
                seen = torch.as_tensor(list(self.class_seen), device=labels.device, dtype=labels.dtype)
                per_point = per_point * torch.isin(labels, seen)
            return per_point.mean() if per_point.numel() else probas.sum() * 0.0
        return lovasz_softmax_flat(probas[valid], labels[valid], self.class_seen)


# ---------------------------------------------------------------------------------------------


class Criteria:
    """Sum of several losses: ``criteria(pred, target) = Σ loss_i(pred, target)``.

    A plain object rather than an ``nn.Module`` on purpose: segmentors hold it as an attribute and it
    must add no ``state_dict`` keys (Pointcept checkpoints have none). With no losses configured it
    returns ``pred`` unchanged (the model computes its own loss), as in the reference.
    """

    def __init__(self, cfg: Sequence[dict] | None = None):
        self.cfg = list(cfg) if cfg is not None else []
        self.criteria = [LOSSES.build(c) for c in self.cfg]

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if not self.criteria:
            return pred
        loss = 0
        for c in self.criteria:
            loss = loss + c(pred, target)
        return loss

    def __len__(self) -> int:
        return len(self.criteria)

    def __iter__(self):
        return iter(self.criteria)

    def __repr__(self) -> str:
        return f"Criteria({', '.join(type(c).__name__ for c in self.criteria)})"


def build_criteria(cfg: Sequence[dict] | None) -> Criteria:
    """Build a ``Criteria`` from a list of loss configs (``[dict(type="CrossEntropyLoss", ...), ...]``)."""
    if isinstance(cfg, dict):
        raise TypeError(f"criteria must be a list of loss configs, got a single dict {dict(cfg)!r}; wrap it in [ ]")
    return Criteria(cfg)
