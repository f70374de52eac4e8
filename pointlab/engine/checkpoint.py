"""Checkpoints: atomic save, safe load, and non-strict weight loading with a report.

File format (Pointcept's ``CheckpointSaver``): ``torch.save`` of a dict
    epoch              int, completed epochs
    state_dict         model weights; keys carry the DDP prefix ``module.`` (Pointcept strips or
                       adds it on load, so both runs on 1 and on several GPUs read these files)
    optimizer          ``optimizer.state_dict()``
    scheduler          ``scheduler.state_dict()``
    scaler             ``GradScaler.state_dict()`` or None
    best_metric_value  float (−inf before the first evaluation)
plus pointlab's ``pointlab_version`` and ``model_type`` (Pointcept ignores unknown keys).

Loading never unpickles code: ``torch.load(map_location="cpu", weights_only=True)`` with an
allow-list of numpy scalar/dtype types (Pointcept stores ``best_metric_value`` as a numpy float).
Checkpoints written by older torch versions may hold Python objects (e.g. an LR scheduler's bound
``anneal_func``); weights can still be taken from them (those objects are replaced by inert
placeholders inside torch's weights-only unpickler), but a full ``load_checkpoint`` refuses them
and ``convert_checkpoint`` writes a clean copy.
"""
from __future__ import annotations

import collections
import dataclasses
import math
import os
import pickle
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

__all__ = [
    "CheckpointError",
    "ShapeMismatchError",
    "LoadReport",
    "build_checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "convert_checkpoint",
    "rename_state_dict_keys",
    "load_weights",
    "previous_good_checkpoint",
]

DDP_PREFIX = "module."


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used as asked; the message names the file and the fix."""


class ShapeMismatchError(CheckpointError):
    """Checkpoint tensors whose shapes differ from the model's; ``report`` holds the full comparison."""

    def __init__(self, message: str, report: "LoadReport"):
        super().__init__(message)
        self.report = report


# ---------------------------------------------------------------------------------------------
# saving


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)) else model


def _model_type(model: nn.Module) -> str:
    """The registry name that builds ``model``'s class (e.g. "DefaultSegmentor"), else the class name."""
    cls = type(model)
    try:
        from pointlab.registry import MODELS

        for name, obj in MODELS.module_dict.items():
            if obj is cls:
                return name
    except Exception:  # registry population failing must not block saving a checkpoint
        pass
    return cls.__name__


