"""Benchmark the pretrained-pipeline path: speed, memory, and whether scenes keep the product.

Three parts, all in one run (numbers move with machine load; the ratios are same-run):

1. **Speed and memory** of the tiny random-weight SD pipeline (built from configs, saved as a
   diffusers folder and loaded through ``DiffusersPipeline.load``) at 64 and 128 px:
   seconds per step and per image for text-to-image and inpainting, CPU offload requested
   on/off, peak RSS. Each case runs in its own subprocess so its peak RSS is its own. With
   ``--model PATH`` a real local model is measured the same way at its native size.
2. **Product exactness**: real product photos (GroceryStoreDataset packshots cut out with the
   shipped segmenter API, DIS5K product photos with their ground-truth masks) placed on a
   scene canvas; share of the product's opaque pixels changed by our scene op (must be 0)
   vs plain diffusers inpainting of the same picture and mask at the canvas size (the
   baseline), same pipeline, same seeds.
3. **Edge harmonisation**: the halo score (mean CIEDE2000 of the soft edge from a clean
   product/scene blend, ``ops.scene.edge_band_difference``) before/after harmonisation, on
   the generated scenes and on real indoor photos standing in for generated scenes.

    OMP_NUM_THREADS=1 python benchmarks/generate.py            # → benchmarks/results/generate.json
    python benchmarks/generate.py --model ~/models/sd15-inpainting --steps 20
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, peak_rss_mb, shared_root, summarise_times, write_results

OFFLOAD_ON_CPU = (
    "not measurable here: diffusers' enable_model_cpu_offload needs an accelerator "
    "(CUDA/MPS/XPU); on a CPU the weights already live in RAM and the option is ignored"
)


def _versions() -> dict[str, str]:
    out = {}
    for mod in ("diffusers", "transformers", "accelerate", "torch"):
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:
            continue
    return out


# -- part 1: one speed case per subprocess ----------------------------------------------------
def run_case(spec: dict[str, Any]) -> dict[str, Any]:
    """Time one (model, task, size, offload) case in this process."""
    import numpy as np
    import torch

    torch.set_num_threads(spec["threads"])
    from productstudio.models.pipelines import DiffusersPipeline, GenerationParams, LoadOptions

    t0 = time.perf_counter()
    pipe = DiffusersPipeline.load(
        spec["model"], LoadOptions(offload=spec["offload"], safety_checker=False)
    )
    load_s = time.perf_counter() - t0
    size, steps = spec["size"], spec["steps"]
    params = GenerationParams(prompt="a red leather handbag on a marble counter", steps=steps,
                              width=size, height=size)  # fmt: skip
    img = np.full((size, size, 3), 128, np.uint8)
    mask = np.zeros((size, size), np.float32)
    mask[:, : size // 2] = 1.0

    def call(seed: int) -> None:
        p = params.with_seed(seed)
        if spec["task"] == "inpaint":
            pipe.inpaint(img, mask, p)
        else:
            pipe.text_to_image(p)

    call(0)  # warm-up
    times = []
    for i in range(spec["repeat"]):
        t = time.perf_counter()
        call(i + 1)
        times.append(time.perf_counter() - t)
    s = summarise_times(times)
    return {
        **{k: spec[k] for k in ("label", "task", "size", "steps", "offload")},
        "offload_effective": pipe.offload.value,
        "device": pipe.device,
        "dtype": pipe.dtype,
        "n": len(times),
        "load_s": round(load_s, 3),
        "median_s_per_image": s["median_s"],
        "iqr_s_per_image": s["iqr_s"],
        "median_s_per_step": s["median_s"] / steps,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def speed_cases(args: argparse.Namespace, tiny: dict[str, Path]) -> list[dict[str, Any]]:
    specs: list[dict[str, Any]] = []
    for size in (64, 128):
        for task, folder in (("text-to-image", tiny["t2i"]), ("inpaint", tiny["inpaint"])):
            specs.append({"label": "tiny", "model": str(folder), "task": task, "size": size,
                          "steps": args.steps, "offload": "none"})  # fmt: skip
    if args.model:
        for task in ("text-to-image", "inpaint"):
            specs.append(
                {"label": "real", "model": args.model, "task": task, "size": args.real_size,
                 "steps": args.steps, "offload": "none"}
            )  # fmt: skip
    out = []
    for spec in specs:
        spec = {**spec, "repeat": args.repeat, "threads": args.threads}
        proc = subprocess.run(
            [sys.executable, __file__, "--case", json.dumps(spec)],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "OMP_NUM_THREADS": str(args.threads)},
        )
        if proc.returncode != 0:
            out.append({**spec, "error": proc.stderr.strip().splitlines()[-1:]})
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"  {row['label']} {row['task']} {row['size']} px: {row['median_s_per_step']:.4f} "
            f"s/step, {row['median_s_per_image']:.3f} s/image, {row['peak_rss_mb']} MB"
        )
        out.append(row)
    # CPU offload "on": what diffusers says on this machine (no accelerator)
    import torch

    if not torch.cuda.is_available():
        from productstudio.models.pipelines.tiny import tiny_pipeline

        try:
            tiny_pipeline().enable_model_cpu_offload()
            said = "enabled"
        except RuntimeError as exc:
            said = str(exc)
        for size in (64, 128):
            out.append(
                {"label": "tiny", "task": "text-to-image", "size": size, "offload": "model",
                 "status": OFFLOAD_ON_CPU, "diffusers_says": said}
            )  # fmt: skip
    return out


# -- parts 2 and 3: product exactness and edge harmonisation ------------------------------------
def real_products(n_grocery: int, n_dis: int, long_side: int) -> list[tuple[str, Any]]:
    import csv

    import numpy as np
    from PIL import Image

    from productstudio.models.segmenters import load_segmenter
    from productstudio.ops.cutout import cutout

    root = shared_root()
    seg = load_segmenter(root / "weights" / "segmentation" / "u2netp.onnx")
    out: list[tuple[str, Any]] = []
    with (root / "data" / "products" / "metadata.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["source"] == "grocery-iconic"][:n_grocery]
    for r in rows:
        im = Image.open(root / "data" / "products" / r["file"]).convert("RGB")
        s = long_side / max(im.size)
        im = im.resize((round(im.width * s), round(im.height * s)), Image.Resampling.LANCZOS)
        px = np.asarray(im)
        out.append((r["id"], cutout(px, seg.segment(px).mask)))
    cut = root / "data" / "cutout"
    with (cut / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        dis = [r for r in csv.DictReader(fh) if r["product_like"] == "1"]
    dis.sort(key=lambda r: -float(r["fg_fraction"]))
    for r in dis[:n_dis]:
        im = Image.open(cut / "images" / f"{r['name']}.jpg").convert("RGB")
        mk = Image.open(cut / "masks" / f"{r['name']}.png").convert("L")
        s = long_side / max(im.size)
        size = (round(im.width * s), round(im.height * s))
        im, mk = im.resize(size, Image.Resampling.LANCZOS), mk.resize(size, Image.Resampling.BOX)
        out.append((r["name"], np.dstack([np.asarray(im), np.asarray(mk)])))
    return out


def _pad8(rgba: Any) -> Any:
    import numpy as np

    h, w = rgba.shape[:2]
    return np.pad(rgba, ((0, (-h) % 8), (0, (-w) % 8), (0, 0)))


def exactness(args: argparse.Namespace, tiny: dict[str, Path]) -> dict[str, Any]:
    import numpy as np
    import torch
    from PIL import Image

    torch.set_num_threads(args.threads)
    from productstudio.models.pipelines import DiffusersPipeline, GenerationParams
    from productstudio.models.pipelines.prompts import ProductInfo, PromptBook
    from productstudio.models.pipelines.scene import SceneLayout, plan_canvas
    from productstudio.ops.canvas import place
    from productstudio.ops.scene import (
        SceneParams,
        changed_share,
        composite_scene,
        edge_band_difference,
        scene_input,
        scene_mask,
    )

    model = args.model or str(tiny["inpaint"])
    pipe = DiffusersPipeline.load(model)
    native = args.real_size if args.model else 128
    book = PromptBook.default()
    layout = SceneLayout(fill=0.6)
    items = []
    for name, prod in real_products(args.grocery, args.dis, args.long_side):
        placed = _pad8(place(prod, plan_canvas(prod, layout)))
        opaque = placed[..., 3] == 255
        h, w = placed.shape[:2]
        prompt = book.build(ProductInfo(title=name.replace("_", " ")), scene="wooden-table")
        p = GenerationParams(prompt=prompt.prompt, negative_prompt=prompt.negative_prompt,
                             steps=args.steps, seed=0)  # fmt: skip
        init = scene_input(placed)
        mask = scene_mask(placed, SceneParams().grow_px)
        # ours: the model at its working size, the product put back exactly
        from productstudio.models.pipelines.scene import scene_inputs, work_size

        ws = work_size((w, h), native)
        small_init, small_mask = scene_inputs(placed, ws, SceneParams())
        gen = pipe.inpaint(small_init, small_mask, p.with_seed(0)).image
        bg = np.asarray(Image.fromarray(gen).resize((w, h), Image.Resampling.BICUBIC))
        ours = composite_scene(placed, bg)
        plain_comp = composite_scene(placed, bg, SceneParams(harmonise=0.0))
        # baseline: plain diffusers inpainting of the same picture and mask, at canvas size
        base = pipe.inpaint(init, mask, GenerationParams(**{**p.as_dict(), "width": w,
                                                            "height": h})).image  # fmt: skip
        diff = np.abs(base.astype(np.int16) - placed[..., :3].astype(np.int16))[opaque]
        items.append({
            "name": name,
            "canvas": [w, h],
            "opaque_pixels": int(opaque.sum()),
            "soft_edge_pixels": int(((placed[..., 3] > 0) & (placed[..., 3] < 255)).sum()),
            "ours_changed_share": changed_share(placed[..., :3], ours, opaque),
            "baseline_changed_share": changed_share(placed[..., :3], base, opaque),
            "baseline_mean_abs_change": float(diff.mean()),
            "baseline_max_abs_change": int(diff.max()),
            "halo_generated_before": edge_band_difference(plain_comp, placed),
            "halo_generated_after": edge_band_difference(ours, placed),
        })  # fmt: skip
        it = items[-1]
        print(
            f"  {name}: ours {it['ours_changed_share']:.3f}, plain "
            f"{it['baseline_changed_share']:.3f}, halo "
            f"{it['halo_generated_before']:.2f} → {it['halo_generated_after']:.2f}"
        )
    # real indoor photos standing in for generated scenes
    bg_dir = shared_root() / "data" / "backgrounds" / "images"
    bgs = sorted(bg_dir.glob("nyu_*.jpg"))[: args.scenes]
    halo_real = []
    for name, prod in real_products(args.grocery, args.dis, args.long_side):
        placed = place(prod, plan_canvas(prod, layout))
        for bgp in bgs:
            bg = np.asarray(Image.open(bgp).convert("RGB").resize(placed.shape[1::-1]))
            plain = composite_scene(placed, bg, SceneParams(harmonise=0))
            halo_real.append(
                {
                    "product": name,
                    "scene": bgp.stem,
                    "before": edge_band_difference(plain, placed),
                    "after": edge_band_difference(composite_scene(placed, bg), placed),
                }
            )

    # cost of the compositing itself on a 2000 x 2000 canvas (real product, real scene)
    from common import timeit

    name, prod = real_products(1, 0, args.long_side)[0]
    big = place(prod, plan_canvas(prod, SceneLayout(fill=0.6, size=2000)))
    scene = np.asarray(Image.open(bgs[0]).convert("RGB").resize(big.shape[1::-1]))
    comp = summarise_times(timeit(lambda: composite_scene(big, scene), repeat=3))
    composite_2000 = {"product": name, "canvas": list(big.shape[1::-1]), **comp}
    print(f"  composite at 2000 px: {comp['median_s']:.2f} s")

    def stats(vals: list[float]) -> dict[str, float]:
        a = np.asarray(vals, float)
        return {"mean": float(a.mean()), "median": float(np.median(a)), "max": float(a.max()),
                "min": float(a.min())}  # fmt: skip

    return {
        "model": "real: " + args.model if args.model else "tiny random-weight SD inpainting",
        "work_size": native,
        "steps": args.steps,
        "items": items,
        "summary": {
            "ours_changed_share": stats([i["ours_changed_share"] for i in items]),
            "baseline_changed_share": stats([i["baseline_changed_share"] for i in items]),
            "baseline_mean_abs_change": stats([i["baseline_mean_abs_change"] for i in items]),
            "halo_generated_before": stats([i["halo_generated_before"] for i in items]),
            "halo_generated_after": stats([i["halo_generated_after"] for i in items]),
            "halo_real_scenes_before": stats([r["before"] for r in halo_real]),
            "halo_real_scenes_after": stats([r["after"] for r in halo_real]),
        },
        "halo_real_scenes": halo_real,
        "composite_2000": composite_2000,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", default=None, help="a real local model (folder/file/added name)")
    ap.add_argument("--real-size", type=int, default=512)
    ap.add_argument("--grocery", type=int, default=8, help="grocery packshots")
    ap.add_argument("--dis", type=int, default=6, help="DIS5K product photos")
    ap.add_argument("--scenes", type=int, default=4, help="NYU photos as stand-in scenes")
    ap.add_argument("--long-side", type=int, default=192)
    ap.add_argument("--json", type=Path, default=RESULTS / "generate.json")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return
    load_before = os.getloadavg()
    t0 = time.time()
    from productstudio.models.pipelines.tiny import TinyPipelineConfig, save_tiny_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        tiny = {
            "t2i": save_tiny_pipeline(Path(tmp) / "t2i"),
            "inpaint": save_tiny_pipeline(Path(tmp) / "inpaint", TinyPipelineConfig(inpaint=True)),
        }
        print("speed and memory")
        speed = speed_cases(args, tiny)
        print("product exactness and edge harmonisation")
        exact = exactness(args, tiny)
    results: list[dict[str, Any]] = [
        {"case": "speed", "rows": speed},
        {"case": "exactness_and_harmonisation", **exact},
    ]
    path = write_results(
        "generate",
        results,
        args.json,
        command=" ".join([Path(sys.executable).name, *sys.argv]),
        threads=args.threads,
        load_avg_before=load_before,
        load_avg_after=os.getloadavg(),
        wall_s=round(time.time() - t0, 1),
        versions_ml=_versions(),
        note="tiny = random weights built from configs (UNet (4, 8) ch, VAE (4, 8), CLIP 32-wide):"
        " it measures plumbing and overhead, not the speed or quality of a real model",
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
