"""The classical (no-weights) segmenter on studio composites, white products included.

Every object of ../shared/data/cutout (59 photos with human masks, or ``--product-only``) is
composited by ``studio_set.py`` onto the five studio backgrounds in its own colours, and — the
white-on-white case — recoloured to a near-white product (``white``) and to white packaging
with a coloured label band (``white-label``) on the white and grey sweeps. For each composite:

* ``iou_seg``: IoU of the segmenter's own mask (``ClassicalSegmenter().segment``),
* ``iou``, ``boundary_f``: IoU / boundary-F of the alpha a user gets (``ops.cutout.cutout``
  with its defaults, as ``benchmarks/cutout.py`` measures it),
* ``seconds``: segmentation time, one thread,
* the segmenter's internal statistics (border noise, outliers, separation, how much the
  white-part recovery added, ...) — to see which of them predict a bad cut-out (IoU < 0.90).

Also: seconds per 2-megapixel photo (composites at 1448 px), and — when IS-Net weights are in
``../shared/weights`` — agreement with IS-Net on the 81 GroceryStoreDataset iconic packshots
(real white-on-white cartons; no human masks exist, so this is agreement, not accuracy).

Usage::

    # → benchmarks/results/classical.json (the committed run: --every 3, 20 of 59 objects)
    OMP_NUM_THREADS=1 python benchmarks/classical.py --every 3 --no-iconic --sheet SHEET.png
    python benchmarks/classical.py --limit 6 --no-iconic --json /tmp/c.json   # a smoke run
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import shared_root, summarise_times, write_results
from studio_set import BACKGROUNDS, Finish, compose, studio_items

BAD_IOU = 0.90
STAT_KEYS = (
    "noise",
    "border_outliers",
    "separation",
    "border_fg",
    "recovered",
    "recovered_regions",
    "shadow_removed",
    "holes_kept",
    "fg_fraction",
)


def _set_name(background: str, finish: str) -> str:
    return background if finish == Finish.ORIGINAL else f"{finish}/{background}"


def evaluate(
    names: list[str], product_like: dict[str, bool], sheet: Path | None = None
) -> list[dict[str, Any]]:
    """One row per composite and variant: ``before`` (colour model only, ``white_parts=False``,
    the segmenter as it was) and ``after`` (with the white-part recovery), in the same run."""
    import cv2

    from productstudio.metrics.segmentation import evaluate_mask, iou
    from productstudio.models.segmenters.classical import ClassicalConfig, ClassicalSegmenter
    from productstudio.ops.cutout import cutout

    cv2.setNumThreads(1)
    variants = {
        "before": ClassicalSegmenter(ClassicalConfig(white_parts=False)),
        "after": ClassicalSegmenter(),
    }
    cut = shared_root() / "data" / "cutout"
    rows = []
    tiles: list[np.ndarray] = []
    finishes = (Finish.ORIGINAL, Finish.WHITE, Finish.WHITE_LABEL)
    for it in studio_items(cut, names, finishes=finishes):
        row_tiles = [_tile(it.image, it.mask.astype(np.float32) / 255.0)]
        for variant, seg in variants.items():
            t = time.perf_counter()
            s = seg.segment(it.image)
            dt = time.perf_counter() - t
            stats = dict(seg.last_stats)
            alpha = cutout(it.image, s.mask)[..., 3]
            sc = evaluate_mask(alpha, it.mask, gradient=False)
            row_tiles.append(_tile(it.image, alpha.astype(np.float32) / 255.0))
            rows.append(
                {
                    "variant": variant,
                    "name": it.name,
                    "product_like": product_like[it.name],
                    "background": it.background,
                    "finish": str(it.finish),
                    "set": _set_name(it.background, it.finish),
                    "seconds": round(dt, 4),
                    "iou_seg": round(iou(s.mask, it.mask), 4),
                    "iou": round(sc.iou, 4),
                    "boundary_f": round(sc.boundary_f, 4),
                    "confidence": round(s.confidence, 3),
                    **{k: round(float(stats.get(k, float("nan"))), 4) for k in STAT_KEYS},
                }
            )
        if it.finish is not Finish.ORIGINAL or it.background == "white-sweep":
            tiles.append(np.concatenate(row_tiles, 1))
    if sheet is not None and tiles:
        _write_sheet(sheet, tiles)
    return rows


TILE = 112


def _tile(img: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``img`` with ``alpha`` over a magenta backdrop (what is cut away shows magenta)."""
    import cv2

    t = cv2.resize(img, (TILE, TILE), interpolation=cv2.INTER_AREA).astype(np.float32)
    a = cv2.resize(alpha, (TILE, TILE), interpolation=cv2.INTER_AREA)[..., None]
    return (t * a + np.array([255.0, 0, 255]) * (1 - a)).astype(np.uint8)


