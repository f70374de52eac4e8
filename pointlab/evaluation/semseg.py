"""Semantic-segmentation metrics: per-class intersection/union counts, mIoU/mAcc/allAcc, tables.

Matches Pointcept's ``intersection_and_union`` (numpy) / ``intersection_and_union_gpu`` (torch)
with two deliberate differences, both about values outside ``[0, num_classes)``:

* the reference bins with ``np.histogram(bins=arange(K+1))``, whose last bin is closed, so an
  ``ignore_index`` equal to ``K`` (and any prediction equal to ``K``) is counted as class ``K-1``.
  Here ignored points never count anywhere;
* a *target* label outside ``[0, K)`` that is not ``ignore_index`` means the config's
  ``num_classes``/``ignore_index`` do not fit the data; the reference drops it silently, we raise.

Predictions outside ``[0, K)`` (e.g. ``-1`` from a model that abstains) are kept as wrong
predictions: they count in the target histogram (lowering accuracy and raising that class's
union) and in no class's prediction histogram — as in the reference.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

__all__ = [
    "intersection_and_union",
    "semseg_metrics",
    "format_class_table",
    "plot_class_iou",
]


def intersection_and_union(pred, target, num_classes: int, ignore_index: int = -1):
    """Per-class intersection, union and target point counts.

    Args:
        pred: integer class predictions, any shape (numpy array or torch tensor).
        target: ground-truth labels, same shape and same kind (numpy/torch) as ``pred``.
        num_classes: K.
        ignore_index: label of points excluded from every count.

    Returns:
        ``(intersection, union, target)``, each of length K with int64 counts:
        ``I_c = #{pred == target == c}``, ``U_c = #{pred == c} + #{target == c} - I_c``,
        ``T_c = #{target == c}`` over non-ignored points. numpy arrays for numpy input,
        tensors on the input's device for torch input.
    """
    if isinstance(pred, torch.Tensor) != isinstance(target, torch.Tensor):
        raise TypeError(
            f"intersection_and_union: pred and target must both be numpy arrays or both torch tensors, "
            f"got {type(pred).__name__} and {type(target).__name__}"
        )
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(
            f"intersection_and_union: pred shape {tuple(pred.shape)} != target shape {tuple(target.shape)}; "
            f"map predictions back to the labelled points first (e.g. pred[inverse] against origin_segment)"
        )
    if num_classes < 1:
        raise ValueError(f"intersection_and_union: num_classes must be >= 1, got {num_classes}")
    if isinstance(pred, torch.Tensor):
        return _counts_torch(pred, target, num_classes, ignore_index)
    return _counts_numpy(np.asarray(pred), np.asarray(target), num_classes, ignore_index)


def _check_target_range(t_min, t_max, num_classes, ignore_index):
    if t_min < 0 or t_max >= num_classes:
        bad = t_min if t_min < 0 else t_max
        raise ValueError(
            f"intersection_and_union: target contains label {bad}, outside [0, {num_classes}) and not "
            f"ignore_index={ignore_index}; check data.num_classes and data.ignore_index in the config"
        )


def _counts_numpy(pred, target, num_classes, ignore_index):
    pred = pred.reshape(-1)
    target = target.reshape(-1)
    keep = target != ignore_index
    pred, target = pred[keep].astype(np.int64, copy=False), target[keep].astype(np.int64, copy=False)
    if target.size:
        _check_target_range(int(target.min()), int(target.max()), num_classes, ignore_index)
    in_range = (pred >= 0) & (pred < num_classes)
    area_pred = np.bincount(pred[in_range], minlength=num_classes)
    area_target = np.bincount(target, minlength=num_classes)
    area_inter = np.bincount(target[pred == target], minlength=num_classes)
    return area_inter, area_pred + area_target - area_inter, area_target


def _counts_torch(pred, target, num_classes, ignore_index):
    pred = pred.reshape(-1).long()
    target = target.reshape(-1).to(pred.device).long()
    keep = target != ignore_index
    pred, target = pred[keep], target[keep]
    if target.numel():
        lo, hi = torch.aminmax(target)
        _check_target_range(int(lo), int(hi), num_classes, ignore_index)
    in_range = (pred >= 0) & (pred < num_classes)
    area_pred = torch.bincount(pred[in_range], minlength=num_classes)
    area_target = torch.bincount(target, minlength=num_classes)
    area_inter = torch.bincount(target[pred == target], minlength=num_classes)
    return area_inter, area_pred + area_target - area_inter, area_target


def semseg_metrics(intersection, union, target, eps: float = 1e-10) -> dict:
    """Scores from accumulated per-class counts (numpy or torch, length K).

    Returns a dict of floats / float64 arrays:
        ``iou_class`` [K] = I/(U+eps), ``acc_class`` [K] = I/(T+eps),
        ``mIoU``: mean over **all** K classes, absent classes counting 0 (what SemSegEvaluator
        logs and the tester's final "Val result" reports),
        ``mIoU_present``: mean over classes with U > 0 (the tester's per-scene figure; NaN if none),
        ``mAcc``: mean of ``acc_class`` over all classes, ``allAcc`` = ΣI/(ΣT+eps),
        ``present`` [K] bool = U > 0.
    """
    inter, uni, tgt = (_as_float64(x) for x in (intersection, union, target))
    iou_class = inter / (uni + eps)
    acc_class = inter / (tgt + eps)
    present = uni > 0
    return dict(
        iou_class=iou_class,
        acc_class=acc_class,
        mIoU=float(iou_class.mean()) if iou_class.size else float("nan"),
        mIoU_present=float(iou_class[present].mean()) if present.any() else float("nan"),
        mAcc=float(acc_class.mean()) if acc_class.size else float("nan"),
        allAcc=float(inter.sum() / (tgt.sum() + eps)),
        present=present,
    )


def _as_float64(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64).reshape(-1)


def _class_names(names: Sequence[str] | None, k: int) -> list[str]:
    names = list(names) if names is not None else []
    return [str(names[i]) if i < len(names) else f"class_{i}" for i in range(k)]


def format_class_table(metrics: dict, names: Sequence[str] | None = None, target=None) -> str:
    """A fixed-width per-class table (index, name, IoU, accuracy[, points]) plus the means.

    Args:
        metrics: the dict returned by :func:`semseg_metrics`.
        names: class names (missing ones are shown as ``class_<i>``).
        target: optional per-class ground-truth point counts, shown as a column; classes with no
            ground truth and no prediction are marked ``absent``.
    """
    iou, acc, present = metrics["iou_class"], metrics["acc_class"], metrics["present"]
    k = len(iou)
    labels = _class_names(names, k)
    width = max([len("class")] + [len(n) for n in labels])
    header = f"{'idx':>3}  {'class':<{width}}  {'IoU':>7}  {'Acc':>7}"
    tgt = None if target is None else _as_float64(target)
    if tgt is not None:
        header += f"  {'points':>10}"
    lines = [header, "-" * len(header)]
    for i in range(k):
        row = f"{i:>3}  {labels[i]:<{width}}  {iou[i]:7.4f}  {acc[i]:7.4f}"
        if tgt is not None:
            row += f"  {int(tgt[i]):>10d}"
        if not present[i]:
            row += "  absent"
        lines.append(row)
    lines.append("-" * len(header))
    lines.append(
        f"mIoU {metrics['mIoU']:.4f} (all {k} classes; {metrics['mIoU_present']:.4f} over "
        f"{int(present.sum())} present)  mAcc {metrics['mAcc']:.4f}  allAcc {metrics['allAcc']:.4f}"
    )
    return "\n".join(lines)


def plot_class_iou(metrics: dict, names: Sequence[str] | None, path: str, title: str | None = None) -> str:
    """Write a per-class IoU bar chart PNG (classes on the x axis, a dashed mIoU line).

    Needs matplotlib (``pip install pointlab[viz]``); imported here so the rest of the
    package does not depend on it. Absent classes (no prediction, no ground truth) are labelled
    "absent". Returns ``path``.
    """
    try:
        # The object API with the Agg canvas: no pyplot global state, no display needed.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("plot_class_iou needs matplotlib: pip install 'pointlab[viz]'") from e

    iou, present = metrics["iou_class"], metrics["present"]
    k = len(iou)
    labels = _class_names(names, k)
    fig = Figure(figsize=(max(4.0, 0.45 * k + 1.5), 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = np.arange(k)
    ax.bar(x, iou, color="tab:blue", edgecolor="black", lw=0.4)
    for xi, v, p in zip(x, iou, present):  # value above each bar; absent classes would be invisible
        ax.text(xi, v + 0.01, f"{v:.2f}" if p else "absent", ha="center", va="bottom", fontsize=6,
                rotation=90 if not p else 0, color="black" if p else "gray")
    ax.axhline(metrics["mIoU"], color="tab:red", ls="--", lw=1.2, label=f"mIoU {metrics['mIoU']:.3f}")
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("IoU")
    ax.set_xlim(-0.6, k - 0.4)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or "Per-class IoU", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    return path
