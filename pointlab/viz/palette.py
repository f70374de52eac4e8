"""Class colour palettes (RGB 0..255) for rendering and coloured PLY files.

``SCANNET20`` and ``S3DIS13`` are the colours the benchmarks' own visualisations use, so pictures
look familiar; ``STRUCTURED3D25`` reuses the ScanNet colour of every shared class name and gives the
others distinct colours. :func:`palette_for` picks a palette by class names and falls back to
:func:`generic_palette` (well-separated hues) for anything else.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["SCANNET20", "S3DIS13", "STRUCTURED3D25", "generic_palette", "palette_for", "colorize", "IGNORE_COLOR"]

# Colour of points without a class (label −1 or outside the palette).
IGNORE_COLOR = (128, 128, 128)

SCANNET20 = {
    "wall": (174, 199, 232),
    "floor": (152, 223, 138),
    "cabinet": (31, 119, 180),
    "bed": (255, 187, 120),
    "chair": (188, 189, 34),
    "sofa": (140, 86, 75),
    "table": (255, 152, 150),
    "door": (214, 39, 40),
    "window": (197, 176, 213),
    "bookshelf": (148, 103, 189),
    "picture": (196, 156, 148),
    "counter": (23, 190, 207),
    "desk": (247, 182, 210),
    "curtain": (219, 219, 141),
    "refridgerator": (255, 127, 14),
    "shower curtain": (158, 218, 229),
    "toilet": (44, 160, 44),
    "sink": (112, 128, 144),
    "bathtub": (227, 119, 194),
    "otherfurniture": (82, 84, 163),
}

S3DIS13 = {
    "ceiling": (0, 255, 0),
    "floor": (0, 0, 255),
    "wall": (0, 255, 255),
    "beam": (255, 255, 0),
    "column": (255, 0, 255),
    "window": (100, 100, 255),
    "door": (200, 200, 100),
    "table": (170, 120, 200),
    "chair": (255, 0, 0),
    "sofa": (200, 100, 100),
    "bookcase": (10, 200, 100),
    "board": (200, 200, 200),
    "clutter": (50, 50, 50),
}

STRUCTURED3D25 = {
    **{k: SCANNET20[k] for k in ("wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window",
                                "picture", "desk", "curtain", "sink")},
    "shelves": SCANNET20["bookshelf"],
    "refrigerator": SCANNET20["refridgerator"],
    "otherfurniture": SCANNET20["otherfurniture"],
    "dresser": (178, 127, 135),
    "pillow": (255, 224, 102),
    "mirror": (150, 200, 255),
    "ceiling": (120, 190, 120),
    "television": (40, 40, 70),
    "nightstand": (196, 122, 70),
    "lamp": (255, 240, 180),
    "otherstructure": (100, 110, 120),
    "otherprop": (210, 150, 60),
}

_KNOWN = (SCANNET20, S3DIS13, STRUCTURED3D25)


def generic_palette(k: int, seed: int = 0) -> np.ndarray:
    """``k`` distinct colours, uint8 [k, 3]: tab20 order first, then golden-ratio hues."""
    base = np.array([
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
        (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120),
        (152, 223, 138), (255, 152, 150), (197, 176, 213), (196, 156, 148), (247, 182, 210), (199, 199, 199),
        (219, 219, 141), (158, 218, 229),
    ], dtype=np.float64)
    if k <= len(base):
        return base[:k].astype(np.uint8)
    extra = k - len(base)
    hue = (seed * 0.1 + np.arange(extra) * 0.618033988749895) % 1.0
    sat = 0.55 + 0.35 * ((np.arange(extra) // 7) % 2)
    val = 0.95 - 0.25 * ((np.arange(extra) // 3) % 2)
    return np.concatenate([base, _hsv_to_rgb(hue, sat, val) * 255.0]).round().astype(np.uint8)


def _hsv_to_rgb(h, s, v) -> np.ndarray:
    i = np.floor(h * 6.0).astype(int) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack([np.stack(c, axis=-1) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))])
    return table[i, np.arange(len(h))]


def palette_for(names: Sequence[str] | None = None, num_classes: int | None = None) -> np.ndarray:
    """Colours for classes ``0..K-1``, uint8 [K, 3].

    Names found in a benchmark palette (ScanNet-20, S3DIS-13, Structured3D-25, in that order of
    preference when a name is in several, unless one palette holds all names) get its colour;
    other classes get :func:`generic_palette` colours not already used.
    """
    names = [str(n).lower() for n in (names or [])]
    k = int(num_classes) if num_classes is not None else len(names)
    names = names + [f"class_{i}" for i in range(len(names), k)]
    names = names[:k]
    # a palette that covers every name wins (S3DIS "wall" is cyan there, not ScanNet blue)
    chosen = next((p for p in _KNOWN if names and all(n in p for n in names)), None)
    out = np.zeros((k, 3), dtype=np.uint8)
    missing = []
    for i, name in enumerate(names):
        source = chosen if chosen is not None else next((p for p in _KNOWN if name in p), None)
        if source is not None and name in source:
            out[i] = source[name]
        else:
            missing.append(i)
    if missing:
        used = {tuple(c) for i, c in enumerate(out.tolist()) if i not in missing}
        spare = [c for c in generic_palette(len(missing) + len(used) + 1).tolist() if tuple(c) not in used]
        out[missing] = np.array(spare[: len(missing)], dtype=np.uint8)
    return out


def colorize(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Per-point colours uint8 [N, 3] for integer ``labels`` [N]; labels outside the palette
    (e.g. −1 = unlabelled) get :data:`IGNORE_COLOR`."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    palette = np.asarray(palette, dtype=np.uint8)
    valid = (labels >= 0) & (labels < len(palette))
    out = np.empty((labels.size, 3), dtype=np.uint8)
    out[:] = IGNORE_COLOR
    out[valid] = palette[labels[valid]]
    return out
