"""A learned segmenter, refined with the photo's own colours when the background is plain.

On studio and plain backgrounds a small network's coarse mask (U²-Netp works at 320 px) is
used as a prior for the classical colour model (GrabCut plus known-background matting at
full resolution), which fixes edges and thin parts. On cluttered photos the learned mask is
returned unchanged, because colour models there do more harm than good.
"""

from __future__ import annotations

from productstudio.imaging.types import Mask, RGBImage
from productstudio.models.segmenters.base import Segmenter
from productstudio.models.segmenters.classical import ClassicalSegmenter


class PlainBackgroundRefined(Segmenter):
    """Wrap ``base``: on plain backgrounds, refine its mask with the classical colour model."""

    def __init__(self, base: Segmenter, classical: ClassicalSegmenter | None = None) -> None:
        self.base = base
        self.classical = classical or ClassicalSegmenter()
        self.name = base.name
        self.last_refined = False

    def predict(self, rgb: RGBImage) -> Mask:
        prior = self.base.predict(rgb)
        self.last_refined = False
        if not self.classical.looks_plain(rgb):  # most cluttered photos stop here, cheaply
            return prior
        model = self.classical.prepare(rgb)
        self.last_refined = self.classical.is_plain(model)
        if not self.last_refined:
            return prior
        return self.classical.refine(rgb, model, prior=prior)

    def confidence(self, rgb: RGBImage, prob: Mask) -> tuple[float, list[str]]:
        return self.base.confidence(rgb, prob)
