"""Surface primitives with exact areas and area-uniform point samplers.

Every primitive has ``area`` (m²) and ``sample(n, rng) -> (coord [n,3] float64, normal [n,3])`` with
unit normals pointing to the side a scanner would see. Points are uniform per unit area, so a caller
that draws ``n ≈ area · density`` points per primitive gets area-proportional sampling. Furniture is
built from these in a local frame (front = +y, floor = z 0) and moved with :func:`transform`.
"""
from __future__ import annotations

import math

import numpy as np

_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 names it trapz


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True).clip(1e-12)


class Rect:
    """Parallelogram ``origin + a·u + b·v`` (a, b in [0,1]); normal = unit(u × v), or flipped.

    ``holes`` are axis-aligned (a0, a1, b0, b1) windows in (a, b) space left empty (wall
    openings); ``area`` is the net area.
    """

    def __init__(self, origin, u, v, flip: bool = False, holes=()):
        self.origin = np.asarray(origin, dtype=np.float64)
        self.u = np.asarray(u, dtype=np.float64)
        self.v = np.asarray(v, dtype=np.float64)
        # scalar cross product: np.cross costs ~30 µs and rooms build thousands of rects
        (a0, a1, a2), (b0, b1, b2) = self.u.tolist(), self.v.tolist()
        cx, cy, cz = a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0
        full = math.sqrt(cx * cx + cy * cy + cz * cz)
        sign = (-1.0 if flip else 1.0) / max(full, 1e-12)
        self.normal = np.array([cx * sign, cy * sign, cz * sign])
        self._full = full
        self.holes = [tuple(float(x) for x in h) for h in holes]
        hole_frac = sum(max(0.0, a1 - a0) * max(0.0, b1 - b0) for a0, a1, b0, b1 in self.holes)
        self.area = full * max(0.0, 1.0 - hole_frac)

    def _inside_holes(self, ab: np.ndarray) -> np.ndarray:
        out = np.zeros(len(ab), dtype=bool)
        for a0, a1, b0, b1 in self.holes:
            out |= (ab[:, 0] > a0) & (ab[:, 0] < a1) & (ab[:, 1] > b0) & (ab[:, 1] < b1)
        return out

    def sample(self, n: int, rng: np.random.Generator):
        if self.holes:
            keep_frac = max(self.area / max(self._full, 1e-12), 1e-3)
            ab = rng.random((int(n / keep_frac * 1.2) + 32, 2))
            ab = ab[~self._inside_holes(ab)]
            while len(ab) < n:  # rare top-up when the oversampling fell short
                extra = rng.random((n, 2))
                ab = np.concatenate([ab, extra[~self._inside_holes(extra)]])
            ab = ab[:n]
        else:
            ab = rng.random((n, 2))
        xyz = self.origin + ab[:, :1] * self.u + ab[:, 1:] * self.v
        return xyz, np.broadcast_to(self.normal, xyz.shape).copy()


class Frustum:
    """Lateral surface of a vertical (truncated) cone: radii r0 at z0, r1 at z1, about (cx, cy).

    ``inward=True`` flips normals (the inside of a bowl or pot)."""

    def __init__(self, center, z0, z1, r0, r1, inward: bool = False):
        self.c = np.asarray(center, dtype=np.float64)[:2]
        self.z0, self.z1, self.r0, self.r1 = float(z0), float(z1), float(r0), float(r1)
        self.inward = inward
        h = self.z1 - self.z0
        self.area = np.pi * (self.r0 + self.r1) * float(np.hypot(h, self.r1 - self.r0))

    def sample(self, n: int, rng: np.random.Generator):
        u = rng.random(n)
        d = self.r1 - self.r0
        if abs(d) < 1e-9:
            t = u
        else:  # inverse CDF of a density proportional to the radius along the height
            t = (-self.r0 + np.sqrt(self.r0**2 + (self.r1**2 - self.r0**2) * u)) / d
        theta = rng.random(n) * 2 * np.pi
        r = self.r0 + d * t
        h = self.z1 - self.z0
        xyz = np.stack([self.c[0] + r * np.cos(theta), self.c[1] + r * np.sin(theta), self.z0 + h * t], 1)
        nrm = _unit(np.stack([h * np.cos(theta), h * np.sin(theta), np.full(n, -d)], 1))
        return xyz, (-nrm if self.inward else nrm)


