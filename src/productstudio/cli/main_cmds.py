"""Main-job commands: ``run`` (a folder → marketplace-ready images), ``cutout``, ``models``."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from productstudio.cli.app import (
    app,
    byte_progress,
    err,
    fail,
    go_offline,
    handle_errors,
    out,
    progress_bar,
)
from productstudio.errors import InvalidParamsError
from productstudio.imaging import ImageFormat, encode_image, encode_mask, load_image, write_atomic
from productstudio.imaging.types import as_mask
from productstudio.models.discovery import (
    Pick,
    Resolved,
    available,
    find_weights,
    resolve,
)
from productstudio.models.pull import pull, verify
from productstudio.models.segmenters import (
    FIRST_RUN_MODEL,
    SEGMENTERS,
    Segmenter,
    resolve_segmenter,
)
from productstudio.models.segmenters.confidence import judge_cutout
from productstudio.ops.canvas import Align
from productstudio.ops.cutout import CutoutParams, Refine, cutout_report
from productstudio.ops.opacity import Opacity

if TYPE_CHECKING:
    from productstudio.catalog.job import RunSummary
    from productstudio.catalog.worker import ItemResult

OPACITY_HELP = (
    "solid: the product is opaque (alpha 0/1 except a thin edge; a holding hand is removed "
    "or kept whole). soft: keep the segmenter's soft alpha (glass, mesh, hair)."
)
MODEL_HELP = (
    "Segmenter: a name (see `productstudio models list`), 'auto' (best model found in "
    "PRODUCTSTUDIO_MODELS, rembg's ~/.u2net or the cache; on a first run with none it "
    f"downloads {FIRST_RUN_MODEL}, else the built-in classical one) or a path to an .onnx file."
)
OFFLINE_HELP = (
    "Never download: with no model found, `--model auto` uses the built-in classical "
    "segmenter (plain backgrounds only). Same as PRODUCTSTUDIO_OFFLINE=1."
)


def pick_segmenter(
    model: str, *, offline: bool = False, header: bool = False
) -> Resolved[Segmenter]:
    """Resolve ``--model`` once, before any work, the same way for every command: the
    first-run download's notice line and progress bar, or why it fell back, go to stderr.

    Args:
        header: the caller prints :meth:`Resolved.describe` in its own header line (``run``);
            otherwise a first-run download or a fallback is told here in one line.
    """
    if offline:
        go_offline()

    def notice(message: str) -> None:
        err.print("[yellow]![/] " + escape(message), highlight=False)

    with byte_progress(f"download {FIRST_RUN_MODEL}") as bar:
        chosen = resolve_segmenter(model, on_notice=notice, on_progress=bar)
    if chosen.problem:
        notice(chosen.problem)
    if not header and chosen.pick in (Pick.DOWNLOADED, Pick.FALLBACK):
        err.print(f"segmenter: {escape(chosen.describe())}", highlight=False)
    return chosen


def _format_option(value: str) -> ImageFormat:
    try:
        return ImageFormat.from_suffix("x." + value.lower().lstrip("."))
    except InvalidParamsError:
        raise typer.BadParameter(
            f"unknown format '{value}': use jpg, png, webp, avif or tif"
        ) from None


EXECUTOR_HELP = (
    "Where items run: serial (this process), local (a process pool) or ray (Ray Data actors; "
    "a local Ray unless --ray-address is given)."
)


@app.command()
@handle_errors
def run(
    inputs: Path = typer.Argument(
        ...,
        help="A folder of photos (searched recursively), one photo, or a CSV/JSONL list.",
    ),
    output: Path = typer.Option(
        ...,
        "--output",
        "-o",
        help="Output folder (created if missing); for one photo, a file name such as out.jpg.",
    ),
    model: str = typer.Option("auto", "--model", "-m", help=MODEL_HELP),
    size: int = typer.Option(
        2000, help="Square canvas side in px (use --width/--height for others)."
    ),
    width: int | None = typer.Option(None, help="Canvas width in px (overrides --size)."),
    height: int | None = typer.Option(None, help="Canvas height in px (overrides --size)."),
    fill: float = typer.Option(0.85, help="Share of the canvas the product's box fills (0-1]."),
    align: Align = typer.Option(Align.CENTER, help="Vertical placement of the product."),
    background: str = typer.Option(
        "#ffffff", help="Canvas colour (hex or CSS name), or 'transparent'."
    ),
    fmt: str | None = typer.Option(
        None,
        "--format",
        "-f",
        help="Output format: jpg, png, webp, avif, tif (default jpg, or the -o file's).",
    ),
    quality: int = typer.Option(92, min=1, max=100, help="JPEG/WebP/AVIF quality."),
    refine: Refine = typer.Option(Refine.NONE, help="Edge refinement of the cut-out."),
    opacity: Opacity = typer.Option(Opacity.SOLID, help=OPACITY_HELP),
    workers: int = typer.Option(0, min=0, help="Worker processes or Ray actors (0 = auto)."),
    executor: str = typer.Option("local", "--executor", "-x", help=EXECUTOR_HELP),
    ray_address: str | None = typer.Option(
        None, help="Ray cluster address (host:6379 or ray://host:10001), with --executor ray."
    ),
    overwrite: bool = typer.Option(False, help="Redo items that a previous run completed."),
    store: str | None = typer.Option(
        None,
        help="Job store URL (default: SQLite file in the output folder); e.g. "
        "postgresql+psycopg://user@host/db, shared by runners on several machines.",
    ),
    template: str | None = typer.Option(
        None,
        help="Output path template below -o: {key} (the item's id), {name}, {preset}, {ext}; "
        "default {key}.{ext}, or {key}/{preset}.{ext} with several presets.",
    ),
    manifest: str = typer.Option(
        "jsonl", help="Per-run manifest in OUTPUT/manifests/: jsonl, csv or none."
    ),
    batch_size: int = typer.Option(4, min=1, help="Items per worker call and store claim."),
    retries: int = typer.Option(2, min=0, help="Retries of transient failures (with back-off)."),
    max_pixels: int | None = typer.Option(
        None, min=1, help="Refuse larger inputs (default 50 MP)."
    ),
    preset: list[str] | None = typer.Option(
        None,
        help="A marketplace preset (see `productstudio recipe list`), e.g. amazon-main, "
        "walmart, etsy; repeat it for several outputs per item. Replaces the canvas, "
        "background and format options.",
    ),
    recipe: Path | None = typer.Option(
        None, help="A YAML recipe file (see `productstudio recipe show amazon-main`)."
    ),
    offline: bool = typer.Option(False, "--offline", help=OFFLINE_HELP),
) -> None:
    """Make marketplace-ready main images: cut out, centre, white background, square JPEG.

    Defaults follow Amazon's main-image rules (pure white 255/255/255, product filling 85 %
    of a 2000x2000 sRGB JPEG). Re-running skips outputs that are already complete (same
    input content, settings and model); a killed run continues where it stopped.
    """
    # the catalog layer (SQLAlchemy, process pools, Ray) is imported here, not at start-up
    from productstudio.catalog.job import RunOptions, run_catalog
    from productstudio.catalog.store import Status
    from productstudio.catalog.worker import MAIN_CANVAS, JobSpec

    presets = list(preset or [])
    if presets and recipe:
        raise fail("give --preset or --recipe, not both")
    refs: list[str | None] = [*presets] or [str(recipe) if recipe else None]
    for ref in refs:
        if ref is not None:
            from productstudio.recipes import load_recipe

            load_recipe(ref)  # validate before any work: errors name file, line and key
    if fmt is None:
        one_file = inputs.is_file() and output.suffix and not output.is_dir()
        fmt = (
            output.suffix if one_file and inputs.suffix.lower() not in (".csv", ".jsonl") else "jpg"
        )
    bg = None if background.lower() in ("transparent", "none") else background
    specs = [
        JobSpec(
            model=model,
            canvas=dataclasses.replace(
                MAIN_CANVAS, width=width or size, height=height or size, fill=fill, align=align
            ),
            cutout=CutoutParams(refine=refine, opacity=opacity),
            background=bg,
            fmt=_format_option(fmt),
            quality=quality,
            max_pixels=max_pixels,
            recipe=ref,
        )
        for ref in refs
    ]
    options = RunOptions(
        executor=executor,  # type: ignore[arg-type]  # validated by RunOptions
        workers=workers,
        ray_address=ray_address,
        store=store,
        overwrite=overwrite,
        template=template,
        manifest=manifest,  # type: ignore[arg-type]
        batch_size=batch_size,
        retries=retries,
    )
    chosen = pick_segmenter(model, offline=offline, header=True)  # fails fast, before work
    # workers never resolve `auto` again
    specs = [dataclasses.replace(s, model=chosen.choice) for s in specs]
    err.print(
        f"{inputs} → {output}  (segmenter: {escape(chosen.describe())}"
        + f", executor: {options.executor.value})",
        highlight=False,
    )

    def show(res: ItemResult) -> None:
        where = str(res.source)
        if res.status == Status.FAILED:
            text = res.message if where in res.message else f"{where}: {res.message}"
            err.print("[red]✗[/] " + escape(text), highlight=False)
        elif res.status == Status.DONE and res.message:  # step notes, shown once, here
            err.print("[yellow]![/] " + escape(f"{where}: {res.message}"), highlight=False)

    with progress_bar("run", 0) as on_progress:
        summary = run_catalog(
            inputs, output, specs, options, on_progress=on_progress, on_result=show
        )
    _print_summary(summary)
    if summary.interrupted:
        raise fail(
            f"interrupted: {summary.done} item(s) done and kept; run the same command again "
            "to continue",
            130,
        )
    if not summary.ok:
        raise typer.Exit(1)


def _print_summary(summary: RunSummary) -> None:
    table = Table(title="productstudio run", show_edge=False)
    table.add_column("status")
    table.add_column("count", justify="right")
    table.add_row("[green]done[/]", str(summary.done))
    table.add_row("skipped (already done)", str(summary.skipped))
    table.add_row("[red]failed[/]" if summary.failed else "failed", str(summary.failed))
    if summary.unsure:
        table.add_row("[yellow]done, cut-out unsure[/]", str(summary.unsure))
    out.print(table)
    if summary.manifest is not None:
        err.print(f"manifest: {summary.manifest}", highlight=False)


@app.command("cutout")
@handle_errors
def cutout_cmd(
    image: str = typer.Argument(..., help="Photo to cut out, or '-' for standard input."),
    output: str = typer.Option(
        ...,
        "--output",
        "-o",
        help="RGBA output (.png/.webp/.tif/.avif), or '-' for PNG on standard output.",
    ),
    model: str = typer.Option("auto", "--model", "-m", help=MODEL_HELP),
    refine: Refine = typer.Option(Refine.NONE, help="Edge refinement."),
    opacity: Opacity = typer.Option(Opacity.SOLID, help=OPACITY_HELP),
    mask_only: bool = typer.Option(
        False, "--mask", help="Write the alpha matte as a single-channel (L) grey image instead."
    ),
    max_pixels: int | None = typer.Option(
        None, min=1, help="Refuse larger inputs (default 50 MP)."
    ),
    offline: bool = typer.Option(False, "--offline", help=OFFLINE_HELP),
) -> None:
    """Cut one product out: an RGBA image with a soft alpha and clean edges."""
    fmt = ImageFormat.PNG if output == "-" else ImageFormat.from_suffix(output)
    if not fmt.supports_alpha and not mask_only:
        raise fail(f'"{output}": {fmt.value} has no transparency; use .png, .webp, .tif or .avif')
    if image == "-":
        loaded = load_image(sys.stdin.buffer.read(), name="<stdin>", max_pixels=max_pixels)
    else:
        loaded = load_image(Path(image), max_pixels=max_pixels)
    seg = pick_segmenter(model, offline=offline).load().segment(loaded.pixels)
    rgba, report = cutout_report(
        loaded.pixels, seg.mask, CutoutParams(refine=refine, opacity=opacity)
    )
    judged = judge_cutout(loaded.pixels, seg, as_mask(rgba[..., 3]), report)
    if judged.unsure:
        err.print(
            f"[yellow]warning:[/] unsure cut-out of {loaded.source} ({seg.backend}, confidence "
            f"{judged.confidence:.2f}): {'; '.join(judged.reasons)}",
            highlight=False,
        )
    data = encode_mask(rgba[..., 3], fmt) if mask_only else encode_image(rgba, fmt)
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        write_atomic(data, output)
        err.print(f"wrote {output}", highlight=False)


models_app = typer.Typer(help="List, download and verify model files.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
@handle_errors
def models_list(
    kind: list[str] = typer.Option(
        [],
        "--kind",
        "-k",
        help="Only these kinds: segmenter, upscaler, inpainter, style, text-detector, "
        "generator, pipeline (repeatable).",
    ),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Every model of every kind, whether it is here, and what `auto` picks."""
    from productstudio.cli.models_cmds import print_inventory
    from productstudio.models.manage import ModelKind

    try:
        kinds = [ModelKind(k) for k in kind] or None
    except ValueError:
        raise fail(
            f"unknown --kind in {kind}: use {', '.join(k.value for k in ModelKind)}"
        ) from None
    print_inventory(kinds, as_json)


