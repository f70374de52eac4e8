"""The shipped reference-format configs load and carry the reference's values (spec/50-params.md §1)."""
from pathlib import Path

import pytest

from pointlab.config import RUNTIME_DEFAULTS, Config, default_config_parser

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
SPUNET = {
    "scannet": CONFIGS / "scannet" / "semseg-spunet-v1m1-0-base.py",
    "s3dis": CONFIGS / "s3dis" / "semseg-spunet-v1m1-0-base.py",
    "structured3d": CONFIGS / "structured3d" / "semseg-spunet-v1m1-0-base.py",
}


def test_default_runtime_file_matches_runtime_defaults():
    cfg = Config.fromfile(CONFIGS / "_base_" / "default_runtime.py")
    assert cfg.to_dict() == RUNTIME_DEFAULTS
    assert list(cfg) == list(RUNTIME_DEFAULTS)
    assert cfg.enable_wandb is False  # pointlab's one deliberate difference
    assert [h["type"] for h in cfg.hooks] == [
        "CheckpointLoader", "ModelHook", "IterationTimer", "InformationWriter",
        "SemSegEvaluator", "CheckpointSaver", "PreciseEvaluator",
    ]
    assert cfg.train.type == "DefaultTrainer" and cfg.test.to_dict() == dict(type="SemSegTester", verbose=True)
    assert (cfg.epoch, cfg.eval_epoch, cfg.num_worker, cfg.batch_size, cfg.mix_prob) == (100, 100, 16, 16, 0)


@pytest.mark.parametrize(
    "name, n, first, last",
    [
        ("scannet", 20, "wall", "otherfurniture"),
        ("s3dis", 13, "ceiling", "clutter"),
        ("structured3d", 25, "wall", "otherprop"),
        ("scannet200", 200, "wall", None),
    ],
)
def test_dataset_bases(name, n, first, last):
    cfg = Config.fromfile(CONFIGS / "_base_" / "dataset" / f"{name}.py")
    assert len(cfg.class_names) == n == len(set(cfg.class_names))
    assert cfg.class_names[0] == first and (last is None or cfg.class_names[-1] == last)
    assert list(cfg.data.names) == list(cfg.class_names)
    if name == "scannet":
        assert cfg.class_names[14] == "refridgerator"  # the reference's spelling
    if name == "scannet200":
        assert "CLASS_LABELS_200" in cfg  # as the reference's imported constant


@pytest.mark.parametrize("dataset", sorted(SPUNET))
def test_spunet_configs_common_values(dataset):
    cfg = Config.fromfile(SPUNET[dataset])
    # inherited runtime keys
    for key in ("weight", "resume", "evaluate", "seed", "save_path", "hooks", "train", "test", "eval_epoch"):
        assert cfg[key] == RUNTIME_DEFAULTS[key], key
    assert (cfg.batch_size, cfg.mix_prob, cfg.enable_amp, cfg.empty_cache, cfg.num_worker) == (12, 0.8, True, False, 16)
    bb = cfg.model.backbone
    assert cfg.model.type == "DefaultSegmentor" and bb.type == "SpUNet-v1m1" and bb.in_channels == 6
    assert bb.channels == (32, 64, 128, 256, 256, 128, 96, 96) and bb.layers == (2, 3, 4, 6, 2, 2, 2, 2)
    assert cfg.model.criteria == [dict(type="CrossEntropyLoss", loss_weight=1.0, ignore_index=-1)]
    assert bb.num_classes == cfg.data.num_classes == len(cfg.data.names)
    assert cfg.data.ignore_index == -1
    assert cfg.optimizer.type == "SGD" and cfg.optimizer.momentum == 0.9 and cfg.optimizer.weight_decay == 1e-4
    assert cfg.optimizer.nesterov is True
    train = [t.type for t in cfg.data.train.transform]
    assert train[0] == "CenterShift" and train[-3:] == ["ShufflePoint", "ToTensor", "Collect"]
    assert train.index("GridSample") < train.index("SphereCrop")
    assert cfg.data.train.transform[-1]["keys"] == ("coord", "grid_coord", "segment")
    val_collect = cfg.data.val.transform[-1]
    assert val_collect["keys"] == ("coord", "grid_coord", "segment", "origin_segment", "inverse")
    val_grid = [t for t in cfg.data.val.transform if t.type == "GridSample"][0]
    assert val_grid.mode == "train" and val_grid.return_inverse is True
    assert cfg.data.test.test_mode is True and cfg.data.test.test_cfg.voxelize.mode == "test"
    assert cfg.data.test.test_cfg.crop is None


