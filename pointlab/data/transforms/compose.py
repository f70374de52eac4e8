"""``Compose`` and ``build_transform``: a transform pipeline built from config dicts."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from pointlab.data.transforms.sampling import materialize_rows
from pointlab.registry import TRANSFORMS


class Compose:
    """Apply transforms in order: ``data = t(data)`` for each ``t``.

    Per-point arrays are gathered lazily across point-subsetting transforms: a transform with
    ``call_deferred(data, pending)`` (GridSample, SphereCrop, ShufflePoint) records its row
    index in ``pending`` instead of gathering every array; a transform with ``row_keys``
    (e.g. CenterShift: ``("coord",)``) gets only those keys gathered; any other transform,
    and the end of the pipeline, gets them all. The result is the same as the plain loop
    (composed gathers pick the same elements; the random draws are unchanged).

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
        return self.run(data_dict)

    def run(self, data_dict, on_step: Callable[[int], None] | None = None):
        """``self(data_dict)``; ``on_step(i)`` is called after transform ``i`` (including the
        gathers it needed) and ``on_step(len(self))`` after the final gathers (for profiling)."""
        pending: dict = {}  # key -> row index not yet applied to data_dict[key]
        for i, t in enumerate(self.transforms):
            out = NotImplemented
            deferred = _hook(t, "call_deferred") if isinstance(data_dict, dict) else None
            if deferred is not None:
                out = deferred(data_dict, pending)
            if out is NotImplemented:
                if pending:
                    data_dict = materialize_rows(data_dict, pending, _hook(t, "row_keys"))
                out = t(data_dict)
            data_dict = out
            if on_step is not None:
                on_step(i)
        if pending:
            data_dict = materialize_rows(data_dict, pending)
        if on_step is not None:
            on_step(len(self.transforms))
        return data_dict

    def __len__(self) -> int:
        return len(self.transforms)

    def __repr__(self) -> str:
        inner = ", ".join(type(t).__name__ for t in self.transforms)
        return f"Compose([{inner}])"


def _hook(t, name: str):
    """``getattr(t, name)``, or None if absent or if a subclass overrides ``__call__`` below the
    class that defines it (the hook would then skip the override)."""
    for klass in type(t).__mro__:
        if name in vars(klass):
            return getattr(t, name) if type(t).__call__ is klass.__call__ else None
    return None


def build_transform(cfg: Sequence[Any] | None) -> Compose:
    """Build a :class:`Compose` from a list of transform configs (``None``/``[]`` → identity)."""
    return Compose(cfg)
