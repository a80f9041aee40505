"""Make the picture of docs/scenes.md: what the scene op does at the product's edge.

    python docs/scene_pictures.py          # → docs/scenes/composite.jpg (≤ 200 KB)

A GroceryStoreDataset packshot (MIT) is cut out with the shipped segmenter (U²-Netp from
../shared/weights) and put on a real store photo of the same dataset (MIT), which stands in
for a generated scene: no model drew anything here. Panels: the packshot; a plain alpha
composite; the scene op (contact shadow, edge harmonisation); then the product's left edge
in both, enlarged (plain above, scene op below).
The product's opaque pixels are the packshot's own in both composites (checked below).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from productstudio.imaging import load_image, save_image
from productstudio.models.segmenters import load_segmenter
from productstudio.ops.canvas import place
from productstudio.ops.cutout import cutout
from productstudio.ops.scene import SceneParams, composite_scene, edge_band_difference

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PRODUCTSTUDIO_SHARED", ROOT.parent / "shared"))
PRODUCT = SHARED / "data" / "products" / "images" / "grocery_iconic_45.jpg"  # Oatly Oat Milk
SCENE = SHARED / "data" / "backgrounds" / "images" / "grocery_granny_smith_002.jpg"
OUT = ROOT / "docs" / "scenes" / "composite.jpg"
PANEL = 300


def main() -> None:
    from productstudio.models.pipelines.scene import SceneLayout, plan_canvas

    photo = load_image(PRODUCT).pixels[..., :3]
    seg = load_segmenter(SHARED / "weights" / "segmentation" / "u2netp.onnx").segment(photo)
    product = cutout(photo, seg.mask)
    placed = place(product, plan_canvas(product, SceneLayout(fill=0.55, baseline=0.85)))
    h, w = placed.shape[:2]
    scene = np.asarray(Image.open(SCENE).convert("RGB").resize((w, h), Image.Resampling.LANCZOS))
    plain = composite_scene(placed, scene, SceneParams(harmonise=0.0, shadow=None))
    ours = composite_scene(placed, scene)
    opaque = placed[..., 3] == 255
    assert np.array_equal(ours[opaque], placed[..., :3][opaque])
    before, after = edge_band_difference(plain, placed), edge_band_difference(ours, placed)
    print(f"halo score (mean ΔE2000 of the soft edge): plain {before:.2f}, scene op {after:.2f}")
    ys = np.nonzero(placed[..., 3] > 0)[0]
    cy = int((ys.min() + ys.max()) // 2)
    cx = int(np.flatnonzero(placed[cy, :, 3] > 0).min())  # the left edge at mid-height
    s = 32

    def zoom(img: np.ndarray) -> Image.Image:
        y0, x0 = max(0, cy - s // 2), max(0, cx - s // 2)
        crop = Image.fromarray(img[y0 : y0 + s, x0 : x0 + s])
        return crop.resize((PANEL // 2, PANEL // 2), Image.Resampling.NEAREST)

    panels = [Image.fromarray(photo), Image.fromarray(plain), Image.fromarray(ours)]
    panels = [p.resize((PANEL, round(PANEL * p.height / p.width))) for p in panels]
    height = max(p.height for p in panels)
    strip = Image.new("RGB", (PANEL * 3 + PANEL // 2 + 24, height), "white")
    for i, p in enumerate(panels):
        strip.paste(p, (i * (PANEL + 6), 0))
    strip.paste(zoom(plain), (3 * (PANEL + 6), 0))
    strip.paste(zoom(ours), (3 * (PANEL + 6), PANEL // 2 + 6))
    d = ImageDraw.Draw(strip)
    for i, label in enumerate(("packshot", "plain composite", "scene op")):
        d.text((i * (PANEL + 6) + 6, 6), label, fill=(20, 20, 20))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_image(np.asarray(strip), OUT, quality=85)
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
