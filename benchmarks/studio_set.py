"""A plain-background test set built from real ground-truth objects.

Each object of ../shared/data/cutout (photo + human mask) is cut out with its own mask and
composited onto a studio-like background — white sweep, grey sweep, paper, wood table, blue
gradient — with a soft contact shadow and sensor noise, then JPEG-compressed, like a
seller's photo. The ground truth is the object's scaled mask. Deterministic per seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from productstudio.imaging import ImageFormat, encode_image, load_image

BACKGROUNDS = ("white-sweep", "grey-sweep", "paper", "wood", "gradient")


@dataclass(frozen=True)
class StudioItem:
    name: str
    background: str
    image: np.ndarray  # (H, W, 3) uint8
    mask: np.ndarray  # (H, W) uint8, 255 = object


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


def compose(
    photo: np.ndarray, mask: np.ndarray, kind: str, *, size: int = 800, seed: int = 0
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
    cutout_dir: Path, names: list[str], backgrounds: tuple[str, ...] = BACKGROUNDS, size: int = 800
) -> Iterator[StudioItem]:
    """Yield the composites for ``names`` × ``backgrounds`` (deterministic)."""
    for i, name in enumerate(names):
        photo = load_image(cutout_dir / "images" / f"{name}.jpg").pixels
        mask = load_image(cutout_dir / "masks" / f"{name}.png").pixels[..., 0]
        for j, kind in enumerate(backgrounds):
            img, gt = compose(photo, mask, kind, size=size, seed=1000 * i + j)
            yield StudioItem(name, kind, img, gt)