def test_scannet_values():
    cfg = Config.fromfile(SPUNET["scannet"])
    assert cfg.model.backbone.num_classes == 20 and cfg.epoch == 800
    assert cfg.optimizer.lr == 0.05
    assert cfg.scheduler.to_dict() == dict(
        type="OneCycleLR", max_lr=0.05, pct_start=0.05, anneal_strategy="cos", div_factor=10.0, final_div_factor=1e4
    )
    assert (cfg.dataset_type, cfg.data_root) == ("ScanNetDataset", "data/scannet")
    tr = cfg.data.train
    assert (tr.type, tr.split, tr.data_root, tr.test_mode) == ("ScanNetDataset", "train", "data/scannet", False)
    grid = [t for t in tr.transform if t.type == "GridSample"][0]
    assert grid.to_dict() == dict(type="GridSample", grid_size=0.02, hash_type="fnv", mode="train", return_grid_coord=True)
    crop = [t for t in tr.transform if t.type == "SphereCrop"][0]
    assert crop.to_dict() == dict(type="SphereCrop", point_max=100000, mode="random")
    assert tr.transform[-1].feat_keys == ("color", "normal")
    rot = tr.transform[2]
    assert rot.to_dict() == dict(type="RandomRotate", angle=[-1, 1], axis="z", center=[0, 0, 0], p=0.5)
    assert tr.transform[3].angle == [-1 / 64, 1 / 64] and tr.transform[3].axis == "x"
    assert tr.transform[11].to_dict() == dict(type="ChromaticJitter", p=0.95, std=0.05)
    tta = cfg.data.test.test_cfg.aug_transform
    assert len(tta) == 13
    assert tta[0] == [dict(type="RandomRotateTargetAngle", angle=[0], axis="z", center=[0, 0, 0], p=1)]
    assert tta[5] == [
        dict(type="RandomRotateTargetAngle", angle=[0.5], axis="z", center=[0, 0, 0], p=1),
        dict(type="RandomScale", scale=[0.95, 0.95]),
    ]
    assert tta[11][0].angle == [1.5] and tta[11][1].scale == [1.05, 1.05]
    assert tta[12] == [dict(type="RandomFlip", p=1)]
    assert cfg.data.val.split == "val" and cfg.data.test.split == "val"


def test_s3dis_values():
    cfg = Config.fromfile(SPUNET["s3dis"])
    assert cfg.model.backbone.num_classes == 13 and cfg.epoch == 3000
    assert cfg.optimizer.lr == 0.1 and cfg.scheduler.to_dict() == dict(type="PolyLR")
    tr = cfg.data.train
    assert tr.type == "S3DISDataset" and tr.split == ("Area_1", "Area_2", "Area_3", "Area_4", "Area_6")
    assert cfg.data.val.split == "Area_5" and cfg.data.test.split == "Area_5"
    assert [t for t in tr.transform if t.type == "GridSample"][0].grid_size == 0.05
    assert cfg.data.test.test_cfg.voxelize.grid_size == 0.05
    assert tr.transform[-1].feat_keys == ["coord", "color"]  # a list here, as in the reference
    assert cfg.data.test.test_cfg.post_transform[-1].feat_keys == ("coord", "color")
    tta = cfg.data.test.test_cfg.aug_transform
    assert len(tta) == 10
    assert tta[0] == [dict(type="RandomScale", scale=[0.9, 0.9])]
    assert tta[2] == [dict(type="RandomScale", scale=[1, 1])]
    assert tta[9] == [dict(type="RandomScale", scale=[1.1, 1.1]), dict(type="RandomFlip", p=1)]


def test_structured3d_values():
    cfg = Config.fromfile(SPUNET["structured3d"])
    assert cfg.model.backbone.num_classes == 25 and cfg.epoch == 100
    assert cfg.optimizer.lr == 0.05 and cfg.scheduler.type == "OneCycleLR" and cfg.scheduler.max_lr == 0.05
    assert isinstance(cfg.data.names, tuple) and cfg.data.names[16] == "ceiling"
    tr = cfg.data.train
    assert tr.type == "Structured3DDataset" and tr.data_root == "data/structured3d"
    assert [t for t in tr.transform if t.type == "SphereCrop"][0].to_dict() == dict(
        type="SphereCrop", sample_rate=0.6, mode="random"
    )
    assert len(cfg.data.test.test_cfg.aug_transform) == 13


@pytest.mark.parametrize("dataset, loop", [("scannet", 8), ("s3dis", 30), ("structured3d", 1)])
def test_parser_sets_loop_and_seed(dataset, loop):
    cfg = default_config_parser(str(SPUNET[dataset]), ["save_path=exp/x", "batch_size=2"])
    assert cfg.data.train.loop == loop and isinstance(cfg.seed, int)
    assert cfg.save_path == "exp/x" and cfg.batch_size == 2


def test_shorthand_name_and_dump_round_trip(tmp_path):
    cfg = default_config_parser("scannet-semseg-spunet-v1m1-0-base", {"seed": 3})
    cfg.dump(tmp_path / "config.py")
    back = Config.fromfile(tmp_path / "config.py")
    assert repr(back.to_dict()) == repr(cfg.to_dict())
