"""Sparse-convolution U-Net (SpUNet), registry name "SpUNet-v1m1".

Matches Pointcept ``pointcept/models/sparse_unet/spconv_unet_v1m1_base.py`` (``SpUNetBase``):
same constructor arguments, module attribute names, parameter shapes and spconv weight layout
``(out, kx, ky, kz, in)``, so a Pointcept checkpoint loads key for key. The U-Net design follows
MinkowskiNet/SparseConvNet (Choy et al., "4D Spatio-Temporal ConvNets", CVPR 2019; Graham et al.,
"3D Semantic Segmentation with Submanifold Sparse Convolutional Networks", CVPR 2018).

One implementation for every SpUNet version: the norm layer is a factory (``norm_fn``) and the
stem/down/up/block constructors are methods, so a later version (e.g. v1m3 with PDNorm) is a
subclass that binds another factory and, where its checkpoints need other names, other builders.
A norm that needs the dataset condition (PDNorm) is written as a ``SparseModule``: it receives the
whole SparseConvTensor and reads ``x.indice_dict[CONDITION_KEY] = (condition, context)``, which
``SpUNetBase`` stores from the input dict (``condition`` str or list of str, optional ``context``).
"""
from __future__ import annotations

from collections import OrderedDict
from functools import partial
from typing import Callable, Sequence

import torch
import torch.nn as nn

from pointlab import sparse as spconv
from pointlab.registry import MODELS
from pointlab.structures import offset2batch

__all__ = ["BasicBlock", "SpUNetBase", "default_norm_fn", "CONDITION_KEY"]

# where the per-batch condition travels with the sparse tensor (its cache is shared by derived tensors)
CONDITION_KEY = "__condition__"

# BatchNorm1d with Pointcept's settings for every sparse U-Net
default_norm_fn = partial(nn.BatchNorm1d, eps=1e-3, momentum=0.01)

class BasicBlock(spconv.SparseModule):
    """Residual block of two 3×3×3 submanifold convs: ``relu(bn2(conv2(relu(bn1(conv1 x)))) + proj(x))``.

    Args:
        in_channels, embed_channels: input / output channels.
        norm_fn: factory ``norm_fn(C) -> nn.Module`` applied to [N, C] features.
        indice_key: kernel-map cache key shared by convs on the same voxel set.
        bias: bias of the 3×3×3 convs (False in every Pointcept config).

    Attributes (state_dict names): ``proj`` (Identity when in == out, else ``0`` 1×1×1 conv + ``1`` norm),
    ``conv1``, ``bn1``, ``relu``, ``conv2``, ``bn2``. Maps a SparseConvTensor to one with the same voxels.
    """

    expansion = 1

    def __init__(self, in_channels: int, embed_channels: int, norm_fn: Callable[[int], nn.Module] = default_norm_fn, indice_key: str | None = None, bias: bool = False):
        super().__init__()
        if in_channels == embed_channels:
            self.proj = spconv.SparseSequential(nn.Identity())
        else:
            self.proj = spconv.SparseSequential(
                spconv.SubMConv3d(in_channels, embed_channels, kernel_size=1, bias=False),
                norm_fn(embed_channels),
            )
        self.conv1 = spconv.SubMConv3d(in_channels, embed_channels, kernel_size=3, padding=1, bias=bias, indice_key=indice_key)
        self.bn1 = norm_fn(embed_channels)
        self.relu = nn.ReLU()
        self.conv2 = spconv.SubMConv3d(embed_channels, embed_channels, kernel_size=3, padding=1, bias=bias, indice_key=indice_key)
        self.bn2 = norm_fn(embed_channels)

    def forward(self, x):
        out = self.conv1(x)
        out = out.replace_feature(self.relu(_norm(self.bn1, out)))
        out = self.conv2(out)
        shortcut = self.proj(x).features
        return out.replace_feature(self.relu(_norm(self.bn2, out) + shortcut))


def _norm(norm: nn.Module, x) -> torch.Tensor:
    """Normalised features of ``x``: plain norms see ``[N, C]``, sparse-aware ones the whole tensor."""
    if isinstance(norm, spconv.SparseModule):
        return norm(x).features
    return norm(x.features)


