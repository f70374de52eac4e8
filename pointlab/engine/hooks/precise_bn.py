"""``PreciseBN``: recompute BatchNorm running statistics before evaluation (a pointlab addition).

Pointcept's sparse U-Nets use ``BatchNorm1d(momentum=0.01)``: the running statistics average over
roughly the last hundred iterations, so on short schedules (or right after a high learning rate)
they lag behind the weights and evaluation-mode outputs are much worse than the model is. This hook
re-estimates them as a plain average over ``num_iter`` training batches with the current weights
(the idea of detectron2's PreciseBN), just before the evaluator hooks run.
"""
from __future__ import annotations

import itertools

import torch
from torch import nn

from pointlab.engine.hooks.base import HookBase
from pointlab.registry import HOOKS

_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


@torch.no_grad()
def update_bn_stats(model: nn.Module, batches, forward) -> int:
    """Replace every BatchNorm's running mean/var by the average over ``batches``.

    Args:
        model: the model (train/eval mode is restored afterwards).
        batches: iterable of input dicts.
        forward: ``forward(batch)`` runs the model on one batch (device moves, autocast).

    Returns:
        the number of batches used (0 leaves the statistics unchanged).
    """
    bns = [m for m in model.modules() if isinstance(m, _BN_TYPES) and m.track_running_stats]
    if not bns:
        return 0
    saved = [(m.momentum, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in bns]
    was_training = model.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average = plain mean over the batches seen
    model.train()
    n = 0
    try:
        for batch in batches:
            forward(batch)
            n += 1
    finally:
        for m, (momentum, mean, var, count) in zip(bns, saved):
            m.momentum = momentum
            if n == 0:
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)
        model.train(was_training)
    return n


@HOOKS.register_module()
class PreciseBN(HookBase):
    """Before evaluation, recompute BatchNorm statistics over ``num_iter`` training batches.

    Place it before the evaluator hooks. It runs in ``after_epoch`` when ``cfg.evaluate`` is
    true (or always with ``always=True``), so checkpoints hold the recomputed statistics too.

    Args:
        num_iter: training batches to average over.
        always: also run when ``evaluate`` is False.
    """

    def __init__(self, num_iter: int = 8, always: bool = False):
        if num_iter < 1:
            raise ValueError(f"PreciseBN: num_iter must be ≥ 1, got {num_iter}")
        self.num_iter = num_iter
        self.always = always

    def after_epoch(self):
        t = self.trainer
        if not (self.always or t.cfg.get("evaluate", True)):
            return
        n = update_bn_stats(t.model, itertools.islice(t.train_loader, self.num_iter), t.forward_batch)
        t.logger.info(f"PreciseBN: BatchNorm statistics recomputed over {n} training batches")