@models_app.command("pull")
@handle_errors
def models_pull(
    name: str = typer.Argument(
        ..., help="Model name from `productstudio models list`, e.g. u2netp or isnet-general-use."
    ),
    url: str | None = typer.Option(
        None, help="Download from this URL instead (the sha256 pin still applies)."
    ),
    force: bool = typer.Option(False, help="Download again even if a verified copy exists."),
) -> None:
    """Download a model into the cache, checking its pinned sha256 (rembg's release file).

    Every name `models list` shows is known: segmenters download; other models say why they
    do not (no pinned file, built in, or a pipeline to set up with `models add`)."""
    from productstudio.errors import UnknownBackendError
    from productstudio.models.inventory import find_backend, list_models

    found = find_backend(name)
    if found is None:
        other = next((r for r in list_models(["pipeline", "generator"]) if r.name == name), None)
        if other is not None and other.source == "trainable":
            raise fail(
                f"'{name}' is one of ProductStudio's own generators: nothing to download; "
                f"train one with `productstudio train {name}`"
            )
        if other is not None:
            raise fail(
                f"'{name}' is a {other.kind.value} you set up yourself (`productstudio models "
                "add NAME PATH`): `models pull` only fetches pinned model files"
            )
        pinned = [n for n in SEGMENTERS.names() if SEGMENTERS.get(n).sha256]
        raise UnknownBackendError(
            f"unknown model '{name}': `productstudio models list` shows every name; pinned "
            f"downloads: {', '.join(pinned)}"
        )
    kind, entry = found
    if entry.locate is not None or (not entry.file_names and entry.hint):
        raise fail(f"the {kind.value} '{name}' has no file to download: {entry.hint}")
    with byte_progress(f"pull {entry.name}") as on_progress:
        path = pull(entry, url=url, force=force, on_progress=on_progress)
    out.print(str(path), highlight=False)


