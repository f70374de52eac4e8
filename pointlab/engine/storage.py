"""Scalar histories shared by hooks (``trainer.storage``), reset after every epoch."""
from __future__ import annotations

import math


class HistoryBuffer:
    """Running statistics of one scalar: last value, average and total over the current window."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.val = 0.0
        self.total = 0.0
        self.count = 0

    def update(self, value: float, n: int = 1) -> None:
        self.val = float(value)
        self.total += float(value) * n
        self.count += n

    @property
    def avg(self) -> float:
        return self.total / self.count if self.count else math.nan


class EventStorage:
    """Named :class:`HistoryBuffer` objects; ``put_scalar(name, v)`` then ``history(name).avg``."""

    def __init__(self):
        self._history: dict[str, HistoryBuffer] = {}

    def put_scalar(self, name: str, value: float, n: int = 1) -> None:
        self._history.setdefault(name, HistoryBuffer()).update(value, n)

    def history(self, name: str) -> HistoryBuffer:
        if name not in self._history:
            raise KeyError(f"no scalar named {name!r} was put into the storage; known: {sorted(self._history)}")
        return self._history[name]

    def has(self, name: str) -> bool:
        return name in self._history

    @property
    def histories(self) -> dict[str, HistoryBuffer]:
        return dict(self._history)

    def reset_histories(self) -> None:
        for h in self._history.values():
            h.reset()
