"""A simulator with known truth: users whose click probability depends on segment × variant.

Each product has the same 8 variants: a background (white, dark, pastel, vivid) with or without a
contact shadow, described by 4 features ``[bg_dark, bg_pastel, bg_vivid, shadow]`` (white, no
shadow = all zeros). A user's segment is their interest (``noir``, ``pastel``, ``vivid``,
``sport``, ``classic``, ``outdoor``, or ``everyone`` without one); the true CTR is

    logit μ(segment, product, variant) = logit(base_product) + β_segment · z_variant + ε_(p, v)

with per-segment preferences β (the ``noir`` audience prefers dark backgrounds, ``pastel`` light
pastel ones, ``classic`` white with a shadow …) and a small product × variant term ε that no
feature explains. Age band, gender and region are drawn too but do not matter.

:func:`run_policy` plays ``n`` impressions with batch updates (the posterior is refreshed every
``batch`` impressions, as a production bandit is) and returns the cumulative *expected* regret
``Σ_t max_a μ(x_t, a) − μ(x_t, a_t)``. The samplers here are the textbook ones (one posterior
draw per impression); they choose with exactly the probabilities that
:mod:`productstudio.personalize.policies` computes and logs.

Example:
    >>> sim = Simulator.make(seed=0)
    >>> res = run_policy(sim, PolicyParams(kind=PolicyKind.UNIFORM), 2000, seed=1)
    >>> res.regret.shape, bool(res.regret[-1] > 0)
    ((2000,), True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.models.conditioning.audience import (
    AGE_BANDS,
    AUDIENCE_GENDERS,
    INTERESTS,
    REGIONS,
    AudienceProfile,
)
from productstudio.personalize.context import UserContext, context_vector, joint_features
from productstudio.personalize.policies import (
    LinearStats,
    PolicyKind,
    PolicyParams,
    beta_posterior,
    epsilon_greedy_probs,
    sample_actions,
)

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

BACKGROUNDS = ("white", "dark", "pastel", "vivid")
FEATURES = ("bg_dark", "bg_pastel", "bg_vivid", "shadow")
SEGMENTS = (*INTERESTS, "everyone")
#: logit preference of each segment for [bg_dark, bg_pastel, bg_vivid, shadow].
PREFERENCES: dict[str, tuple[float, float, float, float]] = {
    "noir": (0.9, -0.2, -0.3, 0.3),
    "pastel": (-0.5, 0.8, -0.1, -0.3),
    "vivid": (-0.3, 0.1, 0.9, 0.2),
    "sport": (0.2, -0.3, 0.5, 0.4),
    "classic": (-0.2, 0.2, -0.6, 0.5),
    "outdoor": (0.4, 0.1, 0.3, -0.3),
    "everyone": (-0.1, 0.3, 0.0, 0.3),
}


def _logit(p: F64) -> F64:
    return np.asarray(np.log(p / (1 - p)))


def _sigmoid(x: F64) -> F64:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def variant_table() -> tuple[list[str], F64]:
    """The 8 variant ids (``white``, ``white+shadow`` …) and their (8, 4) feature matrix."""
    ids, rows = [], []
    for shadow in (0, 1):
        for i, bg in enumerate(BACKGROUNDS):
            ids.append(bg + ("+shadow" if shadow else ""))
            z = [0.0, 0.0, 0.0, float(shadow)]
            if i:
                z[i - 1] = 1.0
            rows.append(z)
    return ids, np.asarray(rows)


@dataclass(frozen=True)
class Simulator:
    """Known truth: ``ctr[segment, product, variant]`` and how users are drawn.

    Attributes:
        ctr: (S, P, K) true click probabilities.
        segment_weights: (S,) how often each segment visits.
        variant_ids, variant_features: the K variants and their (K, 4) features.
    """

    ctr: F64
    segment_weights: F64
    variant_ids: tuple[str, ...]
    variant_features: F64
    segments: tuple[str, ...] = SEGMENTS
    products: tuple[str, ...] = ()
    _contexts: F64 = field(default_factory=lambda: np.zeros(0), repr=False)

    @classmethod
    def make(
        cls,
        *,
        n_products: int = 4,
        base_ctr: tuple[float, ...] = (0.02, 0.03, 0.04, 0.05),
        noise: float = 0.08,
        seed: int = 0,
    ) -> Simulator:
        """The standard truth (``seed`` draws the small product × variant term)."""
        if n_products < 1:
            raise InvalidParamsError("Simulator: n_products must be ≥ 1")
        rng = np.random.default_rng(seed)
        ids, z = variant_table()
        base = np.resize(np.asarray(base_ctr, np.float64), n_products)
        pref = np.asarray([PREFERENCES[s] for s in SEGMENTS])  # (S, 4)
        eps = rng.normal(0.0, noise, (n_products, len(ids)))
        logits = _logit(base)[None, :, None] + (pref @ z.T)[:, None, :] + eps[None]
        weights = np.asarray([0.13] * len(INTERESTS) + [0.22])
        return cls(
            ctr=_sigmoid(logits),
            segment_weights=weights / weights.sum(),
            variant_ids=tuple(ids),
            variant_features=z,
            products=tuple(f"product-{i}" for i in range(n_products)),
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        s, p, k = self.ctr.shape
        return int(s), int(p), int(k)

    def best(self) -> I64:
        """(S, P) index of the best variant per segment × product."""
        return np.asarray(self.ctr.argmax(axis=2), np.int64)

    def draw_users(self, n: int, rng: np.random.Generator) -> dict[str, I64]:
        """Segment, product and the irrelevant audience fields of ``n`` impressions."""
        s, p, _ = self.shape
        return {
            "segment": rng.choice(s, size=n, p=self.segment_weights).astype(np.int64),
            "product": rng.integers(0, p, n),
            "age": rng.integers(0, len(AGE_BANDS), n),
            "gender": rng.integers(0, len(AUDIENCE_GENDERS), n),
            "region": rng.integers(0, len(REGIONS), n),
        }

    def user(self, segment: int, age: int, gender: int, region: int) -> UserContext:
        name = self.segments[segment]
        return UserContext(
            audience=AudienceProfile(
                age_band=AGE_BANDS[age],
                gender=AUDIENCE_GENDERS[gender],
                interests=(name,) if name in INTERESTS else (),
                region=REGIONS[region],
            )
        )

    def context_matrix(self, users: dict[str, I64]) -> F64:
        """(n, dx) :func:`context_vector` of each impression's user (vectorised)."""
        n = users["segment"].size
        names = list(INTERESTS)
        x = np.zeros((n, 1 + len(AGE_BANDS) + len(AUDIENCE_GENDERS) + len(names) + len(REGIONS)))
        x[:, 0] = 1.0
        rows = np.arange(n)
        x[rows, 1 + users["age"]] = 1.0
        o = 1 + len(AGE_BANDS)
        x[rows, o + users["gender"]] = 1.0
        o += len(AUDIENCE_GENDERS)
        seg = users["segment"]
        has = seg < len(names)
        x[rows[has], o + seg[has]] = 1.0
        o += len(names)
        x[rows, o + users["region"]] = 1.0
        return x

    def value(self, probs: F64) -> float:
        """True CTR of a policy given as (S, P, K) probabilities (users drawn as here)."""
        per = (probs * self.ctr).sum(axis=2).mean(axis=1)
        return float(per @ self.segment_weights)


