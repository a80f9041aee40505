"""What the compliance checker measures, as numbers: the product mask, background purity,
fill, border frames, JPEG quality and text. :mod:`.check` turns them into verdicts.

* **Product mask**: the image's own alpha when it has transparency
  (:func:`~productstudio.imaging.types.alpha_product_mask`, thresholded at 0.5); else, when
  the rules ask for a background colour and the picture's outer edge is mostly that colour,
  every pixel that differs from it by more than ``max_deviation``
  (:func:`~productstudio.ops.plain_background.difference_mask`: small specks dropped, they
  count as stray marks on the background); else the segmenter (``load_segmenter("auto")``
  unless one is passed in), thresholded at 0.5. Learned segmenters are unreliable on clean
  packshots (IS-Net marks most of a white frame as foreground), hence the colour rule first.
* **Background purity**: over the non-product pixels farther than a small band from the
  product (``max(8 px, 0.6 % of the long side)``: JPEG ringing and anti-aliased edges live
  there), the share of pixels exactly equal to the required colour, and the worst
  per-channel deviation.
* **Fill**: the product's bounding box over the frame, along its limiting side; with a
  background colour, pixels next to the mask that differ from it (soft edges the mask
  misses) count as product too.
* **Borders**: all four outermost lines uniform, of one colour, a few px thick, with a
  different picture inside.
* **JPEG quality**: estimated from the luminance quantisation table against the IJG table.
* **Text**: :func:`productstudio.models.text.find_text` (the same detection and
  overlay/printed classification as ``erase-text``).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from productstudio.errors import BackendError
from productstudio.imaging.io import LoadedImage
from productstudio.imaging.types import alpha_product_mask, to_uint8
from productstudio.ops.plain_background import (
    border_is,
    deviation_from,
    difference_mask,
    edge_band_radius,
    visible_box,
)

log = logging.getLogger(__name__)

_IJG_LUMA = np.array(
    [
        16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
        14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
        18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
    ],
    np.float64,
)  # fmt: skip


def estimate_jpeg_quality(data: bytes) -> int | None:
    """IJG-style quality (1..100) estimated from a JPEG's luminance quantisation table."""
    from PIL import Image as PILImage

    try:
        with PILImage.open(io.BytesIO(data)) as im:
            tables = getattr(im, "quantization", None)
    except OSError:
        return None
    if not tables or 0 not in tables:
        return None
    q = np.asarray(list(tables[0]), np.float64)
    if q.size != 64:
        return None
    scale = 100.0 * q.sum() / _IJG_LUMA.sum()
    quality = (200.0 - scale) / 2.0 if scale <= 100.0 else 5000.0 / scale
    return int(np.clip(round(quality), 1, 100))


def detect_border(rgb: np.ndarray, tol: int = 12) -> int:
    """Thickness in px of a uniform frame around the picture (0 = none)."""
    h, w = rgb.shape[:2]
    maxd = max(2, round(0.05 * min(h, w)))
    # only the outer ``maxd`` rows/columns are read: convert those, not the whole picture
    sides = [
        rgb[:maxd].astype(np.int16),
        rgb[::-1][:maxd].astype(np.int16),
        rgb[:, :maxd].transpose(1, 0, 2).astype(np.int16),
        rgb[:, ::-1][:, :maxd].transpose(1, 0, 2).astype(np.int16),
    ]
    colours = []
    thick = []
    for s in sides:
        outer = np.median(s[0], axis=0)
        t = 0
        for d in range(s.shape[0]):
            dev = np.abs(s[d] - outer).max(axis=1)
            if float((dev <= tol).mean()) < 0.98:
                break
            t += 1
        colours.append(outer)
        thick.append(t)
    if min(thick) == 0 or max(thick) >= maxd:
        return 0
    if max(float(np.abs(c - colours[0]).max()) for c in colours) > tol:
        return 0
    return int(min(thick))


def default_text_detector() -> Any | None:
    """The text detector ``load_text_detector("auto")``, or None when none is installed."""
    from productstudio.models.text import load_text_detector

    try:
        return load_text_detector("auto")
    except (BackendError, ImportError) as exc:
        log.debug("text detector unavailable: %s", exc)
        return None


def _edge_band(shape: tuple[int, int]) -> np.ndarray:
    """The structuring element of the band around the product that is not judged."""
    rad = edge_band_radius(shape)
    return np.asarray(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rad + 1,) * 2))