class Disk:
    """Horizontal disk at height z, normal +z (``up=True``) or −z."""

    def __init__(self, center, z, radius, up: bool = True):
        self.c = np.asarray(center, dtype=np.float64)[:2]
        self.z, self.r, self.up = float(z), float(radius), up
        self.area = np.pi * self.r**2

    def sample(self, n: int, rng: np.random.Generator):
        r = self.r * np.sqrt(rng.random(n))
        theta = rng.random(n) * 2 * np.pi
        xyz = np.stack([self.c[0] + r * np.cos(theta), self.c[1] + r * np.sin(theta), np.full(n, self.z)], 1)
        nrm = np.zeros((n, 3))
        nrm[:, 2] = 1.0 if self.up else -1.0
        return xyz, nrm


class Ellipsoid:
    """Axis-aligned ellipsoid (pillows, foliage); approximately area-uniform by rejection."""

    def __init__(self, center, radii):
        self.c = np.asarray(center, dtype=np.float64)
        self.r = np.asarray(radii, dtype=np.float64)
        a, b, c = self.r
        p = 1.6075  # Knud Thomsen's approximation of the ellipsoid surface area
        self.area = 4 * np.pi * (((a * b) ** p + (a * c) ** p + (b * c) ** p) / 3) ** (1 / p)

    def sample(self, n: int, rng: np.random.Generator):
        out = []
        have = 0
        while have < n:  # the sphere→ellipsoid map stretches area by |grad|·r-product; reject to flatten
            d = _unit(rng.standard_normal((2 * n + 16, 3)))
            g = np.linalg.norm(d / self.r, axis=1) * np.prod(self.r)
            keep = rng.random(len(d)) * g.max() < g
            out.append(d[keep])
            have += int(keep.sum())
        d = np.concatenate(out)[:n]
        xyz = self.c + d * self.r
        return xyz, _unit(d / self.r)


class Wavy:
    """Vertical folded sheet (curtain): x in [0,w], z in [0,h], y = A·sin(2πkx/w + φ), front +y."""

    def __init__(self, origin, width, height, amplitude, folds, phase=0.0):
        self.o = np.asarray(origin, dtype=np.float64)
        self.w, self.h, self.a, self.k, self.phi = float(width), float(height), float(amplitude), float(folds), float(phase)
        x = np.linspace(0.0, self.w, 257)
        self._slope_max = 2 * np.pi * self.k / self.w * self.a
        self.area = self.h * float(_trapezoid(np.sqrt(1 + self._slope(x) ** 2), x))

    def _slope(self, x):
        w2 = 2 * np.pi * self.k / self.w
        return self.a * w2 * np.cos(w2 * x + self.phi)

    def sample(self, n: int, rng: np.random.Generator):
        xs = []
        have = 0
        while have < n:  # accept x with probability ∝ arc length element
            x = rng.random(2 * n + 16) * self.w
            keep = rng.random(len(x)) * np.sqrt(1 + self._slope_max**2) < np.sqrt(1 + self._slope(x) ** 2)
            xs.append(x[keep])
            have += int(keep.sum())
        x = np.concatenate(xs)[:n]
        z = rng.random(n) * self.h
        y = self.a * np.sin(2 * np.pi * self.k / self.w * x + self.phi)
        xyz = self.o + np.stack([x, y, z], 1)
        nrm = _unit(np.stack([-self._slope(x), np.ones(n), np.zeros(n)], 1))
        return xyz, nrm


def obox(corner, a, b, c, skip=()):
    """Faces of an oriented box spanned by edge vectors a, b, c from ``corner`` (right-handed,
    mutually orthogonal); ``skip`` names faces as in :func:`box` with x/y/z meaning a/b/c."""
    o, a, b, c = (np.asarray(x, dtype=np.float64) for x in (corner, a, b, c))
    faces = {
        "-x": Rect(o, c, b), "+x": Rect(o + a, b, c),
        "-y": Rect(o, a, c), "+y": Rect(o + b, c, a),
        "-z": Rect(o, b, a), "+z": Rect(o + c, a, b),
    }
    return [f for k, f in faces.items() if k not in skip and f.area > 0]


