"""Prompt building from the real product metadata, the audience schema and YAML templates."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from conftest import shared_path
from productstudio.errors import InvalidParamsError, RecipeError
from productstudio.models.conditioning.audience import AudienceProfile, audience_for
from productstudio.models.pipelines.options import DEFAULT_NEGATIVE
from productstudio.models.pipelines.prompts import (
    MAX_TOKENS,
    ProductInfo,
    PromptBook,
    token_estimate,
)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    """Every 20th row of ../shared/data/products/metadata.csv (Myntra and grocery)."""
    path = shared_path("data", "products", "metadata.csv")
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))[::20]


def test_prompts_from_real_metadata(rows: list[dict[str, str]]) -> None:
    """Title kept whole, colour/category said once, no template debris, within CLIP's
    window, audience phrases present, the same prompt every time."""
    book = PromptBook.default()
    assert len(rows) > 250
    for r in rows:
        info = ProductInfo.from_mapping(r)
        aud = audience_for(r["id"], colour=r["colour"], gender=r["gender"])
        p = book.build(info, scene="wooden-table", style="amazon", audience=aud)
        assert r["title"] in p.prompt
        assert "{" not in p.prompt and ",," not in p.prompt.replace(" ", "")
        assert token_estimate(p.prompt) <= MAX_TOKENS, p.prompt
        assert "oak wooden table" in p.prompt
        words = re.findall(r"[a-z]+", p.prompt.lower())
        for colour_word in re.findall(r"[a-z]+", r["colour"].lower()):
            title_count = re.findall(r"[a-z]+", r["title"].lower()).count(colour_word)
            assert words.count(colour_word) <= max(1, title_count), (colour_word, p.prompt)
        if p.parts["audience"]:
            assert p.parts["audience"] in p.prompt
        assert p == book.build(info, scene="wooden-table", style="amazon", audience=aud)
        assert p.negative_prompt.startswith(DEFAULT_NEGATIVE)
        assert "badges" in p.negative_prompt  # the amazon style's own negative


def test_audience_changes_only_the_audience_part() -> None:
    book = PromptBook.default()
    info = ProductInfo(title="Canvas Tote Bag", colour="Beige")
    noir = book.build(info, audience=AudienceProfile(interests=("noir",), age_band="18-24"))
    vivid = book.build(info, audience=AudienceProfile(interests=("vivid",), region="south"))
    assert "dark moody palette" in noir.prompt and "young adults" in noir.prompt
    assert "vivid saturated colours" in vivid.prompt and "warm sunny light" in vivid.prompt
    assert noir.parts["subject"] == vivid.parts["subject"] == "beige Canvas Tote Bag"


def test_repeats_are_dropped() -> None:
    """Colour, material and category already in the title are not said again."""
    book = PromptBook.default()
    p = book.build(
        ProductInfo(
            title="Puma Men Black Leather Sports Shoes",
            category="Sports Shoes",
            colour="Black",
            material="leather",
            attributes=(("gender", "Men"), ("season", "Summer")),
        )
    )
    assert p.parts["subject"] == "Puma Men Black Leather Sports Shoes"
    assert p.parts["details"] == "summer collection"


def test_long_prompts_drop_the_least_important_parts() -> None:
    book = PromptBook.default()
    info = ProductInfo(title=" ".join(["Extraordinarily"] * 20) + " Jacket")
    p = book.build(info, scene="marble-counter", style="luxury",
                   audience=AudienceProfile(interests=("noir",)))  # fmt: skip
    assert p.dropped[:1] == ("style",)
    assert "marble" in p.prompt and "Jacket" in p.prompt


def test_unknown_names_list_the_known_ones() -> None:
    book = PromptBook.default()
    with pytest.raises(InvalidParamsError, match="marble-counter"):
        book.build(ProductInfo(title="x"), scene="marble")
    with pytest.raises(InvalidParamsError, match="amazon"):
        book.build(ProductInfo(title="x"), style="amazn")
    with pytest.raises(InvalidParamsError, match="packshot"):
        book.build(ProductInfo(title="x"), template="nope")
    with pytest.raises(InvalidParamsError, match="nothing to draw"):
        book.build(ProductInfo())


def test_user_templates_override_and_validate(tmp_path: Path) -> None:
    """A user YAML replaces keys of the same name; a typo is an error naming file and key."""
    f = tmp_path / "mine.yaml"
    f.write_text(
        "negative: 'cartoon'\n"
        "templates:\n  default:\n    prompt: 'photo of {subject} {scene}, {style}'\n"
        "styles:\n  shop:\n    prompt: 'our shop look'\n"
        "scenes:\n  counter:\n    prompt: 'on our shop counter'\n    layout: {fill: 0.4}\n"
    )
    book = PromptBook.from_yaml(f)
    p = book.build(ProductInfo(title="Mug"), scene="counter", style="shop")
    assert p.prompt == "photo of Mug on our shop counter, our shop look"
    assert p.negative_prompt == "cartoon"
    assert book.scene("counter").fill == 0.4 and "marble-counter" in book.scene_names()
    f.write_text("templates:\n  default:\n    promt: 'x'\n")
    with pytest.raises(RecipeError) as e:
        PromptBook.from_yaml(f)
    assert str(f) in str(e.value) and "templates.default" in str(e.value)


def test_every_scene_preset_loads() -> None:
    book = PromptBook.default()
    assert len(book.scene_names()) >= 10
    for name in book.scene_names():
        s = book.scene(name)
        assert s.prompt and 0 < s.fill <= 1 and s.align in {"center", "bottom", "top", "baseline"}
