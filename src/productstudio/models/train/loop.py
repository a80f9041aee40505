"""Training loop shared by every generator family.

Resumable (``checkpoint.pt`` holds weights, optimiser states, step and RNG state, so a resumed run
continues bit-identically), seeded, logs one JSON object per line to ``train_log.jsonl``, writes a
sample grid every ``sample_every`` steps and reports progress through ``on_progress(done, total)``.
CPU by default; CUDA when ``device="auto"`` and a GPU is present.

Budgets: ``max_steps``, ``minutes`` (wall clock) and ``cpu_minutes`` (CPU time of this process,
all threads): training stops at the first one reached. On a shared machine wall-clock minutes buy
few steps when other jobs run; CPU minutes are fair under load (2 cores × 30 min = 60 CPU
minutes). Both times and the steps go into ``train_summary.json``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.models.conditioning.audience import audience_for
from productstudio.models.conditioning.config import Prompt
from productstudio.models.conditioning.fusion import Conditioner
from productstudio.models.data import ProductData, ProductRecord
from productstudio.models.generators.base import ConditionalGenerator, from_uint8

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"
LOG_FILE = "train_log.jsonl"


@dataclass(frozen=True)
class TrainParams:
    """How long and how to train. Stops at ``max_steps``, after ``minutes`` of wall time or
    after ``cpu_minutes`` of process CPU time, whichever comes first (times count across
    resumed sessions)."""

    batch_size: int = 64
    max_steps: int | None = None
    minutes: float | None = None
    cpu_minutes: float | None = None
    seed: int = 0
    log_every: int = 25
    sample_every: int = 500
    checkpoint_every: int = 200
    hflip: bool = True
    device: str = "cpu"  # "cpu", "cuda" or "auto"
    threads: int = 1  # 1 is fastest on a shared 2-core box

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise InvalidParamsError(f"TrainParams.batch_size must be >= 1, got {self.batch_size}")
        if self.max_steps is None and self.minutes is None and self.cpu_minutes is None:
            raise InvalidParamsError("TrainParams: give max_steps, minutes or cpu_minutes")
        if self.max_steps is not None and self.max_steps < 0:
            raise InvalidParamsError("TrainParams.max_steps must be >= 0")
        if self.minutes is not None and self.minutes <= 0:
            raise InvalidParamsError("TrainParams.minutes must be > 0")
        if self.cpu_minutes is not None and self.cpu_minutes <= 0:
            raise InvalidParamsError("TrainParams.cpu_minutes must be > 0")
        if self.threads < 1:
            raise InvalidParamsError(f"TrainParams.threads must be >= 1, got {self.threads}")
        if self.device not in ("cpu", "cuda", "auto"):
            raise InvalidParamsError(
                f"TrainParams.device must be cpu, cuda or auto, got {self.device}"
            )


def prompt_of(record: ProductRecord, *, with_audience: bool = True) -> Prompt:
    """The full training prompt of a record: title, all attributes and its rule-based audience."""
    aud = (
        audience_for(
            record.id, colour=record.attrs.get("colour", ""), gender=record.attrs.get("gender", "")
        )
        if with_audience
        else None
    )
    return Prompt(record.title, dict(record.attrs), aud)


def make_grid(images: NDArray[np.uint8], cols: int = 8, pad: int = 2) -> NDArray[np.uint8]:
    """Tile (N, H, W, 3) uint8 into one white-padded grid image."""
    n, h, w, _ = images.shape
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        grid[
            pad + r * (h + pad) : pad + r * (h + pad) + h,
            pad + c * (w + pad) : pad + c * (w + pad) + w,
        ] = images[i]
    return grid


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _save_png(image: NDArray[np.uint8], path: Path) -> None:
    from productstudio.imaging import save_image

    save_image(image, path)


class _Budget:
    """Steps, wall time and CPU time used (including earlier sessions) against the limits."""

    def __init__(self, params: TrainParams, step: int, seconds: float, cpu_seconds: float) -> None:
        self.params = params
        self.start_step = step
        self.seconds0, self.cpu0 = seconds, cpu_seconds
        self.t0, self.c0 = time.monotonic(), time.process_time()

    def seconds(self) -> float:
        return self.seconds0 + time.monotonic() - self.t0

    def cpu_seconds(self) -> float:
        return self.cpu0 + time.process_time() - self.c0

    def used(self, step: int) -> float:
        """Share of the budget used (largest over the limits given), 0..1+."""
        p = self.params
        shares = [0.0]
        if p.max_steps is not None:
            shares.append(step / max(p.max_steps, 1))
        if p.minutes is not None:
            shares.append(self.seconds() / (p.minutes * 60))
        if p.cpu_minutes is not None:
            shares.append(self.cpu_seconds() / (p.cpu_minutes * 60))
        return max(shares)

    def done(self, step: int) -> bool:
        p = self.params
        return (
            (p.max_steps is not None and step >= p.max_steps)
            or (p.minutes is not None and self.seconds() >= p.minutes * 60)
            or (p.cpu_minutes is not None and self.cpu_seconds() >= p.cpu_minutes * 60)
        )

    def progress(self, step: int) -> tuple[int, int]:
        """(done, total) for a progress bar: steps, else CPU seconds, else wall seconds."""
        p = self.params
        if p.max_steps is not None:
            return step, p.max_steps
        if p.cpu_minutes is not None:
            return int(self.cpu_seconds()), int(p.cpu_minutes * 60)
        assert p.minutes is not None
        return int(self.seconds()), int(p.minutes * 60)


def train(
    model: ConditionalGenerator,
    data: ProductData,
    out_dir: str | Path,
    params: TrainParams,
    *,
    resume: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    preview: ProductData | None = None,
) -> dict[str, Any]:
    """Train ``model`` on ``data`` (pass the train subset) and save it to ``out_dir``.

    Returns a summary dict (steps, wall seconds, CPU seconds, threads, last losses and the
    model's :meth:`~ConditionalGenerator.training_info`), also written to
    ``train_summary.json``. The final weights are written with ``save_pretrained(out_dir)``;
    ``checkpoint.pt`` allows ``resume=True`` to continue.

    Raises:
        InvalidParamsError: the data's image size differs from the model's.
    """
    if data.size != model.size:
        raise InvalidParamsError(
            f"data is {data.size}px but the model is {model.size}px: pass --size {model.size}"
        )
    if len(data) == 0:
        raise InvalidParamsError("no training images")
    # torch's thread count is process-wide: restore the caller's when training ends, so that
    # later inference in the same process (a server, a test) keeps its own float reductions
    threads_before = torch.get_num_threads()
    torch.set_num_threads(max(1, params.threads))
    try:
        return _train(model, data, Path(out_dir), params, resume, on_progress, preview)
    finally:
        torch.set_num_threads(threads_before)


def _train(
    model: ConditionalGenerator,
    data: ProductData,
    out: Path,
    params: TrainParams,
    resume: bool,
    on_progress: Callable[[int, int], None] | None,
    preview: ProductData | None,
) -> dict[str, Any]:
    """The loop of :func:`train` (arguments checked, thread count set)."""
    out.mkdir(parents=True, exist_ok=True)
    dev = _device(params.device)
    model.to(dev).train()
    opts = model.make_optimizers()
    gen = torch.Generator().manual_seed(params.seed)
    step, seconds_before, cpu_before = 0, 0.0, 0.0
    ck = out / CHECKPOINT
    if resume and ck.is_file():
        state = torch.load(ck, map_location=dev, weights_only=False)
        model.load_state_dict(state["model"])
        for k, o in opts.items():
            o.load_state_dict(state["optimizers"][k])
        gen.set_state(state["rng"])
        step, seconds_before = int(state["step"]), float(state.get("seconds", 0.0))
        cpu_before = float(state.get("cpu_seconds", 0.0))
        log.info("resumed from %s at step %d", ck, step)
    model.conditioner.vocab = model.vocab
    cond_arrays = model.conditioner.arrays([prompt_of(r) for r in data.records])
    images = from_uint8(data.images)
    # image-conditioned models (photo → image, translation) see a source photo in cond.image:
    # the paired input when the data has one, else the training photo itself
    sources = from_uint8(data.inputs) if data.inputs is not None else images
    if model.uses_image:
        cond_arrays |= model.conditioner.image_arrays(
            data.inputs if data.inputs is not None else data.images
        )
    prev = preview if preview is not None else data
    prev_cond = Conditioner.to_batch(
        model.conditioner.arrays([prompt_of(r) for r in prev.records[:16]], strict=False)
    )
    if model.uses_image:
        prev_src = prev.inputs if prev.inputs is not None else prev.images
        prev_cond = model.conditioner.attach_images(prev_cond, prev_src[:16])
    p_all, p_each = model.drop_probs()
    budget = _Budget(params, step, seconds_before, cpu_before)
    last: dict[str, float] = {}
    logf = (out / LOG_FILE).open("a", encoding="utf-8")

    def checkpoint() -> None:
        state = {
            "model": model.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in opts.items()},
            "rng": gen.get_state(),
            "step": step,
            "seconds": budget.seconds(),
            "cpu_seconds": budget.cpu_seconds(),
            "params": asdict(params),
        }
        torch.save(state, out / (CHECKPOINT + ".tmp"))
        (out / (CHECKPOINT + ".tmp")).replace(ck)

    try:
        while not budget.done(step):
            model.on_budget(budget.used(step), step)
            idx = model.draw_batch(data, params.batch_size, gen)
            x = images[idx]
            src = sources[idx] if model.uses_image else None
            if params.hflip:
                flip = torch.rand(len(idx), generator=gen) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(3), x)
                if src is not None:  # an input and its target flip together
                    src = torch.where(flip[:, None, None, None], src.flip(3), src)
            cond = Conditioner.to_batch(cond_arrays, idx.numpy())
            if src is not None:
                cond.image = src
            # a translation model's source photo is its input, never dropped
            p_image = 0.5 if model.cond_config.use_image else 0.0
            cond = cond.drop(p_all, p_each, gen, p_image)
            last = model.train_step(x.to(dev), cond.to(dev), step, opts, gen)
            step += 1
            if step % params.log_every == 0 or step == 1:
                rec = {
                    "step": step,
                    "seconds": round(budget.seconds(), 2),
                    "cpu_seconds": round(budget.cpu_seconds(), 2),
                    **last,
                }
                logf.write(json.dumps(rec) + "\n")
                logf.flush()
            if params.sample_every and step % params.sample_every == 0:
                grid = make_grid(model.sample_cond(prev_cond, seed=params.seed))
                _save_png(grid, out / "samples" / f"step_{step:06d}.png")
            if params.checkpoint_every and step % params.checkpoint_every == 0:
                checkpoint()
            if on_progress is not None:
                on_progress(*budget.progress(step))
    finally:
        logf.close()
    checkpoint()
    model.save_pretrained(out)
    grid = make_grid(model.sample_cond(prev_cond, seed=params.seed))
    _save_png(grid, out / "samples" / f"step_{step:06d}.png")
    summary = {
        "steps": step,
        "seconds": round(budget.seconds(), 1),
        "cpu_seconds": round(budget.cpu_seconds(), 1),
        "threads": params.threads,
        "batch_size": params.batch_size,
        "budget": {"max_steps": params.max_steps, "minutes": params.minutes},
        "last": last,
        "family": model.family,
        **model.training_info(),
    }
    summary["budget"]["cpu_minutes"] = params.cpu_minutes
    (out / "train_summary.json").write_text(json.dumps(summary, indent=1))
    return summary