def box(lo, hi, skip=()):
    """The outward faces of an axis-aligned box as Rects; ``skip`` ⊂ {'-x','+x','-y','+y','-z','+z'}
    leaves out hidden faces (a bottom resting on the floor, a back against a wall)."""
    (x0, y0, z0), (x1, y1, z1) = np.asarray(lo, float), np.asarray(hi, float)
    dx, dy, dz = (x1 - x0, 0, 0), (0, y1 - y0, 0), (0, 0, z1 - z0)
    faces = {
        "-x": Rect((x0, y0, z0), dz, dy),
        "+x": Rect((x1, y0, z0), dy, dz),
        "-y": Rect((x0, y0, z0), dx, dz),
        "+y": Rect((x0, y1, z0), dz, dx),
        "-z": Rect((x0, y0, z0), dy, dx),
        "+z": Rect((x0, y0, z1), dx, dy),
    }
    return [f for k, f in faces.items() if k not in skip and f.area > 0]


def tray(lo, hi, wall: float, inner_depth: float | None = None):
    """Open-top vessel (bathtub, basin): outer sides, rim, inner sides and inner bottom.

    Outer box ``lo..hi``; walls ``wall`` thick; the inner floor lies ``inner_depth`` below the rim."""
    (x0, y0, z0), (x1, y1, z1) = np.asarray(lo, float), np.asarray(hi, float)
    depth = (z1 - z0 - wall) if inner_depth is None else inner_depth
    ix0, iy0, ix1, iy1, iz = x0 + wall, y0 + wall, x1 - wall, y1 - wall, z1 - depth
    prims = box(lo, hi, skip=("+z", "-z"))
    # rim: four strips at the top
    prims += [
        Rect((x0, y0, z1), (x1 - x0, 0, 0), (0, wall, 0)),
        Rect((x0, iy1, z1), (x1 - x0, 0, 0), (0, wall, 0)),
        Rect((x0, iy0, z1), (wall, 0, 0), (0, iy1 - iy0, 0)),
        Rect((ix1, iy0, z1), (wall, 0, 0), (0, iy1 - iy0, 0)),
    ]
    # inside: the box faces flipped inward
    inner = box((ix0, iy0, iz), (ix1, iy1, z1), skip=("+z",))
    for f in inner:
        f.normal = -f.normal
    return prims + inner


def rotation_z(yaw: float) -> np.ndarray:
    """3×3 right-handed rotation about +z by ``yaw`` radians."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def transform(xyz: np.ndarray, nrm: np.ndarray, yaw: float, offset) -> tuple[np.ndarray, np.ndarray]:
    """Rotate local points/normals by ``yaw`` about z, then translate by ``offset`` [3]."""
    off = np.asarray(offset, dtype=np.float64)
    if yaw == 0.0:
        return xyz + off, nrm
    c, s = np.cos(yaw), np.sin(yaw)
    x = np.empty_like(xyz)
    n = np.empty_like(nrm)
    x[:, 0] = c * xyz[:, 0] - s * xyz[:, 1] + off[0]
    x[:, 1] = s * xyz[:, 0] + c * xyz[:, 1] + off[1]
    x[:, 2] = xyz[:, 2] + off[2]
    n[:, 0] = c * nrm[:, 0] - s * nrm[:, 1]
    n[:, 1] = s * nrm[:, 0] + c * nrm[:, 1]
    n[:, 2] = nrm[:, 2]
    return x, n


def sample_prims(prims, density: float, rng: np.random.Generator, min_points: int = 0):
    """Area-proportional sampling of a primitive list.

    Returns (coord [N,3], normal [N,3], prim_index [N] int64). Counts per primitive are
    ``floor(area·density + U(0,1))``; if the total expectation is below ``min_points`` the density
    is raised for this list so small objects never vanish.
    """
    areas = np.array([p.area for p in prims], dtype=np.float64)
    total = areas.sum()
    if total <= 0:
        return np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, dtype=np.int64)
    dens = max(density, min_points / total)
    counts = np.floor(areas * dens + rng.random(len(prims))).astype(np.int64)
    xs, ns, ids = [], [], []
    for i, (p, c) in enumerate(zip(prims, counts)):
        if c <= 0:
            continue
        x, n = p.sample(int(c), rng)
        xs.append(x)
        ns.append(n)
        ids.append(np.full(int(c), i, dtype=np.int64))
    if not xs:
        return np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, dtype=np.int64)
    return np.concatenate(xs), np.concatenate(ns), np.concatenate(ids)
