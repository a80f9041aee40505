"""Pretrained-model commands: ``scene`` (AI scenes, product kept exact) and ``generate``
(text-to-image and variations of a photo).

Both load a local diffusers model (``--model``: a name from ``models add``, a folder, a
checkpoint file or a cached hub id; default ``PRODUCTSTUDIO_PIPELINE`` or the one set up),
never the network unless ``--allow-download``. Every image is written with a ``.json``
beside it holding the prompt and all settings; ``--replay FILE.json`` makes it again.
torch and diffusers are imported inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from productstudio.cli.app import app, err, fail, handle_errors, out, progress_bar
from productstudio.errors import InputError, InvalidParamsError
from productstudio.models.pipelines.options import (
    Device,
    DType,
    GenerationParams,
    LoadOptions,
    Offload,
    SchedulerName,
    Task,
)

if TYPE_CHECKING:
    from productstudio.models.conditioning.audience import AudienceProfile
    from productstudio.models.pipelines.backend import DiffusersPipeline
    from productstudio.models.pipelines.prompts import ProductInfo, PromptBook

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".avif")
MODEL_HELP = (
    "Pretrained pipeline: a name from `models add`, a diffusers folder, a .safetensors "
    "checkpoint (with --config) or a hub id in the Hugging Face cache. Default: "
    "PRODUCTSTUDIO_PIPELINE, else the one set up."
)


# -- shared option handling ---------------------------------------------------------------
def _load_options(
    device: Device,
    dtype: DType,
    offload: Offload,
    attention_slicing: bool,
    vae_tiling: bool,
    scheduler: SchedulerName,
    allow_download: bool,
    safety_checker: bool,
    config: Path | None,
) -> LoadOptions:
    from productstudio.settings import get_settings

    return LoadOptions(
        device=device,
        dtype=dtype,
        offload=offload,
        attention_slicing=attention_slicing,
        vae_tiling=vae_tiling,
        scheduler=scheduler,
        allow_hub=allow_download or get_settings().allow_hub,
        safety_checker=safety_checker,
        config=config,
    )


def _load_pipeline(model: str | None, options: LoadOptions, task: Task) -> DiffusersPipeline:
    from productstudio.models.pipelines.backend import DiffusersPipeline

    with err.status("loading the model…") if _tty() else _null():
        pipe = DiffusersPipeline.load(model, options, task=task)
    src = pipe.source.label if pipe.source else "?"
    err.print(
        f"model {src} ({type(pipe.base).__name__}) on {pipe.device}/{pipe.dtype}"
        + (f", offload {pipe.offload.value}" if pipe.offload is not Offload.NONE else ""),
        highlight=False,
    )
    return pipe


def _tty() -> bool:
    from productstudio.cli.app import progress_enabled

    return progress_enabled()


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_a: object) -> None:
        return None


def _parse_attrs(values: list[str]) -> list[tuple[str, str]]:
    attrs: list[tuple[str, str]] = []
    for v in values:
        if "=" not in v:
            raise InvalidParamsError(f"--attr expects name=value (e.g. season=summer), got '{v}'")
        k, val = (s.strip() for s in v.split("=", 1))
        attrs.append((k.lower(), val))
    return attrs


def _metadata_row(path: Path, item_id: str) -> dict[str, str]:
    """The row of a metadata CSV whose ``id`` (or ``file``/``sku``) is ``item_id``."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            for row in reader:
                if item_id in (row.get("id"), row.get("sku"), row.get("file")):
                    return {k: v for k, v in row.items() if k is not None}
    except OSError as exc:
        raise InputError(f'cannot read "{path}": {exc}', path=path) from None
    raise InvalidParamsError(f'no row with id "{item_id}" in {path} (looked in id, sku, file)')


def _product_info(
    title: str | None,
    category: str | None,
    colour: str | None,
    material: str | None,
    attrs: list[str],
    metadata: Path | None,
    item_id: str | None,
) -> ProductInfo | None:
    from productstudio.models.pipelines.prompts import ProductInfo

    if (metadata is None) != (item_id is None):
        raise InvalidParamsError("--metadata and --id go together (the CSV and the row's id)")
    base = (
        ProductInfo.from_mapping(_metadata_row(metadata, item_id)) if metadata and item_id else None
    )
    extra = _parse_attrs(attrs)
    if base is None and not any((title, category, colour, material, extra)):
        return None
    b = base or ProductInfo()
    return ProductInfo(
        title=title or b.title,
        category=category or b.category,
        colour=colour or b.colour,
        material=material or b.material,
        attributes=tuple([*b.attributes, *extra]),
    )


