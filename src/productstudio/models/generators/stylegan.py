"""Style-based generator (StyleGAN2-like) for the conditional GAN: ``GANConfig(arch="style")``.

Karras et al. 2020 ("Analyzing and improving the image quality of StyleGAN"), sized for a CPU:

* **mapping network** ``f(z, c) -> w``: the 2nd-moment-normalised noise ``z`` and the
  normalised, embedded fused condition ``c`` (the same :class:`ConditionEncoder` every family
  uses) go through ``mapping_layers`` equalised-learning-rate linear layers (lr × 0.01);
* **synthesis network**: a learned 4×4 constant, then per resolution an up-sampling
  modulated 3×3 conv and a modulated 3×3 conv (weights scaled per sample by the style
  ``s = A(w)`` and demodulated to unit output variance), each followed by **per-layer noise**
  (learned strength, starts at 0), bias and leaky ReLU; a modulated 1×1 ``toRGB`` (no
  demodulation) per resolution, summed over up-sampled resolutions ("skip" generator);
* one ``w`` per layer, ``num_ws = 2·levels + 1``: **style mixing** during training replaces
  the styles of layers ``k..num_ws-1`` by those of a second ``z`` (same condition) with
  probability ``mixing_prob``, ``k`` uniform in ``1..num_ws-1``;
* **truncation** at sampling: ``w' = w̄_c + ψ (w − w̄_c)`` where ``w̄_c`` is the mean of
  ``f(z_k, c)`` over ``truncation_samples`` fixed noise vectors — a per-condition centre, so
  ``ψ = 0`` gives the condition's "average" product (the same image for every ``z``) and
  ``ψ = 1`` no truncation.

Modulation uses the non-fused form (scale the input by ``s``, one shared convolution, scale the
output by the demodulation factor), which is the same arithmetic as the per-sample weight and
runs as one batched convolution on a CPU.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from productstudio.errors import InvalidParamsError
from productstudio.models.conditioning.fusion import CondBatch, ConditionConfig, ConditionEncoder
from productstudio.models.generators.layers import levels

if TYPE_CHECKING:  # pragma: no cover
    from productstudio.models.generators.configs import GANConfig

NoiseMode = Literal["random", "const", "none"]
_LRELU_GAIN = math.sqrt(2.0)
#: seed of the fixed noise vectors whose mapped mean is the truncation centre
TRUNCATION_SEED = 20_200


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row to unit root-mean-square."""
    return x * (x.square().mean(1, keepdim=True) + eps).rsqrt()


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (weights ~ N(0, 1/lr_mul), scaled at run time)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        *,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activation: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((c_out,), float(bias_init)))
        self.w_gain = lr_mul / math.sqrt(c_in)
        self.b_gain = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.w_gain, self.bias * self.b_gain)
        return F.leaky_relu(x, 0.2) * _LRELU_GAIN if self.activation else x


class MappingNetwork(nn.Module):
    """``(z, c) -> w``: normalised noise and embedded condition through an MLP (lr × 0.01)."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, layers: int) -> None:
        super().__init__()
        self.embed = EqualLinear(c_dim, w_dim)
        dims = [z_dim + w_dim] + [w_dim] * layers
        self.net = nn.Sequential(
            *[
                EqualLinear(dims[i], dims[i + 1], lr_mul=0.01, activation=True)
                for i in range(layers)
            ]
        )

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        x = torch.cat([normalize_2nd_moment(z), normalize_2nd_moment(self.embed(c))], 1)
        return self.net(x)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    *,
    demodulate: bool = True,
    up: bool = False,
) -> torch.Tensor:
    """Convolution with per-sample weights ``W · s`` (optionally demodulated), non-fused form.

    Args:
        x: (B, I, H, W) input.
        weight: (O, I, k, k) shared weight (already scaled for equalised lr).
        styles: (B, I) per-sample input-channel scales.
        demodulate: divide each output channel by ``‖W · s‖₂`` (per sample).
        up: bilinear ×2 up-sampling before the convolution.

    Returns:
        (B, O, H', W') — exactly ``conv(x, W · s) / ‖W · s‖`` computed as one batched conv.
    """
    x = x * styles[:, :, None, None]
    if up:
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
    x = F.conv2d(x, weight, padding=weight.shape[-1] // 2)
    if demodulate:
        d = (weight[None] * styles[:, None, :, None, None]).square().sum((2, 3, 4))
        x = x * (d + 1e-8).rsqrt()[:, :, None, None]
    return x


class StyleLayer(nn.Module):
    """Modulated 3×3 conv (+ optional ×2 up-sampling) → noise → bias → leaky ReLU."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, resolution: int, up: bool) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(c_out, c_in, 3, 3))
        self.w_gain = 1 / math.sqrt(c_in * 9)
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.noise_const: torch.Tensor
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.up = up
        self.resolution = resolution

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: NoiseMode,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        x = modulated_conv2d(x, self.weight * self.w_gain, self.affine(w), up=self.up)
        if noise_mode == "random":
            r = self.resolution
            noise = torch.randn(x.shape[0], 1, r, r, generator=generator).to(x.device)
            x = x + noise * self.noise_strength
        elif noise_mode == "const":
            x = x + self.noise_const * self.noise_strength
        return F.leaky_relu(x + self.bias[None, :, None, None], 0.2) * _LRELU_GAIN


