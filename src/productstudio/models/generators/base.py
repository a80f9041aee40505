"""Base class, registry and save/load for conditional image generators.

Every family is one ``nn.Module`` built from ``(family config, ConditionConfig, Vocab)``:

* ``from_config(...)`` — random weights, no files;
* ``save_pretrained(dir)`` — ``config.json`` + ``model.safetensors`` + ``vocab.json``;
* ``load_generator(dir)`` / ``Family.from_pretrained(dir)`` — the exact same model back;
* ``train_step(x, cond, step, optimizers, generator)`` — one optimisation step (used by
  :mod:`productstudio.models.train`);
* ``sample(prompts, seed)`` — uint8 (N, S, S, 3) images, deterministic for a seed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from productstudio.errors import InvalidParamsError, WeightsNotFoundError
from productstudio.models.conditioning.config import ConditionConfig, Prompt
from productstudio.models.conditioning.fusion import CondBatch, Conditioner
from productstudio.models.data import ProductData, Vocab
from productstudio.models.registry import Registry

GENERATORS: Registry[type[ConditionalGenerator]] = Registry("generator")
FORMAT_VERSION = 1


def _config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}
    return cls(**kw)


def to_uint8(x: torch.Tensor) -> NDArray[np.uint8]:
    """(B, 3, H, W) in [-1, 1] → (B, H, W, 3) uint8."""
    a = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return a.permute(0, 2, 3, 1).numpy().copy()


def from_uint8(images: NDArray[np.uint8]) -> torch.Tensor:
    """(B, H, W, 3) uint8 → (B, 3, H, W) float32 in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


class Ema:
    """Exponential moving average of a module (with the usual (1+t)/(10+t) warm-up)."""

    @staticmethod
    @torch.no_grad()
    def update(target: nn.Module, source: nn.Module, decay: float, step: int) -> None:
        d = min(decay, (1 + step) / (10 + step))
        for pt, ps in zip(target.parameters(), source.parameters(), strict=True):
            pt.mul_(d).add_(ps.detach(), alpha=1 - d)
        for bt, bs in zip(target.buffers(), source.buffers(), strict=True):
            bt.copy_(bs)

    @staticmethod
    def copy(module: nn.Module) -> nn.Module:
        m = copy.deepcopy(module)
        for p in m.parameters():
            p.requires_grad_(False)
        return m


