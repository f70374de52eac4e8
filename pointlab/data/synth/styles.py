"""The three domain styles: colour palettes, lighting, sensor noise, holes, density, room sizes.

- ``scannet``: RGB-D mesh reconstructions — warm, slightly desaturated, noisy colours with a
  per-scene white balance, shading and uneven illumination; vertex noise along the normal, noisy
  normals, missing patches, almost no ceiling, transparent window glass mostly lost.
- ``s3dis``: terrestrial scanner in offices — grey, washed-out colours, a strong lighting gradient
  across the room, denser points, small isotropic scanner noise, few holes, beams and columns.
- ``structured3d``: clean synthetic renderings — saturated colours, soft uniform shading, exact
  geometry and normals, no holes.

Palettes are shared by many classes (walls, cabinets, doors and boards all draw from "paint"; tables,
floors, doors and shelves from "wood"; ...), so colour alone never identifies a class.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PALETTES = {
    "paint": [(0.92, 0.92, 0.90), (0.90, 0.87, 0.80), (0.85, 0.78, 0.65), (0.75, 0.75, 0.75),
              (0.70, 0.78, 0.85), (0.75, 0.82, 0.70), (0.93, 0.88, 0.65), (0.55, 0.55, 0.57),
              (0.80, 0.55, 0.45), (0.62, 0.70, 0.62)],
    "wood": [(0.78, 0.62, 0.42), (0.66, 0.48, 0.30), (0.42, 0.28, 0.18), (0.55, 0.30, 0.20),
             (0.85, 0.75, 0.58), (0.30, 0.22, 0.16), (0.60, 0.56, 0.50)],
    "fabric": [(0.50, 0.50, 0.52), (0.30, 0.30, 0.32), (0.20, 0.25, 0.45), (0.30, 0.45, 0.70),
               (0.65, 0.20, 0.20), (0.30, 0.50, 0.35), (0.80, 0.72, 0.60), (0.50, 0.35, 0.25),
               (0.80, 0.65, 0.25), (0.88, 0.88, 0.86), (0.20, 0.50, 0.50), (0.45, 0.30, 0.50)],
    "metal": [(0.75, 0.75, 0.77), (0.60, 0.62, 0.65), (0.15, 0.15, 0.16), (0.90, 0.90, 0.90),
              (0.72, 0.60, 0.35)],
    "dark": [(0.08, 0.08, 0.09), (0.20, 0.20, 0.22), (0.30, 0.30, 0.30), (0.25, 0.18, 0.14)],
    "ceramic": [(0.95, 0.95, 0.94), (0.92, 0.90, 0.84), (0.82, 0.83, 0.85), (0.80, 0.87, 0.92)],
    "glass": [(0.60, 0.68, 0.72), (0.70, 0.75, 0.78), (0.45, 0.50, 0.55), (0.80, 0.82, 0.85)],
    "art": [(0.80, 0.15, 0.15), (0.15, 0.30, 0.75), (0.90, 0.80, 0.20), (0.20, 0.60, 0.25),
            (0.90, 0.50, 0.10), (0.50, 0.20, 0.60), (0.90, 0.60, 0.70), (0.95, 0.95, 0.95),
            (0.10, 0.10, 0.10), (0.55, 0.40, 0.30)],
    "plant": [(0.20, 0.45, 0.15), (0.30, 0.55, 0.20), (0.15, 0.35, 0.12), (0.40, 0.50, 0.25),
              (0.30, 0.50, 0.35)],
}
PALETTES = {k: np.asarray(v, dtype=np.float64) for k, v in PALETTES.items()}
MATERIALS = tuple(PALETTES)


@dataclass(frozen=True)
class Style:
    """Per-style parameters (see the module docstring)."""

    name: str
    density: float  # points per m² of visible surface
    height: tuple  # room height range (m)
    size_scale: float  # multiplies room-type footprint ranges
    saturation: float  # colour saturation factor
    exposure: tuple
    white_balance: tuple  # per-channel gain ranges ((r0,r1),(g0,g1),(b0,b1))
    shade_ambient: float  # shading = ambient + (1−ambient)·max(n·l, 0)
    gradient: float  # strength of the across-room lighting ramp
    illum_field: float  # amplitude of the low-frequency illumination field
    color_noise: float  # per-point colour noise σ (0..1 scale)
    normal_offset_noise: float  # σ of coordinate noise along the normal (m)
    iso_noise: float  # σ of isotropic coordinate noise (m)
    normal_noise: float  # σ added to normals before renormalising
    holes: tuple  # (min, max) number of missing spherical patches
    hole_radius: tuple
    ceiling_keep: float  # ceiling kept within this distance of the walls (m); inf = all
    glass_drop: float  # fraction of window-glass points lost
    free_yaw_jitter: float  # rad, loose furniture is not perfectly aligned
    unlabelled: bool  # unannotated clutter (label −1, instance −1)


STYLES = {
    "scannet": Style("scannet", 1500.0, (2.4, 2.9), 1.0, 0.65, (0.7, 1.05),
                     ((1.0, 1.1), (0.96, 1.03), (0.8, 0.94)), 0.6, 0.15, 0.12, 0.035,
                     0.005, 0.002, 0.12, (8, 18), (0.12, 0.45), 0.5, 0.8, 0.25, True),
    "s3dis": Style("s3dis", 1800.0, (2.8, 3.4), 1.15, 0.45, (0.8, 1.1),
                   ((0.95, 1.05), (0.95, 1.05), (0.95, 1.05)), 0.75, 0.8, 0.04, 0.02,
                   0.0, 0.003, 0.03, (2, 6), (0.08, 0.25), float("inf"), 0.2, 0.1, False),
    "structured3d": Style("structured3d", 1100.0, (2.6, 3.0), 1.0, 1.6, (1.0, 1.0),
                          ((1.0, 1.0), (1.0, 1.0), (1.0, 1.0)), 0.82, 0.0, 0.0, 0.0,
                          0.0, 0.0, 0.0, (0, 0), (0.0, 0.0), float("inf"), 0.0, 0.0, False),
}


def pick_color(material: str, rng: np.random.Generator) -> np.ndarray:
    """One base colour [3] in 0..1: a palette entry with brightness and hue jitter."""
    pal = PALETTES[material]
    c = pal[rng.integers(len(pal))] * rng.uniform(0.85, 1.12) + rng.normal(0, 0.03, 3)
    return np.clip(c, 0.0, 1.0)


def part_colors(material: str, base: np.ndarray, alt: np.ndarray, local_xyz: np.ndarray, freq: float) -> np.ndarray:
    """Per-point base colours [n,3] of one part: flat ``base`` except "art" (pictures, book spines),
    which mixes two colours in a stripe/blob pattern of the local coordinates."""
    n = len(local_xyz)
    if material != "art" or n == 0:
        return np.broadcast_to(base, (n, 3))
    m = 0.5 + 0.5 * np.sin(freq * local_xyz[:, 0] + 0.7 * freq * local_xyz[:, 2]) * np.cos(0.5 * freq * local_xyz[:, 2])
    return base * (1 - m[:, None]) + alt * m[:, None]


def shade(style: Style, coord, normal, base_rgb, room_size, rng) -> np.ndarray:
    """Apply saturation, white balance, exposure, shading, lighting gradient, illumination field
    and colour noise. Returns uint8 [N,3]."""
    c = np.asarray(base_rgb, dtype=np.float32)
    coord = np.asarray(coord, dtype=np.float32)
    mean = c.mean(1, keepdims=True)
    c = mean + (c - mean) * np.float32(style.saturation)
    gains = (np.array([rng.uniform(*r) for r in style.white_balance]) * rng.uniform(*style.exposure)).astype(np.float32)
    light = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), 1.0]) if style.name != "structured3d" else np.array([0.3, 0.5, 0.81])
    light = (light / np.linalg.norm(light)).astype(np.float32)
    nl = normal[:, 0] * light[0] + normal[:, 1] * light[1] + normal[:, 2] * light[2]
    lit = (style.shade_ambient + (1 - style.shade_ambient) * np.abs(nl)).astype(np.float32)
    if style.gradient > 0:  # strong ramp across the room along a random horizontal direction
        ang = rng.uniform(0, 2 * np.pi)
        dirv = np.array([np.cos(ang), np.sin(ang)], dtype=np.float32)
        half = np.asarray(room_size[:2], dtype=np.float32) / 2
        extent = max(float((2 * half * np.abs(dirv)).sum()), 1e-3)
        ramp = ((coord[:, 0] - half[0]) * dirv[0] + (coord[:, 1] - half[1]) * dirv[1]) / extent + 0.5
        lit *= (1 - style.gradient / 2 + style.gradient * ramp) * (0.9 + 0.2 * coord[:, 2] / room_size[2])
    if style.illum_field > 0:
        field = np.ones(len(coord), dtype=np.float32)
        for _ in range(3):
            k = rng.normal(0, 1, 3)
            k = (k * 2 * np.pi / rng.uniform(2.0, 6.0) / np.linalg.norm(k)).astype(np.float32)
            phase = coord[:, 0] * k[0] + coord[:, 1] * k[1] + coord[:, 2] * k[2] + np.float32(rng.uniform(0, 2 * np.pi))
            field += style.illum_field * np.sin(phase)
        lit *= field
    c *= lit[:, None]
    c *= gains * 255
    if style.color_noise > 0:
        c += rng.standard_normal(c.shape, dtype=np.float32) * np.float32(style.color_noise * 255)
    return np.clip(np.rint(c), 0, 255).astype(np.uint8)


def sensor(style: Style, coord, normal, rng):
    """Coordinate and normal noise of the sensor. Returns (coord, unit normal), float32."""
    coord, normal = coord.astype(np.float32), normal.astype(np.float32)
    n = len(coord)
    if style.normal_offset_noise > 0:
        coord += normal * (rng.standard_normal((n, 1), dtype=np.float32) * np.float32(style.normal_offset_noise))
    if style.iso_noise > 0:
        coord += rng.standard_normal((n, 3), dtype=np.float32) * np.float32(style.iso_noise)
    if style.normal_noise > 0:
        normal += rng.standard_normal((n, 3), dtype=np.float32) * np.float32(style.normal_noise)
        normal /= np.linalg.norm(normal, axis=1, keepdims=True).clip(1e-6)
    return coord, normal


def holes_mask(style: Style, coord, instance, valid, rng) -> np.ndarray:
    """bool [N]: False for points removed by a few spherical patches (unscanned areas).

    Only ``valid`` points (those still present) count: an instance that would lose more than half
    of them gets its points back, so every object of the plan keeps a recognisable part."""
    n = len(coord)
    keep = np.ones(n, dtype=bool)
    lo, hi = style.holes
    if hi <= 0 or n == 0 or not valid.any():
        return keep
    k = int(rng.integers(lo, hi + 1))
    seeds = coord[np.flatnonzero(valid)[rng.integers(0, int(valid.sum()), k)]]
    radii = rng.uniform(*style.hole_radius, k)
    # each patch is a union of three overlapping balls, so holes are blobs rather than circles
    centres = (seeds[:, None, :] + rng.normal(0, 1, (k, 3, 3)) * radii[:, None, None] * 0.4).reshape(-1, 3)
    radii = (radii[:, None] * rng.uniform(0.4, 0.8, (k, 3))).reshape(-1)
    for c, r in zip(centres, radii):
        near = np.flatnonzero((np.abs(coord[:, 0] - c[0]) < r) & (np.abs(coord[:, 1] - c[1]) < r))
        d2 = ((coord[near] - c) ** 2).sum(1)
        keep[near[d2 <= r * r]] = False
    ids = instance + 1  # −1 (no instance) -> bin 0
    total = np.bincount(ids[valid], minlength=ids.max() + 1)
    kept = np.bincount(ids[valid & keep], minlength=ids.max() + 1)
    restore = kept < 0.5 * total
    restore[0] = False
    keep |= restore[ids]
    return keep
