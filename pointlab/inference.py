"""Inference on one's own point clouds: :class:`Predictor` (numpy in, numpy out).

The config's **test-time path** is used exactly as ``pointlab test`` uses it, without a dataset on
disk:

* configs whose ``data.test`` has ``test_mode=True`` (semantic segmentation): Pointcept's fragment
  voting. The cloud goes through ``data.test.transform``; then, one test augmentation at a time,
  ``test_cfg.voxelize`` (``GridSample(mode="test")``: one point per voxel per fragment), the optional
  ``test_cfg.crop`` and ``test_cfg.post_transform``; every fragment is a bounded-size forward pass
  whose softmax is added to its points (the same steps and order as
  :meth:`DefaultDataset.prepare_test_data` + :meth:`SemSegTester.predict_scene`, so the labels are
  those ``pointlab test`` would give). Only one augmentation's fragments are held at a time.
* other configs (e.g. PointGroup's, whose test split is voxelised once like val): one forward pass
  on ``data.test.transform``'s output; predictions go back to every raw point through ``inverse``
  or, when the transform kept ``origin_coord``, through the nearest voxelised point.

Inputs the model needs are read from the ``Collect(feat_keys=...)`` of the test pipeline. A cloud
without colours or normals raises :class:`MissingInputError` naming what is missing, unless
``fill_missing=True``: colours are then filled with mid-grey (127.5, i.e. 0 after
``NormalizeColor``) and normals estimated by PCA over the 16 nearest neighbours, oriented towards
the centre of the cloud's bounding box (:func:`pointlab.data.io.estimate_normals`). Either fill is a
guess the model never saw in training; expect lower accuracy than with real attributes.
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from copy import deepcopy

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["Predictor", "MissingInputError", "required_inputs", "instance_labels"]

logger = logging.getLogger("pointlab")

# Point attributes a user's file may lack and the model may need (Collect feat_keys entries).
_POINT_INPUTS = ("color", "normal", "strength")
_FILL_COLOR = 127.5
# Batch keys holding labels: dropped before the forward pass (the user's cloud has none).
_LABEL_KEYS = ("segment", "instance", "instance_centroid", "bbox", "origin_segment", "origin_instance")
# Coordinates beyond this (metres) lose millimetres in float32: shift them first.
_FLOAT32_SAFE = 1.0e4


class MissingInputError(ValueError):
    """The model needs a point attribute (colour, normal, …) that the input does not have."""


def _cfg_get(cfg, key, default=None):
    return cfg.get(key, default) if isinstance(cfg, Mapping) else getattr(cfg, key, default)


def _collect_feat_keys(transforms) -> list[str]:
    keys = []
    for t in transforms or []:
        if isinstance(t, Mapping) and t.get("type") == "Collect":
            for name, value in t.items():
                if name.endswith("_keys") and isinstance(value, Sequence) and not isinstance(value, str):
                    keys += [k for k in value if k not in keys]
        elif isinstance(t, Sequence) and not isinstance(t, (str, Mapping)):
            keys += [k for k in _collect_feat_keys(t) if k not in keys]
    return keys


def required_inputs(cfg) -> list[str]:
    """Point attributes (``color``, ``normal``, ``strength``) the config's test pipeline feeds the model.

    Read from every ``Collect(<name>_keys=...)`` in ``data.test.transform`` and
    ``data.test.test_cfg.post_transform``.
    """
    test = cfg.data.test
    transforms = list(_cfg_get(test, "transform") or [])
    test_cfg = _cfg_get(test, "test_cfg") or {}
    transforms += list(_cfg_get(test_cfg, "post_transform") or [])
    return [k for k in _collect_feat_keys(transforms) if k in _POINT_INPUTS]


class _Progress:
    """A tqdm bar on a terminal; plain ``pointlab`` log lines (about every 10 %) otherwise (CI, nohup)."""

    def __init__(self, desc: str, enabled: bool = True):
        self.desc, self.enabled = desc, enabled
        self.total, self.n, self._next_log = 0, 0, 0.0
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=0, desc=desc, unit="frag", dynamic_ncols=True, leave=False)

    def set_total(self, total: int) -> None:
        self.total = int(total)
        if self.bar is not None:
            self.bar.total = self.total
            self.bar.refresh()

    def update(self, k: int = 1) -> None:
        self.n += k
        if self.bar is not None:
            self.bar.update(k)
        elif self.enabled and self.total and (self.n / self.total >= self._next_log or self.n == self.total):
            logger.info(f"{self.desc}: fragment {self.n}/{self.total}")
            self._next_log = self.n / self.total + 0.1

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Predictor:
    """A trained model plus its config's test-time pipeline, for numpy point clouds.

    Args:
        config: a config path (or Pointcept shorthand) or a loaded :class:`pointlab.config.Config`.
        weight: checkpoint path (pointlab's or Pointcept's ``model_best.pth``); loaded strictly.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` … (default: ``cfg.device``, else CUDA when
            available, else CPU).
        options: config overrides, a dict or ``KEY=VALUE`` strings (as ``--options``).
        fill_missing: fill colours/normals the model needs but the input lacks (see the module docstring).
        fragment_batch_size: fragments per forward pass (1 as the tester; larger is faster, uses more memory).
        progress: show a progress bar over fragments (plain log lines when stderr is not a terminal).

    Example::

        predictor = Predictor("configs/synthetic/semseg-spunet-v1m1-small.py", "model_best.pth")
        out = predictor.predict(coord, color=color, normal=normal)
        out["segment"]  # int64 [N]
    """

    def __init__(self, config, weight, device=None, options=None, fill_missing: bool = False,
                 fragment_batch_size: int = 1, progress: bool = True):
        from pointlab.config import default_config_parser
        from pointlab.evaluation.testers import _default_device, load_model_weights_strict
        from pointlab.models import build_model

        self.cfg = default_config_parser(config, options)
        if "test" not in (self.cfg.get("data") or {}):
            raise KeyError(f"{self.cfg.filename or 'config'} has no data.test: inference uses the test pipeline "
                           f"(transform and test_cfg) of data.test")
        if int(fragment_batch_size) < 1:
            raise ValueError(f"Predictor: fragment_batch_size must be >= 1, got {fragment_batch_size}")
        self.fill_missing = bool(fill_missing)
        self.fragment_batch_size = int(fragment_batch_size)
        self.progress = progress
        self.device = torch.device(device) if device is not None else _default_device(self.cfg)
        self.model = build_model(self.cfg.model)
        self.weight = str(weight)
        load_model_weights_strict(self.model, self.weight)
        self.model.to(self.device).eval()

        data = self.cfg.data
        self.num_classes = int(data.num_classes)
        self.names = list(_cfg_get(data, "names", None) or [f"class_{i}" for i in range(self.num_classes)])
        self.needs = required_inputs(self.cfg)
        self._build_pipeline(data.test)

    # -- pipeline ----------------------------------------------------------------------------------
    def _build_pipeline(self, test) -> None:
        from pointlab.data.transforms import build_transform
        from pointlab.registry import TRANSFORMS

        self.transform = build_transform(list(_cfg_get(test, "transform") or []))
        self.test_mode = bool(_cfg_get(test, "test_mode", False))
        if not self.test_mode:
            return
        test_cfg = _cfg_get(test, "test_cfg")
        if test_cfg is None:
            raise ValueError("data.test has test_mode=True but no test_cfg (voxelize, crop, post_transform, aug_transform)")
        voxelize, crop = _cfg_get(test_cfg, "voxelize"), _cfg_get(test_cfg, "crop")
        self.voxelize = TRANSFORMS.build(voxelize) if voxelize else None
        self.crop = TRANSFORMS.build(crop) if crop else None
        self.post_transform = build_transform(list(_cfg_get(test_cfg, "post_transform") or []))
        self.aug_transform = [build_transform(list(a)) for a in (_cfg_get(test_cfg, "aug_transform") or [[]])]

    @property
    def is_instance_model(self) -> bool:
        """True when the test pipeline is a single pass (instance models such as PointGroup)."""
        return not self.test_mode

    def prepare_inputs(self, coord, color=None, normal=None, strength=None, source: str = "the input") -> dict:
        """The scene dict the test transform starts from (what ``DefaultDataset.get_data`` yields).

        Checks the attributes the model needs; fills them when ``fill_missing`` (module docstring).
        Raises :class:`MissingInputError` naming ``source`` and the fix otherwise.
        """
        coord = np.asarray(coord)
        if coord.ndim != 2 or coord.shape[1] != 3 or coord.shape[0] == 0:
            raise ValueError(f"{source}: coord must be a non-empty [N, 3] array, got shape {coord.shape}")
        if not np.isfinite(coord).all():
            raise ValueError(f"{source}: coord holds NaN/Inf values; remove those points first")
        n = coord.shape[0]
        coord = coord.astype(np.float64)
        if np.abs(coord).max() > _FLOAT32_SAFE:
            # survey coordinates: float32 would round them to decimetres; the test transforms
            # (CenterShift, voxel grids) do not depend on where the cloud sits
            coord = coord - np.floor(coord.min(axis=0))
        data = {"coord": coord.astype(np.float32)}
        given = {"color": color, "normal": normal, "strength": strength}
        for key, value in given.items():
            if value is None:
                continue
            value = np.asarray(value, dtype=np.float32)
            if value.shape[0] != n:
                raise ValueError(f"{source}: {key} has {value.shape[0]} rows but coord has {n}")
            data[key] = value.reshape(n, -1) if key == "strength" else value
        missing = [k for k in self.needs if k not in data]
        if missing and not self.fill_missing:
            raise MissingInputError(
                f"{source} has no {' or '.join(missing)}, but the model was trained with feat_keys "
                f"{tuple(self.needs)} (Collect in data.test). Use a file that has them, or pass "
                f"--fill-missing (Predictor(fill_missing=True)) to fill colours with grey and estimate "
                f"normals from neighbours (accuracy may drop)"
            )
        for key in missing:
            if key == "color":
                data["color"] = np.full((n, 3), _FILL_COLOR, dtype=np.float32)
            elif key == "normal":
                from pointlab.data.io import estimate_normals

                data["normal"] = estimate_normals(coord, k=16)
            else:
                data[key] = np.zeros((n, 1), dtype=np.float32)
            logger.info(f"{source}: filled missing '{key}' ({'grey' if key == 'color' else 'PCA estimate' if key == 'normal' else 'zeros'})")
        data["segment"] = np.full(n, -1, dtype=np.int32)
        data["instance"] = np.full(n, -1, dtype=np.int32)
        return data

    def iter_fragments(self, data: dict):
        """Yield ``(fragments, remaining_augmentations)`` per test augmentation, in the tester's order.

        ``data`` is the output of ``data.test.transform``; each fragment has ``index`` into its points.
        """
        for i, aug in enumerate(self.aug_transform):
            augmented = aug(deepcopy(data))
            if self.voxelize is not None:
                parts = self.voxelize(augmented)
            else:
                augmented["index"] = np.arange(augmented["coord"].shape[0])
                parts = [augmented]
            fragments = []
            for part in parts:
                cropped = self.crop(part) if self.crop is not None else [part]
                fragments += [cropped] if isinstance(cropped, Mapping) else list(cropped)
            yield [self.post_transform(f) for f in fragments], len(self.aug_transform) - i - 1

    # -- prediction --------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, coord, color=None, normal=None, strength=None, return_probs: bool = False,
                name: str = "cloud") -> dict:
        """Segment one point cloud.

        Args:
            coord: [N, 3] positions in metres (z up, as the training data).
            color: optional [N, 3] colours in 0..255.
            normal: optional [N, 3] normals.
            strength: optional [N] or [N, 1] intensities (outdoor configs).
            return_probs: also return per-point class probabilities.
            name: shown in the progress bar and in errors.
        Returns:
            dict of numpy arrays: ``segment`` int64 [N] (class per point); with ``return_probs``
            ``probs`` float32 [N, K] (mean softmax over the fragments covering each point, rows sum
            to 1); for instance models also ``instance`` int64 [N] (index of the highest-scoring
            proposal holding the point, −1 none), ``pred_masks`` bool [P, N], ``pred_scores``
            float32 [P], ``pred_classes`` int64 [P].
        """
        data = self.prepare_inputs(coord, color, normal, strength, source=name)
        n = data["coord"].shape[0]
        data["name"] = name
        data = self.transform(data)
        if self.test_mode:
            prob, pred_index = self._vote(data, name)
            out = {}
            if pred_index is not None:
                prob = prob[pred_index]
            out["segment"] = prob.argmax(dim=1).cpu().numpy().astype(np.int64)
            if return_probs:
                votes = prob.sum(dim=1, keepdim=True)
                out["probs"] = (prob / torch.where(votes > 0, votes, torch.ones_like(votes))).cpu().numpy()
        else:
            out = self._single_pass(data, n, return_probs)
        if out["segment"].shape[0] != n:
            raise RuntimeError(f"{name}: predicted {out['segment'].shape[0]} labels for {n} points; the test transform "
                               f"drops points without keeping 'inverse' (GridSample(return_inverse=True)) or 'origin_coord'")
        return out

    def _vote(self, data: dict, name: str):
        """Summed softmax over every fragment ``[M, K]`` (M = points after the transform) and the
        ``inverse`` mapping raw points to them (None when the transform kept all points)."""
        from pointlab.data.collate import collate_fn
        from pointlab.evaluation.testers import move_to_device

        data = dict(data)
        inverse = None
        if "origin_segment" in data or "inverse" in data:
            if "inverse" not in data:
                raise KeyError("the test transform made 'origin_segment' but no 'inverse'; add return_inverse=True "
                               "to its GridSample so predictions map back to all points")
            inverse = torch.as_tensor(np.asarray(data.pop("inverse"))).reshape(-1).long()
            data.pop("origin_segment", None)
        data.pop("segment", None)
        data.pop("name", None)
        m = int(np.asarray(data["coord"]).shape[0])
        prob = torch.zeros((m, self.num_classes), dtype=torch.float32, device=self.device)
        bar = _Progress(f"Predict {name}", enabled=self.progress)
        try:
            for fragments, remaining in self.iter_fragments(data):
                bar.set_total(bar.n + len(fragments) * (remaining + 1))
                for start in range(0, len(fragments), self.fragment_batch_size):
                    chunk = [f for f in fragments[start:start + self.fragment_batch_size] if len(f["index"]) > 0]
                    if chunk:
                        batch = move_to_device(collate_fn(chunk), self.device)
                        logits = self.model(batch)["seg_logits"]
                        if logits.dim() != 2 or logits.shape[1] != self.num_classes:
                            raise ValueError(f"the model returned seg_logits of shape {tuple(logits.shape)}, but "
                                             f"data.num_classes={self.num_classes}")
                        p = F.softmax(logits.float(), dim=-1)
                        index = batch["index"].long()
                        bounds = [0] + batch["offset"].tolist()
                        for b0, b1 in zip(bounds[:-1], bounds[1:]):  # unique indices within a fragment
                            prob[index[b0:b1]] += p[b0:b1]
                    bar.update(len(fragments[start:start + self.fragment_batch_size]))
        finally:
            bar.close()
        return prob, (inverse.to(self.device) if inverse is not None else None)

    def _single_pass(self, data: dict, n: int, return_probs: bool) -> dict:
        from pointlab.data.collate import collate_fn
        from pointlab.evaluation.insseg_hooks import nearest_source_index
        from pointlab.evaluation.testers import move_to_device

        batch = collate_fn([data])
        inverse = batch.pop("inverse", None)
        for key in _LABEL_KEYS:
            batch.pop(key, None)
        batch.pop("name", None)
        batch = move_to_device(batch, self.device)
        output = self.model(batch)
        if "origin_coord" in batch and inverse is None:
            to_raw = torch.as_tensor(nearest_source_index(batch["coord"], batch["offset"], batch["origin_coord"],
                                                          batch["origin_offset"]))
        elif inverse is not None:
            to_raw = inverse.reshape(-1).long().cpu()
        else:
            to_raw = torch.arange(int(batch["coord"].shape[0]))
        out = {}
        if "seg_logits" in output:
            p = F.softmax(output["seg_logits"].float(), dim=-1).cpu()[to_raw]
            out["segment"] = p.argmax(dim=1).numpy().astype(np.int64)
            if return_probs:
                out["probs"] = p.numpy()
        if "pred_masks" in output:
            masks = output["pred_masks"].cpu().numpy()
            masks = (masks[:, to_raw.numpy()] if masks.shape[0] else np.zeros((0, to_raw.numel()), masks.dtype)) != 0
            scores = output["pred_scores"].detach().float().cpu().numpy().reshape(-1)
            out.update(pred_masks=masks, pred_scores=scores,
                       pred_classes=output["pred_classes"].cpu().numpy().reshape(-1).astype(np.int64),
                       instance=instance_labels(masks, scores))
        if "segment" not in out:
            raise KeyError(f"the model output has neither seg_logits nor pred_masks (keys: {sorted(output)})")
        return out


def instance_labels(pred_masks: np.ndarray, pred_scores: np.ndarray) -> np.ndarray:
    """Per-point instance id int64 [N]: the index of the highest-scoring proposal holding the point, −1 none.

    Args:
        pred_masks: bool [P, N]; pred_scores: [P].
    """
    p, n = pred_masks.shape
    if p == 0:
        return np.full(n, -1, dtype=np.int64)
    order = np.argsort(-np.asarray(pred_scores), kind="stable")
    ranked = pred_masks[order]
    first = ranked.argmax(axis=0)  # first (best) proposal holding each point
    return np.where(ranked.any(axis=0), order[first], -1).astype(np.int64)
