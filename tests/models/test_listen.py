"""Trained models listen to their condition: after a short training on real product photos,
changing ONLY the colour attribute — or ONLY the audience — moves the samples the intended
way, for every family and both fusion variants.

(At initialisation a FiLM model ignores attributes and audience by construction — its FiLM
layers start at zero — so these tests fail for an untrained model; see the last test.)

Photos: the Black and White Myntra products among the first 2,000 records, at 16 px (646
photos; in them, White photos are on average 8.8 L* lighter than Black ones over the whole
image). Each model trains a couple of hundred steps; prompts keep the category and gender of
test-split products and drop the title, so the lightness can only come from the colour
attribute (or, for the audience test, from the audience's palette interest: noir for dark
colours, pastel for light ones). Floors: the samples move at least 2 L* (about a quarter of
the real difference) the intended way on average, and for at least 3 of 4 prompts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from conftest import shared_path
from productstudio.imaging.color import rgb_to_lab
from productstudio.models.conditioning.audience import AudienceProfile
from productstudio.models.conditioning.config import ConditionConfig, Fusion, Prompt
from productstudio.models.data import ATTRIBUTES, ProductData, Split, Vocab, load_products
from productstudio.models.generators import (
    GENERATORS,
    DiffusionConfig,
    GANConfig,
    LatentDiffusionConfig,
    VAEConfig,
)
from productstudio.models.train import TrainParams, train

COLOURS = ("Black", "White")
N_PROMPTS, PER_PROMPT = 8, 2

#: (config, steps): tiny models that learn colour within a few seconds of CPU
SETUPS: dict[str, tuple[Any, int]] = {
    "gan": (GANConfig(size=16, z_dim=16, g_channels=16, d_channels=16, lr_g=1e-3, lr_d=1e-3), 100),
    "vae": (
        VAEConfig(size=16, z_dim=8, channels=16, kl_warmup_steps=100, learned_prior=True),
        150,
    ),
    "diffusion": (
        DiffusionConfig(
            size=16,
            block_out_channels=(16, 32),
            attention=(False, False),
            sample_steps=6,
            lr=2e-3,
            prediction_type="v_prediction",
            ema_decay=0.9,
            guidance=3.0,
        ),
        100,
    ),
    "ldm": (
        LatentDiffusionConfig(
            size=16,
            block_out_channels=(16, 32),
            attention=(False, False),
            sample_steps=6,
            lr=2e-3,
            prediction_type="v_prediction",
            ema_decay=0.9,
            guidance=3.0,
            ae_channels=(16, 32),
            latent_channels=4,
            ae_disc_channels=8,
            ae_fraction=0.4,
            ae_lr=3e-3,
        ),
        250,
    ),
}


@pytest.fixture(scope="module")
def photos() -> tuple[ProductData, ProductData]:
    """(train, test) photos of the two colours at 16 px."""
    data = load_products(shared_path("data", "products"), size=16, limit=2000)
    keep = [i for i, r in enumerate(data.records) if r.attrs["colour"] in COLOURS]
    sub = ProductData(data.images[keep], [data.records[i] for i in keep], 16)
    return sub.subset(Split.TRAIN), sub.subset(Split.TEST)


def _train(family: str, fusion: Fusion, train_set: ProductData, out: Any) -> Any:
    vocab = Vocab.build([r.attrs for r in train_set.records], ATTRIBUTES)
    cc = ConditionConfig.from_vocab(
        vocab, text_encoder="hashing", emb_dim=16, out_dim=32, fusion=fusion
    )
    cfg, steps = SETUPS[family]
    model = GENERATORS.get(family).from_config(cfg, cc, vocab, seed=0)
    train(
        model,
        train_set,
        out,
        TrainParams(batch_size=32, max_steps=steps, sample_every=0, checkpoint_every=0),
    )
    return model


def _lightness(images: np.ndarray) -> float:
    """Mean L* over all pixels of the images (the white background dilutes a difference but
    never reverses it)."""
    lab = rgb_to_lab(images.reshape(-1, images.shape[2], 3))
    return float(lab[..., 0].mean())


def _effect(model: Any, test: ProductData, vary: str) -> dict[str, float]:
    """Sample N_PROMPTS test products (title dropped, category and gender kept) twice with the
    same seeds, changing only the colour (Black → White) or only the audience interest
    (noir → pastel); returns the mean L* gain and the share of prompts that got lighter."""
    gains = []
    for i, r in enumerate(test.records[:N_PROMPTS]):
        keep = {k: r.attrs[k] for k in ("category", "gender") if r.attrs.get(k)}
        if vary == "colour":
            dark, light = (Prompt("", {**keep, "colour": c}) for c in ("Black", "White"))
        else:
            dark, light = (
                Prompt("", keep, AudienceProfile(interests=(c,))) for c in ("noir", "pastel")
            )
        d = _lightness(model.sample([dark] * PER_PROMPT, seed=i, strict=False))
        li = _lightness(model.sample([light] * PER_PROMPT, seed=i, strict=False))
        gains.append(li - d)
    return {"mean": float(np.mean(gains)), "share": float(np.mean(np.array(gains) > 0))}


@pytest.mark.slow
@pytest.mark.parametrize("fusion", list(Fusion))
@pytest.mark.parametrize("family", list(SETUPS))
def test_trained_model_follows_colour_and_audience(
    family: str, fusion: Fusion, photos: tuple[ProductData, ProductData], tmp_path: Any
) -> None:
    """colour=Black gives darker samples than colour=White, the noir audience darker ones than
    the pastel audience: by a clear mean margin and for most prompts."""
    train_set, test = photos
    model = _train(family, fusion, train_set, tmp_path)
    colour = _effect(model, test, "colour")
    audience = _effect(model, test, "audience")
    print(family, fusion, colour, audience)
    assert colour["mean"] > 2.0 and colour["share"] >= 0.75, colour
    assert audience["mean"] > 2.0 and audience["share"] >= 0.75, audience


def test_untrained_film_model_ignores_colour(photos: tuple[ProductData, ProductData]) -> None:
    """The control: at initialisation a FiLM model gives identical samples for any colour."""
    train_set, test = photos
    vocab = Vocab.build([r.attrs for r in train_set.records], ATTRIBUTES)
    cc = ConditionConfig.from_vocab(vocab, text_encoder="hashing", emb_dim=16, out_dim=32)
    model = GENERATORS.get("vae").from_config(SETUPS["vae"][0], cc, vocab, seed=0)
    effect = _effect(model, test, "colour")
    assert effect == {"mean": 0.0, "share": 0.0}
