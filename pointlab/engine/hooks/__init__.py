"""Training hooks: the protocol (:class:`HookBase`) and the default hooks registered in ``HOOKS``."""
from pointlab.engine.hooks.base import HookBase
from pointlab.engine.hooks.default import (
    CheckpointLoader,
    CheckpointSaver,
    InformationWriter,
    IterationTimer,
    ModelHook,
)
from pointlab.engine.hooks.precise_bn import PreciseBN, update_bn_stats

__all__ = ["HookBase", "CheckpointLoader", "CheckpointSaver", "InformationWriter", "IterationTimer", "ModelHook", "PreciseBN",
           "update_bn_stats"]
