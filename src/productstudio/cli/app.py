"""The Typer application and the terminal conventions every command shares.

* Results go to stdout; logs, progress bars and errors to stderr.
* A ProductStudioError prints one red line naming the problem and the fix, exit code 2
  (traceback with ``--debug``). Batch commands exit 1 when some inputs failed.
* Progress bars are off when stderr is not a terminal or with ``--quiet``.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from productstudio.errors import ProductStudioError

app = typer.Typer(
    name="productstudio",
    help="Edit, generate, measure and check e-commerce product images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class _State:
    debug: bool = False
    quiet: bool = False


state = _State()

F = TypeVar("F", bound=Callable[..., Any])


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or info logs."),
    offline: bool = typer.Option(
        False,
        "--offline",
        help="Never download anything (as PRODUCTSTUDIO_OFFLINE=1): `--model auto` with no "
        "model found uses the built-in classical segmenter.",
    ),
) -> None:
    state.debug = debug
    state.quiet = quiet
    if offline:
        go_offline()
    level = logging.DEBUG if debug else (logging.ERROR if quiet else logging.WARNING)
    root = logging.getLogger("productstudio")
    root.handlers[:] = [RichHandler(console=err, show_path=debug, show_time=False, markup=False)]
    root.setLevel(level)
    root.propagate = False


def go_offline() -> None:
    """``--offline``: set offline mode for this process and the workers it starts."""
    from productstudio.settings import get_settings

    os.environ["PRODUCTSTUDIO_OFFLINE"] = "1"
    get_settings.cache_clear()


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one red line on stderr and return the Exit to raise."""
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    return typer.Exit(code)


def handle_errors(func: F) -> F:
    """Decorator: a ProductStudioError becomes one red line and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ProductStudioError as exc:
            if state.debug:
                err.print_exception()
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper  # type: ignore[return-value]


def progress_enabled() -> bool:
    return not state.quiet and sys.stderr.isatty()


@contextmanager
def progress_bar(description: str, total: int) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr; yields an ``on_progress(done, total)`` callback."""
    if not progress_enabled():
        yield lambda done, total: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    ) as prog:
        task = prog.add_task(description, total=total)

        def update(done: int, total_: int) -> None:
            prog.update(task, completed=done, total=total_)

        yield update


@contextmanager
def byte_progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A download bar (bytes, speed) on stderr that appears on the first ``(done, total)``
    call only, so a download that never starts leaves no empty bar behind."""
    bar: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if not progress_enabled():
            return
        if not bar:
            prog = Progress(
                SpinnerColumn(),
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=err,
            )
            prog.start()
            bar["prog"], bar["task"] = prog, prog.add_task(description, total=total or None)
        bar["prog"].update(bar["task"], completed=done, total=total or None)

    try:
        yield update
    finally:
        if bar:
            bar["prog"].stop()
