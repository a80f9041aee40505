"""Benchmark the conditional generators (GAN, CVAE film/concat, diffusion) on the test split.

Reuses models trained outside the repo (default ../models/generators/<name> beside the
project, see
--models-dir); trains a missing one first when --train-minutes > 0. Writes
benchmarks/results/generators.json (STYLE.md format), an HTML report next to it, and one small
sample grid per family into docs/generators/.

    HF_HUB_OFFLINE=1 PRODUCTSTUDIO_CACHE_DIR=../models/cache \
      nice -n 10 python benchmarks/generators.py --models-dir ../models/generators --n 400
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, ROOT, metadata, shared_root

NAMES = ("gan", "vae", "vae_concat", "diffusion")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models-dir", type=Path, default=ROOT.parent / "models" / "generators")
    ap.add_argument("--data", type=Path, default=shared_root() / "data" / "products")
    ap.add_argument("--n", type=int, default=400, help="test photos (and samples per model)")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument(
        "--train-minutes", type=float, default=0.0, help="train missing models for this long"
    )
    ap.add_argument("--audience-prompts", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=32, help="for models trained here")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for sampling/eval")
    ap.add_argument(
        "--names",
        default=",".join(NAMES),
        help="model folders under --models-dir, comma-separated (a name ending in _concat "
        "is trained with --fusion concat)",
    )
    ap.add_argument("--json", type=Path, default=RESULTS / "generators.json")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs" / "generators")
    ap.add_argument(
        "--report-dir", type=Path, default=None, help="HTML report (default: MODELS_DIR/report)"
    )
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from productstudio.imaging import save_image
    from productstudio.metrics.generation_eval import (
        ACCURACY_TARGETS,
        EvalParams,
        evaluate_models,
    )
    from productstudio.models.data import Split, load_products
    from productstudio.models.generators import load_generator
    from productstudio.models.train import make_grid, prompt_of
    from productstudio.personalize.audience import measure_audience_effect
    from productstudio.settings import get_settings

    dirs = []
    for name in [n.strip() for n in args.names.split(",") if n.strip()]:
        d = args.models_dir / name
        if not (d / "model.safetensors").is_file() and args.train_minutes > 0:
            import subprocess

            family = name.split("_")[0]
            extra = ["--fusion", "concat"] if name.endswith("concat") else []
            subprocess.run(
                [
                    "productstudio",
                    "-q",
                    "train",
                    family,
                    "--data",
                    str(args.data),
                    "--size",
                    str(args.size),
                    "--minutes",
                    str(args.train_minutes),
                    "--batch-size",
                    str(args.batch_size),
                    "-o",
                    str(d),
                    *extra,
                ],
                check=True,
            )
        if (d / "model.safetensors").is_file():
            dirs.append(d)
    if not dirs:
        raise SystemExit(f"no trained models under {args.models_dir}; pass --train-minutes")
    data = load_products(args.data, size=args.size, cache_dir=get_settings().cache_dir / "products")
    report_dir = args.report_dir or args.models_dir / "report"
    t = time.monotonic()
    res = evaluate_models(dirs, args.data, report_dir, EvalParams(n=args.n), data=data)
    eval_s = time.monotonic() - t

    # audience effect: title and colour removed, only the audience interest changes
    test = data.subset(Split.TEST)
    rng = np.random.default_rng(0)
    pick = sorted(
        rng.choice(len(test), min(args.audience_prompts, len(test)), replace=False).tolist()
    )
    recs = [test.records[i] for i in pick]
    audience = {}
    for d in dirs:
        m = load_generator(d)
        audience[d.name] = measure_audience_effect(m, recs, samples_per_prompt=4).as_dict()
        # docs grid: 16 test prompts, one sample each (our own output, small PNG)
        imgs = m.sample([prompt_of(r) for r in test.records[:16]], seed=0, strict=False)
        args.docs.mkdir(parents=True, exist_ok=True)
        k = max(1, 64 // m.size)  # small models are enlarged to 64 px per sample
        big = np.kron(make_grid(imgs, cols=8), np.ones((k, k, 1), np.uint8))
        save_image(big, args.docs / f"{d.name}.png")

    kid_base = min(v["kid"] for v in res["baselines"].values())
    results = []
    for name, row in {
        **res["models"],
        **res["baselines"],
        "real train photos (reference)": res["reference"],
    }.items():
        results.append(
            {
                "case": f"generate {args.size}px, {res['n_test']} test prompts",
                "backend": name,
                "n": res["n_test"],
                "median_s": row.get("ms_per_image", float("nan")) / 1000,
                "iqr_s": None,
                "ratio_vs_baseline": row["kid"] / kid_base if kid_base > 0 else None,
                "beats_both_baselines_on_kid": all(
                    row["kid"] < b["kid"] for b in res["baselines"].values()
                ),
                **{
                    f"meets_{k}_target": row[k] >= v
                    for key, v in ACCURACY_TARGETS.items()
                    for k in (key, key.replace("acc_", "acc_cnn_", 1))
                    if isinstance(row.get(k), float)
                },
                **{k: v for k, v in row.items() if k != "ms_per_image"},
                "audience_effect": audience.get(name),
            }
        )
    out = {
        "metadata": metadata(
            feature_network=res["feature_network"],
            size=args.size,
            n_test=res["n_test"],
            n_train=res["n_train"],
            eval_seconds=round(eval_s, 1),
            train_summaries={
                d.name: json.loads((d / "train_summary.json").read_text())
                for d in dirs
                if (d / "train_summary.json").is_file()
            },
            targets={"kid": "below both baselines", **ACCURACY_TARGETS},
        ),
        "results": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1, default=float))
    print(
        json.dumps(
            [
                {
                    k: (round(v, 4) if isinstance(v, float) else v)
                    for k, v in r.items()
                    if k != "audience_effect"
                }
                for r in results
            ],
            indent=1,
        )
    )
    print(json.dumps(audience, indent=1))


if __name__ == "__main__":
    main()