class ToRGB(nn.Module):
    """Modulated 1×1 conv to RGB, no demodulation."""

    def __init__(self, c_in: int, w_dim: int) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(3, c_in, 1, 1))
        self.w_gain = 1 / math.sqrt(c_in)
        self.bias = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        y = modulated_conv2d(x, self.weight * self.w_gain, self.affine(w), demodulate=False)
        return y + self.bias[None, :, None, None]


class SynthesisNetwork(nn.Module):
    """Per-layer styles ``ws`` (B, num_ws, w_dim) → image (B, 3, size, size) in [-1, 1]."""

    def __init__(self, size: int, channels: int, w_dim: int) -> None:
        super().__init__()
        n = levels(size)
        ch = [channels * min(2 ** (n - i), 8) for i in range(n + 1)]  # 4 px … size px
        self.const = nn.Parameter(torch.randn(ch[0], 4, 4))
        self.layers = nn.ModuleList([StyleLayer(ch[0], ch[0], w_dim, 4, up=False)])
        self.torgb = nn.ModuleList([ToRGB(ch[0], w_dim)])
        for i in range(n):
            res = 4 * 2 ** (i + 1)
            self.layers.append(StyleLayer(ch[i], ch[i + 1], w_dim, res, up=True))
            self.layers.append(StyleLayer(ch[i + 1], ch[i + 1], w_dim, res, up=False))
            self.torgb.append(ToRGB(ch[i + 1], w_dim))
        self.num_ws = len(self.layers)

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: NoiseMode = "const",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1] != self.num_ws:
            raise InvalidParamsError(
                f"synthesis needs ws of shape (B, {self.num_ws}, w_dim), got {tuple(ws.shape)}"
            )
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        x = self.layers[0](x, ws[:, 0], noise_mode, generator)
        rgb = self.torgb[0](x, ws[:, 0])
        for i in range(1, len(self.torgb)):
            a, b = 2 * i - 1, 2 * i
            x = self.layers[a](x, ws[:, a], noise_mode, generator)
            x = self.layers[b](x, ws[:, b], noise_mode, generator)
            rgb = F.interpolate(rgb, scale_factor=2.0, mode="bilinear", align_corners=False)
            rgb = rgb + self.torgb[i](x, ws[:, b])
        return torch.tanh(rgb)


