"""Benchmark: recolour — colour accuracy, shading kept, pixels outside the mask untouched.

Real Myntra catalogue photos from ../shared/data/products (white studio background; the
metadata's base colour tells what the product was), stratified over base colours; each is
recoloured to a fixed palette that includes near-white and near-black targets (lightness has
to move, not only hue). The product mask is the non-white area of the studio photo. Matte =
apparel, footwear and bags whose base colour is not metallic; the rest (metallic colours,
watches, jewellery, eyewear) is reported apart.

``recolour`` re-aims its own result until the masked *median* colour hits the target, so the
median ΔE2000 (the issue-5 target) is the statistic it optimises. Measured next to it, and not
optimised by anything:

* **ΔE of the mean colour**: ΔE2000 between the target and the product's mean CIELAB;
* **shading kept**: Pearson correlation, inside the product (mask eroded by 2 px), between
  the Sobel gradients of the result's L* and the original's L* (1 = every fold, seam and
  texture edge kept with its direction; a flat fill scores ~0);
* **outside unchanged**: pixels where the mask is 0 that changed (must be exactly 0).

Baselines in the same run, on the same photos and targets: ``lab-shift`` (the whole L*a*b* of
the product shifted by target − median: lightness moves, gradients are kept exactly, but dark
and light targets clip) and ``hue-only`` (a*/b* replaced by the target's, L* kept: it cannot
move lightness). ``ratio_vs_baseline`` = our median ΔE / lab-shift's (below 1 = better);
time ratios are ``time_ratio_vs_baseline``.

    python benchmarks/recolour.py [--per-colour 4] [--json benchmarks/results/recolour.json]

Target (issue 5): ΔE2000 <= 3 on matte products.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import shared_root, summarise_times, write_results

TARGETS = ["#1f3a93", "#c0392b", "#2e8b57", "#f1c40f", "#f5f5f5", "#111111", "#8e44ad", "#d2b48c"]
METALLIC = {"Silver", "Gold", "Bronze", "Copper", "Steel", "Metallic", "Rose Gold", "Gunmetal"}
NON_MATTE_CATS = {"Watches", "Jewellery", "Eyewear", "Sunglasses"}
COLOURS = [
    "Black",
    "White",
    "Navy Blue",
    "Blue",
    "Red",
    "Green",
    "Grey",
    "Brown",
    "Pink",
    "Yellow",
    "Purple",
    "Beige",
    "Maroon",
    "Orange",
    "Silver",
    "Gold",
]


def _from_lab(lab: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    from productstudio.imaging import lab_to_rgb

    with warnings.catch_warnings():  # out-of-gamut colours clip, as in any simple recolour
        warnings.simplefilter("ignore", UserWarning)
        rgb = (np.clip(lab_to_rgb(lab), 0, 1) * 255).round().astype(np.uint8)
    return np.where((mask >= 0.5)[..., None], rgb, image)


def hue_only(image: np.ndarray, mask: np.ndarray, color: str) -> np.ndarray:
    """Baseline: a*, b* := target's, L* kept."""
    from productstudio.imaging import rgb_to_lab
    from productstudio.ops.recolour import target_lab

    lab = rgb_to_lab(image)
    t = target_lab(color)
    lab[..., 1], lab[..., 2] = t[1], t[2]
    return _from_lab(lab, image, mask)


def lab_shift(image: np.ndarray, mask: np.ndarray, color: str) -> np.ndarray:
    """Baseline: L*, a*, b* all shifted by (target − product median); one pass, no re-aiming."""
    from productstudio.imaging import rgb_to_lab
    from productstudio.ops.recolour import median_lab, target_lab

    lab = rgb_to_lab(image)
    lab = lab + (target_lab(color) - median_lab(image, mask))
    return _from_lab(lab, image, mask)


def shading_kept(original: np.ndarray, result: np.ndarray, mask: np.ndarray) -> float:
    """Correlation of the L* Sobel gradients (x and y) of two images inside the eroded mask."""
    import cv2

    from productstudio.imaging import rgb_to_lab

    inner = cv2.erode((mask >= 0.5).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if inner.sum() < 20:
        return float("nan")
    g = []
    for img in (original, result):
        lum = rgb_to_lab(img)[..., 0].astype(np.float32)
        gx = cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3)[inner]
        gy = cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3)[inner]
        g.append(np.concatenate([gx, gy]))
    if g[0].std() < 1e-6 or g[1].std() < 1e-6:
        return 0.0
    return float(np.corrcoef(g[0], g[1])[0, 1])


