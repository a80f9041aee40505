"""Translation family: CycleGAN (unpaired) and paired training through the shared trainer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from conftest import shared_path
from productstudio.errors import InvalidParamsError
from productstudio.models.data import ATTRIBUTES, ProductData, Split, Vocab, load_products
from productstudio.models.generators import CycleGAN, CycleGANConfig, load_generator
from productstudio.models.generators.base import from_uint8
from productstudio.models.train import TrainParams, train
from productstudio.models.translation_data import (
    composite_pairs,
    load_backgrounds,
    white_background_alpha,
)

DOMAINS = ("grocery-natural", "grocery-iconic")


@pytest.fixture(scope="module")
def grocery16() -> ProductData:
    return load_products(shared_path("data", "products"), size=16, sources=DOMAINS)


def _model(data: ProductData, **kw: Any) -> CycleGAN:
    cc, vocab = CycleGAN.default_condition(Vocab.build([r.attrs for r in data.records], ATTRIBUTES))
    cfg = CycleGANConfig(
        size=16, g_channels=8, g_blocks=2, d_channels=8, d_layers=2, pool_size=4, lr=1e-3, **kw
    )
    return CycleGAN.from_config(cfg, cc, vocab, seed=0)


def _log(d: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (d / "train_log.jsonl").read_text().splitlines()]


def test_config_errors() -> None:
    """Overlapping or empty domains, too deep a PatchGAN and negative weights are refused."""
    for kw in (
        {"domain_a": ("x",), "domain_b": ("x",)},
        {"domain_b": ()},
        {"d_layers": 5},
        {"lambda_cycle": -1.0},
        {"mode": "sideways"},
    ):
        with pytest.raises((InvalidParamsError, ValueError)):
            CycleGANConfig(size=16, **kw)  # type: ignore[arg-type]


def test_balanced_domain_batches(grocery16: ProductData) -> None:
    """Unpaired batches hold batch/2 domain-A rows then batch/2 domain-B rows, although the
    natural photos outnumber the packshots six to one; a domain without rows is an error."""
    m = _model(grocery16)
    idx = m.draw_batch(grocery16, 16, torch.Generator().manual_seed(0))
    src = [grocery16.records[i].source for i in idx.tolist()]
    assert src == ["grocery-natural"] * 8 + ["grocery-iconic"] * 8
    only_a = grocery16.take([i for i, r in enumerate(grocery16.records) if r.source == DOMAINS[0]])
    with pytest.raises(InvalidParamsError, match="both domains"):
        m.draw_batch(only_a, 8, torch.Generator())


def test_cyclegan_trains_and_cycles(grocery16: ProductData, tmp_path: Path) -> None:
    """A tiny direct (non-residual) CycleGAN trained 120 steps on real natural/packshot photos
    lowers its losses, and held-out natural photos translated A→B→A come back closer to
    themselves than at initialisation and than other photos are (cycle consistency). Save/load
    round-trips."""
    m = _model(grocery16, output="direct")
    test = grocery16.subset(Split.TEST)
    a = test.images[[r.source == DOMAINS[0] for r in test.records]]

    def cycle_error() -> float:
        back = m.translate(m.translate(a), "b2a")
        return float(np.abs(back.astype(np.float64) - a).mean())

    before = cycle_error()
    train(
        m,
        grocery16.subset(Split.TRAIN),
        tmp_path,
        TrainParams(batch_size=8, max_steps=120, log_every=1, sample_every=0),
    )
    log = _log(tmp_path)
    for key in ("loss_cycle", "loss_identity", "loss_g"):
        vals = [r[key] for r in log]
        assert np.mean(vals[-10:]) < np.mean(vals[:10]), key
    after = cycle_error()
    others = float(np.abs(a.astype(np.float64) - np.roll(a, 1, axis=0)).mean())
    assert after < 0.85 * before and after < 0.85 * others, (before, after, others)
    # round trip of the trained model (weights, pools, both directions)
    m2 = load_generator(tmp_path)
    assert isinstance(m2, CycleGAN) and m2.config == m.config
    np.testing.assert_array_equal(m2.translate(a[:4]), m.translate(a[:4]))
    np.testing.assert_array_equal(m2.translate(a[:4], "b2a"), m.translate(a[:4], "b2a"))
    assert torch.equal(m2.pool_b, m.pool_b) and int(m.pool_count[1]) == 4


@pytest.mark.parametrize("output", ["attention", "residual"])
def test_generators_start_as_identity_and_learn(
    grocery16: ProductData, tmp_path: Path, output: str
) -> None:
    """Residual (the default) and attention generators translate every photo to itself at
    initialisation (within one uint8 level, both directions); after 120 training steps the
    translation changes the photos while A→B→A still returns them within a fraction of the
    difference between photos (cycle consistency) and the discriminators' loss has fallen. A
    model saved before the option existed loads as a direct generator."""
    m = _model(grocery16, output=output)
    assert m.config.output == output
    test = grocery16.subset(Split.TEST)
    a = test.images[[r.source == DOMAINS[0] for r in test.records]]
    for d in ("a2b", "b2a"):
        assert np.abs(m.translate(a, d).astype(int) - a).max() <= 1
    train(
        m,
        grocery16.subset(Split.TRAIN),
        tmp_path,
        TrainParams(batch_size=8, max_steps=120, log_every=1, sample_every=0),
    )
    log = _log(tmp_path)
    vals = [r["loss_d"] for r in log]
    assert np.mean(vals[-10:]) < np.mean(vals[:10])
    t = m.translate(a)
    changed = float(np.abs(t.astype(np.float64) - a).mean())
    cycle = float(np.abs(m.translate(t, "b2a").astype(np.float64) - a).mean())
    others = float(np.abs(a.astype(np.float64) - np.roll(a, 1, axis=0)).mean())
    assert cycle < 0.2 * others, (changed, cycle, others)
    if output == "residual":
        assert changed > 1.0, changed
    else:  # the mask (logged, a share in [0, 1]) moved off 1/2; changes are still sub-level
        assert all(0.0 <= r["attention"] <= 1.0 for r in log)
        assert abs(log[-1]["attention"] - 0.5) > 0.05
        x = from_uint8(a)
        with torch.no_grad():
            assert float((m.G_ab(x) - x).abs().mean()) > 1e-4
    again = load_generator(tmp_path)
    assert isinstance(again, CycleGAN) and again.config == m.config
    np.testing.assert_array_equal(again.translate(a[:4]), t[:4])
    if output == "residual":  # same weights as a direct model: an old file (no field) is one
        meta = json.loads((tmp_path / "config.json").read_text())
        del meta["config"]["output"]
        (tmp_path / "config.json").write_text(json.dumps(meta))
        old = load_generator(tmp_path)
        assert isinstance(old, CycleGAN) and old.config.output == "direct"


def test_discriminators_see_augmented_images(grocery16: ProductData) -> None:
    """With an augmentation policy the discriminators judge DiffAugment views: one step from the
    same weights and seed gives another discriminator loss than without (an empty policy is
    exactly the plain step: the same loss twice)."""
    from productstudio.models.conditioning.fusion import Prompt

    x = from_uint8(grocery16.images[:8])
    losses = {}
    for name, policy in (("plain", ()), ("again", ()), ("aug", ("translation", "cutout"))):
        m = _model(grocery16, augment=policy)
        opt = m.make_optimizers()
        cond = m.conditioner.batch([Prompt()] * 8)
        out = m.train_step(x, cond, 0, opt, torch.Generator().manual_seed(0))
        losses[name] = out["loss_d"]
    assert losses["plain"] == losses["again"]
    assert losses["aug"] != losses["plain"]


def test_translate_errors_and_sample(grocery16: ProductData) -> None:
    """translate() checks its input; sample() translates the given photos and needs them."""
    m = _model(grocery16)
    with pytest.raises(InvalidParamsError, match="uint8"):
        m.translate(np.zeros((1, 16, 16), np.uint8))
    with pytest.raises(InvalidParamsError, match="divide by 4"):
        m.translate(np.zeros((1, 18, 18, 3), np.uint8))
    from productstudio.models.conditioning.fusion import Prompt

    imgs = grocery16.images[:2]
    np.testing.assert_array_equal(m.sample([Prompt(), Prompt()], images=imgs), m.translate(imgs))
    with pytest.raises(InvalidParamsError, match="productstudio translate"):
        m.sample([Prompt()])


def test_white_background_alpha_keeps_inner_white() -> None:
    """Near-white pixels touching the border are background; white inside the product stays."""
    im = np.full((12, 12, 3), 250, np.uint8)
    im[3:9, 3:9] = (10, 120, 40)
    im[5:7, 5:7] = 255  # a white label inside the product
    a = white_background_alpha(im)
    assert a.dtype == np.float32 and a.shape == (12, 12)
    assert a[3:9, 3:9].min() == 1.0 and a.sum() == 36
    with pytest.raises(InvalidParamsError):
        white_background_alpha(im[..., 0])


def test_paired_composites_and_training(tmp_path: Path) -> None:
    """Paired data = the studio photo as target and its cut-out over a real background as input
    (product pixels identical, background replaced); pix2pix-style training lowers the L1 loss
    and each input is flipped together with its target."""
    root = shared_path("data", "products")
    packshots = load_products(root, size=16, sources=("grocery-iconic",))
    bgs = load_backgrounds(shared_path("data", "backgrounds"), names=("grocery_",))
    assert len(bgs) == 6
    pairs = composite_pairs(packshots, bgs, variants=2, seed=0)
    assert pairs.inputs is not None and pairs.inputs.shape == pairs.images.shape
    assert len(pairs) % 2 == 0 and len(pairs) >= 2 * 75  # a few all-white shots may be skipped
    for im, inp in zip(pairs.images[:20], pairs.inputs[:20], strict=True):
        a = white_background_alpha(im) > 0
        assert np.array_equal(inp[a], im[a])  # the product is kept exactly
    changed = (pairs.inputs != pairs.images).any(-1).mean()
    assert changed > 0.3  # most of the white was replaced by store scenes
    again = composite_pairs(packshots, bgs, variants=2, seed=0)
    assert again.inputs is not None and np.array_equal(again.inputs, pairs.inputs)

    cc, vocab = CycleGAN.default_condition(
        Vocab.build([r.attrs for r in pairs.records], ATTRIBUTES)
    )
    cfg = CycleGANConfig(
        size=16, mode="paired", g_channels=8, g_blocks=2, d_channels=8, d_layers=2, lr=1e-3
    )
    m = CycleGAN.from_config(cfg, cc, vocab, seed=0)
    assert m.G_ba is None and len(m.pool_a) == 0
    # each input is flipped with its target: with inputs = 255 - targets, the source the
    # model sees is exactly -x in every row of every batch
    inv = ProductData(pairs.images, pairs.records, 16, 255 - pairs.images)
    seen: list[bool] = []
    step = m.train_step

    def spy(x: torch.Tensor, cond: Any, *args: Any) -> dict[str, float]:
        seen.append(bool(torch.allclose(cond.image, -x, atol=1e-6, rtol=0)))
        return step(x, cond, *args)

    m.train_step = spy  # type: ignore[method-assign]
    train(m, inv, tmp_path / "inv", TrainParams(batch_size=8, max_steps=3, sample_every=0))
    assert seen == [True] * 3
    m.train_step = step  # type: ignore[method-assign]
    train(m, pairs, tmp_path, TrainParams(batch_size=8, max_steps=60, log_every=1, sample_every=0))
    vals = [r["loss_l1"] for r in _log(tmp_path)]
    assert np.mean(vals[-10:]) < np.mean(vals[:10]), vals
    with pytest.raises(InvalidParamsError, match="one way"):
        m.translate(pairs.inputs[:1], "b2a")


def test_cyclegan_resume_is_bit_identical(grocery16: ProductData, tmp_path: Path) -> None:
    """4 steps in one go equal 2 steps + resume to 4: weights, optimisers, RNG and the image
    pools (which hold generated images between steps) are all checkpointed."""
    data = grocery16.subset(Split.TRAIN)
    runs = []
    for name, steps, resume in (("a", 4, False), ("b", 2, False), ("b", 4, True)):
        m = _model(grocery16)
        train(
            m,
            data,
            tmp_path / name,
            TrainParams(batch_size=4, max_steps=steps, sample_every=0),
            resume=resume,
        )
        runs.append(m)
    for (k, va), (_, vb) in zip(
        runs[0].state_dict().items(), runs[2].state_dict().items(), strict=True
    ):
        assert torch.equal(va, vb), k
    assert int(runs[2].pool_count[0]) == 4  # 2 fakes per step filled the 4-image pool
