"""Variants drawn by our own generators for an audience: a matrix axis whose options sample a
trained model folder (a tiny random-weight CVAE built from config) with a segment's audience."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from conftest import shared_path
from productstudio import api
from productstudio.errors import InvalidParamsError, RecipeError
from productstudio.personalize.segments import SegmentRules
from productstudio.personalize.variants import VariantMatrix, render_variants
from productstudio.recipes import Recipe, StepContext

pytest.importorskip("torch")

MATRIX = """version: 1
base: base.yaml
segments: {segments}
axes:
  look:
    photo: {{}}
    noir:
      sample: {{model: gens/tiny, segment: noir, seed: 3}}
      features: {{generated: 1, gen_dark: 1}}
    young:
      sample: {{model: gens/tiny, segment: young-women, seed: 3}}
      features: {{generated: 1}}
    vivid:
      sample: {{model: gens/tiny, audience: "interests=vivid", seed: 3}}
      features: {{generated: 1}}
"""
SEGMENTS = """version: 1
segments:
  - {name: noir, when: {interests: [noir, sport]}}
  - {name: young-women, when: {gender: women, age_band: [18-24, 25-34]}}
  - {name: big-basket, when: {basket: {gte: 100}}}
"""


def _tiny_generator(folder: Path) -> Path:
    """A random-weight CVAE saved like `productstudio train` does (16 px, hashing text;
    concat fusion, since FiLM starts as identity and would ignore the audience untrained)."""
    from productstudio.models.conditioning.fusion import ConditionConfig, Fusion
    from productstudio.models.data import Vocab
    from productstudio.models.generators import GENERATORS, VAEConfig

    vocab = Vocab.build([{"colour": "Red"}, {"colour": "Black"}], ("colour",))
    cc = ConditionConfig.from_vocab(
        vocab, text_encoder="hashing", emb_dim=8, out_dim=16, fusion=Fusion.CONCAT
    )
    model = GENERATORS.get("vae").from_config(VAEConfig(size=16, z_dim=8, channels=4), cc, vocab)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("gen-variants")
    _tiny_generator(d / "gens" / "tiny")
    (d / "base.yaml").write_text("version: 1\nsteps:\n  - output: {format: png}\n")
    (d / "segments.yaml").write_text(SEGMENTS)
    (d / "m.yaml").write_text(MATRIX.format(segments="segments.yaml"))
    return d


def _expected(folder: Path, audience: str, title: str = "Red sneaker", **attrs: str) -> np.ndarray:
    from productstudio.models.conditioning.audience import AudienceProfile
    from productstudio.models.conditioning.fusion import Prompt

    prompt = Prompt(title, dict(attrs), AudienceProfile.parse(audience))
    return api.sample(folder / "gens" / "tiny", prompt, n=1, seed=3)[0]


def test_matrix_sample_options_become_sample_steps(setup: Path) -> None:
    """A segment gives its rule's audience (first listed value per field); the model path is
    resolved against the matrix file; features as declared."""
    specs = {s.variant_id: s for s in VariantMatrix.from_yaml(setup / "m.yaml").expand()}
    assert list(specs) == ["photo", "noir", "young", "vivid"]
    steps = {k: yaml.safe_load(s.recipe)["steps"] for k, s in specs.items()}
    assert steps["photo"] == [{"output": steps["photo"][0]["output"]}]
    sample = steps["noir"][0]["sample"]
    assert sample["model"] == str((setup / "gens" / "tiny").resolve())
    assert sample["audience"] == "interests=noir+sport" and sample["seed"] == 3
    assert steps["young"][0]["sample"]["audience"] == "age_band=18-24,gender=women"
    assert steps["vivid"][0]["sample"]["audience"] == "interests=vivid"
    assert specs["noir"].features == {"gen_dark": 1.0, "generated": 1.0}
    assert specs["photo"].features == {"gen_dark": 0.0, "generated": 0.0}
    rules = SegmentRules.from_yaml(setup / "segments.yaml")
    assert rules.audience("everyone").interests == ()


def test_rendered_variants_are_the_generator_samples(setup: Path, tmp_path: Path) -> None:
    """`feedback variants --title --attr` renders each generated variant as exactly the sample
    api.sample gives for that prompt and audience; the photo variant is the photo; the
    audience changes the picture."""
    photo = shared_path("data", "products", "images", "grocery_iconic_00.jpg")
    store = tmp_path / "fb.sqlite"
    from productstudio.cli import app

    r = CliRunner().invoke(
        app,
        [
            "feedback",
            "variants",
            str(setup / "m.yaml"),
            "--product",
            "shoe-1",
            "--image",
            str(photo),
            "--title",
            "Red sneaker",
            "--attr",
            "colour=Red",
            "-o",
            str(tmp_path / "out"),
            "--store",
            str(store),
        ],
    )
    assert r.exit_code == 0, r.output

    def img(name: str) -> np.ndarray:
        return np.asarray(Image.open(tmp_path / "out" / "shoe-1" / f"{name}.png"))

    noir = _expected(setup, "interests=noir+sport", colour="Red")
    young = _expected(setup, "age_band=18-24,gender=women", colour="Red")
    np.testing.assert_array_equal(img("noir"), noir)
    np.testing.assert_array_equal(img("young"), young)
    np.testing.assert_array_equal(img("vivid"), _expected(setup, "interests=vivid", colour="Red"))
    assert noir.shape == (16, 16, 3) and np.abs(noir.astype(int) - young).sum() > 0
    np.testing.assert_array_equal(img("photo")[..., :3], np.asarray(Image.open(photo)))
    from productstudio.personalize.store import FeedbackStore

    with FeedbackStore.open(store) as fb:
        assert [v.variant_id for v in fb.variants("shoe-1")] == ["noir", "photo", "vivid", "young"]


def test_generator_is_loaded_once_and_unknown_values_are_noted(
    setup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import productstudio.models.generators as generators

    calls: list[Path] = []
    real = generators.load_generator

    def counting(path: Path, *a: object) -> object:
        calls.append(Path(path))
        return real(path, *a)  # type: ignore[arg-type]

    monkeypatch.setattr(generators, "load_generator", counting)
    specs = VariantMatrix.from_yaml(setup / "m.yaml").expand()[1:]
    photo = np.full((8, 8, 3), 255, np.uint8)
    Image.fromarray(photo).save(tmp_path / "p.png")
    attrs = {"title": "Red sneaker", "colour": "Green"}  # a colour the model never saw
    recs = render_variants(tmp_path / "p.png", "shoe-2", specs, tmp_path / "o", attributes=attrs)
    assert len(recs) == 3 and len(calls) == 1
    got = np.asarray(Image.open(recs[0].image))
    np.testing.assert_array_equal(got, _expected(setup, "interests=noir+sport"))
    ctx = StepContext(attributes=attrs)
    recipe = Recipe.from_text(specs[0].recipe, file=str(tmp_path / "r.yaml"))
    res = recipe.apply(photo, ctx)
    assert any("does not know colour 'Green'" in n for n in res.notes)


@pytest.mark.parametrize(
    ("option", "match"),
    [
        ("{sample: {model: gens/none, segment: noir}}", r"look.x.sample.model.*no generator"),
        ("{sample: {model: gens/tiny, segment: noir, audience: 'gender=men'}}", "not both"),
        ("{sample: {model: gens/tiny, segment: nobody}}", "no segment 'nobody'"),
        ("{sample: {model: gens/tiny, segment: big-basket}}", "free features only"),
        ("{sample: {model: gens/tiny, audience: 'mood=happy'}}", "unknown key 'mood'"),
        ("{sample: {model: gens/tiny, colour: Red}}", "colour"),
    ],
)
def test_sample_option_errors_name_the_key(setup: Path, option: str, match: str) -> None:
    head = "version: 1\nbase: base.yaml\nsegments: segments.yaml\n"
    text = f"{head}axes:\n  look:\n    x: {option}\n"
    path = setup / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InvalidParamsError, match=match):
        VariantMatrix.from_yaml(path).expand()


def test_sample_step_errors(setup: Path) -> None:
    bad_attr = (
        f"version: 1\nsteps:\n  - sample: {{model: {setup / 'gens' / 'tiny'}, "
        "attrs: {colour: Mauve}}\n"
    )
    with pytest.raises(InvalidParamsError, match="unknown colour 'Mauve'"):
        Recipe.from_text(bad_attr).apply(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(RecipeError, match="audience"):
        Recipe.from_text("version: 1\nsteps:\n  - sample: {model: x, audience: 'age=3'}\n")
