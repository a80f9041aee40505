"""The server's store (keys, jobs) on SQLite and PostgreSQL; a batch job's items land in the
catalogue's own table of the same database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from productstudio.server.jobs import run_batch_job
from productstudio.server.store import JobKind, JobStatus, ServerStore, hash_key

PG_URL = os.environ.get("PRODUCTSTUDIO_TEST_PG_URL")  # read before the env is isolated


def _exercise(store: ServerStore) -> None:
    key, info = store.add_key("shop")
    assert store.find_key(key) is not None and store.find_key(key + "x") is None
    assert hash_key(key) != key
    job = store.create_job(JobKind.BATCH, {"preset": "ebay"}, total=3, key_id=info.id)
    assert store.get_job(job.id) is not None
    claimed = store.claim_next()
    assert claimed is not None and claimed.id == job.id and claimed.status is JobStatus.RUNNING
    assert store.claim_next() is None or store.claim_next().id != job.id  # type: ignore[union-attr]
    store.progress(job.id, 2, 3, 1, "2/3")
    got = store.get_job(job.id)
    assert got is not None and (got.done, got.total, got.failed) == (2, 3, 1)
    assert store.finish(job.id, JobStatus.CANCELLED, "cancelled")
    assert not store.finish(job.id, JobStatus.DONE, "late")  # a cancel wins over a late done
    final = store.get_job(job.id)
    assert final is not None and final.status is JobStatus.CANCELLED
    assert [j.id for j in store.jobs(key_id=info.id)] == [job.id]
    store.delete_job(job.id)
    assert store.get_job(job.id) is None
    assert store.revoke_key(info.id) and store.find_key(key) is None


def test_sqlite_store(tmp_path: Path) -> None:
    store = ServerStore(f"sqlite:///{tmp_path / 'sub' / 'server.sqlite'}")
    try:
        _exercise(store)
    finally:
        store.close()


@pytest.mark.postgres
@pytest.mark.skipif(
    PG_URL is None, reason="PRODUCTSTUDIO_TEST_PG_URL not set (CI starts PostgreSQL)"
)
def test_postgres_store_and_batch_items(tmp_path: Path, photo_path: Path) -> None:
    """Keys and jobs on PostgreSQL; the batch entry point records its items there too."""
    assert PG_URL is not None
    store = ServerStore(PG_URL)
    try:
        _exercise(store)
    finally:
        store.close()
    src = tmp_path / "in" / "0000_carton.jpg"
    src.parent.mkdir()
    src.write_bytes(photo_path.read_bytes())
    items = run_batch_job(
        [src], tmp_path / "out", preset="ebay", segmenter="classical", store_url=PG_URL
    )
    assert [(i.name, i.status) for i in items] == [("0000_carton", "done")]
    assert items[0].verdict in ("pass", "warn", "fail")
    from productstudio.catalog import JobStore

    rows = JobStore(PG_URL)
    try:
        assert any(r["source"] == str(src) and r["status"] == "done" for r in rows.items())
    finally:
        rows.close()


def test_jobs_of_a_stopped_server_are_queued_again(tmp_path: Path) -> None:
    """A job left running by a process that no longer exists goes back to the queue; one
    running in a live process stays."""
    import socket

    from sqlalchemy import update
    from sqlalchemy.orm import Session

    from productstudio.server.store import JobRow

    store = ServerStore(f"sqlite:///{tmp_path / 'server.sqlite'}")
    try:
        dead = store.create_job(JobKind.BATCH, {}, total=1)
        live = store.create_job(JobKind.BATCH, {}, total=1)
        host = socket.gethostname()
        with Session(store.engine) as s, s.begin():
            for job, pid in ((dead, 2**22 + 12345), (live, os.getpid())):
                s.execute(
                    update(JobRow)
                    .where(JobRow.id == job.id)
                    .values(status=JobStatus.RUNNING.value, owner=f"{host}:{pid}")
                )
        assert store.requeue_orphans() == 1
        assert store.get_job(dead.id).status is JobStatus.QUEUED  # type: ignore[union-attr]
        assert store.get_job(live.id).status is JobStatus.RUNNING  # type: ignore[union-attr]
    finally:
        store.close()
