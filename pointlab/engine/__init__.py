"""Training engine: trainer, hooks, optimizers/schedulers, checkpoints, launch."""
