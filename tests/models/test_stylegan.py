"""Style-based GAN: modulated convs, style mixing, truncation, noise, save/load, training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import shared_path
from productstudio.errors import InvalidParamsError
from productstudio.models.conditioning.fusion import ConditionConfig, Prompt
from productstudio.models.data import ATTRIBUTES, Split, Vocab, load_products
from productstudio.models.generators import (
    ConditionalGAN,
    GANConfig,
    default_config,
    load_generator,
)
from productstudio.models.generators.gan import GANArch
from productstudio.models.generators.stylegan import StyleGenerator, modulated_conv2d
from productstudio.models.train import TrainParams, train

VOCAB = Vocab.build(
    [{"category": "Shoes", "colour": "Red"}, {"category": "Bags", "colour": "Blue"}],
    ("category", "colour"),
)
CFG = GANConfig(
    size=16, z_dim=8, g_channels=4, d_channels=4, arch="style", w_dim=16, mapping_layers=2
)
PROMPTS = [
    Prompt("red canvas shoe", {"category": "Shoes", "colour": "Red"}),
    Prompt("blue tote bag", {"category": "Bags", "colour": "Blue"}),
]


def tiny(cfg: GANConfig = CFG) -> ConditionalGAN:
    cc = ConditionConfig.from_vocab(VOCAB, text_encoder="hashing", emb_dim=8, out_dim=16)
    m = ConditionalGAN.from_config(cfg, cc, VOCAB, seed=0)
    # non-zero noise strengths so that noise modes are observable
    if isinstance(m.G_ema, StyleGenerator):
        with torch.no_grad():
            for layer in m.G_ema.synthesis.layers:
                layer.noise_strength.fill_(0.3)
    return m


def _cond(m: ConditionalGAN, n: int = 1) -> object:
    return m.conditioner.batch([PROMPTS[0]] * n + [PROMPTS[1]] * n)


def test_config_and_registry() -> None:
    """arch is an enum; `style` builds a StyleGenerator with 2·levels + 1 styles; bad values
    fail."""
    m = tiny()
    assert m.config.arch is GANArch.STYLE and isinstance(m.G, StyleGenerator)
    assert m.G.num_ws == 2 * 2 + 1  # 16 px = 4 → 8 → 16
    film = tiny(GANConfig(size=16, z_dim=8, g_channels=4, d_channels=4))
    assert film.config.arch is GANArch.FILM and not isinstance(film.G, StyleGenerator)
    assert default_config("gan", 64, arch="style").arch is GANArch.STYLE  # type: ignore[attr-defined]
    for kw in ({"arch": "big"}, {"mixing_prob": 1.5}, {"truncation": -0.1}, {"w_dim": 0}):
        with pytest.raises((InvalidParamsError, ValueError)):
            GANConfig(size=16, **kw)  # type: ignore[arg-type]


def test_modulated_conv_equals_per_sample_weights() -> None:
    """The non-fused modulated conv equals conv with W·s per sample, demodulated to unit norm."""
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(3, 5, 8, 8, generator=g), torch.randn(7, 5, 3, 3, generator=g)
    s = torch.rand(3, 5, generator=g) + 0.5
    got = modulated_conv2d(x, w, s)
    for i in range(3):
        wi = w * s[i][None, :, None, None]
        wi = wi / wi.square().sum((1, 2, 3), keepdim=True).sqrt()
        torch.testing.assert_close(got[i : i + 1], F.conv2d(x[i : i + 1], wi, padding=1))
    up = modulated_conv2d(x, w, s, demodulate=False, up=True)
    assert up.shape == (3, 7, 16, 16)
    # demodulated outputs have unit weight norm: scaling a style leaves the output unchanged
    torch.testing.assert_close(modulated_conv2d(x, w, s * 3.0), got, rtol=1e-4, atol=1e-5)


def test_style_mixing_uses_each_style_where_defined() -> None:
    """Layers < k take f(z, c), layers >= k take f(z2, c); k = num_ws is no mixing, k = 0 is z2."""
    G = tiny().G_ema
    assert isinstance(G, StyleGenerator)
    cond = _cond(tiny())
    g = torch.Generator().manual_seed(1)
    z, z2 = torch.randn(2, 8, generator=g), torch.randn(2, 8, generator=g)
    c = G.cond(cond)
    w1, w2 = G.map(z, c), G.map(z2, c)
    for k in range(G.num_ws + 1):
        ws = G.styles(z, cond, mix_z=z2, mix_from=k)
        torch.testing.assert_close(ws[:, :k], w1[:, None].expand(-1, k, -1))
        torch.testing.assert_close(ws[:, k:], w2[:, None].expand(-1, G.num_ws - k, -1))
    # per-row cut points, and the generator's output is the synthesis of exactly those styles
    ws = G.styles(z, cond, mix_z=z2, mix_from=torch.tensor([1, 3]))
    assert torch.equal(ws[0, 1:], w2[0:1].expand(G.num_ws - 1, -1))
    assert torch.equal(ws[1, :3], w1[1:2].expand(3, -1))
    img = G.synthesis(ws, "const")
    assert img.shape == (2, 3, 16, 16) and img.abs().max() <= 1
    # mixing only the last layer's style still changes the image
    full = G.synthesis(G.styles(z, cond), "none")
    mixed = G.synthesis(G.styles(z, cond, mix_z=z2, mix_from=G.num_ws - 1), "none")
    assert not torch.allclose(full, mixed)


def test_mixing_prob_draws_from_the_generator() -> None:
    """forward() with mixing_prob 1 mixes every row (reproducible from the seed); 0 never mixes."""
    G = tiny().G_ema
    assert isinstance(G, StyleGenerator)
    cond = _cond(tiny())
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(2))
    a = G(z, cond, generator=torch.Generator().manual_seed(3), mixing_prob=1.0, noise_mode="none")
    b = G(z, cond, generator=torch.Generator().manual_seed(3), mixing_prob=1.0, noise_mode="none")
    plain = G(z, cond, mixing_prob=0.0, noise_mode="none")
    assert torch.equal(a, b)
    assert not torch.allclose(a, plain)
    torch.testing.assert_close(plain, G.synthesis(G.styles(z, cond), "none"))


def test_truncation_closed_form() -> None:
    """ψ = 0 gives synthesis(w̄_c) for every z (per condition); ψ = 1 is no truncation; ψ is
    linear: w' = w̄_c + ψ (w − w̄_c)."""
    m = tiny()
    G = m.G_ema
    assert isinstance(G, StyleGenerator)
    cond = _cond(m, n=3)  # 3 × shoe, 3 × bag
    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(4))
    centre = G.w_centre(G.cond(cond))
    want = G.synthesis(centre[:, None].expand(-1, G.num_ws, -1), "const")
    got = G(z, cond, truncation=0.0, noise_mode="const")
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(got[0], got[2])  # same condition, different z: same image
    assert not torch.allclose(got[0], got[3])  # another condition: another centre
    torch.testing.assert_close(
        G(z, cond, truncation=1.0, noise_mode="const"), G.synthesis(G.styles(z, cond), "const")
    )
    w = G.styles(z, cond)
    torch.testing.assert_close(
        G.styles(z, cond, truncation=0.5), centre[:, None] + 0.5 * (w - centre[:, None])
    )
    # the sampler uses the configured ψ: ψ = 0 → identical samples for repeated prompts
    import dataclasses

    m.config = dataclasses.replace(m.config, truncation=0.0)
    s = m.sample([PROMPTS[0]] * 3, seed=0)
    assert np.array_equal(s[0], s[1]) and np.array_equal(s[1], s[2])
    m.config = dataclasses.replace(m.config, truncation=1.0)
    s = m.sample([PROMPTS[0]] * 3, seed=0)
    assert not np.array_equal(s[0], s[1])


