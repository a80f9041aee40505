"""The segmenter interface: an RGB image in, a soft foreground probability out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from productstudio.imaging.types import Image, Mask, RGBImage, check_image, to_uint8

UNSURE_BELOW = 0.5


@dataclass(frozen=True, slots=True)
class Segmentation:
    """A segmenter's answer.

    Attributes:
        mask: float32 (H, W) in [0, 1], at the input image's size; 1 = product.
        confidence: 0..1, how sure the backend is that ``mask`` separates one product from
            its background; below ``UNSURE_BELOW`` the caller should warn the user.
        backend: registry name of the backend that produced it.
        notes: why confidence is low, in words a seller understands.
    """

    mask: Mask
    confidence: float
    backend: str
    notes: tuple[str, ...] = ()

    @property
    def unsure(self) -> bool:
        return self.confidence < UNSURE_BELOW


def mask_confidence(prob: Mask) -> tuple[float, list[str]]:
    """A backend-independent confidence for a probability map, with reasons.

    Low when nothing (or everything) is foreground, when the mask is fragmented into many
    pieces, or when many pixels sit in the undecided middle of the range.
    """
    notes: list[str] = []
    fg = prob > 0.5
    frac = float(fg.mean())
    if frac < 0.002:
        return 0.0, ["no product found: the mask is empty"]
    conf = 1.0
    if frac > 0.97:
        conf = min(conf, 0.2)
        notes.append("the product seems to fill the whole frame, or the background was not found")
    # share of the candidate product area (probability > 0.2), so never above 100 %
    cand = float((prob > 0.2).sum())
    undecided = float(((prob > 0.2) & (prob < 0.8)).sum()) / max(cand, 1.0)
    if undecided > 0.08:
        conf = min(conf, max(0.0, 1.0 - (undecided - 0.08) * 4.0))
        notes.append(
            f"the segmenter was unsure over {undecided:.0%} of the product area "
            "(check for missing or extra parts)"
        )
    border = np.concatenate([fg[0], fg[-1], fg[:, 0], fg[:, -1]])
    touch = float(border.mean())
    if touch > 0.25:
        conf = min(conf, 0.6)
        notes.append(f"the product touches {touch:.0%} of the photo's edge (cropped product?)")
    return float(np.clip(conf, 0.0, 1.0)), notes


class Segmenter(ABC):
    """Base class: validates input, calls :meth:`predict`, scores confidence.

    A backend implements only :meth:`predict` on an (H, W, 3) uint8 RGB array and returns a
    float32 (H, W) probability map of the same size.
    """

    name: str = "segmenter"

    def segment(self, image: Image) -> Segmentation:
        """Segment the product in ``image`` ((H, W, 3|4) uint8/uint16; alpha is ignored)."""
        check_image(image)
        rgb = np.ascontiguousarray(to_uint8(image)[..., :3])
        prob = self.predict(rgb)
        if prob.shape != rgb.shape[:2]:
            raise AssertionError(f"{self.name} returned {prob.shape} for {rgb.shape[:2]}")
        prob = np.clip(prob.astype(np.float32, copy=False), 0.0, 1.0)
        conf, notes = self.confidence(rgb, prob)
        return Segmentation(prob, conf, self.name, tuple(notes))

    def confidence(self, rgb: RGBImage, prob: Mask) -> tuple[float, list[str]]:
        """Confidence and reasons; backends may add their own evidence."""
        return mask_confidence(prob)

    @abstractmethod
    def predict(self, rgb: RGBImage) -> Mask:
        """Foreground probability, float32 (H, W) in [0, 1], same size as ``rgb``."""
