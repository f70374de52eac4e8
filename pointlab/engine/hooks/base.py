"""The one hook protocol of the training loop.

Call order (``DefaultTrainer.train``)::

    for hook in hooks: hook.before_train()           # once; CheckpointLoader restores state here
    for epoch in range(start_epoch, max_epoch):
        for hook in hooks: hook.before_epoch()
        for iter, batch in enumerate(train_loader):
            for hook in hooks: hook.before_step()     # comm_info["iter"], ["input_dict"] are set
            trainer.run_step()                        # forward/backward/optimizer/scheduler
            for hook in hooks: hook.after_step()      # comm_info["model_output_dict"] is set
        for hook in hooks: hook.after_epoch()         # evaluators first, then CheckpointSaver
        trainer.storage.reset_histories()
    for hook in hooks: hook.after_train()             # once; PreciseEvaluator runs the tester

Hooks run in the config's list order at every event. Each hook gets ``self.trainer``,
a weak proxy to the trainer (set by ``DefaultTrainer.register_hooks``), so hooks never
keep the trainer alive.

What a hook may read on the trainer
-----------------------------------
``cfg``              the full Config (runtime keys: ``cfg.evaluate``, ``cfg.save_path``, ``cfg.data`` …)
``model``            the model (a DDP wrapper when world size > 1; unwrap with ``.module``)
``train_loader``     training DataLoader
``val_loader``       validation DataLoader, or ``None`` when ``cfg.evaluate`` is False
``optimizer``, ``scheduler``, ``scaler`` (``torch.amp.GradScaler`` or ``None`` when AMP is off)
``logger``           ``logging.Logger`` (writes to the console and ``save_path/train.log``)
``writer``           tensorboard ``SummaryWriter`` or ``None`` (non-main processes, tensorboard missing)
``epoch``            current epoch index (0-based), ``start_epoch``, ``max_epoch`` (= cfg.eval_epoch)
``best_metric_value`` float, ``-inf`` until an evaluator reports
``device``           ``torch.device`` the model runs on
``storage``          :class:`pointlab.engine.storage.EventStorage`: ``put_scalar(name, value, n=1)``,
                     ``history(name)`` → ``.val``/``.avg``/``.total``/``.count``; histories are reset
                     after every epoch
``comm_info``        Pointcept-compatible dict (a blackboard, kept for Pointcept hook code):

    ===========================  =====================================================  ==============
    key                          meaning                                                written by
    ===========================  =====================================================  ==============
    ``"iter"``                   iteration index within the epoch (0-based)             trainer
    ``"input_dict"``             the collated batch (already on ``trainer.device``)     trainer
    ``"model_output_dict"``      the model's output dict of the last step               trainer
    ``"iter_info"``              str; hooks append pieces of the per-iteration log      hooks
                                 line (InformationWriter resets it in before_step)
    ``"current_metric_value"``   float metric of this epoch's evaluation                evaluator (after_epoch)
    ``"current_metric_name"``    its name, e.g. ``"mIoU"``                              evaluator (after_epoch)
    ===========================  =====================================================  ==============

What a hook may change
----------------------
- ``CheckpointLoader``: ``trainer.start_epoch``, ``trainer.best_metric_value`` and the states of
  model/optimizer/scheduler/scaler/hooks (before_train only).
- ``CheckpointSaver``: ``trainer.best_metric_value`` (after_epoch), reading
  ``comm_info["current_metric_value"/"current_metric_name"]`` set earlier in the same after_epoch
  by the evaluator hooks (so evaluators must precede it in the hook list).
- Any hook: append to ``comm_info["iter_info"]``, put scalars into ``trainer.storage``.

Stateful hooks may implement ``state_dict()`` / ``load_state_dict(d)``; the trainer stores them in
the checkpoint under ``"hooks"`` (keyed by ``"<index>:<ClassName>"``) and restores them on resume.
"""
from __future__ import annotations

import weakref


class HookBase:
    """Base class of training hooks; every event is a no-op by default.

    Attributes:
        trainer: weak proxy to the trainer, set when the hook is registered.
    """

    trainer = None

    def _attach(self, trainer) -> None:
        # A proxy, not a ref: hook code reads ``self.trainer.cfg`` as in Pointcept.
        self.trainer = trainer if isinstance(trainer, weakref.ProxyTypes) else weakref.proxy(trainer)

    def before_train(self) -> None:
        pass

    def before_epoch(self) -> None:
        pass

    def before_step(self) -> None:
        pass

    def after_step(self) -> None:
        pass

    def after_epoch(self) -> None:
        pass

    def after_train(self) -> None:
        pass

    def state_dict(self) -> dict:
        """State to store in checkpoints (empty for stateless hooks)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        pass
