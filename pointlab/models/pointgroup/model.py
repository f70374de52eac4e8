"""PointGroup (Jiang et al., "PointGroup: Dual-Set Point Grouping for 3D Instance Segmentation",
CVPR 2020) as Pointcept's ``PG-v1m1`` (``pointcept/models/point_group/point_group_v1m1_base.py``).

A backbone gives per-point features; ``seg_head`` predicts the class, ``bias_head`` the offset from
the point to its instance centre. In eval, points of foreground classes are shifted by their
offsets and grouped (:mod:`.clustering`) into instance proposals.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from pointlab.registry import MODELS
from pointlab.structures import offset2batch

from ..builder import build_model
from .clustering import MAX_NEIGHBOURS, cluster_points

__all__ = ["PointGroup", "pointgroup_proposals", "pointgroup_losses"]


def pointgroup_losses(logit_pred, bias_pred, segment, instance, instance_centroid, coord, ce, instance_ignore_index=-1) -> dict:
    """The reference's three loss terms.

    Args:
        logit_pred [N, K], bias_pred [N, 3], segment [N], instance [N], instance_centroid [N, 3], coord [N, 3].
        ce: the semantic criterion (``CrossEntropyLoss(ignore_index=semantic_ignore_index)``).
    Returns:
        ``{"loss", "seg_loss", "bias_l1_loss", "bias_cosine_loss"}``; the offset terms average over
        points with an instance (``instance != instance_ignore_index``) and are 0 when there is none.
    """
    seg_loss = ce(logit_pred, segment)
    mask = (instance != instance_ignore_index).float()
    bias_gt = instance_centroid - coord
    bias_dist = torch.sum(torch.abs(bias_pred - bias_gt), dim=-1)
    bias_l1_loss = torch.sum(bias_dist * mask) / (torch.sum(mask) + 1e-8)
    pred_n = bias_pred / (torch.norm(bias_pred, p=2, dim=1, keepdim=True) + 1e-8)
    gt_n = bias_gt / (torch.norm(bias_gt, p=2, dim=1, keepdim=True) + 1e-8)
    cosine = -(pred_n * gt_n).sum(-1)
    bias_cosine_loss = torch.sum(cosine * mask) / (torch.sum(mask) + 1e-8)
    loss = seg_loss + bias_l1_loss + bias_cosine_loss
    return dict(loss=loss, seg_loss=seg_loss, bias_l1_loss=bias_l1_loss, bias_cosine_loss=bias_cosine_loss)


@torch.no_grad()
def pointgroup_proposals(
    coord: torch.Tensor,
    bias_pred: torch.Tensor,
    logit_pred: torch.Tensor,
    offset: torch.Tensor,
    segment_ignore_index: Sequence[int] = (-1, 0, 1),
    cluster_thresh: float = 1.5,
    cluster_propose_points: int = 100,
    cluster_min_points: int = 50,
    voxel_size: float = 0.02,
    max_neighbours: int = MAX_NEIGHBOURS,
) -> dict:
    """Instance proposals from PointGroup's predictions (the reference's eval branch).

    Args:
        coord [N, 3] metres, bias_pred [N, 3] predicted offsets, logit_pred [N, K] raw class scores,
        offset [B] cumulative sample ends.
        segment_ignore_index: classes that are not instances (their points are not clustered).
        cluster_thresh: ball radius in voxels (centres are divided by ``voxel_size``).
        cluster_propose_points: keep proposals with **more than** this many points.
        cluster_min_points: BFS components with fewer points are dropped.
    Returns:
        dict on the CPU: ``pred_masks`` int32 [P, N] (0/1), ``pred_scores`` float32 [P] (mean softmax
        probability of the class over the mask), ``pred_classes`` int64 [P]; P may be 0.
    """
    n = coord.shape[0]
    center = (coord + bias_pred) / voxel_size
    prob = F.softmax(logit_pred, dim=-1)
    segment_pred = prob.argmax(dim=1)
    ignore = torch.as_tensor(list(segment_ignore_index), dtype=segment_pred.dtype, device=segment_pred.device)
    mask = ~torch.isin(segment_pred, ignore)
    empty = dict(
        pred_masks=torch.zeros((0, n), dtype=torch.int32),
        pred_scores=torch.zeros(0, dtype=torch.float32),
        pred_classes=torch.zeros(0, dtype=torch.int64),
    )
    if not bool(mask.any()):
        return empty
    cand = torch.nonzero(mask).view(-1).cpu().numpy()
    batch = offset2batch(offset)[mask].cpu().numpy()
    n_batch = int(offset.numel())
    batch_offsets = np.zeros(n_batch + 1, np.int64)
    np.cumsum(np.bincount(batch, minlength=n_batch), out=batch_offsets[1:])
    labels = segment_pred[mask].cpu().numpy()
    clusters = cluster_points(
        center[mask].detach().float().cpu().numpy(), labels, batch_offsets, cluster_thresh, cluster_min_points, max_neighbours
    )
    clusters = [c for c in clusters if c.size > cluster_propose_points]
    if not clusters:
        return empty
    sizes = np.array([c.size for c in clusters], np.int64)
    rows = np.repeat(np.arange(len(clusters)), sizes)
    points = cand[np.concatenate(clusters)]
    classes = segment_pred.cpu()[torch.from_numpy(cand[[c[0] for c in clusters]])]
    pred_masks = torch.zeros((len(clusters), n), dtype=torch.int32)
    pred_masks[torch.from_numpy(rows), torch.from_numpy(points)] = 1
    # mean probability of the proposal's class over its points
    p = prob.detach().cpu()[torch.from_numpy(points), classes[torch.from_numpy(rows)]].double()
    sums = torch.zeros(len(clusters), dtype=torch.float64).index_add_(0, torch.from_numpy(rows), p)
    scores = (sums / torch.from_numpy(sizes).double()).float()
    return dict(pred_masks=pred_masks, pred_scores=scores, pred_classes=classes.long())


def _need(data_dict, keys, why):
    missing = [k for k in keys if k not in data_dict]
    if missing:
        raise KeyError(
            f"PG-v1m1: the input has no {missing} ({why}; keys: {sorted(data_dict.keys())}). Add InstanceParser "
            "to the transform pipeline and Collect 'segment', 'instance' and 'instance_centroid'"
        )


@MODELS.register_module("PG-v1m1")
class PointGroup(nn.Module):
    """PointGroup over any backbone that returns per-point features [N, backbone_out_channels].

    Args:
        backbone: model config (e.g. SpUNet-v1m1 with ``num_classes=0``).
        backbone_out_channels: C of the backbone features.
        semantic_num_classes: K of ``seg_head``.
        semantic_ignore_index: label ignored by the semantic cross-entropy.
        segment_ignore_index: classes that are not instances (not clustered).
        instance_ignore_index: instance id of points without an instance.
        cluster_thresh: ball radius in voxels; cluster_closed_points: the reference's initial
            neighbour-buffer size (no effect on results, kept for configs);
        cluster_propose_points: proposals need more than this many points;
        cluster_min_points: BFS components with fewer points are dropped;
        voxel_size: metres per voxel for the centre grid.

    Input: the batch dict with the backbone's keys, ``coord`` [N,3], ``offset`` [B], and for the loss
    ``segment`` [N], ``instance`` [N], ``instance_centroid`` [N,3].
    Output: training → ``{"loss", "seg_loss", "bias_l1_loss", "bias_cosine_loss"}``; eval → the
    same losses when the labels are present, plus ``pred_masks`` int32 [P,N], ``pred_scores`` [P],
    ``pred_classes`` [P] on the CPU, and ``seg_logits`` [N,K] / ``bias_pred`` [N,3] (pointlab additions).

    State-dict keys: ``backbone.*``, ``bias_head.{0,1,3}.*``, ``seg_head.{weight,bias}``.
    """

    def __init__(
        self,
        backbone=None,
        backbone_out_channels=64,
        semantic_num_classes=20,
        semantic_ignore_index=-1,
        segment_ignore_index=(-1, 0, 1),
        instance_ignore_index=-1,
        cluster_thresh=1.5,
        cluster_closed_points=300,
        cluster_propose_points=100,
        cluster_min_points=50,
        voxel_size=0.02,
    ):
        super().__init__()
        c = int(backbone_out_channels)
        self.semantic_num_classes = semantic_num_classes
        self.segment_ignore_index = tuple(segment_ignore_index)
        self.semantic_ignore_index = semantic_ignore_index
        self.instance_ignore_index = instance_ignore_index
        self.cluster_thresh = cluster_thresh
        self.cluster_closed_points = cluster_closed_points
        self.cluster_propose_points = cluster_propose_points
        self.cluster_min_points = cluster_min_points
        self.voxel_size = voxel_size
        self.backbone = build_model(backbone)
        self.bias_head = nn.Sequential(
            nn.Linear(c, c), nn.BatchNorm1d(c, eps=1e-3, momentum=0.01), nn.ReLU(), nn.Linear(c, 3)
        )
        self.seg_head = nn.Linear(c, semantic_num_classes)
        self.ce_criteria = nn.CrossEntropyLoss(ignore_index=semantic_ignore_index)

    def forward(self, data_dict: dict) -> dict:
        _need(data_dict, ("coord", "offset"), "needed for the offsets and clustering")
        feat = self.backbone(data_dict)
        if isinstance(feat, dict):  # Point-returning backbones
            feat = feat["feat"]
        c = self.seg_head.in_features
        if feat.dim() != 2 or feat.shape[1] != c:
            raise ValueError(
                f"PG-v1m1: the backbone returned features of shape {tuple(feat.shape)}, expected [N, {c}] "
                f"(backbone_out_channels={c}). A SpUNet backbone needs num_classes=0 (its classifier replaced by "
                "an identity) and channels[-1] equal to backbone_out_channels"
            )
        bias_pred = self.bias_head(feat)
        logit_pred = self.seg_head(feat)
        coord = data_dict["coord"]
        out = {}
        has_labels = all(k in data_dict for k in ("segment", "instance", "instance_centroid"))
        if self.training and not has_labels:
            _need(data_dict, ("segment", "instance", "instance_centroid"), "training needs the instance labels")
        if has_labels:
            out.update(
                pointgroup_losses(
                    logit_pred, bias_pred, data_dict["segment"], data_dict["instance"], data_dict["instance_centroid"],
                    coord, self.ce_criteria, self.instance_ignore_index,
                )
            )
        if not self.training:
            out.update(
                pointgroup_proposals(
                    coord, bias_pred, logit_pred, data_dict["offset"], self.segment_ignore_index, self.cluster_thresh,
                    self.cluster_propose_points, self.cluster_min_points, self.voxel_size,
                )
            )
            out["seg_logits"] = logit_pred
            out["bias_pred"] = bias_pred
        return out
