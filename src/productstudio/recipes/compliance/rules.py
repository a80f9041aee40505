"""Marketplace rules: the ``rules:`` section of a recipe, read by the compliance checker.

Every rule carries ``source`` (where the number comes from: a marketplace page, or
"unconfirmed") and ``confirmed``; an unconfirmed rule never fails an image, it warns.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from productstudio.models.text.erase import MIN_TEXT_SCORE


class Severity(StrEnum):
    """What a broken rule means for the image."""

    FAIL = "fail"
    WARN = "warn"


class Rule(BaseModel):
    """Common fields of every rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(default="", description="where the limit comes from (URL or document)")
    confirmed: bool = Field(
        default=True, description="false: the number is not from the marketplace"
    )
    severity: Severity = Severity.FAIL


class BackgroundRule(Rule):
    """Non-product pixels must be exactly ``color``.

    ``min_share``: share of non-product pixels (beyond a thin band around the product's
    outline) that must equal the colour exactly. ``max_deviation``: largest per-channel
    difference tolerated anywhere in that area (above it: a warning).
    """

    color: str = "#ffffff"
    min_share: float = Field(default=0.98, ge=0.0, le=1.0)
    max_deviation: int = Field(default=8, ge=0, le=255)


class FillRule(Rule):
    """The product's bounding box covers ``min``..``max`` of the frame along its limiting side."""

    min: float | None = Field(default=None, ge=0.0, le=1.0)
    max: float | None = Field(default=None, ge=0.0, le=1.0)
    tolerance: float = Field(
        0.01, ge=0.0, le=0.1, description="measurement slack for soft, anti-aliased edges"
    )


class DimensionsRule(Rule):
    """Pixel dimensions: hard limits fail, ``recommended_*`` and ``exact`` only warn."""

    min_long: int | None = Field(default=None, gt=0)
    min_short: int | None = Field(default=None, gt=0)
    min_width: int | None = Field(default=None, gt=0)
    min_height: int | None = Field(default=None, gt=0)
    max_long: int | None = Field(default=None, gt=0)
    max_pixels: int | None = Field(default=None, gt=0)
    recommended_long: int | None = Field(default=None, gt=0)
    recommended_width: int | None = Field(default=None, gt=0)
    recommended_height: int | None = Field(default=None, gt=0)


def parse_ratio(value: float | str) -> float:
    """``1.0``, ``"1:1"`` or ``"1:1.44"`` → width / height."""
    if isinstance(value, int | float):
        r = float(value)
    else:
        text = str(value).strip()
        if ":" in text:
            a, b = text.split(":", 1)
            r = float(a) / float(b)
        else:
            r = float(text)
    if not 0.01 <= r <= 100:
        raise ValueError(f"aspect ratio must be between 0.01 and 100, got {value!r}")
    return r


class AspectRule(Rule):
    """Width / height equals ``ratio`` (``"1:1"``, ``"1:1.44"`` or a number) within ``tolerance``
    (relative)."""

    ratio: float
    tolerance: float = Field(default=0.01, ge=0.0, le=1.0)

    @field_validator("ratio", mode="before")
    @classmethod
    def _ratio(cls, v: float | str) -> float:
        return parse_ratio(v)


class FileSizeRule(Rule):
    """Encoded file size in bytes."""

    max_bytes: int | None = Field(default=None, gt=0)
    min_bytes: int | None = Field(default=None, ge=0)


class FormatRule(Rule):
    """Container format: ``allowed`` fails otherwise, ``preferred`` warns otherwise."""

    allowed: list[str] = Field(default_factory=lambda: ["jpeg", "png"])
    preferred: str | None = None
    min_jpeg_quality: int | None = Field(
        None, ge=1, le=100, description="estimated from the JPEG quantisation tables"
    )

    @field_validator("allowed", mode="before")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [str(x).lower().replace("jpg", "jpeg") for x in v]

    @field_validator("preferred", mode="before")
    @classmethod
    def _lower1(cls, v: str | None) -> str | None:
        return None if v is None else str(v).lower().replace("jpg", "jpeg")


class ColorSpaceRule(Rule):
    """Pixel mode (RGB, not CMYK) and colour profile (none or sRGB)."""

    modes: list[str] = Field(default_factory=lambda: ["RGB", "RGBA", "L", "P"])
    require_srgb: bool = True


class BordersRule(Rule):
    """No frame or border line around the picture."""

    allowed: bool = False


class TextRule(Rule):
    """No text, logos or watermarks (needs a text detector; without one the rule warns that
    text was not checked)."""

    allowed: bool = False
    min_score: float = Field(default=MIN_TEXT_SCORE, ge=0.0, le=1.0)
    only_overlay: bool = Field(
        default=True,
        description="count only text overlaid on the photo (watermarks, banners), not text "
        "printed on the product's packaging",
    )


class Rules(BaseModel):
    """All rules of a recipe (each optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    background: BackgroundRule | None = None
    fill: FillRule | None = None
    dimensions: DimensionsRule | None = None
    aspect: AspectRule | None = None
    file_size: FileSizeRule | None = None
    format: FormatRule | None = None
    color_space: ColorSpaceRule | None = None
    borders: BordersRule | None = None
    text: TextRule | None = None

    def active(self) -> list[tuple[str, Rule]]:
        """(name, rule) of every rule that is set, in a stable order."""
        out: list[tuple[str, Rule]] = []
        for name in type(self).model_fields:
            r = getattr(self, name)
            if r is not None:
                out.append((name, r))
        return out


__all__ = [
    "AspectRule",
    "BackgroundRule",
    "BordersRule",
    "ColorSpaceRule",
    "DimensionsRule",
    "FileSizeRule",
    "FillRule",
    "FormatRule",
    "Rule",
    "Rules",
    "Severity",
    "TextRule",
    "parse_ratio",
]
