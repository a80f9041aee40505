"""Contact sheet of the hand-held in-store photos: rembg's cut-out next to ours, same model.

    pip install -c constraints.txt -r benchmarks/requirements.txt   # rembg, for the left column
    PRODUCTSTUDIO_SHARED=../shared python docs/handheld_sheet.py

For each of the 12 hand-held GroceryStoreDataset photos (MIT) in ../shared/data/text: the photo,
rembg 2.0.86's cut-out and ours with the same U²-Netp file (Apache-2.0; the staged IS-Net's
licence is unclear, see ../shared/README.md), both on a checkerboard so that see-through
parts show, and our main image. Output: docs/handheld/sheet-1.jpg and sheet-2.jpg (six photos
each, ≤ 200 KB).
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from productstudio.imaging import ImageFormat, load_image, save_image
from productstudio.models.segmenters import load_segmenter
from productstudio.ops.canvas import CanvasParams
from productstudio.ops.cutout import cutout
from productstudio.recipes import StepContext, main_image_recipe

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PRODUCTSTUDIO_SHARED", ROOT.parent / "shared"))
TILE = 200
LABELS = ("photo", "rembg (U²-Netp)", "ours (U²-Netp)", "ours: main image")


def _checker(size: int, cell: int = 12) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    board = ((y // cell + x // cell) % 2).astype(np.uint8)
    return np.where(board[..., None] == 1, 205, 245).astype(np.uint8).repeat(3, axis=2)


def _fit(px: np.ndarray) -> np.ndarray:
    """RGBA or RGB → a TILE x TILE RGB tile (RGBA over a checkerboard), aspect kept."""
    im = Image.fromarray(px)
    im.thumbnail((TILE, TILE), Image.LANCZOS)
    board = Image.fromarray(_checker(TILE))
    if im.mode == "RGBA":
        board.paste(im, ((TILE - im.width) // 2, (TILE - im.height) // 2), im)
    else:
        board.paste(im, ((TILE - im.width) // 2, (TILE - im.height) // 2))
    return np.asarray(board.convert("RGB"))


def _rembg_cutter(weights: Path) -> object:
    home = Path(tempfile.mkdtemp(prefix="rembg-home-"))
    os.symlink(weights, home / "u2netp.onnx")
    os.environ["U2NET_HOME"] = str(home)
    os.environ["MODEL_CHECKSUM_DISABLED"] = "1"
    from rembg import new_session, remove

    session = new_session("u2netp")
    return lambda rgb: np.asarray(remove(Image.fromarray(rgb), session=session))


def main() -> None:
    text = SHARED / "data" / "text"
    weights = SHARED / "weights" / "segmentation" / "u2netp.onnx"
    if not (text / "manifest.csv").is_file() or not weights.is_file():
        sys.exit(f"{text} or {weights} not found: set PRODUCTSTUDIO_SHARED")
    rows = [r for r in csv.DictReader((text / "manifest.csv").open()) if "hand" in r["photo_kind"]]
    seg = load_segmenter(str(weights))
    rembg = _rembg_cutter(weights)
    recipe = main_image_recipe(canvas=CanvasParams(width=800, height=800))
    tiles = []
    for r in rows:
        rgb = load_image(text / r["file"]).pixels[..., :3]
        ours = cutout(rgb, seg.segment(rgb).mask)
        ctx = StepContext()
        ctx.set_segmenter(seg)
        main_image = recipe.apply(rgb, ctx).pixels
        theirs = rembg(rgb)  # type: ignore[operator]
        gap = np.full((TILE, 6, 3), 255, np.uint8)
        cells = [_fit(rgb), _fit(theirs), _fit(ours), _fit(main_image)]
        tiles.append(np.concatenate([c for t in cells for c in (t, gap)][:-1], axis=1))
    out = ROOT / "docs" / "handheld"
    out.mkdir(exist_ok=True)
    sep = np.full((6, tiles[0].shape[1], 3), 255, np.uint8)
    for k in range(0, len(tiles), 6):
        chunk = tiles[k : k + 6]
        sheet = np.concatenate([c for t in chunk for c in (t, sep)][:-1], axis=0)
        path = save_image(sheet, out / f"sheet-{k // 6 + 1}.jpg", fmt=ImageFormat.JPEG, quality=76)
        print(f"wrote {path} ({path.stat().st_size // 1024} KB); columns: {', '.join(LABELS)}")


if __name__ == "__main__":
    main()
