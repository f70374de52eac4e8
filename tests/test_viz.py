"""Pictures: palettes, segmented-cloud renders, training-curve parsing and plotting, ``pointlab plot``."""
import math

import numpy as np
import pytest

from pointlab.viz.curves import load_history, parse_train_log, plot_training_curves
from pointlab.viz.palette import IGNORE_COLOR, S3DIS13, SCANNET20, colorize, generic_palette, palette_for
from pointlab.viz.render import render_instances, render_segmentation, view_directions

PREFIX = "[2026-11-22 01:00:00,000 INFO default.py line 180 1234] "


def _png_size(path):
    from matplotlib.image import imread

    return imread(str(path)).shape[:2]


def test_palettes_follow_the_benchmarks_and_stay_distinct():
    scannet = palette_for(list(SCANNET20))
    assert tuple(scannet[0]) == (174, 199, 232) and len({tuple(c) for c in scannet}) == 20
    s3dis = palette_for(list(S3DIS13))
    assert tuple(s3dis[2]) == S3DIS13["wall"]  # S3DIS wall is cyan, not ScanNet's blue
    mixed = palette_for(["wall", "my_thing", "other_thing"])
    assert tuple(mixed[0]) == SCANNET20["wall"] and len({tuple(c) for c in mixed}) == 3
    assert len({tuple(c) for c in generic_palette(60)}) == 60
    assert palette_for(None, 5).shape == (5, 3)
    colors = colorize(np.array([0, -1, 7]), scannet[:5])
    assert tuple(colors[0]) == tuple(scannet[0]) and tuple(colors[1]) == IGNORE_COLOR == tuple(colors[2])


