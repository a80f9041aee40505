"""Cut-out quality and speed: our backends against rembg on the same models.

Sets:
* ``real-product`` / ``real-all``: ../shared/data/cutout (DIS5K test photos, human masks),
  the 24 ``product_like`` items and all 59;
* ``studio``: those product-like objects composited onto five studio backgrounds with a
  soft shadow, noise and JPEG (see ``studio_set.py``).

Backends: ``classical`` (built in, no weights), ``u2netp`` and ``isnet`` (our ONNX path:
segmenter + plain-background refinement + cut-out), ``rembg-u2netp`` and ``rembg-isnet``
(rembg itself, same model files, ``only_mask=True``). Each backend runs in its own process so
its peak RSS is its own. The end-to-end case times the whole main job (decode → cut-out →
2000x2000 canvas → JPEG) against rembg + a Pillow compose on the same model. The "unsure"
flag is measured by ``cutout_unsure.py``; ``--backends classical`` alone gives the no-weights
rows (kept in their own results file).

Usage::

    pip install -c constraints.txt -r benchmarks/requirements.txt   # rembg baseline
    python benchmarks/cutout.py --json benchmarks/results/cutout.json
    python benchmarks/cutout.py --quick      # 4 objects per set, for a smoke run
    python benchmarks/cutout.py --sets "" --e2e 16 --json benchmarks/results/cutout_e2e.json
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import peak_rss_mb, shared_root, summarise_times, write_results

WEIGHTS = {"u2netp": "u2netp.onnx", "isnet": "isnet_general_quint8.onnx"}
REMBG_NAMES = {
    "u2netp": ("u2netp", "u2netp.onnx"),
    "isnet": ("isnet-general-use", "isnet-general-use.onnx"),
}


def _handheld_paths() -> list[Path]:
    """The hand-held in-store photos of ../shared/data/text (no ground truth)."""
    text = shared_root() / "data" / "text"
    rows = csv.DictReader((text / "manifest.csv").open())
    return [text / r["file"] for r in rows if "hand-held" in r["photo_kind"]]


def _items(
    set_name: str, limit: int | None
) -> list[tuple[str, str, np.ndarray, np.ndarray | None]]:
    from productstudio.imaging import load_image
    from studio_set import studio_items

    if set_name == "handheld":
        paths = _handheld_paths()[:limit] if limit else _handheld_paths()
        return [(p.stem, "handheld", load_image(p).pixels[..., :3], None) for p in paths]
    cut = shared_root() / "data" / "cutout"
    rows = list(csv.DictReader((cut / "manifest.csv").open()))
    product = [r["name"] for r in rows if r["product_like"] == "1"]
    if set_name == "studio":
        names = product[:limit] if limit else product
        return [(it.name, it.background, it.image, it.mask) for it in studio_items(cut, names)]
    names = product if set_name == "real-product" else [r["name"] for r in rows]
    names = names[:limit] if limit else names
    out = []
    for n in names:
        img = load_image(cut / "images" / f"{n}.jpg").pixels
        gt = load_image(cut / "masks" / f"{n}.png").pixels[..., 0]
        out.append((n, "photo", img, gt))
    return out


def _rembg_home(model: str) -> Path:
    """A temp U2NET_HOME holding our model file under rembg's name."""
    home = Path(tempfile.mkdtemp(prefix="rembg-home-"))
    src = shared_root() / "weights" / "segmentation" / WEIGHTS[model]
    os.symlink(src, home / REMBG_NAMES[model][1])
    return home


def _make_alpha_fn(backend: str) -> Any:
    if backend.startswith("rembg-"):
        model = backend.split("-", 1)[1]
        os.environ["U2NET_HOME"] = str(_rembg_home(model))
        os.environ["MODEL_CHECKSUM_DISABLED"] = "1"
        from PIL import Image
        from rembg import new_session, remove

        session = new_session(REMBG_NAMES[model][0])

        def rembg_alpha(img: np.ndarray) -> np.ndarray:
            return np.asarray(remove(Image.fromarray(img), session=session, only_mask=True))

        return rembg_alpha
    from productstudio.models.segmenters import load_segmenter
    from productstudio.ops.cutout import CutoutParams, cutout

    path = (
        "classical"
        if backend == "classical"
        else str(shared_root() / "weights" / "segmentation" / WEIGHTS[backend])
    )
    seg = load_segmenter(path)

    def ours(img: np.ndarray) -> np.ndarray:
        return np.asarray(cutout(img, seg.segment(img).mask, CutoutParams())[..., 3])

    return ours


