"""Shared benchmark plumbing: run metadata, robust timing summaries, JSON output.

Every benchmark writes ``{"metadata": {...}, "results": [...]}`` (see ../shared/STYLE.md).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# Load averages when the benchmark started (this module is imported first thing): numbers are
# taken on a shared machine, so every JSON says how loaded it was before and after the run.
LOAD_BEFORE = os.getloadavg()
STARTED = time.time()
DISTRIBUTIONS = (
    "productstudio",
    "numpy",
    "opencv-contrib-python-headless",
    "onnxruntime",
    "pillow",
    "scipy",
    "scikit-image",
    "torch",
    "rapidocr-onnxruntime",
    "rembg",
)
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "PRODUCTSTUDIO_THREADS",
)


def shared_root() -> Path:
    env = os.environ.get("PRODUCTSTUDIO_SHARED")
    return Path(env) if env else ROOT.parent / "shared"


def product_like(n: int | None = None) -> list[tuple[str, Path]]:
    """(name, photo path) of the ``product_like`` items of ../shared/data/cutout, in CSV order."""
    import csv

    root = shared_root() / "data" / "cutout"
    with (root / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r["name"] for r in csv.DictReader(fh) if r["product_like"] == "1"]
    return [(name, root / "images" / f"{name}.jpg") for name in rows[:n]]


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return ""


def _threads() -> dict[str, Any]:
    """Thread settings in force: the environment, and what cv2/torch actually use if loaded."""
    out: dict[str, Any] = {k: os.environ.get(k) for k in THREAD_VARS}
    if "cv2" in sys.modules:
        out["cv2"] = sys.modules["cv2"].getNumThreads()
    if "torch" in sys.modules:
        out["torch"] = sys.modules["torch"].get_num_threads()
    return out


def command() -> str:
    """The command line that ran this benchmark, as a user would type it from the repo root."""
    return " ".join(["python", *(_from_root(a) for a in sys.argv)])


def _from_root(arg: str) -> str:
    """``arg`` as typed from the repo root: an absolute path inside the repo or beside it
    (``../shared``, ``../models``) relative to the root, anything else unchanged."""
    if not os.path.isabs(arg):
        return arg
    rel = os.path.relpath(arg, ROOT)
    return rel if not rel.startswith(os.path.join("..", "..")) else arg


def metadata(**extra: Any) -> dict[str, Any]:
    """Command, git commit (and whether the tree was dirty), versions, threads, CPU and load."""
    threads = _threads()  # before anything below could import torch
    versions = {}
    for dist in DISTRIBUTIONS:  # installed versions, read without importing the packages
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no", "--", "src", "benchmarks"))
    return {
        "command": command(),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": dirty,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "load_avg_before": list(LOAD_BEFORE),
        "load_avg_after": list(os.getloadavg()),
        "wall_s": round(time.time() - STARTED, 1),
        "versions": versions,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **extra,
    }


def summarise_times(times: Sequence[float]) -> dict[str, float]:
    """Median and inter-quartile range in seconds."""
    a = np.asarray(times, float)
    if a.size == 0:
        return {"median_s": float("nan"), "iqr_s": float("nan")}
    q1, q2, q3 = np.percentile(a, [25, 50, 75])
    return {"median_s": float(q2), "iqr_s": float(q3 - q1)}


def timeit(fn: Callable[[], Any], repeat: int = 5, warmup: int = 1) -> list[float]:
    """Wall times of ``repeat`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bbox_ssim(a: np.ndarray, b: np.ndarray, m: np.ndarray) -> float:
    """SSIM of two uint8 RGB images over the bounding box of mask ``m`` (at least 7 px)."""
    from skimage.metrics import structural_similarity

    ys, xs = np.nonzero(m)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    if min(y1 - y0, x1 - x0) < 7:
        y0, x0 = max(0, y0 - 4), max(0, x0 - 4)
        y1, x1 = y1 + 4, x1 + 4
    return float(
        structural_similarity(a[y0:y1, x0:x1], b[y0:y1, x0:x1], channel_axis=2, data_range=255)
    )


def write_results(
    name: str, results: list[dict[str, Any]], path: Path | None = None, **meta: Any
) -> Path:
    """Write the benchmark JSON and return its path."""
    target = path or RESULTS / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"metadata": metadata(**meta), "results": results}, indent=2) + "\n"
    tmp = target.with_suffix(".json.part")
    tmp.write_text(text)
    os.replace(tmp, target)
    return target
