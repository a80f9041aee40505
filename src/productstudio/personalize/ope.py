"""Off-policy evaluation: a candidate policy's CTR from logs made by another policy.

Logged data, one row per impression ``i``: the context group ``g_i`` (segment, slot …), the shown
variant ``a_i``, the reward ``r_i`` (click 0/1) and the logging propensity ``p_i``; plus the
candidate policy's probabilities ``π(·|x_i)`` as an (n, K) matrix. With ``w_i = π(a_i|x_i)/p_i``:

* **IPS** ``V = mean(w r)`` — unbiased when every ``p_i > 0`` where π puts mass;
* **SNIPS** ``V = Σ w r / Σ w`` — self-normalised: a little bias, much less variance;
* **DR** ``V = mean(Σ_a π(a|x_i) q̂(x_i, a) + w (r − q̂(x_i, a_i)))`` with a reward model q̂
  (:func:`table_reward_model`: cross-fitted, shrunk cell means) — unbiased if either the
  propensities or q̂ are right; with a perfect q̂ the IPS term vanishes.

Confidence intervals: percentile bootstrap over rows (:func:`scipy.stats.bootstrap`, the reward
model held fixed, as in the Open Bandit Pipeline). :func:`ctr_interval` is the Wilson interval
of an observed CTR.

Example:
    >>> import numpy as np
    >>> r = np.array([1.0, 0.0, 1.0, 0.0]); p = np.full(4, 0.5)
    >>> ips(r, importance_weights(p, p)), snips(r, np.array([2.0, 2.0, 0.0, 0.0]))
    (0.5, 0.5)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


class Estimator(StrEnum):
    IPS = "ips"
    SNIPS = "snips"
    DR = "dr"
    DM = "dm"  # direct method (the reward model alone), for reference


def importance_weights(target: F64, propensities: F64) -> F64:
    """``w = π(a|x) / p``; propensities must be in (0, 1], target probabilities in [0, 1]."""
    t = np.asarray(target, np.float64)
    p = np.asarray(propensities, np.float64)
    if t.shape != p.shape:
        raise InvalidParamsError("importance_weights: target and propensities differ in shape")
    if not np.isfinite(p).all() or (p <= 0).any() or (p > 1 + 1e-9).any():
        bad = int(np.flatnonzero(~((p > 0) & (p <= 1 + 1e-9)))[0])
        raise InvalidParamsError(
            f"logged propensity of row {bad} is {p[bad]!r}: every propensity must be in (0, 1] "
            "(a logging policy that never explores cannot evaluate others)"
        )
    if (t < 0).any() or (t > 1 + 1e-9).any():
        raise InvalidParamsError("target probabilities must be in [0, 1]")
    return t / p


def ips(rewards: F64, weights: F64) -> float:
    return float(np.mean(np.asarray(weights) * np.asarray(rewards)))


def snips(rewards: F64, weights: F64) -> float:
    w = np.asarray(weights, np.float64)
    s = w.sum()
    return float((w * np.asarray(rewards)).sum() / s) if s > 0 else float("nan")


def dr(rewards: F64, weights: F64, q_logged: F64, q_target: F64) -> float:
    return float(np.mean(q_target + weights * (rewards - q_logged)))


def effective_sample_size(weights: F64) -> float:
    """Kish's ``(Σw)² / Σw²`` (n for equal weights)."""
    w = np.asarray(weights, np.float64)
    s2 = float((w * w).sum())
    return float(w.sum() ** 2 / s2) if s2 > 0 else 0.0


def table_reward_model(
    groups: I64,
    actions: I64,
    rewards: F64,
    n_groups: int,
    n_actions: int,
    *,
    folds: int = 5,
    strength: float = 20.0,
    seed: int = 0,
) -> F64:
    """Cross-fitted reward model ``q̂(x_i, a)`` (n, K): the CTR of cell (group, action),
    shrunk towards the action's CTR, which is shrunk towards the overall CTR (pseudo-count
    ``strength``). Row i's prediction uses only the other folds (no overfitting bias in DR).
    """
    g = np.asarray(groups, np.int64)
    a = np.asarray(actions, np.int64)
    r = np.asarray(rewards, np.float64)
    n = r.size
    if not (g.size == a.size == n) or n == 0:
        raise InvalidParamsError("table_reward_model: groups, actions, rewards: same length > 0")
    fold = np.random.default_rng(seed).permutation(n) % max(1, folds)
    out = np.empty((n, n_actions))
    for f in range(max(1, folds)):
        train = fold != f if folds > 1 else np.ones(n, bool)
        test = ~train if folds > 1 else train
        cell = g[train] * n_actions + a[train]
        nc = np.bincount(cell, minlength=n_groups * n_actions).astype(np.float64)
        cc = np.bincount(cell, weights=r[train], minlength=n_groups * n_actions)
        na = np.bincount(a[train], minlength=n_actions).astype(np.float64)
        ca = np.bincount(a[train], weights=r[train], minlength=n_actions)
        q0 = float(r[train].mean()) if train.any() else 0.0
        qa = (ca + strength * q0) / (na + strength)
        q = (cc.reshape(n_groups, n_actions) + strength * qa) / (
            nc.reshape(n_groups, n_actions) + strength
        )
        out[test] = q[g[test]]
    return out


