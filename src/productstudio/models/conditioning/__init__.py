"""Conditioning: title text, attributes, audience and image features → one fused vector.

``text``, ``audience`` and ``config`` are light (numpy only); ``fusion`` imports torch.
"""

from productstudio.models.conditioning.audience import (
    AUDIENCE_FIELDS,
    INTERESTS,
    AudienceProfile,
    Palette,
    audience_for,
    palette_of,
)
from productstudio.models.conditioning.config import (
    ConditionConfig,
    Fusion,
    Prompt,
    TextEncoderKind,
)
from productstudio.models.conditioning.text import (
    HashingTextEncoder,
    MiniLMTextEncoder,
    TextEncoder,
    get_text_encoder,
)

__all__ = [
    "AUDIENCE_FIELDS",
    "INTERESTS",
    "AudienceProfile",
    "ConditionConfig",
    "Fusion",
    "HashingTextEncoder",
    "MiniLMTextEncoder",
    "Palette",
    "Prompt",
    "TextEncoder",
    "TextEncoderKind",
    "audience_for",
    "get_text_encoder",
    "palette_of",
]
