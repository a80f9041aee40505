"""The job store on SQLite (default) and PostgreSQL (CI starts one on 127.0.0.1)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from productstudio.catalog.store import JobStore, SourceStamp, Status

PG_URL = os.environ.get("PRODUCTSTUDIO_TEST_PG_URL")  # read before the env is isolated


def _exercise(store: JobStore, tmp_path: Path) -> None:
    src = tmp_path / "a.jpg"
    src.write_bytes(b"x")
    out = tmp_path / "a.out.jpg"
    stamp = SourceStamp.of(src)
    key = f"k-{uuid.uuid4().hex[:8]}"
    assert not store.is_done(key, "s1", stamp, out)
    store.record(key, "s1", src, stamp, out, Status.DONE, "", 0.5)
    assert not store.is_done(key, "s1", stamp, out)  # output file missing
    out.write_bytes(b"y")
    assert store.is_done(key, "s1", stamp, out)
    assert not store.is_done(key, "s2", stamp, out)  # other settings
    store.record(key, "s1", src, stamp, None, Status.FAILED, "bad", 0.1)
    assert not store.is_done(key, "s1", stamp, out)
    rows = [r for r in store.rows("s1") if r.key == key]
    assert [(r.status, r.message) for r in rows] == [("failed", "bad")]


def test_sqlite_store(tmp_path: Path) -> None:
    store = JobStore.sqlite(tmp_path / "jobs.sqlite")
    _exercise(store, tmp_path)
    store.close()


@pytest.mark.postgres
@pytest.mark.skipif(
    PG_URL is None, reason="PRODUCTSTUDIO_TEST_PG_URL not set (CI starts PostgreSQL)"
)
def test_postgres_store(tmp_path: Path) -> None:
    assert PG_URL is not None
    store = JobStore(PG_URL)
    _exercise(store, tmp_path)
    store.close()
