"""``DefaultDataset``: one folder per scene, one ``.npy`` per attribute (Pointcept's ``DefaultDataset``).

On-disk layout and loading rules follow the reference (``pointcept/datasets/defaults.py``); see
``shared/spec/20-data.md`` §1–2. Differences, all deliberate:

* scene folders of a split are listed in **sorted** order (the reference uses unsorted ``glob``, whose
  order depends on the file system), and only folders are kept (a stray file in a split folder is
  not a scene);
* every scene is validated on load (:mod:`.validation`): a missing ``coord.npy``, wrong shapes or
  dtypes, NaN/Inf coordinates, 0 points or labels outside the class range raise
  :class:`SceneDataError` naming the scene and file, instead of failing later or training on garbage;
* a missing/empty data root or split raises :class:`DataRootError` with the ``pointlab synth`` hint;
* ``cache=True`` (Pointcept's shared-memory cache) is accepted and ignored, with one log line;
* ``skip_bad_scenes=True`` (pointlab option, default off): a scene whose files cannot be read or
  fail validation is logged, flagged in :attr:`DefaultDataset.skipped_scene_flags` (shared with
  dataloader workers) and replaced by the next good scene; the trainer reports the count at the end.
"""
from __future__ import annotations

import glob
import json
import logging
import numbers
import os
from collections.abc import Mapping, Sequence
from copy import deepcopy

import numpy as np
import torch
from torch.utils.data import Dataset

from pointlab.registry import DATASETS
from pointlab.data.datasets.validation import (
    DataRootError,
    SceneDataError,
    check_scene_arrays,
    load_npy,
    synth_hint,
)

logger = logging.getLogger(__name__)

__all__ = ["DefaultDataset", "build_dataset"]


def build_dataset(cfg):
    """Build a dataset from ``dict(type="ScanNetDataset", split=..., data_root=..., ...)``."""
    return DATASETS.build(cfg)


def _cfg_get(cfg, key, default=None):
    """Read ``key`` from a plain dict or an attribute-dict config (missing → default)."""
    if isinstance(cfg, Mapping):
        return cfg.get(key, default)
    return getattr(cfg, key, default)


def _compose(transforms):
    """A callable applying a list of transform configs in order (``None`` → identity)."""
    from pointlab.data.transforms import build_transform  # transforms import lazily: no cycle at import

    return build_transform(list(transforms or []))


def _build_one(cfg):
    from pointlab.registry import TRANSFORMS

    return TRANSFORMS.build(cfg)


