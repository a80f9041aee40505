"""Training loop: loss falls on real photos, seeds, resumable checkpoints, logs, sample grids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from conftest import shared_path
from productstudio.errors import InvalidParamsError
from productstudio.models.conditioning.fusion import ConditionConfig
from productstudio.models.data import ATTRIBUTES, ProductData, Split, Vocab, load_products
from productstudio.models.generators import GENERATORS, DiffusionConfig, GANConfig, VAEConfig
from productstudio.models.train import TrainParams, make_grid, train


@pytest.fixture(scope="module")
def real16() -> ProductData:
    return load_products(shared_path("data", "products"), size=16, limit=160).subset(Split.TRAIN)


def _model(family: str, data: ProductData, prediction: str = "v_prediction") -> Any:
    vocab = Vocab.build([r.attrs for r in data.records], ATTRIBUTES)
    cc = ConditionConfig.from_vocab(vocab, text_encoder="hashing", emb_dim=16, out_dim=32)
    cfg = {
        "gan": GANConfig(size=16, z_dim=16, g_channels=8, d_channels=8),
        "vae": VAEConfig(size=16, z_dim=16, channels=8, kl_warmup_steps=100),
        "vae_prior": VAEConfig(
            size=16, z_dim=16, channels=8, kl_warmup_steps=100, learned_prior=True
        ),
        "diffusion": DiffusionConfig(
            size=16,
            block_out_channels=(16, 16),
            attention=(False, False),
            sample_steps=2,
            lr=1e-3,
            prediction_type=prediction,
        ),
    }[family]
    return GENERATORS.get(family.split("_")[0]).from_config(cfg, cc, vocab, seed=0)


def _log(d: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (d / "train_log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    ("family", "key", "steps"),
    [
        ("vae", "rec", 40),
        ("vae_prior", "loss", 40),
        ("diffusion", "loss", 40),
        ("gan", "loss_d", 30),
    ],
)
def test_loss_falls_on_real_photos(
    family: str, key: str, steps: int, real16: ProductData, tmp_path: Path
) -> None:
    """A tiny model trained a few steps on real product photos lowers its loss."""
    m = _model(family, real16)
    calls: list[tuple[int, int]] = []
    train(
        m,
        real16,
        tmp_path,
        TrainParams(batch_size=32, max_steps=steps, log_every=1, sample_every=0, seed=0),
        on_progress=lambda d, t: calls.append((d, t)),
    )
    vals = [r[key] for r in _log(tmp_path)]
    assert len(vals) == steps
    assert np.mean(vals[-5:]) < np.mean(vals[:5]), vals
    assert calls[-1] == (steps, steps)


def test_same_seed_same_weights(real16: ProductData, tmp_path: Path) -> None:
    """Two runs with the same seed give bit-identical weights; another seed does not."""
    outs = []
    for i, seed in enumerate((0, 0, 1)):
        m = _model("vae", real16)
        train(
            m,
            real16,
            tmp_path / str(i),
            TrainParams(batch_size=8, max_steps=3, seed=seed, sample_every=0),
        )
        outs.append(torch.cat([p.detach().flatten() for p in m.parameters()]))
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0], outs[2])


@pytest.mark.parametrize("family", ["gan", "vae"])
def test_resume_is_bit_identical(family: str, real16: ProductData, tmp_path: Path) -> None:
    """4 steps in one go equal 2 steps + resume to 4 (weights, optimiser and RNG restored)."""
    a = _model(family, real16)
    train(a, real16, tmp_path / "a", TrainParams(batch_size=8, max_steps=4, sample_every=0))
    b = _model(family, real16)
    train(b, real16, tmp_path / "b", TrainParams(batch_size=8, max_steps=2, sample_every=0))
    b2 = _model(family, real16)
    s = train(
        b2,
        real16,
        tmp_path / "b",
        TrainParams(batch_size=8, max_steps=4, sample_every=0),
        resume=True,
    )
    assert s["steps"] == 4
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b2.state_dict().items(), strict=True):
        assert ka == kb
        assert torch.equal(va, vb), ka


def test_outputs_logs_and_grids(real16: ProductData, tmp_path: Path) -> None:
    """The run writes JSONL logs, sample grids every N steps, a checkpoint and a loadable model."""
    m = _model("vae", real16)
    train(m, real16, tmp_path, TrainParams(batch_size=8, max_steps=4, sample_every=2, log_every=2))
    assert [r["step"] for r in _log(tmp_path)] == [1, 2, 4]
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        "step_000002.png",
        "step_000004.png",
    ]
    assert (tmp_path / "checkpoint.pt").is_file() and (tmp_path / "model.safetensors").is_file()
    assert json.loads((tmp_path / "train_summary.json").read_text())["steps"] == 4


def test_training_threads_do_not_outlive_the_run(real16: ProductData, tmp_path: Path) -> None:
    """``TrainParams.threads`` applies while training only: the caller's torch thread count is
    restored after a run and after a failed one (a server or test that trains, then infers,
    keeps the float reductions it had)."""
    before = torch.get_num_threads()
    other = 2 if before == 1 else 1
    torch.set_num_threads(other)
    try:
        m = _model("gan", real16)
        train(m, real16, tmp_path / "ok", TrainParams(batch_size=8, max_steps=1, threads=3))
        assert torch.get_num_threads() == other

        def stop(done: int, total: int) -> None:
            assert torch.get_num_threads() == 3  # the run's own count while it trains
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            train(
                m,
                real16,
                tmp_path / "stopped",
                TrainParams(batch_size=8, max_steps=2, threads=3),
                on_progress=stop,
            )
        assert torch.get_num_threads() == other
    finally:
        torch.set_num_threads(before)


def test_train_errors(real16: ProductData, tmp_path: Path) -> None:
    """Wrong image size and empty budgets raise InvalidParamsError."""
    with pytest.raises(InvalidParamsError):
        TrainParams()
    with pytest.raises(InvalidParamsError):
        TrainParams(max_steps=1, batch_size=0)
    m = GENERATORS.get("vae").from_config(
        VAEConfig(size=32, channels=4),
        _model("vae", real16).cond_config,
        _model("vae", real16).vocab,
    )
    with pytest.raises(InvalidParamsError, match="--size 32"):
        train(m, real16, tmp_path, TrainParams(max_steps=1))


def test_make_grid() -> None:
    """Tiles N images into rows of `cols` with white padding."""
    g = make_grid(np.zeros((10, 4, 4, 3), np.uint8), cols=4, pad=1)
    assert g.shape == (3 * 5 + 1, 4 * 5 + 1, 3)
    assert (g[0] == 255).all() and g[1, 1, 0] == 0


def test_cpu_minutes_budget(real16: ProductData, tmp_path: Path) -> None:
    """A CPU-time budget stops the run once the process has used it (whatever the wall clock
    says); the summary reports steps, wall and CPU seconds and threads; a resumed run counts
    the CPU time of the first session."""
    m = _model("vae", real16)
    budget = 0.02  # CPU minutes = 1.2 CPU s
    calls: list[tuple[int, int]] = []
    s = train(
        m,
        real16,
        tmp_path,
        TrainParams(batch_size=8, cpu_minutes=budget, sample_every=0),
        on_progress=lambda d, t: calls.append((d, t)),
    )
    assert s["steps"] >= 1 and s["cpu_seconds"] >= budget * 60
    assert s["threads"] == 1 and s["budget"]["cpu_minutes"] == budget and s["seconds"] > 0
    assert calls[-1][1] == int(budget * 60)  # progress in CPU seconds
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert ck["cpu_seconds"] == pytest.approx(s["cpu_seconds"], abs=0.1)
    again = train(
        _model("vae", real16),
        real16,
        tmp_path,
        TrainParams(batch_size=8, cpu_minutes=budget, sample_every=0),
        resume=True,
    )
    assert again["steps"] == s["steps"]  # the budget was already used up
    with pytest.raises(InvalidParamsError, match="cpu_minutes"):
        TrainParams(cpu_minutes=0)


def test_on_budget_sees_the_share_of_the_budget(real16: ProductData, tmp_path: Path) -> None:
    """The trainer tells the model which share of the budget it has used before each step."""
    m = _model("vae", real16)
    seen: list[tuple[float, int]] = []
    m.on_budget = lambda progress, step: seen.append((progress, step))  # type: ignore[method-assign]
    train(m, real16, tmp_path, TrainParams(batch_size=8, max_steps=4, sample_every=0))
    assert seen == [(0.0, 0), (0.25, 1), (0.5, 2), (0.75, 3)]
