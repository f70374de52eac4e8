"""Write a synthetic dataset in the exact preprocessed on-disk layout of the imitated dataset.

Layouts (spec 20-data §1):
- scannet:      out/{train,val}/sceneXXXX_00/{coord,color,normal,segment20,segment200,instance}.npy
                (segment20/segment200/instance int64 [N]). Like real ScanNet meshes the rooms are
                not axis-aligned: each is turned by a random yaw about z and shifted (``align=False``).
- s3dis:        out/Area_{1..6}/<roomtype>_<k>/{coord,color,normal,segment,instance}.npy
                (segment/instance int16 [N,1]; instance = index of the object's annotation file in
                sorted file-name order, as the reference preprocessing numbers them). Val = Area_5.
- structured3d: out/{train,val}/scene_XXXXX/room_<id>/{coord,color,normal,segment}.npy
                (segment int16 [N,1], no instance). Train scenes are numbered from 0, val scenes from
                3000 (the real split boundary).

Split: ``val = max(1, round(scenes · val_ratio))`` scenes (default ratio 0.2; 24 → 19 train / 5 val).
Room types cycle through ``rooms.SCHEDULES[style]`` separately in each split; the first
``CORE_LEN[style]`` rooms of the cycle contain every class of the dataset through mandatory items,
so any split with that many rooms holds every class (the default 24 scenes gives val 5 rooms for
scannet, 5 for s3dis, 10 for structured3d with 2 rooms per scene).
"""
from __future__ import annotations

import json
import os
import shutil
from collections import Counter

import numpy as np

from pointlab.data.synth.classes import DATASET_CLASSES, S3DIS_CLASSES, check_style
from pointlab.data.synth.rooms import S3DIS_ROOM_NAMES, SCHEDULES, plan_room, sample_plan

DEFAULT_SCENES = 24
S3DIS_TRAIN_AREAS = ("Area_1", "Area_2", "Area_3", "Area_4", "Area_6")


def split_sizes(scenes: int, val_ratio: float = 0.2) -> tuple[int, int]:
    """(train, val) scene counts: at least one of each."""
    if scenes < 2:
        raise ValueError(f"scenes={scenes}: need at least 2 scenes (one train, one val)")
    if not 0.0 < val_ratio < 1.0:
        raise ValueError(f"val_ratio={val_ratio} must lie in (0, 1)")
    n_val = min(scenes - 1, max(1, int(round(scenes * val_ratio))))
    return scenes - n_val, n_val


def _room_rng(seed: int, split_id: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), split_id, index]))


def schedule(style: str, scenes: int = DEFAULT_SCENES, seed: int = 0, val_ratio: float = 0.2,
             rooms_per_scene: int = 2) -> list[dict]:
    """The rooms a dataset consists of, without generating them.

    Returns a list of dicts: ``split`` ("train"/"val"), ``path`` (room folder relative to the output
    root), ``room_type``, ``split_id`` and ``index`` (together with ``seed`` they fix the room's RNG).
    """
    check_style(style)
    n_train, n_val = split_sizes(scenes, val_ratio)
    cycle = SCHEDULES[style]
    rooms = []
    s3dis_counter = Counter()
    for split_id, (split, n) in enumerate((("train", n_train), ("val", n_val))):
        per_scene = rooms_per_scene if style == "structured3d" else 1
        for i in range(n):
            for r in range(per_scene):
                j = i * per_scene + r
                room_type = cycle[j % len(cycle)]
                if style == "scannet":
                    number = i if split == "train" else n_train + i
                    path = os.path.join(split, f"scene{number:04d}_00")
                elif style == "s3dis":
                    area = "Area_5" if split == "val" else S3DIS_TRAIN_AREAS[i % len(S3DIS_TRAIN_AREAS)]
                    name = S3DIS_ROOM_NAMES[room_type]
                    s3dis_counter[(area, name)] += 1
                    path = os.path.join(area, f"{name}_{s3dis_counter[(area, name)]}")
                else:
                    number = i if split == "train" else 3000 + i
                    path = os.path.join(split, f"scene_{number:05d}", f"room_{r + 1}")
                rooms.append(dict(split=split, path=path, room_type=room_type, split_id=split_id, index=j))
    return rooms


def planned_labels(style: str, scenes: int = DEFAULT_SCENES, seed: int = 0, val_ratio: float = 0.2,
                   rooms_per_scene: int = 2) -> dict[str, set]:
    """Per split, the set of dataset labels the written dataset will contain (plans only; fast)."""
    out = {"train": set(), "val": set()}
    for room in schedule(style, scenes, seed, val_ratio, rooms_per_scene):
        plan = plan_room(style, _room_rng(seed, room["split_id"], room["index"]), None, room["room_type"])
        out[room["split"]] |= plan.labels()
    return out


def _s3dis_instance(kind_labels: np.ndarray, instance: np.ndarray) -> np.ndarray:
    """Renumber instances the way S3DIS preprocessing does: the index of the object's annotation
    file ``<class>_<k>.txt`` in sorted file-name order (k counts objects of a class from 1)."""
    ids = np.unique(instance[instance >= 0])
    if len(ids) == 0:
        return instance.copy()
    first = np.array([np.flatnonzero(instance == i)[0] for i in ids])  # per object, not per point
    cls = kind_labels[first]
    per_class = Counter()
    names = []
    for c in cls:
        per_class[c] += 1
        names.append(f"{S3DIS_CLASSES[c]}_{per_class[c]}.txt")
    rank = np.empty(len(ids), dtype=np.int64)
    rank[np.argsort(np.array(names), kind="stable")] = np.arange(len(ids))
    lut = np.full(int(ids.max()) + 2, -1, dtype=np.int64)
    lut[ids + 1] = rank
    return lut[instance + 1]


