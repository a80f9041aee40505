"""Which segmenter should `--model auto` download on a first run? U²-Netp against IS-Net.

Raw model masks (no refinement, no opacity decision: what the download itself brings), same
run, one thread each:

* ``handheld``: the 12 hand-held in-store photos of ../shared/data/text (no ground truth):
  foreground share, and the see-through score = share of the product area (mask > 0.5) whose
  interior alpha (away from the outline by 1.5 % of the long side) lies in (0.1, 0.9).
* ``gt``: the first N ``product_like`` photos of ../shared/data/cutout (DIS5K test, human
  masks): IoU at 0.5. Caveat: IS-Net was trained on DIS5K-TR, so this is its home ground.

The files are the ones in ../shared/weights: ``u2netp.onnx`` (rembg's graph, fp16-rounded
weights) and ``isnet_general_quint8.onnx`` (IS-Net quantised to 8 bits; the first-run
download would be rembg's fp32 ``isnet-general-use.onnx``, 178.6 MB, about 2-3x slower).

Usage::

    python benchmarks/first_run_model.py --json benchmarks/results/first_run_model.json
    python benchmarks/first_run_model.py --gt 0        # hand-held photos only
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("PRODUCTSTUDIO_THREADS", "1")

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import shared_root, summarise_times, write_results

MODELS = {
    "u2netp": ("u2netp", "u2netp.onnx"),
    "isnet": ("isnet-general-use", "isnet_general_quint8.onnx"),
}


def see_through(prob: np.ndarray) -> float:
    """Share of the product area (prob > 0.5) that is interior yet soft (0.1 < prob < 0.9)."""
    product = prob > 0.5
    if not product.any():
        return 0.0
    band = max(3, round(0.015 * max(prob.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    interior = cv2.erode((prob > 0.1).astype(np.uint8), kernel).astype(bool)
    soft = interior & (prob < 0.9)
    return float(soft.sum() / product.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--gt", type=int, default=8, help="product-like GT photos (0 = none)")
    args = ap.parse_args()
    load_before = os.getloadavg()

    from productstudio.imaging import load_image
    from productstudio.models.segmenters import SEGMENTERS
    from productstudio.models.segmenters.onnx import OnnxSegmenter

    weights = shared_root() / "weights" / "segmentation"
    segs = {k: OnnxSegmenter(name, weights / f) for k, (name, f) in MODELS.items()}
    text = shared_root() / "data" / "text"
    rows = [
        r for r in csv.DictReader((text / "manifest.csv").open()) if "hand-held" in r["photo_kind"]
    ]
    handheld = [(r["name"], load_image(text / r["file"]).pixels, None) for r in rows]
    cut = shared_root() / "data" / "cutout"
    names = [
        r["name"] for r in csv.DictReader((cut / "manifest.csv").open()) if r["product_like"] == "1"
    ][: args.gt]
    gt = [
        (
            n,
            load_image(cut / "images" / f"{n}.jpg").pixels,
            load_image(cut / "masks" / f"{n}.png").pixels[..., 0] >= 128,
        )
        for n in names
    ]
    results: list[dict[str, Any]] = []
    for set_name, items in (("handheld", handheld), ("gt", gt)):
        if not items:
            continue
        for key, seg in segs.items():
            seg.predict(items[0][1])  # warm-up
            times, st, fg, iou = [], [], [], []
            for _name, img, mask in items:
                t = time.perf_counter()
                prob = seg.predict(img)
                times.append(time.perf_counter() - t)
                st.append(see_through(prob))
                fg.append(float((prob > 0.5).mean()))
                if mask is not None:
                    pred = prob > 0.5
                    iou.append(float((pred & mask).sum() / max(1, (pred | mask).sum())))
            entry = SEGMENTERS.get(MODELS[key][0])
            row: dict[str, Any] = {
                "case": set_name,
                "backend": key,
                "file": MODELS[key][1],
                "download_bytes": entry.size,
                "n": len(items),
                **summarise_times(times),
                "see_through_mean": float(np.mean(st)),
                "see_through_median": float(np.median(st)),
                "share_over_2pct": float(np.mean(np.asarray(st) > 0.02)),
                "foreground_mean": float(np.mean(fg)),
            }
            if iou:
                row["iou_mean"] = float(np.mean(iou))
                row["iou_min"] = float(np.min(iou))
            results.append(row)
            print(row, flush=True)
    for set_name in ("handheld", "gt"):
        rs = {r["backend"]: r for r in results if r["case"] == set_name}
        if len(rs) == 2:
            rs["u2netp"]["speedup_vs_isnet"] = rs["isnet"]["median_s"] / rs["u2netp"]["median_s"]
    path = write_results(
        "first_run_model",
        results,
        args.json,
        command=" ".join(sys.argv),
        threads=1,
        load_avg_before=load_before,
    )
    print(path)


if __name__ == "__main__":
    main()
