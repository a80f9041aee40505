"""A small image autoencoder of our own for latent diffusion (imports torch).

64 px product photos → a 16×16×4 latent (two halvings with the default ``channels``) and back.
Trained from scratch on the product photos with L1 + (1 − SSIM) + a patch-adversarial hinge
loss (a 3-layer PatchGAN discriminator that joins part-way through training); the latent is
regularised either by a tiny KL term towards N(0, I) (as in Stable Diffusion's VAE) or by a
vector-quantised codebook (VQ-GAN style, straight-through gradients, codebook + commitment
losses). No torchvision and no downloaded perceptual network: SSIM is computed here
(:func:`ssim_torch`, the same definition as ``metrics.quality.ssim``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from productstudio.models.generators.configs import AERegulariser, AutoencoderConfig

__all__ = ["Autoencoder", "PatchDiscriminator", "VectorQuantizer", "ssim_torch"]

_SSIM_WIN = 7


def ssim_torch(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Differentiable mean SSIM per image, (B,) for (B, C, H, W) images in [-1, 1].

    Same definition as scikit-image (and so :func:`productstudio.metrics.quality.ssim` of the
    uint8 images): a 7×7 uniform window, K1 = 0.01, K2 = 0.03, sample covariances, the map
    averaged per channel over the interior that the window covers. The images are moved to
    [0, 2] first: SSIM's luminance term is not shift-invariant.
    """
    a, b, data_range = a + 1, b + 1, 2.0
    c = a.shape[1]
    w = torch.full((c, 1, _SSIM_WIN, _SSIM_WIN), 1.0 / _SSIM_WIN**2, dtype=a.dtype, device=a.device)
    n = _SSIM_WIN**2
    cov = n / (n - 1)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, w, groups=c)

    ma, mb = blur(a), blur(b)
    vaa = cov * (blur(a * a) - ma * ma)
    vbb = cov * (blur(b * b) - mb * mb)
    vab = cov * (blur(a * b) - ma * mb)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ma * mb + c1) * (2 * vab + c2)) / ((ma * ma + mb * mb + c1) * (vaa + vbb + c2))
    return s.mean((1, 2, 3))


def _gn(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, c), c)


class _ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.n1, self.c1 = _gn(c_in), nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.n2, self.c2 = _gn(c_out), nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c1(F.silu(self.n1(x)))
        h = self.c2(F.silu(self.n2(h)))
        return self.skip(x) + h