@dataclass
class SimResult:
    """One policy × seed run."""

    policy: str
    regret: F64  # cumulative expected regret after each impression
    clicks: int
    chosen_best: F64  # (S, P) the policy's final greedy pick is the true best (0/1)
    final_probs: F64  # (S, P, K) the policy's choice probabilities at the end

    def summary(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "regret": float(self.regret[-1]),
            "clicks": self.clicks,
            "best_variant_share": float(self.chosen_best.mean()),
        }


def _linear_dim(sim: Simulator) -> int:
    dx = context_vector(UserContext()).size
    return dx * (sim.variant_features.shape[1] + 1)


def run_policy(
    sim: Simulator,
    params: PolicyParams,
    n: int,
    *,
    seed: int = 0,
    batch: int = 500,
) -> SimResult:
    """Play ``n`` impressions of ``params``' policy against ``sim`` (vectorised per batch)."""
    if n < 1 or batch < 1:
        raise InvalidParamsError("run_policy: n and batch must be ≥ 1")
    with _one_blas_thread():
        return _run(sim, params, n, seed, batch)


def _one_blas_thread() -> AbstractContextManager[Any]:
    """Small matrices: BLAS threads only contend (3x slower on a loaded 2-core machine)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional
        return nullcontext()
    return threadpool_limits(1)


def _run(sim: Simulator, params: PolicyParams, n: int, seed: int, batch: int) -> SimResult:
    rng = np.random.default_rng(seed)
    s_n, p_n, k_n = sim.shape
    users = sim.draw_users(n, rng)
    seg, prod = users["segment"], users["product"]
    mu = sim.ctr[seg, prod]  # (n, K)
    best = mu.max(axis=1)
    imps = np.zeros((s_n, p_n, k_n))
    clicks = np.zeros((s_n, p_n, k_n))
    kind = params.kind
    x_all = sim.context_matrix(users) if kind.contextual else np.zeros((0, 0))
    zz = sim.variant_features
    stats = LinearStats.empty(_linear_dim(sim), params.ridge) if kind.contextual else None
    actions = np.empty(n, np.int64)
    for start in range(0, n, batch):
        sl = slice(start, min(n, start + batch))
        m = sl.stop - sl.start
        g_s, g_p = seg[sl], prod[sl]
        if kind is PolicyKind.UNIFORM:
            a = rng.integers(0, k_n, m)
        elif kind is PolicyKind.THOMPSON:
            al, be = beta_posterior(imps, clicks, params.prior_alpha, params.prior_beta)
            draws = rng.beta(al[g_s, g_p], be[g_s, g_p])
            a = draws.argmax(axis=1)
            if params.min_explore > 0:
                explore = rng.random(m) < params.min_explore
                a[explore] = rng.integers(0, k_n, int(explore.sum()))
        elif kind is PolicyKind.EPSILON_GREEDY:
            pr = epsilon_greedy_probs(
                imps.reshape(-1, k_n),
                clicks.reshape(-1, k_n),
                params.epsilon,
                params.prior_alpha,
                params.prior_beta,
            )
            a = sample_actions(pr.reshape(s_n, p_n, k_n)[g_s, g_p], rng)
        else:
            assert stats is not None
            zz1 = np.hstack([np.ones((k_n, 1)), zz])
            phi = np.einsum("mi,kj->mkij", x_all[sl], zz1).reshape(m, k_n, -1)  # joint_features
            theta = stats.theta()
            from scipy.linalg import solve_triangular

            chol = stats.cholesky()
            if kind is PolicyKind.LIN_TS:
                z = rng.standard_normal((stats.dim, m))
                dtheta = solve_triangular(chol.T, z, lower=False)  # (d, m) ~ N(0, A⁻¹)
                sc = phi @ theta + params.ts_scale * np.einsum("mkd,dm->mk", phi, dtheta)
            else:
                w = solve_triangular(chol, phi.reshape(-1, stats.dim).T, lower=True)
                width = np.sqrt((w * w).sum(axis=0)).reshape(m, k_n)
                sc = phi @ theta + params.ucb_alpha * width
            a = sc.argmax(axis=1)
            if params.min_explore > 0:
                explore = rng.random(m) < params.min_explore
                a[explore] = rng.integers(0, k_n, int(explore.sum()))
        actions[sl] = a
        r = (rng.random(m) < mu[np.arange(sl.start, sl.stop), a]).astype(np.float64)
        np.add.at(imps, (g_s, g_p, a), 1.0)
        np.add.at(clicks, (g_s, g_p, a), r)
        if stats is not None:
            stats.add(phi[np.arange(m), a], r)
    regret = np.cumsum(best - mu[np.arange(n), actions])
    final = _final_probs(sim, params, imps, clicks, stats)
    chosen = _greedy(sim, params, imps, clicks, stats)
    return SimResult(
        policy=kind.value,
        regret=regret,
        clicks=int(clicks.sum()),
        chosen_best=(chosen == sim.best()).astype(np.float64),
        final_probs=final,
    )


def _linear_scores(sim: Simulator, stats: LinearStats) -> F64:
    """(S, K) fitted scores averaged over the irrelevant audience fields."""
    s_n = sim.shape[0]
    theta = stats.theta()
    out = np.zeros((s_n, sim.shape[2]))
    for s in range(s_n):
        x = context_vector(sim.user(s, 0, 0, 0))
        o = 1
        for size in (len(AGE_BANDS), len(AUDIENCE_GENDERS)):
            x[o : o + size] = 1.0 / size
            o += size
        o += len(INTERESTS)
        x[o : o + len(REGIONS)] = 1.0 / len(REGIONS)
        out[s] = joint_features(x, sim.variant_features) @ theta
    return out


def _greedy(
    sim: Simulator,
    params: PolicyParams,
    imps: F64,
    clicks: F64,
    stats: LinearStats | None,
) -> I64:
    """(S, P): the variant the policy currently believes best."""
    p_n = sim.shape[1]
    if stats is not None:
        return np.repeat(_linear_scores(sim, stats).argmax(axis=1)[:, None], p_n, axis=1)
    al, be = beta_posterior(imps, clicks, params.prior_alpha, params.prior_beta)
    return np.asarray((al / (al + be)).argmax(axis=2), np.int64)


def _final_probs(
    sim: Simulator,
    params: PolicyParams,
    imps: F64,
    clicks: F64,
    stats: LinearStats | None,
) -> F64:
    from productstudio.personalize.policies import thompson_probs, uniform_probs

    s_n, p_n, k_n = sim.shape
    out = np.zeros((s_n, p_n, k_n))
    if params.kind is PolicyKind.UNIFORM:
        out[:] = uniform_probs(k_n)
        return out
    if stats is not None:
        g = _greedy(sim, params, imps, clicks, stats)
        out[np.arange(s_n)[:, None], np.arange(p_n)[None, :], g] = 1.0
        return out
    for s in range(s_n):
        for p in range(p_n):
            if params.kind is PolicyKind.THOMPSON:
                out[s, p] = thompson_probs(imps[s, p], clicks[s, p], params)
            else:
                out[s, p] = epsilon_greedy_probs(
                    imps[s, p], clicks[s, p], params.epsilon, params.prior_alpha, params.prior_beta
                )
    return out


def simulate_policies(
    policies: Sequence[PolicyKind | PolicyParams],
    n: int,
    seeds: int,
    *,
    truth_seed: int = 0,
    batch: int = 500,
    points: int = 100,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run each policy for ``seeds`` seeds on the same truth; regret curves (mean ± s.d. at
    ``points`` checkpoints) and a summary with each policy's regret relative to ``uniform``
    (when it is in the list). Policies given as kinds use default settings; a label is the kind
    (plus ``#i`` when a kind repeats)."""
    sim = Simulator.make(seed=truth_seed)
    params = [p if isinstance(p, PolicyParams) else PolicyParams(kind=p) for p in policies]
    labels: list[str] = []
    for p in params:
        label = p.kind.value
        while label in labels:
            label += "#"
        labels.append(label)
    idx = np.unique(np.linspace(0, n - 1, min(points, n)).round().astype(np.int64))
    curves: dict[str, dict[str, list[float]]] = {}
    summary: dict[str, dict[str, Any]] = {}
    done = 0
    for label, p in zip(labels, params, strict=True):
        finals, best, clicks, runs = [], [], [], []
        for s in range(seeds):
            r = run_policy(sim, p, n, seed=1000 + s, batch=batch)
            runs.append(r.regret[idx])
            finals.append(float(r.regret[-1]))
            best.append(float(r.chosen_best.mean()))
            clicks.append(r.clicks)
            done += 1
            if on_progress is not None:
                on_progress(done, len(params) * seeds)
        arr = np.asarray(runs)
        curves[label] = {
            "impression": (idx + 1).tolist(),
            "mean": arr.mean(axis=0).tolist(),
            "sd": arr.std(axis=0).tolist(),
        }
        summary[label] = {
            "params": p.to_dict(),
            "regret_mean": float(np.mean(finals)),
            "regret_sd": float(np.std(finals)),
            "regret_per_seed": finals,
            "clicks_mean": float(np.mean(clicks)),
            "best_variant_share_mean": float(np.mean(best)),
            "best_variant_share_min": float(np.min(best)),
        }
    if "uniform" in summary:
        u = summary["uniform"]["regret_mean"]
        for v in summary.values():
            v["regret_vs_uniform"] = v["regret_mean"] / u if u > 0 else float("nan")
    return {
        "impressions": n,
        "seeds": seeds,
        "batch": batch,
        "truth": {
            "segments": list(sim.segments),
            "variants": list(sim.variant_ids),
            "features": list(FEATURES),
            "products": list(sim.products),
            "ctr": sim.ctr.round(5).tolist(),
            "segment_weights": sim.segment_weights.round(5).tolist(),
        },
        "summary": summary,
        "curves": curves,
    }


def log_uniform(sim: Simulator, n: int, rng: np.random.Generator) -> dict[str, NDArray[Any]]:
    """``n`` impressions logged by the uniform policy: segment, product, action, reward and
    propensity (1/K) — the input of an off-policy evaluation with known truth."""
    k_n = sim.shape[2]
    users = sim.draw_users(n, rng)
    a = rng.integers(0, k_n, n)
    mu = sim.ctr[users["segment"], users["product"], a]
    return {
        "segment": users["segment"],
        "product": users["product"],
        "action": a,
        "reward": (rng.random(n) < mu).astype(np.float64),
        "propensity": np.full(n, 1.0 / k_n),
    }


__all__ = [
    "BACKGROUNDS",
    "FEATURES",
    "PREFERENCES",
    "SEGMENTS",
    "SimResult",
    "Simulator",
    "log_uniform",
    "run_policy",
    "simulate_policies",
    "variant_table",
]
