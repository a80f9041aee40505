"""Conditional latent diffusion: the diffusion family of :mod:`.diffusion` (same conditioning,
fusion, CFG, DDIM) run in the latent space of our own autoencoder (:mod:`.autoencoder`).

One model folder holds both networks. Training has two phases inside one budget, switched by
:meth:`ConditionalLatentDiffusion.on_budget`: first the autoencoder (``ae_fraction`` of the
budget), then — on the frozen encoder's latents, scaled to unit variance as measured on the
first diffusion batch — the UNet. At 64 px the UNet sees 16×16×4 latents, so a step costs a
fraction of a pixel-space step and the same CPU budget buys many more of them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from productstudio.models.conditioning.config import ConditionConfig, Prompt
from productstudio.models.conditioning.fusion import CondBatch
from productstudio.models.data import Vocab
from productstudio.models.generators.autoencoder import Autoencoder
from productstudio.models.generators.base import GENERATORS, from_uint8, to_uint8
from productstudio.models.generators.configs import LatentDiffusionConfig
from productstudio.models.generators.diffusion import ConditionalDiffusion

log = logging.getLogger(__name__)

AUTOENCODER, DIFFUSION = 0, 1


@GENERATORS.register("ldm")
class ConditionalLatentDiffusion(ConditionalDiffusion):
    family = "ldm"
    config_cls = LatentDiffusionConfig
    clip_sample = False  # latents are not bounded to [-1, 1]
    phase: torch.Tensor
    phase_start: torch.Tensor
    latent_scale: torch.Tensor

    def __init__(
        self, config: LatentDiffusionConfig, cond_config: ConditionConfig, vocab: Vocab
    ) -> None:
        super().__init__(config, cond_config, vocab)
        self.ae = Autoencoder(config.autoencoder_config())
        # buffers, so checkpoints and saved models carry the training phase and latent scale
        self.register_buffer("phase", torch.tensor(AUTOENCODER, dtype=torch.long))
        self.register_buffer("phase_start", torch.tensor(0, dtype=torch.long))
        self.register_buffer("latent_scale", torch.tensor(0.0))
        self._progress = 0.0

    # -- training -------------------------------------------------------------------------------
    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return super().make_optimizers() | self.ae.make_optimizers()

    def on_budget(self, progress: float, step: int) -> None:
        """Switch from the autoencoder to the diffusion phase at ``ae_fraction`` of the budget."""
        self._progress = progress
        if int(self.phase) == AUTOENCODER and progress >= self.config.ae_fraction:
            self.start_diffusion(step)

    def start_diffusion(self, step: int) -> None:
        """Freeze the autoencoder and train the UNet from ``step`` on."""
        log.info("latent diffusion: autoencoder phase ends at step %d", step)
        self.phase.fill_(DIFFUSION)
        self.phase_start.fill_(step)

    def adopt_autoencoder(self, other: ConditionalLatentDiffusion) -> None:
        """Take a trained autoencoder (and its latent scale) from ``other``; skip phase one."""
        self.ae.load_state_dict(other.ae.state_dict())
        self.latent_scale.copy_(other.latent_scale)
        self.start_diffusion(0)

    @torch.no_grad()
    def to_latent(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, S, S) in [-1, 1] → scaled latents (unit variance on the training data)."""
        was = self.ae.training
        self.ae.eval()
        z = self.ae.encode(x)
        self.ae.train(was)
        if float(self.latent_scale) == 0.0:
            self.latent_scale.fill_(1.0 / max(float(z.std()), 1e-6))
            log.info("latent diffusion: latent scale %.4f", float(self.latent_scale))
        return z * self.latent_scale

    def train_step(
        self,
        x: torch.Tensor,
        cond: CondBatch,
        step: int,
        optimizers: dict[str, torch.optim.Optimizer],
        generator: torch.Generator,
    ) -> dict[str, float]:
        if int(self.phase) == AUTOENCODER:
            adv = self._progress >= self.config.ae_fraction * self.config.ae_adv_start
            return self.ae.train_step(x, optimizers, generator, adversarial=adv)
        z = self.to_latent(x)
        return self.denoiser_step(z, cond, step - int(self.phase_start), optimizers, generator)

    def training_info(self) -> dict[str, Any]:
        return {
            "autoencoder_steps": int(self.phase_start) if int(self.phase) == DIFFUSION else None,
            "latent_scale": float(self.latent_scale),
        }

    # -- sampling -------------------------------------------------------------------------------
    def generate(self, cond: CondBatch, generator: torch.Generator) -> torch.Tensor:
        z = self.denoise(cond, generator)
        scale = float(self.latent_scale) or 1.0
        return self.ae.decode(z / scale).clamp(-1, 1)

    @torch.no_grad()
    def reconstruct(
        self,
        images: NDArray[np.uint8],
        prompts: Sequence[Prompt] | None = None,
        *,
        strict: bool = True,
        batch_size: int = 64,
    ) -> NDArray[np.uint8]:
        """Autoencoder round trip of uint8 (N, S, S, 3) photos (the prompts are not used)."""
        was = self.training
        self.eval()
        outs = []
        for i in range(0, len(images), batch_size):
            x = from_uint8(images[i : i + batch_size]).to(self.device)
            outs.append(to_uint8(self.ae.decode(self.ae.encode(x)).clamp(-1, 1)))
        self.train(was)
        return np.concatenate(outs) if outs else np.zeros((0, self.size, self.size, 3), np.uint8)
