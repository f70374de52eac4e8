"""Built-in synthetic indoor scenes in the preprocessed layouts of ScanNet, S3DIS and Structured3D.

``generate_room(style, seed, size, room_type)`` returns one room as numpy arrays;
``write_dataset(style, out_dir, scenes, seed)`` writes a whole dataset to disk.
"""
from pointlab.data.synth.classes import DATASET_CLASSES, SCANNET200_CLASSES, SCANNET200_USED, STYLES
from pointlab.data.synth.rooms import ROOM_TYPES, generate_room, plan_room
from pointlab.data.synth.writer import DEFAULT_SCENES, schedule, write_dataset

__all__ = [
    "generate_room", "plan_room", "write_dataset", "schedule", "ROOM_TYPES", "STYLES", "DATASET_CLASSES",
    "SCANNET200_CLASSES", "SCANNET200_USED", "DEFAULT_SCENES",
]
