"""Instance-segmentation AP with the ScanNet benchmark protocol (as Pointcept's ``InsSegEvaluator``).

Per scene, ground-truth instances (id ≠ ``instance_ignore_index`` whose class, read at the
instance's first point, is a valid class) and predictions (valid class, ≥ 100 points) are paired
by their point intersections (:func:`associate_instances`). Then for every valid class and overlap
threshold τ ∈ {0.50, 0.55, …, 0.90, 0.25} the greedy ScanNet matching builds a precision/recall
curve (:func:`evaluate_matches`):

* a GT instance with ≥ 100 points matches the first unused prediction with IoU **>** τ (a true
  positive with its score); any further prediction over τ on the same GT is a false positive with
  the lower of the two scores; a GT without a match is a hard false negative;
* an unmatched prediction is a false positive unless the share of its points on ignored ground
  truth (void classes, GT instances of ignored classes, GT instances under 100 points) exceeds τ;
* AP integrates the curve at the unique score thresholds with an artificial first point (recall 0,
  precision 1); a class with GT but no prediction has AP 0, without (valid) GT NaN.

``mAP`` averages (nan-aware) over classes and τ ∈ 0.50..0.90, ``AP50``/``AP25`` over classes at one τ.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["OVERLAPS", "MIN_REGION_SIZE", "instance_ap", "associate_instances", "evaluate_matches", "format_ap_table"]

# The reference's thresholds, floating-point values included (0.6000000000000001 …), because the
# overlap test is a strict ">".
OVERLAPS = np.append(np.arange(0.5, 0.95, 0.05), 0.25)
MIN_REGION_SIZE = 100


def _as_np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def associate_instances(
    pred: Mapping,
    segment,
    instance,
    num_classes: int,
    segment_ignore_index: Sequence[int] = (-1,),
    instance_ignore_index: int = -1,
    min_region_size: int = MIN_REGION_SIZE,
) -> tuple[dict, dict]:
    """Ground-truth and predicted instances of one scene, with their intersections.

    Args:
        pred: ``pred_masks`` [P, N] (non-zero = in the mask), ``pred_scores`` [P], ``pred_classes`` [P].
        segment, instance: [N] per-point class and instance id.
        num_classes: K; classes 0..K-1 not in ``segment_ignore_index`` are evaluated.
    Returns:
        (gt, pred): dicts class id → list of instance dicts. GT: ``instance_id, segment_id,
        vert_count, matched_pred`` (list of (pred key, intersection)); prediction: ``key, segment_id,
        confidence, vert_count, void_intersection, matched_gt`` (list of (gt segment id, gt
        vert_count, intersection)).
    """
    segment = _as_np(segment).reshape(-1).astype(np.int64)
    instance = _as_np(instance).reshape(-1).astype(np.int64)
    masks = _as_np(pred["pred_masks"])
    scores = _as_np(pred["pred_scores"]).reshape(-1)
    classes = _as_np(pred["pred_classes"]).reshape(-1).astype(np.int64)
    n = segment.shape[0]
    if instance.shape[0] != n:
        raise ValueError(f"instance_ap: scene has {n} segment labels but {instance.shape[0]} instance labels")
    if masks.size == 0:
        masks = masks.reshape(0, n)
    if masks.ndim != 2 or masks.shape[1] != n:
        raise ValueError(
            f"instance_ap: pred_masks has shape {masks.shape}, expected [P, {n}] (one row per proposal over the "
            "scene's points; map voxel predictions back to the raw points first)"
        )
    if not (masks.shape[0] == scores.shape[0] == classes.shape[0]):
        raise ValueError(
            f"instance_ap: {masks.shape[0]} pred_masks, {scores.shape[0]} pred_scores and {classes.shape[0]} "
            "pred_classes; they must have one entry per proposal"
        )
    ignore = set(int(i) for i in segment_ignore_index)
    valid = [c for c in range(num_classes) if c not in ignore]
    gt = {c: [] for c in valid}
    pr = {c: [] for c in valid}
    void = np.isin(segment, list(ignore))

    ids, first, counts = np.unique(instance, return_index=True, return_counts=True)
    gt_of_id = {}
    for inst_id, f, cnt in zip(ids.tolist(), first.tolist(), counts.tolist()):
        seg = int(segment[f])
        if inst_id == instance_ignore_index or seg in ignore or seg not in gt:
            continue
        g = dict(instance_id=inst_id, segment_id=seg, vert_count=cnt, matched_pred=[])
        gt[seg].append(g)
        gt_of_id[inst_id] = g
    # per-point index of the GT instance among ``ids`` → intersections by bincount per prediction
    inst_idx = np.searchsorted(ids, instance)
    for p in range(masks.shape[0]):
        cls = int(classes[p])
        if cls in ignore:
            continue
        if cls not in pr:
            raise ValueError(
                f"instance_ap: pred_classes[{p}] = {cls} is not a class id 0..{num_classes - 1}; pred_classes must "
                "hold semantic class ids of the model (same numbering as segment)"
            )
        m = masks[p] != 0
        count = int(np.count_nonzero(m))
        if count < min_region_size:
            continue
        entry = dict(
            key=(id(pr), p), segment_id=cls, confidence=float(scores[p]), vert_count=count,
            void_intersection=int(np.count_nonzero(void & m)), matched_gt=[],
        )
        inter = np.bincount(inst_idx[m], minlength=ids.size)
        for g in gt[cls]:
            k = int(np.searchsorted(ids, g["instance_id"]))
            if inter[k] > 0:
                entry["matched_gt"].append((g["segment_id"], g["vert_count"], int(inter[k])))
                g["matched_pred"].append((entry, int(inter[k])))
        pr[cls].append(entry)
    return gt, pr


def evaluate_matches(
    scenes: Sequence[tuple[dict, dict]],
    valid_classes: Sequence[int],
    segment_ignore_index: Sequence[int] = (-1,),
    overlaps: np.ndarray = OVERLAPS,
    min_region_size: int = MIN_REGION_SIZE,
) -> np.ndarray:
    """AP table [len(valid_classes), len(overlaps)] from :func:`associate_instances` outputs (NaN = no GT)."""
    ignore = set(int(i) for i in segment_ignore_index)
    table = np.zeros((len(valid_classes), len(overlaps)), float)
    for oi, th in enumerate(overlaps):
        used = set()  # predictions matched at this threshold (keys)
        for li, cls in enumerate(valid_classes):
            y_true, y_score = [], []
            hard_fn = 0
            has_gt = has_pred = False
            for gt_scene, pr_scene in scenes:
                preds = pr_scene[cls]
                gts = [g for g in gt_scene[cls] if g["vert_count"] >= min_region_size]
                has_gt |= bool(gts)
                has_pred |= bool(preds)
                cur_true = [1.0] * len(gts)
                cur_score = [-np.inf] * len(gts)
                cur_match = [False] * len(gts)
                for gi, g in enumerate(gts):
                    found = False
                    for p, inter in g["matched_pred"]:
                        if p["key"] in used:
                            continue
                        overlap = float(inter) / (g["vert_count"] + p["vert_count"] - inter)
                        if overlap > th:
                            conf = p["confidence"]
                            if cur_match[gi]:
                                # a second prediction on a matched GT: the lower score is a false positive
                                lo, hi = min(cur_score[gi], conf), max(cur_score[gi], conf)
                                cur_score[gi] = hi
                                cur_true.append(0.0)
                                cur_score.append(lo)
                                cur_match.append(True)
                            else:
                                found = True
                                cur_match[gi] = True
                                cur_score[gi] = conf
                                used.add(p["key"])
                    if not found:
                        hard_fn += 1
                cur_true = [t for t, ok in zip(cur_true, cur_match) if ok]
                cur_score = [s for s, ok in zip(cur_score, cur_match) if ok]
                for p in preds:
                    if any(float(inter) / (gv + p["vert_count"] - inter) > th for _, gv, inter in p["matched_gt"]):
                        continue
                    n_ignore = p["void_intersection"]
                    for seg, gv, inter in p["matched_gt"]:
                        if seg in ignore:
                            n_ignore += inter
                        if gv < min_region_size:
                            n_ignore += inter
                    if float(n_ignore) / p["vert_count"] <= th:
                        cur_true.append(0.0)
                        cur_score.append(p["confidence"])
                y_true += cur_true
                y_score += cur_score
            if has_gt and has_pred:
                table[li, oi] = _average_precision(np.asarray(y_true, float), np.asarray(y_score, float), hard_fn)
            elif has_gt:
                table[li, oi] = 0.0
            else:
                table[li, oi] = np.nan
    return table


def _average_precision(y_true: np.ndarray, y_score: np.ndarray, hard_fn: int) -> float:
    order = np.argsort(y_score)
    y_score, y_true = y_score[order], y_true[order]
    cumsum = np.cumsum(y_true)
    _, unique_idx = np.unique(y_score, return_index=True)
    n_pr = len(unique_idx) + 1
    n_examples = len(y_score)
    n_true = cumsum[-1] if len(cumsum) > 0 else 0  # all predictions ignored: empty (ScanNet PR #26)
    precision = np.zeros(n_pr)
    recall = np.zeros(n_pr)
    cumsum = np.append(cumsum, 0)  # index -1 for the first threshold
    for k, idx in enumerate(unique_idx):
        c = cumsum[idx - 1]
        tp = n_true - c
        fp = n_examples - idx - tp
        fn = c + hard_fn
        precision[k] = float(tp) / (tp + fp)
        recall[k] = float(tp) / (tp + fn)
    precision[-1] = 1.0
    recall[-1] = 0.0
    r = np.append(recall[0], recall)
    r = np.append(r, 0.0)
    steps = np.convolve(r, [-0.5, 0, 0.5], "valid")
    return float(np.dot(precision, steps))


def _summarise(table: np.ndarray, names: Sequence[str], overlaps: np.ndarray = OVERLAPS) -> dict:
    o50 = np.where(np.isclose(overlaps, 0.5))[0]
    o25 = np.where(np.isclose(overlaps, 0.25))[0]
    rest = np.where(~np.isclose(overlaps, 0.25))[0]
    with warnings.catch_warnings():  # all-NaN slices (no class with GT) give NaN, as the reference
        warnings.simplefilter("ignore", RuntimeWarning)
        out = {
            "all_ap": float(np.nanmean(table[:, rest])) if table.size else float("nan"),
            "all_ap_50%": float(np.nanmean(table[:, o50])) if table.size else float("nan"),
            "all_ap_25%": float(np.nanmean(table[:, o25])) if table.size else float("nan"),
            "classes": {},
        }
    for li, name in enumerate(names):
        out["classes"][name] = {
            "ap": float(np.average(table[li, rest])),
            "ap50%": float(np.average(table[li, o50])),
            "ap25%": float(np.average(table[li, o25])),
        }
    return out


def instance_ap(
    scenes: Sequence[Mapping],
    class_names: Sequence[str],
    segment_ignore_index: Sequence[int] = (-1,),
    instance_ignore_index: int = -1,
) -> dict:
    """ScanNet-benchmark instance AP over a list of scenes.

    Args:
        scenes: dicts of numpy arrays (or tensors): ``segment`` [N], ``instance`` [N] per point,
            ``pred_masks`` [P, N] bool/int, ``pred_scores`` [P], ``pred_classes`` [P] (P may be 0).
        class_names: the K class names, index = class id.
        segment_ignore_index: classes that are not instances (not evaluated; their points are void).
        instance_ignore_index: instance id of points without an instance.
    Returns:
        ``{"all_ap", "all_ap_50%", "all_ap_25%", "classes": {name: {"ap", "ap50%", "ap25%"}}}`` over
        the valid classes (NaN for a class without valid ground truth; the overall figures are NaN
        only when no class has any).
    """
    names = list(class_names)
    ignore = [int(i) for i in segment_ignore_index]
    valid = [c for c in range(len(names)) if c not in ignore]
    assoc = []
    for k, scene in enumerate(scenes):
        missing = [key for key in ("segment", "instance", "pred_masks", "pred_scores", "pred_classes") if key not in scene]
        if missing:
            raise KeyError(f"instance_ap: scene {k} has no {missing} (keys: {sorted(scene)})")
        try:
            assoc.append(associate_instances(scene, scene["segment"], scene["instance"], len(names), ignore, instance_ignore_index))
        except ValueError as e:
            raise ValueError(f"scene {k}: {e}") from None
    table = evaluate_matches(assoc, valid, ignore)
    return _summarise(table, [names[c] for c in valid])


def format_ap_table(result: Mapping) -> str:
    """The per-class AP/AP50/AP25 table of an :func:`instance_ap` result, with the mean row."""
    classes = result["classes"]
    width = max([len(n) for n in classes] + [7])
    lines = [f"{'class'.ljust(width)}  {'AP':>7}  {'AP50':>7}  {'AP25':>7}", "-" * (width + 27)]
    for name, r in classes.items():
        lines.append(f"{name.ljust(width)}  {r['ap']:7.4f}  {r['ap50%']:7.4f}  {r['ap25%']:7.4f}")
    lines.append("-" * (width + 27))
    lines.append(f"{'average'.ljust(width)}  {result['all_ap']:7.4f}  {result['all_ap_50%']:7.4f}  {result['all_ap_25%']:7.4f}")
    return "\n".join(lines)
