"""Optimizers with keyword parameter groups and the per-iteration schedulers."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from pointlab.engine.optim import build_optimizer, build_param_groups, build_scheduler
from pointlab.registry import OPTIMIZERS, SCHEDULERS


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Linear(2, 4)
        self.enc = nn.ModuleDict(dict(block0=nn.Linear(4, 4), pool=nn.Linear(4, 4)))
        self.head = nn.Linear(4, 2)
        self.logit_scale = nn.Parameter(torch.ones(()), requires_grad=False)


def test_registered_names():
    assert {"SGD", "Adam", "AdamW"} <= set(OPTIMIZERS.module_dict)
    assert {"OneCycleLR", "PolyLR", "MultiStepLR", "MultiStepWithWarmupLR", "ExpLR", "CosineAnnealingLR"} <= set(
        SCHEDULERS.module_dict)


def test_param_dicts_group_by_first_matching_keyword_and_skip_frozen():
    net = Net()
    groups, names = build_param_groups(net, 0.1, [dict(keyword="block", lr=0.01), dict(keyword="enc", lr=0.5,
                                                                                       weight_decay=0.0)])
    assert names[1] == ["enc.block0.weight", "enc.block0.bias"]  # "block" wins over the later "enc"
    assert names[2] == ["enc.pool.weight", "enc.pool.bias"]
    assert names[0] == ["embedding.weight", "embedding.bias", "head.weight", "head.bias"]
    assert groups[1]["lr"] == 0.01 and groups[2] == {**groups[2], "lr": 0.5, "weight_decay": 0.0}
    assert all("logit_scale" not in n for g in names for n in g)

    opt = build_optimizer(dict(type="AdamW", lr=0.1, weight_decay=0.05), net, [dict(keyword="block", lr=0.01)])
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert opt.param_groups[1]["weight_decay"] == 0.05  # inherited from the optimizer config


def test_no_param_dicts_takes_every_parameter_including_frozen():
    net = Net()
    opt = build_optimizer(dict(type="SGD", lr=0.1, momentum=0.9), net)
    assert len(opt.param_groups) == 1
    assert sum(p.numel() for p in opt.param_groups[0]["params"]) == sum(p.numel() for p in net.parameters())


def test_unknown_optimizer_suggests_close_names():
    with pytest.raises(KeyError, match="AdamW"):
        build_optimizer(dict(type="AdamWW", lr=0.1), Net())


def _lrs(scheduler, optimizer, steps):
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def _sgd(lr=1.0, momentum=0.9):
    return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr, momentum=momentum)


def test_one_cycle_matches_reference_settings_and_cycles_momentum():
    opt = _sgd()
    sched = build_scheduler(dict(type="OneCycleLR", max_lr=0.05, pct_start=0.05, anneal_strategy="cos",
                                 div_factor=10.0, final_div_factor=1e4), opt, total_steps=100)
    lrs = _lrs(sched, opt, 100)
    assert lrs[0] == pytest.approx(0.005)
    assert max(lrs) == pytest.approx(0.05, rel=1e-3)
    assert lrs[-1] == pytest.approx(0.005 / 1e4, rel=0.2)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95, rel=1e-3)  # back to max_momentum
    with pytest.raises(ValueError):  # one step past total_steps
        opt.step()
        sched.step()


def test_one_cycle_list_max_lr_needs_one_value_per_group():
    net = Net()
    opt = build_optimizer(dict(type="SGD", lr=0.1, momentum=0.9), net, [dict(keyword="block", lr=0.01)])
    build_scheduler(dict(type="OneCycleLR", max_lr=[0.1, 0.01]), opt, 10)
    with pytest.raises(ValueError, match="one max_lr per group"):
        build_scheduler(dict(type="OneCycleLR", max_lr=[0.1, 0.01, 0.001]), opt, 10)


def test_poly_exp_cosine_multistep_formulas():
    T = 20
    opt = _sgd()
    lrs = _lrs(build_scheduler(dict(type="PolyLR"), opt, T), opt, T)
    assert lrs == pytest.approx([(1 - s / (T + 1)) ** 0.9 for s in range(T)])
    opt = _sgd()
    lrs = _lrs(build_scheduler(dict(type="ExpLR", gamma=0.5), opt, T), opt, T)
    assert lrs == pytest.approx([0.5 ** (s / T) for s in range(T)])
    opt = _sgd()
    lrs = _lrs(build_scheduler(dict(type="CosineAnnealingLR"), opt, T), opt, T + 1)
    assert lrs[T] == pytest.approx(0.0, abs=1e-12) and lrs[T // 2] == pytest.approx(0.5)
    opt = _sgd()
    lrs = _lrs(build_scheduler(dict(type="MultiStepLR", milestones=[0.5, 0.75], gamma=0.1), opt, T), opt, T)
    assert lrs[9] == 1.0 and lrs[10] == pytest.approx(0.1) and lrs[15] == pytest.approx(0.01)
    opt = _sgd()
    lrs = _lrs(build_scheduler(dict(type="MultiStepWithWarmupLR", milestones=[0.5], warmup_rate=0.1,
                                   warmup_scale=1e-6), opt, T), opt, T)
    assert lrs[0] == pytest.approx(1e-6) and lrs[1] == pytest.approx(0.5, rel=1e-4) and lrs[2] == 1.0
    assert lrs[10] == pytest.approx(0.1)


def test_lambda_scheduler_state_round_trip():
    opt = _sgd()
    a = build_scheduler(dict(type="PolyLR", power=2.0), opt, 10)
    _lrs(a, opt, 4)
    opt2 = _sgd()
    b = build_scheduler(dict(type="PolyLR", power=2.0), opt2, 10)
    opt2.load_state_dict(opt.state_dict())
    b.load_state_dict(a.state_dict())
    assert _lrs(b, opt2, 3) == pytest.approx(_lrs(a, opt, 3))


def test_total_steps_is_injected_and_checked():
    opt = _sgd()
    s = build_scheduler(dict(type="CosineAnnealingLR", total_steps=999), opt, total_steps=7)
    assert s.T_max == 7  # the trainer's value wins over a stale config entry
    with pytest.raises(ValueError, match="total_steps=0"):
        build_scheduler(dict(type="PolyLR"), opt, total_steps=0)
    assert math.isfinite(opt.param_groups[0]["lr"])
