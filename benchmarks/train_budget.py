"""Train a model under a CPU-time budget (fair on a shared, loaded machine).

Runs ``productstudio train ... --max-steps K --resume`` in chunks (resuming is bit-identical, so
the chunks equal one run) and stops when the children's CPU time (user + system, from
``getrusage(RUSAGE_CHILDREN)``: start-up, data loading and checkpoints included) reaches the
budget; the last chunk is sized from the measured CPU time per step so as not to overshoot.
Writes ``OUTPUT/budget.json`` (CPU and wall seconds, steps, chunks, load averages, command).

    python benchmarks/train_budget.py --cpu-minutes 40 --threads 1 -- \
        gan --data ../shared/data/products --size 64 --batch-size 32 --arch style -o M/gan_style
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _output(args: list[str]) -> Path:
    for i, a in enumerate(args):
        if a in ("-o", "--output") and i + 1 < len(args):
            return Path(args[i + 1])
    raise SystemExit("pass the model folder with -o/--output after --")


def _without_settings(args: list[str]) -> list[str]:
    """``args`` without ``--set k=v`` and ``--arch A`` (refused when resuming)."""
    out, skip = [], False
    for x in args:
        if skip:
            skip = False
        elif x in ("--set", "--arch"):
            skip = True
        else:
            out.append(x)
    return out


def _steps(out: Path) -> int:
    f = out / "train_summary.json"
    return int(json.loads(f.read_text())["steps"]) if f.is_file() else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cpu-minutes", type=float, required=True)
    ap.add_argument("--chunk-steps", type=int, default=300, help="steps per chunk at most")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then `train` arguments")
    a = ap.parse_args()
    args = [x for x in a.train_args if x != "--"]
    out = _output(args)
    budget = a.cpu_minutes * 60
    env = {**os.environ, "OMP_NUM_THREADS": str(a.threads), "MKL_NUM_THREADS": str(a.threads)}
    load_before = os.getloadavg()
    t0, cpu0 = time.monotonic(), _children_cpu()
    chunks, per_step = 0, None
    while True:
        used = _children_cpu() - cpu0
        left = budget - used
        done = _steps(out)
        if left <= 0:
            break
        k = a.chunk_steps if done else min(a.chunk_steps, 50)  # a short first chunk measures
        if per_step is not None:
            k = min(k, int(left / per_step))
            if k < 1:
                break
        c_before = _children_cpu()
        run_args = _without_settings(args) if done else args
        cmd = ["productstudio", "-q", "train", *run_args]
        cmd += ["--max-steps", str(done + k), "--minutes", "100000"]
        if done:
            cmd.append("--resume")  # a resumed model keeps its saved settings
        subprocess.run(cmd, check=True, env=env)
        chunks += 1
        new = _steps(out) - done
        if new <= 0:
            raise SystemExit(f"no progress in chunk {chunks}: {cmd}")
        per_step = (_children_cpu() - c_before) / new
        print(
            f"chunk {chunks}: {new} steps, {per_step:.2f} CPU s/step, "
            f"{(_children_cpu() - cpu0) / 60:.1f}/{a.cpu_minutes} CPU min",
            file=sys.stderr,
            flush=True,
        )
    summary = {
        "cpu_seconds": round(_children_cpu() - cpu0, 1),
        "wall_seconds": round(time.monotonic() - t0, 1),
        "steps": _steps(out),
        "chunks": chunks,
        "cpu_minutes_budget": a.cpu_minutes,
        "threads": a.threads,
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
        "command": ["productstudio", "train", *args],
    }
    (out / "budget.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
