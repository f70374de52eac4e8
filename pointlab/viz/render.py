"""PNG renders of segmented point clouds, headless (matplotlib's Agg canvas, imported lazily).

One figure: a top-down view and an oblique "dollhouse" view side by side (optionally a third panel
with the input colours), class colours, and a legend of the classes present with their share of
points. Large clouds are subsampled (deterministically) to ``max_points`` so a render takes about
a second. Points whose surface faces away from the viewer (normal · view direction < −0.25) are
hidden, so ceilings do not cover a room seen from above and near walls do not hide it in the
oblique view; normals come from the caller or are estimated (PCA over neighbours).
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from pointlab.viz.palette import IGNORE_COLOR, colorize, generic_palette, palette_for

__all__ = ["render_segmentation", "render_instances", "view_directions"]

_CULL_BELOW = -0.25  # cosine between a normal and the direction to the viewer


def view_directions(azimuth: float, elevation: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orthographic camera axes for a view from ``azimuth``/``elevation`` degrees (z up).

    Returns ``(right, up, to_viewer)``, unit [3] vectors: screen x = p·right, screen y = p·up,
    depth towards the viewer = p·to_viewer.
    """
    a, e = np.deg2rad(azimuth), np.deg2rad(elevation)
    to_viewer = np.array([np.cos(e) * np.sin(a), -np.cos(e) * np.cos(a), np.sin(e)])
    right = np.array([np.cos(a), np.sin(a), 0.0])
    up = np.cross(to_viewer, right)
    return right, up, to_viewer


def _subsample(n: int, max_points: int, seed: int) -> np.ndarray:
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def _marker_size(uv: np.ndarray, ax_w_pt: float, ax_h_pt: float) -> float:
    """Marker area (pt²) so the points roughly tile the part of the panel they cover."""
    n = uv.shape[0]
    if n == 0:
        return 1.0
    span = np.ptp(uv, axis=0)
    span = np.where(span > 0, span, 1.0)
    scale = min(ax_w_pt / span[0], ax_h_pt / span[1])  # pt per metre with an equal aspect
    cells = 128
    ij = np.minimum(((uv - uv.min(0)) / span * cells).astype(np.int64), cells - 1)
    covered = np.unique(ij[:, 0] * cells + ij[:, 1]).size / cells**2  # share of the bounding box covered
    area_pt2 = covered * span[0] * span[1] * scale**2
    return float(np.clip(3.5 * area_pt2 / n, 0.05, 30.0))


def _draw_view(ax, coord, rgb, normal, azimuth, elevation, title, ax_w_pt, ax_h_pt):
    right, up, to_viewer = view_directions(azimuth, elevation)
    keep = np.ones(coord.shape[0], bool) if normal is None else (normal @ to_viewer) >= _CULL_BELOW
    p, c = coord[keep], rgb[keep]
    depth = p @ to_viewer
    order = np.argsort(depth, kind="stable")  # painter's algorithm: far points first
    uv = np.stack([p @ right, p @ up], axis=1)[order]
    ax.scatter(uv[:, 0], uv[:, 1], c=c[order] / 255.0, s=_marker_size(uv, ax_w_pt, ax_h_pt), marker="o",
               linewidths=0, rasterized=True)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=11)


def _estimate_normals(coord: np.ndarray) -> np.ndarray | None:
    try:
        from pointlab.data.io import estimate_normals
    except ImportError:  # pragma: no cover - scipy is a core dependency
        return None
    return estimate_normals(coord, k=8)


