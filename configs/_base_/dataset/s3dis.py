# S3DIS, 13 classes (label order 0..12).
class_names = [
    "ceiling",
    "floor",
    "wall",
    "beam",
    "column",
    "window",
    "door",
    "table",
    "chair",
    "sofa",
    "bookcase",
    "board",
    "clutter",
]

data = dict(
    names=class_names,
)
