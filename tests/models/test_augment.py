"""DiffAugment ops: exact geometry of translation and cutout, colour ranges, gradients, seeds."""

from __future__ import annotations

import doctest

import pytest
import torch

from productstudio.errors import InvalidParamsError
from productstudio.models.generators import augment as augment_mod
from productstudio.models.generators.augment import (
    Augment,
    DiffAugmentParams,
    diff_augment,
    parse_policy,
)


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _ramp(b: int = 6, c: int = 3, s: int = 16) -> torch.Tensor:
    """Distinct values everywhere (so a shifted copy is recognisable), in (-1, 1)."""
    n = b * c * s * s
    return (torch.arange(n, dtype=torch.float32) / n * 1.8 - 0.9).reshape(b, c, s, s)


def test_doctests() -> None:
    assert doctest.testmod(augment_mod).failed == 0


def test_parse_policy_and_errors() -> None:
    """Policy strings parse in order; unknown names and bad params raise naming the fix."""
    assert parse_policy("color, cutout") == (Augment.COLOR, Augment.CUTOUT)
    assert parse_policy("") == ()
    with pytest.raises(InvalidParamsError, match="color, translation, cutout"):
        parse_policy("colour,flip")
    assert DiffAugmentParams(policy=("translation",)).policy == (Augment.TRANSLATION,)  # type: ignore[arg-type]
    for kw in ({"p": 1.5}, {"translation": 1.0}, {"cutout": -0.1}):
        with pytest.raises(InvalidParamsError):
            DiffAugmentParams(**kw)  # type: ignore[arg-type]
    with pytest.raises(InvalidParamsError, match="B, C, H, W"):
        diff_augment(torch.zeros(3, 8, 8), DiffAugmentParams(), _g())


def test_identity_for_empty_policy_and_p_zero() -> None:
    x = _ramp()
    assert torch.equal(diff_augment(x, DiffAugmentParams(policy=()), _g()), x)
    assert torch.equal(diff_augment(x, DiffAugmentParams(p=0.0), _g()), x)


def test_seeded() -> None:
    """Same generator seed → same batch; another seed → another batch."""
    x, p = _ramp(), DiffAugmentParams()
    a, b, c = diff_augment(x, p, _g(1)), diff_augment(x, p, _g(1)), diff_augment(x, p, _g(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_translation_is_an_exact_shift_with_fill() -> None:
    """Each sample is the input shifted by (dy, dx) with |d| <= ratio * side, fill elsewhere."""
    x = _ramp(b=32)
    params = DiffAugmentParams(policy=(Augment.TRANSLATION,), translation=0.125, fill=-7.0)
    y = diff_augment(x, params, _g(3))
    s = 2  # 0.125 * 16
    shifts = set()
    for i in range(len(x)):
        found = None
        for dy in range(-s, s + 1):
            for dx in range(-s, s + 1):
                want = torch.full_like(x[i], -7.0)
                ys, yd = slice(max(0, -dy), 16 - max(0, dy)), slice(max(0, dy), 16 - max(0, -dy))
                xs, xd = slice(max(0, -dx), 16 - max(0, dx)), slice(max(0, dx), 16 - max(0, -dx))
                want[:, yd, xd] = x[i][:, ys, xs]
                if torch.equal(y[i], want):
                    found = (dy, dx)
        assert found is not None, i
        shifts.add(found)
    assert len(shifts) > 5  # shifts vary per sample


def test_cutout_is_one_clipped_square_of_fill() -> None:
    """Exactly one axis-aligned box (clipped at the border, at most ratio*side wide) is set to
    ``fill``; every other pixel is unchanged; a box fully inside has the full size."""
    x = _ramp(b=64)
    y = diff_augment(x, DiffAugmentParams(policy=(Augment.CUTOUT,), cutout=0.25, fill=5.0), _g(4))
    full = 0
    for i in range(len(x)):
        changed = (y[i] != x[i]).any(0)
        assert torch.equal(y[i][:, changed], torch.full_like(y[i][:, changed], 5.0))
        rows, cols = changed.any(1).nonzero().flatten(), changed.any(0).nonzero().flatten()
        assert len(rows) >= 1 and len(cols) >= 1
        h, w = int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)
        assert h <= 4 and w <= 4 and int(changed.sum()) == h * w  # a filled rectangle
        full += h == 4 and w == 4
    assert full > 20


def test_colour_ranges_and_grey_structure() -> None:
    """On a grey image saturation is neutral, brightness is within ±0.5, and contrast keeps the
    layout (correlation with the input is exactly 1)."""
    b = 200
    x = torch.zeros(b, 3, 8, 8)
    y = diff_augment(x, DiffAugmentParams(policy=(Augment.COLOR,)), _g(5))
    shift = y.mean((1, 2, 3))
    assert shift.min() >= -0.5 and shift.max() <= 0.5 and shift.std() > 0.2
    g = torch.linspace(-1, 1, 64).reshape(1, 1, 8, 8).expand(b, 3, 8, 8).contiguous()
    yg = diff_augment(g, DiffAugmentParams(policy=(Augment.COLOR,)), _g(6))
    assert torch.allclose(yg[:, 0], yg[:, 1]) and torch.allclose(yg[:, 1], yg[:, 2])
    for i in range(b):
        c = torch.corrcoef(torch.stack([g[i, 0].flatten(), yg[i, 0].flatten()]))[0, 1]
        assert c > 0.9999
    spread = yg.std((1, 2, 3)) / g.std((1, 2, 3))
    assert spread.min() >= 0.5 - 1e-5 and spread.max() <= 1.5 + 1e-5


def test_gradients_flow_except_where_cut_out() -> None:
    """Gradients reach the input through every op; cut-out pixels get none."""
    x = _ramp(b=4).requires_grad_(True)
    y = diff_augment(x, DiffAugmentParams(), _g(7))
    y.sum().backward()
    assert x.grad is not None and (x.grad != 0).float().mean() > 0.4
    x2 = _ramp(b=4).requires_grad_(True)
    y2 = diff_augment(x2, DiffAugmentParams(policy=(Augment.CUTOUT,), fill=9.0), _g(8))
    y2.sum().backward()
    assert x2.grad is not None
    torch.testing.assert_close(x2.grad, (y2 != 9.0).float())


def test_probability_applies_per_sample() -> None:
    """With p = 0.5 about half of the samples get a cut-out; the rest are untouched."""
    x = _ramp(b=400, s=8)
    y = diff_augment(x, DiffAugmentParams(policy=(Augment.CUTOUT,), p=0.5, fill=3.0), _g(9))
    hit = (y == 3.0).flatten(1).any(1).float().mean()
    assert 0.4 < float(hit) < 0.6