def write_room(style: str, room_dir: str, data: dict) -> None:
    """Write one generated room's arrays with the dtypes/shapes of the imitated dataset."""
    os.makedirs(room_dir, exist_ok=True)
    np.save(os.path.join(room_dir, "coord.npy"), data["coord"].astype(np.float32))
    np.save(os.path.join(room_dir, "color.npy"), data["color"].astype(np.uint8))
    np.save(os.path.join(room_dir, "normal.npy"), data["normal"].astype(np.float32))
    if style == "scannet":
        np.save(os.path.join(room_dir, "segment20.npy"), data["segment"].astype(np.int64))
        np.save(os.path.join(room_dir, "segment200.npy"), data["segment200"].astype(np.int64))
        np.save(os.path.join(room_dir, "instance.npy"), data["instance"].astype(np.int64))
    elif style == "s3dis":
        inst = _s3dis_instance(data["segment"], data["instance"])
        np.save(os.path.join(room_dir, "segment.npy"), data["segment"].astype(np.int16).reshape(-1, 1))
        np.save(os.path.join(room_dir, "instance.npy"), inst.astype(np.int16).reshape(-1, 1))
    else:
        np.save(os.path.join(room_dir, "segment.npy"), data["segment"].astype(np.int16).reshape(-1, 1))


def _unalign(data: dict, rng: np.random.Generator) -> None:
    """Turn a room by a random yaw about z and shift it (raw ScanNet coordinates are not aligned)."""
    yaw = rng.uniform(0, 2 * np.pi)
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=np.float32)
    shift = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), 0.0], dtype=np.float32)
    data["coord"] = (data["coord"] @ rot.T + shift).astype(np.float32)
    data["normal"] = (data["normal"] @ rot.T).astype(np.float32)


def _clear_old(style: str, out_dir: str, overwrite: bool) -> None:
    """Refuse to mix with an earlier dataset (stale rooms would silently join the splits), or
    delete the split folders this writer owns when ``overwrite``."""
    roots = ("Area_1", "Area_2", "Area_3", "Area_4", "Area_5", "Area_6") if style == "s3dis" else ("train", "val")
    existing = [os.path.join(out_dir, r) for r in roots if os.path.exists(os.path.join(out_dir, r))]
    if not existing:
        return
    if not overwrite:
        raise FileExistsError(f"{existing[0]} already exists: old rooms would mix with the new ones. Choose another "
                              f"--out, delete it, or pass overwrite=True (CLI: --overwrite) to replace "
                              f"{', '.join(os.path.basename(e) for e in existing)} in {out_dir}")
    for path in existing:
        shutil.rmtree(path)


def write_dataset(style: str, out_dir: str, scenes: int = DEFAULT_SCENES, seed: int = 0, density: float | None = None,
                  val_ratio: float = 0.2, rooms_per_scene: int = 2, align: bool | None = None, overwrite: bool = False,
                  progress=None) -> dict:
    """Generate and write a whole dataset. Returns a summary dict:

    ``style``, ``out_dir``, ``scenes`` {split: n}, ``rooms`` {split: n}, ``points`` {split: [min,
    mean, max] per room}, ``classes`` {split: [class names present]}, ``missing`` {split: [class names
    absent]}, ``room_types`` {split: {type: n}}, ``class_names`` (the dataset's list).
    ``align`` (default: False for scannet, True otherwise) keeps rooms axis-aligned with the floor
    corner at the origin. Existing split folders raise FileExistsError unless ``overwrite`` (then
    they are deleted first). ``progress`` is an optional callable(done, total).
    """
    check_style(style)
    if align is None:
        align = style != "scannet"
    rooms = schedule(style, scenes, seed, val_ratio, rooms_per_scene)
    _clear_old(style, out_dir, overwrite)
    n_train, n_val = split_sizes(scenes, val_ratio)
    names = DATASET_CLASSES[style]
    points = {"train": [], "val": []}
    present = {"train": set(), "val": set()}
    types = {"train": Counter(), "val": Counter()}
    for done, room in enumerate(rooms):
        rng = _room_rng(seed, room["split_id"], room["index"])
        plan = plan_room(style, rng, None, room["room_type"])
        data = sample_plan(plan, rng, density)
        if not align:
            _unalign(data, rng)
        write_room(style, os.path.join(out_dir, room["path"]), data)
        split = room["split"]
        points[split].append(len(data["coord"]))
        present[split] |= set(np.unique(data["segment"][data["segment"] >= 0]).tolist())
        types[split][room["room_type"]] += 1
        if progress is not None:
            progress(done + 1, len(rooms))
    summary = {
        "style": style,
        "out_dir": str(out_dir),
        "seed": int(seed),
        "val_ratio": float(val_ratio),
        "scenes": {"train": n_train, "val": n_val},
        "rooms": {s: len(points[s]) for s in points},
        "points": {s: [int(min(p)), int(np.mean(p)), int(max(p))] for s, p in points.items() if p},
        "classes": {s: [names[i] for i in sorted(present[s])] for s in present},
        "missing": {s: [n for i, n in enumerate(names) if i not in present[s]] for s in present},
        "room_types": {s: dict(types[s]) for s in types},
        "class_names": list(names),
        "val_split": "Area_5" if style == "s3dis" else "val",
    }
    with open(os.path.join(out_dir, "synth_summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary
