"""Conditional GAN: FiLM or style-based generator, projection discriminator, hinge loss, spectral
norm, EMA. ``GANConfig.arch`` picks the generator (:mod:`.stylegan` for ``style``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from productstudio.errors import InvalidParamsError
from productstudio.models.conditioning.fusion import CondBatch, ConditionConfig, ConditionEncoder
from productstudio.models.data import Vocab
from productstudio.models.generators.base import GENERATORS, ConditionalGenerator, Ema
from productstudio.models.generators.layers import CondDecoder, levels
from productstudio.models.generators.stylegan import StyleGenerator


class GANArch(StrEnum):
    """Generator architecture of the conditional GAN."""

    FILM = "film"  # FiLM-conditioned up-sampling decoder
    STYLE = "style"  # StyleGAN2-like: mapping network, modulated convs, noise, mixing


@dataclass(frozen=True)
class GANConfig:
    size: int = 64
    z_dim: int = 64
    g_channels: int = 32
    d_channels: int = 32
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.999
    ema_decay: float = 0.999
    p_drop_all: float = 0.0
    p_drop_each: float = 0.1
    arch: GANArch = GANArch.FILM
    # style arch only (see stylegan.py)
    w_dim: int = 128
    mapping_layers: int = 4
    mixing_prob: float = 0.9  # style mixing during training
    truncation: float = 1.0  # psi used by sample(); 1 = no truncation
    truncation_samples: int = 64  # noise vectors averaged for the per-condition centre

    def __post_init__(self) -> None:
        levels(self.size)
        object.__setattr__(self, "arch", GANArch(self.arch))
        if self.z_dim < 1 or self.g_channels < 1 or self.d_channels < 1:
            raise InvalidParamsError("GANConfig: z_dim and channels must be >= 1")
        if not 0.0 <= self.ema_decay < 1.0:
            raise InvalidParamsError(f"GANConfig.ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.w_dim < 1 or self.mapping_layers < 1 or self.truncation_samples < 1:
            raise InvalidParamsError(
                "GANConfig: w_dim, mapping_layers and truncation_samples must be >= 1"
            )
        if not 0.0 <= self.mixing_prob <= 1.0:
            raise InvalidParamsError(
                f"GANConfig.mixing_prob must be in [0, 1], got {self.mixing_prob}"
            )
        if not 0.0 <= self.truncation <= 2.0:
            raise InvalidParamsError(
                f"GANConfig.truncation must be in [0, 2], got {self.truncation}"
            )


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
        # discriminator: hinge loss
        with torch.no_grad():
            fake = self._fake(self.G, cond, generator)
        d_real, d_fake = self.D(x, cond), self.D(fake, cond)
        loss_d = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        optimizers["d"].zero_grad(set_to_none=True)
        loss_d.backward()
        optimizers["d"].step()
        # generator
        fake = self._fake(self.G, cond, generator)
        loss_g = -self.D(fake, cond).mean()
        optimizers["g"].zero_grad(set_to_none=True)
        loss_g.backward()
        optimizers["g"].step()
        Ema.update(self.G_ema, self.G, self.config.ema_decay, step)
        return {
            "loss_d": float(loss_d.detach()),
            "loss_g": float(loss_g.detach()),
            "d_real": float(d_real.detach().mean()),
            "d_fake": float(d_fake.detach().mean()),
        }

    def generate(self, cond: CondBatch, generator: torch.Generator) -> torch.Tensor:
        return self._fake(self.G_ema, cond, generator, sampling=True)

    def train(self, mode: bool = True) -> ConditionalGAN:
        super().train(mode)
        self.G_ema.eval()  # the EMA copy always uses running BatchNorm statistics
        return self
