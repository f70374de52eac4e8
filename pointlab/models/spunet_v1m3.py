"""SpUNet with prompt-driven normalization, registry name "SpUNet-v1m3".

Matches Pointcept ``pointcept/models/sparse_unet/spconv_unet_v1m3_pdnorm.py`` (``SpUNetBase`` there):
the v1m1 U-Net of :mod:`pointlab.models.spunet` with every BatchNorm replaced by a
:class:`~pointlab.models.pdnorm.PDBatchNorm` and the module names of the reference's v1m3
(``conv_input.{conv,bn,relu}``, ``down[s].{conv,bn,relu}``, ``up[s].{conv,bn,relu}``, blocks with
``proj_conv``/``proj_norm`` instead of ``proj.{0,1}``), so a Pointcept PPT checkpoint loads key for key.

The dataset condition (and PPT's context) travels with the sparse tensor (``SpUNetBase`` puts it
there from ``input_dict["condition"]`` / ``input_dict["context"]``); the norms read it.

pointlab extension (no reference checkpoint): ``norm_type="LN"`` uses LayerNorm inside the
prompt-driven norms (keys ``norm.{j}`` instead of ``bns.{j}``), the "LayerNorm everywhere" option.
"""
from __future__ import annotations

from collections import OrderedDict
from functools import partial
from typing import Sequence

import torch.nn as nn

from pointlab import sparse as spconv
from pointlab.registry import MODELS

from .pdnorm import PDBatchNorm, PDNorm, _PromptNormBase
from .spunet import SpUNetBase, _norm

__all__ = ["SpUNetV1m3", "BasicBlockV1m3"]


class BasicBlockV1m3(spconv.SparseModule):
    """v1m3 residual block: ``relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut(x))``.

    Shortcut: ``proj`` (Identity, no keys) when in == out, else ``proj_norm(proj_conv(x))`` with a
    1×1×1 submanifold conv. Attribute names are the reference's checkpoint keys.
    """

    expansion = 1

    def __init__(self, in_channels: int, embed_channels: int, norm_fn=None, indice_key: str | None = None, bias: bool = False):
        super().__init__()
        self.in_channels, self.embed_channels = in_channels, embed_channels
        if in_channels == embed_channels:
            self.proj = spconv.SparseSequential(nn.Identity())
        else:
            self.proj_conv = spconv.SubMConv3d(in_channels, embed_channels, kernel_size=1, bias=False)
            self.proj_norm = norm_fn(embed_channels)
        self.conv1 = spconv.SubMConv3d(in_channels, embed_channels, kernel_size=3, padding=1, bias=bias, indice_key=indice_key)
        self.bn1 = norm_fn(embed_channels)
        self.relu = nn.ReLU()
        self.conv2 = spconv.SubMConv3d(embed_channels, embed_channels, kernel_size=3, padding=1, bias=bias, indice_key=indice_key)
        self.bn2 = norm_fn(embed_channels)

    def forward(self, x):
        out = self.conv1(x)
        out = out.replace_feature(self.relu(_norm(self.bn1, out)))
        out = self.conv2(out)
        if self.in_channels == self.embed_channels:
            shortcut = self.proj(x).features
        else:
            shortcut = _norm(self.proj_norm, self.proj_conv(x))
        return out.replace_feature(self.relu(_norm(self.bn2, out) + shortcut))


def _named(conv: nn.Module, norm: nn.Module) -> spconv.SparseSequential:
    # SPConvPatchEmbedding / SPConvDown / SPConvUp of the reference: children conv, bn, relu
    return spconv.SparseSequential(OrderedDict(conv=conv, bn=norm, relu=nn.ReLU()))


class SpUNetV1m3(SpUNetBase):
    """Sparse U-Net with PDNorm (SpUNet-v1m3).

    Args:
        in_channels, num_classes, base_channels, channels, layers, enc_mode: as SpUNet-v1m1
            (``num_classes=0`` in PPT: ``final`` is an identity and the output is [N, channels[-1]]).
        context_channels: width of the dataset context fed to the adaptive norms.
        conditions: dataset names in the order of the per-dataset norms (**the backbone's order**,
            default ScanNet, S3DIS, Structured3D; PPT's own ``conditions`` order is separate).
        zero_init: zero the adaptive modulation after init (needs ``norm_adaptive``; the
            reference then raises AttributeError, we raise it with a message).
        norm_decouple, norm_adaptive, norm_affine: the PDBatchNorm options (see :mod:`pointlab.models.pdnorm`).
        norm_type: "BN" (reference) or "LN" (pointlab extension: LayerNorm inside the PD norms).

    Input: as v1m1 plus ``condition`` (str or list of str; required when decoupled) and
    ``context`` ([1, context_channels]; required when adaptive, set by PPT).
    """

    block = BasicBlockV1m3

    def __init__(
        self,
        in_channels: int,
        num_classes: int = 0,
        base_channels: int = 32,
        context_channels: int = 256,
        channels: Sequence[int] = (32, 64, 128, 256, 256, 128, 96, 96),
        layers: Sequence[int] = (2, 3, 4, 6, 2, 2, 2, 2),
        enc_mode: bool = False,
        conditions: Sequence[str] = ("ScanNet", "S3DIS", "Structured3D"),
        zero_init: bool = True,
        norm_decouple: bool = True,
        norm_adaptive: bool = True,
        norm_affine: bool = False,
        norm_type: str = "BN",
    ):
        if zero_init and not norm_adaptive:
            raise AttributeError(
                "SpUNet-v1m3: zero_init=True zeroes the adaptive modulation, but norm_adaptive=False builds none; "
                "set zero_init=False or norm_adaptive=True"
            )
        self.conditions = tuple(conditions)
        self.context_channels = context_channels
        self.zero_init = zero_init
        common = dict(context_channels=context_channels, conditions=self.conditions, decouple=norm_decouple, adaptive=norm_adaptive, affine=norm_affine)
        if str(norm_type).upper() == "BN":
            # an instance attribute shadows the base class's factory before its __init__ builds the layers
            self.norm_fn = partial(PDBatchNorm, eps=1e-3, momentum=0.01, **common)
        elif str(norm_type).upper() == "LN":
            self.norm_fn = partial(PDNorm, norm_layer="LN", **common)
        else:
            raise ValueError(f"SpUNet-v1m3: norm_type must be 'BN' or 'LN', got {norm_type!r}")
        super().__init__(in_channels, num_classes, base_channels=base_channels, channels=channels, layers=layers, enc_mode=enc_mode)
        if zero_init:
            for m in self.modules():
                if isinstance(m, _PromptNormBase):
                    m.zero_init_modulation()

    def _stem(self, c_in: int, c_out: int) -> nn.Module:
        return _named(spconv.SubMConv3d(c_in, c_out, kernel_size=5, padding=1, bias=False, indice_key="stem"), self.norm_fn(c_out))

    def _down(self, c_in: int, c_out: int, indice_key: str) -> nn.Module:
        return _named(spconv.SparseConv3d(c_in, c_out, kernel_size=2, stride=2, bias=False, indice_key=indice_key), self.norm_fn(c_out))

    def _up(self, c_in: int, c_out: int, indice_key: str) -> nn.Module:
        return _named(spconv.SparseInverseConv3d(c_in, c_out, kernel_size=2, bias=False, indice_key=indice_key), self.norm_fn(c_out))


MODELS.register_module("SpUNet-v1m3", module=SpUNetV1m3)