def test_noise_modes() -> None:
    """const noise is fixed, random noise follows the generator's seed, none adds nothing."""
    G = tiny().G_ema
    assert isinstance(G, StyleGenerator)
    cond = _cond(tiny())
    ws = G.styles(torch.randn(2, 8, generator=torch.Generator().manual_seed(5)), cond)

    def run(mode: str, seed: int = 0) -> torch.Tensor:
        return G.synthesis(ws, mode, torch.Generator().manual_seed(seed))  # type: ignore[arg-type]

    assert torch.equal(run("const"), run("const", 9))
    assert torch.equal(run("random", 1), run("random", 1))
    assert not torch.allclose(run("random", 1), run("random", 2))
    assert not torch.allclose(run("none"), run("const"))
    for layer in G.synthesis.layers:
        layer.noise_strength.data.zero_()
    assert torch.equal(run("none"), run("const"))
    with pytest.raises(InvalidParamsError, match="ws of shape"):
        G.synthesis(ws[:, :2])


def test_save_load_roundtrip(tmp_path: Path) -> None:
    """A style GAN round-trips through save_pretrained/load_generator (arch, samples)."""
    m = tiny()
    m.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["config"]["arch"] == "style"
    m2 = load_generator(tmp_path)
    assert isinstance(m2, ConditionalGAN) and m2.config == m.config
    np.testing.assert_array_equal(m.sample(PROMPTS, seed=3), m2.sample(PROMPTS, seed=3))