class _Encoder(nn.Module):
    def __init__(self, cfg: AutoencoderConfig, out_channels: int) -> None:
        super().__init__()
        ch = cfg.channels
        layers: list[nn.Module] = [nn.Conv2d(3, ch[0], 3, 1, 1)]
        c_prev = ch[0]
        for i, c in enumerate(ch):
            layers.append(_ResBlock(c_prev, c))
            c_prev = c
            if i < len(ch) - 1:
                layers.append(nn.Conv2d(c, c, 3, 2, 1))  # halve
        layers += [_ResBlock(c_prev, c_prev), _gn(c_prev), nn.SiLU()]
        layers.append(nn.Conv2d(c_prev, out_channels, 3, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _Decoder(nn.Module):
    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        ch = tuple(reversed(cfg.channels))
        layers: list[nn.Module] = [
            nn.Conv2d(cfg.latent_channels, ch[0], 3, 1, 1),
            _ResBlock(ch[0], ch[0]),
        ]
        c_prev = ch[0]
        for i, c in enumerate(ch):
            layers.append(_ResBlock(c_prev, c))
            c_prev = c
            if i < len(ch) - 1:
                layers += [nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(c, c, 3, 1, 1)]
        layers += [_gn(c_prev), nn.SiLU(), nn.Conv2d(c_prev, 3, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class VectorQuantizer(nn.Module):
    """Nearest-codebook quantisation with straight-through gradients (van den Oord et al. 2017).

    ``forward(z)`` → (quantised z, codebook + β·commitment loss, code indices)."""

    def __init__(self, n_codes: int, dim: int, commitment: float) -> None:
        super().__init__()
        self.codebook = nn.Embedding(n_codes, dim)
        nn.init.uniform_(self.codebook.weight, -1.0 / n_codes, 1.0 / n_codes)
        self.commitment = commitment

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, c, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, c)
        e = self.codebook.weight
        d = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ e.T + e.pow(2).sum(1)[None]
        idx = d.argmin(1)
        q = e[idx].view(b, h, w, c).permute(0, 3, 1, 2)
        loss = F.mse_loss(q, z.detach()) + self.commitment * F.mse_loss(z, q.detach())
        return z + (q - z).detach(), loss, idx.view(b, h, w)


class PatchDiscriminator(nn.Module):
    """3-layer PatchGAN (Isola et al. 2017): one real/fake logit per ~22 px patch."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(3, c, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, 2, 1),
            _gn(2 * c),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 2 * c, 3, 1, 1),
            _gn(2 * c),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 1, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Autoencoder(nn.Module):
    """Encoder, (KL | VQ) regulariser, decoder and the patch discriminator used in training.

    ``encode(x)`` gives the deterministic latent (posterior mean for KL, quantised code for VQ)
    that latent diffusion works on; ``decode(z)`` maps it back to (B, 3, S, S) in [-1, 1]."""

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        self.config = config
        kl = config.regulariser == AERegulariser.KL
        self.encoder = _Encoder(
            config, 2 * config.latent_channels if kl else config.latent_channels
        )
        self.decoder = _Decoder(config)
        self.quantizer = (
            None
            if kl
            else VectorQuantizer(config.codebook_size, config.latent_channels, config.commitment)
        )
        self.disc = PatchDiscriminator(config.disc_channels)

    # -- inference ----------------------------------------------------------------------------
    def _posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [-1, 1] → (B, latent_channels, S/f, S/f)."""
        if self.quantizer is None:
            return self._posterior(x)[0]
        return self.quantizer(self.encoder(x))[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    # -- training -----------------------------------------------------------------------------
    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        lr = self.config.lr
        gen = [p for n, p in self.named_parameters() if not n.startswith("disc.")]
        return {
            "ae": torch.optim.Adam(gen, lr=lr, betas=(0.5, 0.9)),
            "ae_disc": torch.optim.Adam(self.disc.parameters(), lr=lr, betas=(0.5, 0.9)),
        }

    def reconstruction_losses(
        self, x: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(reconstruction, losses without the adversarial term): l1, ssim, reg."""
        if self.quantizer is None:
            mean, logvar = self._posterior(x)
            eps = torch.randn(mean.shape, generator=generator).to(mean.device)
            z = mean + eps * (0.5 * logvar).exp()
            reg = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum((1, 2, 3)).mean()
            reg_w = self.config.kl_weight
        else:
            z, reg, _ = self.quantizer(self.encoder(x))
            reg_w = 1.0
        rec = self.decoder(z)
        l1 = (rec - x).abs().mean()
        ssim = ssim_torch(rec, x).mean()
        total = l1 + self.config.ssim_weight * (1 - ssim) + reg_w * reg
        return rec, {"ae_loss": total, "ae_l1": l1, "ae_ssim": ssim, "ae_reg": reg}

    def train_step(
        self,
        x: torch.Tensor,
        optimizers: dict[str, torch.optim.Optimizer],
        generator: torch.Generator,
        *,
        adversarial: bool,
    ) -> dict[str, float]:
        """One step of the autoencoder (and of its discriminator when ``adversarial``)."""
        rec, losses = self.reconstruction_losses(x, generator)
        loss = losses["ae_loss"]
        out: dict[str, float] = {}
        if adversarial and self.config.adv_weight > 0:
            g_adv = -self.disc(rec).mean()
            loss = loss + self.config.adv_weight * g_adv
            out["ae_g_adv"] = float(g_adv.detach())
        opt = optimizers["ae"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if adversarial and self.config.adv_weight > 0:
            d_real, d_fake = self.disc(x), self.disc(rec.detach())
            loss_d = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
            od = optimizers["ae_disc"]
            od.zero_grad(set_to_none=True)
            loss_d.backward()
            od.step()
            out["ae_d"] = float(loss_d.detach())
        return out | {k: float(v.detach()) for k, v in losses.items()}
