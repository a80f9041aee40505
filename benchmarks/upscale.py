"""Benchmark: upscaling x2/x4 on real product photos — PSNR/SSIM vs bicubic and ms per MP.

Protocol (the standard SR one): a full-resolution crop of a real photo is the ground truth;
it is bicubic-downscaled by the factor and restored by each upscaler. Bicubic restoration is
the baseline measured in the same run. A second degradation, area (box) downscaling, shows
what happens on photos that were not made with bicubic (the models gain less there).
Speed: ms per output megapixel at 2 threads, on the same crops (median over photos).

    python benchmarks/upscale.py [--n 12] [--json benchmarks/results/upscale.json]

Input: ../shared/data/cutout product-like photos (DIS5K, benchmark use only) and the
weights in ../shared/weights/superres. Target (issue 5): FSRCNN/ESPCN >= bicubic + 0.7 dB
at <= 50 ms/MP.
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
from common import product_like, shared_root, summarise_times, write_results
from productstudio.metrics import psnr, ssim


def photos(n: int, size: int) -> list[tuple[str, np.ndarray]]:
    from productstudio.imaging import load_image

    out = []
    for name, path in product_like(n):
        img = load_image(path).pixels
        h, w = img.shape[:2]
        y0, x0 = max(0, (h - size) // 2), max(0, (w - size) // 2)
        crop = img[y0 : y0 + size, x0 : x0 + size]
        crop = crop[: crop.shape[0] // 4 * 4, : crop.shape[1] // 4 * 4]
        out.append((name, np.ascontiguousarray(crop)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=12, help="number of photos")
    ap.add_argument("--size", type=int, default=384, help="ground-truth crop side")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    os.environ.setdefault("PRODUCTSTUDIO_MODELS", str(shared_root() / "weights" / "superres"))
    os.environ.setdefault("PRODUCTSTUDIO_THREADS", "2")
    from productstudio.models.upscalers import load_upscaler

    names = [
        "bicubic",
        "lanczos",
        "fsrcnn-small",
        "fsrcnn",
        "espcn",
        "lapsrn",
        "realesr-general-x4v3",
    ]
    ups = {n: load_upscaler(n) for n in names}
    imgs = photos(args.n, args.size)
    results: list[dict[str, Any]] = []
    for degr, interp in (("bicubic", cv2.INTER_CUBIC), ("area", cv2.INTER_AREA)):
        for scale in (2, 4):
            per: dict[str, dict[str, list[float]]] = {
                n: {"psnr": [], "ssim": [], "t": [], "msmp": []} for n in names
            }
            for _name, hr in imgs:
                h, w = hr.shape[:2]
                lr = cv2.resize(hr, (w // scale, h // scale), interpolation=interp)
                for n, up in ups.items():
                    up.upscale(lr[:16, :16], scale)  # warm-up (graph load)
                    t0 = time.perf_counter()
                    sr = up.upscale(lr, scale)
                    dt = time.perf_counter() - t0
                    per[n]["psnr"].append(psnr(sr, hr))
                    per[n]["ssim"].append(ssim(sr, hr))
                    per[n]["t"].append(dt)
                    per[n]["msmp"].append(dt * 1000.0 / (h * w / 1e6))
            base = float(np.mean(per["bicubic"]["psnr"]))
            base_t = float(np.median(per["bicubic"]["t"]))
            for n in names:
                p = per[n]
                results.append(
                    {
                        "case": f"x{scale} ({degr} downscale)",
                        "backend": n,
                        "n": len(p["psnr"]),
                        **summarise_times(p["t"]),
                        "ratio_vs_baseline": float(np.median(p["t"])) / base_t,
                        "psnr_mean": float(np.mean(p["psnr"])),
                        "psnr_gain_vs_bicubic_db": float(np.mean(p["psnr"])) - base,
                        "psnr_gain_min_db": float(
                            np.min(np.array(p["psnr"]) - per["bicubic"]["psnr"])
                        ),
                        "ssim_mean": float(np.mean(p["ssim"])),
                        "ms_per_output_mp": float(np.median(p["msmp"])),
                        "ms_per_input_mp": float(np.median(p["msmp"])) * scale * scale,
                    }
                )
    out = write_results(
        "upscale",
        results,
        args.json,
        baseline="bicubic restoration (cv2.INTER_CUBIC), same photos, same run",
        photos=[n for n, _ in imgs],
        crop=args.size,
    )
    print(f"{'case':28} {'backend':22} {'PSNR':>7} {'gain dB':>8} {'SSIM':>6} {'ms/MPout':>9}")
    for r in results:
        print(
            f"{r['case']:28} {r['backend']:22} {r['psnr_mean']:7.2f} "
            f"{r['psnr_gain_vs_bicubic_db']:8.2f} {r['ssim_mean']:6.3f} "
            f"{r['ms_per_output_mp']:9.1f}"
        )
    print(out)


if __name__ == "__main__":
    main()