def test_view_directions_are_orthonormal_and_top_down_looks_down():
    for az, el in ((0, 90), (-35, 50), (120, 10)):
        r, u, v = view_directions(az, el)
        np.testing.assert_allclose(np.stack([r, u, v]) @ np.stack([r, u, v]).T, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(np.cross(r, u), v, atol=1e-12)  # right-handed screen
    np.testing.assert_allclose(view_directions(0, 90)[2], [0, 0, 1], atol=1e-12)


def _room(n=6000, seed=0):
    """A floor, two walls and a box: labels 1, 0, 2 (and some −1)."""
    rng = np.random.default_rng(seed)
    floor = np.c_[rng.uniform(0, 4, (n // 2, 2)), np.zeros(n // 2)]
    wall_x = np.c_[rng.uniform(0, 4, n // 6), np.zeros(n // 6), rng.uniform(0, 2.5, n // 6)]
    wall_y = np.c_[np.zeros(n // 6), rng.uniform(0, 4, n // 6), rng.uniform(0, 2.5, n // 6)]
    box = rng.uniform([1.5, 1.5, 0], [2.5, 2.5, 0.8], (n - n // 2 - 2 * (n // 6), 3))
    coord = np.concatenate([floor, wall_x, wall_y, box])
    labels = np.concatenate([np.ones(n // 2), np.zeros(2 * (n // 6)), np.full(len(box), 2)]).astype(int)
    labels[::50] = -1
    return coord, labels


def test_render_segmentation_png(tmp_path):
    coord, labels = _room()
    color = np.full((len(coord), 3), 180.0)
    path = render_segmentation(coord, labels, tmp_path / "room.png", names=["wall", "floor", "chair"],
                               title="room", color=color, max_points=4000)
    h, w = _png_size(path)
    assert w > 2.5 * h and h > 400  # three panels plus a legend, side by side
    img = np.asarray(__import__("matplotlib.image", fromlist=["imread"]).imread(path))[..., :3]
    floor_rgb = np.array(SCANNET20["floor"]) / 255.0
    assert (np.abs(img - floor_rgb).max(-1) < 0.02).mean() > 0.02  # the floor colour is really drawn


def test_render_instances_and_input_checks(tmp_path):
    coord, labels = _room(n=3000)
    inst = np.where(labels == 2, 0, np.where(labels == 0, 5, -1))
    path = render_instances(coord, inst, tmp_path / "inst.png")
    h, w = _png_size(path)
    assert w > 1.5 * h
    with pytest.raises(ValueError, match=r"coord must be \[N, 3\]"):
        render_segmentation(coord[:, :2], labels, tmp_path / "bad.png")


def _fake_log(path, epochs=4, iters=5, resume_at=None, precise=True, instance=False):
    lines = []
    lr0 = 0.005

    def epoch_lines(e):
        for i in range(iters):
            step = (e - 1) * iters + i
            loss = 2.0 * math.exp(-0.1 * step)
            lr = lr0 * (1 - step / (epochs * iters))
            extra = f"seg_loss: {loss * 0.7:.4f} " if instance else ""
            lines.append(PREFIX + f"Train: [{e}/{epochs}][{i + 1}/{iters}] Data 0.001 (0.001) Batch 0.300 (0.310) "
                         f"Remain 00:01:{i:02d} loss: {loss:.4f} {extra}Lr: {lr:.5f}")
        lines.append(PREFIX + f"Train result: loss: {2.0 * math.exp(-0.1 * (e * iters - 2)):.4f} ")
        lines.append(PREFIX + ">>>>>>>>>>>>>>>> Start Evaluation >>>>>>>>>>>>>>>>")
        for b in range(2):
            lines.append(PREFIX + f"Test: [{b + 1}/2] Loss {1.5 - 0.1 * e + 0.05 * b:.4f} ")
        if instance:
            lines.append(PREFIX + f"Val result: mAP/AP50/AP25 {0.1 * e:.4f}/{0.15 * e:.4f}/{0.2 * e:.4f}.")
        else:
            lines.append(PREFIX + f"Val result: mIoU/mAcc/allAcc {0.1 * e:.4f}/{0.12 * e:.4f}/{0.2 * e:.4f}.")
            lines.append(PREFIX + f"Class_0-wall Result: iou/accuracy {0.1 * e:.4f}/0.5000")
        lines.append(PREFIX + "<<<<<<<<<<<<<<<<< End Evaluation <<<<<<<<<<<<<<<<<")
        lines.append(PREFIX + "Saving checkpoint to: exp/x/model/model_last.pth")

    for e in range(1, epochs + 1):
        epoch_lines(e)
    if resume_at:  # a resumed run re-logs epochs from resume_at onwards, appended to the same file
        for e in range(resume_at, epochs + 1):
            epoch_lines(e)
    if precise:
        lines.append(PREFIX + ">>>>>>>>>>>>>>>> Start Precise Evaluation >>>>>>>>>>>>>>>>")
        lines.append(PREFIX + "Test: scene0000_00 [1/1]-1000 Batch 0.500 (0.500) Accuracy 0.9000 (0.5000) mIoU 0.4000 (0.3500)")
        lines.append(PREFIX + "Val result: mIoU/mAcc/allAcc 0.4321/0.5000/0.8500")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_parse_train_log_reads_every_line_shape(tmp_path):
    log = _fake_log(tmp_path / "train.log", resume_at=3)
    h = parse_train_log(log)
    assert h.max_epoch == 4 and len(h.iter_x) == 20  # the resumed epochs replace, not duplicate
    np.testing.assert_allclose(h.iter_x[:2], [0.2, 0.4])
    assert h.iter_values["loss"][0] == pytest.approx(2.0) and h.iter_values["Lr"][0] == pytest.approx(0.005)
    np.testing.assert_array_equal(h.epochs, [1, 2, 3, 4])
    np.testing.assert_allclose(h.epoch_values["val/mIoU"], [0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(h.epoch_values["val/allAcc"], [0.2, 0.4, 0.6, 0.8])
    np.testing.assert_allclose(h.epoch_values["val/loss"], [1.425, 1.325, 1.225, 1.125])
    assert h.epoch_values["train/loss"][0] == pytest.approx(2.0 * math.exp(-0.3), abs=1e-4)
    assert h.final == {"mIoU": 0.4321, "mAcc": 0.5, "allAcc": 0.85}  # not mistaken for epoch 4


def test_plot_training_curves_png(tmp_path):
    log = _fake_log(tmp_path / "train.log", instance=True)
    h = load_history(tmp_path)
    assert "seg_loss" in h.iter_values and "val/mAP" in h.epoch_values
    out = plot_training_curves(tmp_path, tmp_path / "curves.png")
    hgt, w = _png_size(out)
    assert w > 2.5 * hgt and hgt > 400
    assert log.is_file()


def test_plot_cli(tmp_path, capsys):
    from pointlab.cli import main

    _fake_log(tmp_path / "train.log")
    assert main(["plot", str(tmp_path)]) == 0
    assert (tmp_path / "curves.png").stat().st_size > 20_000
    assert "4 evaluated epochs" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["plot", str(empty)]) == 2
    assert "no training history" in capsys.readouterr().err


def test_history_from_tensorboard_events(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path))
    for step in range(1, 11):  # 2 epochs of 5 iterations
        writer.add_scalar("params/lr", 0.01 / step, step)
        writer.add_scalar("train_batch/loss", 1.0 / step, step)
    for epoch in (1, 2):
        writer.add_scalar("train/loss", 0.5 / epoch, epoch)
        writer.add_scalar("val/mIoU", 0.3 * epoch, epoch)
    writer.close()
    h = load_history(tmp_path)
    assert h.max_epoch == 2
    np.testing.assert_allclose(h.iter_x[[0, -1]], [0.2, 2.0])
    np.testing.assert_allclose(h.epoch_values["val/mIoU"], [0.3, 0.6])
    assert h.iter_values["Lr"][0] == pytest.approx(0.01)


def test_unoriented_normals_are_flipped_towards_the_centre_before_hiding_back_faces():
    from pointlab.viz.render import _oriented

    coord, labels = _room(n=3000)
    rng = np.random.default_rng(1)
    normal = np.zeros_like(coord)
    normal[labels == 1, 2] = 1.0
    normal[(labels != 1), 0] = 1.0
    random_sign = normal * rng.choice([-1.0, 1.0], size=(len(coord), 1))
    fixed = _oriented(coord, random_sign)
    assert (fixed[labels == 1, 2] > 0).all()  # the floor faces up again: nothing hidden from above
    outward = normal.copy()
    outward[labels == 2] *= -1  # a few consistently oriented normals pointing away are kept as given
    np.testing.assert_array_equal(_oriented(coord, outward), outward)
