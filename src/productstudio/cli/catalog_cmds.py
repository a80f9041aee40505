"""Catalogue commands: ``status`` (live, from the job store) and ``report`` (HTML)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from productstudio.cli.app import app, err, handle_errors, out


def _status_table(st: Any) -> Table:
    table = Table(title="catalogue status", show_edge=False)
    for col in ("status", "items"):
        table.add_column(col, justify="right" if col == "items" else "left")
    for name in ("done", "running", "pending", "failed"):
        table.add_row(name, str(st.counts.get(name, 0)))
    table.add_row("[bold]total[/]", str(st.total))
    if st.rate_per_min:
        eta = f", about {st.eta_s / 60:.1f} min left" if st.eta_s is not None else ""
        table.caption = f"{st.rate_per_min:.1f} items/min now{eta}"
    return table


def _runs_table(st: Any) -> Table:
    table = Table(title="runs (newest first)", show_edge=False)
    for col in ("run", "state", "executor", "workers", "host", "started", "items"):
        table.add_column(col)
    for r in st.runs[:10]:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["started"]))
        table.add_row(
            r["id"][:8],
            r["state"],
            r["executor"],
            str(r["workers"]),
            r["host"],
            started,
            str(r["total"]),
        )
    return table


@app.command()
@handle_errors
def status(
    target: str = typer.Argument(..., help="A `run` output folder, or a job store URL."),
    store: str | None = typer.Option(None, help="The store URL the run used with --store."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    watch: float = typer.Option(
        0.0, min=0.0, help="Refresh every N seconds until the runs finish (Ctrl-C to stop)."
    ),
) -> None:
    """How far a catalogue run is: items per status, rate, runs, recent failures."""
    from productstudio.catalog.report import catalog_status, open_target

    job_store, scope = open_target(target, store)
    try:
        while True:
            st = catalog_status(job_store, scope)
            if as_json:
                out.print_json(json.dumps(st.to_dict()))
            else:
                out.print(_status_table(st))
                out.print(_runs_table(st))
                for f in st.failures[:5]:
                    out.print(f"[red]✗[/] {f['source']}: {f['message']}", highlight=False)
            running = any(r["state"] == "running" for r in st.runs)
            if not watch or not running:
                break
            time.sleep(watch)
    except KeyboardInterrupt:
        pass
    finally:
        job_store.close()


@app.command()
@handle_errors
def report(
    target: str = typer.Argument(..., help="A `run` output folder, or a job store URL."),
    output: Path = typer.Option(..., "--output", "-o", help="The HTML file to write."),
    store: str | None = typer.Option(None, help="The store URL the run used with --store."),
    thumbs: int = typer.Option(60, min=0, help="Before/after pairs to show (unsure first)."),
) -> None:
    """An HTML report: counts, failures with reasons, before/after thumbnails (unsure cut-outs
    first), per-stage timing and throughput plots."""
    from productstudio.catalog.report import open_target, write_report

    job_store, scope = open_target(target, store)
    try:
        path = write_report(job_store, scope, output, thumbs=thumbs, title=f"Catalogue: {target}")
    finally:
        job_store.close()
    err.print(f"wrote {path}", highlight=False)


__all__ = ["report", "status"]
