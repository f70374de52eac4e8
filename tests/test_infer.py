"""Predictor and ``pointlab infer``: outputs, the tester's voting path, missing inputs, the CLI end to end."""
import os

import numpy as np
import pytest
import torch

from pointlab.config import Config
from pointlab.data.io import read_ply, write_ply
from pointlab.engine.checkpoint import build_checkpoint, save_checkpoint
from pointlab.inference import MissingInputError, Predictor, instance_labels, required_inputs
from pointlab.models import build_model

NAMES = ["wall", "floor", "chair", "table"]
GRID = 0.1


def _config(feat_keys=("color", "normal"), augs=2, crop=None):
    in_ch = 3 * len(feat_keys)
    aug = [[dict(type="RandomRotateTargetAngle", angle=[a], axis="z", center=[0, 0, 0], p=1)] for a in (0, 0.5, 1, 1.5)[:augs]]
    return dict(
        epoch=1, eval_epoch=1, seed=0, save_path="exp/unused",
        model=dict(
            type="DefaultSegmentor",
            backbone=dict(type="SpUNet-v1m1", in_channels=in_ch, num_classes=len(NAMES), base_channels=8,
                          channels=(8, 8, 8, 8, 8, 8, 8, 8), layers=(1, 1, 1, 1, 1, 1, 1, 1)),
            criteria=[dict(type="CrossEntropyLoss", loss_weight=1.0, ignore_index=-1)],
        ),
        data=dict(
            num_classes=len(NAMES), ignore_index=-1, names=NAMES,
            test=dict(
                type="DefaultDataset", split="val", data_root="unused",
                transform=[dict(type="CenterShift", apply_z=True), dict(type="NormalizeColor")],
                test_mode=True,
                test_cfg=dict(
                    voxelize=dict(type="GridSample", grid_size=GRID, hash_type="fnv", mode="test", return_grid_coord=True),
                    crop=crop,
                    post_transform=[
                        dict(type="CenterShift", apply_z=False),
                        dict(type="ToTensor"),
                        dict(type="Collect", keys=("coord", "grid_coord", "index"), feat_keys=tuple(feat_keys)),
                    ],
                    aug_transform=aug,
                ),
            ),
        ),
    )


def _weights(cfg: dict, path, seed=0):
    torch.manual_seed(seed)
    model = build_model(cfg["model"])
    with torch.no_grad():  # larger random weights: outputs that vary between points
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.005, 0.02)
    save_checkpoint(build_checkpoint(model, epoch=1), path)
    return str(path)


