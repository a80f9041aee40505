"""``productstudio translate IMG... --model DIR -o OUT``: image-to-image translation with a
trained ``cyclegan`` model (e.g. in-store photo → studio packshot look).

Also holds what ``train cyclegan`` needs beyond the generator families (domain photos, paired
composites), so that :mod:`.generate_cmds` stays one small branch. Torch loads inside the
commands only.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from productstudio.cli.app import app, handle_errors, out, progress_bar
from productstudio.errors import InvalidParamsError


class DirectionChoice(StrEnum):
    A2B = "a2b"
    B2A = "b2a"


def translation_training(
    data: Path,
    *,
    size: int,
    overrides: dict[str, object],
    seed: int,
    limit: int | None,
    backgrounds: Path | None,
    variants: int,
    resume_from: Path | None = None,
) -> tuple[Any, Any, Any]:
    """A fresh ``cyclegan`` model, its training set and preview photos (validation split).

    Unpaired: the products of ``domain_a`` (train split) + all of ``domain_b`` (config defaults:
    grocery-natural → grocery-iconic); held-out domain-A photos are what evaluation translates.
    Paired (``--set mode=paired``): studio photos of ``studio_sources`` (train split) cut out
    and composited over crops of the ``backgrounds`` photos. ``resume_from``: a model folder
    whose saved model (and settings) continue.

    Raises:
        InvalidParamsError: paired mode without --backgrounds.
    """
    from productstudio.models.data import ATTRIBUTES, Split, Vocab, load_products
    from productstudio.models.generators import CycleGAN, default_config, load_generator
    from productstudio.models.generators.cyclegan import TranslationMode
    from productstudio.models.translation_data import composite_pairs, load_backgrounds
    from productstudio.settings import get_settings

    resumed = load_generator(resume_from) if resume_from is not None else None
    if resumed is not None and not isinstance(resumed, CycleGAN):
        raise InvalidParamsError(f"{resume_from} holds a {resumed.family} model, not cyclegan")
    cfg: Any = (
        resumed.config if resumed is not None else default_config("cyclegan", size, **overrides)
    )
    cache = get_settings().cache_dir / "products"
    if cfg.mode == TranslationMode.PAIRED:
        if backgrounds is None:
            raise InvalidParamsError(
                "paired training composites studio photos over background photos: pass "
                "--backgrounds DIR (a folder with manifest.csv, e.g. ../shared/data/backgrounds)"
            )
        studio = load_products(
            data, size=size, sources=cfg.studio_sources, limit=limit, cache_dir=cache
        )
        products = composite_pairs(
            studio, load_backgrounds(backgrounds), variants=variants, seed=seed
        )
        preview = products.subset(Split.VAL)
    else:
        products = load_products(
            data, size=size, sources=(*cfg.domain_a, *cfg.domain_b), limit=limit, cache_dir=cache
        )
        val = products.subset(Split.VAL)
        preview = val.take([i for i, r in enumerate(val.records) if r.source in cfg.domain_a])
    cc, vocab = CycleGAN.default_condition(
        Vocab.build([r.attrs for r in products.records], ATTRIBUTES)
    )
    model = resumed if resumed is not None else CycleGAN.from_config(cfg, cc, vocab, seed=seed)
    # held-out photos to translate come from the source side only: the target look (domain B,
    # 81 packshots by default) is learnt from all of its photos
    keep = [
        i
        for i, r in enumerate(products.records)
        if r.split == Split.TRAIN
        or (cfg.mode == TranslationMode.UNPAIRED and r.source in cfg.domain_b)
    ]
    return model, products.take(keep), preview


def _outputs(images: list[Path], output: Path) -> list[Path]:
    if len(images) == 1 and output.suffix:
        return [output]
    if output.suffix and len(images) > 1:
        raise InvalidParamsError(
            f"{len(images)} inputs need an output folder, not the file name {output}"
        )
    return [output / f"{p.stem}.png" for p in images]


@app.command("translate")
@handle_errors
def translate_cmd(
    images: list[Path] = typer.Argument(..., help="Photos to translate (files)."),
    model: Path = typer.Option(..., "--model", "-m", help="A folder from `train cyclegan`."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Output file (one input) or folder (several)."
    ),
    direction: DirectionChoice = typer.Option(
        DirectionChoice.A2B, "--direction", help="a2b (e.g. in-store → studio) or b2a."
    ),
    size: int | None = typer.Option(
        None,
        "--size",
        min=8,
        max=4096,
        help="Resize the result to this side (Lanczos); default: the model's size.",
    ),
    strength: float = typer.Option(
        1.0,
        "--strength",
        min=0.0,
        max=1.0,
        help="Blend with the photo: 1 = the translation, 0.5 = halfway (keeps more of the "
        "product; see docs/generators/style_translation.md for what each strength measures).",
    ),
) -> None:
    """Translate photos with a trained CycleGAN / paired model (e.g. in-store → studio look).

    Each photo is padded to a square on white and resized to the model's size (the size it was
    trained at), translated, and written as PNG.
    """
    import numpy as np
    from PIL import Image as PILImage

    from productstudio.imaging import load_image, save_image
    from productstudio.models.data import prepare_image
    from productstudio.models.generators import CycleGAN, load_generator
    from productstudio.models.generators.cyclegan import blend_translation
    from productstudio.ops.composite import composite

    m = load_generator(model)
    if not isinstance(m, CycleGAN):
        raise InvalidParamsError(
            f"{model} holds a '{m.family}' model; translate needs one from `train cyclegan` "
            "(use `productstudio sample` for generators)"
        )
    m.generator_for(direction.value)  # fails early for b2a on a paired model
    targets = _outputs(images, output)
    with progress_bar("translate", len(images)) as cb:
        for i, (src, dst) in enumerate(zip(images, targets, strict=True)):
            px = load_image(src).pixels.astype(np.uint8, copy=False)
            rgb = composite(px, "#ffffff") if px.shape[2] == 4 else px  # flatten on white
            x = prepare_image(np.ascontiguousarray(rgb), m.size)[None]
            y = blend_translation(x[0], m.translate(x, direction.value)[0], strength)
            if size is not None and size != m.size:
                y = np.asarray(
                    PILImage.fromarray(y).resize((size, size), PILImage.Resampling.LANCZOS)
                )
            out.print(str(save_image(y, dst)))
            cb(i + 1, len(images))
