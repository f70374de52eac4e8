"""``SparseSequential``: a container mixing sparse layers and ordinary feature-wise torch modules."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from .conv import SparseModule
from .tensor import SparseConvTensor

__all__ = ["SparseSequential", "Identity"]


class SparseSequential(SparseModule):
    """Apply modules in order, like ``nn.Sequential`` (children named ``"0"``, ``"1"``, … or by the
    keys of an ``OrderedDict``, so state_dict keys match spconv's, e.g. ``conv_input.1.running_mean``).

    :class:`SparseModule` children (convs, nested containers, custom sparse blocks) get the whole
    :class:`SparseConvTensor`; any other module (BatchNorm1d, ReLU, LayerNorm, Linear, …) gets only
    ``.features`` ``[N, C]`` and its result replaces them. A plain tensor input is passed through
    every module unchanged in kind.
    """

    def __init__(self, *args, **kwargs):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)
        for name, module in kwargs.items():
            if name in self._modules:
                raise ValueError(f"SparseSequential: duplicate child name {name!r}")
            self.add_module(name, module)

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, idx):
        if isinstance(idx, str):
            return self._modules[idx]
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return SparseSequential(OrderedDict(list(self._modules.items())[idx]))
        return mods[idx]

    def __iter__(self):
        return iter(self._modules.values())

    def add(self, module: nn.Module, name: str = None) -> None:
        """Append ``module`` under ``name`` (default: its position)."""
        name = str(len(self._modules)) if name is None else name
        if name in self._modules:
            raise ValueError(f"SparseSequential: duplicate child name {name!r}")
        self.add_module(name, module)

    def forward(self, x):
        for module in self._modules.values():
            if isinstance(module, SparseModule):
                x = module(x)
            elif isinstance(x, SparseConvTensor):
                x = x.replace_feature(module(x.features))
            else:
                x = module(x)
        return x


class Identity(SparseModule):
    """spconv's ``Identity``: returns its input (a :class:`SparseConvTensor` or anything) unchanged."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x
