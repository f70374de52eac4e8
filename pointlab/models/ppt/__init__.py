"""Point Prompt Training (Wu et al., CVPR 2024): multi-dataset training with dataset prompts.

- ``PPT-v1m1``: language-guided categorical alignment (class-name text embeddings, ``valid_index``);
- ``PPT-v1m2``: one linear head per dataset.
Both feed the backbone a dataset context from ``embedding_table`` and the batch's ``condition``; the
backbone's prompt-driven norms (``pointlab.models.pdnorm``) use them. Importing this package also
registers ``SpUNet-v1m3``.
"""
from .. import spunet_v1m3  # noqa: F401  (registers "SpUNet-v1m3")
from .base import PPT_BACKBONES
from .text import TextEncoderUnavailable, encode_class_names, load_class_embedding
from .v1m1 import PointPromptTraining
from .v1m2 import PointPromptTrainingDecoupled

__all__ = [
    "PointPromptTraining",
    "PointPromptTrainingDecoupled",
    "PPT_BACKBONES",
    "TextEncoderUnavailable",
    "encode_class_names",
    "load_class_embedding",
]