def _write_sheet(path: Path, rows: list[np.ndarray], cols: int = 3) -> None:
    """Rows of (ground truth | before | after) tiles, ``cols`` composites side by side."""
    import cv2

    gap = np.full((rows[0].shape[0], 6, 3), 40, np.uint8)
    rows = [np.concatenate([r, gap], 1) for r in rows]
    rows += [np.zeros_like(rows[0])] * (-len(rows) % cols)
    grid = np.concatenate(
        [np.concatenate(rows[i : i + cols], 1) for i in range(0, len(rows), cols)], 0
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean/median per variant and set, and pooled groups (white products, original colours)."""
    out = []
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        v = r["variant"]
        groups.setdefault((v, r["set"]), []).append(r)
        if r["finish"] == Finish.ORIGINAL:
            groups.setdefault((v, "ALL original colours"), []).append(r)
        if r["background"] in ("white-sweep", "grey-sweep"):
            groups.setdefault((v, "ALL white+grey sweeps"), []).append(r)
            if r["finish"] != Finish.ORIGINAL:
                groups.setdefault((v, "ALL white products"), []).append(r)
        else:
            groups.setdefault((v, "ALL paper+wood+gradient"), []).append(r)
    for (variant, key), rs in groups.items():
        iou_cut = np.array([r["iou"] for r in rs])
        iou_seg = np.array([r["iou_seg"] for r in rs])
        bf = np.array([r["boundary_f"] for r in rs])
        out.append(
            {
                "case": f"classical/studio/{key}",
                "variant": variant,
                "backend": "classical",
                "n": len(rs),
                **summarise_times([r["seconds"] for r in rs]),
                "iou_mean": round(float(iou_cut.mean()), 4),
                "iou_median": round(float(np.median(iou_cut)), 4),
                "iou_seg_mean": round(float(iou_seg.mean()), 4),
                "iou_seg_median": round(float(np.median(iou_seg)), 4),
                "boundary_f_mean": round(float(bf.mean()), 4),
                "share_iou_below_0.90": round(float((iou_cut < BAD_IOU).mean()), 4),
            }
        )
    return out


def predictors(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How well each internal statistic separates bad cut-outs (IoU < 0.90) from good ones.

    Per statistic: its median among bad and good items, Spearman's rho with IoU, and the
    ROC AUC of the statistic (or its negative, whichever is larger) for "bad".
    """
    from scipy.stats import mannwhitneyu, spearmanr

    ious = np.array([r["iou"] for r in rows])
    bad = ious < BAD_IOU
    table = {}
    for k in (*STAT_KEYS, "confidence"):
        v = np.array([r[k] for r in rows], float)
        ok = np.isfinite(v)
        if ok.sum() < 10 or bad[ok].all() or not bad[ok].any():
            continue
        rho = float(spearmanr(v[ok], ious[ok]).statistic)
        u = float(mannwhitneyu(v[ok][bad[ok]], v[ok][~bad[ok]]).statistic)
        auc = u / (bad[ok].sum() * (~bad[ok]).sum())
        table[k] = {
            "median_bad": round(float(np.median(v[ok][bad[ok]])), 4),
            "median_good": round(float(np.median(v[ok][~bad[ok]])), 4),
            "spearman_vs_iou": round(rho, 3),
            "auc_for_bad": round(float(max(auc, 1 - auc)), 3),
            "bad_is_high": bool(auc >= 0.5),
        }
    return {"n": len(rows), "n_bad": int(bad.sum()), "statistics": table}


def speed_2mp(names: list[str]) -> dict[str, Any]:
    """Seconds per 2-MP photo (1448x1448 composites), one thread, median over ``names``."""
    import cv2

    from productstudio.imaging import load_image
    from productstudio.models.segmenters.classical import ClassicalSegmenter

    cv2.setNumThreads(1)
    cut = shared_root() / "data" / "cutout"
    seg = ClassicalSegmenter()
    times = []
    for i, name in enumerate(names):
        photo = load_image(cut / "images" / f"{name}.jpg").pixels
        mask = load_image(cut / "masks" / f"{name}.png").pixels[..., 0]
        for finish in (Finish.ORIGINAL, Finish.WHITE):
            img, _ = compose(photo, mask, "white-sweep", size=1448, seed=i, finish=finish)
            seg.segment(img)  # warm-up of this size
            t = time.perf_counter()
            seg.segment(img)
            times.append(time.perf_counter() - t)
    return {"case": "classical/speed-2mp", "backend": "classical", "n": len(times)} | (
        summarise_times(times)
    )


def iconic(sheet: Path | None) -> dict[str, Any] | None:
    """Agreement (IoU) with IS-Net on the 81 iconic grocery packshots, and a contact sheet."""
    import cv2

    from productstudio.imaging import load_image
    from productstudio.metrics.segmentation import iou
    from productstudio.models.segmenters import load_segmenter
    from productstudio.models.segmenters.classical import ClassicalConfig, ClassicalSegmenter

    weights = shared_root() / "weights" / "segmentation" / "isnet_general_quint8.onnx"
    prod = shared_root() / "data" / "products"
    if not weights.exists() or not prod.exists():
        return None
    with (prod / "metadata.csv").open(newline="", encoding="utf-8") as fh:
        files = [r["file"] for r in csv.DictReader(fh) if r["source"] == "grocery-iconic"]
    isnet = load_segmenter(str(weights))
    seg = ClassicalSegmenter()
    before = ClassicalSegmenter(ClassicalConfig(white_parts=False))
    scores, scores_before, tiles = [], [], []
    for f in files:
        img = load_image(prod / f).pixels[..., :3]
        ref = isnet.segment(img).mask
        ours = seg.segment(img).mask
        scores.append(iou(ours, ref))
        scores_before.append(iou(before.segment(img).mask, ref))
        if sheet is not None:
            tile = cv2.resize(img, (128, 128), interpolation=cv2.INTER_AREA).astype(np.float32)
            a = cv2.resize(ours, (128, 128), interpolation=cv2.INTER_AREA)[..., None]
            tiles.append((tile * a + np.array([255.0, 0, 255]) * (1 - a)).astype(np.uint8))
    if sheet is not None and tiles:
        cols = 9
        tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % cols)
        grid = np.concatenate(
            [np.concatenate(tiles[i : i + cols], 1) for i in range(0, len(tiles), cols)], 0
        )
        sheet.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(sheet), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    a = np.array(scores)
    return {
        "case": "classical/iconic-packshots-vs-isnet",
        "backend": "classical",
        "n": len(a),
        "agreement_iou_mean": round(float(a.mean()), 4),
        "agreement_iou_mean_before": round(float(np.mean(scores_before)), 4),
        "agreement_iou_median": round(float(np.median(a)), 4),
        "share_below_0.90": round(float((a < BAD_IOU).mean()), 4),
        "worst": sorted(zip(files, np.round(a, 3).tolist(), strict=True), key=lambda x: x[1])[:8],
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=None, help="objects (default: all 59)")
    ap.add_argument("--every", type=int, default=1, help="every n-th object (a spread subset)")
    ap.add_argument("--product-only", action="store_true", help="only product_like objects")
    ap.add_argument("--no-iconic", action="store_true", help="skip the IS-Net agreement set")
    ap.add_argument(
        "--sheet", type=Path, default=None, help="contact sheet: GT | before | after (PNG)"
    )
    ap.add_argument("--iconic-sheet", type=Path, default=None, help="sheet of the packshots")
    ap.add_argument("--rows", action="store_true", help="keep every per-item row in the JSON")
    args = ap.parse_args()
    cut = shared_root() / "data" / "cutout"
    with (cut / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        manifest = list(csv.DictReader(fh))
    plike = {r["name"]: r["product_like"] == "1" for r in manifest}
    names = [r["name"] for r in manifest if plike[r["name"]] or not args.product_only]
    names = names[:: args.every]
    names = names[: args.limit] if args.limit else names
    rows = evaluate(names, plike, args.sheet)
    results = summarise(rows)
    for r in sorted(results, key=lambda r: (r["case"], r["variant"] == "after")):
        print(
            f"{r['case']:48s} {r['variant']:6s} n={r['n']:3d} IoU mean {r['iou_mean']:.4f} median "
            f"{r['iou_median']:.4f} (seg {r['iou_seg_mean']:.4f}) "
            f"bF {r['boundary_f_mean']:.4f} <0.90 "
            f"{r['share_iou_below_0.90']:.2f}  {r['median_s']:.3f}s",
            flush=True,
        )
    pred = predictors([r for r in rows if r["variant"] == "after"])
    print(f"bad (IoU < {BAD_IOU}): {pred['n_bad']} of {pred['n']}")
    for k, v in pred["statistics"].items():
        print(f"  {k:18s} {v}")
    results.append(speed_2mp(names[:6]))
    print(f"2 MP: {results[-1]['median_s']:.3f} s/image", flush=True)
    if not args.no_iconic:
        ic = iconic(args.iconic_sheet)
        if ic is not None:
            results.append(ic)
            print(f"iconic vs IS-Net: {ic}", flush=True)
    path = write_results(
        "classical",
        results,
        args.json,
        objects=len(names),
        object_names=names,
        finishes=[str(f) for f in Finish],
        variants={"before": "ClassicalConfig(white_parts=False)", "after": "ClassicalConfig()"},
        backgrounds=list(BACKGROUNDS),
        predictors=pred,
        **({"rows": rows} if args.rows else {}),
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
