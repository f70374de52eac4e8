"""Optimizers (with keyword → learning-rate parameter groups) and per-iteration LR schedulers.

Registered names are Pointcept's: optimizers ``SGD``, ``Adam``, ``AdamW`` (the torch classes);
schedulers ``OneCycleLR``, ``PolyLR``, ``MultiStepLR``, ``MultiStepWithWarmupLR``, ``ExpLR``,
``CosineAnnealingLR``. Every scheduler takes ``total_steps`` (optimizer steps of the whole run),
which the trainer passes in; schedulers are stepped once per optimizer step.
"""
from __future__ import annotations

import logging

import torch
from torch.optim import lr_scheduler

from pointlab.registry import OPTIMIZERS, SCHEDULERS

OPTIMIZERS.register_module("SGD", module=torch.optim.SGD)
OPTIMIZERS.register_module("Adam", module=torch.optim.Adam)
OPTIMIZERS.register_module("AdamW", module=torch.optim.AdamW)

_GROUP_KEYS = ("lr", "momentum", "weight_decay")


def _get(d, key, default=None):
    return d.get(key, default) if hasattr(d, "get") else getattr(d, key, default)


def build_param_groups(model: torch.nn.Module, base_lr: float, param_dicts=None) -> tuple[list[dict], list[list[str]]]:
    """Split the trainable parameters of ``model`` into optimizer groups.

    Group 0 holds every parameter matched by no entry (learning rate ``base_lr``); group k ≥ 1
    holds the parameters whose full name contains ``param_dicts[k-1]["keyword"]`` (the first
    matching entry wins), with that entry's ``lr``/``momentum``/``weight_decay`` when given.
    Frozen parameters (``requires_grad=False``) are left out.

    Returns:
        (groups, names): torch param-group dicts and, per group, the parameter names.
    """
    groups = [dict(params=[], lr=base_lr)]
    names: list[list[str]] = [[]]
    for i, entry in enumerate(param_dicts):
        if _get(entry, "keyword") is None:
            raise KeyError(f"param_dicts[{i}] = {dict(entry)!r} has no 'keyword'; write dict(keyword='block', lr=...)")
        g = dict(params=[])
        for k in _GROUP_KEYS:
            if _get(entry, k) is not None:
                g[k] = _get(entry, k)
        groups.append(g)
        names.append([])
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        idx = next((i + 1 for i, e in enumerate(param_dicts) if _get(e, "keyword") in n), 0)
        groups[idx]["params"].append(p)
        names[idx].append(n)
    return groups, names


def build_optimizer(cfg, model: torch.nn.Module, param_dicts=None) -> torch.optim.Optimizer:
    """Build ``cfg`` (``dict(type="AdamW", lr=..., ...)``) over ``model``'s parameters.

    ``param_dicts`` None → all ``model.parameters()`` in one group (frozen ones included, they
    simply never get a gradient), as the reference does. Otherwise groups as in
    :func:`build_param_groups`, and their membership is logged.
    """
    cfg = dict(cfg)
    if "lr" not in cfg:
        raise KeyError(f"optimizer config {cfg!r} has no 'lr'")
    if param_dicts is None:
        params = list(model.parameters())
    else:
        params, names = build_param_groups(model, cfg["lr"], param_dicts)
        log = logging.getLogger("pointlab")
        for i, (g, n) in enumerate(zip(params, names)):
            opts = "".join(f" {k}: {g[k]};" for k in _GROUP_KEYS if k in g)
            log.info(f"Params Group {i + 1} -{opts} Params: {n}.")
        empty = [i for i, g in enumerate(params) if not g["params"]]
        if empty:
            log.warning(f"Params Group(s) {[i + 1 for i in empty]} match no trainable parameter; check the keywords of param_dicts")
    return OPTIMIZERS.build(cfg, params=params)


def build_scheduler(cfg, optimizer: torch.optim.Optimizer, total_steps: int):
    """Build the scheduler ``cfg`` for ``optimizer`` with ``total_steps`` optimizer steps.

    ``total_steps`` is passed as an argument, never written back into the config.
    """
    if total_steps < 1:
        raise ValueError(
            f"the scheduler needs at least one optimizer step, got total_steps={total_steps}; "
            "the train loader is empty or shorter than gradient_accumulation_steps (check the dataset, batch_size)"
        )
    cfg = {k: v for k, v in dict(cfg).items() if k != "total_steps"}
    return SCHEDULERS.build(cfg, optimizer=optimizer, total_steps=int(total_steps))


