"""Conditional diffusion: diffusers ``UNet2DModel`` + fused condition (class_embed_type="identity"),
DDPM training, DDIM sampling with classifier-free guidance, EMA of the UNet."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from productstudio.errors import MissingDependencyError
from productstudio.models.conditioning.fusion import CondBatch, ConditionConfig, ConditionEncoder
from productstudio.models.data import Vocab
from productstudio.models.generators.base import GENERATORS, ConditionalGenerator, Ema
from productstudio.models.generators.configs import DiffusionConfig


def _unet(cfg: DiffusionConfig) -> Any:
    try:
        from diffusers import UNet2DModel
    except ImportError as exc:  # pragma: no cover
        from productstudio.errors import install_hint

        raise MissingDependencyError(f"diffusion needs diffusers: {install_hint('learn')}") from exc
    down = tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in cfg.attention)
    up = tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(cfg.attention))
    return UNet2DModel(
        sample_size=cfg.sample_size,
        in_channels=cfg.sample_channels,
        out_channels=cfg.sample_channels,
        block_out_channels=cfg.block_out_channels,
        down_block_types=down,
        up_block_types=up,
        layers_per_block=cfg.layers_per_block,
        norm_num_groups=cfg.norm_num_groups,
        attention_head_dim=8,
        class_embed_type="identity",
    )


@GENERATORS.register("diffusion")
class ConditionalDiffusion(ConditionalGenerator):
    family = "diffusion"
    config_cls = DiffusionConfig
    #: DDIM clips its x0 estimate to [-1, 1] (right for pixels, wrong for unit-variance latents)
    clip_sample = True

    def __init__(self, config: DiffusionConfig, cond_config: ConditionConfig, vocab: Vocab) -> None:
        super().__init__(config, cond_config, vocab)
        self.unet = _unet(config)
        time_dim = config.block_out_channels[0] * 4
        self.cond = ConditionEncoder(cond_config)
        self.cond_proj = nn.Linear(cond_config.out_dim, time_dim)
        self.ema: Any = Ema.copy(
            nn.ModuleDict({"unet": self.unet, "cond": self.cond, "proj": self.cond_proj})
        )

    def _schedulers(self) -> tuple[Any, Any]:
        from diffusers import DDIMScheduler, DDPMScheduler

        c = self.config
        ddpm = DDPMScheduler(
            num_train_timesteps=c.train_timesteps,
            beta_schedule=c.beta_schedule,
            prediction_type=c.prediction_type,
        )
        ddim = DDIMScheduler(
            num_train_timesteps=c.train_timesteps,
            beta_schedule=c.beta_schedule,
            steps_offset=1,
            clip_sample=self.clip_sample,
            set_alpha_to_one=False,
            prediction_type=c.prediction_type,
        )
        return ddpm, ddim

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        params = [*self.unet.parameters(), *self.cond.parameters(), *self.cond_proj.parameters()]
        return {"unet": torch.optim.AdamW(params, lr=self.config.lr, weight_decay=0.0)}

    def _train_scheduler(self) -> Any:
        """The DDPM scheduler used for training (built once per model)."""
        if not hasattr(self, "_ddpm"):
            self._ddpm = self._schedulers()[0]
        return self._ddpm

    def loss_weights(self, t: torch.Tensor) -> torch.Tensor:
        """Per-sample loss weights for timesteps ``t``: Min-SNR-gamma expressed for the model's
        prediction target (min(SNR, g) / SNR for epsilon, / (SNR + 1) for v, as is for x0);
        all ones without ``snr_gamma``."""
        gamma = self.config.snr_gamma
        if gamma is None:
            return torch.ones(t.shape, device=t.device)
        ac = self._train_scheduler().alphas_cumprod.to(t.device)[t].float()
        snr = ac / (1 - ac)
        w = snr.clamp(max=gamma)
        if self.config.prediction_type == "v_prediction":
            return w / (snr + 1)
        if self.config.prediction_type == "epsilon":
            return w / snr
        return w

    def denoiser_step(
        self,
        x: torch.Tensor,
        cond: CondBatch,
        step: int,
        optimizers: dict[str, torch.optim.Optimizer],
        generator: torch.Generator,
    ) -> dict[str, float]:
        """One DDPM step on clean samples ``x`` (pixels here, latents in the latent model);
        ``step`` drives the EMA warm-up."""
        ddpm = self._train_scheduler()
        b = x.shape[0]
        noise = torch.randn(x.shape, generator=generator).to(x.device)
        t = torch.randint(0, self.config.train_timesteps, (b,), generator=generator).to(x.device)
        noisy = ddpm.add_noise(x, noise, t)
        emb = self.cond_proj(self.cond(cond))
        pred = self.unet(noisy, t, class_labels=emb).sample
        if self.config.prediction_type == "v_prediction":
            target = ddpm.get_velocity(x, noise, t)
        elif self.config.prediction_type == "sample":
            target = x
        else:
            target = noise
        per_sample = F.mse_loss(pred, target, reduction="none").mean((1, 2, 3))
        loss = (self.loss_weights(t) * per_sample).mean()
        opt = optimizers["unet"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(opt.param_groups[0]["params"], 1.0)
        opt.step()
        Ema.update(
            self.ema,
            nn.ModuleDict({"unet": self.unet, "cond": self.cond, "proj": self.cond_proj}),
            self.config.ema_decay,
            step,
        )
        return {"loss": float(loss.detach())}

    # pixel diffusion trains the denoiser on the images themselves (the latent model overrides)
    train_step = denoiser_step

    def generate(self, cond: CondBatch, generator: torch.Generator) -> torch.Tensor:
        return self.denoise(cond, generator).clamp(-1, 1)

    def denoise(self, cond: CondBatch, generator: torch.Generator) -> torch.Tensor:
        """DDIM sampling with classifier-free guidance from the EMA weights:
        (B, C, s, s) samples of the space the UNet works in."""
        _, ddim = self._schedulers()
        ddim.set_timesteps(self.config.sample_steps)
        unet, cenc, proj = self.ema["unet"], self.ema["cond"], self.ema["proj"]
        b = len(cond)
        emb = proj(cenc(cond))
        g = self.config.guidance
        if g != 1.0:
            emb = torch.cat([emb, proj(cenc(cond.null()))])
        c, s = self.config.sample_channels, self.config.sample_size
        x = torch.randn(b, c, s, s, generator=generator).to(self.device)
        for t in ddim.timesteps:
            inp = torch.cat([x, x]) if g != 1.0 else x
            eps = unet(inp, t, class_labels=emb).sample
            if g != 1.0:
                e_c, e_u = eps.chunk(2)
                eps = e_u + g * (e_c - e_u)
            x = ddim.step(eps, t, x, eta=0.0).prev_sample
        return x
