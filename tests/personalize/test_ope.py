"""Off-policy estimators on closed-form cases, on the simulator's known truth and on real logs."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from conftest import shared_path
from productstudio.errors import InvalidParamsError
from productstudio.personalize.ope import (
    LoggedData,
    ctr_interval,
    effective_sample_size,
    evaluate,
    importance_weights,
    table_reward_model,
)
from productstudio.personalize.simulate import Simulator, log_uniform


def _uniform_log(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, k, n)
    r = (rng.random(n) < 0.1 + 0.05 * a).astype(float)
    return a, r


def test_ips_and_snips_on_policy_equal_the_observed_mean() -> None:
    """Target = logging policy: every weight is 1, IPS = SNIPS = mean reward, ESS = n."""
    a, r = _uniform_log(500, 4)
    data = LoggedData(a, r, np.full(500, 0.25), np.full((500, 4), 0.25))
    est = {e.estimator: e for e in evaluate(data, ("ips", "snips"), n_boot=200)}
    assert est["ips"].value == pytest.approx(r.mean(), abs=1e-12)
    assert est["snips"].value == pytest.approx(r.mean(), abs=1e-12)
    assert est["ips"].ess == pytest.approx(500)
    assert est["ips"].ci_low < r.mean() < est["ips"].ci_high


def test_snips_is_self_normalised() -> None:
    """Its normalised weights sum to 1: a constant reward is estimated exactly, any weights."""
    rng = np.random.default_rng(1)
    w = rng.random(300) * 5
    a = np.zeros(300, np.int64)
    t = np.column_stack([np.minimum(1.0, w / 5.0)])
    p = t[:, 0] / w
    data = LoggedData(a, np.full(300, 0.3), p, t)
    (snips,) = evaluate(data, ("snips",), n_boot=100)
    assert snips.value == pytest.approx(0.3, abs=1e-12)
    assert np.sum(data.weights() / data.weights().sum()) == pytest.approx(1.0)


def test_dr_with_a_perfect_reward_model_has_no_ips_term() -> None:
    """Deterministic rewards and q̂ = truth: r − q̂ = 0, DR = DM exactly, same bootstrap CI."""
    rng = np.random.default_rng(2)
    n, k = 400, 3
    g = rng.integers(0, 2, n)
    truth = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    a = rng.integers(0, k, n)
    r = truth[g, a]
    target = rng.dirichlet(np.ones(k), n)
    q = truth[g]
    data = LoggedData(a, r, np.full(n, 1 / k), target, g)
    dr, dm = evaluate(data, ("dr", "dm"), q_hat=q, n_boot=300, seed=4)
    assert dr.value == pytest.approx(dm.value, abs=1e-12)
    assert dr.value == pytest.approx(float((target * q).sum(axis=1).mean()))
    assert (dr.ci_low, dr.ci_high) == pytest.approx((dm.ci_low, dm.ci_high))


def test_bad_propensities_are_refused() -> None:
    """A zero or missing propensity cannot be weighted: a clear error, not inf."""
    with pytest.raises(InvalidParamsError, match=r"row 1 .*\(0, 1\]"):
        importance_weights(np.array([0.5, 0.5]), np.array([0.5, 0.0]))
    with pytest.raises(InvalidParamsError):
        importance_weights(np.array([0.5]), np.array([np.nan]))


def test_reward_model_is_cross_fitted() -> None:
    """A row's prediction never sees its own reward (leave-fold-out, one cell): with 2 folds
    each row gets the other fold's mean, shrunk to the same."""
    g = np.zeros(6, np.int64)
    a = np.zeros(6, np.int64)
    r = np.array([1.0, 1, 1, 0, 0, 0])
    q = table_reward_model(g, a, r, 1, 1, folds=6, strength=0.0)
    expected = (r.sum() - r) / 5
    assert np.allclose(q[:, 0], expected)


def test_estimators_are_unbiased_and_cover_on_the_simulator() -> None:
    """Known truth: uniform logs, target = best variant per segment. Over 40 replications the
    mean IPS/DR error is within 3 standard errors of 0 and ≥ 85 % of 95 % CIs cover."""
    sim = Simulator.make(seed=0)
    s_n, p_n, k_n = sim.shape
    best = np.zeros((s_n, p_n, k_n))
    best[np.arange(s_n)[:, None], np.arange(p_n)[None, :], sim.best()] = 1.0
    truth = sim.value(best)
    errs: dict[str, list[float]] = {"ips": [], "dr": []}
    cover: dict[str, int] = {"ips": 0, "dr": 0}
    rng = np.random.default_rng(0)
    for rep in range(40):
        log = log_uniform(sim, 4000, rng)
        grp = log["segment"] * p_n + log["product"]
        data = LoggedData(
            log["action"],
            log["reward"],
            log["propensity"],
            best[log["segment"], log["product"]],
            grp,
        )
        for e in evaluate(data, ("ips", "dr"), n_boot=200, seed=rep):
            errs[e.estimator].append(e.value - truth)
            cover[e.estimator] += e.covers(truth)
    for name, v in errs.items():
        se = np.std(v) / np.sqrt(len(v))
        assert abs(np.mean(v)) < 3 * se, name
        assert cover[name] >= 34, (name, cover[name])


def test_ctr_interval_is_wilson() -> None:
    """Wilson 95 % interval of 10/100 (closed form) and the no-data case."""
    z = 1.959963984540054
    n, p = 100, 0.1
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert ctr_interval(10, 100) == pytest.approx((centre - half, centre + half))
    assert ctr_interval(0, 0) == (0.0, 1.0)
    assert effective_sample_size(np.array([1.0, 0.0, 1.0])) == pytest.approx(2.0)


def test_open_bandit_random_logs_evaluate_themselves_exactly() -> None:
    """Real click logs (Open Bandit Dataset, random policy, men): evaluating the logging policy
    itself (1/34 per slot) gives IPS = SNIPS = the observed CTR, 46 clicks / 10,000."""
    path = shared_path("data", "bandit", "obd", "random", "men", "men.csv")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    a = np.array([int(r["item_id"]) for r in rows])
    r = np.array([float(r["click"]) for r in rows])
    p = np.array([float(x["propensity_score"]) for x in rows])
    data = LoggedData(a, r, p, np.full((a.size, 34), 1 / 34))
    ips, snips = evaluate(data, ("ips", "snips"), n_boot=200)
    assert (
        r.sum() == 46
        and ips.value == pytest.approx(0.0046)
        and snips.value == pytest.approx(0.0046)
    )
