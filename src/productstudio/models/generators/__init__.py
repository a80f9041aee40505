"""Conditional image generators (GAN with FiLM or style-based generator, CVAE, diffusion) and
image-to-image translation (CycleGAN / paired) behind one registry (imports torch).

Example:
    >>> from productstudio.models.generators import GENERATORS
    >>> GENERATORS.names()
    ['cyclegan', 'diffusion', 'gan', 'vae']
"""

from productstudio.models.generators.base import GENERATORS, ConditionalGenerator, load_generator
from productstudio.models.generators.cyclegan import CycleGAN, CycleGANConfig
from productstudio.models.generators.diffusion import ConditionalDiffusion, DiffusionConfig
from productstudio.models.generators.gan import ConditionalGAN, GANConfig
from productstudio.models.generators.vae import ConditionalVAE, VAEConfig

CONFIGS: dict[str, type] = {
    "gan": GANConfig,
    "vae": VAEConfig,
    "diffusion": DiffusionConfig,
    "cyclegan": CycleGANConfig,
}

__all__ = [
    "CONFIGS",
    "GENERATORS",
    "ConditionalDiffusion",
    "ConditionalGAN",
    "ConditionalGenerator",
    "ConditionalVAE",
    "CycleGAN",
    "CycleGANConfig",
    "DiffusionConfig",
    "GANConfig",
    "VAEConfig",
    "default_config",
    "load_generator",
]


def default_config(family: str, size: int = 64, **overrides: object) -> object:
    """A CPU-sized config of ``family`` at ``size`` px (fields overridable by keyword)."""
    import dataclasses

    presets: dict[str, dict[str, object]] = {
        "gan": {"g_channels": 16, "d_channels": 16},
        "vae": {"channels": 16, "learned_prior": True},
        "diffusion": {
            "block_out_channels": (16, 32, 32),
            "attention": (False, False, False),
            "sample_steps": 20,
            "prediction_type": "v_prediction",
        },
        "cyclegan": {
            "g_channels": 16,
            "g_blocks": 6,
            "d_channels": 32,
            "d_layers": min(3, max(1, size.bit_length() - 3)),  # 3 from 32 px up
            "pool_size": 50,
        },
    }
    base = presets[GENERATORS.get(family).family]
    if family == "gan" and str(overrides.get("arch", "")) == "style":
        # equalised learning rate keeps weights ~N(0, 1), so Adam needs StyleGAN2's larger step
        base = {**base, "lr_g": 2e-3, "beta2": 0.99}
    kw = {**base, "size": size, **overrides}
    names = {f.name for f in dataclasses.fields(CONFIGS[family])}
    return CONFIGS[family](**{k: v for k, v in kw.items() if k in names})
