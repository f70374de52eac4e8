"""Sparse convolution layers with spconv's names, constructor arguments and weight layout.

Weights are ``[C_out, kx, ky, kz, C_in]`` so reference checkpoints load as they are. Layers hold
parameters only; maps come from :mod:`.kernel_map` (cached on the tensor by ``indice_key``) and the
compute from :mod:`.functional`.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from . import backend
from .functional import conv1x1, sparse_conv
from .kernel_map import KernelMap, _triple, build_conv_map, build_subm_map
from .tensor import SparseConvTensor

__all__ = ["SparseModule", "SparseConvolution", "SubMConv3d", "SparseConv3d", "SparseInverseConv3d"]


class SparseModule(nn.Module):
    """Marker base class: a module whose ``forward`` takes and returns a :class:`SparseConvTensor`.

    :class:`~pointlab.sparse.SparseSequential` passes the whole tensor to these and only the
    features to any other module. Subclass it for custom sparse blocks (e.g. residual blocks).
    """


class SparseConvolution(SparseModule):
    """Common implementation of the 3-D sparse convolutions (use the subclasses).

    Args:
        in_channels, out_channels: feature widths.
        kernel_size, stride, padding, dilation: int or 3 ints (kernel axes = x, y, z index columns).
        groups: only 1 is supported.
        bias: add a learnable ``[out_channels]`` bias.
        subm: submanifold conv (outputs on the input voxels; ``stride``/``padding`` ignored).
        inverse: inverse of the strided conv registered under ``indice_key``.
        indice_key: name under which the kernel map is cached on the tensor and reused.
        algo, fp32_accum: accepted for spconv compatibility, ignored.
        name: optional layer name used in error messages.
    """

    def __init__(
        self,
        ndim: int,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        subm: bool = False,
        inverse: bool = False,
        indice_key: Optional[str] = None,
        algo=None,
        fp32_accum=None,
        name: Optional[str] = None,
    ):
        super().__init__()
        if ndim != 3:
            raise NotImplementedError(f"only 3-D sparse convolutions are implemented, got ndim={ndim}")
        if groups != 1:
            raise NotImplementedError(f"grouped sparse convolution (groups={groups}) is not implemented; use groups=1")
        if inverse and indice_key is None:
            raise ValueError("SparseInverseConv3d needs the indice_key of the strided conv it inverts")
        self.ndim = ndim
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = _triple(kernel_size, "kernel_size")
        self.stride = _triple(stride, "stride")
        self.padding = _triple(padding, "padding")
        self.dilation = _triple(dilation, "dilation")
        self.groups = groups
        self.subm = subm
        self.inverse = inverse
        self.indice_key = indice_key
        self.algo = algo
        self.fp32_accum = fp32_accum
        self.name = name
        kvol = self.kernel_size[0] * self.kernel_size[1] * self.kernel_size[2]
        # spconv takes its plain-matmul path for any 1x1x1 kernel with unit stride (see conv1x1).
        self.conv1x1 = kvol == 1 and self.stride == (1, 1, 1) and not inverse
        self.weight = nn.Parameter(torch.empty(self.out_channels, *self.kernel_size, self.in_channels))
        if bias:
            self.bias = nn.Parameter(torch.empty(self.out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """spconv's default init: kaiming-uniform (a=√5), fan_in = C_in · kernel volume."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1] * self.kernel_size[2]
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        if not self.subm and not self.inverse:
            s += f", stride={self.stride}"
            if self.padding != (0, 0, 0):
                s += f", padding={self.padding}"
        if self.dilation != (1, 1, 1):
            s += f", dilation={self.dilation}"
        if self.bias is None:
            s += ", bias=False"
        if self.indice_key is not None:
            s += f", indice_key={self.indice_key!r}"
        return s

    def _label(self) -> str:
        return f"{type(self).__name__}{'(' + self.name + ')' if self.name else ''}"

    def _reuse_error(self, kmap: KernelMap, why: str) -> ValueError:
        return ValueError(
            f"{self._label()}: indice_key {self.indice_key!r} is cached as a {kmap.describe()}, which "
            f"cannot be reused here: {why}. Layers sharing an indice_key must work on the same voxel set "
            "with the same kernel; give this layer its own indice_key"
        )

    def _subm_map(self, x: SparseConvTensor) -> KernelMap:
        key = self.indice_key
        n = x.indices.shape[0]
        if key is not None and key in x.indice_dict:
            kmap = x.indice_dict[key]
            if kmap.kind != "subm":
                raise self._reuse_error(kmap, "expected a submanifold map")
            if kmap.kernel_size != self.kernel_size or kmap.dilation != self.dilation:
                raise self._reuse_error(
                    kmap, f"expected kernel_size={list(self.kernel_size)} dilation={list(self.dilation)}"
                )
            if kmap.n_in != n:
                raise self._reuse_error(kmap, f"expected {kmap.n_in} voxels, got {n}")
            return kmap
        kmap = build_subm_map(x.indices, x.spatial_shape, x.batch_size, self.kernel_size, self.dilation)
        if key is not None:
            x.indice_dict[key] = kmap
        return kmap

    def _conv_map(self, x: SparseConvTensor) -> KernelMap:
        key = self.indice_key
        n = x.indices.shape[0]
        if key is not None and key in x.indice_dict:
            kmap = x.indice_dict[key]
            same = (
                kmap.kind == "conv"
                and (kmap.kernel_size, kmap.stride, kmap.padding, kmap.dilation)
                == (self.kernel_size, self.stride, self.padding, self.dilation)
            )
            if not same:
                raise self._reuse_error(
                    kmap,
                    f"expected a conv map with kernel_size={list(self.kernel_size)} stride={list(self.stride)} "
                    f"padding={list(self.padding)} dilation={list(self.dilation)}",
                )
            if kmap.n_in != n:
                raise self._reuse_error(kmap, f"expected {kmap.n_in} input voxels, got {n}")
            return kmap
        kmap = build_conv_map(
            x.indices, x.spatial_shape, x.batch_size, self.kernel_size, self.stride, self.padding, self.dilation
        )
        if key is not None:
            x.indice_dict[key] = kmap
        return kmap

    def _inverse_map(self, x: SparseConvTensor) -> KernelMap:
        key = self.indice_key
        if key not in x.indice_dict:
            raise KeyError(
                f"{self._label()}: no kernel map under indice_key {key!r}; available keys: "
                f"{sorted(k for k in x.indice_dict if not k.startswith('__'))}. An inverse conv must come after the SparseConv3d with the same "
                "indice_key, on a tensor derived from its output"
            )
        kmap = x.indice_dict[key]
        if kmap.kind != "conv":
            raise self._reuse_error(kmap, "an inverse conv needs the map of a strided SparseConv3d")
        if kmap.kernel_size != self.kernel_size:
            raise self._reuse_error(kmap, f"expected kernel_size={list(self.kernel_size)}")
        if kmap.n_out != x.indices.shape[0]:
            raise self._reuse_error(
                kmap, f"the strided conv produced {kmap.n_out} voxels but this input has {x.indices.shape[0]}"
            )
        return kmap.inverse()

    def forward(self, x: SparseConvTensor) -> SparseConvTensor:
        if not isinstance(x, SparseConvTensor):
            raise TypeError(f"{self._label()} expects a SparseConvTensor, got {type(x).__name__}")
        if x.features.shape[1] != self.in_channels:
            raise ValueError(
                f"{self._label()}: expected features with {self.in_channels} channels (in_channels), "
                f"got shape {tuple(x.features.shape)}"
            )
        if backend.should_dispatch(x.features):
            return backend.spconv_forward(self, x)
        if self.conv1x1:
            return x.replace_feature(conv1x1(x.features, self.weight, self.bias))
        if self.subm:
            kmap = self._subm_map(x)
            return x.replace_feature(sparse_conv(x.features, self.weight, self.bias, kmap))
        kmap = self._inverse_map(x) if self.inverse else self._conv_map(x)
        feats = sparse_conv(x.features, self.weight, self.bias, kmap)
        return SparseConvTensor(feats, kmap.out_indices, kmap.out_spatial_shape, x.batch_size, x.indice_dict)