def _book(templates: Path | None) -> PromptBook:
    from productstudio.models.pipelines.prompts import PromptBook

    return PromptBook.from_yaml(templates) if templates else PromptBook.default()


def _audience(text: str | None) -> AudienceProfile | None:
    from productstudio.models.conditioning.audience import AudienceProfile

    return AudienceProfile.parse(text) if text else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _out_paths(output: Path, stem: str, seeds: list[int], default_ext: str) -> list[Path]:
    """One path per seed: ``output`` itself for one image with an image suffix, else
    ``output/<stem>-s<seed><ext>`` (a folder) or ``<output stem>-s<seed><suffix>``."""
    if output.suffix.lower() in IMAGE_SUFFIXES:
        if len(seeds) == 1:
            return [output]
        return [output.with_name(f"{output.stem}-s{s}{output.suffix}") for s in seeds]
    return [output / f"{stem}-s{s}{default_ext}" for s in seeds]


def _check_overwrite(paths: list[Path], overwrite: bool) -> None:
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise InvalidParamsError(
            f'"{existing[0]}" exists; pass --overwrite to replace it (or another --output)'
        )


# -- scene ----------------------------------------------------------------------------------
def _list_presets(templates: Path | None) -> None:
    from rich.table import Table

    book = _book(templates)
    t = Table(title="scene presets (--scene)")
    for col in ("name", "summary"):
        t.add_column(col)
    for name in book.scene_names():
        t.add_row(name, book.scene(name).summary)
    out.print(t)
    t = Table(title="styles (--style) and templates (--template)")
    for col in ("kind", "name", "summary"):
        t.add_column(col)
    for name in book.style_names():
        t.add_row("style", name, "")
    for name in book.template_names():
        t.add_row("template", name, book.template_summary(name))
    out.print(t)


