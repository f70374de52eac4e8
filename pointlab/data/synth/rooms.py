"""Room types, layout (openings, non-overlapping furniture placement) and point sampling.

A room is the box [0,W]×[0,D]×[0,H] (metres, z up). Walls are numbered 0: y=0, 1: x=W, 2: y=D,
3: x=0; a point on wall k at arc length s and distance t into the room is ``wall_point(k, s, t)``,
and yaw ``k·π/2`` turns a local frame (x along the wall, +y into the room) onto wall k.

:func:`plan_room` draws the layout only (cheap, used to check class coverage); :func:`sample_plan`
turns a plan into points. :func:`generate_room` does both and applies the style.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pointlab.data.synth import furniture as F
from pointlab.data.synth.classes import KIND_NAMES, check_style, kind_label_table, scannet200_label
from pointlab.data.synth.shapes import Rect, box, obox, sample_prims, transform
from pointlab.data.synth.styles import STYLES, holes_mask, part_colors, pick_color, sensor, shade

# ----------------------------------------------------------------------------- room types
# item: (builder, lo, hi, placement, options). lo ≥ 1 = always present (class coverage relies on it).
# Option values: (a, b) floats -> uniform draw; "key?": p -> bool with probability p.
ROOM_TYPES = {
    "bedroom": dict(size=((3.0, 5.0), (3.2, 5.5)), doors=(1, 1), windows=(1, 2), items=[
        ("bed", 1, 1, "wall", {}),
        ("wardrobe", 1, 1, "wall", {}),
        ("nightstand", 1, 2, "wall", {"lamp": True}),
        ("dresser", 1, 1, "wall", {"tv?": 0.3}),
        ("mirror", 1, 1, "wallmount", {"z": (0.9, 1.2)}),
        ("picture", 1, 2, "wallmount", {"z": (1.2, 1.6)}),
        ("curtain", 1, 2, "window", {}),
        ("desk", 0, 1, "wall", {"chair": True, "monitor?": 0.5}),
        ("chair", 0, 1, "free", {}),
        ("floor_lamp", 0, 1, "corner", {}),
        ("plant", 0, 1, "corner", {}),
        ("ottoman", 0, 1, "free", {}),
        ("trash_can", 0, 1, "free", {}),
        ("box", 0, 2, "free", {}),
        ("unlabelled", 0, 2, "free", {}),
    ]),
    "living_room": dict(size=((3.8, 6.5), (3.8, 6.5)), doors=(1, 2), windows=(1, 3), items=[
        ("sofa", 1, 2, "wall", {}),
        ("tv_stand", 1, 1, "wall", {"tv": True}),
        ("bookshelf", 1, 1, "wall", {}),
        ("floor_lamp", 1, 1, "corner", {}),
        ("picture", 1, 3, "wallmount", {"z": (1.2, 1.7)}),
        ("curtain", 1, 2, "window", {}),
        ("coffee_table", 1, 1, "free", {}),
        ("armchair", 1, 2, "free", {}),
        ("column", 0, 1, "wall", {}),
        ("shelf", 0, 1, "wall", {}),
        ("cabinet", 0, 1, "wall", {}),
        ("plant", 0, 2, "corner", {}),
        ("ottoman", 0, 1, "free", {}),
        ("box", 0, 1, "free", {}),
        ("unlabelled", 0, 2, "free", {}),
    ]),
    "office": dict(size=((3.5, 6.0), (3.5, 7.0)), doors=(1, 2), windows=(1, 3), items=[
        ("desk", 1, 3, "wall", {"chair": True, "monitor": True}),
        ("bookshelf", 1, 1, "wall", {}),
        ("shelf", 1, 1, "wall", {}),
        ("file_cabinet", 1, 2, "wall", {}),
        ("whiteboard", 1, 1, "wallmount", {"z": (0.8, 1.0)}),
        ("trash_can", 1, 1, "free", {}),
        ("box", 1, 3, "free", {}),
        ("beam", 0, 1, "ceiling", {}),
        ("column", 0, 2, "wall", {}),
        ("picture", 0, 2, "wallmount", {"z": (1.3, 1.7)}),
        ("meeting_table", 0, 1, "free", {}),
        ("sofa", 0, 1, "wall", {"pillows": 0}),
        ("plant", 0, 1, "corner", {}),
        ("curtain", 0, 1, "window", {}),
        ("unlabelled", 0, 2, "free", {}),
    ]),
    "kitchen": dict(size=((2.8, 4.5), (3.0, 5.5)), doors=(1, 1), windows=(1, 2), items=[
        ("counter", 1, 1, "wall", {"sink": True}),
        ("refrigerator", 1, 1, "wall", {}),
        ("stove", 1, 1, "wall", {}),
        ("kitchen_cabinet", 1, 2, "wallmount", {"z": (1.45, 1.6)}),
        ("dining_table", 1, 1, "free", {}),
        ("counter", 0, 1, "wall", {"sink": False}),
        ("trash_can", 0, 1, "free", {}),
        ("curtain", 0, 1, "window", {}),
        ("picture", 0, 1, "wallmount", {"z": (1.3, 1.6)}),
        ("box", 0, 2, "free", {}),
        ("unlabelled", 0, 2, "free", {}),
    ]),
    "bathroom": dict(size=((2.2, 3.2), (2.4, 3.6)), doors=(1, 1), windows=(0, 1), items=[
        ("bathtub", 1, 1, "wall", {"curtain": True}),
        ("toilet", 1, 1, "wall", {}),
        ("vanity", 1, 1, "wall", {"mirror": True}),
        ("trash_can", 0, 1, "free", {}),
        ("picture", 0, 1, "wallmount", {"z": (1.3, 1.6)}),
        ("unlabelled", 0, 1, "free", {}),
    ]),
    "conference_room": dict(size=((4.5, 8.0), (4.0, 6.5)), doors=(1, 2), windows=(0, 3), items=[
        ("conference_table", 1, 1, "center", {}),
        ("whiteboard", 1, 1, "wallmount", {"z": (0.8, 1.0)}),
        ("wall_tv", 0, 1, "wallmount", {"z": (1.0, 1.3)}),
        ("picture", 0, 2, "wallmount", {"z": (1.3, 1.7)}),
        ("cabinet", 0, 1, "wall", {}),
        ("chair", 0, 3, "wall", {}),
        ("beam", 0, 2, "ceiling", {}),
        ("column", 0, 2, "wall", {}),
        ("plant", 0, 2, "corner", {}),
        ("trash_can", 0, 1, "free", {}),
        ("curtain", 0, 1, "window", {}),
        ("box", 0, 1, "free", {}),
    ]),
    "corridor": dict(size=((1.6, 2.6), (5.0, 10.0)), doors=(2, 4), windows=(0, 1), items=[
        ("picture", 0, 3, "wallmount", {"z": (1.3, 1.7)}),
        ("cabinet", 0, 1, "wall", {}),
        ("trash_can", 0, 1, "free", {}),
        ("column", 0, 2, "wall", {}),
        ("beam", 0, 3, "ceiling", {}),
        ("whiteboard", 0, 1, "wallmount", {"z": (0.9, 1.0)}),
        ("box", 0, 2, "wall", {}),
        ("plant", 0, 1, "corner", {}),
        ("chair", 0, 2, "wall", {}),
    ]),
    "storage": dict(size=((2.5, 4.5), (2.5, 5.0)), doors=(1, 1), windows=(0, 1), items=[
        ("shelf", 1, 3, "wall", {}),
        ("box", 2, 6, "free", {}),
        ("file_cabinet", 1, 2, "wall", {}),
        ("bookshelf", 0, 1, "wall", {}),
        ("table", 0, 1, "free", {}),
        ("chair", 0, 1, "free", {}),
        ("beam", 0, 1, "ceiling", {}),
        ("column", 0, 1, "wall", {}),
    ]),
}

# Style-specific counts (lo, hi) overriding the table: S3DIS offices have beams and columns;
# Structured3D living rooms get a pillar (its only "otherstructure").
STYLE_OVERRIDES = {
    "scannet": {},
    "s3dis": {("office", "beam"): (1, 2), ("office", "column"): (1, 2), ("conference_room", "beam"): (1, 2),
              ("corridor", "beam"): (1, 3), ("living_room", "sofa"): (1, 2), ("office", "sofa"): (0, 1)},
    "structured3d": {("living_room", "column"): (1, 1)},
}

# Folder names of the imitated datasets' room types (S3DIS names its rooms <type>_<k>).
S3DIS_ROOM_NAMES = {"office": "office", "conference_room": "conferenceRoom", "corridor": "hallway",
                    "living_room": "lounge", "kitchen": "pantry", "bathroom": "WC", "storage": "storage",
                    "bedroom": "office"}

# Room-type cycles per style. The first entries (the "core") together contain every class of the
# style's dataset through mandatory items; a split with at least CORE_LEN[style] rooms therefore
# holds every class (tested).
SCHEDULES = {
    "scannet": ["bedroom", "kitchen", "bathroom", "living_room", "office",
                "conference_room", "bedroom", "living_room", "office", "kitchen", "corridor", "bathroom"],
    "s3dis": ["office", "living_room", "conference_room", "corridor", "office",
              "storage", "kitchen", "office", "bathroom", "corridor"],
    "structured3d": ["bedroom", "living_room", "kitchen", "bathroom", "office",
                     "bedroom", "living_room", "kitchen", "conference_room"],
}
CORE_LEN = {"scannet": 5, "s3dis": 2, "structured3d": 5}


def _builder(name: str, rng, opts: dict, H: float) -> F.Group:
    """Build one placement group by item name."""
    if name == "wardrobe":
        return F.build_cabinet(rng, "wardrobe")
    if name == "file_cabinet":
        return F.build_cabinet(rng, "file cabinet")
    if name == "kitchen_cabinet":
        return F.build_cabinet(rng, "kitchen cabinet")
    if name == "shelf":
        return F.build_bookshelf(rng, kind="shelf", books=rng.random() < 0.6)
    if name == "chair":
        return F.Group(0.62, 0.62, 0.95, [F.chair_item(rng, str(rng.choice(["chair", "office chair", "stool"])))])
    if name == "armchair":
        c = F.chair_item(rng, "armchair")
        return F.Group(0.9, 0.9, 0.95, [c])
    if name == "coffee_table":
        return F.build_table(rng, F.U(rng, 0.8, 1.3), F.U(rng, 0.5, 0.7), F.U(rng, 0.38, 0.5), "coffee table")
    if name == "dining_table":
        return F.build_table(rng, F.U(rng, 0.8, 1.4), F.U(rng, 0.7, 0.9), None, "dining table", chairs=int(rng.integers(2, 5)))
    if name == "meeting_table":
        return F.build_table(rng, None, None, None, "table", chairs=int(rng.integers(2, 5)))
    if name == "conference_table":
        return F.build_table(rng, F.U(rng, 2.0, 3.4), F.U(rng, 1.0, 1.4), None, "table", chairs=int(rng.integers(4, 11)))
    if name == "column":
        return F.build_column(rng, H)
    if name == "unlabelled":
        return F.build_box(rng, "unlabelled")
    return F.BUILDERS[name](rng, **opts)


def _resolve_opts(opts: dict, rng) -> dict:
    out = {}
    for k, v in opts.items():
        if k == "z":
            continue
        if k.endswith("?"):
            out[k[:-1]] = bool(rng.random() < v)
        elif isinstance(v, tuple):
            out[k] = float(rng.uniform(*v))
        else:
            out[k] = v
    return out


# ----------------------------------------------------------------------------- plan structures
@dataclass
class Placed:
    """One object instance of a plan: its parts (local prims + base colours) and world pose."""

    kind: str
    name200: str | None
    parts: list  # [(prims, material, rgb, alt_rgb)]
    yaw: float
    offset: np.ndarray
    instance: int


@dataclass
class RoomPlan:
    style: str
    room_type: str
    size: tuple  # (W, D, H)
    objects: list = field(default_factory=list)
    occluders: list = field(default_factory=list)  # world AABBs (x0,y0,x1,y1,zmax) of solid furniture
    forced: list = field(default_factory=list)  # mandatory items that only fit by tolerating overlap

    def kinds(self) -> set:
        return {o.kind for o in self.objects}

    def labels(self) -> set:
        """Dataset labels (≥ 0) this room will contain."""
        table = kind_label_table(self.style)
        return {int(table[KIND_NAMES.index(k)]) for k in self.kinds()} - {-1}


def wall_point(k: int, s: float, t: float, W: float, D: float) -> np.ndarray:
    return np.array([(s, t), (W - t, s), (W - s, D - t), (t, D - s)][k], dtype=np.float64)


class _Layout:
    """Occupancy bookkeeping: floor rectangles and per-wall (s0, s1, z0, z1) rectangles."""

    def __init__(self, W, D, H):
        self.W, self.D, self.H = W, D, H
        self.floor = []
        self.walls = {k: [] for k in range(4)}

    def L(self, k):
        return self.W if k % 2 == 0 else self.D

    def floor_free(self, r, clear=0.0):
        x0, y0, x1, y1 = r
        if x0 < -1e-6 or y0 < -1e-6 or x1 > self.W + 1e-6 or y1 > self.D + 1e-6:
            return False
        return all(x1 + clear <= a0 or a1 <= x0 - clear or y1 + clear <= b0 or b1 <= y0 - clear for a0, b0, a1, b1 in self.floor)

    def wall_free(self, k, r):
        s0, s1, z0, z1 = r
        if s0 < 0 or s1 > self.L(k) or z1 > self.H:
            return False
        return all(s1 <= a0 or a1 <= s0 or z1 <= b0 or b1 <= z0 for a0, a1, b0, b1 in self.walls[k])

    def footprint(self, k, s, t0, w, d):
        """Floor AABB of a w×d object on wall k centred at arc length s, back at distance t0."""
        c = wall_point(k, s, t0 + d / 2, self.W, self.D)
        hx, hy = (w / 2, d / 2) if k % 2 == 0 else (d / 2, w / 2)
        return c, (c[0] - hx, c[1] - hy, c[0] + hx, c[1] + hy)


def _add_group(plan: RoomPlan, rng, group: F.Group, yaw: float, offset, next_id: list):
    """Append the items of a placed group to the plan, composing item and group poses."""
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    for it in group.items:
        colors = {}
        parts = []
        for p in it.parts:
            if p.material not in colors:
                colors[p.material] = (pick_color(p.material, rng), pick_color(p.material, rng))
            parts.append((p.prims, p.material) + colors[p.material])
        inst = -1 if it.kind == "unlabelled" else next_id[0]
        if inst >= 0:
            next_id[0] += 1
        plan.objects.append(Placed(it.kind, it.name200, parts, yaw + it.yaw,
                                   rot @ np.asarray(it.offset, dtype=np.float64) + np.asarray(offset, dtype=np.float64), inst))


# ----------------------------------------------------------------------------- structure
def _openings(layout: _Layout, rng, n_doors: int, n_windows: int, H: float):
    """Doors and windows: list of (kind, wall, s_centre, width, z0, z1)."""
    out = []
    for kind, n in (("door", n_doors), ("window", n_windows)):
        for _ in range(n):
            for _attempt in range(40):
                k = int(rng.integers(4))
                L = layout.L(k)
                if kind == "door":
                    w, z0, z1 = F.U(rng, 0.8, 1.0), 0.0, min(H - 0.2, F.U(rng, 2.0, 2.15))
                else:
                    w = F.U(rng, 0.7, min(2.2, max(0.8, L - 1.0)))
                    z0 = F.U(rng, 0.75, 1.0)
                    z1 = min(H - 0.25, z0 + F.U(rng, 1.0, 1.5))
                if w > L - 0.5:
                    continue
                s = F.U(rng, w / 2 + 0.25, L - w / 2 - 0.25)
                if not _clear_of_openings(layout, k, s, w):  # openings keep 0.3 m apart
                    continue
                if kind == "door":
                    _, fr = layout.footprint(k, s, 0.0, w + 0.1, w + 0.05)
                    if not layout.floor_free(fr):
                        continue
                    layout.floor.append(fr)
                layout.walls[k].append((s - w / 2 - 0.05, s + w / 2 + 0.05, z0, z1 + 0.05 if kind == "window" else H))
                out.append((kind, k, s, w, z0, z1))
                break
    return out


def _clear_of_openings(layout, k, s, w):
    return all(s + w / 2 + 0.3 <= a0 or a1 <= s - w / 2 - 0.3 for a0, a1, _, _ in layout.walls[k])


def _structure(plan: RoomPlan, rng, layout: _Layout, openings, next_id):
    W, D, H = plan.size
    thick = F.U(rng, 0.1, 0.25)
    floor_mat = str(rng.choice(["wood", "paint", "fabric", "wood"]))
    wall_mat = "paint"
    wall_rgb = pick_color(wall_mat, rng)  # one paint for the room's walls (own instances though)
    groups = [("floor", [Rect((0, 0, 0), (W, 0, 0), (0, D, 0))], floor_mat, 0.0, (0, 0, 0)),
              ("ceiling", [Rect((0, 0, H), (0, D, 0), (W, 0, 0))], "paint", 0.0, (0, 0, 0))]
    for k in range(4):
        L = layout.L(k)
        holes, reveals = [], []
        for kind, kk, s, w, z0, z1 in openings:
            if kk != k:
                continue
            a0, a1 = s - w / 2, s + w / 2
            holes.append((a0 / L, a1 / L, z0 / H, z1 / H))
            h = z1 - z0
            reveals += [Rect((a0, -thick, z0), (0, thick, 0), (0, 0, h)), Rect((a1, -thick, z0), (0, 0, h), (0, thick, 0)),
                        Rect((a0, -thick, z1), (0, thick, 0), (w, 0, 0))]
            if kind == "window":
                reveals.append(Rect((a0, -thick, z0), (w, 0, 0), (0, thick, 0)))
        prims = [Rect((0, 0, 0), (L, 0, 0), (0, 0, H), flip=True, holes=holes)] + reveals
        groups.append(("wall", prims, wall_mat, k * np.pi / 2, wall_point(k, 0, 0, W, D)))
    for kind, prims, mat, yaw, off in groups:
        rgb = wall_rgb if kind == "wall" else pick_color(mat, rng)
        plan.objects.append(Placed(kind, None, [(prims, mat, rgb, rgb)], yaw, np.array([off[0], off[1], 0.0]), next_id[0]))
        next_id[0] += 1
    for kind, k, s, w, z0, z1 in openings:
        off = wall_point(k, s, 0, W, D)
        g = _door(rng, w, z1, thick) if kind == "door" else _window(rng, w, z0, z1, thick)
        _add_group(plan, rng, g, k * np.pi / 2, (off[0], off[1], 0.0), next_id)


def _door(rng, w, h, thick):
    """Door in the local wall frame (x along the wall, +y into the room): casing and a leaf,
    closed in the opening or swung open into the room."""
    lw, lt = w - 0.01, 0.04
    casing = []
    cw = F.U(rng, 0.05, 0.09)
    casing += box((-w / 2 - cw, 0, 0), (-w / 2, 0.015, h), skip=("-y", "-z"))
    casing += box((w / 2, 0, 0), (w / 2 + cw, 0.015, h), skip=("-y", "-z"))
    casing += box((-w / 2 - cw, 0, h), (w / 2 + cw, 0.015, h + cw), skip=("-y",))
    angle = 0.0 if rng.random() < 0.5 else F.U(rng, 1.0, 1.75)
    hinge = np.array([-w / 2 + 0.005, -thick / 2 if angle == 0.0 else 0.0, 0.005])
    ex = np.array([np.cos(angle), np.sin(angle), 0.0]) * lw
    ey = np.array([-np.sin(angle), np.cos(angle), 0.0]) * lt
    leaf = obox(hinge - ey, ex, ey, (0, 0, h - 0.01), skip=("-z",))
    knob_at = hinge + ex * 0.9 + ey + np.array([0, 0, 1.0])
    knob = obox(knob_at - np.array([0.03, 0.0, 0.0]), (0.06, 0, 0), (0, 0.05, 0), (0, 0, 0.03))
    mat = "wood" if rng.random() < 0.6 else "paint"
    return F.Group(w, 0.05, h, [F.Item("door", [F.Part(leaf + casing, mat), F.Part(knob, "metal")], "door")])


def _window(rng, w, z0, z1, thick):
    """Window in the local wall frame: recessed glass, frame bars, mullion, and a sill."""
    depth = -thick * F.U(rng, 0.4, 0.8)
    fw = F.U(rng, 0.04, 0.07)
    glass = [Rect((-w / 2, depth, z0), (w, 0, 0), (0, 0, z1 - z0), flip=True)]
    frame = box((-w / 2, depth, z0), (w / 2, depth + 0.05, z0 + fw))
    frame += box((-w / 2, depth, z1 - fw), (w / 2, depth + 0.05, z1))
    frame += box((-w / 2, depth, z0), (-w / 2 + fw, depth + 0.05, z1))
    frame += box((w / 2 - fw, depth, z0), (w / 2, depth + 0.05, z1))
    if w > 1.0:
        frame += box((-fw / 2, depth, z0), (fw / 2, depth + 0.05, z1))
    sill = box((-w / 2 - 0.05, -thick, z0 - 0.03), (w / 2 + 0.05, F.U(rng, 0.03, 0.18), z0))
    mat = "paint" if rng.random() < 0.6 else ("metal" if rng.random() < 0.5 else "wood")
    return F.Group(w, 0.1, z1, [F.Item("window", [F.Part(frame + sill, mat), F.Part(glass, "glass")], "window")])


# ----------------------------------------------------------------------------- placement
def _try_place(plan, layout: _Layout, rng, name, mode, opts, force: bool, next_id, style) -> bool:
    W, D, H = plan.size
    zr = opts.get("z")
    kw = _resolve_opts(opts, rng)
    for attempt in range(6):
        g = _builder(name, rng, kw, H)
        for _ in range(60 if not force else 120):
            if mode in ("wall", "corner"):
                k = int(rng.integers(4))
                L = layout.L(k)
                if g.w + 0.04 > L or g.d > (layout.L(k + 1) - 0.6):
                    continue
                if mode == "corner":
                    s = g.w / 2 + 0.02 if rng.random() < 0.5 else L - g.w / 2 - 0.02
                else:
                    s = F.U(rng, g.w / 2 + 0.02, L - g.w / 2 - 0.02)
                gap = 0.01
                c, fr = layout.footprint(k, s, gap, g.w, g.d)
                wr = (s - g.w / 2, s + g.w / 2, 0.0, g.h)
                if not (layout.floor_free(fr, 0.02) and layout.wall_free(k, wr)):
                    continue
                layout.floor.append(fr)
                layout.walls[k].append(wr)
                _add_group(plan, rng, g, k * np.pi / 2, (c[0], c[1], 0.0), next_id)
                if g.solid:
                    plan.occluders.append(fr + (_occ_height(g),))
                return True
            if mode == "wallmount":
                k = int(rng.integers(4))
                L = layout.L(k)
                if g.w + 0.1 > L:
                    continue
                s = F.U(rng, g.w / 2 + 0.05, L - g.w / 2 - 0.05)
                z0 = F.U(rng, *zr) if zr else F.U(rng, 1.2, 1.6)
                z0 = min(z0, H - g.h - 0.1)
                wr = (s - g.w / 2 - 0.03, s + g.w / 2 + 0.03, z0 - 0.03, z0 + g.h + 0.03)
                if z0 < 0.3 or not layout.wall_free(k, wr):
                    continue
                c = wall_point(k, s, g.d / 2 + 0.003, layout.W, layout.D)
                layout.walls[k].append(wr)
                _add_group(plan, rng, g, k * np.pi / 2, (c[0], c[1], z0), next_id)
                return True
            if mode in ("free", "center"):
                base = 0.0 if W >= D else np.pi / 2
                quarter = int(rng.integers(4))
                yaw = (base if mode == "center" else 0.0) + quarter * np.pi / 2
                if mode == "free":
                    yaw += rng.uniform(-1, 1) * STYLES[style].free_yaw_jitter
                hx = abs(np.cos(yaw)) * g.w / 2 + abs(np.sin(yaw)) * g.d / 2
                hy = abs(np.sin(yaw)) * g.w / 2 + abs(np.cos(yaw)) * g.d / 2
                if mode == "center":
                    cx, cy = W / 2 + F.U(rng, -0.3, 0.3), D / 2 + F.U(rng, -0.3, 0.3)
                else:
                    m = 0.25
                    if W - 2 * hx - 2 * m <= 0 or D - 2 * hy - 2 * m <= 0:
                        continue
                    cx, cy = F.U(rng, hx + m, W - hx - m), F.U(rng, hy + m, D - hy - m)
                fr = (cx - hx, cy - hy, cx + hx, cy + hy)
                if not layout.floor_free(fr, 0.1):
                    continue
                layout.floor.append(fr)
                _add_group(plan, rng, g, yaw, (cx, cy, 0.0), next_id)
                return True
    if force:  # last resort for mandatory items: same placement rule, overlap tolerated
        g = _builder(name, rng, kw, H)
        k = int(np.argmax([layout.L(i) for i in range(4)]))
        L = layout.L(k)
        s = F.U(rng, min(g.w / 2, L / 2), max(L - g.w / 2, L / 2))
        if mode == "wallmount":
            z0 = min(F.U(rng, *zr) if zr else 1.3, H - g.h - 0.05)
            c = wall_point(k, s, g.d / 2 + 0.003, layout.W, layout.D)
            _add_group(plan, rng, g, k * np.pi / 2, (c[0], c[1], max(z0, 0.3)), next_id)
        elif mode in ("wall", "corner"):
            c, _ = layout.footprint(k, s, 0.01, g.w, g.d)
            _add_group(plan, rng, g, k * np.pi / 2, (c[0], c[1], 0.0), next_id)
        else:
            cx = F.U(rng, min(g.w / 2, W / 2), max(W - g.w / 2, W / 2))
            cy = F.U(rng, min(g.d / 2, D / 2), max(D - g.d / 2, D / 2))
            _add_group(plan, rng, g, 0.0, (cx, cy, 0.0), next_id)
        plan.forced.append(name)
        return True
    return False


def _occ_height(g: F.Group) -> float:
    main = g.items[0]
    zmax = 0.0
    for p in main.parts:
        for prim in p.prims:
            if isinstance(prim, Rect):
                zs = prim.origin[2] + np.array([0, prim.u[2], prim.v[2], prim.u[2] + prim.v[2]])
                zmax = max(zmax, float(zs.max()))
    return zmax if zmax > 0 else g.h


def _place_curtains(plan, layout, rng, openings, n, next_id):
    W, D, H = plan.size
    wins = [o for o in openings if o[0] == "window"]
    order = rng.permutation(len(wins))[:n]
    for i in order:
        _, k, s, w, z0, z1 = wins[i]
        top = min(H - 0.03, z1 + F.U(rng, 0.05, 0.25))
        long = rng.random() < 0.6
        bottom = 0.02 if long else max(0.05, z0 - F.U(rng, 0.05, 0.2))
        sides = [-1, 1] if rng.random() < 0.7 else [int(rng.choice([-1, 1]))]
        hung = 0
        for side in sides + [0]:  # side 0: drawn across the window, only if no side panel fits
            if side == 0 and hung:
                break
            pw = F.U(rng, 0.3, 0.6) if side else w * F.U(rng, 0.5, 0.9)
            sc = s + side * (w / 2 + pw / 2 - F.U(rng, 0.05, 0.2))
            if side == 0:
                long, bottom = False, z0 + 0.02  # hangs above the sill
            wr = (sc - pw / 2, sc + pw / 2, bottom, top)
            others = [r for r in layout.walls[k] if not (r[0] <= s <= r[1] and r[2] > 0.3)]  # ignore its own window
            if wr[0] < 0.02 or wr[1] > layout.L(k) - 0.02:
                continue
            if not all(wr[1] <= a0 or a1 <= wr[0] or wr[3] <= b0 or b1 <= wr[2] for a0, a1, b0, b1 in others):
                continue
            c, fr = layout.footprint(k, sc, 0.02, pw, 0.12)
            if long:
                if not layout.floor_free(fr):
                    continue
                layout.floor.append(fr)
            layout.walls[k].append(wr)
            g = F.build_curtain(rng, pw, top - bottom)
            _add_group(plan, rng, g, k * np.pi / 2, (c[0], c[1], bottom), next_id)
            hung += 1


def _place_beams(plan, layout, rng, n, next_id):
    W, D, H = plan.size
    along_x = W >= D if rng.random() < 0.8 else W < D
    span, other = (W, D) if along_x else (D, W)
    placed = []
    for _ in range(n):
        for _attempt in range(30):
            bw, drop = F.U(rng, 0.25, 0.5), min(F.U(rng, 0.3, 0.6), H - 2.25)  # clear doors and cupboards
            if drop < 0.12:
                return
            p = F.U(rng, 0.4, other - bw - 0.4)
            if any(not (p + bw + 0.3 <= a or b + 0.3 <= p) for a, b in placed):
                continue
            if along_x:
                ends = [(1, (p, p + bw)), (3, (D - p - bw, D - p))]
                prims = box((0, p, H - drop), (W, p + bw, H), skip=("+z", "-x", "+x"))
            else:
                ends = [(0, (p, p + bw)), (2, (W - p - bw, W - p))]
                prims = box((p, 0, H - drop), (p + bw, D, H), skip=("+z", "-y", "+y"))
            if not all(layout.wall_free(k, (a, b, H - drop, H)) for k, (a, b) in ends):
                continue
            for k, (a, b) in ends:
                layout.walls[k].append((a, b, H - drop, H))
            placed.append((p, p + bw))
            g = F.Group(span, bw, H, [F.Item("beam", [F.Part(prims, "paint")], "structure")])
            _add_group(plan, rng, g, 0.0, (0.0, 0.0, 0.0), next_id)
            break


def plan_room(style: str = "scannet", seed=0, size=(5.0, 5.0, 3.0), room_type: str | None = None) -> RoomPlan:
    """Draw a room layout without sampling points.

    Args:
        style: "scannet" | "s3dis" | "structured3d".
        seed: int or ``np.random.Generator``.
        size: (W, D, H) metres, or None for a style- and type-appropriate random size.
        room_type: a key of ``ROOM_TYPES`` or None (random for the style).
    Returns: :class:`RoomPlan`; ``plan.labels()`` is the set of dataset labels the room contains.
    """
    check_style(style)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    st = STYLES[style]
    if room_type is None:
        room_type = str(rng.choice(sorted(set(SCHEDULES[style]))))
    if room_type not in ROOM_TYPES:
        raise ValueError(f"unknown room_type {room_type!r}; choose one of {', '.join(ROOM_TYPES)}")
    spec = ROOM_TYPES[room_type]
    if size is None:
        (w0, w1), (d0, d1) = spec["size"]
        W, D = F.U(rng, w0, w1) * st.size_scale, F.U(rng, d0, d1) * st.size_scale
        if rng.random() < 0.5 and room_type != "corridor":
            W, D = D, W
        H = F.U(rng, *st.height)
    else:
        W, D, H = (float(x) for x in size)
        if min(W, D) < 1.5 or H < 2.0:
            raise ValueError(f"room size {size} too small: need W, D ≥ 1.5 m and H ≥ 2.0 m")
    plan = RoomPlan(style, room_type, (W, D, H))
    layout = _Layout(W, D, H)
    next_id = [0]
    overrides = STYLE_OVERRIDES[style]
    counts = []
    for name, lo, hi, mode, opts in spec["items"]:
        lo, hi = overrides.get((room_type, name), (lo, hi))
        if name == "unlabelled" and not st.unlabelled:
            lo = hi = 0
        n = int(rng.integers(lo, hi + 1))
        counts.append((name, lo, n, mode, opts))
    n_win = int(rng.integers(spec["windows"][0], spec["windows"][1] + 1))
    need_win = max((n for name, lo, n, mode, _ in counts if mode == "window"), default=0)
    n_win = max(n_win, need_win)
    openings = _openings(layout, rng, int(rng.integers(spec["doors"][0], spec["doors"][1] + 1)), n_win, H)
    if not any(o[0] == "door" for o in openings):  # every room is entered somewhere
        openings += _openings(layout, rng, 1, 0, H)
    _structure(plan, rng, layout, openings, next_id)
    for name, lo, n, mode, opts in counts:  # structure-bound items first
        if mode == "window":
            _place_curtains(plan, layout, rng, openings, n, next_id)
        elif mode == "ceiling":
            _place_beams(plan, layout, rng, n, next_id)
    # mandatory instances first (forced if they do not fit), then the optional ones
    for mandatory in (True, False):
        for name, lo, n, mode, opts in counts:
            if mode in ("window", "ceiling"):
                continue
            todo = range(lo) if mandatory else range(lo, n)
            for _ in todo:
                _try_place(plan, layout, rng, name, mode, opts, mandatory, next_id, style)
    return plan


# ----------------------------------------------------------------------------- sampling
_KIND_INDEX = {k: i for i, k in enumerate(KIND_NAMES)}
_MIN_POINTS = 60  # per object, so thin or small objects never vanish at low density


def sample_plan(plan: RoomPlan, rng, density: float | None = None) -> dict:
    """Sample a plan's surfaces and apply the style. Returns the arrays of :func:`generate_room`."""
    st = STYLES[plan.style]
    dens = st.density if density is None else float(density)
    if dens <= 0:
        raise ValueError(f"density must be > 0 points/m², got {density}")
    W, D, H = plan.size
    xs, ns, pids = [], [], []
    part_rgb, part_obj, part_glass, patterned = [], [], [], []
    for oi, obj in enumerate(plan.objects):
        prims = [p for part in obj.parts for p in part[0]]
        owner = np.concatenate([np.full(len(part[0]), j) for j, part in enumerate(obj.parts)])
        x, n, pid = sample_prims(prims, dens, rng, _MIN_POINTS)
        gid = owner[pid] + len(part_rgb)  # global part id per point
        for j, (_, mat, rgb, alt) in enumerate(obj.parts):
            part_rgb.append(rgb)
            part_obj.append(oi)
            part_glass.append(mat == "glass" and obj.kind == "window")
            if mat == "art":  # patterned parts get per-point colours from their local coordinates
                m = gid == len(part_rgb) - 1
                patterned.append((len(xs), m, part_colors(mat, rgb, alt, x[m], freq=float(rng.uniform(8, 30)))))
        x, n = transform(x, n, obj.yaw, obj.offset)
        xs.append(x.astype(np.float32))
        ns.append(n.astype(np.float32))
        pids.append(gid)
    part_rgb = np.asarray(part_rgb, dtype=np.float32)
    coord, normal, part = np.concatenate(xs), np.concatenate(ns), np.concatenate(pids)
    base = part_rgb[part]
    starts = np.cumsum([0] + [len(x) for x in xs])
    for i, m, colors in patterned:
        base[starts[i] + np.flatnonzero(m)] = colors
    obj_of = np.asarray(part_obj, dtype=np.int64)[part]
    kind = np.array([_KIND_INDEX[o.kind] for o in plan.objects], dtype=np.int64)[obj_of]
    instance = np.array([o.instance for o in plan.objects], dtype=np.int64)[obj_of]

    keep = np.ones(len(coord), dtype=bool)
    # floor and wall hidden behind solid furniture are not observed
    structural = np.flatnonzero((kind == _KIND_INDEX["floor"]) | (kind == _KIND_INDEX["wall"]))
    sx, sy, sz = coord[structural].T
    for x0, y0, x1, y1, zmax in plan.occluders:
        e = 0.03
        inside = (sx > x0 - e) & (sx < x1 + e) & (sy > y0 - e) & (sy < y1 + e) & (sz < zmax - 0.02)
        keep[structural[inside]] = False
    if np.isfinite(st.ceiling_keep):  # scanners on a stick rarely see the ceiling: keep a band by the walls
        ceil = np.flatnonzero(kind == _KIND_INDEX["ceiling"])
        cx, cy = coord[ceil, 0], coord[ceil, 1]
        dist = np.minimum(np.minimum(cx, W - cx), np.minimum(cy, D - cy))
        keep[ceil[dist > st.ceiling_keep * rng.uniform(0.4, 1.0)]] = False
    if st.glass_drop > 0:  # transparent glass returns few depth samples
        glass = np.flatnonzero(np.asarray(part_glass)[part])
        keep[glass[rng.random(len(glass)) < st.glass_drop]] = False
    keep &= holes_mask(st, coord, instance, keep, rng)
    coord, normal, base, kind, instance = coord[keep], normal[keep], base[keep], kind[keep], instance[keep]

    color = shade(st, coord, normal, base, plan.size, rng)
    coord, normal = sensor(st, coord, normal, rng)
    table = kind_label_table(plan.style)
    out = {
        "coord": coord.astype(np.float32),
        "color": color,
        "normal": normal.astype(np.float32),
        "segment": table[kind],
        "instance": instance,
    }
    if plan.style == "scannet":
        s200 = np.array([scannet200_label(o.kind, o.name200) for o in plan.objects], dtype=np.int64)
        # unannotated clutter has instance −1 and maps to −1 through slot 0
        inst_to_200 = {o.instance: s for o, s in zip(plan.objects, s200) if o.instance >= 0}
        m = np.full(max(inst_to_200, default=-1) + 2, -1, dtype=np.int64)
        for i, s in inst_to_200.items():
            m[i + 1] = s
        out["segment200"] = m[instance + 1]
    out["kind"] = kind
    return out


def generate_room(style: str = "scannet", seed=0, size=(5.0, 5.0, 3.0), room_type: str | None = None,
                  density: float | None = None) -> dict:
    """One synthetic room as a dict of numpy arrays.

    Args:
        style: "scannet" | "s3dis" | "structured3d" (palette, lighting, noise, holes, density).
        seed: int (or Generator); the same seed gives identical arrays.
        size: (W, D, H) in metres, or None for a style-appropriate random size.
        room_type: see ``ROOM_TYPES`` (None = random).
        density: points per m² of surface (None = the style's default).
    Returns:
        coord float32 [N,3] (metres, z up), color uint8 [N,3], normal float32 [N,3] (unit),
        segment int64 [N] (labels of the style's dataset, −1 ignore), instance int64 [N] (−1 none),
        kind int64 [N] (index into ``classes.KIND_NAMES``), and for scannet segment200 int64 [N].
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    plan = plan_room(style, rng, size, room_type)
    return sample_plan(plan, rng, density)
