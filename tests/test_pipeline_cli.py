"""``pointlab pipeline`` end to end on tiny datasets written by the tests (and on a synthetic one)."""
import os
import re
import time

import numpy as np
import pytest

from pointlab.cli import main


def write_scannet(root, scenes=2, n=3000, split="train", seed=0):
    rng = np.random.default_rng(seed)
    for s in range(scenes):
        d = os.path.join(root, split, f"scene{s:04d}_00")
        os.makedirs(d)
        np.save(os.path.join(d, "coord.npy"), rng.uniform(0, 1.0, (n, 3)).astype(np.float32))
        np.save(os.path.join(d, "color.npy"), rng.integers(0, 256, (n, 3)).astype(np.uint8))
        normal = rng.normal(size=(n, 3)).astype(np.float32)
        np.save(os.path.join(d, "normal.npy"), normal / np.linalg.norm(normal, axis=1, keepdims=True))
        np.save(os.path.join(d, "segment20.npy"), rng.integers(-1, 3, n))
        np.save(os.path.join(d, "instance.npy"), rng.integers(-1, 5, n))


def points_per_sample(out, key="offset"):
    m = re.search(rf"^\s*{key}: \[[^\]]*\] \(points per sample \[([^\]]*)\]\)", out, re.M)
    assert m, out
    return [int(x) for x in m.group(1).split(",")]


def test_builtin_scannet_pipeline(tmp_path, capsys):
    write_scannet(str(tmp_path))
    rc = main(["pipeline", "--data-root", str(tmp_path), "--style", "scannet", "--samples", "3"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert re.search(r"^\s*coord\s+float32\s+\[\d+, 3\]\s+range", out, re.M), out
    assert re.search(r"^\s*grid_coord\s+int64\s+\[\d+, 3\]\s+range \[0,", out, re.M), out
    assert re.search(r"^\s*feat\s+float32\s+\[\d+, 6\]", out, re.M), out
    counts = points_per_sample(out)
    assert len(counts) == 3 and all(0 < c <= 3000 for c in counts)  # voxelised: at most the raw points
    assert "segment histogram" in out and "wall" in out and "floor" in out and "cabinet" in out
    assert "classes present: 3/20" in out


def test_config_pipeline_with_options(tmp_path, capsys):
    write_scannet(str(tmp_path / "data"), scenes=2, split="val")
    cfg = tmp_path / "cfg.py"
    cfg.write_text(
        "data_root = %r\n"
        "data = dict(num_classes=20, names=['a%%d' %% i for i in range(20)],\n"
        "    val=dict(type='ScanNetDataset', split='val', data_root=data_root, transform=[\n"
        "        dict(type='GridSample', grid_size=0.1, hash_type='fnv', mode='train', return_grid_coord=True),\n"
        "        dict(type='ToTensor'),\n"
        "        dict(type='Collect', keys=('coord', 'grid_coord', 'segment'), feat_keys=('color',))]),\n"
        "    test=dict(type='ScanNetDataset', split='val', data_root=data_root, test_mode=True,\n"
        "        transform=[dict(type='NormalizeColor')],\n"
        "        test_cfg=dict(voxelize=dict(type='GridSample', grid_size=0.25, mode='test', return_grid_coord=True),\n"
        "            crop=None, post_transform=[dict(type='ToTensor'),\n"
        "                dict(type='Collect', keys=('coord', 'grid_coord', 'index'), feat_keys=('color',))],\n"
        "            aug_transform=[[dict(type='RandomScale', scale=[1, 1])]])))\n" % str(tmp_path / "data")
    )
    rc = main(["pipeline", "--config-file", str(cfg), "--split", "val", "--samples", "2",
               "--options", "data.val.transform.0.grid_size=0.5"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert all(c <= 8 for c in points_per_sample(out))  # a 1 m cube at 0.5 m has at most 2³ voxels
    assert "a0" in out and "classes present: 3/20" in out

    rc = main(["pipeline", "--config-file", str(cfg), "--split", "test", "--samples", "1"])
    out = capsys.readouterr().out
    assert rc == 0, out
    m = re.search(r"scene0000_00: segment .*; (\d+) fragments", out)
    assert m and int(m.group(1)) > 1, out
    assert re.search(r"^\s*index\s+int64", out, re.M), out

    rc = main(["pipeline", "--config-file", str(cfg), "--split", "train"])
    assert rc == 2 and "no data.train dataset" in capsys.readouterr().err


def test_missing_data_and_bad_scene_are_reported(tmp_path, capsys):
    rc = main(["pipeline", "--data-root", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert rc == 1 and "none" in err and "pointlab synth --style scannet" in err

    write_scannet(str(tmp_path / "d"), scenes=1, n=50)
    np.save(tmp_path / "d" / "train" / "scene0000_00" / "segment20.npy", np.full(50, 40))
    rc = main(["pipeline", "--data-root", str(tmp_path / "d"), "--style", "scannet"])
    err = capsys.readouterr().err
    assert rc == 1 and "SceneDataError" in err and "scene0000_00" in err and "segment20.npy" in err

    assert main(["pipeline"]) == 2
    assert "--config-file" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("style", ["scannet", "s3dis", "structured3d"])
def test_pipeline_generates_synthetic_data(tmp_path, capsys, style):
    synth = pytest.importorskip("pointlab.data.synth")
    if not hasattr(synth, "write_dataset"):
        pytest.skip("synthetic generator not available")
    root = tmp_path / style
    t0 = time.perf_counter()
    rc = main(["pipeline", "--data-root", str(root), "--style", style, "--samples", "1", "--scenes", "2"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "synthetic" in out and os.path.isdir(root)
    assert len(points_per_sample(out)) == 1 and "segment histogram" in out
    assert time.perf_counter() - t0 < 60