@app.command("scene")
@handle_errors
def scene_cmd(
    image: Path | None = typer.Argument(
        None, help="Product photo (cut out automatically) or an RGBA cut-out."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Output folder, or a file for one image (.png/.jpg/.webp)."
    ),
    scene: str = typer.Option("studio-sweep", "--scene", "-s", help="Scene preset (see --list)."),
    prompt: str | None = typer.Option(
        None,
        "--prompt",
        "-p",
        help="Scene text, on top of the preset (e.g. 'on a marble counter').",
    ),
    title: str | None = typer.Option(None, "--title", help="Product title."),
    category: str | None = typer.Option(None, "--category"),
    colour: str | None = typer.Option(None, "--colour", "--color"),
    material: str | None = typer.Option(None, "--material"),
    attr: list[str] = typer.Option([], "--attr", help="More metadata, name=value (repeatable)."),
    metadata: Path | None = typer.Option(None, "--metadata", help="A metadata CSV (with --id)."),
    item_id: str | None = typer.Option(None, "--id", help="The row of --metadata to use."),
    audience: str | None = typer.Option(
        None, "--audience", help="age_band=25-34,gender=women,interests=noir+sport,region=north"
    ),
    style: str | None = typer.Option(None, "--style", help="Marketplace style (see --list)."),
    template: str = typer.Option("default", "--template", help="Prompt template (see --list)."),
    templates: Path | None = typer.Option(None, "--templates", help="Your own prompts YAML."),
    negative: str | None = typer.Option(None, "--negative", help="Replace the default negative."),
    count: int = typer.Option(1, "--count", "-n", min=1, max=16, help="Candidates (seeds)."),
    seed: int = typer.Option(0, "--seed", min=0, help="First seed; candidates use seed+1 …"),
    steps: int = typer.Option(30, "--steps", min=1, max=1000),
    guidance: float = typer.Option(7.5, "--guidance", min=0.0, max=50.0),
    size: int | None = typer.Option(
        None, "--size", help="Canvas width in px (default: sized so the product keeps scale 1)."
    ),
    native: int | None = typer.Option(
        None, "--work-size", help="Model working size, long side (default: the model's own)."
    ),
    shadow: float | None = typer.Option(None, "--shadow", min=0.0, max=1.0, help="0 = none."),
    harmonise: float | None = typer.Option(None, "--harmonise", min=0.0, max=1.0),
    light_wrap: float | None = typer.Option(None, "--light-wrap", min=0.0, max=1.0),
    segmenter: str = typer.Option("auto", "--segmenter", help="Segmenter for photos."),
    model: str | None = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    config: Path | None = typer.Option(
        None, "--config", help="For a single checkpoint: a diffusers folder with its configs."
    ),
    device: Device = typer.Option(Device.AUTO, "--device"),
    dtype: DType = typer.Option(DType.AUTO, "--dtype"),
    offload: Offload = typer.Option(Offload.NONE, "--offload", help="CPU offload on a GPU."),
    attention_slicing: bool = typer.Option(False, "--attention-slicing"),
    vae_tiling: bool = typer.Option(False, "--vae-tiling"),
    scheduler: SchedulerName = typer.Option(SchedulerName.DEFAULT, "--scheduler"),
    allow_download: bool = typer.Option(
        False, "--allow-download", help="Let diffusers fetch missing files from the hub."
    ),
    safety_checker: bool = typer.Option(True, "--safety-checker/--no-safety-checker"),
    overwrite: bool = typer.Option(False, "--overwrite"),
    replay: Path | None = typer.Option(
        None, "--replay", help="Make the scene of a saved .json again (same seed and settings)."
    ),
    list_presets: bool = typer.Option(False, "--list", help="List scenes, styles and templates."),
) -> None:
    """Put the product in an AI-generated scene; its own pixels stay exactly as they are.

    The model paints everything but the product (an inpainting checkpoint works best);
    the product goes back on top bit for bit, with a contact shadow and an edge that blends
    with the new scene. Several candidates: -n 4 (seeds SEED, SEED+1 …).
    """
    from productstudio.imaging import load_image
    from productstudio.imaging.types import alpha_product_mask, to_uint8
    from productstudio.models.pipelines.prompts import BuiltPrompt, ScenePreset
    from productstudio.models.pipelines.records import load_record, save_with_record
    from productstudio.models.pipelines.scene import (
        SceneLayout,
        generate_scenes,
        scene_params_of,
    )
    from productstudio.ops.scene import SceneParams
    from productstudio.ops.shadow import ContactShadowParams

    if list_presets:
        _list_presets(templates)
        return
    if output is None:
        raise fail("give --output (a folder, or a file for one image)")
    opts = _load_options(
        device, dtype, offload, attention_slicing, vae_tiling, scheduler, allow_download,
        safety_checker, config,
    )  # fmt: skip
    rec: dict[str, Any] | None = None
    if replay is not None:
        rec = load_record(replay)
        if rec.get("kind") != "scene":
            raise fail(f'"{replay}" is not a scene record; replay it with `productstudio generate`')
        image = image or Path(rec.get("input", {}).get("path") or "")
        want = rec.get("input", {}).get("sha256")
        if want and image.is_file() and _sha256(image) != want:
            err.print(f"[yellow]warning:[/] {image} changed since the scene was made")
        model = model or rec.get("model_ref") or rec["pipeline"]["model"].get("path")
        opts = replace(
            LoadOptions.from_dict(rec["pipeline"]["load_options"]), allow_hub=opts.allow_hub
        )
    if image is None:
        raise fail("give the product photo (or --list)")
    loaded = load_image(image)
    px = to_uint8(loaded.pixels)
    if alpha_product_mask(px) is not None:  # an RGBA cut-out is used as it is
        product = px
    else:
        from productstudio.cli.main_cmds import pick_segmenter  # `auto` as for run/cutout
        from productstudio.ops.cutout import cutout

        seg = pick_segmenter(segmenter).load().segment(px[..., :3])
        if seg.unsure:
            err.print(
                f"[yellow]warning:[/] unsure cut-out ({seg.backend}, {seg.confidence:.2f}): "
                + "; ".join(seg.notes),
                highlight=False,
            )
        product = cutout(px[..., :3], seg.mask)

    if rec is not None:
        built = BuiltPrompt(**{k: v for k, v in rec["prompt"].items() if k != "dropped"})
        gp = GenerationParams.from_dict(rec["generation"])
        lay_d = dict(rec["layout"])
        layout = SceneLayout(**lay_d)
        sd = dict(rec["scene"])
        sh = sd.pop("shadow")
        sp = SceneParams(**sd, shadow=ContactShadowParams(**sh) if sh else None)
        count, native = 1, int(max(rec["work_size"]))
    else:
        book = _book(templates)
        preset = book.scene(scene) if scene else ScenePreset("custom", "")
        info = _product_info(title, category, colour, material, attr, metadata, item_id)
        built = book.build(
            info,
            template=template,
            scene=preset,
            scene_text=prompt,
            style=style,
            audience=_audience(audience),
            negative=negative,
        )
        sp = scene_params_of(preset)
        sp = replace(
            sp,
            harmonise=sp.harmonise if harmonise is None else harmonise,
            light_wrap=sp.light_wrap if light_wrap is None else light_wrap,
            shadow=sp.shadow
            if shadow is None
            else (ContactShadowParams(opacity=shadow) if shadow > 0 else None),
        )
        layout = SceneLayout.from_preset(preset, size)
        gp = GenerationParams(steps=steps, guidance=guidance, seed=seed)
    seeds = [gp.seed + i for i in range(count)]
    paths = _out_paths(output, f"{image.stem}-scene", seeds, ".png")
    _check_overwrite(paths, overwrite)
    err.print(f"prompt: {built.prompt}", highlight=False, markup=False)
    pipe = _load_pipeline(model, opts, Task.INPAINT)
    with progress_bar("scene", count * gp.steps) as on_progress:
        results = generate_scenes(
            pipe,
            product,
            built,
            gp,
            layout=layout,
            scene=sp,
            candidates=count,
            native=native,
            on_progress=on_progress,
        )
    for res, path in zip(results, paths, strict=True):
        record = {
            **res.record,
            "model_ref": model,
            "input": {"path": str(image.resolve()), "sha256": _sha256(image)},
        }
        if res.generated.nsfw:
            err.print(f"[yellow]warning:[/] the safety checker blanked seed {res.seed}")
        img_path, _js = save_with_record(res.image, path, record)
        out.print(str(img_path))


