"""Recover the white parts of a product on a white (or light) background.

A colour-distance segmenter loses the parts of a product that have the background's colour:
white caps, panels and labels on a white sweep, a white appliance on white paper. Per pixel
their colour is no evidence (the difference is within the threshold that keeps noise out),
but three other things are:

* **Shading, measured over regions.** A white part is rarely exactly the background surface:
  it is shaded, tinted or brighter by a few ΔE. Per pixel that is noise; smoothed over a few
  pixels it is clear (the background's smoothed deviation is measured on the border).
* **Edges.** A sweep, its vignetting and a soft contact shadow are smooth; a product's outline
  is a sharp step, even a faint one (a grey line round a white carton). Edges are pixels whose
  gradient is well above the gradient noise of the photo's border.
* **Enclosure (the product's convexity).** The background is what can be reached from the
  photo's border through smooth pixels that look like the background — or like a shadow on it
  (darker, same hue, no texture) — without crossing an edge or the product. What cannot be
  reached is product. Gaps narrower than ``2 * neck_px`` in an outline are closed; a pocket
  cut off only by such a narrow neck (between chair legs) stays background.

Real holes are the exception: an enclosed region whose median deviation from the background
surface is within the border's own (``region_dev_k``) is background seen through or between
parts of the product (a ring's hole, a wire frame, loops of cable) and stays open, wherever it
lies; a panel differs from the surface over its area. (Treating regions on the product's
periphery as panels regardless cost up to 0.24 IoU on wire and cable objects.)

All arrays are at the classical segmenter's working size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class WhiteParams:
    """Evidence thresholds of :func:`recover_white_parts`."""

    scales: tuple[tuple[float, float, float], ...] = ((1.0, 3.0, 0.8), (2.0, 5.0, 0.3))
    # (fine px, coarse px, floor ΔE/px): edges are measured at each scale after denoising by
    # ``fine``; gradients that survive the ``coarse`` blur are ramps, not edges; the threshold
    # is never below ``floor``. The larger scale finds faint long steps.
    edge_k: float = 2.4  # edge = sharpness > edge_k × 90th percentile on the border
    smooth_sigma: float = 1.5  # px, smoothing of the deviation and texture maps
    dev_k: float = 1.9  # deviating = smoothed ΔE > dev_k × 90th percentile on the border
    dev_min: float = 0.8  # ... and at least this (ΔE)
    tex_k: float = 2.0  # textured = smoothed sharpness > tex_k × 90th percentile on the border
    tex_min: float = 0.2  # ... and at least this (ΔE per px)
    spread_min: float = 0.01  # RGB ratio spread up to this is noise
    shadow_hue: float = 0.1  # a shadow's RGB ratios differ by at most this × its darkening
    shadow_passable: bool = True  # the background's reach crosses smooth shadows
    shadow_flat: float = 1.5  # a removed shadow's height is at most this × its width
    shadow_low: float = 0.12  # ... or at most this × the image height
    leak_soft: float = 0.35  # a reached shadow with less open background round its rim is a face
    region_dev_k: float = 2.0  # a region deviates when its median is this × the background's
    max_open: float = 0.3  # a shadow-like region touching the background more than this is one
    neck_px: int = 2  # outline gaps up to 2 × neck_px wide are closed
    min_region: float = 0.0003  # of the working image area
    min_region_px: int = 24  # ... and at least this many pixels
    thin_dev_k: float = 2.0  # a thin part on its own deviates by this × the threshold
    thin_px: int = 2  # added parts thinner than 2 × thin_px + 1 are dropped (outline bands)


@dataclass(frozen=True, slots=True)
class WhiteReport:
    """What the recovery did."""

    fg: np.ndarray  # (h, w) bool, the product after recovery
    added: float  # share of the final product area that was added
    regions: int  # regions added
    holes: int  # enclosed regions kept open as holes
    edge_threshold: float  # ΔE per px


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def gradient(lab: np.ndarray) -> np.ndarray:
    """Colour gradient magnitude (ΔE per px) of a CIELAB image, float32 (h, w)."""
    g2 = np.zeros(lab.shape[:2], np.float32)
    for c in range(3):
        ch = np.ascontiguousarray(lab[..., c])
        gx = cv2.Sobel(ch, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
        gy = cv2.Sobel(ch, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
        g2 += gx * gx + gy * gy
    return np.sqrt(g2)


def sharpness(lab: np.ndarray, fine_sigma: float, coarse_sigma: float) -> np.ndarray:
    """Gradient (ΔE per px) at a fine scale above that at a coarse one: steps, lines and
    texture respond, smooth ramps (sweeps, vignetting, soft shadows) do not. float32 (h, w)."""
    fine = cv2.GaussianBlur(lab, (0, 0), fine_sigma) if fine_sigma > 0 else lab
    coarse = cv2.GaussianBlur(lab, (0, 0), coarse_sigma)
    return np.maximum(gradient(fine) - gradient(coarse), 0.0)


def _reach(passable: np.ndarray, border: np.ndarray, r: int) -> np.ndarray:
    """Pixels of ``passable`` connected to ``border`` through paths at least 2r+1 wide."""
    p8 = passable.astype(np.uint8)
    opened = cv2.erode(p8, _disk(r)) if r > 0 else p8
    n, labels = cv2.connectedComponents(opened, connectivity=4)
    touch = np.zeros(n, bool)
    touch[np.unique(labels[border])] = True
    touch[0] = False
    seeds = touch[labels].astype(np.uint8)
    grown = cv2.dilate(seeds, _disk(r)) > 0 if r > 0 else seeds > 0
    return passable & grown


def _shadow_leaks(
    deep: np.ndarray, open_bg: np.ndarray, min_area: int, soft: float, flat: float
) -> np.ndarray:
    """Shadow-like regions the background reached that are not cast shadows.

    A cast shadow lies flat and fades into the open background around most of its rim. A
    shaded face of the product that the background's reach entered through a gap in its
    outline stands upright and is bounded by that outline instead: little of its rim is open
    background.
    """
    out = np.zeros(deep.shape, bool)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(deep.astype(np.uint8), connectivity=8)
    h, w = deep.shape
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] < min_area:
            continue
        x, y, bw, bh = stats[i, :4]
        y0, y1, x0, x1 = max(0, y - 2), min(h, y + bh + 2), max(0, x - 2), min(w, x + bw + 2)
        k = labels[y0:y1, x0:x1] == i
        ring = (cv2.dilate(k.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & ~k
        if bh <= flat * bw:
            continue  # lies flat, as a shadow on the floor does
        if ring.any() and float(open_bg[y0:y1, x0:x1][ring].mean()) < soft:
            out[y0:y1, x0:x1] |= k
    return out


def recover_white_parts(
    lab: np.ndarray,
    bg_lab: np.ndarray,
    dist: np.ndarray,
    border: np.ndarray,
    fg: np.ndarray,
    params: WhiteParams | None = None,
) -> WhiteReport:
    """Add the parts of the product that the background's reach cannot explain.

    Args:
        lab: (h, w, 3) float32 CIELAB of the (lightly blurred) working image.
        bg_lab: (h, w, 3) float32 CIELAB of the predicted background.
        dist: (h, w) float32 shadow-aware ΔE to the predicted background.
        border: (h, w) bool, the border strip the background model was fitted on.
        fg: (h, w) bool, the product found by colour.
        params: thresholds.
    """
    p = params or WhiteParams()
    h, w = fg.shape
    bg_border = border & ~fg
    if bg_border.sum() < 16:
        return WhiteReport(fg, 0.0, 0, 0, 0.0)
    s = p.smooth_sigma
    edge = np.zeros((h, w), bool)
    t_edge = 0.0
    for i, (fine, coarse, floor) in enumerate(p.scales):
        sh = sharpness(lab, fine, coarse)
        t = max(floor, p.edge_k * float(np.percentile(sh[bg_border], 90)))
        if i == 0:
            gm, t_edge = sh, t
        edge |= sh > t
    # deviation from the background surface, averaged before the norm (noise cancels)
    d = cv2.GaussianBlur(lab - bg_lab, (0, 0), s)
    dev = np.sqrt((d * d).sum(axis=2))
    t_dev = max(p.dev_min, p.dev_k * float(np.percentile(dev[bg_border], 90)))
    dev_bg = max(0.1, float(np.median(dev[bg_border])))
    tex = cv2.GaussianBlur(gm, (0, 0), s)
    t_tex = max(p.tex_min, p.tex_k * float(np.percentile(tex[bg_border], 90)))
    # a shadow scales the background's RGB by one factor (sRGB keeps equal ratios)
    rgb = cv2.GaussianBlur(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), (0, 0), s) + 0.02
    bg_rgb = cv2.cvtColor(bg_lab, cv2.COLOR_Lab2RGB) + 0.02
    ratio = rgb / bg_rgb
    spread = ratio.max(axis=2) - ratio.min(axis=2)
    t_spread = max(p.spread_min, p.dev_k * float(np.percentile(spread[bg_border], 90)))
    darkening = 1.0 - ratio.mean(axis=2)
    shadowy = (d[..., 0] < 0) & (spread <= t_spread + p.shadow_hue * darkening) & (tex <= t_tex)
    quiet = (dev <= t_dev) & (tex <= t_tex)
    shadow_ok = shadowy & p.shadow_passable
    passable = ~edge & (quiet | shadow_ok) & (~fg | shadow_ok)
    reached = _reach(passable, border, p.neck_px)
    min_area = max(p.min_region_px, round(p.min_region * h * w))
    leaks = _shadow_leaks(reached & ~quiet, reached & quiet, min_area, p.leak_soft, p.shadow_flat)
    reached &= ~leaks
    unreached = ~fg & ~reached

    # regions: the unreached parts between edges, without thin bands (outline halves)
    r = p.thin_px
    free = unreached & ~edge
    core = cv2.erode(free.astype(np.uint8), _disk(r))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(core, connectivity=8)
    keep = np.zeros(n, bool)
    holes = 0
    m = r + p.neck_px + 6
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] < min_area:
            continue
        x, y, bw, bh = stats[i, :4]
        y0, y1, x0, x1 = max(0, y - m), min(h, y + bh + m), max(0, x - m), min(w, x + bw + m)
        # the region: its core grown back over the unreached non-edge pixels it came from
        k = labels[y0:y1, x0:x1] == i
        k = (cv2.dilate(k.astype(np.uint8), _disk(r)) > 0) & free[y0:y1, x0:x1]
        k8 = k.astype(np.uint8)
        reach_sub = reached[y0:y1, x0:x1]
        ring = (cv2.dilate(k8, np.ones((3, 3), np.uint8)) > 0) & ~k
        open_share = float(reach_sub[ring].mean()) if ring.any() else 0.0
        one = np.ones((3, 3), np.uint8)
        if float(passable[y0:y1, x0:x1][k].mean()) > 0.5:
            # looks like the background (or a shadow on it) pixel by pixel. Measured over the
            # whole region, a white part differs from the background surface even when each
            # pixel is within the noise; a region that does not is background enclosed by the
            # product (inside a wire frame, between cables, a ring's hole) wherever it lies,
            # and a shadow-like one cut off by a narrow neck is a pocket of the background
            through = passable[y0:y1, x0:x1] | k
            grow = k8
            for _ in range(r + 2 * p.neck_px + 2):
                grow = cv2.dilate(grow, one) & through
            necked = bool(reach_sub[grow > 0].any())
            kin = k & passable[y0:y1, x0:x1]
            same = float(np.median(dev[y0:y1, x0:x1][kin])) <= p.region_dev_k * dev_bg
            shade = float(shadowy[y0:y1, x0:x1][kin].mean()) > 0.5
            if same or (necked and shade):
                holes += 1
                continue
        elif open_share > p.max_open:
            continue  # deviates, but fades into the background without an edge: lighting
        keep[i] = True
    kept = keep[labels].astype(np.uint8)
    # regions grow back over their eroded rim and the edges between them and the product
    add = unreached & (cv2.dilate(kept, _disk(r)) > 0)
    add &= ~(cv2.dilate(reached.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    # thin parts (a wire, a ring): too thin for a core, but they deviate from the background;
    # not next to the product found so far, where the deviation is its blurred outline
    near = cv2.dilate((fg | add).astype(np.uint8), _disk(r + 3)) > 0
    thin = (unreached & ~near & (dev > t_dev)).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(thin, connectivity=8)
    if n > 1:
        # clearly off the background (JPEG blocks and noise are not), and not a speck
        med = np.zeros(n)
        lab_flat = labels.ravel()
        order = np.argsort(lab_flat, kind="stable")
        starts = np.searchsorted(lab_flat[order], np.arange(n))
        dev_sorted = dev.ravel()[order]
        for i in range(1, n):
            if stats[i, cv2.CC_STAT_AREA] >= min_area:
                med[i] = np.median(dev_sorted[starts[i] : starts[i] + stats[i, cv2.CC_STAT_AREA]])
        add |= (med > p.thin_dev_k * t_dev)[labels]
    # cast shadows found by colour: removed when the background reaches them through smooth
    # shadow and they lie low or flat, as a shadow on the floor does
    gone = (fg & reached).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(gone, connectivity=8)
    hh = stats[:, cv2.CC_STAT_HEIGHT]
    flat = (hh <= p.shadow_flat * stats[:, cv2.CC_STAT_WIDTH]) | (hh <= p.shadow_low * h)
    flat[0] = False
    out = (fg & ~flat[labels]) | add
    added = float(add.sum()) / max(float(out.sum()), 1.0)
    return WhiteReport(out, added, int(keep.sum()), holes, t_edge)
