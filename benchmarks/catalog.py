"""Whole-catalogue runs: runners, scheduling overhead, store overhead, concurrent runners.

On N real photos from ../shared/data/products (GroceryStoreDataset packshots and in-store
photos, long side ≤ 256 px; MIT), the main job with the U²-Netp segmenter (weights from
../shared/weights) on a ``--canvas`` px square JPEG:

* items/min for ``serial`` (1 thread), ``local`` (2 processes × 1 thread) and ``ray`` (local
  Ray with 2 CPUs, 2 actors × 1 thread), each timed from the call to the last commit (worker
  start-up and model loading included; Ray's own ``ray.init`` is timed apart); peak RSS per
  worker; store time per item;
* per-item scheduling overhead of each runner with a no-op recipe (only an ``output`` step: read,
  decode, encode, write a small photo) and, through the runner API alone, a worker that does
  nothing;
* store overhead, SQLite vs PostgreSQL, on the same local(2) job;
* three ``productstudio run`` processes on one PostgreSQL catalogue: duplicates (must be 0).

Ratios are measured in the same run (the machine is shared: load averages are recorded).

Usage::

    PRODUCTSTUDIO_BENCH_PG=postgresql+psycopg://postgres@127.0.0.1:55432/catalog \\
        python benchmarks/catalog.py --json benchmarks/results/catalog.json
    python benchmarks/catalog.py --n 40 --quick          # a smoke run
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import shared_root, write_results
from productstudio.catalog import JobSpec, RunOptions, run_catalog
from productstudio.catalog._driver import scope_of
from productstudio.catalog.store import JobStore, Status
from productstudio.catalog.worker import ItemResult, Task
from productstudio.ops.canvas import CanvasParams


class NoopWorker:
    """A worker that does nothing: what is left is the runner's own cost."""

    def __init__(self, *args: Any) -> None:
        pass

    def process_batch(self, tasks: list[Task]) -> list[ItemResult]:
        return [
            ItemResult(t.key, t.source, t.output, Status.DONE, item_id=t.item_id) for t in tasks
        ]


def _photos(n: int, dest: Path) -> list[Path]:
    folder = shared_root() / "data" / "products" / "images"
    picks = sorted(folder.glob("grocery*.jpg"))[:n]
    if len(picks) < n:
        sys.exit(f"only {len(picks)} grocery photos in {folder}")
    dest.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(p, dest / p.name)) for p in picks]


def _row(case: str, s: Any, n: int, wall: float, **extra: Any) -> dict[str, Any]:
    work = s.done + s.failed
    rss = sorted(s.peak_rss_mb.values())
    return {
        "case": case,
        "n": n,
        "done": s.done,
        "failed": s.failed,
        "wall_s": round(wall, 3),
        "items_per_min": round(60.0 * work / wall, 2) if wall else None,
        "s_per_item": round(wall / max(1, work), 4),
        "store_s": round(s.store_seconds, 3),
        "store_ms_per_item": round(1000.0 * s.store_seconds / max(1, n), 3),
        "workers": s.workers,
        "peak_rss_mb_per_worker": [round(r, 1) for r in rss],
        "load_avg_after": os.getloadavg(),
        **extra,
    }


