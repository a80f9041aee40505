"""The job store on SQLite and PostgreSQL: schema versions, claims, leases, fencing."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import pytest

from productstudio.catalog.store import (
    SCHEMA_VERSION,
    JobStore,
    Outcome,
    PlannedItem,
    RunState,
    Status,
)
from productstudio.errors import JobError

PG_URL = os.environ.get("PRODUCTSTUDIO_TEST_PG_URL")  # read before the env is isolated
needs_pg = pytest.mark.skipif(
    PG_URL is None, reason="PRODUCTSTUDIO_TEST_PG_URL not set (CI starts PostgreSQL)"
)


def _run(store: JobStore, scope: str, lease: float = 60.0) -> str:
    rid = uuid.uuid4().hex
    store.start_run(
        rid,
        scope=scope,
        output="o",
        source="s",
        jobs=[],
        executor="serial",
        workers=1,
        lease_s=lease,
    )
    return rid


def _plan(n: int, job: str = "j1") -> list[PlannedItem]:
    return [
        PlannedItem(f"k{i:03d}", "main", f"/in/{i}.jpg", f"/out/{i}.jpg", job) for i in range(n)
    ]


def _exercise(store: JobStore) -> None:
    scope = uuid.uuid4().hex
    a = _run(store, scope)
    reg = store.register(a, scope, _plan(5))
    assert (reg.pending, reg.skipped) == (5, [])
    got = store.claim(a, scope, 3, 60.0)
    assert [c.key for c in got] == ["k000", "k001", "k002"]
    b = _run(store, scope)
    store.register(b, scope, _plan(5))  # a second runner lists the same catalogue
    other = store.claim(b, scope, 10, 60.0, listed_by=[a, b])
    assert [c.key for c in other] == ["k003", "k004"]  # never an item that a holds
    lost = store.commit(b, [Outcome(got[0].id, Status.DONE, output_size=1)])
    assert lost == [got[0].id]  # fenced: b does not hold it
    assert store.commit(a, [Outcome(c.id, Status.DONE, output_size=1) for c in got]) == []
    store.commit(b, [Outcome(other[0].id, Status.FAILED, "bad file")])
    store.finish_run(b, RunState.INTERRUPTED, 5)  # gives k004 back
    assert store.counts(scope) == {"done": 3, "failed": 1, "pending": 1}
    # a new listing: done items for the same job are skipped when unchanged
    c = _run(store, scope)
    reg = store.register(c, scope, _plan(5), is_unchanged=lambda row: True)
    assert (reg.pending, len(reg.skipped)) == (2, 3)
    reg = store.register(_run(store, scope), scope, _plan(5, job="j2"))
    assert (reg.pending, reg.skipped) == (5, [])  # another job: everything again


def test_sqlite_store(tmp_path: Path) -> None:
    store = JobStore.sqlite(tmp_path / "jobs.sqlite")
    assert store.schema_version() == SCHEMA_VERSION
    _exercise(store)
    store.close()


@pytest.mark.postgres
@needs_pg
def test_postgres_store() -> None:
    assert PG_URL is not None
    store = JobStore(PG_URL)
    _exercise(store)
    store.close()


def test_lease_expiry_and_dead_local_runner(tmp_path: Path) -> None:
    """An expired lease makes an item claimable again; a run whose process is gone on this
    host is marked crashed and its items released at once."""
    store = JobStore.sqlite(tmp_path / "j.sqlite")
    scope = "s"
    a = _run(store, scope, lease=0.05)
    store.register(a, scope, _plan(2))
    held = store.claim(a, scope, 2, 0.05)
    time.sleep(0.1)  # let the 50 ms lease lapse (what a frozen runner looks like)
    b = _run(store, scope)
    again = store.claim(b, scope, 5, 60.0, listed_by=[a, b])
    assert [c.id for c in again] == [c.id for c in held]
    # a dead process on this host: pid that cannot exist
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE ps_runs SET pid = 2147483000 WHERE id = ?", (b,))
    assert set(store.recover(scope)) == {a, b}  # a: heartbeat too old; b: process gone
    assert {r["id"]: r["state"] for r in store.runs(scope)}[b] == "crashed"
    assert store.counts(scope) == {"pending": 2}
    store.close()


def test_migrates_a_version_0_store(tmp_path: Path) -> None:
    """The pre-lease store (ps_items keyed by key+settings) is upgraded in place and kept."""
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)
    con.execute(
        "CREATE TABLE ps_items (key VARCHAR(1024), settings VARCHAR(64), source TEXT, "
        "source_size INTEGER, source_mtime FLOAT, output TEXT, status VARCHAR(16), message TEXT, "
        "seconds FLOAT, updated FLOAT, PRIMARY KEY (key, settings))"
    )
    con.execute("INSERT INTO ps_items VALUES ('a','s','a.jpg',1,1.0,'o/a.jpg','done','',0,0)")
    con.commit()
    con.close()
    store = JobStore(f"sqlite:///{db}")
    assert store.schema_version() == SCHEMA_VERSION
    assert store.counts() == {}
    with store.engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT key FROM ps_items_v0").scalars().all() == ["a"]
    store.close()
    assert JobStore(f"sqlite:///{db}").schema_version() == SCHEMA_VERSION  # idempotent


def test_newer_schema_and_bad_urls_are_clear(tmp_path: Path) -> None:
    db = tmp_path / "new.sqlite"
    store = JobStore(f"sqlite:///{db}")
    with store.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO ps_schema VALUES (99, 0, 'future')")
    store.close()
    with pytest.raises(JobError, match="newer than this ProductStudio"):
        JobStore(f"sqlite:///{db}")
    with pytest.raises(JobError, match="not a database URL"):
        JobStore("nosuch")
    with pytest.raises(JobError, match=r"Cannot open the job store postgresql\+psycopg://u:\*\*\*"):
        JobStore("postgresql+psycopg://u:secret@127.0.0.1:1/db")


def _hammer(url: str, scope: str, runs: list[str], got: dict[str, list[int]]) -> None:
    store = JobStore(url)
    rid = uuid.uuid4().hex
    store.start_run(
        rid, scope=scope, output="o", source="s", jobs=[], executor="serial", workers=1, lease_s=60
    )
    mine: list[int] = []
    while True:
        batch = store.claim(rid, scope, 2, 60.0, listed_by=runs)
        if not batch:
            break
        mine += [c.id for c in batch]
        store.commit(rid, [Outcome(c.id, Status.DONE) for c in batch])
    got[rid] = mine
    store.close()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, needs_pg])]
)
def test_concurrent_claimers_never_share_an_item(tmp_path: Path, backend: str) -> None:
    """Three claimers (threads with their own connections) drain one catalogue: every item
    is claimed exactly once."""
    url = f"sqlite:///{tmp_path / 'c.sqlite'}" if backend == "sqlite" else str(PG_URL)
    store = JobStore(url)
    scope = uuid.uuid4().hex
    lister = _run(store, scope)
    store.register(lister, scope, _plan(120))
    got: dict[str, list[int]] = {}
    threads = [threading.Thread(target=_hammer, args=(url, scope, [lister], got)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for v in got.values() for i in v]
    assert len(ids) == 120 and len(set(ids)) == 120
    assert store.counts(scope) == {"done": 120}
    store.close()