def _eval_worker(backend: str, set_name: str, limit: int | None) -> dict[str, Any]:
    from productstudio.metrics.segmentation import evaluate_mask, soft_interior_share

    fn = _make_alpha_fn(backend)
    items = _items(set_name, limit)
    fn(items[0][2])  # warm-up (session creation, first-call allocations)
    rows = []
    for name, bg, img, gt in items:
        t = time.perf_counter()
        alpha = fn(img)
        dt = time.perf_counter() - t
        row = {"name": name, "background": bg, "seconds": dt}
        row["see_through"] = soft_interior_share(alpha)
        if gt is not None:
            row.update(evaluate_mask(alpha, gt, gradient=False).as_dict())
        rows.append(row)
    return {"rows": rows, "peak_rss_mb": peak_rss_mb()}


def _e2e_paths(n: int) -> list[Path]:
    cut = shared_root() / "data" / "cutout"
    rows = [r for r in csv.DictReader((cut / "manifest.csv").open()) if r["product_like"] == "1"]
    return [cut / "images" / f"{r['name']}.jpg" for r in rows[:n]]


def _run_worker(model: str, n: int) -> dict[str, Any]:
    """`productstudio run` as shipped: the batch runner with its default worker processes,
    timed from start (pool start-up and model loading included) to the last file."""
    import resource

    from productstudio.catalog import JobSpec, RunOptions, default_workers, run_catalog

    paths = _e2e_paths(n)
    out = Path(tempfile.mkdtemp(prefix="e2e-run-"))
    src = Path(tempfile.mkdtemp(prefix="e2e-src-"))
    for i, p in enumerate(paths):
        os.symlink(p, src / f"{i}{p.suffix}")
    spec = JobSpec(model=str(shared_root() / "weights" / "segmentation" / WEIGHTS[model]))
    workers = default_workers()
    t = time.perf_counter()
    report = run_catalog(
        src,
        out,
        spec,
        RunOptions(workers=workers, store="sqlite://", manifest="none"),  # type: ignore[arg-type]
    )
    total = time.perf_counter() - t
    assert report.done == len(paths), report.failures
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(src, ignore_errors=True)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return {
        "total_s": total,
        "n": len(paths),
        "workers": workers,
        "peak_rss_mb": max(peak_rss_mb(), children),
    }


def _e2e_worker(backend: str, n: int) -> dict[str, Any]:
    paths = _e2e_paths(n)
    out = Path(tempfile.mkdtemp(prefix="e2e-"))
    times = []
    t_start = time.perf_counter()
    if backend.startswith("rembg-"):
        one = _rembg_main_image(backend.split("-", 1)[1], out)
    else:
        from productstudio.catalog.worker import JobSpec, MainImageWorker, Task

        worker = MainImageWorker(
            JobSpec(model=str(shared_root() / "weights" / "segmentation" / WEIGHTS[backend]))
        )

        def one(p: Path, i: int) -> None:
            res = worker(Task(str(i), p, out / f"{i}.jpg"))
            assert res.output is not None, res.message

    one(paths[0], -1)  # warm-up
    for i, p in enumerate(paths):
        t = time.perf_counter()
        one(p, i)
        times.append(time.perf_counter() - t)
    total = time.perf_counter() - t_start  # session creation and warm-up included
    shutil.rmtree(out, ignore_errors=True)
    return {"times": times, "total_s": total, "peak_rss_mb": peak_rss_mb()}


def _check_paths() -> dict[str, list[Path]]:
    """Photos whose `run` output is checked: hand-held, DIS5K product-like, packshots."""
    cut = shared_root() / "data" / "cutout"
    text = shared_root() / "data" / "text"
    product = [r for r in csv.DictReader((cut / "manifest.csv").open()) if r["product_like"] == "1"]
    packshots = [
        r for r in csv.DictReader((text / "manifest.csv").open()) if "hand" not in r["photo_kind"]
    ]
    return {
        "handheld": _handheld_paths(),
        "real-product": [cut / "images" / f"{r['name']}.jpg" for r in product],
        "packshot": [text / r["file"] for r in packshots],
    }