class ConditionalGenerator(nn.Module):
    """Shared machinery; subclasses implement the network, ``train_step`` and ``generate``."""

    family: ClassVar[str] = ""
    config_cls: ClassVar[type] = object
    #: values for config fields that a saved model predates (else the field's default applies)
    legacy_config: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: Any, cond_config: ConditionConfig, vocab: Vocab) -> None:
        super().__init__()
        self.config = config
        self.cond_config = cond_config
        self.vocab = vocab
        self.conditioner = Conditioner(
            vocab,
            cond_config.text_encoder,
            cond_config.image_encoder if cond_config.use_image else None,
        )

    # -- construction / persistence -------------------------------------------------------
    @classmethod
    def from_config(
        cls, config: Any, cond_config: ConditionConfig, vocab: Vocab, seed: int = 0
    ) -> Any:
        """Random weights from ``seed`` (no files)."""
        if not isinstance(config, cls.config_cls):
            raise InvalidParamsError(
                f"{cls.__name__} needs a {cls.config_cls.__name__}, got {type(config).__name__}"
            )
        torch.manual_seed(seed)
        return cls(config, cond_config, vocab)

    @property
    def size(self) -> int:
        return int(self.config.size)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json``, ``model.safetensors`` and ``vocab.json`` into ``directory``."""
        from safetensors.torch import save_file

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        cfg = {
            "format_version": FORMAT_VERSION,
            "family": self.family,
            "config": asdict(self.config),
            "condition": asdict(self.cond_config),
        }
        (d / "config.json.tmp").write_text(json.dumps(cfg, indent=1))
        (d / "vocab.json.tmp").write_text(self.vocab.to_json())
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(d / "model.safetensors.tmp"))
        for name in ("config.json", "vocab.json", "model.safetensors"):
            (d / f"{name}.tmp").replace(d / name)
        return d

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> Any:
        """Load a model written by :meth:`save_pretrained`.

        Raises:
            WeightsNotFoundError: a file is missing or the folder holds another family.
        """
        from safetensors.torch import load_file

        d = Path(directory)
        for name in ("config.json", "vocab.json", "model.safetensors"):
            if not (d / name).is_file():
                raise WeightsNotFoundError(
                    f"{d / name} not found: train a model with `productstudio train ... -o {d}`"
                )
        meta = json.loads((d / "config.json").read_text())
        if cls.family and meta.get("family") != cls.family:
            raise WeightsNotFoundError(
                f"{d} holds a '{meta.get('family')}' model, not '{cls.family}'"
            )
        target = cls if cls.family else GENERATORS.get(meta["family"])
        config = _config_from_dict(target.config_cls, target.legacy_config | meta["config"])
        cond_config = _config_from_dict(ConditionConfig, meta["condition"])
        vocab = Vocab.from_json((d / "vocab.json").read_text())
        model = target(config, cond_config, vocab)
        model.load_state_dict(load_file(str(d / "model.safetensors")))
        return model.to(device).eval()

    # -- training / sampling (subclasses) -------------------------------------------------
    #: condition dropout the trainer applies (whole condition, single tokens)
    def drop_probs(self) -> tuple[float, float]:
        return float(getattr(self.config, "p_drop_all", 0.0)), float(
            getattr(self.config, "p_drop_each", 0.0)
        )

    @property
    def uses_image(self) -> bool:
        """Whether the condition carries a source photo (``cond.image``; the trainer fills it)."""
        return bool(self.cond_config.use_image)

    def draw_batch(self, data: ProductData, batch_size: int, g: torch.Generator) -> torch.Tensor:
        """Row indices of the next training batch (uniform; families may balance domains)."""
        return torch.randint(0, len(data), (batch_size,), generator=g)

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def on_budget(self, progress: float, step: int) -> None:
        """Called by the trainer before each step with the share of the budget used so far
        (0..1, the largest of steps, wall time and CPU time); families with training phases
        switch here. Default: nothing."""

    def training_info(self) -> dict[str, Any]:
        """Extra facts for ``train_summary.json`` (e.g. the steps of a training phase)."""
        return {}

    # every family repeats this signature on purpose: it is the trainer's interface
    def train_step(
        self,
        x: torch.Tensor,
        cond: CondBatch,
        step: int,
        optimizers: dict[str, torch.optim.Optimizer],
        generator: torch.Generator,
    ) -> dict[str, float]:
        raise NotImplementedError

    def generate(self, cond: CondBatch, generator: torch.Generator) -> torch.Tensor:
        """(B, 3, S, S) in [-1, 1]."""
        raise NotImplementedError

    @torch.no_grad()
    def sample_cond(
        self, cond: CondBatch, seed: int = 0, batch_size: int = 64
    ) -> NDArray[np.uint8]:
        was = self.training
        self.eval()
        g = torch.Generator().manual_seed(seed)
        outs = []
        for i in range(0, len(cond), batch_size):
            outs.append(
                to_uint8(self.generate(cond.index(slice(i, i + batch_size)).to(self.device), g))
            )
        self.train(was)
        return np.concatenate(outs) if outs else np.zeros((0, self.size, self.size, 3), np.uint8)

    def sample(
        self,
        prompts: Sequence[Prompt],
        seed: int = 0,
        batch_size: int = 64,
        *,
        strict: bool = True,
        images: NDArray[np.uint8] | None = None,
    ) -> NDArray[np.uint8]:
        """One image per prompt, uint8 (N, S, S, 3); same seed → same images.

        ``strict=False`` treats attribute values the model never saw as unknown (evaluation).
        ``images`` (N, S, S, 3) uint8: one source photo per prompt for a model with an image
        token (variations of that photo under the prompt); ignored by other models.

        Raises:
            InvalidParamsError: ``images`` has the wrong shape.
        """
        if images is not None and self.uses_image:
            if images.shape[1:] != (self.size, self.size, 3) or images.dtype != np.uint8:
                raise InvalidParamsError(
                    f"images must be (N, {self.size}, {self.size}, 3) uint8 "
                    f"(prepare_image(photo, {self.size})), got {images.shape} {images.dtype}"
                )
            cond = self.conditioner.batch(prompts, strict=strict, images=images)
        else:
            cond = self.conditioner.batch(prompts, strict=strict)
        return self.sample_cond(cond, seed, batch_size)


def load_generator(
    directory: str | Path, device: str | torch.device = "cpu"
) -> ConditionalGenerator:
    """Load any family from a folder written by ``save_pretrained`` (reads ``family``)."""
    from productstudio.models.generators import import_families

    import_families()
    return ConditionalGenerator.from_pretrained(directory, device)
