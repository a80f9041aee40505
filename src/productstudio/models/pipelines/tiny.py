"""Tiny random-weight Stable-Diffusion-shaped pipelines built from configs, in-process.

The same shapes diffusers' own tests use (UNet2DConditionModel with (4, 8) channels,
AutoencoderKL with (4, 8), a 2-layer CLIP text encoder of width 32 and a byte-level CLIP BPE
tokenizer built from an in-memory vocabulary): they run a step in milliseconds on a CPU, and
exercise every code path of a real SD 1.x model — loading from a folder, the three tasks,
seeds, schedulers, progress and cancellation — without any downloaded weights. Their
pictures are noise; they measure plumbing and speed, never quality.

Example:
    >>> tok = tiny_tokenizer()
    >>> tok("red shoe").input_ids
    [0, 518, 516, 1]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from productstudio.errors import require


@dataclass(frozen=True, slots=True)
class TinyPipelineConfig:
    """Sizes of the tiny pipeline.

    Attributes:
        inpaint: a 9-input-channel UNet (an SD-inpainting-shaped checkpoint) instead of 4.
        channels: UNet and VAE block widths (the VAE downsamples ``2**(len - 1)`` times).
        text_width: CLIP hidden size (= the UNet's cross-attention width).
        sample_size: the UNet's latent side; native image side = ``sample_size × 2``.
        seed: weight initialisation seed.
    """

    inpaint: bool = False
    channels: tuple[int, int] = (4, 8)
    text_width: int = 32
    sample_size: int = 32
    seed: int = 0


def _byte_chars() -> list[str]:
    """GPT-2/CLIP's reversible byte → unicode map, in byte order."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def tiny_tokenizer() -> Any:
    """A byte-level CLIP BPE tokenizer (519 tokens) built in memory (transformers 5 API:
    ``merges`` is a list of tuples; a list of ``"a b"`` strings is rejected)."""
    require("transformers", "learn")
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in _byte_chars():
        vocab.setdefault(c, len(vocab))
    for c in _byte_chars():
        vocab.setdefault(c + "</w>", len(vocab))
    merges = [("s", "h"), ("o", "e</w>"), ("sh", "oe</w>"), ("r", "e"), ("re", "d</w>")]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    tok = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)  # type: ignore[arg-type]
    if len(tok) <= 2:  # transformers 5 can silently build an empty tokenizer
        raise RuntimeError("the tiny CLIP tokenizer came out empty")
    return tok


def tiny_components(config: TinyPipelineConfig | None = None) -> dict[str, Any]:
    """UNet, VAE, text encoder, tokenizer and a DDIM scheduler with seeded random weights."""
    require("diffusers", "learn")
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg = config or TinyPipelineConfig()
    tok = tiny_tokenizer()
    torch.manual_seed(cfg.seed)
    unet = UNet2DConditionModel(
        block_out_channels=cfg.channels,
        layers_per_block=1,
        sample_size=cfg.sample_size,
        in_channels=9 if cfg.inpaint else 4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=cfg.text_width,
        norm_num_groups=2,
        attention_head_dim=2,
    )
    torch.manual_seed(cfg.seed + 1)
    vae = AutoencoderKL(
        block_out_channels=list(cfg.channels),
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * len(cfg.channels),
        up_block_types=["UpDecoderBlock2D"] * len(cfg.channels),
        latent_channels=4,
        norm_num_groups=2,
        sample_size=cfg.sample_size * 2,
    )
    torch.manual_seed(cfg.seed + 2)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            vocab_size=len(tok),
            hidden_size=cfg.text_width,
            intermediate_size=2 * cfg.text_width,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=77,
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return {
        "unet": unet.eval(),  # type: ignore[attr-defined]
        "vae": vae.eval(),  # type: ignore[attr-defined]
        "text_encoder": text_encoder.eval(),
        "tokenizer": tok,
        "scheduler": scheduler,
    }


def tiny_pipeline(config: TinyPipelineConfig | None = None) -> Any:
    """A diffusers ``StableDiffusionPipeline`` (or ``…InpaintPipeline`` with ``inpaint``)."""
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline

    cfg = config or TinyPipelineConfig()
    cls: Any = StableDiffusionInpaintPipeline if cfg.inpaint else StableDiffusionPipeline
    pipe = cls(
        **tiny_components(cfg),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_tiny_pipeline(folder: str | Path, config: TinyPipelineConfig | None = None) -> Path:
    """Write a tiny pipeline as a diffusers folder (``model_index.json`` + components)."""
    from productstudio.models.pipelines.backend import _import_diffusers

    _import_diffusers()  # no tqdm bars while saving
    out = Path(folder)
    tiny_pipeline(config).save_pretrained(str(out), safe_serialization=True)
    return out


__all__ = [
    "TinyPipelineConfig",
    "save_tiny_pipeline",
    "tiny_components",
    "tiny_pipeline",
    "tiny_tokenizer",
]