def scores(original: np.ndarray, out: np.ndarray, mask: np.ndarray, color: str) -> dict[str, float]:
    """Median-colour ΔE, mean-colour ΔE, shading kept and changed pixels outside the mask."""
    from productstudio.imaging import delta_e2000, rgb_to_lab
    from productstudio.ops.recolour import median_lab, target_lab

    t = target_lab(color)
    inside = mask >= 0.5
    mean_lab = rgb_to_lab(out)[inside].mean(axis=0)
    outside = mask == 0
    return {
        "de_median": float(delta_e2000(median_lab(out, mask), t)),
        "de_mean_colour": float(delta_e2000(mean_lab, t)),
        "shading": shading_kept(original, out, mask),
        "outside_changed": float((out[outside] != original[outside]).any(axis=-1).sum()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-colour", type=int, default=4)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    from productstudio.imaging import load_image
    from productstudio.ops.recolour import RecolourParams, recolour

    root = shared_root() / "data" / "products"
    with (root / "metadata.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["source"] == "myntra-small"]
    picked: list[dict[str, str]] = []
    for c in COLOURS:
        picked += [r for r in rows if r["colour"] == c][: args.per_colour]
    methods = ("recolour", "lab-shift", "hue-only")
    # (finish, case) -> method -> measure -> values
    groups: dict[tuple[str, str], dict[str, dict[str, list[float]]]] = defaultdict(
        lambda: {m: defaultdict(list) for m in methods}
    )
    funcs = {
        "recolour": lambda img, mask, t: recolour(img, RecolourParams(color=t), mask),
        "lab-shift": lab_shift,
        "hue-only": hue_only,
    }
    for r in picked:
        img = load_image(root / r["file"]).pixels
        mask = ((255 - img.astype(int)).max(axis=2) > 25).astype(np.float32)
        if (mask >= 0.5).sum() < 100:
            continue
        matte = r["colour"] not in METALLIC and r["category"] not in NON_MATTE_CATS
        finish = "matte" if matte else "glossy/metallic"
        for t in TARGETS:
            for name, fn in funcs.items():
                t0 = time.perf_counter()
                out = fn(img, mask, t)
                dt = time.perf_counter() - t0
                sc = scores(img, out, mask, t)
                for key in ((finish, "all"), (finish, f"from {r['colour']}"), ("all", f"to {t}")):
                    g = groups[key][name]
                    g["t"].append(dt)
                    for k, v in sc.items():
                        g[k].append(v)
    results: list[dict[str, Any]] = []
    for (finish, case), per in sorted(groups.items()):
        base_de = float(np.median(per["lab-shift"]["de_median"]))
        base_t = float(np.median(per["lab-shift"]["t"]))
        for name in methods:
            g = per[name]
            de = np.asarray(g["de_median"])
            results.append(
                {
                    "case": f"{finish}: {case}",
                    "backend": name,
                    "n": int(de.size),
                    **summarise_times(g["t"]),
                    "ratio_vs_baseline": float(np.median(de)) / max(base_de, 1e-9),
                    "time_ratio_vs_baseline": float(np.median(g["t"])) / max(base_t, 1e-12),
                    "de2000_median": float(np.median(de)),
                    "de2000_mean": float(de.mean()),
                    "de2000_p90": float(np.percentile(de, 90)),
                    "de2000_max": float(de.max()),
                    "share_le_3": float((de <= 3).mean()),
                    "mean_colour_de2000_median": float(np.median(g["de_mean_colour"])),
                    "mean_colour_de2000_mean": float(np.mean(g["de_mean_colour"])),
                    "mean_colour_share_le_3": float((np.asarray(g["de_mean_colour"]) <= 3).mean()),
                    "shading_corr_median": float(np.nanmedian(g["shading"])),
                    "shading_corr_p10": float(np.nanpercentile(g["shading"], 10)),
                    "outside_changed_px": int(np.sum(g["outside_changed"])),
                }
            )
    path = write_results(
        "recolour",
        results,
        args.json,
        targets=TARGETS,
        baseline="lab-shift: L*a*b* shifted by target - median (one pass); also hue-only",
        ratio_vs_baseline="median-colour dE2000 of this method / lab-shift's (lower = better)",
        images=[r["id"] for r in picked],
    )
    print(
        f"{'case':34} {'method':9} {'n':>4} {'med':>5} {'p90':>5} {'<=3':>5} "
        f"{'meanC':>6} {'shade':>6} {'out':>4}"
    )
    for r in results:
        if not r["case"].endswith(": all"):
            continue
        print(
            f"{r['case'][:34]:34} {r['backend']:9} {r['n']:4d} {r['de2000_median']:5.2f} "
            f"{r['de2000_p90']:5.2f} {r['share_le_3']:5.0%} {r['mean_colour_de2000_median']:6.2f} "
            f"{r['shading_corr_median']:6.3f} {r['outside_changed_px']:4d}"
        )
    print(path)


if __name__ == "__main__":
    main()