def _cloud(n=400, seed=0):
    rng = np.random.default_rng(seed)
    coord = rng.uniform([0, 0, 0], [2.0, 1.5, 1.0], size=(n, 3))
    coord[: n // 2, 2] = 0.0  # a floor: duplicate voxels, several fragments
    color = rng.uniform(0, 255, size=(n, 3)).astype(np.float32)
    normal = rng.normal(size=(n, 3)).astype(np.float32)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    return coord, color, normal


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("infer")
    cfg = _config()
    weight = _weights(cfg, root / "model_best.pth")
    return cfg, weight, Predictor(Config(cfg), weight, device="cpu", progress=False)


def test_predict_shapes_dtypes_and_probabilities(tiny):
    cfg, weight, predictor = tiny
    coord, color, normal = _cloud()
    out = predictor.predict(coord, color=color, normal=normal, return_probs=True)
    assert out["segment"].shape == (coord.shape[0],) and out["segment"].dtype == np.int64
    assert out["segment"].min() >= 0 and out["segment"].max() < len(NAMES)
    assert out["probs"].shape == (coord.shape[0], len(NAMES)) and out["probs"].dtype == np.float32
    np.testing.assert_allclose(out["probs"].sum(1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(out["probs"].argmax(1), out["segment"])
    assert len(np.unique(out["segment"])) > 1  # random weights, but not a constant output
    assert not predictor.is_instance_model and required_inputs(predictor.cfg) == ["color", "normal"]


@pytest.mark.slow
def test_predict_equals_the_testers_voting_path(tiny, tmp_path):
    """Same scene through DefaultDataset(test_mode) + SemSegTester.predict_scene: identical votes."""
    from pointlab.data.datasets import build_dataset
    from pointlab.evaluation.testers import SemSegTester

    cfg, weight, predictor = tiny
    coord, color, normal = _cloud(seed=1)
    scene = tmp_path / "data" / "val" / "scene0"
    scene.mkdir(parents=True)
    np.save(scene / "coord.npy", coord.astype(np.float32))
    np.save(scene / "color.npy", color)
    np.save(scene / "normal.npy", normal)
    test_cfg = dict(cfg["data"]["test"], data_root=str(tmp_path / "data"))
    item = build_dataset(test_cfg)[0]
    tester_cfg = Config(dict(cfg, save_path=str(tmp_path), weight=weight))
    tester = SemSegTester(tester_cfg, model=predictor.model, test_loader=[item])
    prob = tester.predict_scene(item["fragment_list"], len(item["segment"]), "scene0")
    out = predictor.predict(coord, color=color, normal=normal, return_probs=True)
    np.testing.assert_array_equal(out["segment"], prob.argmax(1).numpy())
    expected = (prob / prob.sum(1, keepdim=True)).numpy()
    np.testing.assert_allclose(out["probs"], expected, rtol=1e-5, atol=1e-6)
    assert len(item["fragment_list"]) > 2  # the test really voted over several fragments


def test_missing_inputs_error_or_fill(tiny):
    cfg, weight, predictor = tiny
    coord, color, _ = _cloud(n=300)
    with pytest.raises(MissingInputError, match=r"no normal.*--fill-missing"):
        predictor.predict(coord, color=color, name="room.ply")
    with pytest.raises(MissingInputError, match="no color or normal"):
        predictor.predict(coord)
    filler = Predictor(Config(cfg), weight, device="cpu", progress=False, fill_missing=True)
    data = filler.prepare_inputs(coord)
    assert np.all(data["color"] == 127.5)
    np.testing.assert_allclose(np.linalg.norm(data["normal"], axis=1), 1.0, atol=1e-5)
    assert filler.predict(coord)["segment"].shape == (300,)


def test_colour_only_model_ignores_normals_and_far_coordinates_are_shifted(tmp_path):
    cfg = _config(feat_keys=("color",), augs=1)
    weight = _weights(cfg, tmp_path / "w.pth")
    predictor = Predictor(Config(cfg), weight, device="cpu", progress=False)
    coord, color, _ = _cloud(n=300)
    near = predictor.predict(coord, color=color)["segment"]
    # UTM-like offsets: float32 would round them to decimetres; the predictor shifts first
    far = predictor.predict(coord + np.array([500_000.0, 5_000_000.0, 200.0]), color=color)["segment"]
    assert np.mean(near == far) > 0.98


def test_instance_labels_take_the_best_scoring_proposal():
    masks = np.array([[1, 1, 0, 0], [0, 1, 1, 0]], dtype=bool)
    np.testing.assert_array_equal(instance_labels(masks, np.array([0.2, 0.9])), [0, 1, 1, -1])
    np.testing.assert_array_equal(instance_labels(np.zeros((0, 3), bool), np.zeros(0)), [-1, -1, -1])


@pytest.mark.slow
def test_infer_cli_end_to_end(tiny, tmp_path):
    from pointlab.cli import main

    cfg, weight, _ = tiny
    cfg_path = tmp_path / "tiny_config.py"
    Config(cfg).dump(str(cfg_path))
    coord, color, normal = _cloud(n=300, seed=2)
    inputs = tmp_path / "in"
    write_ply(inputs / "room.ply", coord, color=color, normal=normal, binary=False)
    np.save(inputs / "nocolor.npy", coord)  # lacks what the model needs: reported, others still done
    out_dir = tmp_path / "out"
    code = main(["infer", "--config-file", str(cfg_path), "--weight", weight, "--input", str(inputs / "room.ply"),
                 "--output", str(out_dir), "--save-probs"])
    assert code == 0
    pred = np.load(out_dir / "room_pred.npy")
    assert pred.shape == (300,) and pred.max() < len(NAMES)
    ply = read_ply(out_dir / "room_pred.ply")
    np.testing.assert_array_equal(ply["segment"], pred)
    np.testing.assert_allclose(ply["coord"], coord, atol=1e-5)
    assert np.load(out_dir / "room_probs.npy").shape == (300, len(NAMES))
    png = out_dir / "room.png"
    assert png.stat().st_size > 20_000
    from matplotlib.image import imread

    h, w = imread(str(png)).shape[:2]
    assert w > 1.5 * h > 600

    code = main(["infer", "--config-file", str(cfg_path), "--weight", weight, "--input", str(inputs),
                 "--output", str(tmp_path / "out2"), "--no-render"])
    assert code == 1  # nocolor.npy failed with a clear message
    assert (tmp_path / "out2" / "room_pred.npy").is_file() and not (tmp_path / "out2" / "nocolor_pred.npy").exists()
    code = main(["infer", "--config-file", str(cfg_path), "--weight", weight, "--input", str(inputs / "nocolor.npy"),
                 "--output", str(tmp_path / "out3"), "--no-render", "--fill-missing"])
    assert code == 0 and np.load(tmp_path / "out3" / "nocolor_pred.npy").shape == (300,)


def test_infer_cli_reports_a_missing_weight(tiny, tmp_path, capsys):
    from pointlab.cli import main

    cfg, _, _ = tiny
    cfg_path = tmp_path / "c.py"
    Config(cfg).dump(str(cfg_path))
    write_ply(tmp_path / "a.ply", *_cloud(n=50)[:1])
    code = main(["infer", "--config-file", str(cfg_path), "--weight", str(tmp_path / "nope.pth"),
                 "--input", str(tmp_path / "a.ply"), "--output", str(tmp_path / "o")])
    assert code == 2 and "nope.pth" in capsys.readouterr().err


def test_progress_falls_back_to_plain_log_lines_off_a_terminal():
    import logging

    from pointlab.inference import _Progress

    records = []
    handler = logging.Handler()
    handler.emit = lambda r: records.append(r.getMessage())
    log = logging.getLogger("pointlab")
    log.addHandler(handler)
    old_level = log.level
    log.setLevel(logging.INFO)
    try:
        bar = _Progress("Predict room", enabled=True)  # pytest's stderr is not a terminal
        assert bar.bar is None
        bar.set_total(40)
        for _ in range(40):
            bar.update()
        bar.close()
        quiet = _Progress("Predict room", enabled=False)
        quiet.set_total(5)
        quiet.update(5)
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)
    assert records[0] == "Predict room: fragment 1/40" and records[-1] == "Predict room: fragment 40/40"
    assert 8 <= len(records) <= 12  # about every 10 %, not one line per fragment


@pytest.mark.slow
def test_inverse_path_matches_the_tester(tmp_path):
    """A test transform that grid-samples first (Copy origin_segment + GridSample(return_inverse)):
    votes on the sampled points, labels for every raw point through ``inverse``, as the tester does."""
    from pointlab.data.datasets import build_dataset
    from pointlab.evaluation.testers import SemSegTester

    cfg = _config(feat_keys=("color",), augs=1)
    cfg["data"]["test"]["transform"] = [
        dict(type="CenterShift", apply_z=True),
        dict(type="Copy", keys_dict={"segment": "origin_segment"}),
        dict(type="GridSample", grid_size=0.05, hash_type="fnv", mode="train", return_grid_coord=True, return_inverse=True),
        dict(type="NormalizeColor"),
    ]
    weight = _weights(cfg, tmp_path / "w.pth")
    predictor = Predictor(Config(cfg), weight, device="cpu", progress=False)
    coord, color, _ = _cloud(n=300, seed=3)
    scene = tmp_path / "data" / "val" / "s"
    scene.mkdir(parents=True)
    np.save(scene / "coord.npy", coord.astype(np.float32))
    np.save(scene / "color.npy", color)
    np.random.seed(7)
    item = build_dataset(dict(cfg["data"]["test"], data_root=str(tmp_path / "data")))[0]
    tester = SemSegTester(Config(dict(cfg, save_path=str(tmp_path), weight=weight)), model=predictor.model, test_loader=[item])
    prob = tester.predict_scene(item["fragment_list"], len(item["segment"]), "s")
    expected = prob.argmax(1).numpy()[item["inverse"]]
    np.random.seed(7)
    out = predictor.predict(coord, color=color)
    assert len(item["segment"]) < len(coord) and out["segment"].shape == (len(coord),)
    np.testing.assert_array_equal(out["segment"], expected)
