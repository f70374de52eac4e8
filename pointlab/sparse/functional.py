"""Sparse convolution compute: gather → matmul → CSR reduce, with a hand-written backward.

Pairs are processed in chunks of bounded size (memory stays ~``_CHUNK_BYTES`` per buffer): one
``index_select`` gathers the chunk's input rows, one ``mm`` per kernel offset fills a buffer of
products, and one sparse-CSR × dense product adds the buffer into the output rows. The CSR product is
output-stationary (each output row sums its own products in a fixed order), so results do not depend
on thread count; it replaces ``index_add_``, which was the measured bottleneck at ≤ 64 channels.
The backward reuses the same map: for submanifold convs the transposed map is the map itself with
mirrored offsets, and one gather of the output gradient serves both the input and the weight gradient;
for strided/inverse convs a second plan reduces into the input rows. Weights are read in spconv's
layout through strided views (no per-call permuted copies).
"""

from __future__ import annotations

import threading
from typing import Optional

import torch

from .kernel_map import KernelMap

__all__ = ["sparse_conv", "conv1x1", "weight_to_kio", "release_workspace"]

_CHUNK_BYTES = 64 << 20


def _rows_for(channels: int, dtype: torch.dtype) -> int:
    """Pairs per chunk: a power of two so that a ``[rows, channels]`` buffer stays under the budget."""
    elem = torch.empty((), dtype=dtype).element_size()
    rows = max(_CHUNK_BYTES // (elem * max(channels, 1)), 1 << 12)
    return 1 << (rows.bit_length() - 1)


def _csr_ok(t: torch.Tensor) -> bool:
    return t.dtype in (torch.float32, torch.float64)


def weight_to_kio(weight: torch.Tensor) -> torch.Tensor:
    """spconv weight ``[C_out, kx, ky, kz, C_in]`` -> ``[K, C_in, C_out]`` (one matrix per offset)."""
    c_out, c_in = weight.shape[0], weight.shape[-1]
    return weight.reshape(c_out, -1, c_in).permute(1, 2, 0).contiguous()


class _Workspace(threading.local):
    """Reused scratch memory for the chunk buffers.

    Freshly allocated multi-MB buffers are returned to the OS and page-faulted in again on every call,
    which measured 3-5x slower than the gather itself on the target machine; one growing buffer per
    (device, dtype) and thread avoids that. It is released with :func:`release_workspace`.
    """

    def __init__(self):
        self.buffers = {}

    def get(self, numel: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        key = (device, dtype)
        buf = self.buffers.get(key)
        if buf is None or buf.numel() < numel:
            buf = torch.empty(numel, dtype=dtype, device=device)
            self.buffers[key] = buf
        return buf


_workspace = _Workspace()


def release_workspace() -> None:
    """Free the scratch buffers kept between sparse convolutions (of the calling thread)."""
    _workspace.buffers.clear()


def _scratch(rows: int, *widths: int, like: torch.Tensor):
    """Disjoint ``[rows, width]`` views into the workspace, one per width."""
    flat = _workspace.get(rows * sum(widths), like.dtype, like.device)
    views, at = [], 0
    for c in widths:
        views.append(flat[at : at + rows * c].view(rows, c))
        at += rows * c
    return views


def _offset_matrices(weight: torch.Tensor):
    """spconv weight ``[C_out, kx, ky, kz, C_in]`` -> ``[C_out, K, C_in]`` view (no copy).

    ``W[:, k, :].t()`` is offset ``k``'s ``[C_in, C_out]`` matrix as a strided view that BLAS reads
    directly (leading dimension ``K*C_in``): permuting into ``[K, C_in, C_out]`` copies cost more
    than the whole convolution at the small 256-channel levels of a U-Net.
    """
    c_out, c_in = weight.shape[0], weight.shape[-1]
    return weight.reshape(c_out, -1, c_in)


def _gather_mm_reduce(src, mat, gather_idx, target_idx, plan, out):
    """``out[target[p]] += src[gather[p]] @ mat(k(p))`` for every pair ``p`` of ``plan``."""
    use_csr = _csr_ok(src)
    if not plan:
        return out
    g_buf, y_buf = _scratch(max(ch.b - ch.a for ch in plan), src.shape[1], out.shape[1], like=src)
    for ch in plan:
        n = ch.b - ch.a
        g = torch.index_select(src, 0, gather_idx[ch.a : ch.b], out=g_buf[:n])
        y = y_buf[:n]
        for k, s0, s1 in ch.pieces:
            torch.mm(g[s0:s1], mat(k), out=y[s0:s1])
        _reduce(ch, y, target_idx, out, use_csr)
    return out


def _reduce(ch, y, target_idx, out, use_csr):
    if use_csr:
        out.addmm_(ch.csr(y.dtype), y)
    else:  # half precision: CSR products are not implemented on CPU
        out.index_add_(0, target_idx[ch.a : ch.b], y)


def _mirror_gather(src, idx, a, b, half, out):
    """``out = src[idx[mirror(a..b)]]`` where pair ``j`` of a submanifold map mirrors ``j ± half``."""
    m = min(b, half)
    if m > a:
        torch.index_select(src, 0, idx[a + half : m + half], out=out[: m - a])
    if b > m:
        lo = max(a, half)
        torch.index_select(src, 0, idx[lo - half : b - half], out=out[lo - a : b - a])
    return out


def _subm_backward(features, dy, W, kmap, rows):
    """Both gradients of a submanifold conv in one pass over the pairs.

    Pair ``j`` (offset ``k``: ``in=q, out=p``) mirrors pair ``j ± half`` (offset ``K-1-k``: ``in=p,
    out=q``), so the ``dy[in]`` rows gathered for ``grad_x`` are the ``dy[out]`` rows that ``grad_w``
    of the mirrored pairs needs: one gather of ``dy`` serves both.
    """
    kvol = W.shape[1]
    c_in, c_out = features.shape[1], dy.shape[1]
    center = kmap.center
    grad_x = torch.mm(dy, W[:, center, :])
    gw = torch.zeros_like(W)
    gw[:, center, :].addmm_(dy.t(), features)
    plan = kmap.plan(False, rows)
    if plan:
        half = kmap.in_idx.numel() // 2
        use_csr = _csr_ok(dy)
        n_max = max(ch.b - ch.a for ch in plan)
        g_buf, x_buf = _scratch(n_max, c_out, c_in, like=dy)
        for ch in plan:
            n = ch.b - ch.a
            g = torch.index_select(dy, 0, kmap.in_idx[ch.a : ch.b], out=g_buf[:n])
            gx = _mirror_gather(features, kmap.in_idx, ch.a, ch.b, half, x_buf[:n])
            for k, s0, s1 in ch.pieces:
                gw[:, kvol - 1 - k, :].addmm_(g[s0:s1].t(), gx[s0:s1])
            y = gx  # gx is used up: its buffer takes the products (same width), saving a third buffer
            for k, s0, s1 in ch.pieces:
                torch.mm(g[s0:s1], W[:, kvol - 1 - k, :], out=y[s0:s1])
            _reduce(ch, y, kmap.out_idx, grad_x, use_csr)
    return grad_x, gw


class _SparseConvFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, features, weight, bias, kmap: KernelMap):
        with torch.autocast(features.device.type, enabled=False):
            W = _offset_matrices(weight)
            c_out = W.shape[0]
            if kmap.center is not None:
                wc = W[:, kmap.center, :].t()
                out = torch.addmm(bias, features, wc) if bias is not None else features @ wc
            else:
                out = features.new_zeros((kmap.n_out, c_out))
                if bias is not None:
                    out += bias
            plan = kmap.plan(False, _rows_for(max(W.shape[2], c_out), features.dtype))
            _gather_mm_reduce(features, lambda k: W[:, k, :].t(), kmap.in_idx, kmap.out_idx, plan, out)
        ctx.save_for_backward(features, weight)
        ctx.kmap = kmap
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    def backward(ctx, grad_out):
        features, weight = ctx.saved_tensors
        kmap: KernelMap = ctx.kmap
        grad_x = grad_w = grad_b = None
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        with torch.autocast(features.device.type, enabled=False):
            dy = grad_out.to(features.dtype).contiguous()
            W = _offset_matrices(weight.to(features.dtype))
            kvol = W.shape[1]
            c_out, c_in = W.shape[0], W.shape[2]
            rows = _rows_for(max(c_in, c_out), features.dtype)
            if kmap.center is not None and need_x and need_w:
                grad_x, gw = _subm_backward(features, dy, W, kmap, rows)
                grad_w = gw.reshape(weight.shape).to(weight.dtype)
                need_x = need_w = False
            if need_x:
                if kmap.center is not None:
                    # Submanifold: pairs of offset k, swapped, are the pairs of offset K-1-k.
                    grad_x = dy @ W[:, kmap.center, :]
                    plan = kmap.plan(False, rows)
                    _gather_mm_reduce(dy, lambda k: W[:, kvol - 1 - k, :], kmap.in_idx, kmap.out_idx, plan, grad_x)
                else:
                    grad_x = dy.new_zeros((kmap.n_in, c_in))
                    plan = kmap.plan(True, rows)
                    _gather_mm_reduce(dy, lambda k: W[:, k, :], kmap.out_idx, kmap.in_idx, plan, grad_x)
            if need_w:
                gw = torch.zeros_like(W)
                if kmap.center is not None:
                    gw[:, kmap.center, :].addmm_(dy.t(), features)
                plan = kmap.plan(False, rows)
                if plan:
                    gx_buf, gy_buf = _scratch(max(ch.b - ch.a for ch in plan), c_in, c_out, like=features)
                for ch in plan:
                    n = ch.b - ch.a
                    gx = torch.index_select(features, 0, kmap.in_idx[ch.a : ch.b], out=gx_buf[:n])
                    gy = torch.index_select(dy, 0, kmap.out_idx[ch.a : ch.b], out=gy_buf[:n])
                    for k, s0, s1 in ch.pieces:
                        gw[:, k, :].addmm_(gy[s0:s1].t(), gx[s0:s1])
                grad_w = gw.reshape(weight.shape).to(weight.dtype)
            if ctx.has_bias and ctx.needs_input_grad[2]:
                grad_b = dy.sum(0)
        return grad_x, grad_w, grad_b, None


def _common_dtype(features, weight, bias):
    dev = features.device.type
    if torch.is_autocast_enabled(dev):
        dt = torch.get_autocast_dtype(dev)
    else:
        dt = torch.promote_types(features.dtype, weight.dtype)
    features = features.to(dt)
    weight = weight.to(dt)
    bias = bias.to(dt) if bias is not None else None
    return features, weight, bias


def sparse_conv(
    features: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], kmap: KernelMap
) -> torch.Tensor:
    """Apply a sparse convolution over the pairs of ``kmap``.

    Args:
        features: ``[kmap.n_in, C_in]``.
        weight: ``[C_out, kx, ky, kz, C_in]`` (spconv layout); ``bias``: ``[C_out]`` or None.
        kmap: the kernel map (submanifold, strided or inverse).
    Returns:
        ``[kmap.n_out, C_out]``; inside autocast in the autocast dtype, else the promoted dtype.
    """
    features, weight, bias = _common_dtype(features, weight, bias)
    return _SparseConvFunction.apply(features.contiguous(), weight, bias, kmap)


def conv1x1(features: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
    """Kernel-volume-1 conv exactly as spconv ≤ 2.3.8 computes it: ``x @ W.reshape(C_in, C_out) + b``.

    This is a raw reshape of the stored ``[C_out, 1, 1, 1, C_in]`` tensor, not its transpose (spconv
    issue #450); reproducing it is what makes reference checkpoints give reference outputs.
    """
    c_out, c_in = weight.shape[0], weight.shape[-1]
    w = weight.reshape(c_in, c_out)
    out = features @ w
    return out if bias is None else out + bias
