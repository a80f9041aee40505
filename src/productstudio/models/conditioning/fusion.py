"""Condition encoders and the ONE fusion module shared by the GAN, CVAE and diffusion families.

Tokens (each ``emb_dim`` wide): projected title embedding, one learned embedding per categorical
attribute, one per audience field, and optionally one image token — from a small CNN trained
with the model, or from frozen EfficientNet-Lite0 features (:mod:`.image_features`). A missing or
dropped token uses index 0 / a learned null vector, which gives classifier-free guidance and
partial prompts ("category only") for free.

Fusion variants (:class:`Fusion`): ``concat`` (concatenate all tokens → MLP) and ``film`` (the
text token is modulated, token by token, by FiLM scale/shift predicted from each other token).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from productstudio.errors import InvalidParamsError
from productstudio.models.conditioning.audience import AUDIENCE_FIELDS, AudienceProfile
from productstudio.models.conditioning.config import ConditionConfig, Fusion, Prompt
from productstudio.models.conditioning.image_features import ImageEncoderKind, get_image_features
from productstudio.models.conditioning.text import get_text_encoder
from productstudio.models.data import Vocab

__all__ = [
    "CondBatch",
    "ConditionConfig",
    "ConditionEncoder",
    "Conditioner",
    "Fusion",
    "ImageEncoder",
    "Prompt",
    "with_fusion",
]


@dataclass
class CondBatch:
    """A batch of encoded conditions (torch tensors)."""

    text: torch.Tensor  # (B, text_dim) float
    text_present: torch.Tensor  # (B,) float 0/1
    attrs: torch.Tensor  # (B, A) long, 0 = none
    audience: torch.Tensor  # (B, F) long, 0 = none
    image: torch.Tensor | None = None  # (B, 3, H, W) in [-1, 1]
    image_feat: torch.Tensor | None = None  # (B, D) frozen features of the same photos

    def __len__(self) -> int:
        return int(self.text.shape[0])

    def index(self, idx: torch.Tensor | slice) -> CondBatch:
        return CondBatch(
            self.text[idx],
            self.text_present[idx],
            self.attrs[idx],
            self.audience[idx],
            None if self.image is None else self.image[idx],
            None if self.image_feat is None else self.image_feat[idx],
        )

    def to(self, device: torch.device | str) -> CondBatch:
        return CondBatch(
            self.text.to(device),
            self.text_present.to(device),
            self.attrs.to(device),
            self.audience.to(device),
            None if self.image is None else self.image.to(device),
            None if self.image_feat is None else self.image_feat.to(device),
        )

    def null(self) -> CondBatch:
        """The fully dropped condition (for classifier-free guidance)."""
        return CondBatch(
            torch.zeros_like(self.text),
            torch.zeros_like(self.text_present),
            torch.zeros_like(self.attrs),
            torch.zeros_like(self.audience),
            None,
        )

    def drop(
        self, p_all: float, p_each: float, generator: torch.Generator, p_image: float = 0.5
    ) -> CondBatch:
        """Randomly drop the whole condition (``p_all``) or single tokens (``p_each``; the image
        token with ``p_image``)."""
        b = len(self)
        dev = self.text.device
        all_ = torch.rand(b, generator=generator, device=dev) < p_all
        keep_t = (torch.rand(b, generator=generator, device=dev) >= p_each) & ~all_
        keep_a = (torch.rand(self.attrs.shape, generator=generator, device=dev) >= p_each) & ~all_[
            :, None
        ]
        keep_u = (torch.rand(b, generator=generator, device=dev) >= p_each) & ~all_
        img, feat = self.image, self.image_feat
        if img is not None or feat is not None:
            keep_i = (torch.rand(b, generator=generator, device=dev) >= p_image) & ~all_
            img = None if img is None else img * keep_i[:, None, None, None]
            feat = None if feat is None else feat * keep_i[:, None]
        return CondBatch(
            self.text * keep_t[:, None],
            self.text_present * keep_t,
            self.attrs * keep_a,
            self.audience * keep_u[:, None],
            img,
            feat,
        )


class Conditioner:
    """Turns prompts into :class:`CondBatch` (vocabulary look-ups + cached text embeddings)."""

    def __init__(
        self,
        vocab: Vocab,
        text_encoder: str = "minilm",
        image_encoder: ImageEncoderKind | None = None,
    ) -> None:
        self.vocab = vocab
        self.text_encoder = text_encoder
        self.image_encoder = image_encoder

    def arrays(
        self, prompts: Sequence[Prompt], *, strict: bool = True
    ) -> dict[str, NDArray[np.generic]]:
        """Encoded arrays; ``strict=False`` maps unknown attribute values to ``<none>``."""
        titles = [p.title for p in prompts]
        enc = get_text_encoder(self.text_encoder)
        text = enc.encode(titles).astype(np.float32)
        present = np.array([1.0 if t.strip() else 0.0 for t in titles], np.float32)
        text = text * present[:, None]
        for p in prompts:
            unknown = set(p.attrs) - set(self.vocab.names)
            if unknown:
                raise InvalidParamsError(
                    f"unknown attribute(s) {sorted(unknown)}. Known: {', '.join(self.vocab.names)}"
                )
        attrs = np.array(
            [
                [self.vocab.index(n, p.attrs.get(n), strict=strict) for n in self.vocab.names]
                for p in prompts
            ],
            np.int64,
        ).reshape(len(prompts), len(self.vocab.names))
        aud = np.array(
            [(p.audience or AudienceProfile()).indices() for p in prompts], np.int64
        ).reshape(len(prompts), len(AUDIENCE_FIELDS))
        return {"text": text, "text_present": present, "attrs": attrs, "audience": aud}

    @staticmethod
    def to_batch(
        arrays: dict[str, NDArray[np.generic]], idx: NDArray[np.int64] | None = None
    ) -> CondBatch:
        def t(name: str) -> torch.Tensor:
            a = arrays[name] if idx is None else arrays[name][idx]
            return torch.from_numpy(np.ascontiguousarray(a))

        feat = t("image_feat") if "image_feat" in arrays else None
        return CondBatch(t("text"), t("text_present"), t("attrs"), t("audience"), None, feat)

    def image_arrays(self, images: NDArray[np.uint8]) -> dict[str, NDArray[np.generic]]:
        """Precomputed frozen features of ``images`` (N, H, W, 3) uint8 as ``image_feat`` —
        empty when the image encoder reads pixels (or there is none)."""
        if self.image_encoder is None or not self.image_encoder.feature_dim:
            return {}
        return {"image_feat": get_image_features(self.image_encoder)(images)}

    def attach_images(self, cond: CondBatch, images: NDArray[np.uint8]) -> CondBatch:
        """``cond`` with the source photos ``images`` (N, S, S, 3) uint8 as its image token."""
        from productstudio.models.generators.base import from_uint8

        if len(images) != len(cond):
            raise InvalidParamsError(
                f"one source image per prompt needed: {len(images)} images, {len(cond)} prompts"
            )
        feats = self.image_arrays(images).get("image_feat")
        return CondBatch(
            cond.text,
            cond.text_present,
            cond.attrs,
            cond.audience,
            from_uint8(images),
            None if feats is None else torch.from_numpy(np.ascontiguousarray(feats)),
        )

    def batch(
        self,
        prompts: Sequence[Prompt],
        *,
        strict: bool = True,
        images: NDArray[np.uint8] | None = None,
    ) -> CondBatch:
        """Encoded prompts; ``images`` (one per prompt) fill the image token."""
        cond = self.to_batch(self.arrays(prompts, strict=strict))
        return cond if images is None else self.attach_images(cond, images)


class ImageEncoder(nn.Module):
    """Small CNN: (B, 3, S, S) in [-1, 1] → (B, out_dim) features (global average pooled)."""

    def __init__(self, out_dim: int, channels: int = 32, depth: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(depth):
            c_out = channels * min(2**i, 8)
            layers += [
                nn.Conv2d(c_in, c_out, 4, 2, 1),
                nn.GroupNorm(min(8, c_out), c_out),
                nn.SiLU(),
            ]
            c_in = c_out
        self.net = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, out_dim)
        self.out_channels = c_in

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(x).mean((2, 3)))


class ConditionEncoder(nn.Module):
    """Tokens → one fused condition vector (B, out_dim); the variant comes from the config."""

    def __init__(self, config: ConditionConfig) -> None:
        super().__init__()
        self.config = config
        d = config.emb_dim
        self.text_proj = nn.Sequential(nn.Linear(config.text_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.text_null = nn.Parameter(torch.zeros(d))
        self.attr_emb = nn.ModuleList(nn.Embedding(n, d) for n in config.attr_sizes)
        self.aud_emb = nn.ModuleList(nn.Embedding(n, d) for n in config.audience_sizes)
        self.image_enc: nn.Module | None = None
        if config.use_image:
            k = config.image_encoder
            self.image_enc = (
                nn.Sequential(nn.Linear(k.feature_dim, 2 * d), nn.SiLU(), nn.Linear(2 * d, d))
                if k.feature_dim
                else ImageEncoder(d)
            )
        self.image_null = nn.Parameter(torch.zeros(d)) if config.use_image else None
        n_tok = (
            1 + len(config.attr_sizes) + len(config.audience_sizes) + (1 if config.use_image else 0)
        )
        self.n_tokens = n_tok
        if config.fusion == Fusion.CONCAT:
            self.mlp = nn.Sequential(
                nn.Linear(n_tok * d, 2 * config.out_dim),
                nn.SiLU(),
                nn.Linear(2 * config.out_dim, config.out_dim),
            )
        else:
            self.film = nn.ModuleList(nn.Linear(d, 2 * d) for _ in range(n_tok - 1))
            for lin in self.film:
                assert isinstance(lin, nn.Linear)
                nn.init.zeros_(lin.weight)
                nn.init.zeros_(lin.bias)
            self.out = nn.Sequential(
                nn.SiLU(),
                nn.Linear(d, config.out_dim),
                nn.SiLU(),
                nn.Linear(config.out_dim, config.out_dim),
            )

    def tokens(self, cond: CondBatch) -> torch.Tensor:
        p = cond.text_present[:, None]
        text = self.text_proj(cond.text) * p + self.text_null * (1 - p)
        toks = [text]
        toks += [emb(cond.attrs[:, i]) for i, emb in enumerate(self.attr_emb)]
        toks += [emb(cond.audience[:, i]) for i, emb in enumerate(self.aud_emb)]
        if self.image_enc is not None and self.image_null is not None:
            src = cond.image_feat if self.config.image_encoder.feature_dim else cond.image
            if src is None:
                toks.append(self.image_null.expand(len(cond), -1))
            else:
                has = (src.abs().flatten(1).sum(1) > 0).float()[:, None]
                toks.append(self.image_enc(src) * has + self.image_null * (1 - has))
        return torch.stack(toks, 1)

    def forward(self, cond: CondBatch) -> torch.Tensor:
        tok = self.tokens(cond)
        if self.config.fusion == Fusion.CONCAT:
            return self.mlp(tok.flatten(1))
        h = tok[:, 0]
        for i, lin in enumerate(self.film):
            gamma, beta = lin(tok[:, i + 1]).chunk(2, dim=1)
            h = h * (1 + gamma) + beta
        return self.out(h)


def with_fusion(config: ConditionConfig, fusion: Fusion | str) -> ConditionConfig:
    return replace(config, fusion=Fusion(fusion))
