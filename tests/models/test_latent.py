"""The autoencoder of our own and latent diffusion: SSIM loss = the metric, KL/VQ latents,
losses fall on real photos, the two training phases inside one budget, save/load."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import shared_path
from productstudio.errors import InvalidParamsError
from productstudio.metrics.quality import ssim
from productstudio.models.conditioning.config import ConditionConfig, Prompt
from productstudio.models.data import ATTRIBUTES, ProductData, Split, Vocab, load_products
from productstudio.models.generators import (
    AERegulariser,
    Autoencoder,
    AutoencoderConfig,
    ConditionalLatentDiffusion,
    LatentDiffusionConfig,
    default_config,
    load_generator,
)
from productstudio.models.generators.autoencoder import VectorQuantizer, ssim_torch
from productstudio.models.generators.base import from_uint8
from productstudio.models.train import TrainParams, train

TINY = LatentDiffusionConfig(
    size=16,
    block_out_channels=(8, 8),
    attention=(False, False),
    norm_num_groups=4,
    sample_steps=3,
    ae_channels=(8, 16),
    latent_channels=2,
    ae_disc_channels=8,
    ae_fraction=0.5,
)


@pytest.fixture(scope="module")
def real16() -> ProductData:
    return load_products(shared_path("data", "products"), size=16, limit=160).subset(Split.TRAIN)


def _ldm(data: ProductData, cfg: LatentDiffusionConfig = TINY) -> ConditionalLatentDiffusion:
    vocab = Vocab.build([r.attrs for r in data.records], ATTRIBUTES)
    cc = ConditionConfig.from_vocab(vocab, text_encoder="hashing", emb_dim=8, out_dim=16)
    return ConditionalLatentDiffusion.from_config(cfg, cc, vocab, seed=0)


def test_ssim_loss_equals_the_metric() -> None:
    """The differentiable SSIM used in the loss gives scikit-image's value (metrics.ssim)."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 20, 24, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    got = ssim_torch(from_uint8(a).double(), from_uint8(b).double())
    want = [ssim(x, y) for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-8)
    x = from_uint8(a).requires_grad_(True)
    ssim_torch(x, from_uint8(b)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_autoencoder_config_and_shapes() -> None:
    """64 px → 16×16×4 with three widths; both regularisers decode to the input shape."""
    cfg = AutoencoderConfig(size=64, channels=(8, 16, 16))
    assert (cfg.factor, cfg.latent_size) == (4, 16)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    for reg in AERegulariser:
        ae = Autoencoder(dataclasses.replace(cfg, regulariser=reg))
        z = ae.encode(x)
        assert z.shape == (2, 4, 16, 16)
        assert ae.decode(z).shape == x.shape
    with pytest.raises(InvalidParamsError, match="below 4 px"):
        AutoencoderConfig(size=16, channels=(8, 8, 8, 8))
    with pytest.raises(InvalidParamsError, match="divide by 8"):
        AutoencoderConfig(channels=(12, 16))
    with pytest.raises(ValueError):
        AutoencoderConfig(regulariser="lfq")  # type: ignore[arg-type]


def test_vector_quantizer_picks_nearest_code_with_straight_through() -> None:
    """Each vector is replaced by its nearest code; gradients pass straight through."""
    vq = VectorQuantizer(3, 2, commitment=0.25)
    with torch.no_grad():
        vq.codebook.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0], [-1.0, 2.0]]))
    z = torch.tensor([[0.9, -1.2], [1.1, 0.1]]).reshape(1, 2, 1, 2).requires_grad_(True)
    q, loss, idx = vq(z)
    assert idx.flatten().tolist() == [1, 0]  # (0.9, 1.1) → (1, 1); (-1.2, 0.1) → (0, 0)
    torch.testing.assert_close(q.detach().reshape(2, 2).T, torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
    q.sum().backward()
    assert z.grad is not None and torch.equal(z.grad, torch.ones_like(z))
    assert float(loss.detach()) > 0


@pytest.mark.parametrize("reg", list(AERegulariser))
def test_autoencoder_learns_real_photos(reg: AERegulariser, real16: ProductData) -> None:
    """A few dozen steps on real photos raise the reconstruction SSIM; the adversarial phase
    trains the patch discriminator."""
    torch.manual_seed(0)
    ae = Autoencoder(AutoencoderConfig(size=16, channels=(8, 16), regulariser=reg))
    opts, g = ae.make_optimizers(), torch.Generator().manual_seed(0)
    x = from_uint8(real16.images)
    log = [
        ae.train_step(x[i % 4 * 32 : i % 4 * 32 + 32], opts, g, adversarial=i >= 40)
        for i in range(60)
    ]
    assert (
        np.mean([r["ae_ssim"] for r in log[-5:]]) > np.mean([r["ae_ssim"] for r in log[:5]]) + 0.1
    )
    assert "ae_d" in log[-1] and "ae_d" not in log[0]


def test_ldm_phases_inside_one_budget(real16: ProductData, tmp_path: Path) -> None:
    """The autoencoder trains for ae_fraction of the steps, then the UNet on latents scaled to
    unit variance; the summary and the saved model say so, and sampling decodes to images."""
    m = _ldm(real16)
    s = train(
        m, real16, tmp_path, TrainParams(batch_size=16, max_steps=8, sample_every=0, log_every=1)
    )
    assert s["steps"] == 8 and s["autoencoder_steps"] == 4
    log = [json.loads(x) for x in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert all("ae_loss" in r for r in log[:4]) and all("loss" in r for r in log[4:])
    with torch.no_grad():
        z = m.ae.encode(from_uint8(real16.images[:64]))
    assert float(m.latent_scale) == pytest.approx(1 / float(z[:16].std()), rel=0.5)
    again = load_generator(tmp_path)
    assert isinstance(again, ConditionalLatentDiffusion)
    assert int(again.phase) == 1 and float(again.latent_scale) == float(m.latent_scale)
    prompts = [Prompt("red shirt", {"colour": "Red"}), Prompt()]
    a = again.sample(prompts, seed=3)
    assert a.shape == (2, 16, 16, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, m.sample(prompts, seed=3))
    rec = again.reconstruct(real16.images[:5])
    assert rec.shape == (5, 16, 16, 3)


def test_ldm_adopts_a_trained_autoencoder(real16: ProductData) -> None:
    """adopt_autoencoder copies the weights and the scale and starts at the diffusion phase."""
    a, b = _ldm(real16), _ldm(real16, dataclasses.replace(TINY, lr=1e-3))
    with torch.no_grad():
        for p in a.ae.parameters():
            p.add_(0.1)
    a.latent_scale.fill_(2.5)
    b.adopt_autoencoder(a)
    assert int(b.phase) == 1 and float(b.latent_scale) == 2.5
    for (k, va), (_, vb) in zip(a.ae.state_dict().items(), b.ae.state_dict().items(), strict=True):
        assert torch.equal(va, vb), k
    b.on_budget(0.0, 0)
    assert int(b.phase) == 1  # an adopted autoencoder is not trained again


def test_ldm_preset_and_validation() -> None:
    cfg = default_config("ldm", 64)
    assert (cfg.latent_size, cfg.sample_size, cfg.sample_channels) == (16, 16, 4)
    for kw in ({"ae_fraction": 1.0}, {"ae_adv_start": 2.0}, {"ae_channels": (8, 8, 8, 8, 8)}):
        with pytest.raises(InvalidParamsError):
            dataclasses.replace(TINY, **kw)  # type: ignore[arg-type]
