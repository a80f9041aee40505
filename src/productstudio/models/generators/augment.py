"""Differentiable augmentation for GAN discriminators (DiffAugment, Zhao et al. 2020).

With a few thousand training photos a discriminator memorises the real set and the generator
collapses to a few modes. DiffAugment applies the SAME family of random, differentiable
transforms to real and fake images before the discriminator (and in the generator's loss), so D
never sees an un-augmented image and G still gets gradients through the transform:

* ``color``: brightness shift (±0.5), saturation scale (0..2), contrast scale (0.5..1.5);
* ``translation``: integer shift by up to ``translation`` × the side, the uncovered border
  filled with ``fill``;
* ``cutout``: one square of ``cutout`` × the side set to ``fill`` at a random centre.

Every op is applied to each sample independently with probability ``p`` (1.0 = DiffAugment;
lower values give ADA-style partial augmentation). Images are (B, C, H, W) floats in [-1, 1];
randomness comes only from the ``torch.Generator`` passed in, so a seed reproduces a batch.

This module imports torch only inside :func:`diff_augment`, so configs may name
:class:`Augment` values without importing torch.

Example:
    >>> import torch
    >>> x = torch.zeros(2, 3, 8, 8)
    >>> y = diff_augment(x, DiffAugmentParams(), torch.Generator().manual_seed(0))
    >>> y.shape == x.shape
    True
    >>> torch.equal(diff_augment(x, DiffAugmentParams(policy=()), torch.Generator()), x)
    True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from productstudio.errors import InvalidParamsError

if TYPE_CHECKING:
    import torch

__all__ = ["Augment", "DiffAugmentParams", "diff_augment", "parse_policy"]


class Augment(StrEnum):
    """One DiffAugment op (names as in the paper's ``policy`` string)."""

    COLOR = "color"
    TRANSLATION = "translation"
    CUTOUT = "cutout"


def parse_policy(policy: str | Iterable[str]) -> tuple[Augment, ...]:
    """``"color,translation,cutout"`` (or an iterable of names) → a tuple of :class:`Augment`.

    Raises:
        InvalidParamsError: an unknown op name (the message lists the known ones).
    """
    names = policy.split(",") if isinstance(policy, str) else list(policy)
    out: list[Augment] = []
    for n in (s.strip().lower() for s in names):
        if not n:
            continue
        try:
            out.append(Augment(n))
        except ValueError:
            known = ", ".join(a.value for a in Augment)
            raise InvalidParamsError(f"unknown augmentation '{n}'. Known: {known}") from None
    return tuple(out)


@dataclass(frozen=True)
class DiffAugmentParams:
    """Which ops, how often and how strong (defaults = the paper's settings)."""

    policy: tuple[Augment, ...] = (Augment.COLOR, Augment.TRANSLATION, Augment.CUTOUT)
    p: float = 1.0  # per-sample probability of each op
    translation: float = 0.125  # max shift as a fraction of the side
    cutout: float = 0.5  # side of the cut-out square as a fraction of the image side
    fill: float = 0.0  # value of uncovered / cut-out pixels (0 = mid-grey in [-1, 1])

    def __post_init__(self) -> None:
        object.__setattr__(self, "policy", parse_policy(self.policy))
        if not 0.0 <= self.p <= 1.0:
            raise InvalidParamsError(f"DiffAugmentParams.p must be in [0, 1], got {self.p}")
        if not 0.0 <= self.translation < 1.0:
            raise InvalidParamsError(
                f"DiffAugmentParams.translation must be in [0, 1), got {self.translation}"
            )
        if not 0.0 <= self.cutout <= 1.0:
            raise InvalidParamsError(
                f"DiffAugmentParams.cutout must be in [0, 1], got {self.cutout}"
            )


def _apply(p: float, b: int, g: torch.Generator, device: torch.device) -> torch.Tensor:
    """(B,) bool: which samples get the op."""
    import torch

    if p >= 1.0:
        return torch.ones(b, dtype=torch.bool, device=device)
    return (torch.rand(b, generator=g) < p).to(device)


def _color(x: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    import torch

    b = x.shape[0]
    on = _apply(p, b, g, x.device)[:, None, None, None]

    def r() -> torch.Tensor:
        return torch.rand(b, 1, 1, 1, generator=g).to(x.device, x.dtype)

    bright, sat, con = r() - 0.5, r() * 2.0, r() + 0.5
    x = x + torch.where(on, bright, torch.zeros_like(bright))
    m = x.mean(1, keepdim=True)
    x = (x - m) * torch.where(on, sat, torch.ones_like(sat)) + m
    m = x.mean((1, 2, 3), keepdim=True)
    return (x - m) * torch.where(on, con, torch.ones_like(con)) + m


def _translation(
    x: torch.Tensor, ratio: float, fill: float, p: float, g: torch.Generator
) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    if sy == 0 and sx == 0:
        return x
    on = _apply(p, b, g, x.device)
    ty = torch.randint(-sy, sy + 1, (b,), generator=g).to(x.device) * on
    tx = torch.randint(-sx, sx + 1, (b,), generator=g).to(x.device) * on
    xp = F.pad(x, (sx, sx, sy, sy), value=fill)
    # output pixel (i, j) takes padded pixel (i + sy - ty, j + sx - tx): content moves by (ty, tx)
    iy = torch.arange(h, device=x.device)[None, :] + sy - ty[:, None]  # (B, H)
    ix = torch.arange(w, device=x.device)[None, :] + sx - tx[:, None]  # (B, W)
    bi = torch.arange(b, device=x.device)[:, None, None]
    out = xp.permute(0, 2, 3, 1)[bi, iy[:, :, None], ix[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2)


def _cutout(
    x: torch.Tensor, ratio: float, fill: float, p: float, g: torch.Generator
) -> torch.Tensor:
    import torch

    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    if ch == 0 or cw == 0:
        return x
    on = _apply(p, b, g, x.device)
    # centres as in the reference code: offset in [0, side + (1 - size % 2)), box clipped
    cy = torch.randint(0, h + (1 - ch % 2), (b,), generator=g).to(x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b,), generator=g).to(x.device)
    ys = torch.arange(h, device=x.device)[None, :] - (cy[:, None] - ch // 2)  # (B, H)
    xs = torch.arange(w, device=x.device)[None, :] - (cx[:, None] - cw // 2)
    in_y = (ys >= 0) & (ys < ch)
    in_x = (xs >= 0) & (xs < cw)
    box = (in_y[:, :, None] & in_x[:, None, :] & on[:, None, None])[:, None]  # (B, 1, H, W)
    return torch.where(box, torch.full_like(x, fill), x)


def diff_augment(
    x: torch.Tensor, params: DiffAugmentParams, generator: torch.Generator
) -> torch.Tensor:
    """Augment a batch (B, C, H, W) in [-1, 1] with ``params.policy``, differentiably.

    Gradients flow to ``x`` through every op (translation and cutout are gathers/masks, colour
    ops are affine), so the same call can be used on real images before D and on G's output in
    G's loss. The result is not clamped (as in the paper). ``policy=()`` or ``p=0`` return ``x``
    unchanged.

    Args:
        x: images (B, C, H, W), any float dtype and device.
        params: the ops and their strength.
        generator: a CPU ``torch.Generator``; the only source of randomness.
    """
    if x.ndim != 4:
        raise InvalidParamsError(f"diff_augment: need (B, C, H, W), got shape {tuple(x.shape)}")
    if params.p == 0.0:
        return x
    for op in params.policy:
        if op == Augment.COLOR:
            x = _color(x, params.p, generator)
        elif op == Augment.TRANSLATION:
            x = _translation(x, params.translation, params.fill, params.p, generator)
        else:
            x = _cutout(x, params.cutout, params.fill, params.p, generator)
    return x
