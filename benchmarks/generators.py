"""Benchmark the conditional generators (GAN, CVAE film/concat, pixel and latent diffusion) on
the test split.

Reuses models trained outside the repo (default ../models/generators/<name> beside the
project, see --models-dir); trains a missing one first when --train-cpu-minutes > 0 (the
folder name says how: ``<family>[_concat]``, e.g. ``vae_concat`` = CVAE with concat fusion).
Writes benchmarks/results/generators.json (STYLE.md format, with the targets each row meets),
an HTML report next to the models, one sample grid per model (the same 16 test prompts in the
same places) and an attribute-editing strip (generated samples only) into docs/generators/.
Docs tables quoting it are rendered from the JSON by ``python docs/tables.py``.

    HF_HUB_OFFLINE=1 PRODUCTSTUDIO_CACHE_DIR=../models/cache \
      nice -n 10 python benchmarks/generators.py --models-dir ../models/generators --n 300
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, ROOT, metadata, shared_root

NAMES = ("gan", "vae", "vae_concat", "diffusion", "ldm")
#: colours of the docs editing strip (a sample, then the same sample edited to each)
STRIP_COLOURS = ("Black", "White", "Red", "Blue", "Green")


def _train_missing(args: argparse.Namespace, name: str, d: Path) -> None:
    import subprocess

    family = name.split("_")[0]
    extra = ["--fusion", "concat"] if "concat" in name.split("_")[1:] else []
    cmd = ["productstudio", "-q", "train", family, "--data", str(args.data)]
    cmd += ["--size", str(args.size), "--cpu-minutes", str(args.train_cpu_minutes)]
    cmd += ["--batch-size", str(args.batch_size), "--threads", "1", "-o", str(d), *extra]
    subprocess.run(cmd, check=True)


def _editing_strip(vae: Any, records: list[Any], out: Path) -> None:
    """Rows: a CVAE sample of a test prompt, then that SAMPLE edited to each strip colour (no
    training photo is shown: their licence is unverified)."""
    import numpy as np

    from productstudio.imaging import save_image
    from productstudio.models.conditioning.config import Prompt
    from productstudio.models.train import make_grid

    tiles = []
    for i, r in enumerate(records):
        src = Prompt(r.title, dict(r.attrs))
        sample = vae.sample([src], seed=i, strict=False)
        targets = [src.with_attrs({"colour": c}) for c in STRIP_COLOURS]
        edits = vae.edit(np.repeat(sample, len(targets), 0), [src] * len(targets), targets)
        tiles += [sample, edits]
    grid = make_grid(np.concatenate(tiles), cols=1 + len(STRIP_COLOURS))
    k = max(1, 64 // vae.size)
    save_image(np.kron(grid, np.ones((k, k, 1), np.uint8)), out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models-dir", type=Path, default=ROOT.parent / "models" / "generators")
    ap.add_argument("--data", type=Path, default=shared_root() / "data" / "products")
    ap.add_argument("--n", type=int, default=300, help="test photos (and samples per model)")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument(
        "--train-cpu-minutes",
        type=float,
        default=0.0,
        help="train missing models for this much CPU time (60 = 2 cores x 30 min)",
    )
    ap.add_argument("--audience-prompts", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=32, help="for models trained here")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for sampling/eval")
    ap.add_argument(
        "--names",
        default=",".join(NAMES),
        help="model folders under --models-dir, comma-separated (<family>[_concat][_tag])",
    )
    ap.add_argument("--json", type=Path, default=RESULTS / "generators.json")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs" / "generators")
    ap.add_argument(
        "--report-dir", type=Path, default=None, help="HTML report (default: MODELS_DIR/report)"
    )
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    load_before = os.getloadavg()

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from productstudio.imaging import save_image
    from productstudio.metrics.generation_eval import (
        CLASS_MEAN,
        EvalParams,
        evaluate_models,
        target_checks,
    )
    from productstudio.models.data import Split, load_products
    from productstudio.models.generators import ConditionalVAE, load_generator
    from productstudio.models.train import make_grid, prompt_of
    from productstudio.personalize.audience import measure_audience_effect
    from productstudio.settings import get_settings

    dirs = []
    for name in [n.strip() for n in args.names.split(",") if n.strip()]:
        d = args.models_dir / name
        if not (d / "model.safetensors").is_file() and args.train_cpu_minutes > 0:
            _train_missing(args, name, d)
        if (d / "model.safetensors").is_file():
            dirs.append(d)
    if not dirs:
        raise SystemExit(f"no trained models under {args.models_dir}; pass --train-cpu-minutes")
    data = load_products(args.data, size=args.size, cache_dir=get_settings().cache_dir / "products")
    report_dir = args.report_dir or args.models_dir / "report"
    t, c = time.monotonic(), time.process_time()
    res = evaluate_models(dirs, args.data, report_dir, EvalParams(n=args.n), data=data)
    eval_s, eval_cpu = time.monotonic() - t, time.process_time() - c

    # audience effect: title and colour removed, only the audience interest changes
    test = data.subset(Split.TEST)
    rng = np.random.default_rng(0)
    pick = sorted(
        rng.choice(len(test), min(args.audience_prompts, len(test)), replace=False).tolist()
    )
    recs = [test.records[i] for i in pick]
    audience = {}
    args.docs.mkdir(parents=True, exist_ok=True)
    for d in dirs:
        m = load_generator(d)
        audience[d.name] = measure_audience_effect(m, recs, samples_per_prompt=4).as_dict()
        # docs grid: 16 test prompts, one sample each (our own output, small PNG)
        imgs = m.sample([prompt_of(r) for r in test.records[:16]], seed=0, strict=False)
        k = max(1, 64 // m.size)  # small models are enlarged to 64 px per sample
        big = np.kron(make_grid(imgs, cols=8), np.ones((k, k, 1), np.uint8))
        save_image(big, args.docs / f"{d.name}.png")
        if isinstance(m, ConditionalVAE):
            _editing_strip(m, test.records[:4], args.docs / f"edit_{d.name}.png")

    class_mean = res["baselines"][CLASS_MEAN]
    summaries = {
        d.name: json.loads((d / "train_summary.json").read_text())
        for d in dirs
        if (d / "train_summary.json").is_file()
    }
    results = []
    for name, row in {
        **res["models"],
        **res["baselines"],
        "real photos (reference)": res["reference"],
    }.items():
        s = summaries.get(name, {})
        results.append(
            {
                "case": f"generate {args.size}px, {res['n_test']} test prompts",
                "backend": name,
                "n": res["n_test"],
                "median_s": row.get("ms_per_image", float("nan")) / 1000,
                "iqr_s": None,
                "ratio_vs_baseline": row["kid"] / class_mean["kid"],
                "targets_met": target_checks(row, res["reference"], class_mean)
                if name in res["models"]
                else None,
                **{k: v for k, v in row.items() if k != "ms_per_image"},
                "train_steps": s.get("steps"),
                "train_wall_s": s.get("seconds"),
                "train_cpu_s": s.get("cpu_seconds"),
                "train_threads": s.get("threads"),
                "autoencoder_steps": s.get("autoencoder_steps"),
                "audience_effect": audience.get(name),
            }
        )
    models = res["models"]
    comparison = {}
    for ldm in (n for n, r in models.items() if r["family"] == "ldm"):
        for pix in (n for n, r in models.items() if r["family"] == "diffusion"):
            a, b = models[ldm], models[pix]
            comparison[f"{ldm} vs {pix}"] = {
                "kid": bool(a["kid"] < b["kid"]),
                **{k: bool(a[k] > b[k]) for k in a if k.startswith("acc_") and k in b},
            }
    out: dict[str, Any] = {
        "metadata": metadata(
            command="python " + " ".join(sys.argv),
            load_avg_before=load_before,
            feature_network=res["feature_network"],
            size=args.size,
            n_test=res["n_test"],
            n_train=res["n_train"],
            eval_seconds=round(eval_s, 1),
            eval_cpu_seconds=round(eval_cpu, 1),
            threads=args.threads,
            train_summaries=summaries,
            targets={
                "kid": "<= 0.5 x the class-mean baseline's KID",
                "accuracy": "master/sub-category >= 0.8 x and colour >= 0.6 x the real test "
                "photos' accuracy with the same classifier",
                "edits": "read as the requested colour >= 0.6, structure SSIM >= 0.6",
                "ldm": "beats pixel diffusion on KID and every accuracy",
            },
            ldm_vs_pixel_diffusion=comparison,
        ),
        "results": results,
    }
    out["metadata"]["load_avg_after"] = os.getloadavg()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1, default=float) + "\n")
    print(json.dumps({r["backend"]: r["targets_met"] for r in results}, indent=1))
    print(json.dumps(comparison, indent=1))


if __name__ == "__main__":
    main()
