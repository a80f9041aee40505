"""Off-policy evaluation of a candidate policy on the feedback store's own logs.

The impressions are split in time: the candidate learns from the first ``train_fraction``
(its counts / ridge model as they would have been), and its CTR is estimated on the rest with
IPS, SNIPS and DR (:mod:`productstudio.personalize.ope`) against the logged propensities — the
estimate of what the candidate would have earned had it been deployed for that period.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from productstudio.errors import InvalidParamsError
from productstudio.personalize.context import UserContext, context_vector, joint_features
from productstudio.personalize.ope import Estimator, LoggedData, ctr_interval, evaluate
from productstudio.personalize.policies import (
    LinearStats,
    PolicyKind,
    PolicyParams,
    epsilon_greedy_probs,
    lints_probs,
    linucb_probs,
    mix_uniform,
    thompson_probs,
    uniform_probs,
)
from productstudio.personalize.store import FeedbackStore


def evaluate_store(
    store: FeedbackStore,
    candidate: PolicyParams,
    *,
    train_fraction: float = 0.5,
    estimators: Sequence[Estimator | str] = (Estimator.IPS, Estimator.SNIPS, Estimator.DR),
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Estimate ``candidate``'s CTR from the store's logs (see the module docstring).

    Returns:
        ``{"candidate", "n_train", "n_eval", "logged_ctr", "logged_ctr_ci", "estimates": [...]}``.

    Raises:
        InvalidParamsError: fewer than 20 impressions to evaluate on, or a bad fraction.
    """
    if not 0.0 <= train_fraction < 1.0:
        raise InvalidParamsError(f"train_fraction must be in [0, 1), got {train_fraction}")
    log = store.impressions()
    n_train = int(log.n * train_fraction)
    n_eval = log.n - n_train
    if n_eval < 20:
        raise InvalidParamsError(
            f"only {n_eval} impressions to evaluate on (of {log.n}); record more first"
        )
    products = sorted(set(log.product))
    variants = {p: [v.variant_id for v in store.variants(p, fresh=True)] for p in products}
    k_max = max(len(v) for v in variants.values())
    index = {p: {v: i for i, v in enumerate(vs)} for p, vs in variants.items()}
    groups: dict[tuple[str, str], int] = {}
    rng = np.random.default_rng(seed)

    train = range(n_train)
    counts: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for i in train:
        p, s, v = log.product[i], log.segment[i], log.variant[i]
        if v not in index[p]:
            continue
        n, k = counts.setdefault((p, s), (np.zeros(len(variants[p])), np.zeros(len(variants[p]))))
        n[index[p][v]] += 1
        k[index[p][v]] += log.clicked[i]

    stats: LinearStats | None = None
    names: list[str] = []
    feats: dict[str, np.ndarray] = {}
    if candidate.kind.contextual:
        names = store.feature_names()
        for p in products:
            recs = store.variants(p)
            feats[p] = np.array([[r.features.get(f, 0.0) for f in names] for r in recs])
        dx = context_vector(UserContext(), candidate.numeric_features).size
        stats = LinearStats.empty(dx * (len(names) + 1), candidate.ridge)
        rows, rewards = [], []
        for i in train:
            p, v = log.product[i], log.variant[i]
            if v not in index[p]:
                continue
            x = context_vector(_user(log.context[i]), candidate.numeric_features)
            rows.append(joint_features(x, feats[p][index[p][v]][None, :])[0])
            rewards.append(log.clicked[i])
        if rows:
            stats.add(np.array(rows), np.array(rewards))

    cache: dict[tuple[str, str], np.ndarray] = {}
    acts, rews, props, grp = [], [], [], []
    target = np.zeros((n_eval, k_max))
    kept = 0
    for i in range(n_train, log.n):
        p, s, v = log.product[i], log.segment[i], log.variant[i]
        if v not in index[p]:
            continue
        kk = len(variants[p])
        key = (p, s) if not candidate.kind.contextual else (p, log.context[i])
        probs = cache.get(key)
        if probs is None:
            probs = _probs(
                candidate, kk, counts.get((p, s)), stats, feats.get(p), log.context[i], rng
            )
            cache[key] = probs
        target[kept, :kk] = probs
        acts.append(index[p][v])
        rews.append(log.clicked[i])
        props.append(log.propensity[i])
        grp.append(groups.setdefault((p, s), len(groups)))
        kept += 1
    data = LoggedData(
        actions=np.asarray(acts, np.int64),
        rewards=np.asarray(rews, np.float64),
        propensities=np.asarray(props, np.float64),
        target=target[:kept],
        groups=np.asarray(grp, np.int64),
    )
    ests = evaluate(data, estimators, n_boot=n_boot, confidence=confidence, seed=seed)
    clicks = int(data.rewards.sum())
    return {
        "candidate": candidate.to_dict(),
        "n_train": n_train,
        "n_eval": kept,
        "logged_ctr": clicks / kept if kept else float("nan"),
        "logged_ctr_ci": list(ctr_interval(clicks, kept, confidence)),
        "logging_policies": sorted(set(log.policy[n_train:])),
        "estimates": [e.to_dict() for e in ests],
    }


def _user(ctx: str) -> UserContext:
    return UserContext.from_dict(json.loads(ctx))


def _probs(
    c: PolicyParams,
    k: int,
    counts: tuple[np.ndarray, np.ndarray] | None,
    stats: LinearStats | None,
    z: np.ndarray | None,
    context: str,
    rng: np.random.Generator,
) -> np.ndarray:
    n, clicks = counts if counts is not None else (np.zeros(k), np.zeros(k))
    if c.kind is PolicyKind.UNIFORM:
        return uniform_probs(k)
    if c.kind is PolicyKind.THOMPSON:
        return thompson_probs(n, clicks, c, rng)
    if c.kind is PolicyKind.EPSILON_GREEDY:
        return mix_uniform(
            epsilon_greedy_probs(n, clicks, c.epsilon, c.prior_alpha, c.prior_beta), c.min_explore
        )
    assert stats is not None and z is not None
    phi = joint_features(context_vector(_user(context), c.numeric_features), z)
    if c.kind is PolicyKind.LIN_UCB:
        return linucb_probs(phi, stats, c.ucb_alpha, c.min_explore)
    return lints_probs(phi, stats, c.ts_scale, c.n_samples, rng, c.min_explore)


__all__ = ["evaluate_store"]