@SCHEDULERS.register_module()
class OneCycleLR(lr_scheduler.OneCycleLR):
    """torch's OneCycleLR with Pointcept's defaults; ``max_lr`` may be a list (one per group)."""

    def __init__(self, optimizer, max_lr, total_steps=None, pct_start=0.3, anneal_strategy="cos",
                 cycle_momentum=True, base_momentum=0.85, max_momentum=0.95, div_factor=25.0,
                 final_div_factor=1e4, three_phase=False, last_epoch=-1):
        if isinstance(max_lr, (list, tuple)) and len(max_lr) != len(optimizer.param_groups):
            raise ValueError(
                f"OneCycleLR: max_lr has {len(max_lr)} values but the optimizer has {len(optimizer.param_groups)} "
                "parameter groups (1 + len(param_dicts)); give one max_lr per group, base group first"
            )
        super().__init__(optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=pct_start,
                         anneal_strategy=anneal_strategy, cycle_momentum=cycle_momentum,
                         base_momentum=base_momentum, max_momentum=max_momentum, div_factor=div_factor,
                         final_div_factor=final_div_factor, three_phase=three_phase, last_epoch=last_epoch)


class _StepFunction:
    """Picklable LR factor (LambdaLR stores callable *objects* in its state_dict, not lambdas)."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError


class _Poly(_StepFunction):
    def __init__(self, total_steps, power):
        self.total_steps, self.power = total_steps, power

    def __call__(self, s):
        return (1 - s / (self.total_steps + 1)) ** self.power


class _Exp(_StepFunction):
    def __init__(self, total_steps, gamma):
        self.total_steps, self.gamma = total_steps, gamma

    def __call__(self, s):
        return self.gamma ** (s / self.total_steps)


class _MultiStepWarmup(_StepFunction):
    def __init__(self, milestones, total_steps, gamma, warmup_rate, warmup_scale):
        self.milestones = [m * total_steps for m in milestones]
        self.total_steps, self.gamma = total_steps, gamma
        self.warmup_rate, self.warmup_scale = warmup_rate, warmup_scale

    def __call__(self, s):
        factor = self.gamma ** sum(1 for m in self.milestones if s >= m)
        warm_end = self.warmup_rate * self.total_steps
        if warm_end > 0 and s <= warm_end:
            factor *= 1 - (1 - s / warm_end) * (1 - self.warmup_scale)
        return factor


@SCHEDULERS.register_module()
class PolyLR(lr_scheduler.LambdaLR):
    """``lr = base_lr · (1 − step/(total_steps+1))^power``."""

    def __init__(self, optimizer, total_steps, power=0.9, last_epoch=-1):
        super().__init__(optimizer, lr_lambda=_Poly(total_steps, power), last_epoch=last_epoch)


@SCHEDULERS.register_module()
class ExpLR(lr_scheduler.LambdaLR):
    """``lr = base_lr · gamma^(step/total_steps)``."""

    def __init__(self, optimizer, total_steps, gamma=0.9, last_epoch=-1):
        super().__init__(optimizer, lr_lambda=_Exp(total_steps, gamma), last_epoch=last_epoch)


@SCHEDULERS.register_module()
class MultiStepLR(lr_scheduler.MultiStepLR):
    """torch's MultiStepLR with ``milestones`` given as fractions of ``total_steps``."""

    def __init__(self, optimizer, milestones, total_steps, gamma=0.1, last_epoch=-1):
        super().__init__(optimizer, milestones=[int(r * total_steps) for r in milestones], gamma=gamma,
                         last_epoch=last_epoch)


@SCHEDULERS.register_module()
class MultiStepWithWarmupLR(lr_scheduler.LambdaLR):
    """MultiStepLR (fractional milestones) times a linear warm-up from ``warmup_scale`` over ``warmup_rate·total``."""

    def __init__(self, optimizer, milestones, total_steps, gamma=0.1, warmup_rate=0.05, warmup_scale=1e-6,
                 last_epoch=-1):
        fn = _MultiStepWarmup(milestones, total_steps, gamma, warmup_rate, warmup_scale)
        super().__init__(optimizer, lr_lambda=fn, last_epoch=last_epoch)


@SCHEDULERS.register_module()
class CosineAnnealingLR(lr_scheduler.CosineAnnealingLR):
    """torch's CosineAnnealingLR with ``T_max = total_steps``."""

    def __init__(self, optimizer, total_steps, eta_min=0, last_epoch=-1):
        super().__init__(optimizer, T_max=total_steps, eta_min=eta_min, last_epoch=last_epoch)


__all__ = ["build_optimizer", "build_param_groups", "build_scheduler", "OneCycleLR", "PolyLR", "ExpLR",
           "MultiStepLR", "MultiStepWithWarmupLR", "CosineAnnealingLR"]
