"""Policies against closed forms: Beta updates, two-arm P(best), ridge updates, LinTS/UCB."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import betaln
from scipy.stats import norm

from productstudio.errors import InvalidParamsError
from productstudio.personalize.policies import (
    LinearStats,
    PolicyParams,
    beta_posterior,
    epsilon_greedy_probs,
    lints_probs,
    linucb_probs,
    mix_uniform,
    prob_best_monte_carlo,
    prob_best_quadrature,
    sample_action,
    sample_actions,
    slot_distribution,
    thompson_probs,
)


def p_b_beats_a(a1: int, b1: int, a2: int, b2: int) -> float:
    """Closed form P(X2 > X1), X_i ~ Beta(a_i, b_i), integer a2 (Evan Miller's sum)."""
    return float(
        sum(
            np.exp(betaln(a1 + i, b1 + b2) - np.log(b2 + i) - betaln(1 + i, b2) - betaln(a1, b1))
            for i in range(a2)
        )
    )


@pytest.mark.parametrize(
    "a1,b1,a2,b2",
    [(3, 7, 5, 9), (30, 970, 45, 955), (1000, 30000, 1, 1), (200, 9800, 210, 9790), (1, 1, 1, 1)],
)
def test_two_arm_probability_matches_closed_form(a1: int, b1: int, a2: int, b2: int) -> None:
    """Quadrature P(best) equals the exact two-arm sum to 1e-5, even for very sharp posteriors."""
    p = prob_best_quadrature(np.array([a1, a2], float), np.array([b1, b2], float))
    assert p[1] == pytest.approx(p_b_beats_a(a1, b1, a2, b2), abs=1e-5)
    assert p.sum() == pytest.approx(1.0)


def test_quadrature_agrees_with_monte_carlo() -> None:
    """K=6 posteriors: quadrature within 4 MC standard errors of 400k joint draws."""
    a = np.array([1, 5, 20, 3, 100, 1000.0])
    b = np.array([1, 100, 400, 80, 2000, 20000.0])
    q = prob_best_quadrature(a, b)
    mc = prob_best_monte_carlo(a, b, 400_000, np.random.default_rng(1))
    se = np.sqrt(q * (1 - q) / 400_000)
    assert np.all(np.abs(q - mc) <= 4 * se + 1e-6)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 40)), min_size=2, max_size=6),
    st.randoms(use_true_random=False),
)
def test_thompson_probs_are_a_distribution_and_permutation_equivariant(
    arms: list[tuple[int, int]], rnd: object
) -> None:
    """Probabilities sum to 1, are ≥ 0, and permuting the arms permutes them."""
    n = np.array([max(x, c) for x, c in arms], float)
    c = np.array([min(x, c) for x, c in arms], float)
    p = thompson_probs(n, c)
    assert p.min() >= 0 and p.sum() == pytest.approx(1.0)
    perm = np.random.default_rng(len(arms)).permutation(len(arms))
    assert np.allclose(thompson_probs(n[perm], c[perm]), p[perm], atol=1e-9)


def test_beta_posterior_update() -> None:
    """(α0 + clicks, β0 + impressions − clicks); bad counts are refused."""
    a, b = beta_posterior(np.array([10, 0]), np.array([3, 0]), 2.0, 5.0)
    assert a.tolist() == [5.0, 2.0] and b.tolist() == [12.0, 5.0]
    with pytest.raises(InvalidParamsError):
        beta_posterior(np.array([1]), np.array([2]))


def test_epsilon_greedy_closed_form_and_ties() -> None:
    """ε/K + (1-ε) on the greedy arm; tied leaders share the greedy mass."""
    p = epsilon_greedy_probs(np.array([10, 10, 10, 10]), np.array([5, 5, 1, 0]), 0.2)
    assert p.tolist() == pytest.approx([0.05 + 0.4, 0.05 + 0.4, 0.05, 0.05])
    assert mix_uniform(np.array([1.0, 0.0]), 0.5).tolist() == [0.75, 0.25]


