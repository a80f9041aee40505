"""The main job from Python: one photo → a marketplace-ready main image.

Run: python docs/examples/main_job.py PHOTO OUT.jpg   (tested by tests/test_docs_examples.py)
"""

from __future__ import annotations

import sys

from productstudio.imaging import load_image, save_image
from productstudio.models.segmenters import load_segmenter
from productstudio.ops import CanvasParams, composite, cutout, layout


def main(photo: str, out: str) -> None:
    image = load_image(photo)  # EXIF-rotated, sRGB, typed errors on bad files
    seg = load_segmenter("auto").segment(image.pixels)  # best model found, else classical
    if seg.unsure:
        print(f"warning: {'; '.join(seg.notes)}", file=sys.stderr)
    product = cutout(image.pixels, seg.mask)  # RGBA, soft alpha, no halos
    placed = layout(product, CanvasParams(width=2000, height=2000, fill=0.85))
    save_image(composite(placed, "#ffffff"), out, quality=92)  # atomic write, sRGB JPEG


if __name__ == "__main__":
    main(*sys.argv[1:3])
