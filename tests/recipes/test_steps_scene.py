"""recipes/steps_scene: an AI scene as a YAML recipe step, prompt from catalogue attributes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from productstudio.errors import RecipeError
from productstudio.recipes import Recipe, StepContext
from rgba_photos import real_rgba
from tiny_pipelines import bulky_product_name, make_tiny_folders

pytest.importorskip("diffusers")

RECIPE = """version: 1
name: lifestyle
steps:
  - scene: {{scene: marble-counter, style: etsy, audience: "interests=pastel", steps: 2,
             native: 64, model: "{model}", seed: 3}}
  - output: {{format: png}}
"""


@pytest.fixture(scope="module")
def inpaint_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_folders(tmp_path_factory.mktemp("tiny"))["inpaint"]


def test_scene_step_keeps_the_product_and_records_the_prompt(
    inpaint_folder: Path, tmp_path: Path
) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.format(model=inpaint_folder))
    rgba = real_rgba(bulky_product_name(), long_side=120)
    ctx = StepContext(attributes={"title": "Oak bench", "colour": "Brown", "material": "wood"})
    res = Recipe.from_yaml(path).apply(rgba, ctx)
    product = res.context.product
    assert product is not None and res.pixels.shape == (*product.shape[:2], 3)
    opaque = product[..., 3] == 255
    assert opaque.sum() > 500 and np.array_equal(res.pixels[opaque], product[..., :3][opaque])
    (record,) = ctx.resource("scene_records", list)
    prompt = record["prompt"]["prompt"]
    assert "brown wood Oak bench" in prompt and "marble" in prompt and "pastel" in prompt
    assert record["seed"] == 3 and record["product_pixels_changed"] == 0.0


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("  - scene: {scene: marbel}\n", "scene"),
        ("  - scene: {style: amazn}\n", "style"),
        ("  - scene: {audience: 'age=30'}\n", "audience"),
        ("  - scene: {steps: 0}\n", "steps"),
    ],
)
def test_bad_scene_params_name_the_key(tmp_path: Path, line: str, key: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("version: 1\nsteps:\n" + line)
    with pytest.raises(RecipeError) as e:
        Recipe.from_yaml(path)
    assert key in str(e.value) and str(path) in str(e.value)
