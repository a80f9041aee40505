"""Generator configs, family names and CPU presets, without torch.

The CLI, the benchmarks and ``config.json`` files use these; the torch models
(:mod:`productstudio.models.generators.gan` etc.) are built from them. Importing this module
does not import torch.

Example:
    >>> cfg = default_config("ldm", 64)
    >>> cfg.size, cfg.latent_size, cfg.latent_channels
    (64, 16, 4)
    >>> GeneratorFamily("gan") is GeneratorFamily.GAN
    True
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from productstudio.errors import InvalidParamsError
from productstudio.models.generators.augment import Augment, parse_policy

__all__ = [
    "CONFIGS",
    "AERegulariser",
    "AutoencoderConfig",
    "CycleGANConfig",
    "DiffusionConfig",
    "Direction",
    "GANArch",
    "GANConfig",
    "GeneratorFamily",
    "LatentDiffusionConfig",
    "TranslationMode",
    "VAEConfig",
    "default_config",
    "levels",
]


class GeneratorFamily(StrEnum):
    """Registered generator families (the registry names in ``GENERATORS``)."""

    GAN = "gan"
    VAE = "vae"
    DIFFUSION = "diffusion"
    LDM = "ldm"
    CYCLEGAN = "cyclegan"


class AERegulariser(StrEnum):
    """Latent regulariser of the autoencoder: a small KL term or a vector-quantised codebook."""

    KL = "kl"
    VQ = "vq"


def levels(size: int) -> int:
    """Number of ×2 stages between 4×4 and ``size`` (size must be a power of two ≥ 8)."""
    n = int(math.log2(size)) - 2 if size > 0 else -1
    if size < 8 or 2 ** (n + 2) != size:
        raise InvalidParamsError(f"size must be a power of two >= 8, got {size}")
    return n


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
    #: DiffAugment ops applied to real and fake images before D (empty = none)
    augment: tuple[Augment, ...] = ()
    augment_p: float = 1.0
    #: R1 penalty gamma/2 * E||grad D(real)||^2 (0 = off), applied every ``r1_every`` steps
    #: with the penalty scaled by ``r1_every`` (lazy regularisation, Karras et al. 2020)
    r1_gamma: float = 0.0
    r1_every: int = 16
    arch: GANArch = GANArch.FILM
    # style arch only (see stylegan.py)
    w_dim: int = 128
    mapping_layers: int = 4
    mixing_prob: float = 0.9  # style mixing during training
    truncation: float = 1.0  # psi used by sample(); 1 = no truncation
    truncation_samples: int = 64  # noise vectors averaged for the per-condition centre

    def __post_init__(self) -> None:
        levels(self.size)
        object.__setattr__(self, "augment", parse_policy(self.augment))
        object.__setattr__(self, "arch", GANArch(self.arch))
        if self.z_dim < 1 or self.g_channels < 1 or self.d_channels < 1:
            raise InvalidParamsError("GANConfig: z_dim and channels must be >= 1")
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
        if not 0.0 <= self.ema_decay < 1.0:
            raise InvalidParamsError(f"GANConfig.ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0.0 <= self.augment_p <= 1.0:
            raise InvalidParamsError(f"GANConfig.augment_p must be in [0, 1], got {self.augment_p}")
        if self.r1_gamma < 0 or self.r1_every < 1:
            raise InvalidParamsError("GANConfig: r1_gamma must be >= 0 and r1_every >= 1")


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


@dataclass(frozen=True)
class DiffusionConfig:
    size: int = 64
    block_out_channels: tuple[int, ...] = (32, 64, 128, 128)
    attention: tuple[bool, ...] = (False, False, False, True)
    layers_per_block: int = 1
    norm_num_groups: int = 8
    train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    # The CPU preset uses "v_prediction": with "epsilon" a briefly trained small UNet never
    # learned the data mean at high noise and DDIM samples drifted to grey noise (955 steps).
    prediction_type: str = "epsilon"
    lr: float = 5e-4
    ema_decay: float = 0.999
    p_drop_all: float = 0.1
    p_drop_each: float = 0.1
    sample_steps: int = 25
    guidance: float = 2.0
    #: Min-SNR-gamma loss weighting (Hang et al. 2023, gamma = 5 in the paper); None = plain MSE
    snr_gamma: float | None = None

    def __post_init__(self) -> None:
        levels(self.size)
        if len(self.block_out_channels) != len(self.attention):
            raise InvalidParamsError(
                "DiffusionConfig: block_out_channels and attention differ in length"
            )
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise InvalidParamsError(
                "DiffusionConfig: every channel count must divide by norm_num_groups"
            )
        if self.sample_steps < 1 or self.sample_steps > self.train_timesteps:
            raise InvalidParamsError(
                f"DiffusionConfig.sample_steps must be in 1..{self.train_timesteps}"
            )
        if self.prediction_type not in ("epsilon", "v_prediction", "sample"):
            raise InvalidParamsError(
                "DiffusionConfig.prediction_type must be epsilon, v_prediction or sample"
            )
        if self.guidance < 0:
            raise InvalidParamsError("DiffusionConfig.guidance must be >= 0")
        if self.snr_gamma is not None and self.snr_gamma <= 0:
            raise InvalidParamsError("DiffusionConfig.snr_gamma must be > 0 (or None)")

    @property
    def sample_size(self) -> int:
        """Side of the tensors the UNet denoises (the image side in pixel space)."""
        return self.size

    @property
    def sample_channels(self) -> int:
        return 3


@dataclass(frozen=True)
class AutoencoderConfig:
    """A small convolutional autoencoder (``len(channels) - 1`` halvings) trained with
    L1 + SSIM + a patch-adversarial loss; KL- or VQ-regularised latent."""

    size: int = 64
    channels: tuple[int, ...] = (16, 32, 64)
    latent_channels: int = 4
    regulariser: AERegulariser = AERegulariser.KL
    kl_weight: float = 1e-6
    codebook_size: int = 256
    commitment: float = 0.25
    ssim_weight: float = 0.5
    adv_weight: float = 0.1
    disc_channels: int = 32
    lr: float = 1e-3

    def __post_init__(self) -> None:
        levels(self.size)
        object.__setattr__(self, "regulariser", AERegulariser(self.regulariser))
        if len(self.channels) < 1 or min(self.channels) < 1:
            raise InvalidParamsError("AutoencoderConfig.channels: at least one width, all >= 1")
        if any(c % min(8, c) for c in self.channels):
            raise InvalidParamsError("AutoencoderConfig.channels must divide by 8 (GroupNorm)")
        if self.size >> (len(self.channels) - 1) < 4:
            raise InvalidParamsError(
                f"AutoencoderConfig: {len(self.channels) - 1} halvings of {self.size} px "
                "leave a latent below 4 px; use fewer channel stages"
            )
        if self.latent_channels < 1 or self.codebook_size < 2:
            raise InvalidParamsError("AutoencoderConfig: latent_channels >= 1, codebook_size >= 2")
        for name in ("kl_weight", "commitment", "ssim_weight", "adv_weight"):
            if getattr(self, name) < 0:
                raise InvalidParamsError(f"AutoencoderConfig.{name} must be >= 0")

    @property
    def factor(self) -> int:
        """Downsampling factor image side / latent side."""
        return int(2 ** (len(self.channels) - 1))

    @property
    def latent_size(self) -> int:
        return self.size // self.factor


_AE = AutoencoderConfig()
#: the AutoencoderConfig fields that LatentDiffusionConfig holds as ``ae_<name>``
_AE_FIELDS = (
    "channels",
    "regulariser",
    "kl_weight",
    "codebook_size",
    "commitment",
    "ssim_weight",
    "adv_weight",
    "disc_channels",
    "lr",
)


@dataclass(frozen=True)
class LatentDiffusionConfig(DiffusionConfig):
    """Conditional diffusion in the latent space of an autoencoder of our own.

    Training has two phases inside ONE budget: the autoencoder first (``ae_fraction`` of the
    steps/minutes/CPU-minutes), the diffusion model after it on frozen latents. The UNet settings
    are those of :class:`DiffusionConfig`, applied at the latent size."""

    # the autoencoder's settings, flat for config.json; the defaults are AutoencoderConfig's
    ae_channels: tuple[int, ...] = _AE.channels
    latent_channels: int = _AE.latent_channels
    ae_regulariser: AERegulariser = _AE.regulariser
    ae_kl_weight: float = _AE.kl_weight
    ae_codebook_size: int = _AE.codebook_size
    ae_commitment: float = _AE.commitment
    ae_ssim_weight: float = _AE.ssim_weight
    ae_adv_weight: float = _AE.adv_weight
    ae_disc_channels: int = _AE.disc_channels
    ae_lr: float = _AE.lr
    #: share of the training budget spent on the autoencoder
    ae_fraction: float = 0.25
    #: the patch discriminator joins after this share of the autoencoder phase
    ae_adv_start: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "ae_regulariser", AERegulariser(self.ae_regulariser))
        self.autoencoder_config()  # validates the ae_* fields
        if not 0.0 <= self.ae_fraction < 1.0 or not 0.0 <= self.ae_adv_start <= 1.0:
            raise InvalidParamsError(
                "LatentDiffusionConfig: ae_fraction must be in [0, 1), ae_adv_start in [0, 1]"
            )

    def autoencoder_config(self) -> AutoencoderConfig:
        ae = {f: getattr(self, f"ae_{f}") for f in _AE_FIELDS}
        return AutoencoderConfig(size=self.size, latent_channels=self.latent_channels, **ae)

    @property
    def latent_size(self) -> int:
        return self.size // 2 ** (len(self.ae_channels) - 1)

    @property
    def sample_size(self) -> int:
        return self.latent_size

    @property
    def sample_channels(self) -> int:
        return self.latent_channels


class TranslationMode(StrEnum):
    UNPAIRED = "unpaired"  # CycleGAN
    PAIRED = "paired"  # pix2pix-style


class GeneratorOutput(StrEnum):
    """How a translation generator forms its output from the source photo ``x``."""

    DIRECT = "direct"  # draws the image: tanh(net(x)) (Zhu et al. 2017)
    RESIDUAL = "residual"  # a change of x: tanh(atanh(x) + net(x)), identity at initialisation
    #: a residual content image C and a mask A: A·C + (1 − A)·x (attention-guided, Mejjati et
    #: al. 2018); what A leaves out is x itself, so the product can be kept pixel for pixel
    ATTENTION = "attention"


class Direction(StrEnum):
    A2B = "a2b"  # e.g. in-store photo → studio packshot
    B2A = "b2a"


@dataclass(frozen=True)
class CycleGANConfig:
    size: int = 64
    mode: TranslationMode = TranslationMode.UNPAIRED
    g_channels: int = 32
    g_blocks: int = 6  # residual blocks at 1/4 resolution
    #: how the generators form the output (see :class:`GeneratorOutput`)
    output: GeneratorOutput = GeneratorOutput.RESIDUAL
    d_channels: int = 32
    d_layers: int = 3  # stride-2 layers of the PatchGAN
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5  # times lambda_cycle; 0 = no identity loss
    lambda_l1: float = 100.0  # paired mode
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    pool_size: int = 50  # generated images kept for the discriminators (0 = none)
    #: DiffAugment ops applied to real and generated images before the discriminators (the
    #: packshot domain has 81 photos: un-augmented, D memorises them and G collapses onto them)
    augment: tuple[Augment, ...] = ()
    domain_a: tuple[str, ...] = ("grocery-natural",)
    domain_b: tuple[str, ...] = ("grocery-iconic",)
    #: paired mode: sources of the studio photos (on white) that are composited
    studio_sources: tuple[str, ...] = ("grocery-iconic", "myntra-small")

    def __post_init__(self) -> None:
        levels(self.size)
        object.__setattr__(self, "mode", TranslationMode(self.mode))
        object.__setattr__(self, "output", GeneratorOutput(self.output))
        object.__setattr__(self, "augment", parse_policy(self.augment))
        if self.g_channels < 1 or self.d_channels < 1 or self.g_blocks < 0:
            raise InvalidParamsError("CycleGANConfig: channels must be >= 1 and g_blocks >= 0")
        if not 1 <= self.d_layers <= levels(self.size):
            raise InvalidParamsError(
                f"CycleGANConfig.d_layers must be in 1..{levels(self.size)} at {self.size} px"
            )
        if min(self.lambda_cycle, self.lambda_identity, self.lambda_l1, self.pool_size) < 0:
            raise InvalidParamsError("CycleGANConfig: loss weights and pool_size must be >= 0")
        if self.mode == TranslationMode.UNPAIRED and (
            not self.domain_a or not self.domain_b or set(self.domain_a) & set(self.domain_b)
        ):
            raise InvalidParamsError(
                "CycleGANConfig: domain_a and domain_b must be non-empty, disjoint source lists"
            )


CONFIGS: dict[str, type] = {
    GeneratorFamily.GAN: GANConfig,
    GeneratorFamily.VAE: VAEConfig,
    GeneratorFamily.DIFFUSION: DiffusionConfig,
    GeneratorFamily.LDM: LatentDiffusionConfig,
    GeneratorFamily.CYCLEGAN: CycleGANConfig,
}

#: CPU-sized presets (what ``productstudio train`` builds); see docs/generators/README.md
PRESETS: dict[str, dict[str, Any]] = {
    GeneratorFamily.GAN: {
        "g_channels": 16,
        "d_channels": 16,
        "augment": (Augment.COLOR, Augment.TRANSLATION, Augment.CUTOUT),
    },
    GeneratorFamily.VAE: {"channels": 16, "learned_prior": True},
    GeneratorFamily.DIFFUSION: {
        "block_out_channels": (16, 32, 32),
        "attention": (False, False, False),
        "sample_steps": 20,
        "prediction_type": "v_prediction",
    },
    # 64 px → 16×16×4 latents; a UNet step costs ~0.5 CPU s at batch 32 (vs ~1 s for the pixel
    # preset), the autoencoder ~0.9 s: 25 % of 60 CPU minutes buys ~1,000 autoencoder steps
    GeneratorFamily.LDM: {
        "block_out_channels": (48, 96, 96),
        "attention": (False, False, True),
        "sample_steps": 25,
        "prediction_type": "v_prediction",
        "lr": 8e-4,
        "ema_decay": 0.999,
    },
    # measured in docs/generators/style_translation.md: without augmentation D memorises the 81
    # packshots and G collapses onto carton shapes within 600 steps; λ_cycle 10 (the paper's)
    # or 8 kept G at the identity for 1,000 steps, 5 and 3 translate (3 kept more of the product)
    GeneratorFamily.CYCLEGAN: {
        "g_channels": 16,
        "g_blocks": 6,
        "d_channels": 32,
        "pool_size": 50,
        "augment": (Augment.TRANSLATION, Augment.CUTOUT),
        "lambda_cycle": 3.0,
        "lambda_identity": 0.1,
    },
}


def default_config(family: str, size: int = 64, **overrides: object) -> Any:
    """The CPU preset of ``family`` at ``size`` px (fields overridable by keyword; names that
    the family does not have are ignored).

    Raises:
        InvalidParamsError: unknown family (the message lists the known ones).
    """
    try:
        fam = GeneratorFamily(family)
    except ValueError:
        known = ", ".join(f.value for f in GeneratorFamily)
        raise InvalidParamsError(f"unknown generator family '{family}'. Known: {known}") from None
    base = dict(PRESETS[fam])
    if fam == GeneratorFamily.CYCLEGAN:
        base["d_layers"] = min(3, max(1, size.bit_length() - 3))  # 3 from 32 px up
    if fam == GeneratorFamily.GAN and str(overrides.get("arch", "")) == "style":
        # equalised learning rate keeps weights ~N(0, 1), so Adam needs StyleGAN2's larger step
        base |= {"lr_g": 2e-3, "beta2": 0.99}
    kw = {**base, "size": size, **overrides}
    cls = CONFIGS[fam]
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in kw.items() if k in names})