@dataclass(frozen=True)
class LoggedData:
    """Bandit logs for OPE.

    Attributes:
        actions: (n,) logged variant index.
        rewards: (n,) click 0/1 (any bounded reward works).
        propensities: (n,) logging probability of the logged action.
        target: (n, K) the candidate policy's probabilities for each row's context.
        groups: (n,) context group (for the reward model); zeros if absent.
    """

    actions: I64
    rewards: F64
    propensities: F64
    target: F64
    groups: I64 | None = None

    def __post_init__(self) -> None:
        n = np.asarray(self.rewards).size
        t = np.asarray(self.target)
        if t.ndim != 2 or t.shape[0] != n or np.asarray(self.actions).size != n:
            raise InvalidParamsError("LoggedData: target must be (n, K) with n actions/rewards")
        if np.asarray(self.propensities).size != n:
            raise InvalidParamsError("LoggedData: one propensity per row")
        a = np.asarray(self.actions)
        if n and (a.min() < 0 or a.max() >= t.shape[1]):
            raise InvalidParamsError("LoggedData: an action index is outside the target's K")

    @property
    def n(self) -> int:
        return int(np.asarray(self.rewards).size)

    def target_of_logged(self) -> F64:
        return np.asarray(self.target)[np.arange(self.n), np.asarray(self.actions)]

    def weights(self) -> F64:
        return importance_weights(self.target_of_logged(), np.asarray(self.propensities))


@dataclass(frozen=True)
class Estimate:
    """One estimator's value with its bootstrap interval and weight diagnostics."""

    estimator: str
    value: float
    ci_low: float
    ci_high: float
    confidence: float
    n: int
    ess: float
    max_weight: float
    n_boot: int

    def covers(self, truth: float) -> bool:
        return self.ci_low <= truth <= self.ci_high

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _percentile_ci(
    columns: Sequence[F64],
    statistic: Callable[..., F64],
    confidence: float,
    n_boot: int,
    seed: int,
) -> tuple[float, float]:
    from scipy.stats import bootstrap

    if columns[0].size < 2:
        return float("nan"), float("nan")
    res = bootstrap(
        tuple(columns),
        statistic,
        n_resamples=n_boot,
        paired=True,
        vectorized=True,
        confidence_level=confidence,
        method="percentile",
        batch=max(1, min(n_boot, 2_000_000 // max(1, columns[0].size))),
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _mean(x: F64, axis: int = -1) -> F64:
    return np.asarray(np.mean(x, axis=axis))


def _ratio(x: F64, w: F64, axis: int = -1) -> F64:
    s = np.sum(w, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.sum(x, axis=axis) / s)


def evaluate(
    data: LoggedData,
    estimators: Sequence[Estimator | str] = (Estimator.IPS, Estimator.SNIPS, Estimator.DR),
    *,
    q_hat: F64 | None = None,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> list[Estimate]:
    """Estimate the candidate policy's value (CTR) with each estimator and a bootstrap CI.

    Args:
        data: the logs and the candidate's probabilities.
        q_hat: (n, K) reward model for DR/DM; :func:`table_reward_model` on ``data.groups``
            (cross-fitted) when ``None``.
        n_boot: bootstrap resamples (rows resampled with replacement, reward model fixed).

    Raises:
        InvalidParamsError: a propensity outside (0, 1], shapes that do not match.
    """
    if not 0 < confidence < 1:
        raise InvalidParamsError(f"confidence must be in (0, 1), got {confidence}")
    r = np.asarray(data.rewards, np.float64)
    w = data.weights()
    ests = [Estimator(e) for e in estimators]
    need_q = any(e in (Estimator.DR, Estimator.DM) for e in ests)
    q_log = q_tgt = np.zeros(0)
    if need_q:
        if q_hat is None:
            g = np.zeros(data.n, np.int64) if data.groups is None else np.asarray(data.groups)
            q_hat = table_reward_model(
                g, np.asarray(data.actions), r, int(g.max()) + 1, data.target.shape[1], seed=seed
            )
        q_hat = np.asarray(q_hat, np.float64)
        if q_hat.shape != data.target.shape:
            raise InvalidParamsError("q_hat must have the target's (n, K) shape")
        q_log = q_hat[np.arange(data.n), np.asarray(data.actions)]
        q_tgt = (np.asarray(data.target) * q_hat).sum(axis=1)
    ess = effective_sample_size(w)
    wmax = float(w.max()) if w.size else float("nan")
    out = []
    for e in ests:
        if e is Estimator.SNIPS:
            value = snips(r, w)
            lo, hi = _percentile_ci([w * r, w], _ratio, confidence, n_boot, seed)
        else:
            if e is Estimator.IPS:
                contrib = w * r
            elif e is Estimator.DR:
                contrib = q_tgt + w * (r - q_log)
            else:
                contrib = q_tgt
            value = float(contrib.mean())
            lo, hi = _percentile_ci([contrib], _mean, confidence, n_boot, seed)
        out.append(Estimate(e.value, value, lo, hi, confidence, data.n, ess, wmax, n_boot))
    return out


def ctr_interval(clicks: int, impressions: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of an observed CTR; ``(0, 1)`` without impressions."""
    if impressions <= 0:
        return 0.0, 1.0
    from scipy.stats import binomtest

    ci = binomtest(int(clicks), int(impressions)).proportion_ci(
        confidence_level=confidence, method="wilson"
    )
    return float(ci.low), float(ci.high)


__all__ = [
    "Estimate",
    "Estimator",
    "LoggedData",
    "ctr_interval",
    "dr",
    "effective_sample_size",
    "evaluate",
    "importance_weights",
    "ips",
    "snips",
    "table_reward_model",
]
