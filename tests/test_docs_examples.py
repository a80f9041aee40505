"""Every code example in docs/examples runs."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from productstudio.imaging import load_image

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


def test_main_job_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photo = tmp_path / "p.jpg"
    img = np.full((300, 400, 3), 238, np.uint8)
    img[80:220, 120:280] = (20, 90, 170)
    Image.fromarray(img).save(photo)
    out = tmp_path / "o.jpg"
    monkeypatch.setattr(sys, "argv", ["main_job.py", str(photo), str(out)])
    runpy.run_path(str(EXAMPLES / "main_job.py"), run_name="__main__")
    got = load_image(out)
    assert got.size == (2000, 2000)
    assert (got.pixels[0, 0] == 255).all()
