"""The embedded default segmenter: no weights, made for plain and studio backgrounds.

How it works (at a working size of ``work_size`` px on the long side):

1. **Background model from the border.** A smooth quadratic surface per CIELAB channel is
   fitted robustly to a strip of border pixels, so sweeps, gradients and vignetting are
   modelled; the border residual gives the noise level.
2. **Colour distance** of every pixel to its predicted background, shadow-aware: a pixel that
   is only *darker* than the background with the same chroma counts less (soft shadows).
3. **GrabCut** initialised from that distance (border = background, far pixels = probable
   product) separates the product with colour models on both sides.
4. **Clean-up**: specks removed, pin-holes filled, real holes (handles, rings, chair legs)
   kept because their pixels match the background model.

It reports its confidence: low when the border is textured or busy (not a plain
background), when the product touches much of the edge, or when the separation is weak.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from productstudio.imaging.types import Mask, RGBImage
from productstudio.models.segmenters.base import Segmenter, mask_confidence


@dataclass(frozen=True, slots=True)
class ClassicalConfig:
    """Tuning of :class:`ClassicalSegmenter` (the defaults suit studio photos)."""

    work_size: int = 640
    border_frac: float = 0.03
    min_threshold: float = 7.0  # ΔE below which a pixel is always background-like
    noise_k: float = 4.5  # threshold = max(min_threshold, noise_k * border noise)
    shadow_weight: float = 0.35  # weight of "only darker" lightness differences
    grabcut_iters: int = 4
    min_component: float = 0.002  # of the image area
    fill_holes_below: float = 0.0005  # of the image area


def _poly_terms(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)


class ClassicalSegmenter(Segmenter):
    """Border background model + colour distance + GrabCut; see the module docstring."""

    name = "classical"

    def __init__(self, config: ClassicalConfig | None = None) -> None:
        self.config = config or ClassicalConfig()
        self._last_stats: dict[str, float] = {}

    # -- background model ---------------------------------------------------------------
    def _background(self, lab: np.ndarray, border: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = lab.shape[:2]
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        xs /= max(w - 1, 1)
        ys /= max(h - 1, 1)
        terms = _poly_terms(xs, ys)
        a_mat = terms[border]
        vals = lab[border]
        keep = np.ones(len(vals), bool)
        coef = np.zeros((6, 3), np.float32)
        for _ in range(3):
            coef, *_ = np.linalg.lstsq(a_mat[keep], vals[keep], rcond=None)
            resid = np.linalg.norm(vals - a_mat @ coef, axis=1)
            med = float(np.median(resid[keep]))
            mad = float(np.median(np.abs(resid[keep] - med))) * 1.4826 + 1e-3
            keep = resid < med + 3.0 * mad + 1.0
            if keep.sum() < 12:
                keep[:] = True
                break
        pred = (terms.reshape(-1, 6) @ coef).reshape(h, w, 3).astype(np.float32)
        resid = np.linalg.norm(vals - a_mat @ coef, axis=1)
        noise = float(np.percentile(resid[keep], 90)) if keep.any() else float(resid.mean())
        self._last_stats["border_outliers"] = float(1.0 - keep.mean())
        return pred, noise

    def _distance(self, lab: np.ndarray, bg: np.ndarray) -> np.ndarray:
        d = lab - bg
        dl = d[..., 0]
        dl = np.where(dl < 0, dl * self.config.shadow_weight, dl)
        return np.sqrt(dl * dl + d[..., 1] ** 2 + d[..., 2] ** 2).astype(np.float32)

    def predict(self, rgb: RGBImage) -> Mask:
        cfg = self.config
        h0, w0 = rgb.shape[:2]
        scale = min(1.0, cfg.work_size / max(h0, w0))
        w, h = max(8, round(w0 * scale)), max(8, round(h0 * scale))
        small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
        small = cv2.GaussianBlur(small, (3, 3), 0)
        lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)

        b = max(2, round(cfg.border_frac * min(h, w)))
        border = np.zeros((h, w), bool)
        border[:b] = border[-b:] = True
        border[:, :b] = border[:, -b:] = True

        bg, noise = self._background(lab, border)
        dist = self._distance(lab, bg)
        thr = max(cfg.min_threshold, cfg.noise_k * noise)
        self._last_stats.update(noise=noise, threshold=thr)

        fg0 = dist > thr
        gc = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
        gc[fg0] = cv2.GC_PR_FGD
        gc[(dist < 0.5 * thr)] = cv2.GC_PR_BGD
        gc[border & ~fg0] = cv2.GC_BGD
        strong = (dist > 2.5 * thr).astype(np.uint8)
        if strong.any():
            k = max(1, round(0.01 * min(h, w)))
            core = cv2.erode(strong, np.ones((2 * k + 1, 2 * k + 1), np.uint8)).astype(bool)
            gc[core & ~border] = cv2.GC_FGD
        if not (gc == cv2.GC_PR_FGD).any() and not (gc == cv2.GC_FGD).any():
            self._last_stats["separation"] = 0.0
            return np.zeros((h0, w0), np.float32)

        bgd = np.zeros((1, 65), np.float64)
        fgd = np.zeros((1, 65), np.float64)
        try:
            cv2.grabCut(  # type: ignore[call-overload]
                cv2.cvtColor(small, cv2.COLOR_RGB2BGR),
                gc,
                None,
                bgd,
                fgd,
                cfg.grabcut_iters,
                cv2.GC_INIT_WITH_MASK,
            )
            fg = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
        except cv2.error:  # degenerate colour models (e.g. one flat colour)
            fg = fg0
        fg = self._clean(fg)
        self._last_stats["separation"] = float(np.median(dist[fg]) / thr) if fg.any() else 0.0
        self._last_stats["border_fg"] = float(fg[border].mean())
        soft = cv2.GaussianBlur(fg.astype(np.float32), (3, 3), 0)
        if (w, h) != (w0, h0):
            soft = cv2.resize(soft, (w0, h0), interpolation=cv2.INTER_LINEAR)
        return np.clip(soft, 0.0, 1.0).astype(np.float32)

    def _clean(self, fg: np.ndarray) -> np.ndarray:
        cfg = self.config
        area = fg.size
        fg8 = fg.astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(fg8, connectivity=8)
        if n > 1:
            areas = stats[1:, cv2.CC_STAT_AREA]
            keep_min = max(cfg.min_component * area, 0.05 * float(areas.max()))
            keep = np.zeros(n, bool)
            keep[1:] = areas >= keep_min
            fg = keep[labels]
        inv = (~fg).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
        if n > 1:
            touches = np.zeros(n, bool)
            for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
                touches[np.unique(edge)] = True
            small_hole = stats[:, cv2.CC_STAT_AREA] < cfg.fill_holes_below * area
            fill = small_hole & ~touches
            fill[0] = False
            fg = fg | fill[labels]
        return fg

    def confidence(self, rgb: RGBImage, prob: Mask) -> tuple[float, list[str]]:
        conf, notes = mask_confidence(prob)
        st = self._last_stats
        if st.get("noise", 0.0) > 12.0 or st.get("border_outliers", 0.0) > 0.35:
            conf = min(conf, 0.35)
            notes.append(
                "the background is not plain (textured or busy border): the classical cut-out "
                "is unreliable here; use a learned model (--model auto with PRODUCTSTUDIO_MODELS)"
            )
        sep = st.get("separation", 0.0)
        if 0.0 < sep < 2.0:
            conf = min(conf, 0.45)
            notes.append("the product's colours are close to the background's")
        return conf, notes
