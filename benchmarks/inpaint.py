"""Benchmark: inpainting backends — masked-region PSNR/SSIM and ms per MP, vs OpenCV Telea.

Real photos (../shared/data/cutout product-like items, benchmark use only) at ``--side`` px
on the long side; three known holes drawn on each: ``text`` (strokes of a rendered caption),
``scribble`` (a thick stroke, like a cable or a scratch) and ``box`` (an object-sized
rectangle, ~4 % of the image). Every registered backend whose weights are available runs on
the same holes; Telea is the baseline measured in the same run. PSNR/SSIM are computed on
the hole pixels only (SSIM on the hole's bounding box), timing is ms per image megapixel.

    python benchmarks/inpaint.py [--n 10] [--side 512] [--json benchmarks/results/inpaint.json]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import bbox_ssim, product_like, summarise_times, write_results
from productstudio.metrics import psnr


def holes(shape: tuple[int, int], seed: int) -> dict[str, np.ndarray]:
    h, w = shape
    rng = np.random.default_rng(seed)
    text = np.zeros((h, w), np.uint8)
    cv2.putText(
        text,
        "SALE 50% OFF",
        (int(w * 0.06), int(h * 0.55)),
        cv2.FONT_HERSHEY_SIMPLEX,
        w / 420,
        255,
        max(2, w // 200),
        cv2.LINE_AA,
    )
    text = cv2.dilate((text > 0).astype(np.uint8), np.ones((3, 3), np.uint8))
    scr = np.zeros((h, w), np.uint8)
    pts = np.stack([rng.integers(0, w, 4), rng.integers(0, h, 4)], 1).astype(np.int32)
    cv2.polylines(scr, [pts], False, 1, max(5, w // 60))
    box = np.zeros((h, w), np.uint8)
    bw, bh = int(w * 0.2), int(h * 0.2)
    x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
    box[y0 : y0 + bh, x0 : x0 + bw] = 1
    return {"text": text > 0, "scribble": scr > 0, "box": box > 0}


def photos(n: int, side: int) -> list[tuple[str, np.ndarray]]:
    from productstudio.imaging import load_image

    out = []
    for name, path in product_like(n):
        img = load_image(path).pixels
        s = side / max(img.shape[:2])
        img = cv2.resize(
            img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA
        )
        out.append((name, img))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--side", type=int, default=512)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    os.environ.setdefault("PRODUCTSTUDIO_THREADS", "2")
    from productstudio.models import available
    from productstudio.models.inpainters import INPAINTERS

    backends = {e.name: e.load(p) for e, p in available(INPAINTERS)}
    imgs = photos(args.n, args.side)
    results: list[dict[str, Any]] = []
    for kind in ("text", "scribble", "box"):
        per: dict[str, dict[str, list[float]]] = {
            n: {"psnr": [], "ssim": [], "t": [], "msmp": []} for n in backends
        }
        for i, (_name, img) in enumerate(imgs):
            m = holes(img.shape[:2], i)[kind]
            over = img.copy()
            over[m] = (255, 0, 255)
            for n, inp in backends.items():
                t0 = time.perf_counter()
                out = inp.inpaint(over, m)
                dt = time.perf_counter() - t0
                assert np.array_equal(out[~m], over[~m])
                per[n]["psnr"].append(psnr(out, img, mask=m))
                per[n]["ssim"].append(bbox_ssim(out, img, m))
                per[n]["t"].append(dt)
                per[n]["msmp"].append(dt * 1000 / (img.shape[0] * img.shape[1] / 1e6))
        base_p = float(np.mean(per["telea"]["psnr"]))
        base_t = float(np.median(per["telea"]["t"]))
        for n, p in per.items():
            results.append(
                {
                    "case": f"{kind} hole, {args.side}px photos",
                    "backend": n,
                    "n": len(p["t"]),
                    **summarise_times(p["t"]),
                    "ratio_vs_baseline": float(np.median(p["t"])) / base_t,
                    "masked_psnr_mean": float(np.mean(p["psnr"])),
                    "psnr_gain_vs_telea_db": float(np.mean(p["psnr"])) - base_p,
                    "ssim_bbox_mean": float(np.mean(p["ssim"])),
                    "ms_per_mp": float(np.median(p["msmp"])),
                }
            )
    path = write_results(
        "inpaint",
        results,
        args.json,
        baseline="OpenCV Telea (radius 5) on the same holes",
        photos=[n for n, _ in imgs],
        side=args.side,
    )
    print(f"{'case':28} {'backend':10} {'PSNR':>7} {'vs telea':>9} {'SSIM':>6} {'ms/MP':>8}")
    for r in results:
        print(
            f"{r['case']:28} {r['backend']:10} {r['masked_psnr_mean']:7.2f} "
            f"{r['psnr_gain_vs_telea_db']:9.2f} {r['ssim_bbox_mean']:6.3f} {r['ms_per_mp']:8.0f}"
        )
    print(path)


if __name__ == "__main__":
    main()
