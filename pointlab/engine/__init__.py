"""Training engine.

Modules (imported where used, so ``import pointlab.engine`` stays cheap):
    trainers    ``DefaultTrainer`` (registry ``TRAINERS``): builds everything from a config and trains
    hooks       the hook protocol (``HookBase``, call order and trainer contract) and the default hooks
    optim       optimizers with keyword parameter groups, per-iteration LR schedulers
    checkpoint  atomic save, weights-only load, ``load_weights`` with a report
    defaults    per-process set-up (derived batch/worker keys, seeds), dataloader worker seeding
    launch      process layout (single process today; the DDP seam)
    comm        world size / rank / barrier helpers
    storage     ``EventStorage`` scalar histories
    logger      the ``pointlab`` logger (console + train.log, Pointcept's line format)
"""
