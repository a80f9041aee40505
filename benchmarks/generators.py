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

Translation models (``train cyclegan``) are scored by ``--translation-names`` into their own JSON
(default benchmarks/results/translation.json) with a before/after strip in docs/generators/;
``--names ""`` skips the generators. ``--scorer pixel-cnn`` scores FID/KID with a CNN trained on
the real photos (required for models conditioned on EfficientNet-Lite0 features).
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
    ap.add_argument("--scorer", default="efficientnet", choices=("efficientnet", "pixel-cnn"))
    ap.add_argument(
        "--compare",
        default="",
        help="A,B: record whether model A beats B on KID and recall (e.g. gan_style,gan_film)",
    )
    ap.add_argument("--translation-names", default="", help="cyclegan folders under --models-dir")
    ap.add_argument(
        "--translation-strengths",
        default="1",
        help="unpaired: also score each model blended with the source at these strengths",
    )
    ap.add_argument("--translation-json", type=Path, default=RESULTS / "translation.json")
    ap.add_argument("--backgrounds", type=Path, default=shared_root() / "data" / "backgrounds")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

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

    if args.translation_names:
        translation_benchmark(args)
        if not args.names:
            return
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
    res = evaluate_models(
        dirs, args.data, report_dir, EvalParams(n=args.n, scorer=args.scorer), data=data
    )
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
    summaries = _train_summaries(dirs)
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
    if args.compare:
        a, b = (x.strip() for x in args.compare.split(","))
        ra, rb = models[a], models[b]
        comparison = {
            "a": a,
            "b": b,
            "kid": [ra["kid"], rb["kid"]],
            "recall": [ra["recall"], rb["recall"]],
            "a_lower_kid": ra["kid"] < rb["kid"],
            "a_higher_recall": ra["recall"] > rb["recall"],
            "a_beats_b_on_kid_and_recall": ra["kid"] < rb["kid"] and ra["recall"] > rb["recall"],
        }
    ldm_vs_pixel = {}
    for ldm in (n for n, r in models.items() if r["family"] == "ldm"):
        for pix in (n for n, r in models.items() if r["family"] == "diffusion"):
            a_, b_ = models[ldm], models[pix]
            ldm_vs_pixel[f"{ldm} vs {pix}"] = {
                "kid": bool(a_["kid"] < b_["kid"]),
                **{k: bool(a_[k] > b_[k]) for k in a_ if k.startswith("acc_") and k in b_},
            }
    out: dict[str, Any] = {
        "metadata": metadata(
            comparison=comparison,
            feature_network=res["feature_network"],
            size=args.size,
            n_test=res["n_test"],
            n_train=res["n_train"],
            eval_seconds=round(eval_s, 1),
            eval_cpu_seconds=round(eval_cpu, 1),
            train_summaries=summaries,
            scorer=args.scorer,
            targets={
                "kid": "<= 0.5 x the class-mean baseline's KID",
                "accuracy": "master/sub-category >= 0.8 x and colour >= 0.6 x the real test "
                "photos' accuracy with the same classifier",
                "edits": "read as the requested colour >= 0.6, structure SSIM >= 0.6",
                "ldm": "beats pixel diffusion on KID and every accuracy",
            },
            ldm_vs_pixel_diffusion=ldm_vs_pixel,
        ),
        "results": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1, default=float) + "\n")
    print(json.dumps({r["backend"]: r["targets_met"] for r in results}, indent=1))
    print(json.dumps(comparison, indent=1))


def _train_summaries(dirs: list[Path]) -> dict[str, dict[str, object]]:
    """train_summary.json of each model (steps, wall and CPU seconds, budget, threads)."""
    return {
        d.name: json.loads((d / "train_summary.json").read_text())
        for d in dirs
        if (d / "train_summary.json").is_file()
    }


def translation_benchmark(args: argparse.Namespace) -> None:
    """Score the cyclegan models named in --translation-names (one mode per call)."""
    import shutil

    from productstudio.metrics.image_to_image import TranslationEvalParams, evaluate_translation

    dirs = [args.models_dir / n.strip() for n in args.translation_names.split(",") if n.strip()]
    missing = [d for d in dirs if not (d / "model.safetensors").is_file()]
    if missing:
        raise SystemExit(
            f"no trained model in {missing}: train with `productstudio train cyclegan`"
        )
    report = (args.report_dir or args.models_dir / "report") / "translation"
    t = time.monotonic()
    res = evaluate_translation(
        dirs,
        args.data,
        report,
        TranslationEvalParams(
            backgrounds=args.backgrounds,
            variants=1,
            strengths=tuple(float(x) for x in args.translation_strengths.split(",")),
        ),
    )
    eval_s = time.monotonic() - t
    from productstudio.metrics.image_to_image import IDENTITY_TARGET

    results = []
    for name, row in res["rows"].items():
        flags = {}
        if "identity_ratio_title" in row:  # a translation model (unpaired)
            flags = {
                "meets_kid_target": bool(row["kid_below_untranslated"]),
                **{
                    f"meets_identity_target_{k[len('identity_ratio_') :]}": v >= IDENTITY_TARGET
                    for k, v in row.items()
                    if k.startswith("identity_ratio_")
                },
            }
        results.append(
            {
                "case": f"translate {res['size']}px, {res['n_sources']} held-out photos",
                "backend": name,
                "n": res["n_sources"],
                **flags,
                **row,
            }
        )
    out = {
        "metadata": metadata(
            eval_seconds=round(eval_s, 1),
            train_summaries=_train_summaries(dirs),
            **{k: v for k, v in res.items() if k != "rows"},
        ),
        "results": results,
    }
    args.translation_json.parent.mkdir(parents=True, exist_ok=True)
    args.translation_json.write_text(json.dumps(out, indent=1, default=float) + "\n")
    # docs pictures only from MIT GroceryStoreDataset photos: the unpaired grocery strip; paired
    # composites may show other products/backgrounds, so their strip stays in the report folder
    grocery = all(s.startswith("grocery") for s in [*res["domain_a"], *res["domain_b"]])
    if res["mode"] == "unpaired" and grocery:
        args.docs.mkdir(parents=True, exist_ok=True)
        shutil.copy(report / "strip.png", args.docs / f"{args.translation_json.stem}_strip.png")
    print(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
