"""The feedback store: choose/record, idempotency, bad events, seeds, concurrent writers."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import uuid
from pathlib import Path

import pytest

from productstudio.errors import EventError, InvalidParamsError
from productstudio.personalize.context import UserContext
from productstudio.personalize.events import Event, EventKind, RecordStatus
from productstudio.personalize.policies import PolicyKind, PolicyParams
from productstudio.personalize.store import FeedbackStore
from productstudio.personalize.variants import VariantRecord

PG_URL = os.environ.get("PRODUCTSTUDIO_TEST_PG_URL")  # read before the env is isolated
NOIR = UserContext.parse("user=u1,interests=noir,gender=women")
FEATS = {"white": {}, "dark": {"bg_dark": 1.0}, "pastel": {"bg_pastel": 1.0}}


def _store(url: str, product: str = "p1") -> FeedbackStore:
    s = FeedbackStore(url)
    s.add_variants([VariantRecord(product, v, features=f) for v, f in FEATS.items()])
    return s


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'fb.sqlite'}"


def _snapshot(s: FeedbackStore, product: str) -> tuple[object, ...]:
    return (
        sum(n for k, n in s.count_events().items()),
        [(r.variant, r.impressions, r.clicks) for r in s.stats(product)],
        s.impressions(product).n,
    )


def test_choose_record_and_count(tmp_path: Path) -> None:
    """A decision's propensity is its variant's probability; clicks count once per impression;
    resending an event is a no-op."""
    s = _store(_sqlite(tmp_path))
    d = s.choose("p1", NOIR)
    assert d.segment == "noir" and d.propensity == d.probabilities[d.variant]
    assert sum(d.probabilities.values()) == pytest.approx(1.0)
    assert s.record(d.impression()).status is RecordStatus.RECORDED
    assert s.record(d.impression()).status is RecordStatus.DUPLICATE
    c1 = s.record(Event(EventKind.CLICK, "c1", impression_id=d.decision_id))
    c2 = s.record(Event(EventKind.CLICK, "c2", impression_id=d.decision_id))
    assert (c1.counted, c2.counted) == (True, False)
    s.record(Event(EventKind.CONVERSION, "v1", impression_id=d.decision_id))
    (row,) = s.stats("p1")
    assert (row.variant, row.impressions, row.clicks, row.conversions) == (d.variant, 1, 1, 1)
    assert s.count_events() == {"impression": 1, "click": 2, "conversion": 1}


@pytest.mark.parametrize(
    "event,reason",
    [
        (
            Event(EventKind.IMPRESSION, "e1", product="p1", variant="neon", propensity=0.3),
            "unknown_variant",
        ),
        (Event(EventKind.CLICK, "e2", impression_id="never-shown"), "unknown_impression"),
    ],
)
def test_bad_events_store_nothing(tmp_path: Path, event: Event, reason: str) -> None:
    """Unknown variant / impression: EventError naming the problem, nothing recorded."""
    s = _store(_sqlite(tmp_path))
    s.choose("p1", NOIR, record=True)
    before = _snapshot(s, "p1")
    with pytest.raises(EventError) as info:
        s.record(event)
    assert info.value.reason == reason and event.event_id in str(info.value)
    assert _snapshot(s, "p1") == before


def test_missing_propensity_and_duplicate_id(tmp_path: Path) -> None:
    """An impression without a propensity is refused before the store; a different event under
    a used id is refused and the original stays."""
    with pytest.raises(EventError, match="propensity") as info:
        Event(EventKind.IMPRESSION, "x", product="p1", variant="dark")
    assert info.value.reason == "missing_propensity"
    with pytest.raises(EventError, match="propensity"):
        Event.from_dict(
            {
                "type": "impression",
                "event_id": "x",
                "product": "p1",
                "variant": "dark",
                "propensity": 0,
            }
        )
    s = _store(_sqlite(tmp_path))
    d = s.choose("p1", NOIR, record=True)
    before = _snapshot(s, "p1")
    other = "white" if d.variant != "white" else "dark"
    clash = Event(EventKind.IMPRESSION, d.decision_id, product="p1", variant=other, propensity=0.5)
    with pytest.raises(EventError, match="already used") as info:
        s.record(clash)
    assert info.value.reason == "duplicate_id"
    assert _snapshot(s, "p1") == before
    assert s.impressions("p1").variant == [d.variant]


def test_same_seed_same_decisions(tmp_path: Path) -> None:
    """Two stores with the same seed and history make identical decision sequences; a
    decision id alone reproduces a decision."""
    seqs = []
    for name in ("a", "b"):
        s = FeedbackStore(f"sqlite:///{tmp_path / name}.sqlite")
        s.add_variants([VariantRecord("p1", v) for v in FEATS])
        s.configure(seed=7)
        seq = []
        for i in range(40):
            d = s.choose("p1", NOIR, decision_id=f"d{i}", record=True)
            if i % 3 == 0:
                s.record(Event(EventKind.CLICK, f"c{i}", impression_id=d.decision_id))
            seq.append((d.variant, round(d.propensity, 12)))
        seq += [(s.choose("p1", NOIR).variant, 0.0) for _ in range(20)]
        seqs.append(seq)
    assert seqs[0] == seqs[1]
    assert len({v for v, _ in seqs[0]}) > 1


@pytest.mark.parametrize("kind", list(PolicyKind))
def test_every_policy_chooses_with_a_distribution(tmp_path: Path, kind: PolicyKind) -> None:
    """All five policies return a probability vector and a propensity from it."""
    s = _store(_sqlite(tmp_path))
    for i in range(30):
        d = s.choose("p1", NOIR, record=True)
        if d.variant == "dark":
            s.record(Event(EventKind.CLICK, f"c{i}", impression_id=d.decision_id))
    d = s.choose("p1", NOIR, policy=PolicyParams(kind=kind))
    assert d.policy == kind.value and sum(d.probabilities.values()) == pytest.approx(1.0)
    assert d.propensity == d.probabilities[d.variant] > 0


def test_unknown_product_is_a_clear_error(tmp_path: Path) -> None:
    s = _store(_sqlite(tmp_path))
    with pytest.raises(InvalidParamsError, match="no variants"):
        s.choose("p2", NOIR)


def _hammer(url: str, worker: int, n: int) -> None:
    s = FeedbackStore(url)
    for i in range(n):
        d = s.choose("p1", NOIR, decision_id=f"w{worker}-{i}")
        ev = d.impression()
        s.record(ev)
        s.record(ev)  # retry: must not double count
        s.record(Event(EventKind.CLICK, f"w{worker}-{i}-c", impression_id=d.decision_id))
        s.record(Event(EventKind.CLICK, f"w{worker}-{i}-c2", impression_id=d.decision_id))
    s.close()


def _check_exact(url: str, workers: int, n: int) -> None:
    s = FeedbackStore(url)
    rows = s.stats("p1")
    assert sum(r.impressions for r in rows) == workers * n
    assert sum(r.clicks for r in rows) == workers * n
    assert s.impressions("p1").n == workers * n


def test_concurrent_threads_sqlite(tmp_path: Path) -> None:
    """4 threads, each with its own store object: nothing lost or double counted."""
    url = _sqlite(tmp_path)
    _store(url).close()
    ts = [threading.Thread(target=_hammer, args=(url, w, 25)) for w in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    _check_exact(url, 4, 25)


def test_concurrent_processes_sqlite(tmp_path: Path) -> None:
    """3 processes writing the same SQLite file: exact counts."""
    url = _sqlite(tmp_path)
    _store(url).close()
    ctx = mp.get_context("fork")
    ps = [ctx.Process(target=_hammer, args=(url, w, 20)) for w in range(3)]
    for p in ps:
        p.start()
    for p in ps:
        p.join(120)
        assert p.exitcode == 0
    _check_exact(url, 3, 20)


@pytest.mark.postgres
@pytest.mark.skipif(
    PG_URL is None, reason="PRODUCTSTUDIO_TEST_PG_URL not set (CI starts PostgreSQL)"
)
def test_concurrent_writers_postgres() -> None:
    """PostgreSQL: 3 processes + 2 threads on one product: exact counts, retries no-ops."""
    assert PG_URL is not None
    product = f"pg-{uuid.uuid4().hex[:10]}"
    s = _store(PG_URL, product)
    s.close()

    def run(worker: int) -> None:
        st = FeedbackStore(PG_URL)
        for i in range(15):
            d = st.choose(product, NOIR, decision_id=f"{product}-w{worker}-{i}")
            st.record(d.impression())
            st.record(d.impression())
            st.record(
                Event(EventKind.CLICK, f"{product}-w{worker}-{i}-c", impression_id=d.decision_id)
            )
        st.close()

    ctx = mp.get_context("fork")
    ps = [ctx.Process(target=run, args=(w,)) for w in range(3)]
    ts = [threading.Thread(target=run, args=(w,)) for w in (3, 4)]
    for x in [*ps, *ts]:
        x.start()
    for t in ts:
        t.join()
    for p in ps:
        p.join(120)
        assert p.exitcode == 0
    st = FeedbackStore(PG_URL)
    rows = st.stats(product)
    assert sum(r.impressions for r in rows) == 75 and sum(r.clicks for r in rows) == 75
    with pytest.raises(EventError):
        st.record(
            Event(
                EventKind.IMPRESSION,
                f"{product}-x",
                product=product,
                variant="neon",
                propensity=0.5,
            )
        )
