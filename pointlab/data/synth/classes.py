"""Class lists of the imitated datasets and the label of every generated object kind.

Every object the generator builds has a *kind* (``"chair"``, ``"nightstand"``, ...). A kind carries
its NYU40 id, its ScanNet-200 name and its S3DIS name, exactly the route the real preprocessing
takes (raw category -> NYU40 -> benchmark subset). So the ScanNet-20 and Structured3D-25 labels
follow from the official NYU40 subsets, and kinds outside a subset become −1 (ignore), as in the
real data (e.g. a nightstand is ignored in ScanNet-20 but is class 19 in Structured3D).
"""
from __future__ import annotations

import numpy as np

# ScanNet v2, 20 benchmark classes (config order; "refridgerator" sic) and their NYU40 ids.
SCANNET20_CLASSES = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
    "picture", "counter", "desk", "curtain", "refridgerator", "shower curtain", "toilet", "sink",
    "bathtub", "otherfurniture",
)
SCANNET20_NYU40 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39)

# ScanNet-200 benchmark classes (official CLASS_LABELS_200 order; the index is the label).
SCANNET200_CLASSES = (
    "wall", "chair", "floor", "table", "door", "couch", "cabinet", "shelf", "desk", "office chair",
    "bed", "pillow", "sink", "picture", "window", "toilet", "bookshelf", "monitor", "curtain", "book",
    "armchair", "coffee table", "box", "refrigerator", "lamp", "kitchen cabinet", "towel", "clothes",
    "tv", "nightstand", "counter", "dresser", "stool", "cushion", "plant", "ceiling", "bathtub",
    "end table", "dining table", "keyboard", "bag", "backpack", "toilet paper", "printer", "tv stand",
    "whiteboard", "blanket", "shower curtain", "trash can", "closet", "stairs", "microwave", "stove",
    "shoe", "computer tower", "bottle", "bin", "ottoman", "bench", "board", "washing machine",
    "mirror", "copier", "basket", "sofa chair", "file cabinet", "fan", "laptop", "shower", "paper",
    "person", "paper towel dispenser", "oven", "blinds", "rack", "plate", "blackboard", "piano",
    "suitcase", "rail", "radiator", "recycling bin", "container", "wardrobe", "soap dispenser",
    "telephone", "bucket", "clock", "stand", "light", "laundry basket", "pipe", "clothes dryer",
    "guitar", "toilet paper holder", "seat", "speaker", "column", "bicycle", "ladder",
    "bathroom stall", "shower wall", "cup", "jacket", "storage bin", "coffee maker", "dishwasher",
    "paper towel roll", "machine", "mat", "windowsill", "bar", "toaster", "bulletin board",
    "ironing board", "fireplace", "soap dish", "kitchen counter", "doorframe",
    "toilet paper dispenser", "mini fridge", "fire extinguisher", "ball", "hat",
    "shower curtain rod", "water cooler", "paper cutter", "tray", "shower door", "pillar", "ledge",
    "toaster oven", "mouse", "toilet seat cover dispenser", "furniture", "cart", "storage container",
    "scale", "tissue box", "light switch", "crate", "power outlet", "decoration", "sign", "projector",
    "closet door", "vacuum cleaner", "candle", "plunger", "stuffed animal", "headphones", "dish rack",
    "broom", "guitar case", "range hood", "dustpan", "hair dryer", "water bottle", "handicap bar",
    "purse", "vent", "shower floor", "water pitcher", "mailbox", "bowl", "paper bag", "alarm clock",
    "music stand", "projector screen", "divider", "laundry detergent", "bathroom counter", "object",
    "bathroom vanity", "closet wall", "laundry hamper", "bathroom stall door", "ceiling light",
    "trash bin", "dumbbell", "stair rail", "tube", "bathroom cabinet", "cd case", "closet rod",
    "coffee kettle", "structure", "shower head", "keyboard piano", "case of water bottles",
    "coat rack", "storage organizer", "folded chair", "fire alarm", "power strip", "calendar",
    "poster", "potted plant", "luggage", "mattress",
)

# S3DIS, 13 classes (unknown object names go to clutter).
S3DIS_CLASSES = (
    "ceiling", "floor", "wall", "beam", "column", "window", "door", "table", "chair", "sofa",
    "bookcase", "board", "clutter",
)

# Structured3D, 25 kept NYU40 ids -> 0..24.
STRUCTURED3D_CLASSES = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "picture", "desk",
    "shelves", "curtain", "dresser", "pillow", "mirror", "ceiling", "refrigerator", "television",
    "nightstand", "sink", "lamp", "otherstructure", "otherfurniture", "otherprop",
)
STRUCTURED3D_NYU40 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 14, 15, 16, 17, 18, 19, 22, 24, 25, 32, 34, 35, 38, 39, 40)