def test_ridge_statistics_equal_a_direct_solve() -> None:
    """Incremental updates (rows in three batches, weighted duplicates) give θ = (λI+XᵀX)⁻¹Xᵀr."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    r = rng.normal(size=60)
    s = LinearStats.empty(5, ridge=2.0)
    s.add(x[:20], r[:20])
    s.add(x[20:40], r[20:40])
    s.add(x[40:], r[40:])
    direct = np.linalg.solve(2.0 * np.eye(5) + x.T @ x, x.T @ r)
    assert np.allclose(s.theta(), direct)
    w = LinearStats.empty(5, ridge=2.0)
    w.add(np.vstack([x[:1], x[1:]]), np.r_[r[:1], r[1:]], np.ones(60))
    dup = LinearStats.empty(5, ridge=2.0)
    dup.add(x[:1], r[:1], np.array([3.0]))
    ref = LinearStats.empty(5, ridge=2.0)
    ref.add(np.repeat(x[:1], 3, axis=0), np.repeat(r[:1], 3))
    assert (
        np.allclose(w.theta(), direct) and np.allclose(dup.A, ref.A) and np.allclose(dup.b, ref.b)
    )


def test_linucb_is_the_argmax_of_the_direct_formula() -> None:
    """LinUCB picks argmax φθ̂ + α√(φA⁻¹φᵀ) computed with an explicit inverse."""
    rng = np.random.default_rng(3)
    s = LinearStats.empty(4, 1.0)
    s.add(rng.normal(size=(30, 4)), rng.random(30))
    phi = rng.normal(size=(6, 4))
    ainv = np.linalg.inv(s.A)
    ucb = phi @ ainv @ s.b + 0.7 * np.sqrt(np.einsum("kd,de,ke->k", phi, ainv, phi))
    p = linucb_probs(phi, s, 0.7)
    assert p.argmax() == ucb.argmax() and p.max() == 1.0


def test_lints_two_arms_matches_the_gaussian_closed_form() -> None:
    """With 2 arms the score gap is Gaussian: P(arm 0) = Φ(Δμ / (v·sd))."""
    rng = np.random.default_rng(5)
    s = LinearStats.empty(3, 1.0)
    s.add(rng.normal(size=(8, 3)), rng.random(8))
    phi = rng.normal(size=(2, 3))
    d = phi[0] - phi[1]
    theta = np.linalg.solve(s.A, s.b)
    sd = 0.5 * np.sqrt(d @ np.linalg.inv(s.A) @ d)
    exact = norm.cdf((d @ theta) / sd)
    p = lints_probs(phi, s, 0.5, 200_000, np.random.default_rng(0))
    assert p[0] == pytest.approx(exact, abs=4 * np.sqrt(exact * (1 - exact) / 200_000) + 1e-4)


def test_slot_distribution_columns_and_symmetry() -> None:
    """Each slot's column sums to 1; identical priors give 1/K everywhere; a dominant arm
    takes slot 1."""
    rng = np.random.default_rng(0)
    d = slot_distribution(np.full(5, 2.0), np.full(5, 50.0), 3, 60_000, rng)
    assert np.allclose(d.sum(axis=0), 1.0) and np.allclose(d, 0.2, atol=0.01)
    d2 = slot_distribution(np.array([500.0, 1, 1]), np.array([10.0, 50, 50]), 2, 5_000, rng)
    assert d2[0, 0] == 1.0 and d2[0, 1] == 0.0


def test_sampling_follows_the_probability_vector() -> None:
    """Draws follow p (the logged propensity is the true probability of the decision)."""
    p = np.array([0.1, 0.6, 0.3])
    rng = np.random.default_rng(0)
    freq = np.bincount(sample_actions(np.tile(p, (100_000, 1)), rng), minlength=3) / 100_000
    assert np.allclose(freq, p, atol=0.006)
    one = np.bincount([sample_action(p, rng) for _ in range(20_000)], minlength=3) / 20_000
    assert np.allclose(one, p, atol=0.015)


def test_policy_params_validate_and_round_trip() -> None:
    """Out-of-range settings name the field; to_dict/from_dict round-trips."""
    with pytest.raises(InvalidParamsError, match="epsilon"):
        PolicyParams(epsilon=1.5)
    p = PolicyParams(kind="lin-ts", numeric_features=("basket",))  # type: ignore[arg-type]
    assert PolicyParams.from_dict(p.to_dict()) == p
    with pytest.raises(InvalidParamsError, match="unknown settings"):
        PolicyParams.from_dict({"kind": "thompson", "temperature": 1})
