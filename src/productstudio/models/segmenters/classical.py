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

from dataclasses import dataclass, field

import cv2
import numpy as np

from productstudio.imaging.types import Mask, RGBImage
from productstudio.models.segmenters._white_parts import WhiteParams, recover_white_parts
from productstudio.models.segmenters.base import Segmenter, mask_confidence


@dataclass(frozen=True, slots=True)
class ClassicalConfig:
    """Tuning of :class:`ClassicalSegmenter` (the defaults suit studio photos)."""

    work_size: int = 640
    border_frac: float = 0.03
    min_threshold: float = 7.0  # ΔE below which a pixel is always background-like
    noise_k: float = 4.5  # threshold = max(min_threshold, noise_k * border noise)
    shadow_weight: float = 0.35  # weight of "only darker" lightness differences
    grabcut_iters: int = 4  # 0 = colour distance only
    min_component: float = 0.002  # of the image area
    fill_holes_below: float = 0.0005  # of the image area
    prior_bg_match: float = 0.35  # with a prior: ΔE below this × threshold stays background
    plain_noise: float = 10.0  # border noise (ΔE) up to which a background counts as plain
    plain_outliers: float = 0.3  # share of border pixels off the surface, at most
    white_parts: bool = True  # recover parts with the background's colour (see _white_parts)
    white: WhiteParams = field(default_factory=WhiteParams)
    white_max_noise: float = 4.0  # border noise (ΔE) above which white parts are not sought


@dataclass(frozen=True, slots=True)
class BackgroundModel:
    """The border background model of one photo, at the working size."""

    small: np.ndarray  # (h, w, 3) uint8, blurred working copy
    border: np.ndarray  # (h, w) bool
    dist: np.ndarray  # (h, w) float32 shadow-aware ΔE to the predicted background
    threshold: float  # ΔE above which a pixel is product-like
    noise: float  # 90th percentile border residual (ΔE)
    outliers: float  # share of border pixels that do not fit the surface
    coef_rgb: np.ndarray  # (6, 3) quadratic RGB surface in normalised coordinates
    scale: float  # working size / full size
    lab: np.ndarray | None = None  # (h, w, 3) float32 CIELAB of ``small``
    bg_lab: np.ndarray | None = None  # (h, w, 3) float32 CIELAB of the predicted background


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _robust_fit(
    a_mat: np.ndarray, vals: np.ndarray
) -> tuple[float, float, tuple[np.ndarray, np.ndarray]]:
    """Fit ``vals ≈ a_mat @ coef`` ignoring outliers (3 reweighting rounds).

    Returns the 90th-percentile residual of the inliers (noise), the outlier share, and
    (coef, inlier mask).
    """
    keep = np.ones(len(vals), bool)
    coef = np.zeros((a_mat.shape[1], vals.shape[1]), np.float32)
    for _ in range(3):
        coef, *_ = np.linalg.lstsq(a_mat[keep], vals[keep], rcond=None)
        resid = np.linalg.norm(vals - a_mat @ coef, axis=1)
        med = float(np.median(resid[keep]))
        mad = float(np.median(np.abs(resid[keep] - med))) * 1.4826 + 1e-3
        keep = resid < med + 3.0 * mad + 1.0
        if keep.sum() < 12:
            keep[:] = True
            break
    resid = np.linalg.norm(vals - a_mat @ coef, axis=1)
    noise = float(np.percentile(resid[keep], 90)) if keep.any() else float(resid.mean())
    return noise, float(1.0 - keep.mean()), (coef, keep)


def _poly_terms(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)


