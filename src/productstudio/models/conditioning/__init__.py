"""Conditioning: title text, attributes, audience and image features → one fused vector.

``text`` and ``audience`` are light (numpy only); ``fusion`` imports torch.
"""

from productstudio.models.conditioning.audience import (
    AUDIENCE_FIELDS,
    INTERESTS,
    AudienceProfile,
    Palette,
    audience_for,
    palette_of,
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
    "HashingTextEncoder",
    "MiniLMTextEncoder",
    "Palette",
    "TextEncoder",
    "audience_for",
    "get_text_encoder",
    "palette_of",
]
