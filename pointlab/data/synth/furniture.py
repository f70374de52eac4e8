"""Multi-part furniture builders.

Each ``build_*`` returns a :class:`Group` in a local frame: footprint x in [−w/2, w/2],
y in [−d/2, d/2], the back (the side that goes against a wall) at −y, the front at +y, floor at z 0.
A group holds one or more :class:`Item` s — separate objects with their own kind and instance id
(a bed and its pillows, a desk, its chair and its monitor). Parts name a *material*; the colour is
drawn per item and material from palettes shared by many classes (styles.py), so colour alone never
tells the class.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pointlab.data.synth.shapes import Disk, Ellipsoid, Frustum, Rect, Wavy, box, tray


@dataclass
class Part:
    prims: list
    material: str


@dataclass
class Item:
    """One object instance: ``kind`` (see classes.KINDS), optional finer ScanNet-200 name, parts,
    and a pose (yaw about z, offset) inside its group."""

    kind: str
    parts: list
    name200: str | None = None
    yaw: float = 0.0
    offset: tuple = (0.0, 0.0, 0.0)


@dataclass
class Group:
    """Placement unit: footprint w×d (local x×y), height h, items, and whether it occludes the
    floor/wall behind it (solid furniture standing on the floor)."""

    w: float
    d: float
    h: float
    items: list = field(default_factory=list)
    solid: bool = False


def U(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def item_top(item: Item) -> float:
    """Highest z of an item's rectangles and frusta (its pose offset included)."""
    top = 0.0
    for p in item.parts:
        for prim in p.prims:
            if isinstance(prim, Rect):
                top = max(top, float(prim.origin[2] + max(0.0, prim.u[2]) + max(0.0, prim.v[2])))
            elif isinstance(prim, Frustum):
                top = max(top, prim.z1)
    return top + float(item.offset[2])


def _legs(w, d, h, t, inset=0.02):
    """Four square legs of side ``t`` under a w×d top, from z 0 to h."""
    xs = (-w / 2 + inset, w / 2 - inset - t)
    ys = (-d / 2 + inset, d / 2 - inset - t)
    return [p for x in xs for y in ys for p in box((x, y, 0), (x + t, y + t, h), skip=("-z", "+z"))]


# ---------------------------------------------------------------- tables, desks, seating
def table_item(rng, w, d, h, name200="table", kind="table"):
    t = U(rng, 0.025, 0.05)
    leg = U(rng, 0.04, 0.08)
    top = box((-w / 2, -d / 2, h - t), (w / 2, d / 2, h))
    parts = [Part(top, "wood" if rng.random() < 0.7 else "paint")]
    if rng.random() < 0.25 and min(w, d) < 1.0 and kind == "table":  # pedestal table
        parts.append(Part([Frustum((0, 0), 0, h - t, 0.05, 0.05), Disk((0, 0), 0.02, min(w, d) * 0.35)], "metal"))
    else:
        parts.append(Part(_legs(w, d, h - t, leg), "metal" if rng.random() < 0.4 else "wood"))
    return Item(kind, parts, name200)


def chair_item(rng, variant="chair"):
    """A chair facing +y (its back rest at −y). variants: chair, office chair, armchair, stool."""
    if variant == "armchair":
        w, d, sh = U(rng, 0.7, 0.9), U(rng, 0.7, 0.9), U(rng, 0.38, 0.45)
        bt, at, ah = U(rng, 0.15, 0.22), U(rng, 0.1, 0.18), U(rng, 0.55, 0.65)
        prims = box((-w / 2 + at, -d / 2 + bt, 0.08), (w / 2 - at, d / 2, sh), skip=("-z",))
        prims += box((-w / 2, -d / 2, 0.08), (w / 2, -d / 2 + bt, U(rng, 0.8, 0.95)), skip=("-z",))
        prims += box((-w / 2, -d / 2 + bt, 0.08), (-w / 2 + at, d / 2, ah), skip=("-z",))
        prims += box((w / 2 - at, -d / 2 + bt, 0.08), (w / 2, d / 2, ah), skip=("-z",))
        return Item("chair", [Part(prims, "fabric"), Part(_legs(w, d, 0.08, 0.05), "wood")], "armchair")
    if variant == "stool":
        r, h = U(rng, 0.16, 0.22), U(rng, 0.45, 0.75)
        parts = [Part([Disk((0, 0), h, r), Frustum((0, 0), h - 0.04, h, r, r)], "wood"),
                 Part(_legs(r * 1.4, r * 1.4, h - 0.04, 0.03), "metal")]
        return Item("chair", parts, "stool")
    w, d = U(rng, 0.42, 0.52), U(rng, 0.42, 0.5)
    sh, st = U(rng, 0.42, 0.5), U(rng, 0.03, 0.07)
    bh, bt = U(rng, 0.35, 0.5), U(rng, 0.02, 0.06)
    seat = box((-w / 2, -d / 2, sh - st), (w / 2, d / 2, sh))
    back = box((-w / 2, -d / 2, sh), (w / 2, -d / 2 + bt, sh + bh))
    seat_mat = "fabric" if rng.random() < 0.5 else ("wood" if rng.random() < 0.6 else "dark")
    if variant == "office chair":
        base = [Frustum((0, 0), 0.08, sh - st, 0.025, 0.025)]
        base += box((-0.3, -0.03, 0.04), (0.3, 0.03, 0.08)) + box((-0.03, -0.3, 0.04), (0.03, 0.3, 0.08))
        parts = [Part(seat + back, seat_mat), Part(base, "metal" if rng.random() < 0.5 else "dark")]
        return Item("chair", parts, "office chair")
    parts = [Part(seat + back, seat_mat), Part(_legs(w, d, sh - st, U(rng, 0.025, 0.045)), "wood" if rng.random() < 0.5 else "metal")]
    return Item("chair", parts, "chair")