class ClassicalSegmenter(Segmenter):
    """Border background model + colour distance + GrabCut; see the module docstring."""

    name = "classical"

    def __init__(self, config: ClassicalConfig | None = None) -> None:
        self.config = config or ClassicalConfig()
        self._last_stats: dict[str, float] = {}

    @property
    def last_stats(self) -> dict[str, float]:
        """Internal statistics of the last :meth:`predict` (border noise, separation, ...)."""
        return dict(self._last_stats)

    # -- background model ---------------------------------------------------------------
    def _background(
        self, lab: np.ndarray, border: np.ndarray, rgb: np.ndarray
    ) -> tuple[np.ndarray, float, np.ndarray]:
        """Predicted background (Lab) everywhere, border noise, and RGB surface coefficients."""
        h, w = lab.shape[:2]
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        xs /= max(w - 1, 1)
        ys /= max(h - 1, 1)
        terms = _poly_terms(xs, ys)
        a_mat = terms[border]
        vals = lab[border]
        noise, outliers, (coef, keep) = _robust_fit(a_mat, vals)
        pred = (terms.reshape(-1, 6) @ coef).reshape(h, w, 3).astype(np.float32)
        self._last_stats["border_outliers"] = outliers
        coef_rgb, *_ = np.linalg.lstsq(
            a_mat[keep], rgb[border][keep].astype(np.float32), rcond=None
        )
        return pred, noise, coef_rgb.astype(np.float32)

    @staticmethod
    def _matte(
        rgb: np.ndarray, fg: np.ndarray, coef_rgb: np.ndarray, radius: int, min_contrast: float
    ) -> np.ndarray:
        """Soft alpha at full size: solve I = a F + (1 - a) B in a band around the outline.

        B comes from the fitted background surface, F from nearby interior product pixels.
        """
        h, w = fg.shape
        fg8 = fg.astype(np.uint8)
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        inner = cv2.erode(fg8, disk)
        band = (cv2.dilate(fg8, disk) > 0) & (inner == 0)
        alpha = fg.astype(np.float32)
        ys, xs = np.nonzero(band)
        if ys.size == 0:
            return alpha
        img = rgb.astype(np.float32)
        k = (4 * radius + 1, 4 * radius + 1)
        inner_f = inner.astype(np.float32)
        wsum = cv2.blur(inner_f, k)
        fsum = cv2.blur(img * inner_f[..., None], k)
        terms = _poly_terms(xs / max(w - 1, 1), ys / max(h - 1, 1)).astype(np.float32)
        b = terms @ coef_rgb
        i = img[ys, xs]
        wv = wsum[ys, xs]
        f = fsum[ys, xs] / np.maximum(wv, 1e-3)[:, None]
        d = f - b
        n2 = (d * d).sum(axis=1)
        a = ((i - b) * d).sum(axis=1) / np.maximum(n2, 1e-6)
        # solve only where interior product pixels are near and differ enough from the background
        ok = (n2 > min_contrast * min_contrast) & (wv > 0.02)
        alpha[ys[ok], xs[ok]] = np.clip(a[ok], 0.0, 1.0)
        return alpha

    def _distance(self, lab: np.ndarray, bg: np.ndarray) -> np.ndarray:
        d = lab - bg
        dl = d[..., 0]
        dl = np.where(dl < 0, dl * self.config.shadow_weight, dl)
        return np.sqrt(dl * dl + d[..., 1] ** 2 + d[..., 2] ** 2).astype(np.float32)

    def prepare(self, rgb: RGBImage) -> BackgroundModel:
        """Fit the border background model of ``rgb`` (the cheap first half of :meth:`predict`)."""
        cfg = self.config
        self._last_stats = {}
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
        bg, noise, coef_rgb = self._background(lab, border, small)
        dist = self._distance(lab, bg)
        thr = max(cfg.min_threshold, cfg.noise_k * noise)
        self._last_stats.update(noise=noise, threshold=thr)
        return BackgroundModel(
            small=small,
            border=border,
            dist=dist,
            threshold=thr,
            noise=noise,
            outliers=self._last_stats["border_outliers"],
            coef_rgb=coef_rgb,
            scale=scale,
            lab=lab,
            bg_lab=bg,
        )

    def is_plain(self, model: BackgroundModel) -> bool:
        """The photo's background is plain enough for colour-model refinement."""
        cfg = self.config
        return model.noise <= cfg.plain_noise and model.outliers <= cfg.plain_outliers

    def looks_plain(self, rgb: RGBImage, size: int = 192) -> bool:
        """A cheap first test on a thumbnail's border (before the full :meth:`prepare`)."""
        h0, w0 = rgb.shape[:2]
        s = min(1.0, size / max(h0, w0))
        w, h = max(8, round(w0 * s)), max(8, round(h0 * s))
        thumb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA) if s < 1 else rgb
        lab = cv2.cvtColor(thumb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
        b = max(2, round(self.config.border_frac * min(h, w)))
        border = np.zeros((h, w), bool)
        border[:b] = border[-b:] = True
        border[:, :b] = border[:, -b:] = True
        ys, xs = np.nonzero(border)
        terms = _poly_terms(xs / max(w - 1, 1), ys / max(h - 1, 1)).astype(np.float32)
        noise, outliers, _ = _robust_fit(terms, lab[border])
        # thumbnails average noise away: be lenient here, the full test decides
        return noise <= 1.5 * self.config.plain_noise and outliers <= self.config.plain_outliers

    def predict(self, rgb: RGBImage) -> Mask:
        return self.refine(rgb, self.prepare(rgb))

    def refine(self, rgb: RGBImage, model: BackgroundModel, prior: Mask | None = None) -> Mask:
        """Segment with GrabCut from the background model, optionally guided by a ``prior``.

        Args:
            rgb: the full-size photo.
            model: from :meth:`prepare` on the same photo.
            prior: a learned segmenter's probability (full size) whose confident inside seeds
                the product and whose far outside seeds the background.
        """
        cfg = self.config
        h0, w0 = rgb.shape[:2]
        small, border, dist, thr = model.small, model.border, model.dist, model.threshold
        h, w = dist.shape
        fg0 = dist > thr
        gc = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
        gc[fg0] = cv2.GC_PR_FGD
        gc[(dist < 0.5 * thr)] = cv2.GC_PR_BGD
        seed = fg0
        if prior is not None:
            p = (
                cv2.resize(prior, (w, h), interpolation=cv2.INTER_AREA)
                if (w, h) != (w0, h0)
                else prior
            )
            # the prior decides where the colour is ambiguous; a pixel that matches the
            # background surface closely stays background (loops, gaps between parts)
            bg_like = dist < cfg.prior_bg_match * thr
            gc[(p > 0.5) & ~bg_like] = cv2.GC_PR_FGD
            seed = fg0 | ((p > 0.5) & ~bg_like)
            core = cv2.erode(((p > 0.9) & fg0).astype(np.uint8), _disk(2)).astype(bool)
            gc[core & ~border] = cv2.GC_FGD
            r = max(2, round(0.03 * max(h, w)))
            near = cv2.dilate((p > 0.5).astype(np.uint8), _disk(r)).astype(bool)
            gc[~near & ~fg0] = cv2.GC_BGD
        gc[border & ~seed] = cv2.GC_BGD
        strong = (dist > 2.5 * thr).astype(np.uint8)
        if strong.any():
            k = max(1, round(0.01 * min(h, w)))
            core = cv2.erode(strong, _disk(k)).astype(bool)
            gc[core & ~border] = cv2.GC_FGD
        fg = seed
        if (gc == cv2.GC_PR_FGD).any() or (gc == cv2.GC_FGD).any():
            if cfg.grabcut_iters > 0:
                bgd = np.zeros((1, 65), np.float64)
                fgd = np.zeros((1, 65), np.float64)
                cv2.setRNGSeed(0)  # GrabCut's k-means init uses OpenCV's global RNG
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
                    fg = seed
            fg = self._clean(fg)
        else:
            fg = np.zeros((h, w), bool)
        self._last_stats.update(
            recovered=0.0, recovered_regions=0.0, shadow_removed=0.0, holes_kept=0.0
        )
        if (
            cfg.white_parts
            and prior is None
            and model.noise <= cfg.white_max_noise
            and model.lab is not None
            and model.bg_lab is not None
        ):
            rep = recover_white_parts(model.lab, model.bg_lab, dist, border, fg, cfg.white)
            if (rep.fg != fg).any():
                new = self._clean(rep.fg)
                n_new, n_old = max(int(new.sum()), 1), max(int(fg.sum()), 1)
                self._last_stats.update(
                    recovered=float((new & ~fg).sum()) / n_new,
                    shadow_removed=float((fg & ~new).sum()) / n_old,
                )
                fg = new
            self._last_stats.update(
                recovered_regions=float(rep.regions), holes_kept=float(rep.holes)
            )
        if not fg.any():
            self._last_stats["separation"] = 0.0
            return np.zeros((h0, w0), np.float32)
        self._last_stats["fg_fraction"] = float(fg.mean())
        self._last_stats["separation"] = float(np.median(dist[fg]) / thr) if fg.any() else 0.0
        self._last_stats["border_fg"] = float(fg[border].mean())
        if (w, h) != (w0, h0):
            up = cv2.resize(fg.astype(np.float32), (w0, h0), interpolation=cv2.INTER_LINEAR)
            fg = up > 0.5
        radius = max(2, int(np.ceil(1.0 / model.scale)) + 1)
        soft = self._matte(rgb, fg, model.coef_rgb, radius, min_contrast=2.0 * thr)
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
