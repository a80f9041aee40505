"""Conditional VAE: conv encoder q(z|x,c), FiLM decoder p(x|z,c), KL warm-up, attribute editing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from productstudio.errors import InvalidParamsError
from productstudio.models.conditioning.config import ConditionConfig, Prompt
from productstudio.models.conditioning.fusion import CondBatch, ConditionEncoder
from productstudio.models.data import Vocab, prepare_image
from productstudio.models.generators.base import (
    GENERATORS,
    ConditionalGenerator,
    from_uint8,
    to_uint8,
)
from productstudio.models.generators.configs import VAEConfig, levels
from productstudio.models.generators.layers import CondDecoder


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


@dataclass(frozen=True)
class PhotoEdit:
    """One attribute edit of one photo, all (S, S, 3) uint8 at the model's size."""

    input: NDArray[np.uint8]  # the photo padded to a white square and resized
    reconstruction: NDArray[np.uint8]  # decoded under its own condition
    edited: NDArray[np.uint8]  # decoded under the changed condition
    source: Prompt
    target: Prompt


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

    def edit_photo(
        self, image: NDArray[np.uint8], source: Prompt, changes: Mapping[str, str]
    ) -> PhotoEdit:
        """Edit one photo of any size: pad to a white square, resize to the model's size, encode
        under ``source`` and decode under ``source.with_attrs(changes)`` (the title follows).

        Raises:
            InvalidParamsError: unknown attribute names or values (the message lists the known
                ones), no change requested, or not an RGB image.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InvalidParamsError(
                f"edit_photo: need an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}"
            )
        if not changes:
            raise InvalidParamsError("edit_photo: no attribute change given (e.g. colour=Red)")
        target = source.with_attrs(changes)
        x = prepare_image(image, self.size)[None]
        rec = self.edit(x, [source], [source])[0]
        out = self.edit(x, [source], [target])[0]
        return PhotoEdit(x[0], rec, out, source, target)