def _check_worker(backend: str, set_name: str) -> dict[str, Any]:
    """`run`'s output (or rembg + Pillow's) for each photo, judged by `check --preset
    amazon-main` (text detector included, as the command runs it)."""
    from productstudio.recipes import check_file, load_recipe

    paths = _check_paths()[set_name]
    out = Path(tempfile.mkdtemp(prefix="check-"))
    rules = load_recipe("amazon-main").rules
    if backend.startswith("rembg-"):
        one = _rembg_main_image(backend.split("-", 1)[1], out)
    else:
        from productstudio.catalog.worker import JobSpec, MainImageWorker, Task

        model = (
            "classical"
            if backend == "classical"
            else str(shared_root() / "weights" / "segmentation" / WEIGHTS[backend])
        )
        worker = MainImageWorker(JobSpec(model=model))

        def one(p: Path, i: int) -> None:
            worker(Task(str(i), p, out / f"{i}.jpg"))  # a failed item writes nothing

    verdicts = []
    for i, p in enumerate(paths):
        one(p, i)
        if not (out / f"{i}.jpg").exists():
            verdicts.append({"name": p.stem, "verdict": "fail", "fail": ["run"], "warn": []})
            continue
        rep = check_file(out / f"{i}.jpg", rules, preset="amazon-main")
        failed = [r.rule for r in rep.results if r.status.value == "fail"]
        warned = [r.rule for r in rep.results if r.status.value == "warn"]
        verdicts.append(
            {"name": p.stem, "verdict": rep.verdict.value, "fail": failed, "warn": warned}
        )
    shutil.rmtree(out, ignore_errors=True)
    return {"rows": verdicts}


