"""Point Transformer V3 (registry "PT-v3m1"): serialization, serialized attention, blocks, model.

Public API: :class:`PointTransformerV3`, :func:`serialization`, :func:`sparsify`, :func:`encode`,
:func:`decode`, :class:`SerializedAttention`, :func:`patch_layout`, :class:`Block`,
:class:`SerializedPooling`, :class:`SerializedUnpooling`, :class:`Embedding`, :class:`DropPath`,
:class:`PointModule`, :class:`PointSequential`.
"""
from .attention import RPE, SerializedAttention, patch_layout
from .blocks import MLP, Block, DropPath, Embedding, SerializedPooling, SerializedUnpooling
from .model import PointTransformerV3, make_norm_layers
from .modules import PointModule, PointSequential
from .serialization import decode, encode, serialization, sparsify

__all__ = [
    "PointTransformerV3",
    "make_norm_layers",
    "serialization",
    "sparsify",
    "encode",
    "decode",
    "SerializedAttention",
    "RPE",
    "patch_layout",
    "Block",
    "MLP",
    "DropPath",
    "SerializedPooling",
    "SerializedUnpooling",
    "Embedding",
    "PointModule",
    "PointSequential",
]