@dataclass(frozen=True)
class Purity:
    """Background purity: ``share`` of judged pixels exactly the colour, the ``worst``
    per-channel deviation, and how many pixels (``off``) deviate by more than the tolerance."""

    share: float
    worst: int
    off: int


class Measure:
    """The measurements of one image (the product mask is computed once, on first use)."""

    def __init__(
        self,
        loaded: LoadedImage,
        data: bytes | None,
        segmenter: Any | None,
        text_detector: Any | Callable[[], Any] | None,
    ) -> None:
        self.loaded = loaded
        self.data = data
        self.pixels = to_uint8(loaded.pixels)
        self.rgb = np.ascontiguousarray(self.pixels[..., :3])
        self.own_alpha = alpha_product_mask(self.pixels)
        self._segmenter = segmenter
        self._mask: np.ndarray | None = None
        self._differs: dict[tuple[int, int, int], np.ndarray] = {}
        self.mask_source = ""
        self._text = text_detector
        self.bg_color: tuple[int, int, int] | None = None
        self.bg_tolerance = 8

    @property
    def transparent(self) -> bool:
        """The image carries its own product mask (see ``alpha_product_mask``)."""
        return self.own_alpha is not None

    def mask(self) -> np.ndarray:
        """The product mask (bool (H, W)); see the module docstring for the order."""
        if self._mask is None:
            if self.own_alpha is not None:
                self._mask = self.own_alpha >= 0.5
                self.mask_source = "alpha"
            elif self.bg_color is not None and self._plain_border():
                self._mask = self._colour_mask()
                self.mask_source = "difference from the background colour"
            else:
                seg = self._segmenter
                if seg is None:
                    from productstudio.models.segmenters import load_segmenter

                    seg = load_segmenter("auto")
                    self._segmenter = seg
                self._mask = seg.segment(self.rgb).mask > 0.5
                self.mask_source = getattr(seg, "name", "segmenter")
        return self._mask

    def _plain_border(self) -> bool:
        """Most of the picture's outer 2 px are the required background colour."""
        assert self.bg_color is not None
        return border_is(self.rgb, self.bg_color, self.bg_tolerance)

    def _colour_mask(self) -> np.ndarray:
        """Product = everything that differs from the background colour, specks removed."""
        assert self.bg_color is not None
        return self._difference(self.bg_color)

    def _difference(self, color: tuple[int, int, int]) -> np.ndarray:
        """:func:`difference_mask` from ``color`` (computed once per colour)."""
        if color not in self._differs:
            self._differs[color] = difference_mask(self.rgb, color, self.bg_tolerance)
        return self._differs[color]

    def background_purity(self, color: tuple[int, int, int], tolerance: int) -> Purity | None:
        """Purity of the background away from the product; None when there is (almost) no
        background (the product fills the frame)."""
        fg = self.mask().astype(np.uint8)
        near = cv2.dilate(fg, _edge_band(fg.shape))
        bg = near == 0
        if bg.sum() < 0.01 * fg.size:
            return None
        dev = deviation_from(self.rgb, color)[bg]
        return Purity(float((dev == 0).mean()), int(dev.max()), int((dev > tolerance).sum()))

    def fill(self, bg_color: tuple[int, int, int] | None = None) -> float | None:
        """The product box's share of the frame along its limiting side (None: no product).

        With ``bg_color`` (and no transparency), pixels near the mask that differ from it by
        more than 8 levels count as product (soft, anti-aliased edges the mask misses)."""
        h, w = self.rgb.shape[:2]
        if (
            bg_color is not None
            and not self.transparent
            and border_is(self.rgb, bg_color, self.bg_tolerance)
        ):
            # the same definition the canvas op lays out with (``CanvasParams.visible_on``)
            box = visible_box(
                self.rgb, bg_color, self.bg_tolerance, differs=self._difference(bg_color)
            )
        else:
            fg = self.mask()
            ys, xs = np.nonzero(fg)
            box = None if ys.size == 0 else (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        return float(max((x1 - x0) / w, (y1 - y0) / h))

    def text_detector(self) -> Any | None:
        """The text detector (a factory passed in is called once)."""
        if callable(self._text) and not hasattr(self._text, "detect"):
            self._text = self._text()
        return self._text


__all__ = [
    "Measure",
    "Purity",
    "default_text_detector",
    "detect_border",
    "estimate_jpeg_quality",
]
