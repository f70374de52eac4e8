# The main job: a small SpUNet-v1m1 trained on the built-in synthetic ScanNet-style rooms,
# evaluated after every epoch and tested (fragment voting) at the end, in minutes on a CPU.
# Tip: on a busy CPU, OMP_NUM_THREADS=1 avoids thread thrashing.
# Measured on a quiet 2-core CPU with the README command (default threads): 576 iterations, val mIoU
# 0.228/0.359/0.428/0.524/0.546/0.541 after epochs 1-6 (best 0.546), test (fragment voting) mIoU 0.559 /
# mAcc 0.675 / allAcc 0.882 over all 20 classes; 8 min 49 s wall including data generation and the test,
# peak RSS 0.9 GB. (epoch=36 reached only 0.487 val.)
#   pointlab train --config-file configs/synthetic/semseg-spunet-v1m1-small.py
# The data is written to data_root on first use (see synthetic_data below).
_base_ = ["../_base_/default_runtime.py"]

save_path = "exp/synthetic/semseg-spunet-v1m1-small"
seed = 38873367
num_worker = 1
batch_size = 2
mix_prob = 0.0
enable_amp = False

# Read by `pointlab train`: write the synthetic scenes to data_root when it does not exist.
# 30 rooms: 25 train, 5 val (each of the 20 classes appears in both splits); 400 points/m².
synthetic_data = dict(dataset="scannet", scenes=30, seed=0, val_ratio=0.17, rooms_per_scene=1, density=400)

# model: the reference's SpUNet-v1m1 layout with fewer channels and blocks
model = dict(
    type="DefaultSegmentor",
    backbone=dict(
        type="SpUNet-v1m1",
        in_channels=6,  # color (3) + normal (3)
        num_classes=20,
        base_channels=16,
        channels=(16, 32, 48, 64, 48, 32, 32, 32),
        layers=(1, 1, 1, 1, 1, 1, 1, 1),
    ),
    # Lovász-softmax weighs every class present equally, which lifts the rare classes' IoU
    criteria=[
        dict(type="CrossEntropyLoss", loss_weight=1.0, ignore_index=-1),
        dict(type="LovaszLoss", mode="multiclass", loss_weight=1.0, ignore_index=-1),
    ],
)

# schedule: 48 data passes (12 iterations each) in 6 evaluated epochs
epoch = 48
eval_epoch = 6
optimizer = dict(type="AdamW", lr=0.01, weight_decay=0.01)
scheduler = dict(
    type="OneCycleLR",
    max_lr=optimizer["lr"],
    pct_start=0.1,
    anneal_strategy="cos",
    div_factor=10.0,
    final_div_factor=100.0,
)

# The default hooks plus PreciseBN: SpUNet's BatchNorm (momentum 0.01) statistics lag far behind
# the weights on a schedule this short; PreciseBN recomputes them before every evaluation.
hooks = [
    dict(type="CheckpointLoader"),
    dict(type="ModelHook"),
    dict(type="IterationTimer", warmup_iter=2),
    dict(type="InformationWriter"),
    dict(type="PreciseBN", num_iter=6),
    dict(type="SemSegEvaluator"),
    dict(type="CheckpointSaver", save_freq=None),
    dict(type="PreciseEvaluator", test_last=False),
]

dataset_type = "ScanNetDataset"
data_root = "data/synthetic_scannet"
grid_size = 0.08  # whole rooms of ~15k voxels per sample

data = dict(
    num_classes=20,
    ignore_index=-1,
    names=[
        "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window",
        "bookshelf", "picture", "counter", "desk", "curtain", "refridgerator",
        "shower curtain", "toilet", "sink", "bathtub", "otherfurniture",
    ],
    train=dict(
        type=dataset_type,
        split="train",
        data_root=data_root,
        transform=[
            dict(type="CenterShift", apply_z=True),
            dict(type="RandomRotate", angle=[-1, 1], axis="z", center=[0, 0, 0], p=0.5),
            dict(type="RandomScale", scale=[0.9, 1.1]),
            dict(type="RandomFlip", p=0.5),
            dict(type="RandomJitter", sigma=0.005, clip=0.02),
            dict(type="ChromaticAutoContrast", p=0.2, blend_factor=None),
            dict(type="ChromaticTranslation", p=0.95, ratio=0.05),
            dict(type="ChromaticJitter", p=0.95, std=0.05),
            dict(type="GridSample", grid_size=grid_size, hash_type="fnv", mode="train", return_grid_coord=True),
            dict(type="SphereCrop", point_max=100000, mode="random"),  # caps denser data; rooms here are smaller
            dict(type="CenterShift", apply_z=False),
            dict(type="NormalizeColor"),
            dict(type="ShufflePoint"),
            dict(type="ToTensor"),
            dict(type="Collect", keys=("coord", "grid_coord", "segment"), feat_keys=("color", "normal")),
        ],
        test_mode=False,
    ),
    val=dict(
        type=dataset_type,
        split="val",
        data_root=data_root,
        transform=[
            dict(type="CenterShift", apply_z=True),
            dict(type="Copy", keys_dict={"segment": "origin_segment"}),
            dict(type="GridSample", grid_size=grid_size, hash_type="fnv", mode="train", return_grid_coord=True,
                 return_inverse=True),
            dict(type="CenterShift", apply_z=False),
            dict(type="NormalizeColor"),
            dict(type="ToTensor"),
            dict(type="Collect", keys=("coord", "grid_coord", "segment", "origin_segment", "inverse"),
                 feat_keys=("color", "normal")),
        ],
        test_mode=False,
    ),
    test=dict(
        type=dataset_type,
        split="val",
        data_root=data_root,
        transform=[dict(type="CenterShift", apply_z=True), dict(type="NormalizeColor")],
        test_mode=True,
        test_cfg=dict(
            voxelize=dict(type="GridSample", grid_size=grid_size, hash_type="fnv", mode="test", return_grid_coord=True),
            crop=None,
            post_transform=[
                dict(type="CenterShift", apply_z=False),
                dict(type="ToTensor"),
                dict(type="Collect", keys=("coord", "grid_coord", "index"), feat_keys=("color", "normal")),
            ],
            aug_transform=[[dict(type="RandomRotateTargetAngle", angle=[0], axis="z", center=[0, 0, 0], p=1)]],
        ),
    ),
)