def test_style_gan_loss_falls_and_resumes(tmp_path: Path) -> None:
    """Trained a few steps on real photos the discriminator loss falls; 2 + resume 2 steps give
    bit-identical weights to 4 steps (noise and mixing draw from the checkpointed generator)."""
    data = load_products(shared_path("data", "products"), size=16, limit=160).subset(Split.TRAIN)
    vocab = Vocab.build([r.attrs for r in data.records], ATTRIBUTES)
    cc = ConditionConfig.from_vocab(vocab, text_encoder="hashing", emb_dim=16, out_dim=32)
    cfg = GANConfig(size=16, z_dim=16, g_channels=8, d_channels=8, arch="style", w_dim=32)
    m = ConditionalGAN.from_config(cfg, cc, vocab, seed=0)
    train(
        m,
        data,
        tmp_path / "t",
        TrainParams(batch_size=32, max_steps=30, log_every=1, sample_every=0),
    )
    vals = [
        json.loads(x)["loss_d"]
        for x in (tmp_path / "t" / "train_log.jsonl").read_text().splitlines()
    ]
    assert np.mean(vals[-5:]) < np.mean(vals[:5]), vals
    runs = []
    for steps, resume in ((4, False), (2, False), (4, True)):
        mm = ConditionalGAN.from_config(cfg, cc, vocab, seed=0)
        d = tmp_path / ("a" if not runs else "b")
        train(
            mm, data, d, TrainParams(batch_size=8, max_steps=steps, sample_every=0), resume=resume
        )
        runs.append(mm)
    for (ka, va), (_, vb) in zip(
        runs[0].state_dict().items(), runs[2].state_dict().items(), strict=True
    ):
        assert torch.equal(va, vb), ka


def test_style_mixing_grid() -> None:
    """The mixing picture: parents on the first row/column; a seed mixed with itself is its own
    image; other cells differ from both parents; bad inputs are refused."""
    from productstudio.models.generators.stylegan import style_mixing_grid

    m = tiny()
    grid = style_mixing_grid(m, PROMPTS[0], [1, 2], [2, 3], mix_from=3)
    assert grid.shape == (3, 3, 16, 16, 3) and grid.dtype == np.uint8
    assert (grid[0, 0] == 255).all()
    np.testing.assert_array_equal(grid[2, 1], grid[0, 1])  # seed 2 mixed with seed 2
    np.testing.assert_array_equal(grid[2, 0], grid[0, 1])
    assert not np.array_equal(grid[1, 2], grid[1, 0]) and not np.array_equal(grid[1, 2], grid[0, 2])
    with pytest.raises(InvalidParamsError, match="mix_from"):
        style_mixing_grid(m, PROMPTS[0], [1], [2], mix_from=0)
    film = tiny(GANConfig(size=16, z_dim=8, g_channels=4, d_channels=4))
    with pytest.raises(InvalidParamsError, match="style GAN"):
        style_mixing_grid(film, PROMPTS[0], [1], [2], mix_from=1)
