"""recipes/steps_edit: the retouch ops as YAML recipe steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from productstudio.errors import RecipeError
from productstudio.recipes import Recipe
from rgba_photos import real_rgba

RECIPE = """version: 1
name: retouch
steps:
  - adjust: {}
  - recolour: {color: "#1f3a93"}
  - spots: {max_size: 5}
  - erase: {boxes: [[5, 5, 10, 10]], model: telea}
  - style: {reference: ref.png, region: background, strength: 0.5}
  - upscale: {scale: 2}
"""


def test_edit_steps_run_in_a_recipe(tmp_path: Path) -> None:
    from productstudio.imaging import save_image

    rgba = real_rgba(long_side=120)
    save_image(np.full((16, 16, 3), (200, 120, 40), np.uint8), tmp_path / "ref.png")
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE)
    res = Recipe.from_yaml(path).apply(rgba)
    assert res.pixels.shape == (rgba.shape[0] * 2, rgba.shape[1] * 2, 4)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('  - recolour: {color: "notacolour"}\n', "color"),
        ("  - upscale: {scale: 1}\n", "scale"),
        ("  - style: {region: inside}\n", "region"),
        ("  - erase_text: {select: some}\n", "select"),
    ],
)
def test_bad_step_params_name_line_and_key(text: str, key: str) -> None:
    with pytest.raises(RecipeError) as exc:
        Recipe.from_text("version: 1\nsteps:\n" + text)
    assert exc.value.line == 3 and key in str(exc.value)
