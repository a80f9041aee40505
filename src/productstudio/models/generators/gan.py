"""Conditional GAN: FiLM or style-based generator (``GANConfig.arch``; :mod:`.stylegan` for
``style``), projection discriminator, hinge loss, spectral norm, EMA; optional DiffAugment on
everything D sees and lazy R1 regularisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from productstudio.models.conditioning.fusion import CondBatch, ConditionConfig, ConditionEncoder
from productstudio.models.data import Vocab
from productstudio.models.generators.augment import DiffAugmentParams, diff_augment
from productstudio.models.generators.base import GENERATORS, ConditionalGenerator, Ema
from productstudio.models.generators.configs import GANArch, GANConfig, levels
from productstudio.models.generators.layers import CondDecoder
from productstudio.models.generators.stylegan import StyleGenerator


class _Generator(nn.Module):
    def __init__(self, cfg: GANConfig, cond_cfg: ConditionConfig) -> None:
        super().__init__()
        self.cond = ConditionEncoder(cond_cfg)
        self.dec = CondDecoder(cfg.z_dim, cond_cfg.out_dim, cfg.size, cfg.g_channels, "batch")

    def forward(self, z: torch.Tensor, cond: CondBatch) -> torch.Tensor:
        return self.dec(z, self.cond(cond))


class _DBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.c1 = spectral_norm(nn.Conv2d(c_in, c_out, 3, 1, 1))
        self.c2 = spectral_norm(nn.Conv2d(c_out, c_out, 3, 1, 1))
        self.skip = spectral_norm(nn.Conv2d(c_in, c_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c2(F.leaky_relu(self.c1(F.leaky_relu(x, 0.2)), 0.2))
        return F.avg_pool2d(h + self.skip(x), 2)


class _Discriminator(nn.Module):
    """Projection discriminator (Miyato & Koyama 2018) on the fused condition vector."""

    def __init__(self, cfg: GANConfig, cond_cfg: ConditionConfig) -> None:
        super().__init__()
        # A strided 4x4 stem halves the resolution before the first block: at 64 px the
        # full-resolution block cost ~4x the rest of D on CPU for no measurable gain.
        n = levels(cfg.size)
        ch = [cfg.d_channels * min(2**i, 8) for i in range(n)]
        self.stem = spectral_norm(nn.Conv2d(3, ch[0], 4, 2, 1))
        self.blocks = nn.Sequential(*[_DBlock(ch[i], ch[i + 1]) for i in range(n - 1)])
        self.cond = ConditionEncoder(cond_cfg)
        self.lin = spectral_norm(nn.Linear(ch[-1], 1))
        self.proj = spectral_norm(nn.Linear(cond_cfg.out_dim, ch[-1]))

    def forward(self, x: torch.Tensor, cond: CondBatch) -> torch.Tensor:
        h = F.leaky_relu(self.blocks(self.stem(x)), 0.2).sum((2, 3))
        return self.lin(h).squeeze(1) + (self.proj(self.cond(cond)) * h).sum(1)


@GENERATORS.register("gan")
class ConditionalGAN(ConditionalGenerator):
    family = "gan"
    config_cls = GANConfig

    def __init__(self, config: GANConfig, cond_config: ConditionConfig, vocab: Vocab) -> None:
        super().__init__(config, cond_config, vocab)
        self.G: nn.Module = (
            StyleGenerator(config, cond_config)
            if config.arch == GANArch.STYLE
            else _Generator(config, cond_config)
        )
        self.D = _Discriminator(config, cond_config)
        self.G_ema = Ema.copy(self.G)
        self.augment = (
            DiffAugmentParams(policy=config.augment, p=config.augment_p) if config.augment else None
        )

    def _aug(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """DiffAugment (when configured): applied to real AND fake images before D."""
        return x if self.augment is None else diff_augment(x, self.augment, g)

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        return {
            "g": torch.optim.Adam(self.G.parameters(), lr=c.lr_g, betas=(c.beta1, c.beta2)),
            "d": torch.optim.Adam(self.D.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2)),
        }

    def _z(self, n: int, g: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.config.z_dim, generator=g).to(self.device)

    def _fake(
        self, G: nn.Module, cond: CondBatch, g: torch.Generator, *, sampling: bool = False
    ) -> torch.Tensor:
        """Images from ``G`` for ``cond``; the style generator also draws noise and mixing."""
        z = self._z(len(cond), g)
        if self.config.arch != GANArch.STYLE:
            return G(z, cond)
        if sampling:
            return G(z, cond, truncation=self.config.truncation, noise_mode="const")
        return G(z, cond, generator=g, mixing_prob=self.config.mixing_prob)

    def train_step(
        self,
        x: torch.Tensor,
        cond: CondBatch,
        step: int,
        optimizers: dict[str, torch.optim.Optimizer],
        generator: torch.Generator,
    ) -> dict[str, float]:
        c = self.config
        # discriminator: hinge loss on augmented reals and fakes
        with torch.no_grad():
            fake = self._fake(self.G, cond, generator)
        d_real = self.D(self._aug(x, generator), cond)
        d_fake = self.D(self._aug(fake, generator), cond)
        loss_d = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        stats: dict[str, float] = {}
        if c.r1_gamma > 0 and step % c.r1_every == 0:
            # lazy R1: gamma/2 * E|grad_x D(aug(x))|^2 every r1_every steps, scaled up to match
            xr = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(
                self.D(self._aug(xr, generator), cond).sum(), xr, create_graph=True
            )
            r1 = grad.pow(2).sum((1, 2, 3)).mean()
            loss_d = loss_d + 0.5 * c.r1_gamma * c.r1_every * r1
            stats["r1"] = float(r1.detach())
        optimizers["d"].zero_grad(set_to_none=True)
        loss_d.backward()
        optimizers["d"].step()
        # generator (through the same augmentation, so G gets gradients of what D judges)
        fake = self._fake(self.G, cond, generator)
        loss_g = -self.D(self._aug(fake, generator), cond).mean()
        optimizers["g"].zero_grad(set_to_none=True)
        loss_g.backward()
        optimizers["g"].step()
        Ema.update(self.G_ema, self.G, self.config.ema_decay, step)
        return {
            "loss_d": float(loss_d.detach()),
            "loss_g": float(loss_g.detach()),
            "d_real": float(d_real.detach().mean()),
            "d_fake": float(d_fake.detach().mean()),
            **stats,
        }

    def generate(self, cond: CondBatch, generator: torch.Generator) -> torch.Tensor:
        return self._fake(self.G_ema, cond, generator, sampling=True)

    def train(self, mode: bool = True) -> ConditionalGAN:
        super().train(mode)
        self.G_ema.eval()  # the EMA copy always uses running BatchNorm statistics
        return self
