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
    """All retouch steps in one recipe, each visible in the result: the product ends in the
    recipe's colour, the background moves halfway to the style reference, the size doubles
    and the alpha is only enlarged (the product stays where it was)."""
    import cv2

    from productstudio.imaging import rgb_to_lab, save_image
    from productstudio.imaging.color import delta_e2000
    from productstudio.ops.recolour import median_lab, target_lab

    rgba = real_rgba(long_side=120)
    save_image(np.full((16, 16, 3), (200, 120, 40), np.uint8), tmp_path / "ref.png")
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE)
    out = Recipe.from_yaml(path).apply(rgba).pixels
    assert out.shape == (rgba.shape[0] * 2, rgba.shape[1] * 2, 4) and out.dtype == np.uint8

    def product_de(img: np.ndarray) -> float:
        m = (img[..., 3] >= 250).astype(np.float32)
        return float(delta_e2000(median_lab(img[..., :3], m), target_lab("#1f3a93")))

    assert product_de(rgba) > 40 and product_de(out) <= 3.0  # measured 45.5 → 1.2

    ref_lab = rgb_to_lab(np.array([[[200, 120, 40]]], np.uint8))[0, 0]

    def background_gap(img: np.ndarray) -> float:
        bg = rgb_to_lab(img[..., :3][img[..., 3] == 0][None])[0].mean(axis=0)
        return float(np.linalg.norm(bg - ref_lab))

    assert background_gap(out) < 0.75 * background_gap(rgba)  # strength 0.5
    grown = cv2.resize(rgba[..., 3], out.shape[1::-1], interpolation=cv2.INTER_LANCZOS4)
    assert np.abs(out[..., 3].astype(int) - grown).mean() < 1.0  # measured 0.34


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
