"""Front door: the ``productstudio`` command (Typer + Rich).

Each command family lives in its own module and registers on :data:`app`.
"""

from __future__ import annotations

from productstudio.cli.app import app

# Command modules register themselves on `app` when imported (order = help order).
from productstudio.cli import main_cmds  # noqa: F401  isort: skip
from productstudio.cli import generate_cmds  # noqa: F401  isort: skip
from productstudio.cli import translate_cmd  # noqa: F401  isort: skip
from productstudio.cli import recipe_cmds  # noqa: F401  isort: skip
from productstudio.cli import edit_cmds  # noqa: F401  isort: skip
from productstudio.cli import catalog_cmds  # noqa: F401  isort: skip
from productstudio.cli import feedback_cmds  # noqa: F401  isort: skip
from productstudio.cli import scene_cmds  # noqa: F401  isort: skip
from productstudio.cli import models_cmds  # noqa: F401  isort: skip
from productstudio.cli import serve_cmd  # noqa: F401  isort: skip


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