def _rembg_main_image(model: str, out: Path) -> Any:
    """rembg + Pillow: the cut-out on a 2000x2000 white canvas at 85 % of the alpha box."""
    os.environ["U2NET_HOME"] = str(_rembg_home(model))
    os.environ["MODEL_CHECKSUM_DISABLED"] = "1"
    from PIL import Image
    from rembg import new_session, remove

    session = new_session(REMBG_NAMES[model][0])

    def one(p: Path, i: int) -> None:
        im = Image.open(p).convert("RGB")
        cut_ = remove(im, session=session)
        box = cut_.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
        obj = cut_.crop(box)
        s = min(1700 / obj.width, 1700 / obj.height)
        obj = obj.resize(
            (max(1, round(obj.width * s)), max(1, round(obj.height * s))), Image.LANCZOS
        )
        canvas = Image.new("RGB", (2000, 2000), (255, 255, 255))
        canvas.paste(obj, ((2000 - obj.width) // 2, (2000 - obj.height) // 2), obj)
        canvas.save(out / f"{i}.jpg", quality=92)

    return one


def _in_child(target: Any, *args: Any) -> dict[str, Any]:
    """Run ``target`` in a fresh process (its own peak RSS); its exceptions re-raise here."""
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(target, *args).result()  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--sets", default="handheld,real-product,studio,real-all")
    ap.add_argument("--backends", default="classical,u2netp,rembg-u2netp,isnet,rembg-isnet")
    ap.add_argument(
        "--studio-backends",
        default="classical,u2netp,rembg-u2netp",
        help="backends for the studio set (IS-Net there costs ~10 min more: add isnet,rembg-isnet)",
    )
    ap.add_argument("--limit", type=int, default=None, help="objects per set")
    ap.add_argument("--e2e", type=int, default=8, help="photos for the end-to-end case (0 = skip)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--check-sets",
        default="handheld,real-product,packshot",
        help="sets whose `run` outputs are judged by `check --preset amazon-main` ('' = skip)",
    )
    args = ap.parse_args()
    limit = 4 if args.quick else args.limit
    results: list[dict[str, Any]] = []
    backends = args.backends.split(",")
    for set_name in filter(None, args.sets.split(",")):
        for backend in args.studio_backends.split(",") if set_name == "studio" else backends:
            if set_name == "real-all" and backend == "classical":
                continue  # cluttered scenes are out of the classical backend's scope
            t0 = time.time()
            res = _in_child(_eval_worker, backend, set_name, limit)
            rows = res["rows"]
            times = [r["seconds"] for r in rows]
            entry: dict[str, Any] = {
                "case": f"cutout/{set_name}",
                "backend": backend,
                "n": len(rows),
                **summarise_times(times),
                "peak_rss_mb": round(res["peak_rss_mb"], 1),
            }
            see = np.array([r["see_through"] for r in rows], float)
            entry["see_through_mean"] = round(float(see.mean()), 4)
            entry["see_through_over_2pct"] = round(float((see > 0.02).mean()), 3)
            if "iou" in rows[0]:
                for key in ("iou", "boundary_f", "sad", "mse"):
                    vals = np.array([r[key] for r in rows], float)
                    entry[f"{key}_mean"] = round(float(vals.mean()), 4)
                    entry[f"{key}_median"] = round(float(np.median(vals)), 4)
            if set_name == "studio":
                entry["iou_by_background"] = {
                    bg: round(float(np.mean([r["iou"] for r in rows if r["background"] == bg])), 4)
                    for bg in sorted({r["background"] for r in rows})
                }
            baseline = f"rembg-{backend}" if backend in WEIGHTS else None
            entry["baseline"] = baseline
            results.append(entry)
            quality = (
                f"IoU {entry['iou_mean']:.4f} BF {entry['boundary_f_mean']:.4f} "
                if "iou_mean" in entry
                else ""
            )
            print(
                f"{set_name:13s} {backend:13s} n={entry['n']:3d} {quality}"
                f"see-through {entry['see_through_mean']:.3f} "
                f"t {entry['median_s']:.3f}s RSS {entry['peak_rss_mb']:.0f}MB "
                f"({time.time() - t0:.0f}s)",
                flush=True,
            )
    # speed ratios against rembg on the same model, same set
    by_key = {(r["case"], r["backend"]): r for r in results}
    for r in results:
        b = r.get("baseline")
        if b and (r["case"], b) in by_key:
            r["ratio_vs_baseline"] = round(r["median_s"] / by_key[(r["case"], b)]["median_s"], 3)
    for set_name in filter(None, args.check_sets.split(",")):
        for backend in backends:
            res = _in_child(_check_worker, backend, set_name)
            rows = res["rows"]
            passed = [r for r in rows if r["verdict"] != "fail"]
            entry = {
                "case": f"check/run-output/{set_name}",
                "backend": backend if backend.startswith("rembg") else f"run-{backend}",
                "n": len(rows),
                "pass_share": round(len(passed) / len(rows), 3),
                "clean_share": round(sum(r["verdict"] == "pass" for r in rows) / len(rows), 3),
                "failed_rules": sorted({f for r in rows for f in r["fail"]}),
                "warned_rules": sorted({w for r in rows for w in r["warn"]}),
                "rows": rows,
            }
            results.append(entry)
            print(
                f"check {set_name:13s} {entry['backend']:14s} pass {entry['pass_share']:.0%} "
                f"no warning {entry['clean_share']:.0%} fails: {entry['failed_rules']}",
                flush=True,
            )
    if args.e2e:
        for model in ("u2netp", "isnet"):
            pair = {}
            for backend in (model, f"rembg-{model}"):
                if backend not in backends:
                    continue
                res = _in_child(_e2e_worker, backend, args.e2e)
                t = summarise_times(res["times"])
                pair[backend] = t["median_s"]
                results.append(
                    {
                        "case": "e2e/main-image-2000px",
                        "backend": backend,
                        "n": len(res["times"]),
                        **t,
                        "images_per_s": round(1.0 / t["median_s"], 3),
                        "total_s": round(res["total_s"], 3),
                        "peak_rss_mb": round(res["peak_rss_mb"], 1),
                        "baseline": f"rembg-{model}+pillow" if backend == model else None,
                    }
                )
                print(
                    f"e2e {backend:13s} median {t['median_s']:.3f}s RSS {res['peak_rss_mb']:.0f}MB",
                    flush=True,
                )
            if len(pair) == 2:
                results[-2]["throughput_ratio_vs_baseline"] = round(
                    pair[f"rembg-{model}"] / pair[model], 3
                )
            if model in backends:
                res = _in_child(_run_worker, model, args.e2e)
                ips = res["n"] / res["total_s"]
                rembg_rows = [
                    r
                    for r in results
                    if r["case"].startswith("e2e/") and r["backend"] == f"rembg-{model}"
                ]
                entry = {
                    "case": "e2e/run-batch-2000px",
                    "backend": f"run-{model}",
                    "n": res["n"],
                    "workers": res["workers"],
                    "total_s": round(res["total_s"], 3),
                    "images_per_s": round(ips, 3),
                    "peak_rss_mb": round(res["peak_rss_mb"], 1),
                    "baseline": f"rembg-{model}+pillow, sequential, session creation included",
                }
                if rembg_rows:
                    base = rembg_rows[0]
                    entry["throughput_ratio_vs_baseline"] = round(
                        ips / ((base["n"] + 1) / base["total_s"]), 3
                    )
                results.append(entry)
                print(
                    f"e2e run-{model}: {ips:.3f} img/s RSS {res['peak_rss_mb']:.0f}MB", flush=True
                )
    path = write_results(
        "cutout",
        results,
        args.json,
        threads=os.environ.get("PRODUCTSTUDIO_THREADS", "auto"),
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