class SubMConv3d(SparseConvolution):
    """Submanifold conv: ``out[p] = b + Σ_{d∈[-r,r]³} W[:, d+r, :] @ x[p+d]``, ``r = k//2``.

    Output voxels = input voxels in the same order; ``stride`` and ``padding`` are ignored (spconv).
    Input/output: :class:`SparseConvTensor` with ``[N, in_channels]`` / ``[N, out_channels]`` features.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, indice_key=None, algo=None, fp32_accum=None, name=None):
        super().__init__(3, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         subm=True, indice_key=indice_key, algo=algo, fp32_accum=fp32_accum, name=name)
        self.conv1x1 = self.kernel_size == (1, 1, 1)


class SparseConv3d(SparseConvolution):
    """Regular (strided) sparse conv, dense ``conv3d`` semantics restricted to active outputs.

    With ``kernel_size = stride = 2``: ``out[q] = b + Σ_{p//2 == q} W[:, p % 2, :] @ x[p]``. Output
    voxels come in spconv's CPU order (first appearance scanning the inputs). The map is stored under
    ``indice_key`` for the matching :class:`SparseInverseConv3d`.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, indice_key=None, algo=None, fp32_accum=None, name=None):
        super().__init__(3, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         indice_key=indice_key, algo=algo, fp32_accum=fp32_accum, name=name)


class SparseInverseConv3d(SparseConvolution):
    """Inverse of the strided conv registered under ``indice_key``: returns its input voxel set, in
    its order, with ``out[p] = b + W[:, κ, :] @ x[q]`` for each pair ``(p, q, κ)`` of that conv
    (``κ = p % 2`` and ``q = p // 2`` for kernel = stride = 2).
    """

    def __init__(self, in_channels, out_channels, kernel_size, indice_key, bias=True, algo=None,
                 fp32_accum=None, name=None):
        super().__init__(3, in_channels, out_channels, kernel_size, bias=bias, inverse=True,
                         indice_key=indice_key, algo=algo, fp32_accum=fp32_accum, name=name)
