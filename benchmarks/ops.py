"""Benchmark: ms per op at 2000x2000 (backgrounds, shadows, canvas, checker, amazon-main recipe).

Each case is timed (1 warm-up, then ``--repeat`` calls; median and IQR) next to a plain Pillow
``Image.alpha_composite`` of the same 2000x2000 RGBA product over a white RGBA background,
measured in the same run; ``ratio_vs_baseline`` = case median / baseline median.

    python benchmarks/ops.py [--repeat 5] [--json benchmarks/results/ops.json]

Input: a DIS5K product photo with its ground-truth mask as alpha (../shared/data/cutout; used
for benchmarking only, never shipped), laid out at 85 % fill on a 2000x2000 canvas.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from PIL import Image

from common import shared_root, timeit, write_results

ROOT = Path(__file__).resolve().parents[1]
SIZE = 2000
ITEM = "dis_te1_bench_22653754305"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "ops.json")
    args = ap.parse_args()

    from productstudio.imaging import encode_image, load_image
    from productstudio.models.segmenters import ClassicalSegmenter
    from productstudio.ops.backgrounds import BackgroundKind, BackgroundParams, apply_background
    from productstudio.ops.canvas import CanvasParams, layout
    from productstudio.ops.composite import composite
    from productstudio.ops.shadow import (
        CastShadowParams,
        ContactShadowParams,
        DropShadowParams,
        ReflectionParams,
        cast_shadow,
        contact_shadow,
        drop_shadow,
        reflection,
    )
    from productstudio.recipes import load_recipe
    from productstudio.recipes.compliance import check_loaded

    data = shared_root() / "data"
    photo = np.asarray(Image.open(data / "cutout" / "images" / f"{ITEM}.jpg").convert("RGB"))
    mask = np.asarray(Image.open(data / "cutout" / "masks" / f"{ITEM}.png").convert("L"))
    source = np.dstack([photo, mask])
    product = layout(source, CanvasParams(SIZE, SIZE, fill=0.85))
    scene_row = next(p for p in sorted((data / "backgrounds" / "images").glob("grocery_*.jpg")))
    scene = load_image(scene_row).pixels
    white = np.full((SIZE, SIZE, 3), 255, np.uint8)
    flat = composite(product, white)
    jpeg = encode_image(flat, "jpeg", quality=92)
    loaded = load_image(jpeg, name="amazon.jpg")
    amazon = load_recipe("amazon-main")
    seg = ClassicalSegmenter()

    pil_fg = Image.fromarray(product, "RGBA")
    pil_bg = Image.new("RGBA", (SIZE, SIZE), (255, 255, 255, 255))

    cases: list[tuple[str, str, Callable[[], Any]]] = [
        ("baseline", "Pillow Image.alpha_composite", lambda: Image.alpha_composite(pil_bg, pil_fg)),
        ("composite white", "ops.composite", lambda: composite(product, "#ffffff")),
        (
            "background solid",
            "ops.backgrounds",
            lambda: apply_background(product, BackgroundParams(color="#ffffff")),
        ),
        (
            "background linear gradient",
            "ops.backgrounds",
            lambda: apply_background(product, BackgroundParams(kind=BackgroundKind.LINEAR)),
        ),
        (
            "background radial gradient",
            "ops.backgrounds",
            lambda: apply_background(product, BackgroundParams(kind=BackgroundKind.RADIAL)),
        ),
        (
            "background image (cover, blur 0.005)",
            "ops.backgrounds",
            lambda: apply_background(
                product, BackgroundParams(kind=BackgroundKind.IMAGE, blur=0.005), scene=scene
            ),
        ),
        (
            "background bokeh (1600 px photo)",
            "ops.backgrounds",
            lambda: apply_background(
                product, BackgroundParams(kind=BackgroundKind.BOKEH), scene=photo, mask=mask
            ),
        ),
        (
            "shadow contact",
            "ops.shadow",
            lambda: contact_shadow(product, white, ContactShadowParams()),
        ),
        ("shadow drop", "ops.shadow", lambda: drop_shadow(product, white, DropShadowParams())),
        ("shadow cast", "ops.shadow", lambda: cast_shadow(product, white, CastShadowParams())),
        ("reflection", "ops.shadow", lambda: reflection(product, white, ReflectionParams())),
        (
            "canvas layout (1600 px cut-out -> 2000)",
            "ops.canvas",
            lambda: layout(source, CanvasParams(SIZE, SIZE, fill=0.85)),
        ),
        (
            "check amazon-main (classical mask, no OCR)",
            "recipes.compliance",
            lambda: check_loaded(
                loaded, amazon.rules, data=jpeg, segmenter=seg, text_detector=None
            ),
        ),
        (
            "recipe amazon-main (GT alpha, no segmenter)",
            "recipes",
            lambda: amazon.apply(source),
        ),
    ]

    results: list[dict[str, Any]] = []
    base_median = None
    for name, backend, fn in cases:
        t = np.asarray(timeit(fn, repeat=args.repeat, warmup=1))
        q1, med, q3 = np.percentile(t, [25, 50, 75])
        if base_median is None:
            base_median = float(med)
        results.append(
            {
                "case": name,
                "backend": backend,
                "n": int(t.size),
                "median_s": float(med),
                "iqr_s": float(q3 - q1),
                "ratio_vs_baseline": float(med) / base_median,
            }
        )
        print(
            f"{name:45s} {med * 1000:8.1f} ms  IQR {(q3 - q1) * 1000:7.1f} ms  "
            f"x{float(med) / base_median:6.1f}",
            flush=True,
        )
    path = write_results("ops", results, args.json, size=f"{SIZE}x{SIZE}", repeat=args.repeat)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
