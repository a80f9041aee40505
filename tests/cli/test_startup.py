"""The command starts fast: heavy layers are imported only by the commands that need them."""

from __future__ import annotations

import subprocess
import sys


def test_cli_import_stays_light() -> None:
    """Importing the CLI (what `productstudio --help` does) loads no torch, ONNX runtime,
    SQLAlchemy, diffusers, Ray, FastAPI or uvicorn."""
    code = (
        "import sys, productstudio.cli\n"
        "heavy = [m for m in ('torch', 'onnxruntime', 'sqlalchemy', 'diffusers', 'ray', "
        "'fastapi', 'uvicorn') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