def render_segmentation(
    coord: np.ndarray,
    labels: np.ndarray,
    path: str | os.PathLike,
    names: Sequence[str] | None = None,
    palette: np.ndarray | None = None,
    title: str | None = None,
    color: np.ndarray | None = None,
    normal: np.ndarray | None = None,
    max_points: int = 80_000,
    legend: bool = True,
    cull: bool = True,
    seed: int = 0,
    dpi: int = 110,
) -> str:
    """Write a PNG of a labelled point cloud.

    Args:
        coord: [N, 3] positions (metres, z up).
        labels: [N] integer classes; values outside ``[0, K)`` (e.g. −1) are drawn grey.
        path: output ``.png``.
        names: class names (legend text, and the palette choice when ``palette`` is None).
        palette: uint8 [K, 3] class colours (default: :func:`palette_for` ``names``).
        title: figure title.
        color: optional [N, 3] input colours in 0..255, drawn as a third panel.
        normal: optional [N, 3] normals for back-face hiding (estimated when None and ``cull``).
        max_points: subsample larger clouds to this many points.
        legend: draw the legend of the classes present.
        cull: hide surfaces facing away from each view.
    Returns:
        ``str(path)``.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("rendering needs matplotlib: pip install 'pointlab[viz]'") from e

    coord = np.asarray(coord, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    if coord.ndim != 2 or coord.shape[1] != 3 or labels.shape[0] != coord.shape[0]:
        raise ValueError(f"render_segmentation: coord must be [N, 3] and labels [N], got {coord.shape} and {labels.shape}")
    k = int(len(palette) if palette is not None else max(len(names or []), int(labels.max(initial=-1)) + 1))
    if palette is None:
        palette = palette_for(names, k)
    palette = np.asarray(palette, dtype=np.uint8)
    idx = _subsample(coord.shape[0], max_points, seed)
    p = coord[idx] - coord[idx].mean(axis=0) if idx.size else coord[idx]
    lab = labels[idx]
    rgb = colorize(lab, palette).astype(np.float64)
    nrm = None
    if cull and idx.size >= 16:
        nrm = np.asarray(normal, dtype=np.float64)[idx] if normal is not None else _estimate_normals(p)
        if nrm is not None and normal is not None:
            nrm = _oriented(p, nrm)

    panels = [("Top-down", 0.0, 90.0, rgb), ("Oblique", -35.0, 50.0, rgb)]
    if color is not None:
        panels.append(("Input colours (oblique)", -35.0, 50.0, np.clip(np.asarray(color, np.float64)[idx], 0, 255)))
    panel_w, panel_h = 5.6, 5.0
    legend_w = 2.4 if legend else 0.0
    fig = Figure(figsize=(panel_w * len(panels) + legend_w, panel_h + (0.5 if title else 0.0)), dpi=dpi)
    FigureCanvasAgg(fig)
    fig.patch.set_facecolor("white")
    right_edge = 1.0 - legend_w / (panel_w * len(panels) + legend_w)
    top = 1.0 - (0.5 / (panel_h + 0.5) if title else 0.0)
    gs = fig.add_gridspec(1, len(panels), left=0.01, right=right_edge - 0.005, top=top - 0.02, bottom=0.02, wspace=0.03)
    ax_w_pt, ax_h_pt = panel_w * 72 * 0.95, panel_h * 72 * 0.9
    for i, (name, az, el, colors) in enumerate(panels):
        ax = fig.add_subplot(gs[0, i])
        _draw_view(ax, p, colors, nrm, az, el, name, ax_w_pt, ax_h_pt)
    if title:
        fig.suptitle(title, fontsize=13, y=0.985)
    if legend:
        _legend(fig, lab, names, palette, right_edge, Patch)
    fig.savefig(str(path), facecolor="white")
    return str(path)


def _oriented(p: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Unit normals. Scanner/mesh normals point to the side that was seen and are kept; normals
    that look unoriented (over a third facing away from the cloud's centre, e.g. PCA normals from
    another tool) are flipped towards the centre, so hiding back faces does not drop random points."""
    norm = np.linalg.norm(normal, axis=1, keepdims=True)
    normal = normal / np.where(norm > 0, norm, 1.0)
    towards = (p.min(0) + p.max(0)) / 2.0 - p
    facing = np.einsum("ij,ij->i", normal, towards) >= 0
    if facing.mean() < 2.0 / 3.0:
        normal = np.where(facing[:, None], normal, -normal)
    return normal


def _legend(fig, lab, names, palette, right_edge, Patch):
    k = len(palette)
    counts = np.bincount(lab[(lab >= 0) & (lab < k)], minlength=k)
    n_other = int(((lab < 0) | (lab >= k)).sum())
    total = max(int(lab.size), 1)
    present = [c for c in np.argsort(-counts, kind="stable") if counts[c] > 0]
    max_rows = 30
    handles = []
    for c in present[:max_rows]:
        name = str(names[c]) if names is not None and c < len(names) else f"class {c}"
        handles.append(Patch(facecolor=palette[c] / 255.0, edgecolor="black", linewidth=0.4,
                             label=f"{name}  {100.0 * counts[c] / total:.1f}%"))
    if len(present) > max_rows:
        rest = int(counts[present[max_rows:]].sum())
        handles.append(Patch(facecolor="white", edgecolor="white",
                             label=f"+{len(present) - max_rows} more  {100.0 * rest / total:.1f}%"))
    if n_other:
        handles.append(Patch(facecolor=np.array(IGNORE_COLOR) / 255.0, edgecolor="black", linewidth=0.4,
                             label=f"unlabelled  {100.0 * n_other / total:.1f}%"))
    if handles:
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(right_edge, 0.5), fontsize=9,
                   frameon=False, title="class  (share of points)", title_fontsize=9, handlelength=1.2)


def render_instances(
    coord: np.ndarray,
    instance: np.ndarray,
    path: str | os.PathLike,
    title: str | None = None,
    normal: np.ndarray | None = None,
    max_points: int = 80_000,
    seed: int = 0,
) -> str:
    """Like :func:`render_segmentation` for instance ids [N] (−1 = no instance, grey): each
    instance a distinct colour, no legend. Returns ``str(path)``."""
    instance = np.asarray(instance).reshape(-1).astype(np.int64)
    ids, inverse = np.unique(instance, return_inverse=True)
    valid = ids >= 0
    dense = np.where(valid[inverse], np.cumsum(valid)[inverse] - 1, -1)  # 0..M-1 in id order, −1 kept
    m = int(valid.sum())
    colors = generic_palette(max(m, 1) + 20)[20:] if m > 0 else generic_palette(1)
    colors = colors[np.random.default_rng(seed).permutation(len(colors))][:max(m, 1)]
    return render_segmentation(coord, dense, path, names=None, palette=colors,
                               title=title or f"{m} instances", normal=normal, max_points=max_points,
                               legend=False, seed=seed)