class SpUNetBase(nn.Module):
    """Sparse U-Net on voxelised points.

    Args:
        in_channels: C_in of ``feat``.
        num_classes: K; 0 replaces the classifier by an identity (features of ``channels[-1]``).
        base_channels: stem width.
        channels: 8 widths: 4 encoder stages, then 4 decoder stages (deepest first).
        layers: residual blocks per stage, same layout as ``channels``.
        enc_mode: encoder only; the output is mean-pooled per sample ([B, K]).
        cls_mode: legacy name of ``enc_mode`` (older Pointcept configs).

    Input: dict (or Point) with ``grid_coord`` [N,3] int voxel indices ≥ 0, ``feat`` [N,C_in] float,
    ``offset`` [B] cumulative ends. Output: tensor [N, K] (or [N, channels[-1]] when K = 0).

    State-dict keys (in order): ``conv_input.{0,1}``, ``down.{s}.{0,1}``, ``up.{s}.{0,1}``,
    ``enc.{s}.block{i}.*``, ``dec.{s}.block{i}.*``, ``final.{weight,bias}``.
    """

    norm_fn: Callable[[int], nn.Module] = staticmethod(default_norm_fn)
    block = BasicBlock

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        base_channels: int = 32,
        channels: Sequence[int] = (32, 64, 128, 256, 256, 128, 96, 96),
        layers: Sequence[int] = (2, 3, 4, 6, 2, 2, 2, 2),
        enc_mode: bool = False,
        cls_mode: bool | None = None,
    ):
        super().__init__()
        if cls_mode is not None:
            if enc_mode and not cls_mode:
                raise ValueError("SpUNet: enc_mode=True and cls_mode=False contradict each other; cls_mode is the old name of enc_mode, give only one")
            enc_mode = bool(cls_mode)
        channels, layers = tuple(channels), tuple(layers)
        if len(layers) % 2 != 0 or len(layers) != len(channels):
            raise ValueError(
                f"SpUNet: channels and layers must have the same even length (encoder + decoder stages), "
                f"got channels={channels} ({len(channels)}) and layers={layers} ({len(layers)})"
            )
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.base_channels = base_channels
        self.channels = channels
        self.layers = layers
        self.num_stages = len(layers) // 2
        self.enc_mode = enc_mode

        self.conv_input = self._stem(in_channels, base_channels)
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        self.enc = nn.ModuleList()
        self.dec = nn.ModuleList() if not enc_mode else None

        n = len(channels)
        enc_channels, dec_channels = base_channels, channels[-1]
        for s in range(self.num_stages):
            self.down.append(self._down(enc_channels, channels[s], indice_key=f"spconv{s + 1}"))
            self.enc.append(self._stage(channels[s], channels[s], layers[s], indice_key=f"subm{s + 1}"))
            if not enc_mode:
                # the decoder of stage s sees the upsampled deeper features concatenated with the skip
                self.up.append(self._up(channels[n - s - 2], dec_channels, indice_key=f"spconv{s + 1}"))
                self.dec.append(self._stage(dec_channels + enc_channels, dec_channels, layers[n - s - 1], indice_key=f"subm{s}"))
            enc_channels, dec_channels = channels[s], channels[n - s - 2]

        final_in = channels[-1] if not enc_mode else channels[self.num_stages - 1]
        if num_classes > 0:
            # a 1×1×1 conv; ``padding`` has no effect on submanifold convs (kept for the reference's repr)
            self.final = spconv.SubMConv3d(final_in, num_classes, kernel_size=1, padding=1, bias=True)
        else:
            self.final = _SparseIdentity()
        self.apply(self._init_weights)

    # -- builders (a subclass may rename or re-norm them) -----------------------------------
    def _stem(self, c_in: int, c_out: int) -> nn.Module:
        return spconv.SparseSequential(
            spconv.SubMConv3d(c_in, c_out, kernel_size=5, padding=1, bias=False, indice_key="stem"),
            self.norm_fn(c_out),
            nn.ReLU(),
        )

    def _down(self, c_in: int, c_out: int, indice_key: str) -> nn.Module:
        return spconv.SparseSequential(
            spconv.SparseConv3d(c_in, c_out, kernel_size=2, stride=2, bias=False, indice_key=indice_key),
            self.norm_fn(c_out),
            nn.ReLU(),
        )

    def _up(self, c_in: int, c_out: int, indice_key: str) -> nn.Module:
        return spconv.SparseSequential(
            spconv.SparseInverseConv3d(c_in, c_out, kernel_size=2, bias=False, indice_key=indice_key),
            self.norm_fn(c_out),
            nn.ReLU(),
        )

    def _stage(self, c_in: int, c_out: int, depth: int, indice_key: str) -> nn.Module:
        blocks = [
            (f"block{i}", self.block(c_in if i == 0 else c_out, c_out, norm_fn=self.norm_fn, indice_key=indice_key))
            for i in range(depth)
        ]
        return spconv.SparseSequential(OrderedDict(blocks))

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        # Pointcept: trunc-normal(0.02) for Linear and *submanifold* convs; strided and inverse
        # convs keep the sparse-conv default init; norms start at identity.
        if isinstance(m, (nn.Linear, spconv.SubMConv3d)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.BatchNorm1d):
            if m.weight is not None:
                nn.init.constant_(m.weight, 1.0)
                nn.init.constant_(m.bias, 0)

    # -- forward -------------------------------------------------------------------------------
    def _sparse_input(self, input_dict) -> "spconv.SparseConvTensor":
        missing = [k for k in ("grid_coord", "feat", "offset") if k not in input_dict]
        if missing:
            raise KeyError(f"{type(self).__name__}: input is missing {missing} (present: {sorted(input_dict.keys())}); add them to the Collect transform's keys / feat_keys")
        grid_coord, feat, offset = input_dict["grid_coord"], input_dict["feat"], input_dict["offset"]
        if feat.dim() != 2 or feat.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__}: feat has shape {list(feat.shape)} but in_channels={self.in_channels}; "
                "make in_channels equal the total width of feat_keys (e.g. color+normal = 6)"
            )
        if grid_coord.shape[0] == 0:
            raise ValueError(f"{type(self).__name__}: the batch has no points")
        batch = offset2batch(offset)
        if batch.shape[0] != grid_coord.shape[0]:
            raise ValueError(f"{type(self).__name__}: offset ends at {int(offset[-1])} but there are {grid_coord.shape[0]} points")
        # spatial shape only needs to bound the coordinates; +96 is the reference's margin
        sparse_shape = (grid_coord.max(dim=0).values + 96).tolist()
        indices = torch.cat([batch.unsqueeze(-1).int(), grid_coord.int()], dim=1).contiguous()
        x = spconv.SparseConvTensor(features=feat, indices=indices, spatial_shape=sparse_shape, batch_size=int(batch[-1]) + 1)
        if "condition" in input_dict:  # one condition per batch (Point Prompt Training)
            cond = input_dict["condition"]
            x.indice_dict[CONDITION_KEY] = (cond if isinstance(cond, str) else cond[0], input_dict.get("context"))
        return x

    def forward(self, input_dict) -> torch.Tensor:
        x = self._sparse_input(input_dict)
        x = self.conv_input(x)
        skips = [x]
        for s in range(self.num_stages):
            x = self.down[s](x)
            x = self.enc[s](x)
            skips.append(x)
        x = skips.pop(-1)
        if not self.enc_mode:
            for s in reversed(range(self.num_stages)):
                x = self.up[s](x)
                skip = skips.pop(-1)
                x = x.replace_feature(torch.cat((x.features, skip.features), dim=1))
                x = self.dec[s](x)
        x = self.final(x)
        if self.enc_mode:
            return _mean_per_sample(x.features, x.indices[:, 0].long(), x.batch_size)
        return x.features


class _SparseIdentity(spconv.SparseModule):
    """Pass-through for a SparseConvTensor (``final`` when num_classes = 0; no parameters)."""

    def forward(self, x):
        return x


def _mean_per_sample(feat: torch.Tensor, batch: torch.Tensor, batch_size: int) -> torch.Tensor:
    """[N, C] features, [N] sample ids → [B, C] per-sample means."""
    sums = feat.new_zeros(batch_size, feat.shape[1]).index_add_(0, batch, feat)
    counts = torch.bincount(batch, minlength=batch_size).clamp_min(1).to(feat.dtype)
    return sums / counts[:, None]


MODELS.register_module("SpUNet-v1m1", module=SpUNetBase)
