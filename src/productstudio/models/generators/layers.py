"""Building blocks shared by the families: FiLM-conditioned up-sampling decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from productstudio.models.generators.configs import levels

__all__ = ["CondDecoder", "FiLMUpBlock", "levels"]


def _norm(kind: str, c: int) -> nn.Module:
    return (
        nn.BatchNorm2d(c, affine=False)
        if kind == "batch"
        else nn.GroupNorm(min(8, c), c, affine=False)
    )


class FiLMUpBlock(nn.Module):
    """Upsample ×2 → (conv → norm → FiLM(cond) → ReLU) ×2, plus a 1×1 skip."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.n1, self.n2 = _norm(norm, c_out), _norm(norm, c_out)
        self.f1, self.f2 = nn.Linear(cond_dim, 2 * c_out), nn.Linear(cond_dim, 2 * c_out)
        self.skip = nn.Conv2d(c_in, c_out, 1)

    @staticmethod
    def _film(h: torch.Tensor, lin: nn.Module, c: torch.Tensor) -> torch.Tensor:
        g, b = lin(c)[:, :, None, None].chunk(2, dim=1)
        return h * (1 + g) + b

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        h = F.relu(self._film(self.n1(self.conv1(x)), self.f1, c))
        h = F.relu(self._film(self.n2(self.conv2(h)), self.f2, c))
        return h + self.skip(x)


class CondDecoder(nn.Module):
    """(latent z, condition c) → image (B, 3, size, size) in [-1, 1]."""

    def __init__(self, z_dim: int, cond_dim: int, size: int, channels: int, norm: str) -> None:
        super().__init__()
        n = levels(size)
        mult = [min(2 ** (n - i), 8) for i in range(n + 1)]
        self.c0 = channels * mult[0]
        self.fc = nn.Linear(z_dim + cond_dim, self.c0 * 16)
        self.blocks = nn.ModuleList(
            FiLMUpBlock(channels * mult[i], channels * mult[i + 1], cond_dim, norm)
            for i in range(n)
        )
        self.out = nn.Sequential(
            _norm(norm, channels * mult[-1]), nn.ReLU(), nn.Conv2d(channels * mult[-1], 3, 3, 1, 1)
        )

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([z, c], 1)).view(-1, self.c0, 4, 4)
        for blk in self.blocks:
            h = blk(h, c)
        return torch.tanh(self.out(h))
