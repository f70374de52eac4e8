"""Tiny registered model/dataset and a config factory shared by the engine tests (no tests here)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pointlab.registry import DATASETS, MODELS

N_POINTS = 24
NUM_CLASSES = 3


@MODELS.register_module("_EngineToySeg", force=True)
class ToySeg(nn.Module):
    """Per-point MLP classifier with Pointcept's input/output dicts.

    ``nan_at_call``: the loss becomes NaN at that training forward call (1-based) — for the NaN test.
    """

    def __init__(self, in_channels=4, num_classes=NUM_CLASSES, dropout=0.2, nan_at_call=None):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_channels, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, num_classes))
        self.nan_at_call = nan_at_call
        self.calls = 0

    def forward(self, input_dict):
        logits = self.net(input_dict["feat"])
        out = {}
        if "segment" in input_dict:
            loss = nn.functional.cross_entropy(logits, input_dict["segment"], ignore_index=-1)
            if self.training:
                self.calls += 1
                if self.nan_at_call is not None and self.calls >= self.nan_at_call:
                    loss = loss * float("nan")
            out["loss"] = loss
            out["aux"] = loss.detach() * 0.5
        if not self.training:
            out["seg_logits"] = logits
        return out


@DATASETS.register_module("_EngineToyPoints", force=True)
class ToyPoints(torch.utils.data.Dataset):
    """``n`` fixed point sets; each fetch adds noise from numpy's *global* RNG (as Pointcept's transforms do)."""

    def __init__(self, n=8, loop=1, split="train", noise=0.1, seed=0):
        rng = np.random.default_rng(seed)
        self.feat = rng.normal(size=(n, N_POINTS, 4)).astype(np.float32)
        self.segment = (self.feat[..., 0] > 0).astype(np.int64) + (self.feat[..., 1] > 0.5)
        self.n, self.loop, self.noise = n, loop, noise

    def __len__(self):
        return self.n * self.loop

    def __getitem__(self, idx):
        i = idx % self.n
        feat = self.feat[i] + self.noise * np.random.randn(N_POINTS, 4).astype(np.float32)
        return dict(
            coord=torch.from_numpy(feat[:, :3].copy()),
            feat=torch.from_numpy(feat),
            segment=torch.from_numpy(self.segment[i]),
            offset=torch.tensor([N_POINTS]),
            name=f"toy_{i}",
        )


def toy_config(save_path, **overrides):
    """A prepared Config (through default_config_parser) for the toy model and data."""
    from pointlab.config import default_config_parser

    cfg = dict(
        save_path=str(save_path),
        seed=3,
        epoch=4,
        eval_epoch=4,
        batch_size=2,
        num_worker=0,
        evaluate=False,
        model=dict(type="_EngineToySeg", in_channels=4, num_classes=NUM_CLASSES),
        data=dict(num_classes=NUM_CLASSES, ignore_index=-1, names=["a", "b", "c"],
                  train=dict(type="_EngineToyPoints", n=6), val=dict(type="_EngineToyPoints", n=2, split="val")),
        optimizer=dict(type="SGD", lr=0.1, momentum=0.9, weight_decay=1e-4),
        scheduler=dict(type="OneCycleLR", max_lr=0.1, pct_start=0.3),
        hooks=[dict(type="CheckpointLoader"), dict(type="IterationTimer", warmup_iter=1),
               dict(type="InformationWriter"), dict(type="CheckpointSaver")],
    )
    options = {}
    for k, v in overrides.items():
        if "." in k:
            options[k] = v
        else:
            cfg[k] = v
    return default_config_parser(cfg, options or None)

