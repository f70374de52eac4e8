"""Point Transformer V3, registry name "PT-v3m1".

Wu et al., "Point Transformer V3: Simpler, Faster, Stronger", CVPR 2024. Matches Pointcept
``pointcept/models/point_transformer_v3/point_transformer_v3m1_base.py`` (``PointTransformerV3``):
same constructor arguments and defaults, module names and shapes, and — with the defaults — the
same outputs from the same checkpoint and RNG state (pooling draws ``torch.randperm`` in eval too;
without flash the patch size shrinks to the smallest sample). Deterministic alternatives:
``fixed_patch=True`` and ``pool_shuffle_orders=False`` (both off by default).

Input: a dict/Point with ``feat`` [N, in_channels], ``grid_coord`` [N, 3] (or ``coord`` +
``grid_size``), ``offset`` [B] (or ``batch``); optional ``condition``/``context`` for PDNorm.
Output: the full-resolution :class:`~pointlab.structures.Point` with ``feat`` [N, dec_channels[0]]
(or, with ``enc_mode``, the coarsest Point, its ``pooling_parent`` chain intact).
"""
from __future__ import annotations

from functools import partial
from typing import Sequence

import torch
import torch.nn as nn

from pointlab.registry import MODELS
from pointlab.structures import Point

from .blocks import Block, Embedding, SerializedPooling, SerializedUnpooling
from .modules import PointModule, PointSequential
from .serialization import canonical_order, serialization, sparsify

__all__ = ["PointTransformerV3", "make_norm_layers"]


def make_norm_layers(pdnorm_bn: bool, pdnorm_ln: bool, decouple: bool, adaptive: bool, affine: bool, conditions: Sequence[str]):
    """The reference's two norm factories ``(bn_layer, ln_layer)``, each ``f(C) -> nn.Module``.

    ``bn_layer``: BatchNorm1d(eps 1e-3, momentum 0.01) — used in the stem, pooling and unpooling;
    ``ln_layer``: LayerNorm — used inside Blocks. With ``pdnorm_bn``/``pdnorm_ln`` each becomes a
    ``PDNorm`` (registry MODULES) over that norm with the given decouple/adaptive/affine/conditions.
    """
    bn_layer = partial(nn.BatchNorm1d, eps=1e-3, momentum=0.01)
    ln_layer = nn.LayerNorm
    if pdnorm_bn or pdnorm_ln:
        from pointlab.registry import MODULES

        pdnorm = partial(MODULES.get("PDNorm"), conditions=tuple(conditions), decouple=decouple, adaptive=adaptive)
        if pdnorm_bn:
            bn_layer = partial(pdnorm, norm_layer=partial(nn.BatchNorm1d, eps=1e-3, momentum=0.01, affine=affine))
        if pdnorm_ln:
            ln_layer = partial(pdnorm, norm_layer=partial(nn.LayerNorm, elementwise_affine=affine))
    return bn_layer, ln_layer


def _check_len(name: str, value, expected: int, why: str) -> None:
    if len(value) != expected:
        raise ValueError(f"PT-v3m1: {name} has {len(value)} entries {tuple(value)}, expected {expected} ({why})")


