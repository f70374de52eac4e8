"""Optional dispatch of sparse convs to spconv on CUDA (never required, off by default).

Set ``POINTLAB_SPARSE_BACKEND=spconv`` (or call :func:`set_backend`) to run the layers through spconv
when their features are on a CUDA device; CPU tensors always use pointlab's own implementation
(spconv's CPU build is defective, see the spec). spconv is imported lazily on first use.
"""

from __future__ import annotations

import os
from typing import Optional

import torch

__all__ = ["set_backend", "get_backend", "should_dispatch", "spconv_forward"]

_VALID = ("native", "spconv")
_backend: Optional[str] = None
_SPCONV_CACHE = "__spconv_indice_dict__"  # spconv's own maps live in one hidden entry of indice_dict


def set_backend(name: str) -> None:
    """Choose ``"native"`` (default) or ``"spconv"`` (CUDA tensors only) for all sparse convs."""
    global _backend
    if name not in _VALID:
        raise ValueError(f"unknown sparse backend {name!r}; choose one of {_VALID}")
    _backend = name


def get_backend() -> str:
    if _backend is not None:
        return _backend
    name = os.environ.get("POINTLAB_SPARSE_BACKEND", "native")
    if name not in _VALID:
        raise ValueError(f"POINTLAB_SPARSE_BACKEND={name!r} is not one of {_VALID}")
    return name


def should_dispatch(features: torch.Tensor) -> bool:
    return features.is_cuda and get_backend() == "spconv"


def _import_spconv():
    try:
        import spconv.pytorch as spconv  # noqa: PLC0415 (optional dependency, imported lazily)
    except ImportError as e:
        raise ImportError(
            "POINTLAB_SPARSE_BACKEND=spconv needs spconv with CUDA (e.g. `pip install spconv-cu120`); "
            "unset the variable to use pointlab's own sparse convolution"
        ) from e
    return spconv


def spconv_forward(module, x):
    """Run ``module`` (a pointlab sparse conv) through spconv with the module's own parameters."""
    from torch.func import functional_call  # noqa: PLC0415

    from .tensor import SparseConvTensor  # noqa: PLC0415

    spconv = _import_spconv()
    impl = module.__dict__.get("_spconv_impl")
    if impl is None:  # not registered as a child: keeps state_dict keys identical
        kw = dict(bias=module.bias is not None, indice_key=module.indice_key)
        if module.inverse:
            impl = spconv.SparseInverseConv3d(module.in_channels, module.out_channels, module.kernel_size, **kw)
        else:
            cls = spconv.SubMConv3d if module.subm else spconv.SparseConv3d
            impl = cls(module.in_channels, module.out_channels, module.kernel_size, module.stride,
                       module.padding, module.dilation, **kw)
        impl = impl.to(module.weight.device)
        module.__dict__["_spconv_impl"] = impl
    st = spconv.SparseConvTensor(x.features, x.indices.int(), x.spatial_shape, x.batch_size)
    st.indice_dict = x.indice_dict.setdefault(_SPCONV_CACHE, {})
    params = {"weight": module.weight}
    if module.bias is not None:
        params["bias"] = module.bias
    out = functional_call(impl, params, (st,))
    return SparseConvTensor(out.features, out.indices, out.spatial_shape, x.batch_size, x.indice_dict)
