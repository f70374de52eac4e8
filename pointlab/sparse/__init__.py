"""pointlab's own sparse convolution (spconv-compatible names, arguments and weight layout).

Public API: :class:`SparseConvTensor`, :class:`SubMConv3d`, :class:`SparseConv3d`,
:class:`SparseInverseConv3d`, :class:`SparseSequential`, :class:`Identity`, :class:`SparseModule` (base class of
sparse-aware modules), :func:`sparse_conv` (functional form) and the optional spconv backend switch.
"""

from .backend import get_backend, set_backend
from .conv import SparseConv3d, SparseConvolution, SparseInverseConv3d, SparseModule, SubMConv3d
from .functional import sparse_conv
from .kernel_map import KernelMap, build_conv_map, build_subm_map
from .sequential import Identity, SparseSequential
from .tensor import SparseConvTensor

__all__ = [
    "SparseConvTensor",
    "SparseModule",
    "SparseConvolution",
    "SubMConv3d",
    "SparseConv3d",
    "SparseInverseConv3d",
    "SparseSequential",
    "Identity",
    "sparse_conv",
    "KernelMap",
    "build_subm_map",
    "build_conv_map",
    "set_backend",
    "get_backend",
]