def build_table(rng, w=None, d=None, h=None, name200="table", chairs=0):
    """A table with legs, optionally with chairs around it (each chair its own item)."""
    w = w or U(rng, 0.8, 1.6)
    d = d or U(rng, 0.6, 1.0)
    h = h or U(rng, 0.7, 0.78)
    items = [table_item(rng, w, d, h, name200)]
    if chairs:
        variant = "office chair" if name200 == "table" and rng.random() < 0.4 else "chair"
        seats = []  # (x, y, yaw): chairs tucked to the table edge, facing it
        n_long = max(1, int(w // 0.65))
        for i in range(n_long):
            x = -w / 2 + (i + 0.5) * w / n_long
            seats += [(x, -d / 2 - 0.12, 0.0), (x, d / 2 + 0.12, np.pi)]
        if d > 0.7:
            seats += [(-w / 2 - 0.12, 0.0, -np.pi / 2), (w / 2 + 0.12, 0.0, np.pi / 2)]
        order = rng.permutation(len(seats))[: min(chairs, len(seats))]
        for k in order:
            x, y, yaw = seats[k]
            c = chair_item(rng, variant)
            c.yaw, c.offset = yaw + U(rng, -0.15, 0.15), (x, y, 0.0)
            items.append(c)
        w, d = w + 0.6, d + 0.6
    return Group(w, d, h, items)


def build_desk(rng, chair=True, monitor=True):
    w, d, h = U(rng, 1.0, 1.6), U(rng, 0.55, 0.8), U(rng, 0.72, 0.78)
    t = U(rng, 0.025, 0.04)
    top = box((-w / 2, -d / 2, h - t), (w / 2, d / 2, h))
    side = U(rng, 0.02, 0.04)
    frame = box((-w / 2, -d / 2, 0), (-w / 2 + side, d / 2, h - t), skip=("-z", "+z"))
    if rng.random() < 0.6:  # drawer block on one side, else a second panel
        dw = U(rng, 0.35, 0.45)
        frame += box((w / 2 - dw, -d / 2, 0), (w / 2, d / 2 - 0.02, h - t), skip=("-z", "+z"))
    else:
        frame += box((w / 2 - side, -d / 2, 0), (w / 2, d / 2, h - t), skip=("-z", "+z"))
    frame += box((-w / 2 + side, -d / 2 + 0.02, 0.3), (w / 2 - side, -d / 2 + 0.04, h - t))  # modesty panel
    mat = "wood" if rng.random() < 0.6 else "paint"
    items = [Item("desk", [Part(top, mat), Part(frame, mat)], "desk")]
    if monitor:
        mw, mh = U(rng, 0.45, 0.65), U(rng, 0.28, 0.4)
        y = -d / 2 + U(rng, 0.12, 0.25)
        screen = box((-mw / 2, y, h + 0.1), (mw / 2, y + 0.03, h + 0.1 + mh))
        stand = box((-0.02, y - 0.04, h), (0.02, y, h + 0.12)) + box((-0.1, y - 0.1, h), (0.1, y + 0.05, h + 0.015), skip=("-z",))
        items.append(Item("monitor", [Part(screen, "dark"), Part(stand, "metal")], "monitor", offset=(U(rng, -0.2, 0.2) * w / 2, 0, 0)))
    depth = d
    if chair:
        c = chair_item(rng, "office chair" if rng.random() < 0.6 else "chair")
        c.yaw, c.offset = np.pi + U(rng, -0.3, 0.3), (U(rng, -0.15, 0.15), d / 2 + 0.15, 0.0)
        items.append(c)
        depth = d + 0.55
    g = Group(w, depth, h, items)
    _shift_back(g, depth, d)
    return g


def _shift_back(g: Group, total_d: float, back_d: float):
    """Items were built with the main piece centred at y 0; move everything so the group's
    footprint is centred (main piece at the back)."""
    dy = -(total_d - back_d) / 2
    for it in g.items:
        ox, oy, oz = it.offset
        it.offset = (ox, oy + dy, oz)


def build_sofa(rng, pillows=None):
    w, d = U(rng, 1.6, 2.4), U(rng, 0.8, 1.0)
    sh, bh, ah = U(rng, 0.4, 0.48), U(rng, 0.75, 0.95), U(rng, 0.55, 0.68)
    bt, at = U(rng, 0.18, 0.28), U(rng, 0.12, 0.22)
    base = box((-w / 2, -d / 2, 0.1), (w / 2, d / 2, sh - 0.12), skip=("-z",))
    cushions = []
    n = 2 if w < 2.0 else 3
    cw = (w - 2 * at) / n
    for i in range(n):
        x0 = -w / 2 + at + i * cw
        cushions += box((x0 + 0.005, -d / 2 + bt, sh - 0.12), (x0 + cw - 0.005, d / 2 - 0.02, sh), skip=("-z",))
    back = box((-w / 2, -d / 2, sh - 0.12), (w / 2, -d / 2 + bt, bh), skip=("-z",))
    arms = box((-w / 2, -d / 2 + bt, sh - 0.12), (-w / 2 + at, d / 2, ah), skip=("-z",))
    arms += box((w / 2 - at, -d / 2 + bt, sh - 0.12), (w / 2, d / 2, ah), skip=("-z",))
    feet = _legs(w, d, 0.1, 0.05)
    items = [Item("sofa", [Part(base + cushions + back + arms, "fabric"), Part(feet, "wood")], "couch")]
    n_p = int(rng.integers(0, 3)) if pillows is None else pillows
    for i in range(n_p):
        x = (-1) ** i * (w / 2 - at - 0.3)
        pr = (U(rng, 0.18, 0.24), U(rng, 0.06, 0.09), U(rng, 0.16, 0.22))
        items.append(Item("pillow", [Part([Ellipsoid((x, -d / 2 + bt + pr[1], sh + pr[2] * 0.9), pr)], "fabric")], "pillow"))
    return Group(w, d, bh, items, solid=True)


def build_bed(rng, pillows=None):
    w = float(rng.choice([U(rng, 0.9, 1.1), U(rng, 1.35, 1.85)]))
    L = U(rng, 1.95, 2.15)
    fh, mh, hh = U(rng, 0.2, 0.35), U(rng, 0.18, 0.28), U(rng, 0.85, 1.25)
    ht = U(rng, 0.04, 0.1)
    frame = box((-w / 2, -L / 2 + ht, 0.0), (w / 2, L / 2, fh), skip=("-z",))
    head = box((-w / 2, -L / 2, 0.0), (w / 2, -L / 2 + ht, hh), skip=("-z", "-y"))
    mattress = box((-w / 2 + 0.02, -L / 2 + ht, fh), (w / 2 - 0.02, L / 2 - 0.02, fh + mh), skip=("-z",))
    blanket = box((-w / 2 - 0.01, -L / 2 + ht + 0.5, fh + mh - 0.12), (w / 2 + 0.01, L / 2 + 0.01, fh + mh + 0.03), skip=("-z",))
    wood = "wood" if rng.random() < 0.7 else "paint"
    items = [Item("bed", [Part(frame + head, wood), Part(mattress, "paint"), Part(blanket, "fabric")], "bed")]
    n_p = (1 if w < 1.2 else 2) if pillows is None else pillows
    for i in range(n_p):
        x = 0.0 if n_p == 1 else (i - 0.5) * w / 2
        pr = (U(rng, 0.25, 0.33), U(rng, 0.16, 0.22), U(rng, 0.06, 0.09))
        c = (x, -L / 2 + ht + 0.05 + pr[1], fh + mh + pr[2] * 0.8)
        items.append(Item("pillow", [Part([Ellipsoid(c, pr)], "fabric")], "pillow"))
    return Group(w, L, hh, items, solid=True)


# ---------------------------------------------------------------- storage
def carcass(rng, w, d, h, doors=2, drawers=0, z0=0.0, skip_back=True):
    """A closed cabinet body with door/drawer fronts and handles: (body prims, fronts, handles)."""
    skip = ("-y",) if skip_back else ()
    skip += ("-z",) if z0 == 0.0 else ()
    body = box((-w / 2, -d / 2, z0), (w / 2, d / 2 - 0.02, z0 + h), skip=skip)
    fronts, handles = [], []
    rows = [(z0 + h * i / drawers, z0 + h * (i + 1) / drawers, 1) for i in range(drawers)] if drawers else [(z0, z0 + h, doors)]
    for zl, zh, cols in rows:
        for c in range(cols):
            x0 = -w / 2 + c * w / cols
            fronts += box((x0 + 0.004, d / 2 - 0.02, zl + 0.004), (x0 + w / cols - 0.004, d / 2, zh - 0.004), skip=("-y",))
            hx = x0 + (w / cols) * (0.5 if drawers else (0.85 if c % 2 == 0 else 0.15))
            hz = (zl + zh) / 2 if drawers else zl + 0.55 * (zh - zl)
            handles += box((hx - 0.05, d / 2, hz - 0.01), (hx + 0.05, d / 2 + 0.025, hz + 0.01), skip=("-y",))
    return body, fronts, handles


def build_cabinet(rng, variant="cabinet"):
    """Cabinets: 'cabinet' (sideboard), 'wardrobe', 'file cabinet', 'kitchen cabinet' (wall unit)."""
    if variant == "wardrobe":
        w, d, h, doors, drawers = U(rng, 0.9, 1.8), U(rng, 0.55, 0.65), U(rng, 1.8, 2.2), 2, 0
    elif variant == "file cabinet":
        w, d, h, doors, drawers = U(rng, 0.4, 0.5), U(rng, 0.5, 0.65), U(rng, 0.7, 1.35), 1, int(rng.integers(2, 5))
    elif variant == "kitchen cabinet":
        w, d, h, doors, drawers = U(rng, 0.6, 1.6), U(rng, 0.3, 0.38), U(rng, 0.6, 0.8), 2, 0
    else:
        w, d, h, doors, drawers = U(rng, 0.7, 1.6), U(rng, 0.4, 0.55), U(rng, 0.7, 1.1), int(rng.integers(1, 4)), 0
    body, fronts, handles = carcass(rng, w, d, h, doors, drawers, skip_back=True)
    mat = "wood" if rng.random() < 0.5 else ("paint" if rng.random() < 0.7 else "metal")
    name = {"cabinet": "cabinet", "wardrobe": "wardrobe", "file cabinet": "file cabinet", "kitchen cabinet": "kitchen cabinet"}[variant]
    item = Item("cabinet", [Part(body + fronts, mat), Part(handles, "metal")], name)
    return Group(w, d, h, [item], solid=variant != "kitchen cabinet")


def build_dresser(rng, tv=False, mirror=False):
    w, d, h = U(rng, 0.8, 1.6), U(rng, 0.42, 0.55), U(rng, 0.75, 1.15)
    rows = int(rng.integers(3, 6))
    body, fronts, handles = carcass(rng, w, d, h, 1, rows)
    mat = "wood" if rng.random() < 0.7 else "paint"
    items = [Item("dresser", [Part(body + fronts, mat), Part(handles, "metal")], "dresser")]
    top = h
    if tv:
        items.append(_tv_item(rng, h, -d / 2 + 0.14, foot=True, w=min(w, U(rng, 0.7, 1.1))))
        top = item_top(items[-1])
    if mirror and not tv:
        mw, mh = min(w * 0.8, U(rng, 0.5, 1.0)), U(rng, 0.6, 0.9)
        z0 = h + U(rng, 0.1, 0.3)
        items.append(_mirror_item(rng, mw, mh, z0, -d / 2))
        top = item_top(items[-1])
    return Group(w, d, top, items, solid=True)


def build_nightstand(rng, lamp=False):
    w, d, h = U(rng, 0.4, 0.55), U(rng, 0.35, 0.45), U(rng, 0.45, 0.65)
    body, fronts, handles = carcass(rng, w, d, h, 1, int(rng.integers(1, 3)))
    items = [Item("nightstand", [Part(body + fronts, "wood" if rng.random() < 0.7 else "paint"), Part(handles, "metal")], "nightstand")]
    top = h
    if lamp:
        items.append(lamp_item(rng, z0=h, table=True))
        top = h + 0.55
    return Group(w, d, top, items, solid=True)


def lamp_item(rng, z0=0.0, table=True):
    """Table lamp (on furniture at height z0) or floor lamp."""
    if table:
        hb, hs, rs = U(rng, 0.2, 0.3), U(rng, 0.15, 0.25), U(rng, 0.1, 0.17)
        base = [Frustum((0, 0), z0, z0 + hb, U(rng, 0.06, 0.09), 0.015), Disk((0, 0), z0 + hb, 0.015)]
    else:
        hb, hs, rs = U(rng, 1.3, 1.6), U(rng, 0.25, 0.35), U(rng, 0.18, 0.25)
        base = [Disk((0, 0), z0 + 0.02, 0.15), Frustum((0, 0), z0, z0 + 0.02, 0.15, 0.15), Frustum((0, 0), z0, z0 + hb, 0.015, 0.015)]
    shade = [Frustum((0, 0), z0 + hb - 0.05, z0 + hb - 0.05 + hs, rs, rs * U(rng, 0.55, 0.9))]
    return Item("lamp", [Part(base, "metal" if rng.random() < 0.5 else "ceramic"), Part(shade, "fabric")], "lamp")


def build_floor_lamp(rng):
    lamp = lamp_item(rng, 0.0, table=False)
    radius = max(prim.r0 for prim in lamp.parts[1].prims)  # the shade is the widest part
    return Group(2 * radius + 0.02, 2 * radius + 0.02, item_top(lamp), [lamp])


def build_bookshelf(rng, kind="bookshelf", books=True):
    """Open shelving: sides, top, back, shelf boards; books as small blocks (part of the unit)."""
    w, d = U(rng, 0.6, 1.4), U(rng, 0.28, 0.4)
    h = U(rng, 1.6, 2.1) if kind == "bookshelf" else U(rng, 0.8, 1.9)
    t = U(rng, 0.018, 0.03)
    n_sh = max(2, int(h // U(rng, 0.3, 0.4)))
    prims = box((-w / 2, -d / 2, 0), (-w / 2 + t, d / 2, h), skip=("-z", "-y"))
    prims += box((w / 2 - t, -d / 2, 0), (w / 2, d / 2, h), skip=("-z", "-y"))
    has_back = kind == "bookshelf" or rng.random() < 0.5
    if has_back:
        prims += [Rect((-w / 2 + t, -d / 2 + t, 0), (w - 2 * t, 0, 0), (0, 0, h))]
    boards = []
    for i in range(n_sh + 1):
        z = min(i * h / n_sh, h - t)
        boards += box((-w / 2 + t, -d / 2 + (t if has_back else 0), z), (w / 2 - t, d / 2, z + t), skip=("-z",) if i == 0 else ())
    mat = "wood" if rng.random() < 0.6 else ("paint" if rng.random() < 0.6 else "metal")
    parts = [Part(prims + boards, mat)]
    if books:
        bprims = []
        for i in range(n_sh):
            z = i * h / n_sh + t
            x = -w / 2 + t + U(rng, 0.0, 0.2)
            while x < w / 2 - t - 0.1 and rng.random() < 0.9:
                bw, bh = U(rng, 0.1, 0.35), min(U(rng, 0.15, 0.28), h / n_sh - t - 0.03)
                if bh <= 0.05:
                    break
                bw = min(bw, w / 2 - t - x)
                bprims += box((x, -d / 2 + t + 0.02, z), (x + bw, d / 2 - U(rng, 0.01, 0.06), z + bh), skip=("-z", "-y"))
                x += bw + U(rng, 0.0, 0.25)
        if bprims:
            parts.append(Part(bprims, "art"))
    return Group(w, d, h, [Item(kind, parts, "bookshelf" if kind == "bookshelf" else "shelf")], solid=has_back)


# ---------------------------------------------------------------- kitchen and bathroom
def _sink_item(rng, top, y, name="sink", w=None, d=None, back=None):
    """Basin (open tray) with its rim at ``top`` centred at (0, y), and a faucet behind it that
    stays in front of ``back`` (the group's back plane)."""
    w = w or U(rng, 0.4, 0.6)
    d = d or U(rng, 0.35, 0.45)
    basin = tray((-w / 2, y - d / 2, top - U(rng, 0.14, 0.2)), (w / 2, y + d / 2, top + 0.015), 0.02)
    fy = y - d / 2 - 0.05 if back is None else max(y - d / 2 - 0.05, back + 0.02)
    faucet = [Frustum((0, fy), top, top + 0.25, 0.015, 0.015)] + box((-0.015, fy, top + 0.22), (0.015, fy + 0.15, top + 0.25))
    return Item("sink", [Part(basin, "ceramic"), Part(faucet, "metal")], name), (w, d)


def build_counter(rng, w=None, sink=True):
    """Kitchen run: base cabinets (cabinet), worktop (counter) and an inset sink (sink)."""
    w = w or U(rng, 1.6, 3.0)
    d, h, t = U(rng, 0.58, 0.65), U(rng, 0.86, 0.92), U(rng, 0.03, 0.045)
    body, fronts, handles = carcass(rng, w, d - 0.03, h - t, int(max(2, w // 0.5)))
    cab_mat = "wood" if rng.random() < 0.5 else "paint"
    for prims in (body, fronts, handles):  # base sits 3 cm back from the worktop edge
        for p in prims:
            p.origin = p.origin + np.array([0.0, -0.015, 0.0])
    items = [Item("cabinet", [Part(body + fronts, cab_mat), Part(handles, "metal")], "kitchen cabinet")]
    holes = []
    sink_item = None
    if sink:
        sx = U(rng, -w / 2 + 0.5, w / 2 - 0.5)
        sink_item, (sw, sd) = _sink_item(rng, h, 0.02, "sink", back=-d / 2)
        sink_item.offset = (sx, 0.0, 0.0)
        holes = [((sx - sw / 2 + w / 2) / w, (sx + sw / 2 + w / 2) / w, (0.02 - sd / 2 + d / 2) / d, (0.02 + sd / 2 + d / 2) / d)]
    top_face = Rect((-w / 2, -d / 2, h), (w, 0, 0), (0, d, 0), holes=holes)
    slab = [top_face] + box((-w / 2, -d / 2, h - t), (w / 2, d / 2, h), skip=("+z", "-y"))
    items.insert(1, Item("counter", [Part(slab, "paint" if rng.random() < 0.5 else "wood")], "kitchen counter"))
    if sink_item is not None:
        items.append(sink_item)
    return Group(w, d, h + 0.25, items, solid=True)


def build_vanity(rng, mirror=True):
    """Bathroom sink: a vanity cabinet with worktop and basin, or a pedestal sink; mirror above."""
    items = []
    if rng.random() < 0.6:
        w, d, h = U(rng, 0.6, 1.2), U(rng, 0.45, 0.55), U(rng, 0.8, 0.88)
        body, fronts, handles = carcass(rng, w, d, h - 0.03, 2)
        items.append(Item("cabinet", [Part(body + fronts, "wood" if rng.random() < 0.5 else "paint"), Part(handles, "metal")], "bathroom cabinet"))
        sink, (sw, sd) = _sink_item(rng, h, 0.03, "sink", w=min(0.5, w - 0.1), back=-d / 2)
        holes = [((w - sw) / 2 / w, (w + sw) / 2 / w, (0.03 - sd / 2 + d / 2) / d, (0.03 + sd / 2 + d / 2) / d)]
        slab = [Rect((-w / 2, -d / 2, h), (w, 0, 0), (0, d, 0), holes=holes)] + box((-w / 2, -d / 2, h - 0.03), (w / 2, d / 2, h), skip=("+z", "-y"))
        items.append(Item("counter", [Part(slab, "ceramic")], "bathroom counter"))
        items.append(sink)
    else:
        w, d, h = U(rng, 0.5, 0.65), U(rng, 0.42, 0.5), U(rng, 0.8, 0.88)
        sink, _ = _sink_item(rng, h, 0.04, "sink", w=w, d=d - 0.08, back=-d / 2)
        sink.parts.append(Part([Frustum((0, -0.05), 0, h - 0.15, 0.1, 0.07)], "ceramic"))
        items.append(sink)
    top = h + 0.3
    if mirror:
        mw, mh = min(w, U(rng, 0.5, 0.9)), U(rng, 0.6, 0.9)
        z0 = h + U(rng, 0.25, 0.4)
        items.append(_mirror_item(rng, mw, mh, z0, -d / 2))
        top = z0 + mh
    return Group(w, d, top, items, solid=True)


def build_refrigerator(rng):
    w, d, h = U(rng, 0.6, 0.9), U(rng, 0.62, 0.75), U(rng, 1.6, 1.95)
    split = U(rng, 0.55, 0.7) * h
    body = box((-w / 2, -d / 2, 0), (w / 2, d / 2 - 0.04, h), skip=("-z", "-y"))
    doors = box((-w / 2, d / 2 - 0.04, 0.02), (w / 2, d / 2, split - 0.01), skip=("-y",))
    doors += box((-w / 2, d / 2 - 0.04, split + 0.01), (w / 2, d / 2, h - 0.01), skip=("-y",))
    hx = w / 2 - 0.06
    handles = box((hx - 0.015, d / 2, split - 0.5), (hx + 0.015, d / 2 + 0.04, split - 0.1), skip=("-y",))
    handles += box((hx - 0.015, d / 2, split + 0.1), (hx + 0.015, d / 2 + 0.04, split + 0.4), skip=("-y",))
    mat = "metal" if rng.random() < 0.5 else "paint"
    return Group(w, d, h, [Item("refrigerator", [Part(body + doors, mat), Part(handles, "metal")], "refrigerator")], solid=True)


def build_stove(rng):
    w, d, h = U(rng, 0.55, 0.8), U(rng, 0.58, 0.65), U(rng, 0.86, 0.92)
    body = box((-w / 2, -d / 2, 0), (w / 2, d / 2, h), skip=("-z", "-y"))
    oven = [Rect((-w / 2 + 0.06, d / 2 + 0.003, 0.15), (w - 0.12, 0, 0), (0, 0, h - 0.35))]
    hobs = [Disk((x, y), h + 0.005, 0.09) for x in (-w / 4, w / 4) for y in (-d / 4, d / 4)]
    return Group(w, d, h, [Item("stove", [Part(body, "metal" if rng.random() < 0.6 else "paint"), Part(oven + hobs, "dark")], "stove")], solid=True)


def build_toilet(rng):
    w, d = U(rng, 0.38, 0.45), U(rng, 0.65, 0.75)
    tank_d, tank_h = U(rng, 0.16, 0.22), U(rng, 0.3, 0.4)
    tank = box((-w / 2, -d / 2, 0.4), (w / 2, -d / 2 + tank_d, 0.4 + tank_h), skip=("-y",))
    cy = -d / 2 + tank_d + (d - tank_d) / 2
    bowl = [Frustum((0, cy), 0.0, 0.38, U(rng, 0.12, 0.15), U(rng, 0.18, 0.21))]
    bowl += [Frustum((0, cy), 0.18, 0.38, 0.08, 0.15, inward=True)]
    seat = box((-0.19, cy - 0.22, 0.38), (0.19, cy + 0.2, 0.41))
    return Group(w, d, 0.4 + tank_h, [Item("toilet", [Part(tank + bowl + seat, "ceramic")], "toilet")])


def build_bathtub(rng, curtain=True):
    """Bathtub along the wall; the shower curtain hangs along its open long side."""
    w, d, h = U(rng, 1.5, 1.8), U(rng, 0.7, 0.8), U(rng, 0.5, 0.6)
    tub = tray((-w / 2, -d / 2, 0.0), (w / 2, d / 2, h), U(rng, 0.06, 0.1), inner_depth=h - 0.12)
    items = [Item("bathtub", [Part(tub, "ceramic")], "bathtub")]
    top = h
    if curtain:
        zc0, zc1 = h + U(rng, 0.1, 0.3), U(rng, 1.9, 2.05)
        folds = U(rng, 4, 9)
        sheet = Wavy((-w / 2, d / 2 - 0.04, zc0), w * U(rng, 0.6, 1.0), zc1 - zc0, U(rng, 0.02, 0.05), folds, U(rng, 0, 6.28))
        items.append(Item("shower_curtain", [Part([sheet], "fabric")], "shower curtain"))
        top = zc1
    return Group(w, d, top, items, solid=True)


# ---------------------------------------------------------------- living room bits
def _tv_item(rng, z0, y, foot=True, w=None):
    w = w or U(rng, 0.8, 1.4)
    h = w * 0.58
    zb = z0 + (0.1 if foot else 0.0)
    screen = box((-w / 2, y, zb), (w / 2, y + U(rng, 0.03, 0.06), zb + h), skip=() if foot else ("-y",))
    parts = [Part(screen, "dark")]
    if foot:
        parts.append(Part(box((-0.03, y - 0.05, z0), (0.03, y, zb + 0.1)) + box((-0.2, y - 0.12, z0), (0.2, y + 0.1, z0 + 0.02), skip=("-z",)), "metal"))
    return Item("tv", parts, "tv")


def build_tv_stand(rng, tv=True):
    w, d, h = U(rng, 1.0, 1.8), U(rng, 0.38, 0.5), U(rng, 0.4, 0.6)
    body, fronts, handles = carcass(rng, w, d, h, int(rng.integers(2, 4)))
    items = [Item("tv_stand", [Part(body + fronts, "wood" if rng.random() < 0.6 else "dark"), Part(handles, "metal")], "tv stand")]
    top = h
    if tv:
        items.append(_tv_item(rng, h, -d / 2 + 0.14, foot=True, w=min(w, U(rng, 0.8, 1.4))))
        top = item_top(items[-1])
    return Group(w, d, top, items, solid=True)


def build_ottoman(rng):
    if rng.random() < 0.5:
        w = d = U(rng, 0.4, 0.7)
        prims = box((-w / 2, -d / 2, 0), (w / 2, d / 2, U(rng, 0.35, 0.45)), skip=("-z",))
    else:
        r, h = U(rng, 0.2, 0.35), U(rng, 0.35, 0.45)
        w = d = 2 * r
        prims = [Frustum((0, 0), 0, h, r, r), Disk((0, 0), h, r)]
    return Group(w, d, 0.45, [Item("ottoman", [Part(prims, "fabric")], "ottoman")])


def build_plant(rng):
    r, h = U(rng, 0.1, 0.22), U(rng, 0.2, 0.45)
    pot = [Frustum((0, 0), 0, h, r * 0.75, r), Disk((0, 0), h - 0.03, r * 0.95)]
    fr = (U(rng, 0.2, 0.4), U(rng, 0.2, 0.4), U(rng, 0.25, 0.6))
    leaves = [Ellipsoid((0, 0, h + fr[2] * 0.9), fr)]
    w = 2 * max(r, fr[0], fr[1])
    return Group(w, w, h + 2 * fr[2], [Item("plant", [Part(pot, "ceramic"), Part(leaves, "plant")], "plant")])


def build_trash_can(rng):
    r, h = U(rng, 0.12, 0.2), U(rng, 0.3, 0.6)
    if rng.random() < 0.5:
        prims = [Frustum((0, 0), 0, h, r * 0.85, r), Frustum((0, 0), 0.02, h, r * 0.8, r * 0.95, inward=True), Disk((0, 0), 0.02, r * 0.8)]
        w = 2 * r
    else:
        w = 2 * r
        prims = box((-r, -r, 0), (r, r, h), skip=("-z", "+z"))
        inner = box((-r + 0.01, -r + 0.01, 0.02), (r - 0.01, r - 0.01, h), skip=("+z",))
        for f in inner:
            f.normal = -f.normal
        prims += inner
    return Group(w, w, h, [Item("trash_can", [Part(prims, "metal" if rng.random() < 0.4 else "paint")], "trash can")])


def build_box(rng, kind="box"):
    w, d, h = U(rng, 0.2, 0.6), U(rng, 0.2, 0.5), U(rng, 0.15, 0.5)
    if kind == "unlabelled" and rng.random() < 0.5:
        r = (w / 2, d / 2, h / 2)
        return Group(w, d, h, [Item(kind, [Part([Ellipsoid((0, 0, h / 2), r)], "fabric")], None)])
    mat = "wood" if rng.random() < 0.5 else ("paint" if rng.random() < 0.5 else "dark")
    return Group(w, d, h, [Item(kind, [Part(box((-w / 2, -d / 2, 0), (w / 2, d / 2, h), skip=("-z",)), mat)], "box" if kind == "box" else None)])


# ---------------------------------------------------------------- wall-mounted (built from z 0; rooms.py lifts them)
def _mirror_item(rng, w, h, z0, y):
    frame = box((-w / 2 - 0.03, y, z0 - 0.03), (w / 2 + 0.03, y + 0.02, z0 + h + 0.03), skip=("-y",))
    glass = [Rect((-w / 2, y + 0.021, z0), (0, 0, h), (w, 0, 0))]
    return Item("mirror", [Part(frame, "wood" if rng.random() < 0.5 else "metal"), Part(glass, "glass")], "mirror")


def build_mirror(rng):
    w, h = U(rng, 0.4, 0.9), U(rng, 0.6, 1.4)
    return Group(w + 0.06, 0.03, h + 0.06, [_mirror_item(rng, w, h, 0.03, -0.015)])


def build_picture(rng):
    w, h = U(rng, 0.3, 1.2), U(rng, 0.3, 0.9)
    t = U(rng, 0.015, 0.05)
    frame = box((-w / 2, -t / 2, 0), (w / 2, t / 2, h), skip=("-y",))
    canvas = [Rect((-w / 2 + 0.03, t / 2 + 0.002, 0.03), (0, 0, h - 0.06), (w - 0.06, 0, 0))]
    name = "picture" if rng.random() < 0.8 else "poster"
    return Group(w, t, h, [Item("picture", [Part(frame, "wood" if rng.random() < 0.6 else "dark"), Part(canvas, "art")], name)])


def build_whiteboard(rng):
    w, h = U(rng, 1.2, 2.4), U(rng, 0.9, 1.2)
    frame = box((-w / 2, -0.01, 0), (w / 2, 0.01, h), skip=("-y",))
    surface = [Rect((-w / 2 + 0.02, 0.012, 0.02), (0, 0, h - 0.04), (w - 0.04, 0, 0))]
    ledge = box((-w / 2, 0.01, 0), (w / 2, 0.07, 0.03))
    return Group(w, 0.08, h, [Item("whiteboard", [Part(frame + ledge, "metal"), Part(surface, "paint")], "whiteboard")])


def build_wall_tv(rng):
    return Group(1.2, 0.06, 0.75, [_tv_item(rng, 0.0, -0.03, foot=False, w=U(rng, 0.9, 1.4))])


def build_curtain(rng, w, h):
    """One curtain panel of width w and height h (hung in front of a window)."""
    sheet = Wavy((-w / 2, -0.0, 0.0), w, h, U(rng, 0.02, 0.05), max(2.0, w / U(rng, 0.12, 0.25)), U(rng, 0, 6.28))
    return Group(w, 0.12, h, [Item("curtain", [Part([sheet], "fabric")], "curtain")])


# ---------------------------------------------------------------- structure
def build_column(rng, h):
    w, d = U(rng, 0.3, 0.7), U(rng, 0.25, 0.6)
    return Group(w, d, h, [Item("column", [Part(box((-w / 2, -d / 2, 0), (w / 2, d / 2, h), skip=("-z", "+z", "-y")), "paint")], "column")], solid=True)


BUILDERS = {
    "table": build_table, "desk": build_desk, "sofa": build_sofa, "bed": build_bed,
    "cabinet": build_cabinet, "dresser": build_dresser, "nightstand": build_nightstand,
    "bookshelf": build_bookshelf, "counter": build_counter, "vanity": build_vanity,
    "refrigerator": build_refrigerator, "stove": build_stove, "toilet": build_toilet,
    "bathtub": build_bathtub, "tv_stand": build_tv_stand, "ottoman": build_ottoman,
    "plant": build_plant, "trash_can": build_trash_can, "box": build_box, "mirror": build_mirror,
    "picture": build_picture, "whiteboard": build_whiteboard, "wall_tv": build_wall_tv,
    "floor_lamp": build_floor_lamp,
}
