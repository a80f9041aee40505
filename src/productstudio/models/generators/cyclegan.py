"""Image-to-image translation: CycleGAN (unpaired) and pix2pix-style paired training, one family.

``cyclegan`` is a :class:`ConditionalGenerator` whose condition is a **source photo**
(``cond.image``), so it trains in the same loop, saves/loads the same way and is sampled by
translating photos:

* ``mode="unpaired"`` (Zhu et al. 2017): two ResNet generators ``G_ab`` (domain A → B, e.g.
  in-store photo → studio packshot) and ``G_ba``, two PatchGAN discriminators, least-squares GAN
  loss, cycle loss ``λ_cyc (‖G_ba(G_ab(a)) − a‖₁ + ‖G_ab(G_ba(b)) − b‖₁)`` and identity loss
  ``λ_cyc λ_id (‖G_ab(b) − b‖₁ + ‖G_ba(a) − a‖₁)``, a history pool of generated images for the
  discriminators. Batches hold half domain-A rows and half domain-B rows (records' ``source``
  decides the domain: :attr:`CycleGANConfig.domain_a` / ``domain_b``).
* ``mode="paired"`` (Isola et al. 2017): ``G_ab`` only, a conditional PatchGAN on
  (input, output) and ``λ_L1 ‖G_ab(a) − b‖₁``; the data holds each target's input photo
  (:attr:`ProductData.inputs`, e.g. a product composited on a store background and its
  studio original — :func:`productstudio.models.translation_data.composite_pairs`).

By default the generators are residual (:attr:`CycleGANConfig.output`; attention-guided,
Mejjati et al. 2018, is the other option): identity at initialisation, they learn only the
change between the domains. A direct generator spent 20 CPU minutes relearning to draw the photo
and lost the product (it was recognised 0 % of the time after translation); a residual one with
DiffAugment before the discriminators moves the photos most of the way to the packshots in
1,000 steps (numbers in docs/generators/style_translation.md). The generators are fully
convolutional; :meth:`CycleGAN.translate` takes photos at the model's size (``prepare_image``)
and returns the translation.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from productstudio.errors import InvalidParamsError
from productstudio.models.conditioning.fusion import CondBatch, ConditionConfig
from productstudio.models.data import ProductData, Vocab
from productstudio.models.generators.augment import DiffAugmentParams, diff_augment
from productstudio.models.generators.base import (
    GENERATORS,
    ConditionalGenerator,
    from_uint8,
    to_uint8,
)
from productstudio.models.generators.configs import (
    CycleGANConfig,
    Direction,
    GeneratorOutput,
    TranslationMode,
)

#: inputs are clamped to ±_EDGE before atanh (atanh(±1) is infinite); 0.999 → 254.9 of 255
_EDGE = 0.999


def blend_translation(
    source: NDArray[np.uint8], translated: NDArray[np.floating | np.uint8], strength: float
) -> NDArray[np.uint8]:
    """``strength`` × the translation + (1 − strength) × the source photo, rounded to uint8 (the
    recipe step's ``strength`` and the evaluation's strength rows use this one definition).

    Raises:
        InvalidParamsError: ``strength`` outside [0, 1].

    Example:
        >>> blend_translation(np.zeros((1, 2, 3), np.uint8), np.full((1, 2, 3), 200.0), 0.25)[0, 0]
        array([50, 50, 50], dtype=uint8)
    """
    if not 0.0 <= strength <= 1.0:
        raise InvalidParamsError(f"translation strength must be in [0, 1], got {strength}")
    out = (1.0 - strength) * source.astype(np.float32) + strength * translated.astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class _ResBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(c, c, 3),
            nn.InstanceNorm2d(c),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(c, c, 3),
            nn.InstanceNorm2d(c),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Johnson et al. ResNet generator: c7s1-C, d2C, d4C, R(4C)×n, u2C, uC, c7s1-3 (tanh).

    ``output`` (:class:`GeneratorOutput`) decides how the last convolution's answer becomes the
    image: ``direct`` draws it; ``residual`` (last convolution zero at initialisation) adds a
    change to the input in tanh-space, ``C = tanh(atanh(x) + net(x))``; ``attention`` predicts
    such a ``C`` and a mask ``A`` (sigmoid) and returns ``A·C + (1 − A)·x``. Both start as the
    identity (the last convolution is zero), so training only learns what differs between
    the domains instead of relearning to draw the photo.
    """

    def __init__(
        self, channels: int, blocks: int, output: GeneratorOutput = GeneratorOutput.DIRECT
    ) -> None:
        super().__init__()
        self.output = GeneratorOutput(output)
        c = channels
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(3, c, 7),
            nn.InstanceNorm2d(c),
            nn.ReLU(True),
        ]
        for m in (1, 2):
            layers += [
                nn.Conv2d(c * m, c * 2 * m, 3, 2, 1),
                nn.InstanceNorm2d(c * 2 * m),
                nn.ReLU(True),
            ]
        layers += [_ResBlock(c * 4) for _ in range(blocks)]
        for m in (4, 2):
            layers += [
                nn.Upsample(scale_factor=2.0, mode="nearest"),
                nn.Conv2d(c * m, c * m // 2, 3, 1, 1),
                nn.InstanceNorm2d(c * m // 2),
                nn.ReLU(True),
            ]
        attention = self.output is GeneratorOutput.ATTENTION
        head = nn.Conv2d(c, 4 if attention else 3, 7)
        if self.output is not GeneratorOutput.DIRECT:
            # residual change (and attention logit 0: A = 1/2) start at zero: the identity
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)  # type: ignore[arg-type]
        # Identity in place of Tanh keeps the state-dict keys of every variant the same
        direct = self.output is GeneratorOutput.DIRECT
        layers += [nn.ReflectionPad2d(3), head, nn.Tanh() if direct else nn.Identity()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_mask(x)[0]

    def forward_with_mask(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The translation and, for ``attention`` output, the mask ``A`` (B, 1, H, W)."""
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise InvalidParamsError(
                f"translation input sides must divide by 4, got {tuple(x.shape)}"
            )
        h = self.net(x)
        if self.output is GeneratorOutput.DIRECT:
            return h, None
        content = torch.tanh(torch.atanh(x.clamp(-_EDGE, _EDGE)) + h[:, :3])
        if self.output is GeneratorOutput.RESIDUAL:
            return content, None
        mask = torch.sigmoid(h[:, 3:])
        return mask * content + (1 - mask) * x, mask


class PatchDiscriminator(nn.Module):
    """PatchGAN: ``layers`` stride-2 4×4 convs, one stride-1 conv, a 1-channel patch map."""

    def __init__(self, in_channels: int, channels: int, layers: int) -> None:
        super().__init__()
        seq: list[nn.Module] = [nn.Conv2d(in_channels, channels, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        c = channels
        for _ in range(layers - 1):
            seq += [nn.Conv2d(c, min(c * 2, channels * 8), 4, 2, 1)]
            c = min(c * 2, channels * 8)
            seq += [nn.InstanceNorm2d(c), nn.LeakyReLU(0.2, True)]
        seq += [
            nn.Conv2d(c, c * 2, 4, 1, 1),
            nn.InstanceNorm2d(c * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(c * 2, 1, 4, 1, 1),
        ]
        self.net = nn.Sequential(*seq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _lsgan(pred: torch.Tensor, real: bool) -> torch.Tensor:
    return F.mse_loss(pred, torch.full_like(pred, 1.0 if real else 0.0))


@GENERATORS.register("cyclegan")
class CycleGAN(ConditionalGenerator):
    """Unpaired (CycleGAN) or paired (pix2pix-style) translation; condition = the source photo."""

    # family, config class and typed constructor as in every family (the registry's contract)
    family = "cyclegan"
    config_cls = CycleGANConfig
    # models saved before the output option existed were direct (tanh) generators
    legacy_config: ClassVar[dict[str, Any]] = {"output": GeneratorOutput.DIRECT.value}

    def __init__(self, config: CycleGANConfig, cond_config: ConditionConfig, vocab: Vocab) -> None:
        super().__init__(config, cond_config, vocab)
        c = config
        self.G_ab = ResnetGenerator(c.g_channels, c.g_blocks, c.output)
        paired = c.mode == TranslationMode.PAIRED
        self.D_b = PatchDiscriminator(6 if paired else 3, c.d_channels, c.d_layers)
        self.G_ba: ResnetGenerator | None = None
        self.D_a: nn.Module | None = None
        if not paired:
            self.G_ba = ResnetGenerator(c.g_channels, c.g_blocks, c.output)
            self.D_a = PatchDiscriminator(3, c.d_channels, c.d_layers)
        # history pools of generated images (part of the state, so a resumed run is identical)
        n = c.pool_size
        self.pool_a: torch.Tensor
        self.pool_b: torch.Tensor
        self.pool_count: torch.Tensor
        self.register_buffer("pool_a", torch.zeros(n if not paired else 0, 3, c.size, c.size))
        self.register_buffer("pool_b", torch.zeros(n if not paired else 0, 3, c.size, c.size))
        self.register_buffer("pool_count", torch.zeros(2, dtype=torch.long))
        self._domains: tuple[int, NDArray[np.int64], NDArray[np.int64]] | None = None
        # an empty policy leaves images (and the random stream) untouched
        self.augment = DiffAugmentParams(policy=c.augment)

    @classmethod
    def default_condition(cls, vocab: Vocab | None = None) -> tuple[ConditionConfig, Vocab]:
        """The condition of a translation model: the photo only; the title/attribute tokens are
        not used (hashing text, 1-wide). ``vocab`` = the training records' vocabulary, so that
        the shared trainer can encode their prompts."""
        v = vocab if vocab is not None else Vocab({})
        cc = ConditionConfig.from_vocab(v, text_encoder="hashing", emb_dim=1, out_dim=1)
        return cc, v

    @property
    def uses_image(self) -> bool:
        return True

    @property
    def paired(self) -> bool:
        return self.config.mode == TranslationMode.PAIRED

    # -- data -----------------------------------------------------------------------------
    def domain_rows(self, data: ProductData) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Row indices of domain A and domain B in ``data`` (by each record's ``source``).

        Raises:
            InvalidParamsError: a domain has no rows.
        """
        src = np.array([r.source for r in data.records])
        a = np.flatnonzero(np.isin(src, self.config.domain_a))
        b = np.flatnonzero(np.isin(src, self.config.domain_b))
        if len(a) == 0 or len(b) == 0:
            raise InvalidParamsError(
                f"unpaired training needs photos of both domains: {len(a)} with source in "
                f"{list(self.config.domain_a)}, {len(b)} in {list(self.config.domain_b)}"
            )
        return a.astype(np.int64), b.astype(np.int64)

    def draw_batch(self, data: ProductData, batch_size: int, g: torch.Generator) -> torch.Tensor:
        """Paired: uniform rows. Unpaired: ``batch_size // 2`` domain-A rows, then as many
        domain-B rows (each domain sampled uniformly, whatever its size)."""
        if self.paired:
            return super().draw_batch(data, batch_size, g)
        if self._domains is None or self._domains[0] != id(data):
            self._domains = (id(data), *self.domain_rows(data))
        _, a, b = self._domains
        k = max(1, batch_size // 2)
        ia = torch.from_numpy(a)[torch.randint(0, len(a), (k,), generator=g)]
        ib = torch.from_numpy(b)[torch.randint(0, len(b), (k,), generator=g)]
        return torch.cat([ia, ib])

    # -- training -------------------------------------------------------------------------
    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        gs = list(self.G_ab.parameters()) + (
            [] if self.G_ba is None else list(self.G_ba.parameters())
        )
        ds = list(self.D_b.parameters()) + ([] if self.D_a is None else list(self.D_a.parameters()))
        return {
            "g": torch.optim.Adam(gs, lr=c.lr, betas=(c.beta1, c.beta2)),
            "d": torch.optim.Adam(ds, lr=c.lr, betas=(c.beta1, c.beta2)),
        }

    def _pool(self, which: int, fake: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Images for the discriminator: each fake is, with probability 1/2 once the pool is full,
        swapped for a stored older one (Shrivastava et al. 2017)."""
        pool = self.pool_a if which == 0 else self.pool_b
        n = len(pool)
        if n == 0:
            return fake
        out = []
        for img in fake.detach():
            count = int(self.pool_count[which])
            if count < n:
                pool[count] = img
                self.pool_count[which] += 1
                out.append(img)
            elif float(torch.rand((), generator=g)) < 0.5:
                j = int(torch.randint(0, n, (), generator=g))
                out.append(pool[j].clone())
                pool[j] = img
            else:
                out.append(img)
        return torch.stack(out)

    @staticmethod
    def _requires_grad(modules: list[nn.Module | None], flag: bool) -> None:
        for m in modules:
            if m is not None:
                for p in m.parameters():
                    p.requires_grad_(flag)

    def _d_loss(
        self, d: nn.Module, real: torch.Tensor, fake: torch.Tensor, g: torch.Generator
    ) -> torch.Tensor:
        """Least-squares discriminator loss on DiffAugment views of real and generated images."""
        real_s, fake_s = (
            d(diff_augment(real, self.augment, g)),
            d(diff_augment(fake, self.augment, g)),
        )
        return 0.5 * (_lsgan(real_s, True) + _lsgan(fake_s, False))

    def losses_unpaired(
        self, real_a: torch.Tensor, real_b: torch.Tensor, g: torch.Generator
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """Generator losses and the two fakes (for the discriminators); ``g`` draws the
        augmentation."""
        assert self.G_ba is not None and self.D_a is not None
        c = self.config
        fake_b, mask_ab = self.G_ab.forward_with_mask(real_a)
        fake_a, mask_ba = self.G_ba.forward_with_mask(real_b)
        rec_a, rec_b = self.G_ba(fake_b), self.G_ab(fake_a)
        aug = self.augment
        adv = _lsgan(self.D_b(diff_augment(fake_b, aug, g)), True) + _lsgan(
            self.D_a(diff_augment(fake_a, aug, g)), True
        )
        cyc = F.l1_loss(rec_a, real_a) + F.l1_loss(rec_b, real_b)
        out = {"loss_gan": adv, "loss_cycle": cyc}
        if mask_ab is not None and mask_ba is not None:  # share of pixels the generators redraw
            out["attention"] = 0.5 * (mask_ab.detach().mean() + mask_ba.detach().mean())
        total = adv + c.lambda_cycle * cyc
        if c.lambda_identity > 0:
            idt = F.l1_loss(self.G_ab(real_b), real_b) + F.l1_loss(self.G_ba(real_a), real_a)
            out["loss_identity"] = idt
            total = total + c.lambda_cycle * c.lambda_identity * idt
        out["loss_g"] = total
        return out, fake_a, fake_b

    def train_step(
        self,
        x: torch.Tensor,
        cond: CondBatch,
        step: int,
        optimizers: dict[str, torch.optim.Optimizer],
        generator: torch.Generator,
    ) -> dict[str, float]:
        c = self.config
        if self.paired:
            if cond.image is None:
                raise InvalidParamsError("paired training needs the input photos (data.inputs)")
            real_a, real_b = cond.image, x
            self._requires_grad([self.D_b], False)
            fake_b = self.G_ab(real_a)
            adv = _lsgan(self.D_b(torch.cat([real_a, fake_b], 1)), True)
            l1 = F.l1_loss(fake_b, real_b)
            loss_g = adv + c.lambda_l1 * l1
            optimizers["g"].zero_grad(set_to_none=True)
            loss_g.backward()
            optimizers["g"].step()
            self._requires_grad([self.D_b], True)
            loss_d = 0.5 * (
                _lsgan(self.D_b(torch.cat([real_a, real_b], 1)), True)
                + _lsgan(self.D_b(torch.cat([real_a, fake_b.detach()], 1)), False)
            )
            optimizers["d"].zero_grad(set_to_none=True)
            loss_d.backward()
            optimizers["d"].step()
            return {
                "loss_g": float(loss_g.detach()),
                "loss_gan": float(adv.detach()),
                "loss_l1": float(l1.detach()),
                "loss_d": float(loss_d.detach()),
            }
        assert self.D_a is not None
        k = x.shape[0] // 2
        real_a, real_b = x[:k], x[k:]
        self._requires_grad([self.D_a, self.D_b], False)
        g_losses, fake_a, fake_b = self.losses_unpaired(real_a, real_b, generator)
        optimizers["g"].zero_grad(set_to_none=True)
        g_losses["loss_g"].backward()
        optimizers["g"].step()
        self._requires_grad([self.D_a, self.D_b], True)
        pa, pb = self._pool(0, fake_a, generator), self._pool(1, fake_b, generator)
        loss_da = self._d_loss(self.D_a, real_a, pa, generator)
        loss_db = self._d_loss(self.D_b, real_b, pb, generator)
        optimizers["d"].zero_grad(set_to_none=True)
        (loss_da + loss_db).backward()
        optimizers["d"].step()
        return {k_: float(v.detach()) for k_, v in g_losses.items()} | {
            "loss_d": float((loss_da + loss_db).detach()),
        }

    # -- translation ----------------------------------------------------------------------
    def generator_for(self, direction: Direction | str = Direction.A2B) -> nn.Module:
        """``G_ab`` or ``G_ba``.

        Raises:
            InvalidParamsError: ``b2a`` asked of a paired (one-way) model.
        """
        d = Direction(direction)
        if d == Direction.A2B:
            return self.G_ab
        if self.G_ba is None:
            raise InvalidParamsError("a paired (pix2pix) model translates one way only: use a2b")
        return self.G_ba

    def generate(self, cond: CondBatch, generator: torch.Generator) -> torch.Tensor:
        if cond.image is None:
            raise InvalidParamsError(
                "a translation model needs source photos: `productstudio translate IMG --model DIR`"
                " or model.translate(images)"
            )
        return self.G_ab(cond.image)

    @torch.no_grad()
    def translate(
        self,
        images: NDArray[np.uint8],
        direction: Direction | str = Direction.A2B,
        batch_size: int = 32,
    ) -> NDArray[np.uint8]:
        """Translate (N, H, W, 3) uint8 photos (sides divisible by 4; the model's size is what
        it was trained at) → (N, H, W, 3) uint8.

        Raises:
            InvalidParamsError: wrong shape/dtype, or ``b2a`` on a paired model.
        """
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise InvalidParamsError(
                f"translate: need (N, H, W, 3) uint8 photos, got {images.shape} {images.dtype}"
            )
        G = self.generator_for(direction)
        was = self.training
        self.eval()
        outs = [
            to_uint8(G(from_uint8(images[i : i + batch_size]).to(self.device)))
            for i in range(0, len(images), batch_size)
        ]
        self.train(was)
        return np.concatenate(outs) if outs else images[:0].copy()
