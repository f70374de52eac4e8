"""Checks on scene files as they are loaded: every problem becomes an error naming scene, file and fix.

The checks are vectorised (one ``isfinite`` over ``coord``, one min/max over each label array), so
they cost a small fraction of ``np.load`` itself and run on every load.
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

__all__ = ["SceneDataError", "DataRootError", "synth_hint", "check_scene_arrays", "load_npy"]


class SceneDataError(ValueError):
    """A scene's files are missing, malformed or hold values the dataset cannot use.

    The message names the scene, the file and what is wrong. ``scene`` and ``file`` are also kept
    as attributes (``None`` when the error was re-created from a message alone).
    """

    def __init__(self, message: str, scene: str | None = None, file: str | None = None):
        super().__init__(message)
        self.scene = scene
        self.file = file


class DataRootError(FileNotFoundError):
    """The data root, a split folder/file, or the scene folders a split lists do not exist or are empty."""


def synth_hint(style: str | None, data_root: str) -> str:
    """The sentence that tells a user how to get data when there is none."""
    style = style or "scannet"
    return (
        f"To try pointlab without the real dataset, write a small synthetic one with "
        f"`pointlab synth --style {style} --out {data_root}` (styles: scannet, s3dis, structured3d)."
    )


def load_npy(path: str, scene: str) -> np.ndarray:
    """``np.load`` that turns unreadable files (truncated, pickled objects, not .npy) into SceneDataError."""
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:  # numpy raises ValueError/OSError/EOFError depending on the damage
        raise SceneDataError(
            f"scene '{scene}': cannot read {path}: {type(e).__name__}: {e}. "
            f"Re-run the preprocessing for this scene (files must be plain numeric .npy arrays).",
            scene=scene,
            file=path,
        ) from e


def _fail(scene: str, path: str, what: str, fix: str = "") -> SceneDataError:
    msg = f"scene '{scene}': {path}: {what}"
    if fix:
        msg += f". {fix}"
    return SceneDataError(msg, scene=scene, file=path)


def _is_real_numeric(a: np.ndarray) -> bool:
    return a.dtype.kind in "biuf"


def _check_vectors(a: np.ndarray, n: int, scene: str, path: str, stem: str) -> None:
    """A per-point [N,3] array (color, normal)."""
    if not _is_real_numeric(a):
        raise _fail(scene, path, f"{stem} has dtype {a.dtype}; expected a numeric array of shape [N,3]")
    if a.ndim != 2 or a.shape[1] != 3:
        raise _fail(scene, path, f"{stem} has shape {list(a.shape)}; expected [N,3] = [{n}, 3] (3 columns)")
    if a.shape[0] != n:
        raise _fail(
            scene, path, f"{stem} has {a.shape[0]} rows but coord.npy has {n} points",
            "Every per-point file of a scene must have one row per point of coord.npy",
        )


def _check_labels(
    a: np.ndarray, n: int, scene: str, path: str, stem: str, num_classes: int | None, ignore_index: int
) -> None:
    """A per-point label array: [N] or [N,1], integer-valued, inside [-1, num_classes-1] (or ignore_index)."""
    if not _is_real_numeric(a):
        raise _fail(scene, path, f"{stem} has dtype {a.dtype}; expected integer labels of shape [N] or [N,1]")
    if not (a.ndim == 1 or (a.ndim == 2 and a.shape[1] == 1)):
        raise _fail(scene, path, f"{stem} has shape {list(a.shape)}; expected [N] or [N,1] with N = {n}")
    if a.shape[0] != n:
        raise _fail(
            scene, path, f"{stem} has length {a.shape[0]} but coord.npy has {n} points",
            "Labels must have exactly one entry per point",
        )
    if n == 0:
        return
    flat = a.reshape(-1)
    if a.dtype.kind == "f":
        bad = ~np.isfinite(flat) | (flat != np.round(flat))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise _fail(
                scene, path, f"{stem} has dtype {a.dtype} with {int(bad.sum())} non-integer value(s) "
                f"(first at point {i}: {float(flat[i])})", "Labels must be whole numbers; save them as int",
            )
    lo, hi = flat.min(), flat.max()
    upper = num_classes - 1 if num_classes is not None else None
    if lo >= -1 and (upper is None or hi <= upper):
        return  # the common case: one min/max pass and done
    bad = flat < -1
    if upper is not None:
        bad |= flat > upper
    bad &= flat != ignore_index
    if not bad.any():
        return
    vals = np.unique(flat[bad])
    shown = ", ".join(str(int(v)) for v in vals[:8]) + (", …" if len(vals) > 8 else "")
    allowed = f"0..{upper}" if upper is not None else "≥ 0"
    extra = f" or ignore_index={ignore_index}" if ignore_index != -1 else ""
    raise _fail(
        scene, path,
        f"{stem} has {int(bad.sum())} label(s) outside the valid range {allowed} (−1 = ignore{extra}): "
        f"found {shown}",
        "Labels must be mapped class indices, not raw category ids; check the preprocessing's label "
        "mapping, or use a dataset type whose class count matches the data",
    )


def check_scene_arrays(
    arrays: Mapping[str, np.ndarray],
    scene: str,
    scene_dir: str,
    *,
    required: Sequence[str] = ("coord",),
    label_keys: Sequence[str] = ("segment",),
    num_classes: int | None = None,
    ignore_index: int = -1,
) -> None:
    """Validate the raw arrays of one scene, keyed by file stem (before renaming and casting).

    Args:
        arrays: ``{stem: array}`` as loaded from ``scene_dir/<stem>.npy``.
        scene: the scene's name (as the dataset reports it) for messages.
        scene_dir: folder holding the files; messages name ``scene_dir/<stem>.npy``.
        required: stems that must be present.
        label_keys: stems holding semantic labels (checked against ``num_classes``).
        num_classes: K; labels must be in ``[-1, K-1]`` (or equal ``ignore_index``). None: only ``≥ -1``.
        ignore_index: an extra allowed label value.

    Raises:
        SceneDataError: missing file, wrong dtype/shape, NaN/Inf coordinates, 0 points, bad labels.
    """

    def file_of(stem):
        return os.path.join(scene_dir, stem + ".npy")

    missing = [s for s in required if s not in arrays]
    if missing:
        found = ", ".join(sorted(k + ".npy" for k in arrays)) or "no usable .npy file"
        raise _fail(
            scene, file_of(missing[0]), f"required file {', '.join(m + '.npy' for m in missing)} is missing "
            f"(found: {found})", "Re-run the preprocessing for this scene or remove the folder from the split",
        )

    coord = arrays["coord"]
    path = file_of("coord")
    if not _is_real_numeric(coord):
        raise _fail(scene, path, f"coord has dtype {coord.dtype}; expected float coordinates of shape [N,3]")
    if coord.ndim != 2 or coord.shape[1] != 3:
        raise _fail(scene, path, f"coord has shape {list(coord.shape)}; expected [N,3] (x, y, z per point)")
    n = coord.shape[0]
    if n == 0:
        raise _fail(scene, path, "empty scene (0 points)", "Remove this scene from the split or re-run its preprocessing")
    if coord.dtype.kind == "f" and not np.isfinite(coord).all():  # flat .all() is ~50x faster than per row
        bad = np.flatnonzero(~np.isfinite(coord).all(axis=1))
        raise _fail(
            scene, path, f"coord has {len(bad)} point(s) with NaN/Inf coordinates (first at point {int(bad[0])}: "
            f"{coord[bad[0]].tolist()})", "Drop those points (and their rows in every other file) when preprocessing",
        )

    for stem in ("color", "normal"):
        if stem in arrays:
            _check_vectors(arrays[stem], n, scene, file_of(stem), stem)
    for stem in label_keys:
        if stem in arrays:
            _check_labels(arrays[stem], n, scene, file_of(stem), stem, num_classes, ignore_index)
    if "instance" in arrays:
        # instance ids have no upper bound; only shape, integrality and ≥ -1 are checked
        _check_labels(arrays["instance"], n, scene, file_of("instance"), "instance", None, -1)
    if "strength" in arrays:
        s = arrays["strength"]
        if not _is_real_numeric(s) or s.shape[0] != n:
            raise _fail(scene, file_of("strength"), f"strength has dtype {s.dtype} and shape {list(s.shape)}; "
                        f"expected numeric with {n} rows")
