"""Benchmark: personalised image variants that learn from clicks (issue 13).

(a) Simulator with known truth (``productstudio.personalize.simulate``): cumulative expected
    regret of each policy over ``--impressions`` impressions × ``--seeds`` seeds, relative to
    uniform (same seeds, same truth), and the share of segment × product groups whose best
    variant the policy found. Plus an off-policy-evaluation study on the same truth: uniform logs,
    target = the best variant per segment; bias, RMSE and 95 % CI coverage over replications.
(b) Open Bandit Dataset (../shared/data/bandit): the ``bts`` policy's action distribution from
    ``prior_bts.yaml`` (Monte Carlo, slots = ranks of the Beta draws, as the dataset's policy);
    IPS / SNIPS / DR estimates of its CTR from the ``random`` logs vs its observed on-policy CTR,
    per campaign, with bootstrap 95 % CIs, relative error and coverage. The reverse direction
    (``random`` estimated from the ``bts`` logs with their true logged propensities) too.
(c) Throughput of ``choose`` + ``record`` on SQLite and PostgreSQL (decisions/s, p50/p95
    latency), next to a bare one-row insert transaction on the same database (the baseline).

    OMP_NUM_THREADS=1 python benchmarks/personalise.py            # all parts (~5 min, 2 cores)
    python benchmarks/personalise.py --parts sim --seeds 2 --impressions 20000   # quick look
    python benchmarks/personalise.py --pg-url postgresql+psycopg://postgres@127.0.0.1:55432/personalize

Writes ``benchmarks/results/personalise.json``.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, shared_root, write_results

ROOT = Path(__file__).resolve().parents[1]


# -- (a) simulator -----------------------------------------------------------------------------
def bench_simulator(impressions: int, seeds: int) -> dict[str, Any]:
    from productstudio.personalize.policies import PolicyKind, PolicyParams
    from productstudio.personalize.simulate import simulate_policies

    policies = [
        PolicyParams(kind=PolicyKind.UNIFORM),
        PolicyParams(kind=PolicyKind.EPSILON_GREEDY, epsilon=0.1),
        PolicyParams(kind=PolicyKind.THOMPSON),
        PolicyParams(kind=PolicyKind.THOMPSON, prior_alpha=1.0, prior_beta=30.0),
        PolicyParams(kind=PolicyKind.LIN_TS),
        PolicyParams(kind=PolicyKind.LIN_UCB),
    ]
    t = time.perf_counter()
    res = simulate_policies(policies, impressions, seeds, points=100)
    res["seconds"] = time.perf_counter() - t
    labels = {"thompson#": "thompson, Beta(1, 30) prior"}
    res["summary"] = {labels.get(k, k): v for k, v in res["summary"].items()}
    res["curves"] = {labels.get(k, k): v for k, v in res["curves"].items()}
    res["targets"] = {
        "thompson_regret_vs_uniform_max": 0.25,
        "best_variant_share_min": 0.90,
    }
    return res


def bench_sim_ope(reps: int, n: int, n_boot: int) -> dict[str, Any]:
    from productstudio.personalize.ope import LoggedData, evaluate
    from productstudio.personalize.simulate import Simulator, log_uniform

    sim = Simulator.make(seed=0)
    s_n, p_n, k_n = sim.shape
    best = np.zeros((s_n, p_n, k_n))
    best[np.arange(s_n)[:, None], np.arange(p_n)[None, :], sim.best()] = 1.0
    mixed = 0.5 * best + 0.5 / k_n  # a stochastic target too
    out: dict[str, Any] = {"reps": reps, "n": n, "n_boot": n_boot, "targets": {}}
    rng = np.random.default_rng(42)
    for name, target in (("best-per-segment", best), ("half-best-half-uniform", mixed)):
        truth = sim.value(target)
        per: dict[str, list[tuple[float, bool, float]]] = {}
        for rep in range(reps):
            log = log_uniform(sim, n, rng)
            data = LoggedData(
                log["action"],
                log["reward"],
                log["propensity"],
                target[log["segment"], log["product"]],
                log["segment"] * p_n + log["product"],
            )
            for e in evaluate(data, ("ips", "snips", "dr"), n_boot=n_boot, seed=rep):
                per.setdefault(e.estimator, []).append(
                    (e.value - truth, e.covers(truth), e.ci_high - e.ci_low)
                )
        out["targets"][name] = {
            "true_ctr": truth,
            "logged_ctr_expected": sim.value(np.full((s_n, p_n, k_n), 1.0 / k_n)),
            "estimators": {
                k: {
                    "bias": float(np.mean([x[0] for x in v])),
                    "bias_se": float(np.std([x[0] for x in v]) / np.sqrt(len(v))),
                    "rmse": float(np.sqrt(np.mean([x[0] ** 2 for x in v]))),
                    "coverage": float(np.mean([x[1] for x in v])),
                    "mean_ci_width": float(np.mean([x[2] for x in v])),
                }
                for k, v in per.items()
            },
        }
    return out


# -- (b) Open Bandit Dataset ---------------------------------------------------------------------
def _load_obd(path: Path) -> dict[str, np.ndarray]:
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {
        "item": np.array([int(r["item_id"]) for r in rows]),
        "slot": np.array([int(r["position"]) - 1 for r in rows]),
        "click": np.array([float(r["click"]) for r in rows]),
        "pscore": np.array([float(r["propensity_score"]) for r in rows]),
    }


def bench_obd(n_sim: int, n_boot: int) -> dict[str, Any]:
    import yaml

    from productstudio.personalize.ope import LoggedData, ctr_interval, evaluate
    from productstudio.personalize.policies import slot_distribution

    root = shared_root() / "data" / "bandit" / "obd"
    prior = yaml.safe_load((root / "prior_bts.yaml").read_text())
    out: dict[str, Any] = {"n_sim": n_sim, "n_boot": n_boot, "campaigns": {}}
    for camp in ("men", "women"):
        t = time.perf_counter()
        alpha = np.asarray(prior[camp]["alpha"], np.float64)
        beta = np.asarray(prior[camp]["beta"], np.float64)
        k = alpha.size
        dist = slot_distribution(alpha, beta, 3, n_sim, np.random.default_rng(0))
        rnd = _load_obd(root / "random" / camp / f"{camp}.csv")
        bts = _load_obd(root / "bts" / camp / f"{camp}.csv")
        # how close is the prior's distribution to what production bts logged?
        tot = np.zeros((k, 3))
        cnt = np.zeros((k, 3))
        np.add.at(tot, (bts["item"], bts["slot"]), bts["pscore"])
        np.add.at(cnt, (bts["item"], bts["slot"]), 1.0)
        seen = cnt > 0
        logged_mean = tot[seen] / cnt[seen]
        observed = float(bts["click"].mean())
        obs_ci = ctr_interval(int(bts["click"].sum()), bts["click"].size)
        data = LoggedData(
            rnd["item"], rnd["click"], rnd["pscore"], dist[:, rnd["slot"]].T, rnd["slot"]
        )
        ests = evaluate(data, ("ips", "snips", "dr"), n_boot=n_boot, seed=0)
        # reverse: random's CTR from the bts logs (true logged propensities, uniform target)
        rev = LoggedData(
            bts["item"],
            bts["click"],
            bts["pscore"],
            np.full((bts["item"].size, k), 1.0 / k),
            bts["slot"],
        )
        rests = evaluate(rev, ("ips", "snips", "dr"), n_boot=n_boot, seed=0)
        r_obs = float(rnd["click"].mean())

        def pack(es: list[Any], truth: float) -> dict[str, Any]:
            return {
                e.estimator: {
                    **e.to_dict(),
                    "observed": truth,
                    "bias": e.value - truth,
                    "relative_error": (e.value - truth) / truth,
                    "covers_observed": e.covers(truth),
                }
                for e in es
            }

        out["campaigns"][camp] = {
            "items": k,
            "random_rows": int(rnd["click"].size),
            "bts_rows": int(bts["click"].size),
            "bts_observed_ctr": observed,
            "bts_observed_ctr_wilson95": list(obs_ci),
            "bts_clicks": int(bts["click"].sum()),
            "random_observed_ctr": r_obs,
            "random_clicks": int(rnd["click"].sum()),
            "prior_vs_logged_bts_propensity": {
                "pearson_r": float(np.corrcoef(logged_mean, dist[seen])[0, 1]),
                "max_abs_diff": float(np.max(np.abs(logged_mean - dist[seen]))),
                "mean_abs_diff": float(np.mean(np.abs(logged_mean - dist[seen]))),
            },
            "bts_from_random": pack(ests, observed),
            "random_from_bts": pack(rests, r_obs),
            "seconds": time.perf_counter() - t,
        }
    cov = [
        v["covers_observed"]
        for c in out["campaigns"].values()
        for key in ("bts_from_random",)
        for v in c[key].values()
    ]
    out["coverage_bts_from_random"] = float(np.mean(cov))
    return out


# -- (c) throughput ------------------------------------------------------------------------------
def _bare_insert_latency(url: str, n: int) -> list[float]:
    from sqlalchemy import Column, Float, MetaData, String, Table, create_engine

    md = MetaData()
    t = Table(
        "ps_fb_bench_baseline", md, Column("id", String(64), primary_key=True), Column("ts", Float)
    )
    eng = create_engine(url, future=True)
    md.create_all(eng)
    lat = []
    for _ in range(n):
        s = time.perf_counter()
        with eng.begin() as c:
            c.execute(t.insert().values(id=uuid.uuid4().hex, ts=time.time()))
        lat.append(time.perf_counter() - s)
    md.drop_all(eng)
    eng.dispose()
    return lat


def bench_throughput(url: str, n: int, threads: int) -> dict[str, Any]:
    from productstudio.personalize.context import UserContext
    from productstudio.personalize.events import Event, EventKind
    from productstudio.personalize.simulate import Simulator
    from productstudio.personalize.store import FeedbackStore
    from productstudio.personalize.variants import VariantRecord

    sim = Simulator.make(seed=0)
    product = f"bench-{uuid.uuid4().hex[:8]}"
    store = FeedbackStore(url)
    store.add_variants(
        [
            VariantRecord(
                product,
                v,
                features=dict(
                    zip(("bg_dark", "bg_pastel", "bg_vivid", "shadow"), z.tolist(), strict=True)
                ),
            )
            for v, z in zip(sim.variant_ids, sim.variant_features, strict=True)
        ]
    )
    users = [
        UserContext.parse(f"user=u{i},interests={s}")
        for i, s in enumerate(("noir", "pastel", "vivid", "sport"))
    ]

    def loop(
        st: FeedbackStore, count: int, tag: str, lat: list[float], rng: np.random.Generator
    ) -> None:
        for i in range(count):
            s = time.perf_counter()
            d = st.choose(product, users[i % len(users)], decision_id=f"{tag}-{i}")
            st.record(d.impression())
            if rng.random() < 0.05:
                st.record(Event(EventKind.CLICK, f"{tag}-{i}-c", impression_id=d.decision_id))
            lat.append(time.perf_counter() - s)

    warm: list[float] = []
    loop(store, 20, f"{product}-warm", warm, np.random.default_rng(0))
    seq: list[float] = []
    t = time.perf_counter()
    loop(store, n, f"{product}-seq", seq, np.random.default_rng(1))
    seq_s = time.perf_counter() - t
    par: list[float] = []
    stores = [FeedbackStore(url) for _ in range(threads)]
    ths = [
        threading.Thread(
            target=loop,
            args=(stores[k], n // threads, f"{product}-t{k}", par, np.random.default_rng(10 + k)),
        )
        for k in range(threads)
    ]
    t = time.perf_counter()
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    par_s = time.perf_counter() - t
    base = _bare_insert_latency(url, n)
    rows = store.stats(product)
    exact = sum(r.impressions for r in rows) == 20 + n + threads * (n // threads)
    for st in (store, *stores):
        st.close()

    def q(v: list[float], p: float) -> float:
        return float(np.percentile(v, p) * 1000)

    return {
        "backend": url.split(":", 1)[0],
        "policy": "thompson (quadrature propensities)",
        "n": n,
        "sequential": {
            "decisions_per_s": n / seq_s,
            "p50_ms": q(seq, 50),
            "p95_ms": q(seq, 95),
        },
        f"threads_{threads}": {
            "decisions_per_s": threads * (n // threads) / par_s,
            "p50_ms": q(par, 50),
            "p95_ms": q(par, 95),
        },
        "baseline_bare_insert": {"p50_ms": q(base, 50), "p95_ms": q(base, 95)},
        "ratio_p50_vs_bare_insert": q(seq, 50) / q(base, 50),
        "counts_exact": exact,
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--parts", default="sim,simope,obd,throughput")
    ap.add_argument("--impressions", type=int, default=100_000)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--ope-reps", type=int, default=100)
    ap.add_argument("--obd-sims", type=int, default=1_000_000)
    ap.add_argument("--boot", type=int, default=2000)
    ap.add_argument("--throughput-n", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--pg-url",
        default=os.environ.get(
            "PRODUCTSTUDIO_BENCH_PG_URL",
            "postgresql+psycopg://postgres@127.0.0.1:55432/personalize",
        ),
    )
    ap.add_argument("--json", type=Path, default=RESULTS / "personalise.json")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    load_before = os.getloadavg()
    results: list[dict[str, Any]] = []
    if "sim" in parts:
        results.append(
            {"case": "simulator_regret", **bench_simulator(args.impressions, args.seeds)}
        )
        s = results[-1]["summary"]
        for k, v in s.items():
            print(
                f"{k:30s} regret {v['regret_mean']:8.1f} ± {v['regret_sd']:6.1f}  vs uniform "
                f"{v.get('regret_vs_uniform', float('nan')):.3f}  "
                f"best {v['best_variant_share_mean']:.2f}"
            )
    if "simope" in parts:
        results.append({"case": "simulator_ope", **bench_sim_ope(args.ope_reps, 10_000, 400)})
        for tname, tv in results[-1]["targets"].items():
            for k, v in tv["estimators"].items():
                print(
                    f"OPE sim {tname:24s} {k:6s} bias {v['bias']:+.5f} rmse {v['rmse']:.5f} "
                    f"coverage {v['coverage']:.2f}"
                )
    if "obd" in parts:
        results.append({"case": "open_bandit_dataset", **bench_obd(args.obd_sims, args.boot)})
        for camp, c in results[-1]["campaigns"].items():
            for k, v in c["bts_from_random"].items():
                print(
                    f"OBD {camp:6s} bts {k:6s} {v['value']:.5f} "
                    f"[{v['ci_low']:.5f}, {v['ci_high']:.5f}] observed {v['observed']:.5f} "
                    f"rel.err {v['relative_error']:+.2f} covers {v['covers_observed']}"
                )
    if "throughput" in parts:
        with tempfile.TemporaryDirectory() as d:
            for url in (f"sqlite:///{d}/bench.sqlite", args.pg_url):
                try:
                    results.append(
                        {
                            "case": "throughput",
                            **bench_throughput(url, args.throughput_n, args.threads),
                        }
                    )
                except Exception as exc:  # PostgreSQL not running: say so in the JSON
                    results.append(
                        {
                            "case": "throughput",
                            "backend": url.split(":", 1)[0],
                            "error": f"{type(exc).__name__}: {exc}",
                        }
                    )
                r = results[-1]
                print("throughput", r.get("backend"), r.get("sequential", r.get("error")))
    path = write_results(
        "personalise",
        results,
        args.json,
        command=" ".join([Path(sys.executable).name, *sys.argv]),
        load_avg_before=load_before,
        load_avg_after=os.getloadavg(),
        threads={
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "benchmark_threads": args.threads,
        },
        versions_extra={
            "scipy": __import__("scipy").__version__,
            "sqlalchemy": __import__("sqlalchemy").__version__,
        },
    )
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
