"""The ``output`` step: format, quality and file-size limit of the written file."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from productstudio.imaging.io import ImageFormat
from productstudio.recipes.steps.base import StepContext, StepParams, register_step

#: The recipes' name for :class:`~productstudio.imaging.io.ImageFormat` (the same enum).
OutputFormat = ImageFormat


class EncodeSettings(StepParams):
    """How the result is written (the ``output`` step's params).

    Attributes:
        format: file format.
        quality: JPEG/WebP/AVIF quality (1..100).
        max_bytes: largest acceptable file; the encoder lowers the quality (not below
            ``min_quality``) until the file fits, else reports it.
        min_quality: lowest quality the size limit may push to.
        background: colour used to flatten transparency for formats without alpha.
    """

    format: ImageFormat = ImageFormat.JPEG
    quality: int = Field(default=92, ge=1, le=100)
    max_bytes: int | None = Field(default=None, gt=0)
    min_quality: int = Field(default=70, ge=1, le=100)
    background: str = "#ffffff"


@register_step("output", EncodeSettings, summary="Output format, quality and file-size limit")
def output_step(ctx: StepContext, image: np.ndarray, params: EncodeSettings) -> np.ndarray:
    ctx.encode = params
    return image


__all__ = ["EncodeSettings", "OutputFormat", "output_step"]
