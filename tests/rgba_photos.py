"""Real RGBA products for op tests: a DIS5K photo + its ground-truth mask as alpha."""

from __future__ import annotations

import numpy as np
from PIL import Image

from conftest import read_manifest, shared_path


def real_rgba(name: str | None = None, long_side: int = 400) -> np.ndarray:
    """Image + GT mask of a product-like cut-out item, downscaled (skips without ../shared)."""
    rows = [r for r in read_manifest("data", "cutout", "manifest.csv") if r["product_like"] == "1"]
    row = next(r for r in rows if r["name"] == name) if name else rows[0]
    img = Image.open(shared_path("data", "cutout", "images", row["name"] + ".jpg")).convert("RGB")
    mask = Image.open(shared_path("data", "cutout", "masks", row["name"] + ".png")).convert("L")
    s = long_side / max(img.size)
    size = (max(1, round(img.width * s)), max(1, round(img.height * s)))
    img, mask = img.resize(size, Image.Resampling.LANCZOS), mask.resize(size, Image.Resampling.BOX)
    return np.dstack([np.asarray(img), np.asarray(mask)])
