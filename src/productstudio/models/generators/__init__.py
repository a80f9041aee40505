"""Conditional image generators (GAN with FiLM or style-based generator, CVAE, pixel and latent
diffusion) and image-to-image translation (CycleGAN / paired) behind one registry.

Configs, family names and presets (:mod:`.configs`) and the augmentation settings
(:mod:`.augment`) import without torch; the models and the registry are loaded on first use
of one of their names, so ``from productstudio.models.generators import GANConfig`` stays light.

Example:
    >>> from productstudio.models.generators import GENERATORS
    >>> GENERATORS.names()
    ['cyclegan', 'diffusion', 'gan', 'ldm', 'vae']
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# re-exported: the same names as configs.__all__ by design (they import without torch)
from productstudio.models.generators.configs import (
    CONFIGS,
    AERegulariser,
    AutoencoderConfig,
    CycleGANConfig,
    DiffusionConfig,
    Direction,
    GANArch,
    GANConfig,
    GeneratorFamily,
    GeneratorOutput,
    LatentDiffusionConfig,
    TranslationMode,
    VAEConfig,
    default_config,
)

if TYPE_CHECKING:
    from productstudio.models.generators.autoencoder import Autoencoder
    from productstudio.models.generators.base import (
        GENERATORS,
        ConditionalGenerator,
        load_generator,
    )
    from productstudio.models.generators.cyclegan import CycleGAN
    from productstudio.models.generators.diffusion import ConditionalDiffusion
    from productstudio.models.generators.gan import ConditionalGAN
    from productstudio.models.generators.latent import ConditionalLatentDiffusion
    from productstudio.models.generators.vae import ConditionalVAE

#: the modules that register a family (imported together on first use of the registry)
FAMILY_MODULES: tuple[str, ...] = ("gan", "vae", "diffusion", "latent", "cyclegan")

_LAZY: dict[str, str] = {
    "GENERATORS": "base",
    "ConditionalGenerator": "base",
    "load_generator": "base",
    "Autoencoder": "autoencoder",
    "ConditionalGAN": "gan",
    "ConditionalVAE": "vae",
    "ConditionalDiffusion": "diffusion",
    "ConditionalLatentDiffusion": "latent",
    "CycleGAN": "cyclegan",
}

__all__ = [
    "CONFIGS",
    "GENERATORS",
    "AERegulariser",
    "Autoencoder",
    "AutoencoderConfig",
    "ConditionalDiffusion",
    "ConditionalGAN",
    "ConditionalGenerator",
    "ConditionalLatentDiffusion",
    "ConditionalVAE",
    "CycleGAN",
    "CycleGANConfig",
    "DiffusionConfig",
    "Direction",
    "GANArch",
    "GANConfig",
    "GeneratorFamily",
    "GeneratorOutput",
    "LatentDiffusionConfig",
    "TranslationMode",
    "VAEConfig",
    "default_config",
    "import_families",
    "load_generator",
]


def import_families() -> None:
    """Import every family module so that ``GENERATORS`` lists them all (imports torch)."""
    for name in FAMILY_MODULES:
        importlib.import_module(f"{__name__}.{name}")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import_families()
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