@DATASETS.register_module()
class DefaultDataset(Dataset):
    """Scenes stored as ``data_root/<split>/<scene>/<asset>.npy``.

    Args:
        split: a split folder name (``"train"``), a JSON file (relative to ``data_root``) holding a
            list of scene paths relative to ``data_root``, or a sequence of either.
        data_root: the dataset folder.
        transform: list of transform configs applied by ``__getitem__`` (``None`` → none).
        test_mode: return fragment lists for test-time voting (§2.5) instead of one sample.
        test_cfg: ``dict(voxelize, crop, post_transform, aug_transform)``; used only in test mode.
        cache: accepted for config compatibility and ignored (see module docstring).
        ignore_index: semantic label meaning "ignore" (−1 in every target config).
        loop: the dataset is repeated ``loop`` times (``len = scenes · loop``); forced to 1 in test mode.
        skip_bad_scenes: False (default) → a corrupt/truncated/invalid scene raises
            :class:`SceneDataError` naming the scene and file; True → it is logged, flagged and the
            next good scene is returned instead (train/val samples only; test mode always raises).

    ``get_data(idx)`` returns ``coord`` float32 [N,3], ``color`` float32 [N,3] and ``normal`` float32
    [N,3] when present, ``segment``/``instance`` int32 [N] (−1 filled when absent), ``name``, ``split``,
    plus any other whitelisted asset as stored.
    """

    VALID_ASSETS = ["coord", "color", "normal", "strength", "segment", "instance", "pose"]
    # files that must exist in every scene folder
    REQUIRED_ASSETS: tuple[str, ...] = ("coord",)
    # files holding semantic labels (validated against ``num_classes``), renamed to ``segment``
    SEGMENT_ASSETS: tuple[str, ...] = ("segment",)
    # pattern (relative to a split folder) matching one scene folder
    SCENE_GLOB = "*"
    # dataset facts; None where a generic dataset cannot know them
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None
    # ``pointlab synth --style`` that writes this layout (for the "no data" hint)
    synth_style: str | None = None

    def __init__(
        self,
        split="train",
        data_root="data/dataset",
        transform=None,
        test_mode=False,
        test_cfg=None,
        cache=False,
        ignore_index=-1,
        loop=1,
        skip_bad_scenes=False,
    ):
        super().__init__()
        self.data_root = data_root
        self.split = split
        self.transform = _compose(transform)
        self.cache = cache
        if cache:
            logger.info("cache=True is not supported by pointlab and is ignored: scenes are read from %s", data_root)
        self.ignore_index = ignore_index
        self.loop = loop if not test_mode else 1  # test mode visits each scene exactly once
        if not isinstance(self.loop, numbers.Integral) or self.loop < 1:
            raise ValueError(f"{type(self).__name__}: loop must be a positive int, got {loop!r}")
        self.test_mode = test_mode
        self.test_cfg = test_cfg if test_mode else None
        if test_mode:
            if test_cfg is None:
                raise ValueError(
                    f"{type(self).__name__}: test_mode=True needs test_cfg=dict(voxelize=..., crop=..., "
                    f"post_transform=[...], aug_transform=[[...], ...])"
                )
            voxelize = _cfg_get(test_cfg, "voxelize")
            crop = _cfg_get(test_cfg, "crop")
            self.test_voxelize = _build_one(voxelize) if voxelize else None
            self.test_crop = _build_one(crop) if crop else None
            self.post_transform = _compose(_cfg_get(test_cfg, "post_transform"))
            # no aug_transform → one pass without augmentation
            self.aug_transform = [_compose(aug) for aug in (_cfg_get(test_cfg, "aug_transform") or [[]])]

        self.data_list = self.get_data_list()
        if not self.data_list:
            raise DataRootError(
                f"no scenes found for split {split!r} under {os.path.abspath(data_root)} "
                f"(looked for {self._split_patterns()}). " + synth_hint(self.synth_style, data_root)
            )
        self.skip_bad_scenes = bool(skip_bad_scenes)
        # uint8 [scenes], 1 = skipped; in shared memory so dataloader workers' skips are seen here
        self.skipped_scene_flags = (torch.zeros(len(self.data_list), dtype=torch.uint8).share_memory_()
                                    if self.skip_bad_scenes else None)
        logger.info(
            "Totally %d x %d samples in %s %s set.", len(self.data_list), self.loop, os.path.basename(str(data_root)), split
        )

    # -- scene list -----------------------------------------------------------------------------
    def _split_list(self) -> list[str]:
        if isinstance(self.split, str):
            return [self.split]
        if isinstance(self.split, Sequence):
            return list(self.split)
        raise TypeError(f"{type(self).__name__}: split must be a str or a list of str, got {type(self.split).__name__}")

    def _split_patterns(self) -> str:
        return ", ".join(os.path.join(self.data_root, s, self.SCENE_GLOB) for s in self._split_list())

    def get_data_list(self) -> list[str]:
        """Scene folders of all splits, in split order; inside a split sorted by path."""
        if not os.path.isdir(self.data_root):
            raise DataRootError(
                f"data_root {os.path.abspath(self.data_root)} does not exist. "
                + synth_hint(self.synth_style, self.data_root)
            )
        data_list = []
        for split in self._split_list():
            path = os.path.join(self.data_root, split)
            if os.path.isfile(path):
                data_list += self._read_split_file(path)
            elif os.path.isdir(path):
                data_list += sorted(p for p in glob.glob(os.path.join(path, self.SCENE_GLOB)) if os.path.isdir(p))
            else:
                present = sorted(os.listdir(self.data_root))
                raise DataRootError(
                    f"split {split!r} not found: {os.path.abspath(path)} is neither a folder of "
                    f"scenes nor a JSON scene list (data_root holds: {', '.join(present) or 'nothing'}). "
                    + synth_hint(self.synth_style, self.data_root)
                )
        return data_list

    def _read_split_file(self, path: str) -> list[str]:
        """A JSON list of scene folders relative to ``data_root``."""
        try:
            with open(path) as f:
                entries = json.load(f)
        except (OSError, ValueError) as e:
            raise DataRootError(f"split file {path} is not valid JSON: {e}. Expected a list of scene paths "
                                f"relative to {self.data_root}, e.g. [\"train/scene0000_00\"]") from e
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise DataRootError(f"split file {path} must hold a JSON list of strings (scene paths relative to "
                                f"{self.data_root}), got {type(entries).__name__}")
        scenes = [os.path.join(self.data_root, e) for e in entries]
        missing = [s for s in scenes if not os.path.isdir(s)]
        if missing:
            raise DataRootError(
                f"split file {path} lists {len(missing)} scene folder(s) that do not exist, e.g. {missing[0]}"
            )
        return scenes

    # -- naming ---------------------------------------------------------------------------------
    def _scene_path(self, idx: int) -> str:
        return os.path.normpath(self.data_list[idx % len(self.data_list)])

    def get_data_name(self, idx: int) -> str:
        """Scene name: the folder's basename."""
        return os.path.basename(self._scene_path(idx))

    def get_split_name(self, idx: int) -> str:
        """Split name: the scene folder's parent basename."""
        return os.path.basename(os.path.dirname(self._scene_path(idx)))

    # -- loading --------------------------------------------------------------------------------
    def load_assets(self, idx: int) -> dict[str, np.ndarray]:
        """Whitelisted ``.npy`` files of scene ``idx`` as stored (stem → array), validated."""
        path = self._scene_path(idx)
        name = self.get_data_name(idx)
        try:
            files = sorted(os.listdir(path))
        except OSError as e:
            raise SceneDataError(f"scene '{name}': cannot list {path}: {e}", scene=name, file=path) from e
        arrays = {}
        for f in files:
            stem, ext = os.path.splitext(f)
            if ext == ".npy" and stem in self.VALID_ASSETS:
                arrays[stem] = load_npy(os.path.join(path, f), name)
        check_scene_arrays(
            arrays, name, path, required=self.REQUIRED_ASSETS, label_keys=self.SEGMENT_ASSETS,
            num_classes=self.num_classes, ignore_index=self.ignore_index,
        )
        return arrays

    def get_data(self, idx: int) -> dict:
        """Load scene ``idx % len(data_list)`` as a dict of numpy arrays plus ``name`` and ``split``."""
        data = self.load_assets(idx)
        n = data["coord"].shape[0]
        data["name"] = self.get_data_name(idx)
        data["split"] = self.get_split_name(idx)
        for key in ("coord", "color", "normal"):
            if key in data:
                data[key] = data[key].astype(np.float32)
        segment = None
        for key in self.SEGMENT_ASSETS:  # first present label file wins (ScanNet: segment20 / segment200)
            if key in data:
                arr = data.pop(key)
                if segment is None:
                    segment = arr
        data["segment"] = segment.reshape(-1).astype(np.int32) if segment is not None else np.full(n, -1, np.int32)
        if "instance" in data:
            data["instance"] = data["instance"].reshape(-1).astype(np.int32)
        else:
            data["instance"] = np.full(n, -1, np.int32)
        return data

    # -- samples --------------------------------------------------------------------------------
    def prepare_train_data(self, idx: int) -> dict:
        """``transform(get_data(idx))`` (used for training and validation).

        With ``skip_bad_scenes=True`` a scene raising :class:`SceneDataError` is flagged and
        logged, and the following scenes are tried in order (wrapping around).
        """
        if not self.skip_bad_scenes:
            return self.transform(self.get_data(idx))
        n = len(self.data_list)
        for k in range(n):
            scene = (idx + k) % n
            try:
                data = self.get_data(scene)
            except SceneDataError as e:
                if not self.skipped_scene_flags[scene]:
                    logger.warning("skip_bad_scenes=True: skipping scene %s: %s", self._scene_path(scene), e)
                self.skipped_scene_flags[scene] = 1
                continue
            return self.transform(data)
        raise SceneDataError(f"{type(self).__name__}: all {n} scenes under {self.data_root} (split {self.split!r}) "
                             "failed to load with skip_bad_scenes=True; see the warnings above for each file")

    def skipped_scenes(self) -> list[str]:
        """Paths of the scenes skipped so far (in this process and its dataloader workers)."""
        if self.skipped_scene_flags is None:
            return []
        return [self.data_list[i] for i in torch.nonzero(self.skipped_scene_flags).flatten().tolist()]

    def prepare_test_data(self, idx: int) -> dict:
        """Fragments for test-time voting (spec 20-data §2.5).

        Returns ``{segment, name, fragment_list}`` (+ ``origin_segment``, ``inverse`` when the
        transform made them). ``fragment_list`` holds, for each augmentation in order, every test-mode
        voxelization part (each optionally cropped into several), each passed through ``post_transform``;
        each part carries ``index`` (int64 indices of its points in the transformed scene).
        """
        data = self.transform(self.get_data(idx))
        result = dict(segment=data.pop("segment"), name=data.pop("name"))
        if "origin_segment" in data:
            if "inverse" not in data:
                raise KeyError(
                    f"{type(self).__name__} test transform made 'origin_segment' but no 'inverse'; add "
                    f"return_inverse=True to its GridSample so predictions can be mapped back to all points"
                )
            result["origin_segment"] = data.pop("origin_segment")
            result["inverse"] = data.pop("inverse")

        fragments = []
        for aug in self.aug_transform:
            augmented = aug(deepcopy(data))
            if self.test_voxelize is not None:
                parts = self.test_voxelize(augmented)
            else:
                augmented["index"] = np.arange(augmented["coord"].shape[0])
                parts = [augmented]
            for part in parts:
                cropped = self.test_crop(part) if self.test_crop is not None else [part]
                # a crop may give one dict or a list of them (SphereCrop mode="all")
                fragments += [cropped] if isinstance(cropped, Mapping) else list(cropped)
        result["fragment_list"] = [self.post_transform(f) for f in fragments]
        return result

    def __getitem__(self, idx: int):
        return self.prepare_test_data(idx) if self.test_mode else self.prepare_train_data(idx)

    def __len__(self) -> int:
        return len(self.data_list) * self.loop

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(split={self.split!r}, data_root={self.data_root!r}, scenes={len(self.data_list)}, "
                f"loop={self.loop}, test_mode={self.test_mode})")
