"""personalize layer."""

# Audience effect (imports numpy only; models are passed in).
from productstudio.personalize.audience import (
    AudienceEffect,
    AudienceProfile,
    colour_stats,
    measure_audience_effect,
)

__all__ = ["AudienceEffect", "AudienceProfile", "colour_stats", "measure_audience_effect"]