@models_app.command("verify")
@handle_errors
def models_verify(
    names: list[str] = typer.Argument(
        None, help="Model names or files (default: every model found)."
    ),
) -> None:
    """Check model files: segmenters against their pin plus a test inference; added models
    and pipelines (diffusers folders, checkpoints, HF cache) by the sha256 of every file."""
    import numpy as np

    targets = []
    others = [n for n in names or [] if n not in SEGMENTERS and Path(n).suffix != ".onnx"]
    if others:
        from productstudio.cli.models_cmds import verify_added

        if not verify_added(others):
            raise typer.Exit(1)
        if len(others) == len(names):
            return
    if names:
        for n in names:
            if n not in others:
                targets.append(resolve(SEGMENTERS, n))
    else:
        targets = [(e, p) for e, p in available(SEGMENTERS)]
    table = Table(title="verify")
    for col in ("name", "file", "sha256", "inference"):
        table.add_column(col)
    bad = False
    probe = np.zeros((64, 64, 3), np.uint8)
    probe[16:48, 16:48] = (200, 30, 30)
    for entry, path in targets:
        pin = verify(entry, path) if path else None
        pin_txt = (
            "built in"
            if path is None
            else {
                True: "[green]matches pin[/]",
                False: "[yellow]differs from pin[/]",
                None: "no pin",
            }[pin]
        )
        try:
            seg = entry.load(path).segment(probe)
            ok = seg.mask.shape == (64, 64) and bool(np.isfinite(seg.mask).all())
            inf_txt = "[green]ok[/]" if ok else "[red]bad output[/]"
        except Exception as exc:  # report every kind of load failure in the table
            ok = False
            inf_txt = f"[red]{exc}[/]"
        bad |= not ok
        table.add_row(entry.name, str(path or "-"), pin_txt, inf_txt)
    out.print(table)
    if not names:
        from productstudio.cli.models_cmds import verify_added
        from productstudio.models.manage import ModelStore

        added = [m.name for m in ModelStore().all()]
        if added:
            bad |= not verify_added(added)
    if bad:
        raise typer.Exit(1)


__all__ = [
    "cutout_cmd",
    "find_weights",
    "models_list",
    "models_pull",
    "models_verify",
    "pick_segmenter",
    "run",
]