def _plain(obj: Any, where: str) -> Any:
    """Return ``obj`` with numpy scalars turned into Python numbers; refuse anything a weights-only
    load would reject, so every file we write can be read back safely."""
    if isinstance(obj, (torch.Tensor, str, bool, int, float, type(None), torch.device, torch.dtype)):
        return obj
    if type(obj).__module__ == "numpy" and hasattr(obj, "item") and getattr(obj, "shape", None) == ():
        return obj.item()
    if isinstance(obj, collections.OrderedDict):
        return collections.OrderedDict((k, _plain(v, f"{where}.{k}")) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: _plain(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        out = [_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return out if isinstance(obj, list) else tuple(out)
    raise TypeError(
        f"cannot store {type(obj).__module__}.{type(obj).__qualname__} at '{where}' in a checkpoint: "
        "only tensors, numbers, strings and lists/dicts of them load without unpickling code; "
        "store its state_dict() instead"
    )


def build_checkpoint(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    scaler: Any = None,
    epoch: int = 0,
    best_metric_value: float = -math.inf,
    module_prefix: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> dict:
    """The checkpoint dict in Pointcept's format (see the module docstring).

    Args:
        model: the model, DDP-wrapped or not.
        optimizer, scheduler, scaler: objects with ``state_dict()`` or None.
        epoch: number of completed epochs.
        best_metric_value: best validation metric so far.
        module_prefix: write keys as ``module.<key>`` (Pointcept's multi-GPU form, readable by
            Pointcept and pointlab on any number of GPUs).
        extra: further keys to store (plain data only).
    """
    net = _unwrap(model)
    sd = net.state_dict()
    if module_prefix:
        sd = collections.OrderedDict((DDP_PREFIX + k, v) for k, v in sd.items())
    from pointlab import __version__

    ckpt = {
        "epoch": int(epoch),
        "state_dict": sd,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "best_metric_value": float(best_metric_value),
        "pointlab_version": __version__,
        "model_type": _model_type(net),
    }
    ckpt.update(extra or {})
    return ckpt


def save_checkpoint(checkpoint: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write ``checkpoint`` to ``path`` atomically.

    The file is written to a temporary name in the same directory, flushed and fsynced, then
    renamed over ``path`` (``os.replace``), so a crash leaves either the old or the new file,
    never a truncated one. Values must be plain data (tensors, numbers, strings, lists/dicts):
    anything else raises ``TypeError`` naming the key, before anything is written.
    """
    path = Path(path)
    data = _plain(dict(checkpoint), "checkpoint")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable; not possible on every platform
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


# ---------------------------------------------------------------------------------------------
# loading


class UnloadedObject:
    """Placeholder for a pickled Python object that was not loaded (its code never runs)."""

    qualname = "?"

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __repr__(self) -> str:
        return f"<not loaded: {self.qualname}>"


def _numpy_safe_globals() -> list:
    """numpy scalar/array/dtype reconstructors: data only, safe to allow (names of numpy 1.x and 2.x)."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        return []
    try:
        multiarray = np._core.multiarray  # numpy ≥ 2
    except AttributeError:  # pragma: no cover
        multiarray = np.core.multiarray
    out = []
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out += [(multiarray.scalar, f"{mod}.scalar"), (multiarray._reconstruct, f"{mod}._reconstruct")]
    out += [np.dtype, np.ndarray]
    for t in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64"):
        out.append(type(np.dtype(t)))
    return out


_SAFE_CONTAINERS = {
    "builtins.dict": dict,
    "builtins.list": list,
    "builtins.set": set,
    "builtins.tuple": tuple,
    "builtins.frozenset": frozenset,
    "collections.defaultdict": collections.defaultdict,
    "collections.OrderedDict": collections.OrderedDict,
}


def _find_placeholders(obj: Any, where: str = "") -> list[tuple[str, str]]:
    """(key path, qualified name) of every ``UnloadedObject`` inside ``obj``."""
    if isinstance(obj, UnloadedObject):
        return [(where or "<root>", obj.qualname)]
    if isinstance(obj, Mapping):
        return [hit for k, v in obj.items() for hit in _find_placeholders(v, f"{where}.{k}" if where else str(k))]
    if isinstance(obj, (list, tuple)):
        return [hit for i, v in enumerate(obj) for hit in _find_placeholders(v, f"{where}[{i}]")]
    return []


def previous_good_checkpoint(path: str | os.PathLike) -> tuple[Path, Any] | None:
    """The newest other ``*.pth`` next to ``path`` that loads (weights-only), with its ``epoch``.

    Used to name a fallback when ``path`` is unreadable; ``None`` when there is none.
    """
    path = Path(path)
    try:
        others = [p for p in path.parent.glob("*.pth") if p.is_file() and p.resolve() != path.resolve()]
    except OSError:
        return None
    for p in sorted(others, key=lambda q: q.stat().st_mtime, reverse=True):
        try:
            with torch.serialization.safe_globals(_numpy_safe_globals()):
                obj = torch.load(p, map_location="cpu", weights_only=True)
        except Exception:  # unreadable too: look further back
            continue
        return p, obj.get("epoch") if isinstance(obj, Mapping) else None
    return None


def _corrupt(path: Path, err: BaseException) -> CheckpointError:
    size = path.stat().st_size if path.exists() else 0
    good = previous_good_checkpoint(path)
    if good is not None:
        fallback = (f"The previous good checkpoint in that folder is '{good[0]}'"
                    + (f" (epoch {good[1]})" if good[1] is not None else "")
                    + ": pass weight=<that path> (with resume=True to continue training from it).")
    else:
        fallback = "No other readable checkpoint is in that folder."
    return CheckpointError(
        f"cannot read checkpoint '{path}' ({size} bytes): it is truncated, corrupt or not a torch checkpoint "
        f"({type(err).__name__}: {str(err).splitlines()[0][:200]}). {fallback} Re-copy or re-download the file; "
        "pointlab itself saves atomically, so a killed run leaves the previous file intact."
    )


def _check_path(path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(
            f"checkpoint '{path}' does not exist (resolved to '{p.resolve()}'). Check the path: weights are "
            "usually at <save_path>/model/model_best.pth or model_last.pth; set weight=None to start from scratch."
        )
    if p.is_dir():
        raise IsADirectoryError(f"checkpoint path '{path}' is a directory; give a file such as '{p / 'model_last.pth'}'")
    return p


def _load(path: Path, allow_placeholders: bool) -> tuple[Any, list[tuple[str, str]]]:
    """torch.load(weights_only=True) with the numpy allow-list; optionally with placeholders for
    other pickled objects. Returns (object, placeholders found)."""
    safe = _numpy_safe_globals()
    try:
        with torch.serialization.safe_globals(safe):
            return torch.load(path, map_location="cpu", weights_only=True), []
    except pickle.UnpicklingError as err:
        first_error = err
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError) as err:
        raise _corrupt(path, err) from err
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as err:  # not a zip checkpoint at all
        raise _corrupt(path, first_error) from err
    known = {obj[1] if isinstance(obj, tuple) else f"{obj.__module__}.{obj.__qualname__}" for obj in safe}
    unsafe = [n for n in unsafe if n not in known]
    if not unsafe:
        raise _corrupt(path, first_error) from first_error
    stubs = []
    for name in unsafe:
        if name in _SAFE_CONTAINERS:
            stubs.append((_SAFE_CONTAINERS[name], name))
        else:
            stubs.append((type(f"Unloaded[{name}]", (UnloadedObject,), {"qualname": name}), name))
    if not allow_placeholders:
        # find where the objects sit, for the message, without executing anything
        obj, found = _load_with(path, safe + stubs, first_error)
        raise CheckpointError(_refusal(path, found or [("?", n) for n in unsafe]))
    return _load_with(path, safe + stubs, first_error)


def _load_with(path: Path, safe: list, first_error: BaseException) -> tuple[Any, list[tuple[str, str]]]:
    try:
        with torch.serialization.safe_globals(safe):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"cannot read checkpoint '{path}' without unpickling code: {str(first_error).splitlines()[-1][:300]} "
            f"(then: {type(err).__name__}: {str(err)[:200]}). If you trust the file, convert it once in a Python "
            "session with torch.load(path, weights_only=False) and save only its 'state_dict' with torch.save."
        ) from err
    return obj, _find_placeholders(obj)


def _refusal(path: Path, found: list[tuple[str, str]]) -> str:
    lines = "\n".join(f"    {where}: {name}" for where, name in found[:20])
    more = f"\n    ... and {len(found) - 20} more" if len(found) > 20 else ""
    clean = path.with_name(path.stem + "_clean" + path.suffix)
    return (
        f"checkpoint '{path}' holds pickled Python objects that a weights-only load refuses "
        f"(loading them could run code from the file):\n{lines}{more}\n"
        "These are typically scheduler/optimizer objects saved by an older torch. The model weights can still "
        "be used: weight=PATH without resume (pointlab.load_weights) ignores these entries. To get a file that "
        f"loads fully, convert it once (no code from the file is executed; the objects above are dropped):\n"
        f"    python -c \"from pointlab.engine.checkpoint import convert_checkpoint; "
        f"convert_checkpoint('{path}', '{clean}')\""
    )


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint dict safely (``map_location="cpu"``, ``weights_only=True``).

    Raises:
        FileNotFoundError: the path does not exist (the message says where weights usually are).
        CheckpointError: the file is truncated/corrupt, or holds pickled code objects (the message
            lists them and how to convert the file).
    """
    p = _check_path(path)
    obj, _ = _load(p, allow_placeholders=False)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"checkpoint '{p}' holds a {type(obj).__name__}, expected a dict (Pointcept format or a state_dict)")
    return dict(obj)


def _drop_placeholders(obj: Any) -> Any:
    if isinstance(obj, collections.OrderedDict):
        return collections.OrderedDict((k, _drop_placeholders(v)) for k, v in obj.items() if not isinstance(v, UnloadedObject))
    if isinstance(obj, Mapping):
        return {k: _drop_placeholders(v) for k, v in obj.items() if not isinstance(v, UnloadedObject)}
    if isinstance(obj, (list, tuple)):
        out = [_drop_placeholders(v) for v in obj if not isinstance(v, UnloadedObject)]
        return out if isinstance(obj, list) else tuple(out)
    if type(obj).__module__ == "numpy" and hasattr(obj, "item") and getattr(obj, "shape", None) == ():
        return obj.item()
    return obj


def convert_checkpoint(src: str | os.PathLike, dst: str | os.PathLike) -> list[tuple[str, str]]:
    """Rewrite ``src`` as a checkpoint that loads with ``weights_only=True``.

    Pickled Python objects are dropped (never executed; ``best_metric_value`` numpy floats become
    Python floats). Returns the (key path, object name) pairs that were dropped.
    """
    p = _check_path(src)
    obj, found = _load(p, allow_placeholders=True)
    save_checkpoint(_drop_placeholders(obj) if isinstance(obj, Mapping) else {"state_dict": obj}, dst)
    return found


# ---------------------------------------------------------------------------------------------
# weights


@dataclasses.dataclass
class LoadReport:
    """What ``load_weights`` did.

    Attributes:
        path: the checkpoint file.
        loaded: model keys filled from the checkpoint.
        missing: model keys the checkpoint lacks (they keep their initialisation).
        unexpected: checkpoint keys (after renaming) the model lacks (ignored).
        mismatched: (key, checkpoint shape, model shape, likely cause) per shape mismatch.
        ignored_objects: (key path, name) of pickled objects outside the weights that were not loaded.
        epoch: the checkpoint's ``epoch`` entry, if any.
    """

    path: str
    loaded: list[str] = dataclasses.field(default_factory=list)
    missing: list[str] = dataclasses.field(default_factory=list)
    unexpected: list[str] = dataclasses.field(default_factory=list)
    mismatched: list[tuple[str, tuple, tuple, str]] = dataclasses.field(default_factory=list)
    ignored_objects: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    epoch: int | None = None

    @property
    def ok(self) -> bool:
        """True when every model key was loaded and nothing was left over or mismatched."""
        return not (self.missing or self.unexpected or self.mismatched)

    def table(self, max_rows: int = 40) -> str:
        """A text table: counts, then one row per missing / unexpected / mismatched key."""
        total = len(self.loaded) + len(self.missing) + len(self.mismatched)
        lines = [
            f"Weights from {self.path}" + (f" (epoch {self.epoch})" if self.epoch is not None else ""),
            f"  loaded      {len(self.loaded):5d} of {total} model keys",
            f"  missing     {len(self.missing):5d}  (keep their initialisation)",
            f"  unexpected  {len(self.unexpected):5d}  (in the checkpoint only; ignored)",
            f"  mismatched  {len(self.mismatched):5d}  (same key, different shape)",
        ]
        rows = [("missing", k, "", "", "") for k in self.missing]
        rows += [("unexpected", k, "", "", "") for k in self.unexpected]
        rows += [("mismatched", k, _fmt(a), _fmt(b), c) for k, a, b, c in self.mismatched]
        if rows:
            shown = rows[:max_rows]
            widths = [max(len(r[i]) for r in shown + [("status", "key", "checkpoint", "model", "likely cause")]) for i in range(5)]
            header = ("status", "key", "checkpoint", "model", "likely cause")
            lines.append("  " + "  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
            lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in shown]
            if len(rows) > max_rows:
                lines.append(f"  ... and {len(rows) - max_rows} more")
        for where, name in self.ignored_objects:
            lines.append(f"  not loaded (pickled object): {where} = {name}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _fmt(shape) -> str:
    return "[" + ",".join(str(s) for s in shape) + "]"


def rename_state_dict_keys(state_dict: Mapping[str, Any], keywords: str | None = None, replacement: str | None = None, keep_module_prefix: bool = False) -> "collections.OrderedDict[str, Any]":
    """Pointcept's ``CheckpointLoader`` key rewriting.

    For every key: add ``module.`` if absent; if ``keywords`` occurs in the key replace its first
    occurrence by ``replacement``; then drop the leading ``module.`` unless ``keep_module_prefix``
    (a DDP-wrapped target). ``keywords=None`` or "" changes nothing. Example:
    ``keywords="module.", replacement="module.backbone."`` turns ``module.backbone.X`` into
    ``backbone.backbone.X``. (Pointcept cuts the first 7 characters unconditionally; we remove
    the prefix only where it is present.)
    """
    keywords = keywords or ""
    replacement = replacement or ""
    out = collections.OrderedDict()
    for key, value in state_dict.items():
        if not key.startswith(DDP_PREFIX):
            key = DDP_PREFIX + key
        if keywords and keywords in key:
            key = key.replace(keywords, replacement, 1)
        if not keep_module_prefix and key.startswith(DDP_PREFIX):
            key = key[len(DDP_PREFIX):]
        if key in out:
            raise CheckpointError(f"renaming with keywords={keywords!r} → replacement={replacement!r} maps two checkpoint keys to '{key}'")
        out[key] = value
    return out


_HEAD_NAMES = ("final", "seg_head", "seg_heads", "cls_head", "classifier", "head")


def _likely_cause(key: str, ckpt_shape: tuple, model_shape: tuple, first_weight: str | None, last_module: str | None) -> str:
    module = key.rsplit(".", 1)[0]
    parts = module.split(".")
    is_head = module == last_module or any(p in _HEAD_NAMES for p in parts)
    if is_head and len(ckpt_shape) == len(model_shape) and ckpt_shape[0] != model_shape[0] and ckpt_shape[1:] == model_shape[1:]:
        return f"num_classes ({ckpt_shape[0]} in the checkpoint, {model_shape[0]} in the model)"
    if key == first_weight and len(ckpt_shape) == len(model_shape) >= 2:
        in_dims = {1, len(model_shape) - 1}  # torch layout (out, in, ...) or spconv layout (out, k, k, k, in)
        differing = {i for i, (a, b) in enumerate(zip(ckpt_shape, model_shape)) if a != b}
        if differing and differing <= in_dims and not (len(model_shape) == 5 and differing == {1, 4}):
            d = max(differing)
            return f"in_channels ({ckpt_shape[d]} in the checkpoint, {model_shape[d]} in the model; check feat_keys)"
    return "channels (base_channels/channels/layers differ) or a checkpoint of another model"


def load_weights(
    model: nn.Module,
    path: str | os.PathLike,
    keywords: str | None = None,
    replacement: str | None = None,
    strict: bool = False,
    skip_mismatched: bool = False,
) -> LoadReport:
    """Load pre-trained weights into ``model`` (Pointcept's ``weight=`` path).

    Accepts Pointcept/pointlab checkpoints (``{"state_dict": ...}``, with or without ``module.``)
    and bare state_dict files. Keys are rewritten as ``rename_state_dict_keys`` describes, then
    loaded non-strictly: missing keys keep their initialisation, unexpected ones are ignored, both
    listed in the returned report (``print(report)`` shows a table).

    Args:
        model: the target (DDP-wrapped or not).
        path: checkpoint file.
        keywords, replacement: first-occurrence renaming of checkpoint keys (after ``module.`` is added).
        strict: also raise when keys are missing or unexpected.
        skip_mismatched: leave shape-mismatched tensors at their initialisation instead of raising
            (opt-in; the reference always raises).
    Returns:
        LoadReport.
    Raises:
        FileNotFoundError: no such file.
        ShapeMismatchError: some tensors differ in shape (every one listed with both shapes and the
            likely cause: in_channels, num_classes or channels).
        CheckpointError: corrupt file, no key matching the model, or (strict) missing/unexpected keys.
    """
    p = _check_path(path)
    obj, placeholders = _load(p, allow_placeholders=True)
    _warn_model_type(obj, model, p)
    if isinstance(obj, Mapping) and "state_dict" in obj:
        state_dict, epoch = obj["state_dict"], obj.get("epoch")
    elif isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        state_dict, epoch = obj["model"], obj.get("epoch")
    elif isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state_dict, epoch = obj, None
    else:
        keys = list(obj.keys())[:10] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(f"'{p}' has no 'state_dict' entry (top-level keys: {keys}); it is not a model checkpoint")
    bad = [(w, n) for w, n in placeholders if w.startswith("state_dict") or w.startswith("model")]
    if bad or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        others = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)][:5]
        raise CheckpointError(f"the state_dict in '{p}' holds non-tensor entries {others or bad}; it cannot be loaded as weights")

    target = model.state_dict()
    keep_prefix = bool(target) and all(k.startswith(DDP_PREFIX) for k in target)
    renamed = rename_state_dict_keys(state_dict, keywords, replacement, keep_module_prefix=keep_prefix)

    report = LoadReport(path=str(p), epoch=epoch, ignored_objects=[pl for pl in placeholders if pl not in bad])
    weights = [k for k, v in target.items() if v.dim() >= 2]
    first_weight = weights[0] if weights else None
    last_module = weights[-1].rsplit(".", 1)[0] if weights else None
    to_load = collections.OrderedDict()
    for key, value in renamed.items():
        if key not in target:
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(target[key].shape):
            cause = _likely_cause(key, tuple(value.shape), tuple(target[key].shape), first_weight, last_module)
            report.mismatched.append((key, tuple(value.shape), tuple(target[key].shape), cause))
        else:
            to_load[key] = value
            report.loaded.append(key)
    report.missing = [k for k in target if k not in renamed]

    if report.mismatched and not skip_mismatched:
        rows = "\n".join(f"  {k}: checkpoint {_fmt(a)} vs model {_fmt(b)} — likely {c}" for k, a, b, c in report.mismatched)
        raise ShapeMismatchError(
            f"{len(report.mismatched)} tensor(s) in '{p}' do not fit the model:\n{rows}\n"
            "Fix the model config to match the checkpoint (or, to keep those layers freshly initialised, "
            "load with skip_mismatched=True).",
            report,
        )
    if state_dict and not report.loaded and not report.mismatched:
        ck = next(iter(renamed))
        mk = next(iter(target), "(none)")
        raise CheckpointError(
            f"no key of '{p}' matches the model: checkpoint keys look like '{ck}', model keys like '{mk}'. "
            "It is a checkpoint of another model, or its keys need renaming (keywords=/replacement=)."
        )
    if strict and (report.missing or report.unexpected):
        raise CheckpointError(f"strict loading of '{p}' failed:\n{report.table()}")
    _unwrap_load(model, to_load)
    return report


def _warn_model_type(obj: Any, model: nn.Module, path: Path) -> None:
    """Warn (before anything is loaded) when the checkpoint records another model type than ``model``'s."""
    saved = obj.get("model_type") if isinstance(obj, Mapping) else None
    if not isinstance(saved, str):
        return
    current = _model_type(_unwrap(model))
    if saved != current:
        import logging
        import warnings

        msg = (f"checkpoint '{path}' was saved from a {saved!r} model (pointlab {obj.get('pointlab_version', '?')}) "
               f"but is being loaded into a {current!r} model; matching keys are loaded, check the report")
        logging.getLogger("pointlab").warning(msg)
        warnings.warn(msg, UserWarning, stacklevel=3)


def _unwrap_load(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    result = model.load_state_dict(state_dict, strict=False)
    # every key was checked above; torch reporting anything else would be a bug here
    assert not result.unexpected_keys, result.unexpected_keys