def _timed(
    case: str, src: Path, spec: JobSpec, opts: RunOptions, n: int, **extra: Any
) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix=f"bench-{case}-"))
    t = time.perf_counter()
    s = run_catalog(src, out, spec, opts)
    wall = time.perf_counter() - t
    shutil.rmtree(out, ignore_errors=True)
    row = _row(case, s, n, wall, **extra)
    print(
        f"{case:28s} {row['items_per_min']:8.1f} items/min  {row['s_per_item']:.3f} s/item  "
        f"store {row['store_ms_per_item']:.2f} ms/item  load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    return row


def _runner_noop(executor: str, n: int) -> dict[str, Any]:
    from productstudio.catalog.runners.base import WorkerFactory, make_runner

    tasks = [Task(str(i), Path("x"), Path("y"), item_id=i) for i in range(n)]
    batches = iter([tasks[i : i + 4] for i in range(0, n, 4)])
    runner = make_runner(
        executor,
        WorkerFactory(NoopWorker),
        1 if executor == "serial" else 2,
        batch_size=4,
        threads=1,
    )
    t0 = time.perf_counter()
    with runner:
        t1 = time.perf_counter()
        got = sum(len(r) for r in runner.run(batches))
        t2 = time.perf_counter()
    assert got == n
    return {
        "case": f"runner-noop-{executor}",
        "n": n,
        "start_s": round(t1 - t0, 3),
        "run_s": round(t2 - t1, 4),
        "overhead_ms_per_item": round(1000.0 * (t2 - t1) / n, 3),
    }


def _concurrent(src: Path, pg: str, n: int, canvas: int, weights: Path) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix="bench-3runners-"))
    cmd = [
        sys.executable,
        "-c",
        "from productstudio.cli import main; main()",
        "run",
        str(src),
        "-o",
        str(out),
        "--model",
        str(weights),
        "--size",
        str(canvas),
        "--executor",
        "serial",
        "--store",
        pg,
        "--batch-size",
        "2",
        "--manifest",
        "none",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PRODUCTSTUDIO_THREADS": "1"}
    t = time.perf_counter()
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    rcs = [p.wait() for p in procs]
    wall = time.perf_counter() - t
    store = JobStore(pg)
    scope = scope_of(out)
    runs = {r["id"] for r in store.runs(scope)}
    done = [e for e in store.events(kinds=["done"]) if e["run_id"] in runs]
    ids = [e["item_id"] for e in done]
    per_run: dict[str, int] = {}
    for e in done:
        per_run[e["run_id"][:8]] = per_run.get(e["run_id"][:8], 0) + 1
    counts = store.counts(scope)
    store.close()
    shutil.rmtree(out, ignore_errors=True)
    row = {
        "case": "3-runners-postgres",
        "n": n,
        "exit_codes": rcs,
        "wall_s": round(wall, 3),
        "items_per_min": round(60.0 * len(ids) / wall, 2),
        "done_events": len(ids),
        "duplicates": len(ids) - len(set(ids)),
        "lost": n - counts.get("done", 0),
        "items_per_runner": per_run,
    }
    print(row, flush=True)
    return row


def _cpu_per_item(path: Path | None) -> None:
    """CPU seconds per item (serial, 1 thread, after a warm-up run) at 600² and 2000²."""
    import json
    import resource

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    tmp = Path(tempfile.mkdtemp(prefix="bench-cpu-"))
    src = tmp / "photos"
    _photos(16, src)
    weights = shared_root() / "weights" / "segmentation" / "u2netp.onnx"
    rows = []
    for canvas in (600, 2000):
        spec = JobSpec(model=str(weights), canvas=CanvasParams(width=canvas, height=canvas))
        opts = RunOptions(executor="serial", threads=1, manifest="none", overwrite=True)  # type: ignore[arg-type]
        run_catalog(src, tmp / "out", spec, opts)  # warm-up
        c, t = cpu(), time.perf_counter()
        s = run_catalog(src, tmp / "out", spec, opts)
        rows.append(
            {
                "canvas": canvas,
                "n": s.done,
                "cpu_s_per_item": round((cpu() - c) / s.done, 4),
                "wall_s_per_item": round((time.perf_counter() - t) / s.done, 4),
                "load": os.getloadavg(),
            }
        )
        print(rows[-1], flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    if path:
        path.write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--n", type=int, default=320)
    ap.add_argument("--canvas", type=int, default=800)
    ap.add_argument("--quick", action="store_true", help="skip Ray and the PostgreSQL cases")
    ap.add_argument(
        "--cpu", action="store_true", help="only CPU seconds per item (serial, 16 photos)"
    )
    args = ap.parse_args()
    if args.cpu:
        _cpu_per_item(args.json)
        return
    load_before = os.getloadavg()
    weights = shared_root() / "weights" / "segmentation" / "u2netp.onnx"
    tmp = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    src = tmp / "photos"
    _photos(args.n, src)
    spec = JobSpec(model=str(weights), canvas=CanvasParams(width=args.canvas, height=args.canvas))
    noop_recipe = tmp / "noop.yaml"
    noop_recipe.write_text("version: 1\nname: noop\nsteps:\n  - output: {format: jpeg}\n")
    noop = JobSpec(model="classical", recipe=str(noop_recipe))
    pg = os.environ.get("PRODUCTSTUDIO_BENCH_PG")
    results: list[dict[str, Any]] = []

    def opts(executor: str, workers: int, **kw: Any) -> RunOptions:
        return RunOptions(executor=executor, workers=workers, threads=1, manifest="none", **kw)  # type: ignore[arg-type]

    results.append(_timed("serial", src, spec, opts("serial", 1), args.n))
    results.append(_timed("local-2", src, spec, opts("local", 2), args.n))
    ray_init_s = None
    if not args.quick:
        import ray

        t = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        ray_init_s = time.perf_counter() - t
        try:
            results.append(
                _timed(
                    "ray-local-2",
                    src,
                    spec,
                    opts("ray", 2),
                    args.n,
                    ray_init_s=round(ray_init_s, 3),
                )
            )
            results.append(_timed("noop-recipe-ray-2", src, noop, opts("ray", 2), args.n))
            results.append(_runner_noop("ray", args.n))
        finally:
            ray.shutdown()
    for ex, w in (("serial", 1), ("local", 2)):
        results.append(_timed(f"noop-recipe-{ex}-{w}", src, noop, opts(ex, w), args.n))
        results.append(_runner_noop(ex, args.n))
    if pg and not args.quick:
        store_url = pg
        results.append(
            _timed("local-2-postgres", src, spec, opts("local", 2, store=store_url), args.n)
        )
        results.append(_concurrent(src, pg, args.n, args.canvas, weights))

    by = {r["case"]: r for r in results}
    ratios: dict[str, Any] = {}
    if "serial" in by and "local-2" in by:
        ratios["local2_vs_serial_speedup"] = round(
            by["local-2"]["items_per_min"] / by["serial"]["items_per_min"], 3
        )
    if "ray-local-2" in by:
        ray_wall = by["ray-local-2"]["wall_s"]
        ratios["ray_overhead_vs_local_pct"] = round(
            100.0 * (ray_wall / by["local-2"]["wall_s"] - 1), 1
        )
        if ray_init_s is not None:
            ratios["ray_overhead_vs_local_incl_init_pct"] = round(
                100.0 * ((ray_wall + ray_init_s) / by["local-2"]["wall_s"] - 1), 1
            )
    for case in ("local-2", "local-2-postgres"):
        if case in by:
            item_s = by[case]["s_per_item"] * by[case]["workers"]
            ratios[f"store_overhead_pct_of_item_time_{case}"] = round(
                100.0 * by[case]["store_ms_per_item"] / 1000.0 / item_s, 2
            )
    print(ratios)
    shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        path = write_results(
            "catalog",
            [*results, {"case": "ratios", **ratios}],
            args.json,
            command=" ".join(sys.argv),
            photos=f"{args.n} grocery photos from ../shared/data/products/images (sorted, first N)",
            model="u2netp (../shared/weights/segmentation/u2netp.onnx)",
            canvas=args.canvas,
            threads_per_worker=1,
            load_avg_before=load_before,
            load_avg_after=os.getloadavg(),
            targets={
                "local2_vs_serial_speedup": ">= 1.7",
                "ray_overhead_vs_local_pct": "<= 15",
                "store_overhead_pct_of_item_time": "<= 5",
                "duplicates": 0,
            },
        )
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
