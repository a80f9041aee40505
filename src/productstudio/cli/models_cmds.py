"""``models add / remove`` and the all-kinds ``models list`` table and file verification.

Registered on the ``models`` group of :mod:`productstudio.cli.main_cmds` (which keeps
``pull`` and calls :func:`print_inventory` / :func:`verify_added` from ``list``/``verify``).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from productstudio.cli.app import err, handle_errors, out, progress_bar
from productstudio.cli.main_cmds import models_app
from productstudio.models.inventory import ModelRow
from productstudio.models.manage import ModelKind
from productstudio.models.pull import human_size


def print_inventory(kinds: list[ModelKind] | None, as_json: bool) -> None:
    """Every model of ``kinds`` (default: all), grouped by kind, as a table or JSON."""
    from productstudio.models.inventory import list_models

    rows = list_models(kinds)
    if as_json:
        out.print_json(json.dumps([r.as_dict() for r in rows]))
        return
    for kind in ModelKind:
        mine = [r for r in rows if r.kind is kind]
        if not mine:
            continue
        title = {
            ModelKind.PIPELINE: "pipelines (pretrained diffusers; ★ = default)",
            ModelKind.GENERATOR: "generators (our own)",
        }.get(kind, f"{kind.value}s (best first; ★ = what auto picks)")
        table = Table(title=title, title_justify="left")
        table.add_column("name", no_wrap=True)
        for col in ("available", "where", "from", "download", "summary"):
            table.add_column(col, overflow="fold")
        for r in mine:
            mark = ("[green]yes[/]" if r.available else "no") + (" ★" if r.auto else "")
            frm = r.origin or (r.source if r.source not in ("missing", "built in") else "-")
            dl = human_size(r.download_bytes) if r.download_bytes else "-"
            if r.download_bytes is None and r.source == "missing":
                dl = "none pinned"
            table.add_row(r.name, mark, escape(r.where), frm, dl, r.summary)
        out.print(table)
        if kind is ModelKind.SEGMENTER:
            _first_run_note(mine)
    if not any(r.kind is ModelKind.PIPELINE for r in rows) and (
        kinds is None or ModelKind.PIPELINE in kinds
    ):
        err.print(
            "no pretrained pipeline set up: `productstudio models add NAME PATH` "
            "(a diffusers folder, a Hugging Face cache folder or a checkpoint)",
            highlight=False,
        )


def _first_run_note(segmenters: list[ModelRow]) -> None:
    """What `auto` will do when no segmenter file is here, and the folders searched."""
    from productstudio.models.discovery import model_folders
    from productstudio.models.pull import models_cache, offline_mode
    from productstudio.models.segmenters import FIRST_RUN_MODEL, SEGMENTERS

    if not any(r.available and r.source not in ("built in", "") for r in segmenters):
        if offline_mode():
            err.print(
                "auto: no segmenter file found and offline mode is on: `auto` uses classical "
                f"(plain backgrounds only); `productstudio models pull {FIRST_RUN_MODEL}` "
                "fetches a model when you are online.",
                highlight=False,
            )
        else:
            size = human_size(SEGMENTERS.get(FIRST_RUN_MODEL).size)
            err.print(
                f"auto: no segmenter file found: the first `run` or `cutout` downloads "
                f"{FIRST_RUN_MODEL} ({size}) into {escape(str(models_cache()))}; "
                f"`productstudio models pull {FIRST_RUN_MODEL}` does it now.",
                highlight=False,
            )
    searched = ", ".join(f"{f.label}: {f.path}" for f in model_folders()) or "none exists yet"
    err.print(f"model folders searched: {escape(searched)}", highlight=False)


def verify_added(names: list[str]) -> bool:
    """sha256 of every file of the added models or cached pipelines ``names``, against the
    hashes recorded by ``models add`` (or the Hugging Face cache's blob names), plus the
    folder layout. Prints a table per model; True when all are good."""
    from productstudio.errors import ProductStudioError, WeightsNotFoundError
    from productstudio.models.manage import ModelStore
    from productstudio.models.pipelines.layout import (
        find_in_hf_cache,
        inspect_path,
        is_repo_id,
        verify_files,
    )

    store = ModelStore()
    all_ok = True
    for name in names:
        entry = store.get(name)
        if entry is not None:
            path, reference, config = entry.path, entry.files or None, entry.config
        else:
            snap = find_in_hf_cache(name) if is_repo_id(name) else None
            p = Path(name).expanduser()
            if snap is None and not p.exists():
                raise WeightsNotFoundError(
                    f"'{name}' is not an added model, a cached hub id or a path "
                    "(see `productstudio models list`)"
                )
            path, reference, config = (snap or p), None, None
        layout_msg = "ok"
        layout_ok = True
        if entry is None or entry.kind is ModelKind.PIPELINE:
            try:
                inspect_path(path, config=config)
            except ProductStudioError as exc:
                layout_ok, layout_msg = False, str(exc)
        if not path.exists():
            raise WeightsNotFoundError(f'"{path}" ({name}) no longer exists')
        with progress_bar(f"sha256 {name}", 0) as on_progress:
            checks = verify_files(path, reference, on_progress)
        table = Table(title=f"{name}: {path}", title_justify="left")
        for col in ("file", "size", "sha256", "result"):
            table.add_column(col)
        for c in checks:
            res = {True: "[green]ok[/]", False: "[red]MISMATCH[/]", None: "no reference"}[c.ok]
            if c.reference and c.ok is not None:
                res += f" ({c.reference})"
            size = "-" if c.size < 0 else f"{c.size:,}"
            table.add_row(c.name, size, c.sha256[:16] + ("…" if c.sha256 else ""), res)
        out.print(table)
        bad = [c for c in checks if c.ok is False]
        unchecked = sum(1 for c in checks if c.ok is None)
        out.print(
            f"{name}: {len(checks)} files, {len(bad)} bad, {unchecked} without reference; "
            f"layout: {'[green]ok[/]' if layout_ok else '[red]' + layout_msg + '[/]'}"
        )
        all_ok &= not bad and layout_ok
    return all_ok


@models_app.command("add")
@handle_errors
def models_add(
    name: str = typer.Argument(..., help="What to call it (--model NAME), e.g. sd15-inpaint."),
    path: str = typer.Argument(
        ...,
        help="A diffusers folder, a Hugging Face cache folder or hub id (models--org--name, "
        "org/name), a .safetensors/.ckpt checkpoint, one of our generator folders, or an "
        ".onnx file for a registered backend (NAME = the backend, e.g. lama).",
    ),
    config: Path | None = typer.Option(
        None, "--config", help="For a checkpoint file: a diffusers folder with its configs."
    ),
    replace: bool = typer.Option(False, "--replace", help="Point an existing name elsewhere."),
    hash_files: bool = typer.Option(
        True, "--hash/--no-hash", help="Record every file's sha256 (for `models verify`)."
    ),
) -> None:
    """Tell ProductStudio where a model you already have is (nothing is copied)."""
    from productstudio.models.manage import ModelStore

    store = ModelStore()
    with progress_bar(f"add {name}", 0) as on_progress:
        entry = store.add(
            name, path, config=config, replace=replace, hash_files=hash_files,
            on_progress=on_progress,
        )  # fmt: skip
    size = sum(int(f["size"]) for f in entry.files.values())
    what = entry.pipeline_class or entry.backend or entry.format
    out.print(
        f"added {entry.kind.value} [bold]{entry.name}[/] ({what}) → {entry.path}"
        + (f", {len(entry.files)} files, {size / 1e6:,.1f} MB hashed" if entry.files else "")
    )
    err.print(f"list: {store.path}", highlight=False)


@models_app.command("remove")
@handle_errors
def models_remove(name: str = typer.Argument(..., help="An added model's name.")) -> None:
    """Forget an added model (its files are left where they are)."""
    from productstudio.models.manage import ModelStore

    if not ModelStore().remove(name):
        err.print(f"[yellow]'{name}' was not added[/]")
        raise typer.Exit(1)
    out.print(f"removed {name}")


__all__ = ["models_add", "models_remove", "print_inventory", "verify_added"]
