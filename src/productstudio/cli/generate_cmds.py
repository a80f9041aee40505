"""Generator commands: ``train {gan,vae,diffusion,ldm}``, ``sample``, ``evaluate``.

Torch, diffusers and the MiniLM encoder are imported inside the commands so ``--help`` stays fast;
the choices come from the torch-free config modules (``models.generators.configs``,
``models.conditioning.config``).
"""

from __future__ import annotations

from pathlib import Path

import typer

from productstudio.cli.app import app, handle_errors, out, progress_bar
from productstudio.errors import InvalidParamsError
from productstudio.models.conditioning.config import Fusion, TextEncoderKind
from productstudio.models.generators.configs import CONFIGS, GeneratorFamily


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
    autoencoder: Path | None = typer.Option(
        None,
        "--autoencoder",
        help="ldm only: reuse the autoencoder of this trained ldm model (skips phase one).",
    ),
) -> None:
    """Train a conditional generator on product photos (resumable; logs to train_log.jsonl)."""
    from productstudio.models.conditioning.config import ConditionConfig
    from productstudio.models.data import ATTRIBUTES, Split, Vocab, load_products
    from productstudio.models.generators import GENERATORS, default_config, load_generator
    from productstudio.models.train import TrainParams, train
    from productstudio.settings import get_settings

    overrides = _parse_overrides(family.value, settings)
    if autoencoder is not None and family != GeneratorFamily.LDM:
        raise InvalidParamsError("--autoencoder applies to `train ldm` only")
    if minutes is None and cpu_minutes is None and max_steps is None:
        minutes = 5.0
    products = load_products(
        data, size=size, limit=limit, cache_dir=get_settings().cache_dir / "products"
    )
    train_set = products.subset(Split.TRAIN)
    if resume and overrides and (output / "config.json").is_file():
        raise InvalidParamsError("--set applies to a new model; a resumed one keeps its settings")
    if resume and (output / "config.json").is_file():
        model = load_generator(output)
        if model.family != family.value:
            raise InvalidParamsError(f"{output} holds a {model.family} model, not {family.value}")
    else:
        # the attribute vocabulary covers every split (values, not images)
        vocab = Vocab.build([r.attrs for r in products.records], ATTRIBUTES)
        cond_cfg = ConditionConfig.from_vocab(
            vocab, text_encoder=text_encoder.value, fusion=fusion.value
        )
        model = GENERATORS.get(family.value).from_config(
            default_config(family.value, size, **overrides), cond_cfg, vocab, seed=seed
        )
        if autoencoder is not None:
            _adopt_autoencoder(model, autoencoder)
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
            preview=products.subset(Split.VAL),
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
) -> None:
    """Generate N images for one prompt; writes OUTPUT/sample_000.png …"""
    from productstudio.imaging import save_image
    from productstudio.models.conditioning.audience import AudienceProfile
    from productstudio.models.conditioning.config import Prompt
    from productstudio.models.generators import load_generator

    model = load_generator(model_dir)
    prompt = Prompt(
        title, _parse_attrs(attr), AudienceProfile.parse(audience) if audience else None
    )
    images = model.sample([prompt] * n, seed=seed)
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
) -> None:
    """FID/KID, precision/recall and attribute accuracy of models vs the test split; JSON + HTML."""
    from productstudio.metrics.generation_eval import EvalParams, evaluate_models
    from productstudio.models.data import load_products
    from productstudio.models.generators import load_generator
    from productstudio.settings import get_settings

    size = load_generator(model_dirs[0]).size
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
