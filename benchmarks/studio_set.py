"""A plain-background test set built from real ground-truth objects.

Each object of ../shared/data/cutout (photo + human mask) is cut out with its own mask and
composited onto a studio-like background — white sweep, grey sweep, paper, wood table, blue
gradient — with a soft contact shadow and sensor noise, then JPEG-compressed, like a
seller's photo. The ground truth is the object's scaled mask. Deterministic per seed.

White products (``Finish.WHITE`` / ``Finish.WHITE_LABEL``): the DIS objects are rarely white, so
white-on-white — the hard case of a background-model segmenter — is made explicitly. The
object keeps its shape, texture and shading but is recoloured to near-white, as a white
bottle, carton or appliance photographed on a sweep looks:

* lightness ``L' = 100 - k (100 - L)`` with ``k`` in 0.12–0.3 (the photo's own shading and
  print, compressed towards white; the brightest parts clip at 255 like a packshot),
* a smooth light fall-off across the object (2–7 L units, random direction),
* a faint rim where the surface turns away from the light (0–6 L units over 1–4 px, some
  objects none: no outline at all),
* chroma cut to 5–15 % plus a slight warm or cool cast (±1.5 a*/b*).

``WHITE_LABEL`` keeps the object's original colours in one horizontal band (25–40 % of its
height), like a coloured label on white packaging: the coloured part is easy, the white parts
above and below it are what a segmenter loses. The ground truth is unchanged by recolouring.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from productstudio.imaging import ImageFormat, encode_image, load_image

BACKGROUNDS = ("white-sweep", "grey-sweep", "paper", "wood", "gradient")
WHITE_BACKGROUNDS = ("white-sweep", "grey-sweep")  # where white products are measured


class Finish(StrEnum):
    """How the object itself looks."""

    ORIGINAL = "original"  # the photo's own colours
    WHITE = "white"  # recoloured to near-white, shading kept (see the module docstring)
    WHITE_LABEL = "white-label"  # near-white with one band of original colour (a label)


@dataclass(frozen=True)
class StudioItem:
    name: str
    background: str
    image: np.ndarray  # (H, W, 3) uint8
    mask: np.ndarray  # (H, W) uint8, 255 = object
    finish: Finish = Finish.ORIGINAL


def _background(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    y = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, size, dtype=np.float32)[None, :]
    vign = 1.0 - 0.05 * ((x - 0.5) ** 2 + (y - 0.5) ** 2) * 4
    if kind == "white-sweep":
        base = (255.0 - 18.0 * y) * vign
        img = np.repeat(base[..., None], 3, axis=2) * np.array([1.0, 1.0, 0.995])
    elif kind == "grey-sweep":
        base = (205.0 - 40.0 * y) * vign
        img = np.repeat(base[..., None], 3, axis=2)
    elif kind == "paper":
        low = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), size / 40)
        low = low / (np.abs(low).max() + 1e-6)
        fibre = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 1.2)
        base = 238.0 + 6.0 * low + 3.0 * fibre
        img = np.stack([base, base - 2.0, base - 8.0], axis=-1)
    elif kind == "wood":
        warp = cv2.GaussianBlur(
            rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), size / 25
        )
        warp = warp / (np.abs(warp).max() + 1e-6)
        rings = np.sin((y * 38.0 + 3.0 * warp + 0.15 * x) * np.pi)
        grain = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 0.8)
        grain = cv2.blur(grain, (31, 1))
        t = 0.5 + 0.35 * rings + 0.6 * grain
        light = np.array([196.0, 150.0, 104.0])
        dark = np.array([150.0, 103.0, 66.0])
        img = light * (1 - t[..., None]) + dark * t[..., None]
    elif kind == "gradient":
        t = (0.6 * x + 0.4 * y)[..., None]
        img = np.array([232.0, 240.0, 250.0]) * (1 - t) + np.array([176.0, 198.0, 232.0]) * t
    else:
        raise ValueError(kind)
    return np.clip(img, 0, 255).astype(np.float32)


def whiten(
    obj: np.ndarray, alpha: np.ndarray, rng: np.random.Generator, *, label: bool = False
) -> np.ndarray:
    """``obj`` (float32 RGB 0..255) recoloured to a near-white product (module docstring)."""
    h, w = alpha.shape
    lab = cv2.cvtColor(np.clip(obj, 0, 255).astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    k = rng.uniform(0.12, 0.3)
    ell = 100.0 - k * (100.0 - lab[..., 0])
    # light fall-off across the object, in a random direction
    ang = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (np.cos(ang) * xx / max(w - 1, 1)) + (np.sin(ang) * yy / max(h - 1, 1))
    ramp = (ramp - ramp.min()) / (np.ptp(ramp) + 1e-6)
    ell -= rng.uniform(2.0, 7.0) * ramp
    # a faint rim where the surface turns away (some objects: none at all)
    rim_amp = rng.choice([0.0, rng.uniform(1.0, 6.0)], p=[0.3, 0.7])
    if rim_amp > 0:
        inside = (alpha > 0.5).astype(np.uint8)
        d = cv2.distanceTransform(np.pad(inside, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
        ell -= rim_amp * np.exp(-d / rng.uniform(1.0, 4.0))
    cast = rng.uniform(-1.5, 1.5, 2)
    chroma = rng.uniform(0.05, 0.15)
    out = np.stack(
        [np.clip(ell, 0, 100), lab[..., 1] * chroma + cast[0], lab[..., 2] * chroma + cast[1]],
        axis=-1,
    ).astype(np.float32)
    if label:
        ys = np.nonzero(alpha.max(axis=1) > 0.5)[0]
        top, bot = (ys.min(), ys.max() + 1) if ys.size else (0, h)
        band = max(1, round((bot - top) * rng.uniform(0.25, 0.4)))
        y0 = top + int(rng.integers(0, max(1, bot - top - band)))
        out[y0 : y0 + band] = lab[y0 : y0 + band]
    rgb = cv2.cvtColor(out, cv2.COLOR_Lab2RGB) * 255.0
    return np.clip(rgb, 0, 255).astype(np.float32)


def compose(
    photo: np.ndarray,
    mask: np.ndarray,
    kind: str,
    *,
    size: int = 800,
    seed: int = 0,
    finish: Finish = Finish.ORIGINAL,
) -> tuple[np.ndarray, np.ndarray]:
    """One studio photo of ``photo``'s masked object on background ``kind``."""
    rng = np.random.default_rng(seed)
    ys, xs = np.nonzero(mask > 127)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    obj = photo[y0:y1, x0:x1].astype(np.float32)
    alpha = mask[y0:y1, x0:x1].astype(np.float32) / 255.0
    h, w = alpha.shape
    s = 0.72 * size / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    obj = cv2.resize(obj, (nw, nh), interpolation=interp)
    alpha = np.clip(cv2.resize(alpha, (nw, nh), interpolation=interp), 0, 1)
    if finish is not Finish.ORIGINAL:
        # own generator: the background and placement stay those of the original finish
        obj = whiten(
            obj, alpha, np.random.default_rng([seed, 7]), label=finish is Finish.WHITE_LABEL
        )
    ox = (size - nw) // 2 + int(rng.integers(-size // 20, size // 20 + 1))
    oy = size - nh - int(0.1 * size)
    canvas_a = np.zeros((size, size), np.float32)
    canvas_a[oy : oy + nh, ox : ox + nw] = alpha
    canvas_o = np.zeros((size, size, 3), np.float32)
    canvas_o[oy : oy + nh, ox : ox + nw] = obj
    bg = _background(kind, size, rng)
    # soft contact shadow: the silhouette squashed onto the floor under the object, blurred
    sh = np.zeros((size, size), np.float32)
    foot = cv2.resize(alpha, (nw, max(1, nh // 6)), interpolation=cv2.INTER_AREA)
    fy = min(size - foot.shape[0], oy + nh - foot.shape[0] // 2)
    sh[fy : fy + foot.shape[0], ox : ox + nw] = foot
    sh = cv2.GaussianBlur(sh, (0, 0), size / 60)
    sh = sh / (sh.max() + 1e-6)
    bg = bg * (1.0 - 0.35 * sh[..., None])
    a3 = canvas_a[..., None]
    out = canvas_o * a3 + bg * (1.0 - a3)
    out += rng.normal(0, 2.0, out.shape).astype(np.float32)
    out8 = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    jpeg = load_image(encode_image(out8, ImageFormat.JPEG, quality=90)).pixels
    gt = np.clip(np.rint(canvas_a * 255.0), 0, 255).astype(np.uint8)
    return jpeg, gt


def studio_items(
    cutout_dir: Path,
    names: list[str],
    backgrounds: tuple[str, ...] = BACKGROUNDS,
    size: int = 800,
    finishes: tuple[Finish, ...] = (Finish.ORIGINAL,),
) -> Iterator[StudioItem]:
    """Yield the composites for ``names`` × ``finishes`` × ``backgrounds`` (deterministic).

    White finishes are made only on :data:`WHITE_BACKGROUNDS`; an object's composite on one
    background has the same placement and noise whatever its finish.
    """
    for i, name in enumerate(names):
        photo = load_image(cutout_dir / "images" / f"{name}.jpg").pixels
        mask = load_image(cutout_dir / "masks" / f"{name}.png").pixels[..., 0]
        for finish in finishes:
            for j, kind in enumerate(backgrounds):
                if finish is not Finish.ORIGINAL and kind not in WHITE_BACKGROUNDS:
                    continue
                img, gt = compose(photo, mask, kind, size=size, seed=1000 * i + j, finish=finish)
                yield StudioItem(name, kind, img, gt, finish)
