"""The known-truth simulator: policies learn, seeds reproduce, the summary is consistent."""

from __future__ import annotations

import numpy as np

from productstudio.personalize.policies import PolicyKind, PolicyParams
from productstudio.personalize.simulate import Simulator, run_policy, simulate_policies


def test_truth_encodes_the_audience_preferences() -> None:
    """The noir audience's best variant has a dark background; pastel's a pastel one."""
    sim = Simulator.make(seed=0)
    best = sim.best()
    ids = sim.variant_ids
    assert all(ids[k].startswith("dark") for k in best[sim.segments.index("noir")])
    assert all(ids[k].startswith("pastel") for k in best[sim.segments.index("pastel")])


def test_same_seed_same_run_and_learning_beats_uniform() -> None:
    """Seeded runs repeat exactly; Thompson sampling and LinTS beat uniform at 20k."""
    sim = Simulator.make(seed=0)
    a = run_policy(sim, PolicyParams(), 20_000, seed=3)
    b = run_policy(sim, PolicyParams(), 20_000, seed=3)
    assert np.array_equal(a.regret, b.regret) and a.clicks == b.clicks
    u = run_policy(sim, PolicyParams(kind=PolicyKind.UNIFORM), 20_000, seed=3)
    lts = run_policy(sim, PolicyParams(kind=PolicyKind.LIN_TS), 20_000, seed=3)
    assert a.regret[-1] < 0.8 * u.regret[-1]
    assert lts.regret[-1] < 0.5 * u.regret[-1]
    assert np.allclose(a.final_probs.sum(axis=2), 1.0)


def test_simulate_policies_summary() -> None:
    """Uniform's ratio to itself is 1; curves are monotone (regret only grows)."""
    res = simulate_policies([PolicyKind.UNIFORM, PolicyKind.EPSILON_GREEDY], 3000, 2, points=20)
    assert res["summary"]["uniform"]["regret_vs_uniform"] == 1.0
    mean = np.array(res["curves"]["epsilon-greedy"]["mean"])
    assert len(mean) == 20 and np.all(np.diff(mean) >= 0)
