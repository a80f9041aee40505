"""Benchmark: recolour accuracy — ΔE2000 between the target and the product's median colour.

Real Myntra catalogue photos from ../shared/data/products (white studio background; the
metadata's base colour tells what the product was), stratified over base colours; each is
recoloured to a fixed palette that includes near-white and near-black targets (lightness has
to move, not only hue). The product mask is the non-white area of the studio photo. Matte =
apparel, footwear and bags whose base colour is not metallic; the rest (metallic colours,
watches, jewellery, eyewear) is reported apart. Baseline in the same run: a naive hue-only
recolour (replace a*/b* by the target's, keep L*), which cannot move lightness.

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


def naive(image: np.ndarray, mask: np.ndarray, color: str) -> np.ndarray:
    """Hue-only baseline: a*, b* := target's, L* kept."""
    from productstudio.imaging import lab_to_rgb, rgb_to_lab
    from productstudio.ops.recolour import target_lab

    lab = rgb_to_lab(image)
    t = target_lab(color)
    lab[..., 1], lab[..., 2] = t[1], t[2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        rgb = (lab_to_rgb(lab) * 255).round().astype(np.uint8)
    return np.where((mask >= 0.5)[..., None], rgb, image)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-colour", type=int, default=4)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    from productstudio.imaging import delta_e2000, load_image
    from productstudio.ops.recolour import RecolourParams, median_lab, recolour, target_lab

    root = shared_root() / "data" / "products"
    with (root / "metadata.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["source"] == "myntra-small"]
    picked: list[dict[str, str]] = []
    for c in COLOURS:
        picked += [r for r in rows if r["colour"] == c][: args.per_colour]
    groups: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(
        lambda: {"de": [], "naive": [], "t": []}
    )
    for r in picked:
        img = load_image(root / r["file"]).pixels
        mask = ((255 - img.astype(int)).max(axis=2) > 25).astype(np.float32)
        if (mask >= 0.5).sum() < 100:
            continue
        matte = r["colour"] not in METALLIC and r["category"] not in NON_MATTE_CATS
        finish = "matte" if matte else "glossy/metallic"
        for t in TARGETS:
            t0 = time.perf_counter()
            out = recolour(img, RecolourParams(color=t), mask)
            dt = time.perf_counter() - t0
            de = float(delta_e2000(median_lab(out, mask), target_lab(t)))
            de_n = float(delta_e2000(median_lab(naive(img, mask, t), mask), target_lab(t)))
            for key in ((finish, "all"), (finish, f"from {r['colour']}"), ("all", f"to {t}")):
                groups[key]["de"].append(de)
                groups[key]["naive"].append(de_n)
                groups[key]["t"].append(dt)
    results: list[dict[str, Any]] = []
    for (finish, case), g in sorted(groups.items()):
        de = np.asarray(g["de"])
        results.append(
            {
                "case": f"{finish}: {case}",
                "backend": "recolour",
                "n": int(de.size),
                **summarise_times(g["t"]),
                "ratio_vs_baseline": float("nan"),
                "de2000_median": float(np.median(de)),
                "de2000_mean": float(de.mean()),
                "de2000_p90": float(np.percentile(de, 90)),
                "de2000_max": float(de.max()),
                "share_le_3": float((de <= 3).mean()),
                "naive_hue_only_de2000_median": float(np.median(g["naive"])),
            }
        )
    path = write_results(
        "recolour",
        results,
        args.json,
        targets=TARGETS,
        baseline="hue-only recolour (target a*/b*, original L*), same photos",
        images=[r["id"] for r in picked],
    )
    print(f"{'case':40} {'n':>4} {'med':>5} {'p90':>5} {'max':>5} {'<=3':>5} {'naive':>6}")
    for r in results:
        print(
            f"{r['case'][:40]:40} {r['n']:4d} {r['de2000_median']:5.2f} {r['de2000_p90']:5.2f} "
            f"{r['de2000_max']:5.2f} {r['share_le_3']:5.0%} "
            f"{r['naive_hue_only_de2000_median']:6.2f}"
        )
    print(path)


if __name__ == "__main__":
    main()
