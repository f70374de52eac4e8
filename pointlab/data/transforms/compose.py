"""``Compose`` and ``build_transform``: a transform pipeline built from config dicts."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from pointlab.registry import TRANSFORMS


class Compose:
    """Apply transforms in order: ``data = t(data)`` for each ``t``.

    Args:
        cfg: a list of ``dict(type=<name in TRANSFORMS>, **kwargs)`` (Pointcept's
            format) or of already-built callables; ``None`` or ``[]`` gives the identity.

    Attributes:
        transforms: the built callables, in order.
    """

    def __init__(self, cfg: Sequence[Any] | None = None):
        if cfg is None:
            cfg = []
        if isinstance(cfg, dict):
            raise TypeError(
                "Compose expects a list of transform configs, got a single dict "
                f"{cfg!r}; wrap it in a list: [dict(type=...)]"
            )
        self.cfg = list(cfg)
        self.transforms: list[Callable] = []
        for i, t_cfg in enumerate(self.cfg):
            if isinstance(t_cfg, dict):
                self.transforms.append(TRANSFORMS.build(t_cfg))
            elif callable(t_cfg):
                self.transforms.append(t_cfg)
            else:
                raise TypeError(
                    f"transform #{i} must be a dict(type=...) or a callable, got {type(t_cfg).__name__}: {t_cfg!r}"
                )

    def __call__(self, data_dict):
        for t in self.transforms:
            data_dict = t(data_dict)
        return data_dict

    def __len__(self) -> int:
        return len(self.transforms)

    def __repr__(self) -> str:
        inner = ", ".join(type(t).__name__ for t in self.transforms)
        return f"Compose([{inner}])"


def build_transform(cfg: Sequence[Any] | None) -> Compose:
    """Build a :class:`Compose` from a list of transform configs (``None``/``[]`` → identity)."""
    return Compose(cfg)
