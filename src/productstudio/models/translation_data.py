"""Data for image-to-image translation: paired composites (a cut-out and its studio original).

Unpaired (CycleGAN) data needs nothing new: :func:`productstudio.models.data.load_products` with
``sources=domain_a + domain_b`` gives one :class:`ProductData` whose records' ``source`` tells
the domain. Paired data is built here from photos shot on white: each product is cut out
(:func:`white_background_alpha`: near-white pixels connected to the border are background) and
composited, in place, over a crop of a real background photo; the pair is
(composite → original studio photo), so the target is exactly the photo, not a model's output.

Example:
    >>> im = np.full((8, 8, 3), 255, np.uint8); im[2:6, 2:6] = (200, 30, 30)
    >>> a = white_background_alpha(im)
    >>> float(a[0, 0]), float(a[3, 3])
    (0.0, 1.0)
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image as PILImage

from productstudio.errors import InputError, InvalidParamsError
from productstudio.models.data import ProductData, ProductRecord

log = logging.getLogger(__name__)


def white_background_alpha(image: NDArray[np.uint8], tolerance: int = 24) -> NDArray[np.float32]:
    """Product mask of a photo shot on white: (H, W) float32 in {0, 1}.

    Background = pixels whose every channel is within ``tolerance`` of 255 **and** that connect
    to the image border through such pixels; white areas inside the product (labels, highlights)
    stay product.

    Raises:
        InvalidParamsError: ``image`` is not (H, W, 3) uint8.
    """
    from scipy import ndimage

    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidParamsError(f"need (H, W, 3) uint8, got {image.shape} {image.dtype}")
    white = (image >= 255 - tolerance).all(2)
    labels, _ = ndimage.label(white)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    bg = np.isin(labels, border[border > 0])
    return (~bg).astype(np.float32)


def load_backgrounds(
    root: str | Path, *, names: Sequence[str] = (), limit: int | None = None
) -> list[NDArray[np.uint8]]:
    """Background photos listed in ``root/manifest.csv`` (all, or those whose ``name`` starts
    with one of ``names``), as RGB uint8.

    Raises:
        InputError: no manifest, an unreadable file, or nothing selected.
    """
    path = Path(root) / "manifest.csv"
    if not path.is_file():
        raise InputError(f"{path} not found: point --backgrounds at a folder with manifest.csv")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if not names or r["name"].startswith(tuple(names))]
    rows = rows[:limit]
    if not rows:
        raise InputError(f"{path}: no background rows match {list(names)}", path=path)
    out = []
    for r in rows:
        p = Path(root) / r["file"]
        try:
            with PILImage.open(p) as im:
                out.append(np.asarray(im.convert("RGB"), np.uint8).copy())
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read background {p}: {exc}", path=p) from exc
    return out


def _crop(bg: NDArray[np.uint8], size: int, rng: np.random.Generator) -> NDArray[np.uint8]:
    h, w = bg.shape[:2]
    s = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
    y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
    crop = PILImage.fromarray(bg[y : y + s, x : x + s]).resize(
        (size, size), PILImage.Resampling.BILINEAR
    )
    out = np.asarray(crop, np.uint8)
    return out[:, ::-1].copy() if rng.random() < 0.5 else out.copy()


def composite_pairs(
    data: ProductData,
    backgrounds: Sequence[NDArray[np.uint8]],
    *,
    variants: int = 1,
    seed: int = 0,
    min_product: float = 0.02,
) -> ProductData:
    """Paired translation data: ``inputs`` = each studio photo's product over a random crop of a
    background photo, ``images`` = the studio photo itself.

    Args:
        data: studio photos on white (e.g. Myntra or the grocery packshots), already at size.
        backgrounds: RGB photos to crop from.
        variants: composites per product (each a different crop).
        seed: seed of the crops.
        min_product: skip photos whose mask covers less than this fraction (nothing to keep).

    Returns:
        ProductData with ``inputs``; records repeat per variant (same id: same split).

    Raises:
        InvalidParamsError: no backgrounds, variants < 1, or no usable photo.
    """
    if not backgrounds:
        raise InvalidParamsError("composite_pairs: give at least one background photo")
    if variants < 1:
        raise InvalidParamsError(f"composite_pairs: variants must be >= 1, got {variants}")
    rng = np.random.default_rng(seed)
    targets: list[NDArray[np.uint8]] = []
    inputs: list[NDArray[np.uint8]] = []
    records: list[ProductRecord] = []
    skipped = 0
    for im, rec in zip(data.images, data.records, strict=True):
        alpha = white_background_alpha(im)
        if alpha.mean() < min_product:
            skipped += 1
            continue
        a = alpha[..., None]
        for _ in range(variants):
            bg = _crop(backgrounds[int(rng.integers(len(backgrounds)))], data.size, rng)
            comp = np.rint(im.astype(np.float32) * a + bg.astype(np.float32) * (1 - a))
            inputs.append(comp.astype(np.uint8))
            targets.append(im)
            records.append(rec)
    if not records:
        raise InvalidParamsError("composite_pairs: no photo has a product on a white background")
    if skipped:
        log.info("composite_pairs: skipped %d photos without a product on white", skipped)
    return ProductData(np.stack(targets), records, data.size, np.stack(inputs))
