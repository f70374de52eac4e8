"""Predictor and ``pointlab infer`` on an instance model (PG-v1m1): the single-pass test path."""
import numpy as np
import pytest
import torch

from pointlab.config import Config
from pointlab.data.io import read_ply, write_ply
from pointlab.engine.checkpoint import build_checkpoint, save_checkpoint
from pointlab.inference import Predictor
from pointlab.models import build_model

K = 4
GRID = 0.1
_KEYS = ("coord", "grid_coord", "segment", "instance", "origin_coord", "origin_segment", "origin_instance",
         "instance_centroid", "bbox", "name")


def _config():
    return dict(
        epoch=1, eval_epoch=1, seed=0, save_path="exp/unused",
        model=dict(
            type="PG-v1m1",
            backbone=dict(type="SpUNet-v1m1", in_channels=6, num_classes=0, base_channels=8,
                          channels=(8, 8, 8, 8, 8, 8, 8, 8), layers=(1, 1, 1, 1, 1, 1, 1, 1)),
            backbone_out_channels=8, semantic_num_classes=K, semantic_ignore_index=-1, segment_ignore_index=(-1,),
            instance_ignore_index=-1, cluster_thresh=3.0, cluster_propose_points=5, cluster_min_points=2, voxel_size=GRID,
        ),
        data=dict(
            num_classes=K, ignore_index=-1, names=["wall", "floor", "chair", "table"],
            test=dict(
                type="DefaultDataset", split="val", data_root="unused", test_mode=False,
                transform=[
                    dict(type="CenterShift", apply_z=True),
                    dict(type="Copy", keys_dict={"coord": "origin_coord", "segment": "origin_segment", "instance": "origin_instance"}),
                    dict(type="GridSample", grid_size=GRID, hash_type="fnv", mode="train", return_grid_coord=True),
                    dict(type="CenterShift", apply_z=False),
                    dict(type="NormalizeColor"),
                    dict(type="InstanceParser", segment_ignore_index=(-1,), instance_ignore_index=-1),
                    dict(type="ToTensor"),
                    dict(type="Collect", keys=_KEYS, feat_keys=("color", "normal"),
                         offset_keys_dict=dict(offset="coord", origin_offset="origin_coord")),
                ],
            ),
        ),
    )


def _blobs(n_per=120, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.5, 0.5, 0.3], [2.0, 0.6, 0.3], [1.2, 2.0, 0.5]])
    coord = np.concatenate([c + rng.normal(scale=0.12, size=(n_per, 3)) for c in centres])
    color = np.repeat(np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200]], np.float32), n_per, axis=0)
    normal = np.tile(np.array([[0, 0, 1.0]], np.float32), (len(coord), 1))
    return coord, color, normal


@pytest.fixture(scope="module")
def pg(tmp_path_factory):
    root = tmp_path_factory.mktemp("pg")
    cfg = _config()
    torch.manual_seed(0)
    model = build_model(cfg["model"])
    save_checkpoint(build_checkpoint(model), root / "pg.pth")
    return cfg, str(root / "pg.pth"), root


def test_instance_outputs_on_raw_points(pg):
    cfg, weight, _ = pg
    predictor = Predictor(Config(cfg), weight, device="cpu", progress=False)
    assert predictor.is_instance_model
    coord, color, normal = _blobs()
    np.random.seed(0)
    out = predictor.predict(coord, color=color, normal=normal, return_probs=True)
    n = len(coord)
    assert out["segment"].shape == (n,) and out["segment"].dtype == np.int64
    assert 0 <= out["segment"].min() and out["segment"].max() < K
    assert out["probs"].shape == (n, K)
    np.testing.assert_array_equal(out["probs"].argmax(1), out["segment"])
    masks, scores, classes = out["pred_masks"], out["pred_scores"], out["pred_classes"]
    p = masks.shape[0]
    assert p > 0, "with a 3-voxel ball and 5-point proposals, the blobs must give proposals"
    assert masks.shape == (p, n) and masks.dtype == bool
    assert scores.shape == (p,) and classes.shape == (p,) and classes.dtype == np.int64
    inst = out["instance"]
    assert inst.shape == (n,) and inst.min() >= -1 and inst.max() < p
    covered = inst >= 0
    assert masks[inst[covered], np.flatnonzero(covered)].all()  # a point's instance holds it
    assert not masks[:, ~covered].any()


@pytest.mark.slow
def test_infer_cli_writes_instances(pg, tmp_path):
    from pointlab.cli import main

    cfg, weight, _ = pg
    cfg_path = tmp_path / "pg.py"
    Config(cfg).dump(str(cfg_path))
    coord, color, normal = _blobs(seed=1)
    write_ply(tmp_path / "blobs.ply", coord, color=color, normal=normal)
    code = main(["infer", "--config-file", str(cfg_path), "--weight", weight, "--input", str(tmp_path / "blobs.ply"),
                 "--output", str(tmp_path / "out")])
    assert code == 0
    saved = np.load(tmp_path / "out" / "blobs_instances.npz")
    assert saved["pred_masks"].shape[1] == len(coord) and saved["instance"].shape == (len(coord),)
    ply = read_ply(tmp_path / "out" / "blobs_pred.ply")
    np.testing.assert_array_equal(ply["instance"], saved["instance"])
    np.testing.assert_array_equal(ply["segment"], np.load(tmp_path / "out" / "blobs_pred.npy"))
    assert (tmp_path / "out" / "blobs_instances.png").stat().st_size > 10_000
    assert (tmp_path / "out" / "blobs.png").stat().st_size > 10_000
