"""Users, segment rules (YAML) and variant matrices (recipes rendered on a real photo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, shared_path
from productstudio.errors import InvalidParamsError
from productstudio.personalize.context import (
    UserContext,
    context_names,
    context_vector,
    joint_features,
)
from productstudio.personalize.segments import SegmentRules
from productstudio.personalize.variants import VariantMatrix, render_variants

EXAMPLES = ROOT / "docs" / "examples" / "personalize"


def test_user_context_parse_and_round_trip() -> None:
    """Audience keys go to the profile, the rest are features; dict round-trips."""
    u = UserContext.parse("user=u9,age_band=25-34,interests=noir+sport,basket=120,device=mobile")
    assert u.audience.age_band == "25-34" and u.features == {"basket": 120.0, "device": "mobile"}
    assert UserContext.from_dict(u.to_dict()) == u
    with pytest.raises(InvalidParamsError, match="gender"):
        UserContext.parse("gender=robot")
    with pytest.raises(InvalidParamsError, match="unknown keys"):
        UserContext.from_dict({"gender": "men", "basket": 3})


def test_context_and_joint_features() -> None:
    """One-hot blocks + numeric features; joint rows are x ⊗ [1, z]."""
    u = UserContext.parse("gender=men,interests=vivid,basket=2.5")
    x = context_vector(u, ("basket",))
    names = context_names(("basket",))
    on = {n for n, v in zip(names, x, strict=True) if v}
    assert on == {"bias", "gender=men", "interest=vivid", "basket"} and x[-1] == 2.5
    z = np.array([[0.0, 1.0], [1.0, 0.0]])
    phi = joint_features(x, z)
    assert phi.shape == (2, x.size * 3)
    assert np.allclose(phi[1], np.kron(x, [1.0, 1.0, 0.0]))


def test_segment_rules_from_the_example_file() -> None:
    """First match wins; interests any-of; numeric comparison on a free feature; default."""
    rules = SegmentRules.from_yaml(EXAMPLES / "segments.yaml")
    assert rules.names == ("noir", "pastel", "vivid", "big-basket", "everyone")
    assert rules.assign(UserContext.parse("interests=sport+noir,basket=500")) == "noir"
    assert rules.assign(UserContext.parse("interests=sport,basket=100")) == "big-basket"
    assert rules.assign(UserContext.parse("interests=sport,basket=99.5")) == "everyone"
    assert rules.assign(UserContext.parse("basket=cheap")) == "everyone"


@pytest.mark.parametrize(
    "text,match",
    [
        (
            "version: 1\nsegments:\n  - name: a\n    when: {gender: robots}\n",
            r"line 4, key 'segments\[0\].when.gender'.*unknown gender",
        ),
        (
            "version: 1\nsegments:\n  - {name: a}\n  - {name: a}\n",
            "line 4: segment name 'a' is used twice",
        ),
        (
            "version: 1\nsegments:\n  - {name: a, when: {basket: {about: 3}}}\n",
            "comparisons are gt",
        ),
        ("version: 2\n", "version"),
    ],
)
def test_segment_rule_errors_name_the_line(text: str, match: str) -> None:
    with pytest.raises(InvalidParamsError, match=match):
        SegmentRules.from_text(text, file="seg.yaml")


def test_matrix_expands_with_merged_and_inserted_steps() -> None:
    """8 variants; overrides merge into the base's step, new steps go where they belong."""
    specs = VariantMatrix.from_yaml(EXAMPLES / "variant_matrix.yaml").expand()
    assert len(specs) == 8 and specs[0].variant_id == "white+none"
    dark = next(s for s in specs if s.variant_id == "dark+contact")
    assert dark.features == {"bg_dark": 1.0, "bg_pastel": 0.0, "bg_vivid": 0.0, "shadow": 1.0}
    steps = [next(iter(s)) for s in __import__("yaml").safe_load(dark.recipe)["steps"]]
    assert steps == ["cutout", "canvas", "background", "shadow", "output"]
    assert "#262626" in dark.recipe and "width: 600" in dark.recipe


def test_matrix_errors() -> None:
    """A bad step parameter names the variant; too many variants names the limit."""
    bad = "version: 1\naxes:\n  bg:\n    a: {}\n    b: {steps: {canvas: {fill: 7}}}\n"
    with pytest.raises(InvalidParamsError, match="variant 'b'.*fill"):
        VariantMatrix.from_text(bad).expand()
    big = "version: 1\nlimit: 3\naxes:\n  a: {x: {}, y: {}}\n  b: {x: {}, y: {}}\n"
    with pytest.raises(InvalidParamsError, match="4 variants, over its limit of 3"):
        VariantMatrix.from_text(big)


def test_render_variants_on_a_real_photo(tmp_path: Path) -> None:
    """The example matrix on a GroceryStoreDataset photo (classical cut-out): the dark variant's
    corner is dark, the white one's white, the product pixels stay the same."""
    photo = shared_path("data", "products", "images", "grocery_iconic_00.jpg")
    specs = [
        s
        for s in VariantMatrix.from_yaml(EXAMPLES / "variant_matrix.yaml").expand()
        if s.variant_id in ("white+none", "dark+none")
    ]
    recs = render_variants(photo, "apple-1", specs, tmp_path, model="classical")
    from PIL import Image

    white, dark = (np.asarray(Image.open(r.image).convert("RGB")).astype(int) for r in recs)
    assert white.shape == dark.shape == (600, 600, 3)
    assert white[:20, :20].mean() > 250 and dark[:20, :20].mean() < 45
    centre = (slice(280, 320), slice(280, 320))
    assert np.abs(white[centre] - dark[centre]).mean() < 8