@MODELS.register_module("PT-v3m1")
class PointTransformerV3(PointModule):
    """PT-v3m1 U-Net of serialized-attention stages.

    Args (reference defaults):
        in_channels: input feature width (6 = color + normal).
        order: serialization order name(s): "z", "z-trans", "hilbert", "hilbert-trans" (aliases
            "z_trans", "hilbert_trans"); Block i of a stage uses order ``i % len(order)``.
        stride: pooling stride between consecutive encoder stages (len = stages − 1).
        enc_depths, enc_channels, enc_num_head, enc_patch_size: per encoder stage.
        dec_depths, dec_channels, dec_num_head, dec_patch_size: per decoder stage (len = stages − 1);
            decoder patch sizes should equal the encoder's (the decoder reuses its padding layout).
        mlp_ratio, qkv_bias, qk_scale, attn_drop, proj_drop: as in :class:`Block`.
        drop_path: maximal stochastic-depth rate (linear over encoder blocks; decoder reversed).
        pre_norm: pre-norm (True) or post-norm Blocks.
        shuffle_orders: permute the order rows randomly in each forward (one ``torch.randperm``).
        enable_rpe, enable_flash, upcast_attention, upcast_softmax: see :class:`SerializedAttention`;
            ``enable_flash`` needs no flash-attn package here.
        enc_mode: encoder only (no decoder). ``cls_mode``: legacy name of ``enc_mode``.
        pdnorm_bn, pdnorm_ln, pdnorm_decouple, pdnorm_adaptive, pdnorm_affine, pdnorm_conditions:
            prompt-driven norms for Point Prompt Training (see :func:`make_norm_layers`).
        fixed_patch: (pointlab) without flash, keep K = patch size instead of shrinking it to the
            smallest sample — outputs then do not depend on the other samples of the batch.
        pool_shuffle_orders: (pointlab) False stops the pooling layers' ``randperm`` (the
            reference always draws it, eval included), making eval outputs RNG-independent.
    """

    def __init__(
        self,
        in_channels: int = 6,
        order=("z", "z-trans"),
        stride=(2, 2, 2, 2),
        enc_depths=(2, 2, 2, 6, 2),
        enc_channels=(32, 64, 128, 256, 512),
        enc_num_head=(2, 4, 8, 16, 32),
        enc_patch_size=(48, 48, 48, 48, 48),
        dec_depths=(2, 2, 2, 2),
        dec_channels=(64, 64, 128, 256),
        dec_num_head=(4, 4, 8, 16),
        dec_patch_size=(48, 48, 48, 48),
        mlp_ratio: float = 4,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        drop_path: float = 0.3,
        pre_norm: bool = True,
        shuffle_orders: bool = True,
        enable_rpe: bool = False,
        enable_flash: bool = True,
        upcast_attention: bool = False,
        upcast_softmax: bool = False,
        enc_mode: bool = False,
        pdnorm_bn: bool = False,
        pdnorm_ln: bool = False,
        pdnorm_decouple: bool = True,
        pdnorm_adaptive: bool = False,
        pdnorm_affine: bool = True,
        pdnorm_conditions=("ScanNet", "S3DIS", "Structured3D"),
        cls_mode: bool | None = None,
        fixed_patch: bool = False,
        pool_shuffle_orders: bool = True,
    ):
        super().__init__()
        if cls_mode is not None:
            if enc_mode and not cls_mode:
                raise ValueError("PT-v3m1: cls_mode is the legacy name of enc_mode; give only one of them")
            enc_mode = bool(cls_mode)
        self.num_stages = len(enc_depths)
        orders = [order] if isinstance(order, str) else list(order)
        self.order = [canonical_order(o) for o in orders]
        self.enc_mode = enc_mode
        self.shuffle_orders = shuffle_orders
        n = self.num_stages
        _check_len("stride", stride, n - 1, "one per pooling between encoder stages")
        for name, value in (("enc_channels", enc_channels), ("enc_num_head", enc_num_head), ("enc_patch_size", enc_patch_size)):
            _check_len(name, value, n, "one per encoder stage, like enc_depths")
        if not enc_mode:
            for name, value in (("dec_depths", dec_depths), ("dec_channels", dec_channels), ("dec_num_head", dec_num_head), ("dec_patch_size", dec_patch_size)):
                _check_len(name, value, n - 1, "one per decoder stage = encoder stages − 1")

        bn_layer, ln_layer = make_norm_layers(pdnorm_bn, pdnorm_ln, pdnorm_decouple, pdnorm_adaptive, pdnorm_affine, pdnorm_conditions)
        act_layer = nn.GELU
        block = partial(
            Block,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            qk_scale=qk_scale,
            attn_drop=attn_drop,
            proj_drop=proj_drop,
            norm_layer=ln_layer,
            act_layer=act_layer,
            pre_norm=pre_norm,
            enable_rpe=enable_rpe,
            enable_flash=enable_flash,
            upcast_attention=upcast_attention,
            upcast_softmax=upcast_softmax,
            fixed_patch=fixed_patch,
        )

        self.embedding = Embedding(in_channels, enc_channels[0], norm_layer=bn_layer, act_layer=act_layer)

        enc_rates = [x.item() for x in torch.linspace(0, drop_path, sum(enc_depths), device="cpu")]
        self.enc = PointSequential()
        for s in range(n):
            rates = enc_rates[sum(enc_depths[:s]) : sum(enc_depths[: s + 1])]
            enc = PointSequential()
            if s > 0:
                enc.add(
                    SerializedPooling(enc_channels[s - 1], enc_channels[s], stride=stride[s - 1], norm_layer=bn_layer, act_layer=act_layer, shuffle_orders=pool_shuffle_orders),
                    name="down",
                )
            for i in range(enc_depths[s]):
                enc.add(
                    block(
                        channels=enc_channels[s],
                        num_heads=enc_num_head[s],
                        patch_size=enc_patch_size[s],
                        drop_path=rates[i],
                        order_index=i % len(self.order),
                        cpe_indice_key=f"stage{s}",
                    ),
                    name=f"block{i}",
                )
            if len(enc) != 0:
                self.enc.add(enc, name=f"enc{s}")

        if not enc_mode:
            dec_rates = [x.item() for x in torch.linspace(0, drop_path, sum(dec_depths), device="cpu")]
            self.dec = PointSequential()
            dec_channels = list(dec_channels) + [enc_channels[-1]]
            for s in reversed(range(n - 1)):
                rates = dec_rates[sum(dec_depths[:s]) : sum(dec_depths[: s + 1])][::-1]
                dec = PointSequential()
                dec.add(
                    SerializedUnpooling(dec_channels[s + 1], enc_channels[s], dec_channels[s], norm_layer=bn_layer, act_layer=act_layer),
                    name="up",
                )
                for i in range(dec_depths[s]):
                    dec.add(
                        block(
                            channels=dec_channels[s],
                            num_heads=dec_num_head[s],
                            patch_size=dec_patch_size[s],
                            drop_path=rates[i],
                            order_index=i % len(self.order),
                            cpe_indice_key=f"stage{s}",
                        ),
                        name=f"block{i}",
                    )
                self.dec.add(dec, name=f"dec{s}")

    def forward(self, data_dict) -> Point:
        point = Point(data_dict)  # shallow copy: the caller's dict is not modified
        if "feat" not in point:
            raise KeyError(f"PT-v3m1: the input has no 'feat' (keys: {sorted(point.keys())}); set Collect(feat_keys=...)")
        if "offset" not in point and "batch" not in point:
            point["offset"] = torch.tensor([point["feat"].shape[0]], device=point["feat"].device)
            point["batch"] = torch.zeros(point["feat"].shape[0], dtype=torch.long, device=point["feat"].device)
        serialization(point, order=self.order, shuffle_orders=self.shuffle_orders)
        sparsify(point)
        point = self.embedding(point)
        point = self.enc(point)
        if not self.enc_mode:
            point = self.dec(point)
        return point
