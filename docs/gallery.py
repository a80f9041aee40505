"""Make the docs gallery: one product, every background, every shadow, every preset.

Run from the project root (needs ../shared, or PRODUCTSTUDIO_SHARED)::

    python docs/gallery.py                      # classical segmenter (no weights)
    PRODUCTSTUDIO_MODELS=../shared/weights python docs/gallery.py   # uses u2netp when found

Only photos whose licence allows redistribution are used: a GroceryStoreDataset packshot
(``data/products``, MIT) and GroceryStoreDataset store scenes (``data/backgrounds/grocery_*``,
MIT). Outputs go to ``docs/gallery/`` as small JPEGs (PNG for the transparent one), each well
under 200 KB, plus ``docs/gallery/INDEX.md``.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from productstudio.errors import WeightsNotFoundError
from productstudio.imaging import encode_image, load_image, write_atomic
from productstudio.models.segmenters import load_segmenter
from productstudio.ops.backgrounds import (
    BackgroundKind,
    BackgroundParams,
    apply_background,
    make_background,
)
from productstudio.ops.canvas import Align, CanvasParams, layout
from productstudio.ops.cutout import cutout
from productstudio.ops.shadow import (
    CastShadowParams,
    ContactShadowParams,
    DropShadowParams,
    ReflectionParams,
    apply_shadow,
)
from productstudio.recipes import StepContext, list_presets, load_recipe

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "gallery"
SIZE = 480
PRODUCT_ID = "grocery_iconic_71"  # Red Bell Pepper, GroceryStoreDataset packshot (MIT)
MAX_BYTES = 200_000


def shared() -> Path:
    env = os.environ.get("PRODUCTSTUDIO_SHARED")
    return Path(env) if env else ROOT.parent / "shared"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _save(name: str, pixels: np.ndarray, index: list[tuple[str, str]], caption: str) -> None:
    fmt = "png" if pixels.shape[2] == 4 else "jpeg"
    h, w = pixels.shape[:2]
    if max(h, w) > SIZE:
        s = SIZE / max(h, w)
        mode = "RGBA" if pixels.shape[2] == 4 else "RGB"
        im = Image.fromarray(pixels, mode).resize(
            (round(w * s), round(h * s)), Image.Resampling.LANCZOS
        )
        pixels = np.asarray(im)
    quality = 85
    data = encode_image(pixels, fmt, quality=quality)
    while len(data) > MAX_BYTES and fmt == "jpeg" and quality > 40:
        quality -= 10
        data = encode_image(pixels, fmt, quality=quality)
    if len(data) > MAX_BYTES:
        raise SystemExit(f"{name}: {len(data)} bytes is over the 200 KB docs limit")
    fname = f"{name}.{'png' if fmt == 'png' else 'jpg'}"
    write_atomic(data, OUT / fname)
    index.append((fname, caption))
    print(f"{fname:32s} {len(data) / 1000:6.1f} kB  {caption}")


def main() -> int:
    data = shared() / "data"
    meta = {r["id"]: r for r in _rows(data / "products" / "metadata.csv")}
    row = meta[PRODUCT_ID]
    assert row["license"].startswith("MIT") or "MIT" in row["license"], row["license"]
    photo = load_image(data / "products" / row["file"]).pixels
    scenes = [
        r for r in _rows(data / "backgrounds" / "manifest.csv") if r["name"].startswith("grocery_")
    ]
    scene = load_image(data / "backgrounds" / scenes[0]["file"]).pixels
    try:
        seg = load_segmenter("u2netp")
    except WeightsNotFoundError:
        seg = load_segmenter("classical")
    print(
        f"segmenter: {seg.name}; product: {row['title']} ({PRODUCT_ID}); scene: {scenes[0]['name']}"
    )
    OUT.mkdir(parents=True, exist_ok=True)
    index: list[tuple[str, str]] = []

    _save("00-original", photo, index, f"original packshot ({row['title']}, GroceryStoreDataset)")
    rgba = cutout(photo, seg.segment(photo).mask)
    placed = layout(rgba, CanvasParams(SIZE, SIZE, fill=0.75, align=Align.BASELINE, baseline=0.85))

    backgrounds: dict[str, tuple[BackgroundParams, np.ndarray | None]] = {
        "bg-solid": (BackgroundParams(color="#ffffff"), None),
        "bg-linear": (
            BackgroundParams(kind=BackgroundKind.LINEAR, color="#ffffff", color2="#c9d6e3"),
            None,
        ),
        "bg-radial": (
            BackgroundParams(kind=BackgroundKind.RADIAL, color="#ffffff", color2="#b8b8b8"),
            None,
        ),
        "bg-image": (BackgroundParams(kind=BackgroundKind.IMAGE, blur=0.004), scene),
        "bg-bokeh": (BackgroundParams(kind=BackgroundKind.BOKEH, blur=0.03), photo),
        "bg-transparent": (BackgroundParams(kind=BackgroundKind.TRANSPARENT), None),
    }
    for name, (params, src) in backgrounds.items():
        mask = rgba[..., 3] if params.kind is BackgroundKind.BOKEH else None
        out = apply_background(placed, params, scene=src, mask=mask)
        _save(name, out, index, f"background: {params.kind.value}")

    shadows: dict[str, Callable[[], object]] = {
        "shadow-contact": lambda: ContactShadowParams(),
        "shadow-drop": lambda: DropShadowParams(),
        "shadow-cast": lambda: CastShadowParams(azimuth_deg=35, elevation_deg=35),
        "shadow-reflection": lambda: ReflectionParams(opacity=0.35),
    }
    floor = BackgroundParams(kind=BackgroundKind.LINEAR, color="#fbfbfb", color2="#e4e4e4")
    bg_only = make_background(SIZE, SIZE, floor)[..., :3]
    for name, make in shadows.items():
        p = make()
        out = apply_shadow(placed, bg_only, p)  # type: ignore[arg-type]
        _save(name, out, index, f"shadow: {type(p).__name__}")

    for preset in list_presets():
        recipe = load_recipe(preset)
        ctx = StepContext()
        ctx.set_segmenter(seg)
        res = recipe.apply(photo, ctx)
        w, h = res.pixels.shape[1], res.pixels.shape[0]
        _save(f"preset-{preset}", res.pixels, index, f"preset {preset} ({w}x{h}, scaled down)")

    lines = [
        "# Gallery",
        "",
        "Made by `python docs/gallery.py` from a GroceryStoreDataset packshot and store scene",
        f"(MIT); segmenter: `{seg.name}`. Each image is the library's own output, scaled to",
        f"{SIZE} px.",
        "",
        "| file | what |",
        "| --- | --- |",
        *[f"| ![]({f}) `{f}` | {c} |" for f, c in index],
        "",
    ]
    write_atomic("\n".join(lines).encode(), OUT / "INDEX.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
