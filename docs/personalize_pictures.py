"""Make docs/personalize/variants.jpg: four variants of the example matrix on a
GroceryStoreDataset photo (MIT), side by side.

    python docs/personalize_pictures.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PIL import Image

from productstudio.personalize.variants import VariantMatrix, render_variants

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PRODUCTSTUDIO_SHARED", ROOT.parent / "shared"))
PHOTO = SHARED / "data" / "products" / "images" / "grocery_iconic_00.jpg"
SHOWN = ("white+none", "dark+contact", "pastel+contact", "vivid+none")


def main() -> Path:
    specs = [
        s
        for s in VariantMatrix.from_yaml(
            ROOT / "docs/examples/personalize/variant_matrix.yaml"
        ).expand()
        if s.variant_id in SHOWN
    ]
    with tempfile.TemporaryDirectory() as d:
        recs = render_variants(PHOTO, "apple-1", specs, d, model="classical")
        tiles = [Image.open(r.image).convert("RGB").resize((240, 240)) for r in recs]
    strip = Image.new("RGB", (240 * len(tiles) + 8 * (len(tiles) - 1), 240), "white")
    for i, t in enumerate(tiles):
        strip.paste(t, (i * 248, 0))
    out = ROOT / "docs" / "personalize" / "variants.jpg"
    out.parent.mkdir(exist_ok=True)
    strip.save(out, quality=85)
    return out


if __name__ == "__main__":
    print(main())
