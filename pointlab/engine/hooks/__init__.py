"""Training hooks: the protocol (:class:`HookBase`) and the default hooks registered in ``HOOKS``."""
from pointlab.engine.hooks.base import HookBase

__all__ = ["HookBase"]
