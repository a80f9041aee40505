"""The inpainter interface: an image and a hole mask in, the hole filled, nothing else touched.

The base class does the shared work (IOPaint's strategy): validate, grow the hole, crop
around it with a margin of context, convert to float RGB in [0, 1], scale the crop down to
the backend's working size, pad to ``multiple_of``, call :meth:`Inpainter.run` on that one
tile, undo the padding and scaling, and paste back **only** hole pixels. Pixels outside the
hole are bit-identical to the input, whatever the backend does.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from productstudio.errors import BackendError, InvalidParamsError
from productstudio.imaging.types import Image, check_image, from_float, to_float
from productstudio.ops.inpaint import crop_around, hole_mask, paste_hole

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SizeRule:
    """How a backend wants its tile.

    Attributes:
        multiple_of: pad height and width up to a multiple of this (reflect padding).
        max_side: scale the crop down so its long side is at most this (``None``: any size).
        fixed: the model takes exactly ``fixed`` x ``fixed`` (the crop is resized to it).
    """

    multiple_of: int = 1
    max_side: int | None = None
    fixed: int | None = None


def default_margin(hole: NDArray[np.bool_]) -> int:
    """Context to keep around a hole: about twice its thickness, at least 32 px."""
    dist = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
    return int(max(32.0, 4.0 * float(dist.max())))


class Inpainter(ABC):
    """Base class; a backend implements only :meth:`run`."""

    name: str = "inpainter"
    size: SizeRule = SizeRule()

    def inpaint(
        self, image: Image, mask: np.ndarray, *, dilate: int = 0, margin: int | None = None
    ) -> Image:
        """Fill the hole (``mask >= 0.5``, grown by ``dilate`` px) of ``image``.

        Args:
            image: (H, W, 3|4) uint8/uint16; alpha is kept as is.
            mask: (H, W) bool, uint8 or float mask.
            dilate: grow the hole first (px).
            margin: context kept around the hole (px); default :func:`default_margin`.

        Returns:
            Same shape and dtype; pixels outside the (grown) hole are bit-identical.

        Raises:
            InvalidParamsError: bad image, wrong-size or empty mask.
            BackendError: the backend returned the wrong shape.
        """
        check_image(image)
        if dilate < 0 or (margin is not None and margin < 0):
            raise InvalidParamsError("dilate and margin must be >= 0")
        hole = hole_mask(mask, image.shape[:2], dilate=dilate)
        m = default_margin(hole) if margin is None else margin
        crop, sub_hole, box = crop_around(image[..., :3], hole, m)
        filled = self.fill(to_float(crop), sub_hole)
        patch = from_float(filled, np.uint16 if image.dtype == np.uint16 else np.uint8)
        return paste_hole(image, patch, hole, box)

    def fill(self, rgb: NDArray[np.float32], hole: NDArray[np.bool_]) -> NDArray[np.float32]:
        """Scale/pad one crop to the backend's rule, :meth:`run` it, and undo the scaling."""
        h, w = rgb.shape[:2]
        rule = self.size
        tw, th = w, h
        if rule.fixed is not None:
            tw = th = rule.fixed
        elif rule.max_side is not None and max(h, w) > rule.max_side:
            s = rule.max_side / max(h, w)
            tw, th = max(1, round(w * s)), max(1, round(h * s))
        x: np.ndarray = rgb
        m: np.ndarray = hole
        if (tw, th) != (w, h):
            interp = cv2.INTER_AREA if tw * th < w * h else cv2.INTER_CUBIC
            x = cv2.resize(rgb, (tw, th), interpolation=interp)
            m = cv2.resize(hole.astype(np.uint8), (tw, th), interpolation=cv2.INTER_AREA) > 0
            if not m.any():
                m = cv2.resize(hole.astype(np.uint8), (tw, th), interpolation=cv2.INTER_NEAREST) > 0
        k = max(1, rule.multiple_of)
        ph, pw = (-th) % k, (-tw) % k
        if ph or pw:
            x = np.pad(x, ((0, ph), (0, pw), (0, 0)), mode="reflect" if min(th, tw) > 1 else "edge")
            m = np.pad(m, ((0, ph), (0, pw)), mode="constant")
        out: np.ndarray = self.run(np.ascontiguousarray(x, np.float32), np.ascontiguousarray(m))
        if out.shape != x.shape:
            raise BackendError(f"inpainter '{self.name}' returned {out.shape} for a {x.shape} tile")
        out = out[:th, :tw]
        if (tw, th) != (w, h):
            out = cv2.resize(out, (w, h), interpolation=cv2.INTER_CUBIC)
        return np.clip(out, 0.0, 1.0).astype(np.float32)

    @abstractmethod
    def run(self, rgb: NDArray[np.float32], hole: NDArray[np.bool_]) -> NDArray[np.float32]:
        """Fill ``hole`` in one tile: float32 (h, w, 3) in [0, 1] in, same shape out."""


__all__ = ["Inpainter", "SizeRule", "default_margin"]
