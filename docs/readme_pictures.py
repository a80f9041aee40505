"""Make the README's before/after strip with the project itself.

    PRODUCTSTUDIO_MODELS=../shared/weights python docs/readme_pictures.py

Inputs are GroceryStoreDataset photos (MIT) from ../shared/data/text: a retailer packshot
and hand-held in-store phone photos. Each goes through the main job (`productstudio run`
defaults: cut-out, Amazon main image on white) and the strip shows photo → result. Output:
docs/before-after.jpg (≤ 200 KB).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from productstudio.imaging import ImageFormat, load_image, save_image
from productstudio.models.segmenters import load_segmenter
from productstudio.ops.canvas import CanvasParams
from productstudio.recipes import StepContext, main_image_recipe

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PRODUCTSTUDIO_SHARED", ROOT.parent / "shared"))
PHOTOS = [
    "grocery_iconic_oatly_natural_oatghurt.jpg",
    "grocery_natural_alpro_fresh_soy_milk_015.jpg",
    "grocery_natural_god_morgon_red_grapefruit_juice_008.jpg",
]
TILE = 260


def _tile(px: np.ndarray) -> np.ndarray:
    im = Image.fromarray(px[..., :3]).resize((TILE, TILE), Image.LANCZOS)
    return np.asarray(im)


def main() -> None:
    folder = SHARED / "data" / "text" / "images"
    if not folder.is_dir():
        sys.exit(f"{folder} not found: set PRODUCTSTUDIO_SHARED")
    # u2netp (Apache-2.0) rather than auto: the staged IS-Net licence is unclear (see shared README)
    model = os.environ.get("README_MODEL", "u2netp")
    recipe = main_image_recipe(canvas=CanvasParams(width=1000, height=1000))
    segmenter = load_segmenter(model)
    rows = []
    for name in PHOTOS:
        loaded = load_image(folder / name)
        ctx = StepContext()
        ctx.set_segmenter(segmenter)
        out = recipe.apply(loaded, ctx).pixels
        gap = np.full((TILE, 8, 3), 255, np.uint8)
        rows.append(np.concatenate([_tile(loaded.pixels), gap, _tile(out)], axis=1))
    sep = np.full((TILE, 24, 3), 255, np.uint8)
    strip = np.concatenate(
        [r if i == 0 else np.concatenate([sep, r], 1) for i, r in enumerate(rows)], 1
    )
    path = save_image(strip, ROOT / "docs" / "before-after.jpg", fmt=ImageFormat.JPEG, quality=85)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB) with segmenter {segmenter.name}")


if __name__ == "__main__":
    main()
