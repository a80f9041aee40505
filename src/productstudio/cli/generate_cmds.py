"""Generator commands: ``train {gan,vae,diffusion,ldm,cyclegan}``, ``sample``, ``evaluate``,
``edit-attributes``.

Torch, diffusers and the MiniLM encoder are imported inside the commands so ``--help`` stays fast;
the choices come from the torch-free config modules (``models.generators.configs``,
``models.conditioning.config``).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from productstudio.cli.app import app, handle_errors, out, progress_bar
from productstudio.errors import InvalidParamsError
from productstudio.models.conditioning.config import Fusion, TextEncoderKind
from productstudio.models.generators.configs import CONFIGS, GANArch, GeneratorFamily


class ImageEncoderChoice(StrEnum):
    NONE = "none"
    CNN = "cnn"
    EFFICIENTNET = "efficientnet-lite0"


class ScorerChoice(StrEnum):
    EFFICIENTNET = "efficientnet"
    PIXEL_CNN = "pixel-cnn"


def _parse_overrides(family: str, values: list[str]) -> dict[str, object]:
    """``--set name=value`` pairs for the family's config; values are JSON (5, 0.5, true, [1,2])
    or plain strings. Unknown names are an error that lists the known ones."""
    import dataclasses
    import json

    known = {f.name for f in dataclasses.fields(CONFIGS[family])} - {"size"}
    overrides: dict[str, object] = {}
    for v in values:
        if "=" not in v:
            raise InvalidParamsError(f"--set expects name=value (e.g. lr=0.001), got '{v}'")
        k, raw = (s.strip() for s in v.split("=", 1))
        if k not in known:
            raise InvalidParamsError(
                f"--set {k}: not a {family} setting. Known: {', '.join(sorted(known))}"
            )
        try:
            val = json.loads(raw)
        except json.JSONDecodeError:
            val = raw
        overrides[k] = tuple(val) if isinstance(val, list) else val
    return overrides


def _parse_attrs(values: list[str]) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for v in values:
        if "=" not in v:
            raise InvalidParamsError(f"--attr expects name=value (e.g. colour=Red), got '{v}'")
        k, val = (s.strip() for s in v.split("=", 1))
        attrs[k] = val
    return attrs


@app.command("train")
@handle_errors
def train_cmd(
    family: GeneratorFamily = typer.Argument(
        ..., help="Generator family (ldm = latent diffusion with its own autoencoder)."
    ),
    data: Path = typer.Option(..., "--data", help="Products folder with metadata.csv and images/."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Model folder (created; holds checkpoints)."
    ),
    minutes: float | None = typer.Option(
        None, "--minutes", help="Wall-clock budget (default 5 when no other budget is given)."
    ),
    cpu_minutes: float | None = typer.Option(
        None,
        "--cpu-minutes",
        help="CPU-time budget of the process, all threads (fair on a loaded machine).",
    ),
    max_steps: int | None = typer.Option(
        None, "--max-steps", help="Stop after this many steps in total."
    ),
    threads: int = typer.Option(1, "--threads", min=1, help="Torch threads."),
    size: int = typer.Option(64, "--size", help="Image side in px (power of two: 32, 64)."),
    seed: int = typer.Option(0, "--seed", help="Seed for weights, batches and noise."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUTPUT/checkpoint.pt."),
    batch_size: int = typer.Option(64, "--batch-size"),
    fusion: Fusion = typer.Option(Fusion.FILM, "--fusion", help="Condition fusion variant."),
    text_encoder: TextEncoderKind = typer.Option(
        TextEncoderKind.MINILM, "--text-encoder", help="minilm (all-MiniLM-L6-v2) or hashing."
    ),
    limit: int | None = typer.Option(
        None, "--limit", help="Use only the first N products (quick runs)."
    ),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present), cpu or cuda."),
    sample_every: int = typer.Option(
        500, "--sample-every", help="Write a sample grid every N steps."
    ),
    settings: list[str] = typer.Option(
        [],
        "--set",
        help="Override a model setting of the CPU preset, e.g. --set snr_gamma=5 (repeatable).",
    ),
    arch: GANArch | None = typer.Option(
        None, "--arch", help="gan only: film (default) or style (StyleGAN2-like generator)."
    ),
    image_encoder: ImageEncoderChoice = typer.Option(
        ImageEncoderChoice.NONE,
        "--image-encoder",
        help="Add a source-photo token to the condition: cnn (trained) or efficientnet-lite0 "
        "(frozen, from ../shared/weights/features).",
    ),
    backgrounds: Path | None = typer.Option(
        None, "--backgrounds", help="cyclegan paired: folder of background photos (manifest.csv)."
    ),
    variants: int = typer.Option(
        4, "--variants", min=1, help="cyclegan paired: composites per studio photo."
    ),
    autoencoder: Path | None = typer.Option(
        None,
        "--autoencoder",
        help="ldm only: reuse the autoencoder of this trained ldm model (skips phase one).",
    ),
) -> None:
    """Train a conditional generator or a translation model (cyclegan; --set mode=paired for
    pix2pix-style pairs) on product photos (resumable; logs to train_log.jsonl)."""
    from productstudio.models.conditioning.config import ConditionConfig
    from productstudio.models.data import ATTRIBUTES, Split, Vocab, load_products
    from productstudio.models.generators import GENERATORS, default_config, load_generator
    from productstudio.models.train import TrainParams, train
    from productstudio.settings import get_settings

    overrides = _parse_overrides(family.value, settings)
    if arch is not None:
        if family != GeneratorFamily.GAN:
            raise InvalidParamsError("--arch applies to `train gan` only")
        overrides["arch"] = arch.value
    if image_encoder != ImageEncoderChoice.NONE and family == GeneratorFamily.CYCLEGAN:
        raise InvalidParamsError("--image-encoder is for generators; cyclegan translates photos")
    if autoencoder is not None and family != GeneratorFamily.LDM:
        raise InvalidParamsError("--autoencoder applies to `train ldm` only")
    if minutes is None and cpu_minutes is None and max_steps is None:
        minutes = 5.0
    if resume and overrides and (output / "config.json").is_file():
        raise InvalidParamsError("--set applies to a new model; a resumed one keeps its settings")
    resuming = resume and (output / "config.json").is_file()
    if family == GeneratorFamily.CYCLEGAN:
        from productstudio.cli.translate_cmd import translation_training

        model, train_set, preview = translation_training(
            data,
            size=size,
            overrides=overrides,
            seed=seed,
            limit=limit,
            backgrounds=backgrounds,
            variants=variants,
            resume_from=output if resuming else None,
        )
    else:
        products = load_products(
            data, size=size, limit=limit, cache_dir=get_settings().cache_dir / "products"
        )
        train_set, preview = products.subset(Split.TRAIN), products.subset(Split.VAL)
        if not resuming:
            # the attribute vocabulary covers every split (values, not images)
            vocab = Vocab.build([r.attrs for r in products.records], ATTRIBUTES)
            img: dict[str, object] = (
                {"use_image": True, "image_encoder": image_encoder.value}
                if image_encoder != ImageEncoderChoice.NONE
                else {}
            )
            cond_cfg = ConditionConfig.from_vocab(
                vocab, text_encoder=text_encoder.value, fusion=fusion.value, **img
            )
            model = GENERATORS.get(family.value).from_config(
                default_config(family.value, size, **overrides), cond_cfg, vocab, seed=seed
            )
            if autoencoder is not None:
                _adopt_autoencoder(model, autoencoder)
    if resuming and family != GeneratorFamily.CYCLEGAN:
        model = load_generator(output)
        if model.family != family.value:
            raise InvalidParamsError(f"{output} holds a {model.family} model, not {family.value}")
    params = TrainParams(
        batch_size=batch_size,
        max_steps=max_steps,
        minutes=minutes,
        cpu_minutes=cpu_minutes,
        seed=seed,
        device=device,
        sample_every=sample_every,
        threads=threads,
    )
    with progress_bar(f"train {family.value}", 1) as cb:
        summary = train(
            model,
            train_set,
            output,
            params,
            resume=resume,
            on_progress=cb,
            preview=preview,
        )
    out.print(
        f"{family.value}: {summary['steps']} steps in {summary['seconds']} s "
        f"({summary['cpu_seconds']} CPU s) → {output}"
    )


def _adopt_autoencoder(model: object, source: Path) -> None:
    """Copy the trained autoencoder of the ldm model in ``source`` into ``model``."""
    from productstudio.models.generators import ConditionalLatentDiffusion, load_generator

    other = load_generator(source)
    if not isinstance(other, ConditionalLatentDiffusion) or not isinstance(
        model, ConditionalLatentDiffusion
    ):
        raise InvalidParamsError(f"--autoencoder {source}: not an ldm model folder")
    if other.config.autoencoder_config() != model.config.autoencoder_config():
        raise InvalidParamsError(
            f"--autoencoder {source}: its autoencoder settings differ from this model's; "
            "train with the same --size and ae_* settings"
        )
    if float(other.latent_scale) == 0.0:
        raise InvalidParamsError(f"--autoencoder {source}: its autoencoder phase is unfinished")
    model.adopt_autoencoder(other)


@app.command("sample")
@handle_errors
def sample_cmd(
    model_dir: Path = typer.Argument(..., help="A folder written by `productstudio train`."),
    title: str = typer.Option("", "--title", help="Product title text."),
    attr: list[str] = typer.Option(
        [], "--attr", help="Attribute name=value (repeatable), e.g. colour=Red."
    ),
    audience: str = typer.Option(
        "", "--audience", help="e.g. 'age_band=25-34,gender=women,interests=noir,region=north'."
    ),
    n: int = typer.Option(8, "-n", min=1, max=1024, help="Number of images."),
    seed: int = typer.Option(0, "--seed"),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Folder for the PNGs (one per sample)."
    ),
    image: Path | None = typer.Option(
        None,
        "--image",
        help="A source photo: variations of it under the prompt (models trained with "
        "--image-encoder).",
    ),
    truncation: float | None = typer.Option(
        None,
        "--truncation",
        min=0.0,
        max=2.0,
        help="Style GAN only: psi (0 = the prompt's average product, 1 = no truncation).",
    ),
) -> None:
    """Generate N images for one prompt; writes OUTPUT/sample_000.png …"""
    import dataclasses

    import numpy as np

    from productstudio.imaging import load_image, save_image
    from productstudio.models.conditioning.audience import AudienceProfile
    from productstudio.models.conditioning.config import Prompt
    from productstudio.models.data import prepare_image
    from productstudio.models.generators import CycleGAN, load_generator
    from productstudio.ops.composite import composite

    model = load_generator(model_dir)
    if isinstance(model, CycleGAN):
        raise InvalidParamsError(
            f"{model_dir} is a translation model: `productstudio translate IMG --model "
            f"{model_dir} -o OUT`"
        )
    if truncation is not None:
        if getattr(model.config, "arch", None) != "style":
            raise InvalidParamsError("--truncation needs a style GAN (`train gan --arch style`)")
        model.config = dataclasses.replace(model.config, truncation=truncation)
    sources = None
    if image is not None:
        if not model.uses_image:
            raise InvalidParamsError(
                f"{model_dir} has no image token: train with --image-encoder cnn|efficientnet-lite0"
            )
        px = load_image(image).pixels.astype(np.uint8, copy=False)
        rgb = composite(px, "#ffffff") if px.shape[2] == 4 else px
        sources = np.repeat(prepare_image(np.ascontiguousarray(rgb), model.size)[None], n, 0)
    prompt = Prompt(
        title, _parse_attrs(attr), AudienceProfile.parse(audience) if audience else None
    )
    images = model.sample([prompt] * n, seed=seed, images=sources)
    for i, im in enumerate(images):
        p = save_image(im, output / f"sample_{i:03d}.png")
        out.print(str(p))


@app.command("evaluate")
@handle_errors
def evaluate_cmd(
    model_dirs: list[Path] = typer.Argument(..., help="One or more model folders."),
    data: Path = typer.Option(..., "--data", help="Products folder with metadata.csv and images/."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Report folder (report.json + report.html)."
    ),
    n: int = typer.Option(
        400, "-n", help="Test images to compare against (and samples per model)."
    ),
    features: Path | None = typer.Option(
        None,
        "--features",
        help="Feature ONNX (default: EfficientNet-Lite0 from ../shared/weights/features).",
    ),
    seed: int = typer.Option(0, "--seed"),
    limit: int | None = typer.Option(None, "--limit", help="Use only the first N products."),
    classifier_steps: int = typer.Option(
        200, "--classifier-steps", min=1, help="L-BFGS iterations of the attribute classifiers."
    ),
    cnn_epochs: int = typer.Option(
        8, "--cnn-epochs", min=0, help="Epochs of the small pixel CNN classifier (0 = skip it)."
    ),
    scorer: ScorerChoice = typer.Option(
        ScorerChoice.EFFICIENTNET,
        "--scorer",
        help="FID/KID network: efficientnet (or --features) or pixel-cnn (trained here on the "
        "real photos; required for models conditioned on EfficientNet features).",
    ),
    backgrounds: Path | None = typer.Option(
        None, "--backgrounds", help="Paired cyclegan models: background photos for composites."
    ),
) -> None:
    """FID/KID, precision/recall and attribute accuracy of models vs the test split; JSON + HTML.

    Translation models (cyclegan) are scored on held-out photos instead: translated vs untranslated
    (KID against the target domain) and whether the product is still recognised."""
    from productstudio.metrics.generation_eval import EvalParams, Scorer, evaluate_models
    from productstudio.models.data import load_products
    from productstudio.models.generators import CycleGAN, load_generator
    from productstudio.settings import get_settings

    first = load_generator(model_dirs[0])
    if isinstance(first, CycleGAN):
        _evaluate_translation(model_dirs, data, output, seed, features, backgrounds)
        return
    size = first.size
    products = load_products(
        data, size=size, limit=limit, cache_dir=get_settings().cache_dir / "products"
    )

    with progress_bar("evaluate", len(model_dirs)) as cb:
        result = evaluate_models(
            model_dirs,
            data,
            output,
            EvalParams(
                n=n,
                seed=seed,
                features=features,
                classifier_steps=classifier_steps,
                cnn_epochs=cnn_epochs,
                scorer=Scorer(scorer.value),
            ),
            on_progress=cb,
            data=products,
        )
    for name, row in result["models"].items():
        out.print(
            f"{name}: KID {row['kid']:.4f}  FID {row['fid']:.2f}  "
            f"category acc {row['acc_category']:.2f}  colour acc {row['acc_colour']:.2f}"
        )
    out.print(str(output / "report.html"))


def _evaluate_translation(
    model_dirs: list[Path],
    data: Path,
    output: Path,
    seed: int,
    features: Path | None,
    backgrounds: Path | None,
) -> None:
    from productstudio.metrics.image_to_image import TranslationEvalParams, evaluate_translation

    params = TranslationEvalParams(seed=seed, features=features, backgrounds=backgrounds)
    with progress_bar("evaluate", len(model_dirs)) as cb:
        result = evaluate_translation(model_dirs, data, output, params, on_progress=cb)
    for name, row in result["rows"].items():
        parts = [f"{k} {row[k]:.4f}" for k in ("kid", "psnr", "acc_title") if k in row]
        parts += [
            f"{k} {row[k]:.2f}"
            for k in ("identity_ratio_title", "identity_ratio_cnn_title")
            if k in row
        ]
        out.print(f"{name}: " + "  ".join(parts))
    out.print(str(output / "report.html"))


@app.command("edit-attributes")
@handle_errors
def edit_attributes_cmd(
    image: Path = typer.Argument(
        ..., help="A product photo (any size; transparency is flattened onto white)."
    ),
    model_dir: Path = typer.Option(
        ..., "--model", help="A CVAE model folder (`productstudio train vae`)."
    ),
    attr: list[str] = typer.Option(
        ..., "--attr", help="Attribute to change, name=value (repeatable), e.g. colour=Red."
    ),
    source_attr: list[str] = typer.Option(
        [],
        "--from",
        help="The photo's own attribute values, name=value (repeatable); others stay unknown.",
    ),
    title: str = typer.Option(
        "", "--title", help="The photo's title; a changed value named in it changes with it."
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", help="The edited image (PNG/JPEG/WebP), at the model's size."
    ),
    strip: Path | None = typer.Option(
        None, "--strip", help="Also write input | reconstruction | edit side by side here."
    ),
) -> None:
    """Change attributes of a real photo with a CVAE: encode it under its own condition, decode
    under the changed one. Prints the output and how much of the grey-level layout was kept."""
    import numpy as np

    from productstudio.imaging import load_image, save_image
    from productstudio.imaging.types import to_uint8
    from productstudio.metrics.quality import grey_ssim, structure_ssim
    from productstudio.models.conditioning.config import Prompt
    from productstudio.models.generators import ConditionalVAE, load_generator
    from productstudio.ops.composite import composite

    changes = _parse_attrs(attr)
    source = Prompt(title, _parse_attrs(source_attr))
    model = load_generator(model_dir)
    if not isinstance(model, ConditionalVAE):
        raise InvalidParamsError(
            f"{model_dir} holds a '{model.family}' model; edit-attributes needs a CVAE: "
            f"train one with `productstudio train vae ... -o DIR`"
        )
    px = to_uint8(load_image(image).pixels)
    rgb = composite(px) if px.shape[2] == 4 else px
    result = model.edit_photo(np.asarray(rgb, np.uint8), source, changes)
    kept = grey_ssim(result.edited, result.input)
    layout = structure_ssim(result.edited, result.input)
    written = save_image(result.edited, output)
    if strip is not None:
        gap = np.full((model.size, 2, 3), 255, np.uint8)
        row = np.concatenate([result.input, gap, result.reconstruction, gap, result.edited], axis=1)
        save_image(row, strip)
    changed = ", ".join(f"{k}={v}" for k, v in changes.items())
    out.print(
        f"{written}  ({changed}; vs the input: grey-level SSIM {kept:.3f}, "
        f"structure term {layout:.3f})"
    )
