"""Dict-structure transforms: Copy, Update (legacy Add), ToTensor, Collect, InstanceParser,
RandomDropNormal.

Deviations from the reference (outputs are otherwise equal):
- ``Collect`` does not compute the reference's unused per-row ``offset`` on the input
  (a Python loop over points, ~0.3 s per ScanNet scene) and does not modify its input.
- ``InstanceParser`` works on a copy of ``instance`` (the reference edits it in place)
  and groups the points with one sort instead of one mask per instance.
"""
from __future__ import annotations

import copy
import random
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from pointlab.registry import TRANSFORMS


@TRANSFORMS.register_module()
class Collect:
    """Keep only ``keys``, add point counts and concatenated features.

    Args:
        keys: a key or a sequence of keys copied as they are.
        offset_keys_dict: ``{out_key: src_key}`` → ``out[out_key] = tensor([len(data[src_key])])``
            (int64 [1]); default ``{"offset": "coord"}``.
        **kwargs: every ``<name>_keys=(k1, k2, ...)`` gives
            ``out[<name>] = cat([data[k1].float(), data[k2].float(), ...], dim=1)`` [N, ΣC]
            (1-D entries count as one column), e.g. ``feat_keys=("color", "normal")`` → ``feat``.

    Example: ``Collect(keys=("coord", "grid_coord", "segment"), feat_keys=("color", "normal"))``.
    """

    def __init__(self, keys, offset_keys_dict=None, **kwargs):
        if offset_keys_dict is None:
            offset_keys_dict = dict(offset="coord")
        self.keys = [keys] if isinstance(keys, str) else list(keys)
        self.offset_keys = dict(offset_keys_dict)
        self.kwargs = {}
        for name, feat_keys in kwargs.items():
            if isinstance(feat_keys, str) or not isinstance(feat_keys, Sequence):
                raise TypeError(
                    f"Collect: {name} must be a list/tuple of keys, got {feat_keys!r} "
                    f"(write {name}=({feat_keys!r},) for one key)"
                )
            self.kwargs[name] = tuple(feat_keys)

    @staticmethod
    def _get(data_dict, key, role):
        if key not in data_dict:
            raise KeyError(f"Collect: {role} '{key}' is not in the sample; present keys: {sorted(data_dict.keys())}")
        return data_dict[key]

    def __call__(self, data_dict):
        out = {}
        for key in self.keys:
            out[key] = self._get(data_dict, key, "key")
        for out_key, src_key in self.offset_keys.items():
            out[out_key] = torch.tensor([len(self._get(data_dict, src_key, f"offset source for '{out_key}'"))])
        for name, feat_keys in self.kwargs.items():
            parts = []
            for key in feat_keys:
                v = self._get(data_dict, key, f"{name} entry")
                v = v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v))
                parts.append(v.float().reshape(v.shape[0], -1) if v.dim() == 1 else v.float())
            lengths = {p.shape[0] for p in parts}
            if len(lengths) > 1:
                shapes = ", ".join(f"{k}: {tuple(p.shape)}" for k, p in zip(feat_keys, parts))
                raise ValueError(f"Collect: {name} entries have different point counts ({shapes}); they must share dim 0")
            out[name.replace("_keys", "")] = torch.cat(parts, dim=1)
        return out


@TRANSFORMS.register_module()
class Copy:
    """``data[dst] = copy of data[src]`` for each pair of ``keys_dict``
    (default ``{coord: origin_coord, segment: origin_segment}``)."""

    def __init__(self, keys_dict=None):
        if keys_dict is None:
            keys_dict = dict(coord="origin_coord", segment="origin_segment")
        self.keys_dict = keys_dict

    def __call__(self, data_dict):
        data_dict = dict(data_dict)
        for src, dst in self.keys_dict.items():
            if src not in data_dict:
                raise KeyError(f"Copy: key '{src}' is not in the sample; present keys: {sorted(data_dict.keys())}")
            value = data_dict[src]
            if isinstance(value, np.ndarray):
                data_dict[dst] = value.copy()
            elif isinstance(value, torch.Tensor):
                data_dict[dst] = value.clone().detach()
            else:
                data_dict[dst] = copy.deepcopy(value)
        return data_dict


@TRANSFORMS.register_module(["Update", "Add"])
class Update:
    """``data[k] = v`` for each pair of ``keys_dict`` (constants such as
    ``condition="ScanNet"``). Registered also as ``Add``, its name before Pointcept v1.6."""

    def __init__(self, keys_dict=None):
        self.keys_dict = {} if keys_dict is None else keys_dict

    def __call__(self, data_dict):
        data_dict = dict(data_dict)
        data_dict.update(self.keys_dict)
        return data_dict


