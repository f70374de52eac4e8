"""Serialized patch attention of PT-v3 (Pointcept ``SerializedAttention`` and ``RPE``).

Points are sorted along a space-filling curve (``serialized_order``), cut into patches of K
consecutive points per sample, and attend within each patch. Computed with
``torch.nn.functional.scaled_dot_product_attention`` on ``[patches, heads, K, head_dim]``: no
``[patches, heads, K, K]`` score tensor is materialised (except when RPE biases are needed), which
is where the speed and memory gains over the reference's explicit softmax come from.

Patch size K, as in the reference:
- ``enable_flash=True`` (the reference's flash-attn path, no flash-attn package needed here): K =
  ``patch_size``; a sample with fewer than K points is one shorter patch of its own.
- ``enable_flash=False`` (reference default path): K = min(patch_size, fewest points of any sample in
  the batch at this level), recomputed every call — results then depend on the other samples in
  the batch. ``fixed_patch=True`` keeps K = patch_size instead (the flash-path windows) while still
  allowing ``enable_rpe`` and the upcast options: batch-independent, deterministic windows.
Padding (both paths): a sample with N_i > K points is padded to a multiple of K by repeating, after
its last point, the K − (N_i mod K) serialized points that precede its last N_i mod K points; the
outputs of these duplicates are dropped. The layout is cached on the Point (``pad``, ``unpad``,
``cu_seqlens_key``) and reused by every later attention on that Point, including the decoder.
The reference's flash path computes in bfloat16; this one keeps the input dtype (float32 on CPU).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from pointlab.structures import offset2bincount

from .modules import PointModule

__all__ = ["RPE", "SerializedAttention", "patch_layout"]


class _ToSlots(torch.autograd.Function):
    """``src[order]``: point rows → padded slots ([N, C] → [P, C]).

    Every point owns one slot (``primary``); the ``dup`` slots repeat points as padding. The
    backward is therefore a gather (``grad[primary]``) plus a small scatter-add of the ``dup``
    slots, instead of autograd's serial accumulate over all P rows.
    """

    @staticmethod
    def forward(ctx, src, order, primary, dup):
        ctx.save_for_backward(order, primary, dup)
        return src.index_select(0, order)

    @staticmethod
    def backward(ctx, grad):
        order, primary, dup = ctx.saved_tensors
        out = grad.index_select(0, primary)
        if dup.numel():
            out.index_add_(0, order[dup], grad.index_select(0, dup))
        return out, None, None, None


class _FromSlots(torch.autograd.Function):
    """``x[primary]``: padded slots → point rows ([P, C] → [N, C]); the padding slots are dropped.

    Backward: ``grad[order]`` with the ``dup`` slots zeroed (a gather, no zero-fill + scatter).
    """

    @staticmethod
    def forward(ctx, x, order, primary, dup):
        ctx.save_for_backward(order, dup)
        return x.index_select(0, primary)

    @staticmethod
    def backward(ctx, grad):
        order, dup = ctx.saved_tensors
        out = grad.index_select(0, order)
        if dup.numel():
            out.index_fill_(0, dup, 0)
        return out, None, None, None


class _FlashCPU(torch.autograd.Function):
    """PyTorch's CPU flash-attention kernels (what ``scaled_dot_product_attention`` picks on CPU
    without a mask) on a packed ``qkv`` [n·K, 3C], returning [n·K, C] in the kernel's output layout.

    Same kernels and numbers as ``F.scaled_dot_product_attention``; the differences:
    - the backward writes the q/k/v gradients into the packed [n·K, 3C] layout in one copy, where
      autograd's unbind/permute/view chain makes two;
    - the last ``n_tail`` windows attend only with their first ``q_tail`` queries (all K keys): the
      other queries of a sample's last window are padding duplicates whose outputs are dropped, so
      they are not computed. Their output rows are zero and get no gradient. Every computed query
      row is the same as without trimming (each query's softmax is over the same keys).
    """

    @staticmethod
    def forward(ctx, qkv, n, k, h, scale, n_tail=0, q_tail=0):
        d = qkv.shape[1] // (3 * h)
        q, kk, v = qkv.view(n, k, 3, h, d).permute(2, 0, 3, 1, 4).unbind(0)
        nf = n - n_tail
        out = qkv.new_empty(n, k, h, d)
        saved = [qkv]
        if nf:
            o, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q[:nf], kk[:nf], v[:nf], scale=scale)
            out[:nf] = o.transpose(1, 2)
            saved += [o, lse]
        if n_tail:
            ot, lset = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
                q[nf:, :, :q_tail], kk[nf:], v[nf:], scale=scale
            )
            out[nf:, :q_tail] = ot.transpose(1, 2)
            out[nf:, q_tail:] = 0
            saved += [ot, lset]
        ctx.save_for_backward(*saved)
        ctx.shape = (n, k, h, d, n_tail, q_tail)
        ctx.scale = scale
        return out.view(n * k, h * d)

    @staticmethod
    def backward(ctx, grad):
        qkv, *saved = ctx.saved_tensors
        n, k, h, d, n_tail, q_tail = ctx.shape
        nf = n - n_tail
        q, kk, v = qkv.view(n, k, 3, h, d).permute(2, 0, 3, 1, 4).unbind(0)
        g = grad.reshape(n, k, h, d).transpose(1, 2)
        dqkv = qkv.new_empty(n, k, 3, h, d)
        bwd = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward
        if nf:
            o, lse = saved[:2]
            dq, dk, dv = bwd(g[:nf], q[:nf], kk[:nf], v[:nf], o, lse, 0.0, False, scale=ctx.scale)
            for j, t in enumerate((dq, dk, dv)):
                dqkv[:nf, :, j] = t.transpose(1, 2)
        if n_tail:
            ot, lset = saved[-2:]
            dq, dk, dv = bwd(g[nf:, :, :q_tail], q[nf:, :, :q_tail], kk[nf:], v[nf:], ot, lset, 0.0, False, scale=ctx.scale)
            dqkv[nf:, :q_tail, 0] = dq.transpose(1, 2)
            dqkv[nf:, q_tail:, 0] = 0
            dqkv[nf:, :, 1] = dk.transpose(1, 2)
            dqkv[nf:, :, 2] = dv.transpose(1, 2)
        return dqkv.view(n * k, 3 * h * d), None, None, None, None, None, None


@torch.no_grad()
def patch_layout(offset: torch.Tensor, patch_size: int):
    """The padded patch layout of a batch (vectorised form of the reference's per-sample loop).

    Args:
        offset: [B] cumulative ends of the samples (serialized order is per sample).
        patch_size: K.
    Returns:
        pad: [P] int64, for each padded slot the serialized position it reads (P = padded total);
        unpad: [N] int64, for each serialized position its slot in the padded layout;
        cu_seqlens: [W+1] int32, start slot of each of the W patches, then P.
    """
    k = int(patch_size)
    device = offset.device
    bincount = offset2bincount(offset)
    if bool((bincount <= 0).any()):
        empty = torch.nonzero(bincount <= 0).flatten().tolist()
        raise ValueError(f"serialized attention: sample(s) {empty} of the batch have no points (offset={offset.tolist()}); drop empty samples")
    padded = torch.where(bincount > k, (bincount + k - 1) // k * k, bincount)
    start = F.pad(offset, (1, 0))[:-1]
    start_pad = F.pad(torch.cumsum(padded, 0), (1, 0))
    total = int(start_pad[-1])
    samples = torch.arange(len(bincount), device=device)
    slot_sample = torch.repeat_interleave(samples, padded, output_size=total)
    local = torch.arange(total, device=device) - start_pad[slot_sample]
    # slots past the sample's last point repeat the points one patch earlier
    local = torch.where(local < bincount[slot_sample], local, local - k)
    pad = start[slot_sample] + local
    n = int(offset[-1])
    batch = torch.repeat_interleave(samples, bincount, output_size=n)
    unpad = torch.arange(n, device=device) + (start_pad[:-1] - start)[batch]
    windows = (padded + k - 1) // k
    num_windows = int(windows.sum())
    win_sample = torch.repeat_interleave(samples, windows, output_size=num_windows)
    first = torch.cumsum(windows, 0) - windows
    win_start = start_pad[win_sample] + k * (torch.arange(num_windows, device=device) - first[win_sample])
    cu_seqlens = torch.cat([win_start, start_pad[-1:]]).to(torch.int32)
    return pad, unpad, cu_seqlens


class RPE(nn.Module):
    """Relative position bias table of PT-v3 (per axis, clamped, summed over x, y, z).

    ``pos_bnd = int((4·patch_size)^(1/3)·2)`` (floating cube root, as the reference: 31 for 1024),
    ``rpe_table`` [3·(2·pos_bnd+1), heads]. ``forward(rel [n, K, K, 3] int) -> [n, heads, K, K]``.
    """

    def __init__(self, patch_size: int, num_heads: int):
        super().__init__()
        self.patch_size = patch_size
        self.num_heads = num_heads
        self.pos_bnd = int((4 * patch_size) ** (1 / 3) * 2)
        self.rpe_num = 2 * self.pos_bnd + 1
        self.rpe_table = nn.Parameter(torch.zeros(3 * self.rpe_num, num_heads))
        nn.init.trunc_normal_(self.rpe_table, std=0.02)

    def forward(self, rel: torch.Tensor) -> torch.Tensor:
        idx = rel.clamp(-self.pos_bnd, self.pos_bnd).int() + self.pos_bnd
        table = self.rpe_table
        out = table.index_select(0, idx[..., 0].reshape(-1))
        out = out + table.index_select(0, idx[..., 1].reshape(-1) + self.rpe_num)
        out = out + table.index_select(0, idx[..., 2].reshape(-1) + 2 * self.rpe_num)
        return out.view(*idx.shape[:-1], self.num_heads).permute(0, 3, 1, 2)


class SerializedAttention(PointModule):
    """Multi-head self-attention inside serialized patches of a Point.

    Args:
        channels: C (divisible by ``num_heads``).
        num_heads: H.
        patch_size: K (maximum K when ``enable_flash=False`` and not ``fixed_patch``).
        qkv_bias, qk_scale: bias of the qkv projection; softmax scale (default ``(C/H)^-0.5``).
        attn_drop, proj_drop: dropout on attention weights / on the output projection.
        order_index: which serialization row this layer uses.
        enable_rpe: add relative-position biases (:class:`RPE`).
        enable_flash: the reference's flash path (fixed K); requires ``enable_rpe`` and both upcast
            flags False, like the reference.
        upcast_attention, upcast_softmax: compute the scores / softmax in float32 for half inputs.
        fixed_patch: keep K = patch_size without flash (see the module docstring).

    Attributes (state_dict): ``qkv`` Linear(C, 3C), ``proj`` Linear(C, C), ``rpe.rpe_table`` when
    ``enable_rpe``. ``forward(point)``: reads ``feat`` [N, C], ``offset``, ``serialized_order``/
    ``serialized_inverse`` (and ``grid_coord`` for RPE); writes ``feat`` [N, C].
    ``backend`` = "sdpa" (default) or "math" (explicit softmax, the reference's formula, for tests).
    """

    backend = "sdpa"
    # CPU flash path: skip the padding-duplicate queries of each sample's last window (same outputs)
    trim_tail_queries = True

    def __init__(
        self,
        channels: int,
        num_heads: int,
        patch_size: int,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        order_index: int = 0,
        enable_rpe: bool = False,
        enable_flash: bool = True,
        upcast_attention: bool = True,
        upcast_softmax: bool = True,
        fixed_patch: bool = False,
    ):
        super().__init__()
        if channels % num_heads != 0:
            raise ValueError(f"SerializedAttention: channels={channels} is not divisible by num_heads={num_heads}")
        self.channels = channels
        self.num_heads = num_heads
        self.scale = qk_scale or (channels // num_heads) ** -0.5
        self.order_index = order_index
        self.upcast_attention = upcast_attention
        self.upcast_softmax = upcast_softmax
        self.enable_rpe = enable_rpe
        self.enable_flash = enable_flash
        self.fixed_patch = fixed_patch
        if enable_flash:
            bad = [n for n, v in (("enable_rpe", enable_rpe), ("upcast_attention", upcast_attention), ("upcast_softmax", upcast_softmax)) if v]
            if bad:
                raise ValueError(
                    f"SerializedAttention: enable_flash=True cannot be combined with {bad} (as in the reference); "
                    "set them to False, or use enable_flash=False (optionally with fixed_patch=True)"
                )
            self.patch_size = patch_size
            self.attn_drop = attn_drop
        else:
            self.patch_size_max = patch_size
            self.patch_size = patch_size if fixed_patch else 0
            self.attn_drop = nn.Dropout(attn_drop)
        self.qkv = nn.Linear(channels, channels * 3, bias=qkv_bias)
        self.proj = nn.Linear(channels, channels)
        self.proj_drop = nn.Dropout(proj_drop)
        self.softmax = nn.Softmax(dim=-1)
        self.rpe = RPE(patch_size, num_heads) if enable_rpe else None

    @property
    def drop_p(self) -> float:
        p = self.attn_drop if isinstance(self.attn_drop, float) else self.attn_drop.p
        return p if self.training else 0.0

    def _layout(self, point, k: int):
        if point.get("pad_patch_size") != k or "pad" not in point:
            pad, unpad, cu = patch_layout(point["offset"], k)
            point["pad"], point["unpad"], point["cu_seqlens_key"] = pad, unpad, cu
            with torch.no_grad():
                is_dup = torch.ones(pad.shape[0], dtype=torch.bool, device=pad.device)
                is_dup[unpad] = False
                point["pad_dup"] = torch.nonzero(is_dup).flatten()
            point["pad_patch_size"] = k
            for key in [key for key in point if key.startswith("rel_pos_")]:
                del point[key]
            point.pop("pad_tail", None)
        if "pad_dup" not in point:  # layout cached by an older Point producer
            is_dup = torch.ones(point["pad"].shape[0], dtype=torch.bool, device=point["pad"].device)
            is_dup[point["unpad"]] = False
            point["pad_dup"] = torch.nonzero(is_dup).flatten()
        return point["pad"], point["unpad"], point["cu_seqlens_key"]

    @staticmethod
    @torch.no_grad()
    def _tail_layout(point, k: int):
        """The last window of a sample whose size is not a multiple of K holds only ``N mod K`` real
        points (then duplicates). Returns ``(n_tail, q_tail, new_to_old, old_to_new, dup)``: the
        number of such windows, the most real points any of them holds, and — when they are not
        already the last windows — a slot permutation moving them to the end (window contents
        unchanged, so every query sees the same keys) with the dup slots renumbered; else Nones.
        Cached on the Point with the layout.
        """
        cached = point.get("pad_tail")
        if cached is not None and cached[0] == k:
            return cached[1]
        dup = point["pad_dup"]
        total = point["pad"].shape[0]
        n = total // k
        dups_per_window = torch.bincount(dup // k, minlength=n)
        tails = torch.nonzero(dups_per_window).flatten()
        n_tail = tails.numel()
        result = (0, 0, None, None, None)
        if n_tail:
            q_tail = k - int(dups_per_window[tails].min())
            if bool((tails == torch.arange(n - n_tail, n, device=tails.device)).all()):
                result = (n_tail, q_tail, None, None, None)
            else:
                is_tail = dups_per_window > 0
                window_order = torch.cat([torch.nonzero(~is_tail).flatten(), tails])
                within = torch.arange(k, device=dup.device)
                new_to_old = (window_order[:, None] * k + within).flatten()
                old_to_new = torch.empty_like(new_to_old)
                old_to_new[new_to_old] = torch.arange(total, device=dup.device)
                result = (n_tail, q_tail, new_to_old, old_to_new, torch.sort(old_to_new[dup]).values)
        point["pad_tail"] = (k, result)
        return result

    def _rel_pos(self, point, order: torch.Tensor, k: int) -> torch.Tensor:
        key = f"rel_pos_{self.order_index}"
        if key not in point:
            with torch.no_grad():
                g = point["grid_coord"][order].reshape(-1, k, 3).int()
                point[key] = g.unsqueeze(2) - g.unsqueeze(1)
        return point[key]

    def _attend(self, qkv: torch.Tensor, bias: torch.Tensor | None, key_mask: torch.Tensor | None) -> torch.Tensor:
        """``qkv`` [n, K, 3C] → [n, K, H, C/H]; ``bias`` [n, H, K, K] additive; ``key_mask`` [n, K] bool."""
        n, k, _ = qkv.shape
        h, c = self.num_heads, self.channels
        q, kk, v = qkv.view(n, k, 3, h, c // h).permute(2, 0, 3, 1, 4).unbind(0)
        dtype = qkv.dtype
        if self.backend == "math":
            if self.upcast_attention:
                q, kk = q.float(), kk.float()
            attn = (q * self.scale) @ kk.transpose(-2, -1)
            if bias is not None:
                attn = attn + bias
            if key_mask is not None:
                attn = attn.masked_fill(~key_mask[:, None, None, :], float("-inf"))
            if self.upcast_softmax:
                attn = attn.float()
            attn = self.softmax(attn)
            attn = F.dropout(attn, self.drop_p, self.training).to(dtype)
            out = attn @ v
        else:
            upcast = (self.upcast_attention or self.upcast_softmax) and dtype in (torch.float16, torch.bfloat16)
            if upcast:
                q, kk, v = q.float(), kk.float(), v.float()
            mask = None
            if bias is not None:
                mask = bias.to(q.dtype)
                if key_mask is not None:
                    mask = mask.masked_fill(~key_mask[:, None, None, :], float("-inf"))
            elif key_mask is not None:
                mask = key_mask[:, None, None, :]
            out = F.scaled_dot_product_attention(q, kk, v, attn_mask=mask, dropout_p=self.drop_p, scale=self.scale)
            out = out.to(dtype)
        return out.transpose(1, 2)  # [n, K, H, d] (a view)

    def _use_flash_cpu(self, x: torch.Tensor) -> bool:
        return self.backend == "sdpa" and x.device.type == "cpu" and self.rpe is None and self.drop_p == 0.0

    def forward(self, point):
        if not self.enable_flash and not self.fixed_patch:
            self.patch_size = min(int(offset2bincount(point["offset"]).min()), self.patch_size_max)
        k = self.patch_size
        c = self.channels
        pad, unpad, cu_seqlens = self._layout(point, k)
        dup = point["pad_dup"]
        with torch.no_grad():
            order = point["serialized_order"][self.order_index][pad]
            inverse = unpad[point["serialized_inverse"][self.order_index]]
        total = pad.shape[0]
        all_full = total % k == 0 and (cu_seqlens.numel() - 1) * k == total
        n_tail = q_tail = 0
        if all_full and self.trim_tail_queries and self._use_flash_cpu(point["feat"]):
            n_tail, q_tail, new_to_old, old_to_new, dup_new = self._tail_layout(point, k)
            if new_to_old is not None:  # windows reordered so that the trimmed ones come last
                with torch.no_grad():
                    order, inverse = order[new_to_old], old_to_new[inverse]
                dup = dup_new
        # gather the C-wide features, not the 3C-wide qkv (row-wise linear: same values)
        qkv = self.qkv(_ToSlots.apply(point["feat"], order, inverse, dup))
        if all_full:
            # every patch is full (always the case without flash/fixed patches): one batched call
            if self._use_flash_cpu(qkv):
                out = _FlashCPU.apply(qkv, total // k, k, self.num_heads, self.scale, n_tail, q_tail)
            else:
                bias = self.rpe(self._rel_pos(point, order, k)) if self.rpe is not None else None
                out = self._attend(qkv.view(-1, k, 3 * c), bias, None).reshape(-1, c)
        else:
            out = self._ragged(point, qkv, order, cu_seqlens, k)
        feat = _FromSlots.apply(out, order, inverse, dup)
        feat = self.proj_drop(self.proj(feat))
        point["feat"] = feat
        return point

    def _ragged(self, point, qkv, order, cu_seqlens, k):
        """Full patches in one call; the samples shorter than K (one short patch each) in a second,
        masked call padded to the longest of them."""
        c = self.channels
        total = qkv.shape[0]
        cu = cu_seqlens.long()
        lengths = cu[1:] - cu[:-1]
        full = lengths == k
        out = qkv.new_empty(total, c)
        slot_window = torch.repeat_interleave(torch.arange(len(lengths), device=qkv.device), lengths, output_size=total)
        full_slots = full[slot_window]
        if bool(full.any()):
            sel = qkv[full_slots]
            if self._use_flash_cpu(sel):
                out[full_slots] = _FlashCPU.apply(sel, sel.shape[0] // k, k, self.num_heads, self.scale)
            else:
                bias = None
                if self.rpe is not None:
                    g = point["grid_coord"][order[full_slots]].reshape(-1, k, 3).int()
                    bias = self.rpe(g.unsqueeze(2) - g.unsqueeze(1))
                out[full_slots] = self._attend(sel.view(-1, k, 3 * c), bias, None).reshape(-1, c)
        short = torch.nonzero(~full).flatten()
        if short.numel():
            lens = lengths[short]
            width = int(lens.max())
            ar = torch.arange(width, device=qkv.device)
            valid = ar[None, :] < lens[:, None]
            slots = cu[short][:, None] + torch.minimum(ar[None, :], lens[:, None] - 1)
            bias = None
            if self.rpe is not None:
                g = point["grid_coord"][order[slots]].int()
                bias = self.rpe(g.unsqueeze(2) - g.unsqueeze(1))
            res = self._attend(qkv[slots], bias, valid)
            out[slots[valid]] = res[valid].reshape(-1, c)
        return out