class StyleGenerator(nn.Module):
    """Condition encoder + mapping network + synthesis network (drop-in for the FiLM generator).

    ``forward(z, cond)`` draws per-layer noise from ``generator`` (``noise_mode="random"``) and
    mixes styles with probability ``mixing_prob``; sampling uses ``noise_mode="const"`` and an
    optional ``truncation`` ψ.
    """

    def __init__(self, cfg: GANConfig, cond_cfg: ConditionConfig) -> None:
        super().__init__()
        self.cond = ConditionEncoder(cond_cfg)
        self.z_dim = cfg.z_dim
        self.mapping = MappingNetwork(cfg.z_dim, cond_cfg.out_dim, cfg.w_dim, cfg.mapping_layers)
        self.synthesis = SynthesisNetwork(cfg.size, cfg.g_channels, cfg.w_dim)
        self.truncation_samples = cfg.truncation_samples

    @property
    def num_ws(self) -> int:
        return self.synthesis.num_ws

    def map(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """(B, z_dim) noise + (B, cond_dim) fused condition → (B, w_dim)."""
        return self.mapping(z, c)

    def w_centre(self, c: torch.Tensor) -> torch.Tensor:
        """Truncation centre per condition: mean of ``f(z_k, c)`` over fixed ``z_k``."""
        k = self.truncation_samples
        g = torch.Generator().manual_seed(TRUNCATION_SEED)
        zs = torch.randn(k, self.z_dim, generator=g).to(c.device)
        b = c.shape[0]
        w = self.mapping(zs.repeat(b, 1), c.repeat_interleave(k, 0))
        return w.view(b, k, -1).mean(1)

    def styles(
        self,
        z: torch.Tensor,
        cond: CondBatch,
        *,
        mix_z: torch.Tensor | None = None,
        mix_from: int | torch.Tensor | None = None,
        truncation: float = 1.0,
    ) -> torch.Tensor:
        """Per-layer styles (B, num_ws, w_dim).

        Layers ``< mix_from`` use ``f(z, c)``, layers ``>= mix_from`` use ``f(mix_z, c)``
        (``mix_from`` may be one index per row); both are truncated towards the condition's
        centre with ψ = ``truncation``.
        """
        c = self.cond(cond)
        w = self.map(z, c)
        ws = w[:, None].expand(-1, self.num_ws, -1)
        if mix_z is not None and mix_from is not None:
            w2 = self.map(mix_z, c)
            cut = torch.as_tensor(mix_from, device=z.device).reshape(-1, 1)
            layer = torch.arange(self.num_ws, device=z.device)[None]
            ws = torch.where((layer >= cut)[..., None], w2[:, None], ws)
        if truncation != 1.0:
            centre = self.w_centre(c)[:, None]
            ws = centre + truncation * (ws - centre)
        return ws

    def forward(
        self,
        z: torch.Tensor,
        cond: CondBatch,
        *,
        generator: torch.Generator | None = None,
        mixing_prob: float = 0.0,
        truncation: float = 1.0,
        noise_mode: NoiseMode = "random",
    ) -> torch.Tensor:
        mix_z, mix_from = None, None
        if mixing_prob > 0:
            b = z.shape[0]
            mix_z = torch.randn(b, self.z_dim, generator=generator).to(z.device)
            use = torch.rand(b, generator=generator) < mixing_prob
            cut = torch.randint(1, self.num_ws, (b,), generator=generator)
            mix_from = torch.where(use, cut, torch.full_like(cut, self.num_ws)).to(z.device)
        ws = self.styles(z, cond, mix_z=mix_z, mix_from=mix_from, truncation=truncation)
        return self.synthesis(ws, noise_mode, generator)


@torch.no_grad()
def style_mixing_grid(
    model: Any,
    prompt: Any,
    row_seeds: list[int],
    col_seeds: list[int],
    mix_from: int,
    truncation: float = 1.0,
) -> NDArray[np.uint8]:
    """Style mixing picture of a trained style GAN (``model.G_ema``) for one prompt.

    Returns uint8 (R+1, C+1, S, S, 3): cell (0, 0) is blank white, row 0 holds the images of
    ``col_seeds``, column 0 those of ``row_seeds``, and cell (r, c) takes layers
    ``< mix_from`` (coarse: pose, shape) from row seed r and the rest (fine: colour, texture)
    from column seed c.

    Raises:
        InvalidParamsError: not a style GAN, or ``mix_from`` outside 1..num_ws-1.
    """
    from productstudio.models.generators.base import to_uint8

    G = getattr(model, "G_ema", None)
    if not isinstance(G, StyleGenerator):
        raise InvalidParamsError("style mixing needs a style GAN (`train gan --arch style`)")
    if not 1 <= mix_from < G.num_ws:
        raise InvalidParamsError(f"mix_from must be in 1..{G.num_ws - 1}, got {mix_from}")

    def z(seed: int) -> torch.Tensor:
        return torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed))

    cond = model.conditioner.batch([prompt], strict=False).to(model.device)
    s = model.size
    grid = np.full((len(row_seeds) + 1, len(col_seeds) + 1, s, s, 3), 255, np.uint8)
    for c, cs in enumerate(col_seeds):
        ws = G.styles(z(cs), cond, truncation=truncation)
        grid[0, c + 1] = to_uint8(G.synthesis(ws, "const"))[0]
    for r, rs in enumerate(row_seeds):
        ws = G.styles(z(rs), cond, truncation=truncation)
        grid[r + 1, 0] = to_uint8(G.synthesis(ws, "const"))[0]
        for c, cs in enumerate(col_seeds):
            mixed = G.styles(z(rs), cond, mix_z=z(cs), mix_from=mix_from, truncation=truncation)
            grid[r + 1, c + 1] = to_uint8(G.synthesis(mixed, "const"))[0]
    return grid
