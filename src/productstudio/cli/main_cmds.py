"""Main-job commands: ``run`` (a folder → marketplace-ready images), ``cutout``, ``models``."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from productstudio.cli.app import app, err, fail, handle_errors, out, progress_bar
from productstudio.errors import InvalidParamsError
from productstudio.imaging import ImageFormat, encode_image, encode_mask, load_image, write_atomic
from productstudio.models.discovery import available, find_weights, resolve
from productstudio.models.pull import pull, verify
from productstudio.models.segmenters import SEGMENTERS, load_segmenter
from productstudio.ops.canvas import Align
from productstudio.ops.cutout import CutoutParams, Refine, cutout

if TYPE_CHECKING:
    from productstudio.catalog.worker import ItemResult

MODEL_HELP = (
    "Segmenter: a name (see `productstudio models list`), 'auto' (best model found in "
    "PRODUCTSTUDIO_MODELS or rembg's ~/.u2net, else the built-in classical one) or a path to "
    "an .onnx file."
)


def _format_option(value: str) -> ImageFormat:
    try:
        return ImageFormat.from_suffix("x." + value.lower().lstrip("."))
    except InvalidParamsError:
        raise typer.BadParameter(
            f"unknown format '{value}': use jpg, png, webp, avif or tif"
        ) from None


@app.command()
@handle_errors
def run(
    inputs: Path = typer.Argument(
        ..., help="A folder of photos (searched recursively), one photo, or a CSV/JSONL list."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder (created if missing)."),
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
    fmt: str = typer.Option(
        "jpg", "--format", "-f", help="Output format: jpg, png, webp, avif, tif."
    ),
    quality: int = typer.Option(92, min=1, max=100, help="JPEG/WebP/AVIF quality."),
    refine: Refine = typer.Option(Refine.NONE, help="Edge refinement of the cut-out."),
    workers: int = typer.Option(0, min=0, help="Worker processes (0 = auto)."),
    overwrite: bool = typer.Option(False, help="Redo items that a previous run completed."),
    store: str | None = typer.Option(
        None,
        help="Job store URL (default: SQLite file in the output folder); e.g. postgresql+psycopg://user@host/db.",
    ),
    max_pixels: int | None = typer.Option(
        None, min=1, help="Refuse larger inputs (default 50 MP)."
    ),
    preset: str | None = typer.Option(
        None,
        help="A marketplace preset (see `productstudio recipe list`), e.g. amazon-main, "
        "walmart, etsy. Replaces the canvas, background and format options.",
    ),
    recipe: Path | None = typer.Option(
        None, help="A YAML recipe file (see `productstudio recipe show amazon-main`)."
    ),
) -> None:
    """Make marketplace-ready main images: cut out, centre, white background, square JPEG.

    Defaults follow Amazon's main-image rules (pure white 255/255/255, product filling 85 %
    of a 2000x2000 sRGB JPEG). Re-running skips outputs that are already complete.
    """
    # the catalog layer (SQLAlchemy, process pool) is imported here, not at start-up
    from productstudio.catalog.batch import default_workers, open_store, plan_tasks, run_batch
    from productstudio.catalog.store import Status
    from productstudio.catalog.worker import MAIN_CANVAS, JobSpec

    if preset and recipe:
        raise fail("give --preset or --recipe, not both")
    recipe_ref = preset or (str(recipe) if recipe else None)
    if recipe_ref is not None:
        from productstudio.recipes import load_recipe

        load_recipe(recipe_ref)  # validate before any work: errors name file, line and key
    f = _format_option(fmt)
    bg = None if background.lower() in ("transparent", "none") else background
    spec = JobSpec(
        model=model,
        canvas=dataclasses.replace(
            MAIN_CANVAS, width=width or size, height=height or size, fill=fill, align=align
        ),
        cutout=CutoutParams(refine=refine),
        background=bg,
        fmt=f,
        quality=quality,
        max_pixels=max_pixels,
        recipe=recipe_ref,
    )
    from productstudio.catalog.sources import list_items

    entry, path = resolve(SEGMENTERS, model)  # fail fast on a bad --model, before any work
    items = list_items(inputs, missing="keep", exclude=[output])
    if not items:
        raise fail(
            f'no images found in "{inputs}" (looked for .jpg .png .webp .heic .avif .tif .bmp .gif)'
        )
    tasks = plan_tasks(((it.key, it.path, dict(it.attrs)) for it in items), output, spec.suffix)
    n_workers = workers or min(default_workers(), len(tasks))
    err.print(
        f"[bold]{len(tasks)}[/] photo(s) → {output}  (segmenter: {entry.name}"
        + (f" from {path}" if path else "")
        + f", {n_workers} worker(s))",
        highlight=False,
    )
    job_store = open_store(output, store)

    def show(res: ItemResult) -> None:
        if res.status == Status.FAILED:
            err.print(f"[red]✗[/] {res.message}", highlight=False)
        elif res.status == Status.DONE and res.message:
            err.print(f"[yellow]![/] {res.source}: {res.message}", highlight=False)

    try:
        with progress_bar("run", len(tasks)) as on_progress:
            report = run_batch(
                tasks,
                spec,
                store=job_store,
                workers=n_workers,
                overwrite=overwrite,
                on_progress=on_progress,
                on_result=show,
            )
    finally:
        job_store.close()

    table = Table(title="productstudio run", show_edge=False)
    table.add_column("status")
    table.add_column("count", justify="right")
    table.add_row("[green]done[/]", str(report.done))
    table.add_row("skipped (already done)", str(report.skipped))
    table.add_row("[red]failed[/]" if report.failed else "failed", str(report.failed))
    unsure = sum(1 for r in report.results if r.status == Status.DONE and "unsure" in r.message)
    if unsure:
        table.add_row("[yellow]done, cut-out unsure[/]", str(unsure))
    out.print(table)
    if not report.ok:
        raise typer.Exit(1)


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
    mask_only: bool = typer.Option(
        False, "--mask", help="Write the alpha matte as a single-channel (L) grey image instead."
    ),
    max_pixels: int | None = typer.Option(
        None, min=1, help="Refuse larger inputs (default 50 MP)."
    ),
) -> None:
    """Cut one product out: an RGBA image with a soft alpha and clean edges."""
    fmt = ImageFormat.PNG if output == "-" else ImageFormat.from_suffix(output)
    if not fmt.supports_alpha and not mask_only:
        raise fail(f'"{output}": {fmt.value} has no transparency; use .png, .webp, .tif or .avif')
    if image == "-":
        loaded = load_image(sys.stdin.buffer.read(), name="<stdin>", max_pixels=max_pixels)
    else:
        loaded = load_image(Path(image), max_pixels=max_pixels)
    seg = load_segmenter(model).segment(loaded.pixels)
    if seg.unsure:
        err.print(
            f"[yellow]warning:[/] unsure cut-out of {loaded.source} ({seg.backend}, confidence "
            f"{seg.confidence:.2f}): {'; '.join(seg.notes)}",
            highlight=False,
        )
    rgba = cutout(loaded.pixels, seg.mask, CutoutParams(refine=refine))
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
def models_list() -> None:
    """Every segmenter, whether its weights were found, and what `auto` picks."""
    found = {e.name: p for e, p in available(SEGMENTERS)}
    best = next(iter(found), None)
    table = Table(title="segmenters (best first)")
    for col in ("name", "available", "weights", "summary"):
        table.add_column(col)
    for name in sorted(SEGMENTERS.names(), key=lambda n: -SEGMENTERS.get(n).rank):
        e = SEGMENTERS.get(name)
        here = name in found
        mark = "[green]yes[/]" if here else "no"
        if name == best:
            mark += " (auto)"
        where = "built in" if not e.needs_weights else (str(found[name]) if here else "-")
        table.add_row(name, mark, where, e.summary)
    out.print(table)


@models_app.command("pull")
@handle_errors
def models_pull(
    name: str = typer.Argument(..., help="Model name, e.g. u2netp or isnet-general-use."),
    url: str | None = typer.Option(
        None, help="Download from this URL instead (the sha256 pin still applies)."
    ),
    force: bool = typer.Option(False, help="Download again even if a verified copy exists."),
) -> None:
    """Download a model into the cache, checking its pinned sha256."""
    entry = SEGMENTERS.get(name)
    with progress_bar(f"pull {name}", 0) as on_progress:
        path = pull(entry, url=url, force=force, on_progress=on_progress)
    out.print(str(path))


@models_app.command("verify")
@handle_errors
def models_verify(
    names: list[str] = typer.Argument(
        None, help="Model names or files (default: every model found)."
    ),
) -> None:
    """Check found model files: checksum against the pin, and a test inference."""
    import numpy as np

    targets = []
    if names:
        for n in names:
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
    if bad:
        raise typer.Exit(1)


__all__ = ["cutout_cmd", "find_weights", "models_list", "models_pull", "models_verify", "run"]
