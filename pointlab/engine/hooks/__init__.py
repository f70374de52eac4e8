"""Training hooks: the protocol (:class:`HookBase`) and the default hooks registered in ``HOOKS``."""
from pointlab.engine.hooks.base import HookBase
from pointlab.engine.hooks.default import (
    CheckpointLoader,
    CheckpointSaver,
    InformationWriter,
    IterationTimer,
    ModelHook,
)

__all__ = ["HookBase", "CheckpointLoader", "CheckpointSaver", "InformationWriter", "IterationTimer", "ModelHook"]