# -- generate -------------------------------------------------------------------------------
@app.command("generate")
@handle_errors
def generate_cmd(
    prompt: str | None = typer.Argument(
        None, help="What to draw. With product metadata it is added to the built prompt."
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Output folder, or a file for one image (.png/.jpg/.webp)."
    ),
    image: Path | None = typer.Option(
        None, "--image", "-i", help="Make variations of this photo (image-to-image)."
    ),
    strength: float = typer.Option(
        0.6, "--strength", min=0.01, max=1.0, help="Variations: 0.2 stays close, 0.9 repaints."
    ),
    title: str | None = typer.Option(None, "--title", help="Product title."),
    category: str | None = typer.Option(None, "--category"),
    colour: str | None = typer.Option(None, "--colour", "--color"),
    material: str | None = typer.Option(None, "--material"),
    attr: list[str] = typer.Option([], "--attr", help="More metadata, name=value (repeatable)."),
    metadata: Path | None = typer.Option(None, "--metadata", help="A metadata CSV (with --id)."),
    item_id: str | None = typer.Option(None, "--id", help="The row of --metadata to use."),
    audience: str | None = typer.Option(None, "--audience", help="age_band=…,gender=…"),
    style: str | None = typer.Option(None, "--style", help="Marketplace style."),
    template: str = typer.Option("packshot", "--template", help="Prompt template."),
    templates: Path | None = typer.Option(None, "--templates", help="Your own prompts YAML."),
    scene: str | None = typer.Option(None, "--scene", help="A scene preset's text in {scene}."),
    negative: str | None = typer.Option(None, "--negative", help="Replace the default negative."),
    count: int = typer.Option(1, "--count", "-n", min=1, max=64),
    seed: int = typer.Option(0, "--seed", min=0),
    steps: int = typer.Option(30, "--steps", min=1, max=1000),
    guidance: float = typer.Option(7.5, "--guidance", min=0.0, max=50.0),
    width: int | None = typer.Option(None, "--width", help="Multiple of 8; default: native."),
    height: int | None = typer.Option(None, "--height"),
    model: str | None = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    config: Path | None = typer.Option(None, "--config"),
    device: Device = typer.Option(Device.AUTO, "--device"),
    dtype: DType = typer.Option(DType.AUTO, "--dtype"),
    offload: Offload = typer.Option(Offload.NONE, "--offload"),
    attention_slicing: bool = typer.Option(False, "--attention-slicing"),
    vae_tiling: bool = typer.Option(False, "--vae-tiling"),
    scheduler: SchedulerName = typer.Option(SchedulerName.DEFAULT, "--scheduler"),
    allow_download: bool = typer.Option(False, "--allow-download"),
    safety_checker: bool = typer.Option(True, "--safety-checker/--no-safety-checker"),
    overwrite: bool = typer.Option(False, "--overwrite"),
    replay: Path | None = typer.Option(None, "--replay", help="Make a saved .json's image again."),
) -> None:
    """New product images from a title and attributes (text-to-image), or variations of a
    real photo (--image, image-to-image with --strength)."""
    from productstudio.imaging import load_image
    from productstudio.models.pipelines.prompts import BuiltPrompt
    from productstudio.models.pipelines.records import load_record, save_with_record

    opts = _load_options(
        device, dtype, offload, attention_slicing, vae_tiling, scheduler, allow_download,
        safety_checker, config,
    )  # fmt: skip
    src: Any = None
    if replay is not None:
        rec = load_record(replay)
        if rec.get("kind") != "generate":
            raise fail(f'"{replay}" is not a generate record; replay it with `productstudio scene`')
        built = BuiltPrompt(**{k: v for k, v in rec["prompt"].items() if k != "dropped"})
        gp = GenerationParams.from_dict(rec["generation"])
        task = Task(rec["task"])
        model = model or rec.get("model_ref") or rec["pipeline"]["model"].get("path")
        opts = replace(
            LoadOptions.from_dict(rec["pipeline"]["load_options"]), allow_hub=opts.allow_hub
        )
        if task is Task.IMAGE_TO_IMAGE:
            image = Path(rec["input"]["path"])
        count = 1
    else:
        from productstudio.models.pipelines.generate import generation_prompt

        info = _product_info(title, category, colour, material, attr, metadata, item_id)
        if info is None and scene is None and not prompt and image is None:
            raise fail("give a prompt, or product metadata (--title, --metadata/--id …)")
        built = generation_prompt(
            _book(templates),
            info,
            text=prompt or "",
            template=template,
            scene=scene,
            style=style,
            audience=_audience(audience),
            negative=negative,
            variations=image is not None,
        )
        task = Task.IMAGE_TO_IMAGE if image is not None else Task.TEXT_TO_IMAGE
        gp = GenerationParams(
            prompt=built.prompt,
            negative_prompt=built.negative_prompt,
            steps=steps,
            guidance=guidance,
            seed=seed,
            width=width,
            height=height,
            strength=strength if image is not None else 1.0,
        )
    if image is not None:
        src = load_image(image).pixels
    seeds = [gp.seed + i for i in range(count)]
    stem = image.stem + "-variation" if image is not None else "generated"
    paths = _out_paths(output, stem, seeds, ".png")
    _check_overwrite(paths, overwrite)
    err.print(f"prompt: {built.prompt}", highlight=False, markup=False)
    pipe = _load_pipeline(model, opts, task)
    from productstudio.models.pipelines.generate import GeneratedImage, generate_images

    def save(made: GeneratedImage) -> None:
        record = {**made.record, "model_ref": model}
        if image is not None:
            record["input"] = {"path": str(image.resolve()), "sha256": _sha256(image)}
        if made.generated.nsfw:
            err.print(f"[yellow]warning:[/] the safety checker blanked seed {made.seed}")
        img_path, _js = save_with_record(made.image, paths[made.seed - gp.seed], record)
        out.print(str(img_path))

    with progress_bar(task.value, count * gp.steps) as on_progress:
        generate_images(
            pipe, built, gp, count=count, image=src, on_progress=on_progress, on_image=save
        )


__all__ = ["generate_cmd", "scene_cmd"]