# kind -> (NYU40 id, default ScanNet-200 name, S3DIS name). NYU40 id 0 = unannotated.
# Builders may give a finer ScanNet-200 name of the same NYU40 class ("office chair", "coffee table").
KINDS = {
    "wall": (1, "wall", "wall"),
    "floor": (2, "floor", "floor"),
    "ceiling": (22, "ceiling", "ceiling"),
    "door": (8, "door", "door"),
    "window": (9, "window", "window"),
    "beam": (38, "structure", "beam"),
    "column": (38, "column", "column"),
    "bed": (4, "bed", "clutter"),
    "chair": (5, "chair", "chair"),
    "sofa": (6, "couch", "sofa"),
    "table": (7, "table", "table"),
    "desk": (14, "desk", "table"),
    "counter": (12, "counter", "table"),
    "cabinet": (3, "cabinet", "clutter"),
    "bookshelf": (10, "bookshelf", "bookcase"),
    "shelf": (15, "shelf", "bookcase"),
    "dresser": (17, "dresser", "clutter"),
    "nightstand": (32, "nightstand", "clutter"),
    "refrigerator": (24, "refrigerator", "clutter"),
    "toilet": (33, "toilet", "clutter"),
    "sink": (34, "sink", "clutter"),
    "bathtub": (36, "bathtub", "clutter"),
    "curtain": (16, "curtain", "clutter"),
    "shower_curtain": (28, "shower curtain", "clutter"),
    "picture": (11, "picture", "clutter"),
    "whiteboard": (30, "whiteboard", "board"),
    "mirror": (19, "mirror", "clutter"),
    "tv": (25, "tv", "clutter"),
    "pillow": (18, "pillow", "clutter"),
    "lamp": (35, "lamp", "clutter"),
    "monitor": (40, "monitor", "clutter"),
    "box": (29, "box", "clutter"),
    "plant": (40, "plant", "clutter"),
    "trash_can": (39, "trash can", "clutter"),
    "ottoman": (39, "ottoman", "clutter"),
    "tv_stand": (39, "tv stand", "clutter"),
    "stove": (39, "stove", "clutter"),
    "unlabelled": (0, None, "clutter"),
}
KIND_NAMES = tuple(KINDS)

STYLES = ("scannet", "s3dis", "structured3d")

DATASET_CLASSES = {
    "scannet": SCANNET20_CLASSES,
    "s3dis": S3DIS_CLASSES,
    "structured3d": STRUCTURED3D_CLASSES,
}

# ScanNet-200 names this generator can emit (builders' finer names included); documented subset.
SCANNET200_USED = (
    "wall", "floor", "ceiling", "door", "window", "structure", "column", "bed", "chair",
    "office chair", "armchair", "couch", "table", "coffee table", "dining table", "end table", "desk",
    "counter", "kitchen counter", "bathroom counter", "cabinet", "kitchen cabinet", "file cabinet",
    "wardrobe", "bathroom cabinet", "bookshelf", "shelf", "dresser", "nightstand", "refrigerator",
    "toilet", "sink", "bathtub", "curtain", "shower curtain", "picture", "poster", "whiteboard",
    "mirror", "tv", "pillow", "lamp", "monitor", "box", "plant", "trash can", "ottoman", "tv stand",
    "stove", "stool",
)


def check_style(style: str) -> str:
    """Return ``style`` or raise a ValueError naming the valid styles."""
    if style not in STYLES:
        raise ValueError(f"unknown synthetic style {style!r}; choose one of {', '.join(STYLES)}")
    return style


def _nyu40_lookup(valid_ids) -> np.ndarray:
    table = np.full(41, -1, dtype=np.int64)
    table[np.asarray(valid_ids)] = np.arange(len(valid_ids))
    return table


_NYU_TO_20 = _nyu40_lookup(SCANNET20_NYU40)
_NYU_TO_25 = _nyu40_lookup(STRUCTURED3D_NYU40)
_S200_INDEX = {name: i for i, name in enumerate(SCANNET200_CLASSES)}
_S3DIS_INDEX = {name: i for i, name in enumerate(S3DIS_CLASSES)}


def kind_label(kind: str, style: str) -> int:
    """Label of an object kind in ``style``'s dataset (−1 = ignore)."""
    nyu40, _, s3dis_name = KINDS[kind]
    if style == "s3dis":
        return _S3DIS_INDEX[s3dis_name]
    if style == "scannet":
        return int(_NYU_TO_20[nyu40]) if nyu40 > 0 else -1
    if style == "structured3d":
        return int(_NYU_TO_25[nyu40]) if nyu40 > 0 else -1
    check_style(style)
    raise AssertionError("unreachable")


def scannet200_label(kind: str, name200: str | None = None) -> int:
    """ScanNet-200 label of a kind, or of the builder's finer ``name200`` (−1 = unannotated)."""
    name = name200 if name200 is not None else KINDS[kind][1]
    if name is None:
        return -1
    if name not in _S200_INDEX:
        raise KeyError(f"{name!r} is not a ScanNet-200 class name (kind {kind!r})")
    return _S200_INDEX[name]


def kind_label_table(style: str) -> np.ndarray:
    """int64 [len(KIND_NAMES)]: dataset label of every kind index for ``style``."""
    check_style(style)
    return np.array([kind_label(k, style) for k in KIND_NAMES], dtype=np.int64)
