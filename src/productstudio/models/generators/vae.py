"""Conditional VAE: conv encoder q(z|x,c), FiLM decoder p(x|z,c), KL warm-up, attribute editing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from productstudio.errors import InvalidParamsError
from productstudio.models.conditioning.fusion import (
    CondBatch,
    ConditionConfig,
    ConditionEncoder,
    Prompt,
)
from productstudio.models.data import Vocab
from productstudio.models.generators.base import (
    GENERATORS,
    ConditionalGenerator,
    from_uint8,
    to_uint8,
)
from productstudio.models.generators.layers import CondDecoder, levels


@dataclass(frozen=True)
class VAEConfig:
    size: int = 64
    z_dim: int = 64
    channels: int = 32
    lr: float = 1e-3
    beta: float = 1.0
    kl_warmup_steps: int = 1000
    p_drop_all: float = 0.05
    p_drop_each: float = 0.1
    #: a conditional prior p(z|c) (Sohn et al. 2015) instead of N(0, I): samples are drawn where
    #: the posteriors of that condition live, which keeps them on-category after short training
    learned_prior: bool = False

    def __post_init__(self) -> None:
        levels(self.size)
        if self.z_dim < 1 or self.channels < 1:
            raise InvalidParamsError("VAEConfig: z_dim and channels must be >= 1")
        if self.beta < 0 or self.kl_warmup_steps < 0:
            raise InvalidParamsError("VAEConfig: beta and kl_warmup_steps must be >= 0")


class _Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig, cond_dim: int) -> None:
        super().__init__()
        n = levels(cfg.size)
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(n):
            c_out = cfg.channels * min(2**i, 8)
            layers += [
                nn.Conv2d(c_in, c_out, 4, 2, 1),
                nn.GroupNorm(min(8, c_out), c_out),
                nn.SiLU(),
            ]
            c_in = c_out
        self.net = nn.Sequential(*layers)
        self.fc = nn.Sequential(
            nn.Linear(c_in * 16 + cond_dim, 256), nn.SiLU(), nn.Linear(256, 2 * cfg.z_dim)
        )

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.fc(torch.cat([self.net(x).flatten(1), c], 1)).chunk(2, dim=1)
        return mu, logvar.clamp(-10, 10)


@GENERATORS.register("vae")
class ConditionalVAE(ConditionalGenerator):
    family = "vae"
    config_cls = VAEConfig

    def __init__(self, config: VAEConfig, cond_config: ConditionConfig, vocab: Vocab) -> None:
        super().__init__(config, cond_config, vocab)
        self.cond = ConditionEncoder(cond_config)
        self.enc = _Encoder(config, cond_config.out_dim)
        self.dec = CondDecoder(
            config.z_dim, cond_config.out_dim, config.size, config.channels, "group"
        )
        self.prior: nn.Module | None = None
        if config.learned_prior:
            last = nn.Linear(256, 2 * config.z_dim)
            nn.init.zeros_(last.weight)  # starts as N(0, I)
            nn.init.zeros_(last.bias)
            self.prior = nn.Sequential(nn.Linear(cond_config.out_dim, 256), nn.SiLU(), last)

    def prior_params(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of p(z|c) (zeros for the fixed N(0, I) prior)."""
        if self.prior is None:
            zero = torch.zeros(c.shape[0], self.config.z_dim, device=c.device)
            return zero, zero
        mu, logvar = self.prior(c).chunk(2, dim=1)
        return mu, logvar.clamp(-10, 10)

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"vae": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def kl_weight(self, step: int) -> float:
        w = self.config.kl_warmup_steps
        return self.config.beta * (1.0 if w == 0 else min(1.0, step / w))

    def losses(
        self, x: torch.Tensor, cond: CondBatch, step: int, g: torch.Generator
    ) -> dict[str, torch.Tensor]:
        c = self.cond(cond)
        mu, logvar = self.enc(x, c)
        eps = torch.randn(mu.shape, generator=g).to(mu.device)
        z = mu + eps * (0.5 * logvar).exp()
        x_hat = self.dec(z, c)
        rec = ((x_hat - x) ** 2).sum((1, 2, 3)).mean()
        mu_p, logvar_p = self.prior_params(c)
        # KL(N(mu, var) || N(mu_p, var_p)); with mu_p = 0, var_p = 1 the usual closed form
        kl = 0.5 * (logvar_p - logvar + (logvar.exp() + (mu - mu_p).pow(2)) / logvar_p.exp() - 1)
        kl = kl.sum(1).mean()
        return {"loss": rec + self.kl_weight(step) * kl, "rec": rec, "kl": kl}

    def train_step(
        self,
        x: torch.Tensor,
        cond: CondBatch,
        step: int,
        optimizers: dict[str, torch.optim.Optimizer],
        generator: torch.Generator,
    ) -> dict[str, float]:
        out = self.losses(x, cond, step, generator)
        opt = optimizers["vae"]
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        return {k: float(v.detach()) for k, v in out.items()} | {"kl_weight": self.kl_weight(step)}

    def generate(self, cond: CondBatch, generator: torch.Generator) -> torch.Tensor:
        c = self.cond(cond)
        mu_p, logvar_p = self.prior_params(c)
        eps = torch.randn(len(cond), self.config.z_dim, generator=generator).to(self.device)
        return self.dec(mu_p + eps * (0.5 * logvar_p).exp(), c)

    @torch.no_grad()
    def reconstruct(
        self, images: NDArray[np.uint8], prompts: Sequence[Prompt], *, strict: bool = True
    ) -> NDArray[np.uint8]:
        """Encode real photos with their own condition and decode the posterior mean."""
        return self.edit(images, prompts, prompts, strict=strict)

    @torch.no_grad()
    def edit(
        self,
        images: NDArray[np.uint8],
        source: Sequence[Prompt],
        target: Sequence[Prompt],
        *,
        strict: bool = True,
    ) -> NDArray[np.uint8]:
        """Attribute editing: encode ``images`` under ``source``, decode under ``target``.

        Raises:
            InvalidParamsError: lengths or image size do not match.
        """
        if not len(images) == len(source) == len(target):
            raise InvalidParamsError("edit: images, source and target must have the same length")
        if images.shape[1:] != (self.size, self.size, 3):
            raise InvalidParamsError(
                f"edit: images must be (N, {self.size}, {self.size}, 3) uint8, got {images.shape}"
            )
        was = self.training
        self.eval()
        x = from_uint8(images).to(self.device)
        cs = self.cond(self.conditioner.batch(source, strict=strict).to(self.device))
        ct = self.cond(self.conditioner.batch(target, strict=strict).to(self.device))
        mu, _ = self.enc(x, cs)
        out = to_uint8(self.dec(mu, ct))
        self.train(was)
        return out