@TRANSFORMS.register_module()
class ToTensor:
    """Convert recursively to torch: tensor and str kept; int → int64 [1]; float → float32 [1];
    bool array → bool tensor; integer array → int64; floating array → float32;
    mappings and sequences converted element-wise. Arrays already of the target dtype
    share memory with the tensor."""

    def __call__(self, data):
        if isinstance(data, torch.Tensor):
            return data
        if isinstance(data, str):  # before Sequence: a str is a Sequence
            return data
        if isinstance(data, int):
            return torch.LongTensor([data])
        if isinstance(data, float):
            return torch.FloatTensor([data])
        if isinstance(data, np.ndarray):
            if np.issubdtype(data.dtype, np.bool_):
                return torch.from_numpy(np.ascontiguousarray(data))
            if np.issubdtype(data.dtype, np.integer):
                return torch.from_numpy(np.ascontiguousarray(data.astype(np.int64, copy=False)))
            if np.issubdtype(data.dtype, np.floating):
                return torch.from_numpy(np.ascontiguousarray(data.astype(np.float32, copy=False)))
            raise TypeError(f"ToTensor: cannot convert a numpy array of dtype {data.dtype} (shape {data.shape})")
        if isinstance(data, Mapping):
            return {k: self._convert_item(k, v) for k, v in data.items()}
        if isinstance(data, Sequence):
            return [self(item) for item in data]
        raise TypeError(f"ToTensor: cannot convert {type(data).__name__} to a tensor: {data!r:.80}")

    def _convert_item(self, key, value):
        try:
            return self(value)
        except TypeError as e:
            raise TypeError(f"{e} (key '{key}')") from None


@TRANSFORMS.register_module()
class InstanceParser:
    """Instance targets for PointGroup.

    1. points whose ``segment`` is in ``segment_ignore_index`` get ``instance_ignore_index``;
    2. the remaining instance ids are compacted to 0..K−1 in ascending order of the
       original id (an id of −1 on a kept point counts as an id, as in the reference);
    3. ``instance_centroid`` float64 [N, 3]: mean ``coord`` of the point's instance
       (``instance_ignore_index`` for ignored points);
    4. ``bbox`` float64 [K, 8]: ``[center (min+max)/2 (3), size max−min (3), theta=0,
       class]`` with class = segment of the instance's first point minus the number of
       non-negative ignore indices below it (ScanNet: classes 2..19 → 0..17).
    Statistics are computed in ``coord``'s dtype and stored as float64, as the reference.
    """

    def __init__(self, segment_ignore_index=(-1, 0, 1), instance_ignore_index=-1):
        self.segment_ignore_index = segment_ignore_index
        self.instance_ignore_index = instance_ignore_index

    def __call__(self, data_dict):
        for key in ("coord", "segment", "instance"):
            if key not in data_dict:
                raise KeyError(f"InstanceParser needs key '{key}'; present keys: {sorted(data_dict.keys())}")
        coord = np.asarray(data_dict["coord"])
        segment = np.asarray(data_dict["segment"])
        instance = np.array(data_dict["instance"], copy=True)
        if not (coord.shape[0] == segment.shape[0] == instance.shape[0]):
            raise ValueError(
                f"InstanceParser: coord {coord.shape}, segment {segment.shape} and instance {instance.shape} "
                "must have the same number of points"
            )
        n = coord.shape[0]
        mask = ~np.isin(segment, self.segment_ignore_index)
        instance[~mask] = self.instance_ignore_index
        unique, inverse = np.unique(instance[mask], return_inverse=True)
        instance_num = len(unique)
        instance[mask] = inverse.reshape(-1)

        centroid = np.ones((n, 3)) * self.instance_ignore_index
        bbox = np.ones((instance_num, 8)) * self.instance_ignore_index
        if instance_num > 0:
            kept = np.flatnonzero(mask)
            order = kept[np.argsort(instance[kept], kind="stable")]  # grouped by id, original order inside
            starts = np.searchsorted(instance[order], np.arange(instance_num))
            counts = np.diff(np.append(starts, order.size))
            c = coord[order]
            # np.mean per contiguous slice: the same rows in the same order as the reference's
            # coord[instance == k], hence bit-equal means (np.add.reduceat sums in another order)
            ends = starts + counts
            mean = np.stack([c[s:e].mean(0) for s, e in zip(starts.tolist(), ends.tolist())])
            bmin = np.minimum.reduceat(c, starts, axis=0)
            bmax = np.maximum.reduceat(c, starts, axis=0)
            vacancy = np.array([i for i in self.segment_ignore_index if i >= 0])
            first_class = segment[order[starts]].astype(c.dtype)
            shift = (first_class[:, None] > vacancy[None, :]).sum(1) if vacancy.size else 0
            bbox_class = first_class - shift
            centroid[order] = np.repeat(mean, counts, axis=0)
            bbox[:] = np.concatenate(
                [(bmax + bmin) / 2, bmax - bmin, np.zeros((instance_num, 1), dtype=c.dtype), bbox_class[:, None]],
                axis=1,
            )
        data_dict = dict(data_dict)
        data_dict["instance"] = instance
        data_dict["instance_centroid"] = centroid
        data_dict["bbox"] = bbox
        return data_dict


@TRANSFORMS.register_module()
class RandomDropNormal:
    """With probability ``drop_application_ratio`` (py-random) set the normal of
    ``int(n·drop_ratio)`` random points to 0."""

    def __init__(self, drop_ratio=0.2, drop_application_ratio=0.5):
        self.drop_ratio = drop_ratio
        self.drop_application_ratio = drop_application_ratio
        self.drop_value = 0.0

    def __call__(self, data_dict):
        if "normal" in data_dict and random.random() < self.drop_application_ratio:
            normal = np.array(data_dict["normal"], copy=True)
            n = len(normal)
            idx = np.random.choice(n, int(n * self.drop_ratio), replace=False)
            normal[idx] = self.drop_value
            data_dict = dict(data_dict, normal=normal)
        return data_dict


__all__ = ["Collect", "Copy", "Update", "ToTensor", "InstanceParser", "RandomDropNormal"]
