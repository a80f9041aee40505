"""The three generator families: registry, tiny random-weight models, determinism, save/load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from productstudio.errors import InvalidParamsError, UnknownBackendError, WeightsNotFoundError
from productstudio.models.conditioning.audience import AudienceProfile
from productstudio.models.conditioning.fusion import ConditionConfig, Fusion, Prompt
from productstudio.models.data import Vocab
from productstudio.models.generators import (
    GENERATORS,
    ConditionalDiffusion,
    ConditionalGAN,
    ConditionalVAE,
    DiffusionConfig,
    GANConfig,
    GeneratorFamily,
    LatentDiffusionConfig,
    VAEConfig,
    default_config,
    load_generator,
)

VOCAB = Vocab.build(
    [{"category": "Shoes", "colour": "Red"}, {"category": "Bags", "colour": "Blue"}],
    ("category", "colour"),
)
TINY: dict[str, Any] = {
    "gan": GANConfig(size=16, z_dim=8, g_channels=4, d_channels=4),
    "vae": VAEConfig(size=16, z_dim=8, channels=4),
    "diffusion": DiffusionConfig(
        size=16,
        block_out_channels=(8, 8),
        attention=(False, True),
        norm_num_groups=4,
        sample_steps=3,
    ),
    "ldm": LatentDiffusionConfig(
        size=16,
        block_out_channels=(8, 8),
        attention=(False, True),
        norm_num_groups=4,
        sample_steps=3,
        ae_channels=(8, 8),
        latent_channels=2,
        ae_disc_channels=8,
    ),
}
FAMILIES = ["gan", "vae", "diffusion", "ldm"]
PROMPTS = [
    Prompt(
        "red canvas shoe",
        {"category": "Shoes", "colour": "Red"},
        AudienceProfile(interests=("vivid",)),
    ),
    Prompt("blue tote bag", {"category": "Bags", "colour": "Blue"}),
    Prompt("", {}),
]


def tiny(family: str, fusion: Fusion = Fusion.FILM) -> Any:
    cc = ConditionConfig.from_vocab(
        VOCAB, text_encoder="hashing", emb_dim=8, out_dim=16, fusion=fusion
    )
    return GENERATORS.get(family).from_config(TINY[family], cc, VOCAB, seed=0)


def test_registry() -> None:
    """The families are registered under the names of the torch-free GeneratorFamily
    enum (which the CLI offers); an unknown one names them."""
    assert GENERATORS.names() == ["cyclegan", "diffusion", "gan", "ldm", "vae"]
    assert sorted(f.value for f in GeneratorFamily) == GENERATORS.names()
    for f in GeneratorFamily:
        assert GENERATORS.get(f.value).family == f.value
    with pytest.raises(UnknownBackendError, match="cyclegan, diffusion, gan, ldm, vae"):
        GENERATORS.get("flow")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("fusion", list(Fusion))
def test_sample_shape_dtype_and_seed(family: str, fusion: Fusion) -> None:
    """Samples are uint8 (N, S, S, 3); same seed → same images, another seed → different ones."""
    m = tiny(family, fusion)
    a, b, c = m.sample(PROMPTS, seed=1), m.sample(PROMPTS, seed=1), m.sample(PROMPTS, seed=2)
    assert a.shape == (3, 16, 16, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("family", FAMILIES)
def test_save_load_roundtrip(family: str, tmp_path: Path) -> None:
    """from_config → save_pretrained → from_pretrained gives the same config, vocab and samples."""
    m = tiny(family)
    m.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {
        "config.json",
        "model.safetensors",
        "vocab.json",
    }
    assert json.loads((tmp_path / "config.json").read_text())["family"] == family
    m2 = load_generator(tmp_path)
    assert type(m2) is type(m) and m2.config == m.config and m2.cond_config == m.cond_config
    assert m2.vocab == m.vocab
    np.testing.assert_array_equal(m.sample(PROMPTS, seed=5), m2.sample(PROMPTS, seed=5))
    same = type(m).from_pretrained(tmp_path)
    np.testing.assert_array_equal(m.sample(PROMPTS, seed=5), same.sample(PROMPTS, seed=5))


def test_from_pretrained_errors(tmp_path: Path) -> None:
    """Missing files and a folder of another family raise WeightsNotFoundError."""
    with pytest.raises(WeightsNotFoundError, match="productstudio train"):
        load_generator(tmp_path)
    tiny("vae").save_pretrained(tmp_path)
    with pytest.raises(WeightsNotFoundError, match="'vae' model"):
        ConditionalGAN.from_pretrained(tmp_path)


@pytest.mark.parametrize(
    ("cls", "kw"),
    [
        (GANConfig, {"size": 24}),
        (GANConfig, {"ema_decay": 1.0}),
        (VAEConfig, {"beta": -1.0}),
        (DiffusionConfig, {"attention": (False,)}),
        (DiffusionConfig, {"sample_steps": 0}),
        (DiffusionConfig, {"prediction_type": "x0"}),
        (DiffusionConfig, {"block_out_channels": (6, 8, 8, 8)}),
    ],
)
def test_bad_configs(cls: type, kw: dict[str, Any]) -> None:
    with pytest.raises(InvalidParamsError):
        cls(**kw)


def test_from_config_checks_type() -> None:
    cc = ConditionConfig.from_vocab(VOCAB, text_encoder="hashing")
    with pytest.raises(InvalidParamsError, match="needs a VAEConfig"):
        ConditionalVAE.from_config(GANConfig(size=16), cc, VOCAB)


def test_unknown_attribute_value_in_prompt() -> None:
    with pytest.raises(InvalidParamsError, match="Known values"):
        tiny("vae").sample([Prompt("x", {"colour": "Mauve"})])


def test_vae_edit_and_reconstruct() -> None:
    """Editing decodes the same latent under another condition; shapes and errors are checked."""
    m = tiny("vae")
    imgs = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    src = PROMPTS[:2]
    tgt = [Prompt("blue " + p.title, {**p.attrs, "colour": "Blue"}) for p in src]
    rec, ed = m.reconstruct(imgs, src), m.edit(imgs, src, tgt)
    assert rec.shape == ed.shape == imgs.shape and rec.dtype == np.uint8
    assert not np.array_equal(rec, ed)
    with pytest.raises(InvalidParamsError):
        m.edit(imgs[:1], src, tgt)
    assert m.kl_weight(0) == 0.0 and m.kl_weight(10**6) == m.config.beta


def test_diffusion_uses_unet2d_with_condition_embedding() -> None:
    """Diffusion = a diffusers UNet2DModel fed the fused condition as its class embedding."""
    from diffusers import UNet2DModel

    m = tiny("diffusion")
    assert isinstance(m, ConditionalDiffusion) and isinstance(m.unet, UNet2DModel)
    assert m.unet.config.class_embed_type == "identity"
    cond = m.conditioner.batch(PROMPTS)
    emb = m.cond_proj(m.cond(cond))
    assert emb.shape == (3, TINY["diffusion"].block_out_channels[0] * 4)
    x = torch.zeros(3, 3, 16, 16)
    out = m.unet(x, torch.tensor([10, 10, 10]), class_labels=emb).sample
    assert out.shape == x.shape


def test_default_config_sizes() -> None:
    """CPU presets exist for each family at 32 and 64 px."""
    for fam in FAMILIES:
        for s in (32, 64):
            assert default_config(fam, s).size == s  # type: ignore[attr-defined]


def test_vae_learned_prior_kl_and_sampling() -> None:
    """The conditional prior starts as N(0, I) (same KL as the fixed prior), samples come from
    p(z|c), and once trained it differs by condition; the fixed-prior model has no prior net."""
    cc = ConditionConfig.from_vocab(VOCAB, text_encoder="hashing", emb_dim=8, out_dim=16)
    cfg = VAEConfig(size=16, z_dim=8, channels=4)
    fixed = ConditionalVAE.from_config(cfg, cc, VOCAB, seed=3)
    learned = ConditionalVAE.from_config(
        VAEConfig(size=16, z_dim=8, channels=4, learned_prior=True), cc, VOCAB, seed=3
    )
    assert fixed.prior is None and learned.prior is not None
    learned.load_state_dict(fixed.state_dict(), strict=False)  # same encoder/decoder weights
    cond = learned.conditioner.batch(PROMPTS)
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    kl_f = fixed.losses(x, cond, 10**6, torch.Generator().manual_seed(0))["kl"]
    kl_l = learned.losses(x, cond, 10**6, torch.Generator().manual_seed(0))["kl"]
    torch.testing.assert_close(kl_f, kl_l)
    np.testing.assert_array_equal(fixed.sample(PROMPTS, seed=4), learned.sample(PROMPTS, seed=4))
    # a trained prior: move its output layer and check samples follow mu_p + sigma_p * eps
    assert learned.prior is not None
    last = learned.prior[2]
    assert isinstance(last, torch.nn.Linear)
    with torch.no_grad():
        last.weight.normal_(0, 0.5)
    c = learned.cond(cond)
    mu_p, logvar_p = learned.prior_params(c)
    assert not torch.allclose(mu_p[0], mu_p[1])
    g = torch.Generator().manual_seed(7)
    eps = torch.randn(3, 8, generator=g)
    want = learned.dec(mu_p + eps * (0.5 * logvar_p).exp(), c)
    got = learned.generate(cond, torch.Generator().manual_seed(7))
    torch.testing.assert_close(got, want)
    assert default_config("vae", 64).learned_prior is True  # type: ignore[attr-defined]


@pytest.mark.parametrize("prediction", ["v_prediction", "epsilon", "sample"])
def test_diffusion_min_snr_weights(prediction: str) -> None:
    """Min-SNR-gamma weights follow the closed form for each target; no gamma → all ones."""
    import dataclasses

    t = torch.tensor([0, 100, 500, 999])
    plain = tiny("diffusion")
    assert torch.equal(plain.loss_weights(t), torch.ones(4))
    cfg = dataclasses.replace(TINY["diffusion"], snr_gamma=5.0, prediction_type=prediction)
    cc = plain.cond_config
    m = ConditionalDiffusion.from_config(cfg, cc, VOCAB)
    ac = m._schedulers()[0].alphas_cumprod[t].double()
    snr = ac / (1 - ac)
    clipped = torch.minimum(snr, torch.tensor(5.0, dtype=torch.float64))
    want = {
        "v_prediction": clipped / (snr + 1),
        "epsilon": clipped / snr,
        "sample": clipped,
    }[prediction]
    torch.testing.assert_close(m.loss_weights(t).double(), want, rtol=1e-5, atol=1e-6)
    # low noise (high SNR) is clipped, high noise is not
    assert snr[0] > 5 > snr[-1]
    with pytest.raises(InvalidParamsError):
        DiffusionConfig(size=16, snr_gamma=0.0)


def test_gan_diffaugment_and_lazy_r1() -> None:
    """With DiffAugment, D sees augmented images (none without it); the R1 penalty runs only
    every r1_every steps (lazy regularisation) and is positive; bad settings are refused."""
    import dataclasses

    cc = ConditionConfig.from_vocab(VOCAB, text_encoder="hashing", emb_dim=8, out_dim=16)
    cfg = dataclasses.replace(
        TINY["gan"], augment=("color", "translation", "cutout"), r1_gamma=2.0, r1_every=2
    )
    m = ConditionalGAN.from_config(cfg, cc, VOCAB, seed=0)
    plain = tiny("gan")
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    g = torch.Generator().manual_seed(0)
    assert not torch.equal(m._aug(x, g), x) and torch.equal(plain._aug(x, g), x)
    cond, opts = m.conditioner.batch(PROMPTS), m.make_optimizers()
    logs = [
        m.train_step(x, cond, step, opts, torch.Generator().manual_seed(step)) for step in range(4)
    ]
    assert ["r1" in r for r in logs] == [True, False, True, False]
    assert all(r["r1"] > 0 for r in logs if "r1" in r)
    assert "r1" not in plain.train_step(x, cond, 0, plain.make_optimizers(), g)
    with pytest.raises(InvalidParamsError, match="r1_every"):
        GANConfig(size=16, r1_every=0)
    with pytest.raises(InvalidParamsError, match="Known: color, translation, cutout"):
        GANConfig(size=16, augment=("flip",))  # type: ignore[arg-type]
    assert default_config("gan", 64).augment == ("color", "translation", "cutout")  # type: ignore[attr-defined]
