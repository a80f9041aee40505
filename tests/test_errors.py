"""errors: install hints name only extras that pyproject.toml defines."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from productstudio.errors import Extra, MissingDependencyError, install_hint, require

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_extras_match_pyproject() -> None:
    """Every Extra is an extra of pyproject.toml and every user-facing extra is an Extra."""
    extras = set(tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"])
    assert {e.value for e in Extra} == extras - {"all", "dev"}


def test_hints() -> None:
    assert install_hint(Extra.LEARN) == 'pip install -c constraints.txt "productstudio[learn]"'
    assert install_hint() == 'pip install -c constraints.txt "productstudio"'
    assert install_hint(requirements="requirements-ocr.txt").endswith(
        "--no-deps -r requirements-ocr.txt"
    )
    with pytest.raises(ValueError):
        install_hint("onnx")  # no such extra


def test_require_names_the_fix() -> None:
    with pytest.raises(MissingDependencyError, match=r"productstudio\[matting\]"):
        require("surely_not_installed_module_xyz", "matting")
    with pytest.raises(MissingDependencyError, match='"productstudio"$'):
        require("surely_not_installed_module_xyz")
