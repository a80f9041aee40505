"""The server's tables (API keys, async jobs) in the same SQLAlchemy database as ``run``'s
job store: SQLite by default (a file in the data folder), PostgreSQL by URL.

Tables are the server's own (``ps_server_keys``, ``ps_server_jobs``); batch items of a job
are recorded by the catalogue's own store (``ps_items``) in the same database.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Float, Integer, String, Text, create_engine, delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from productstudio.errors import InvalidParamsError, JobError

KEY_PREFIX = "ps_"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


class JobKind(StrEnum):
    BATCH = "batch"
    SAMPLE = "sample"
    SCENE = "scene"
    GENERATE = "generate"


class _Base(DeclarativeBase):
    pass


class KeyRow(_Base):
    __tablename__ = "ps_server_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created: Mapped[float] = mapped_column(Float)
    revoked: Mapped[float] = mapped_column(Float, default=0.0)
    calls: Mapped[int] = mapped_column(Integer, default=0)


class JobRow(_Base):
    __tablename__ = "ps_server_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    params: Mapped[str] = mapped_column(Text, default="{}")
    key_id: Mapped[str] = mapped_column(String(32), default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[str] = mapped_column(Text, default="")  # file name in the job folder
    created: Mapped[float] = mapped_column(Float)
    started: Mapped[float] = mapped_column(Float, default=0.0)
    finished: Mapped[float] = mapped_column(Float, default=0.0)
    updated: Mapped[float] = mapped_column(Float, default=0.0)


def hash_key(key: str) -> str:
    """sha256 hex digest of an API key (what is stored; keys are high-entropy random)."""
    return hashlib.sha256(key.strip().encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: str
    name: str
    created: float
    revoked: bool
    calls: int


@dataclass(frozen=True, slots=True)
class Job:
    """A job as stored (a snapshot)."""

    id: str
    kind: JobKind
    status: JobStatus
    params: dict[str, Any]
    key_id: str
    done: int
    total: int
    failed: int
    message: str
    result: str
    created: float
    started: float
    finished: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "status": self.status.value,
            "progress": {"done": self.done, "total": self.total, "failed": self.failed},
            "message": self.message,
            "result": bool(self.result) and self.status is JobStatus.DONE,
            "params": self.params,
            "created": self.created,
            "started": self.started or None,
            "finished": self.finished or None,
        }


def _job(row: JobRow) -> Job:
    return Job(
        row.id,
        JobKind(row.kind),
        JobStatus(row.status),
        json.loads(row.params or "{}"),
        row.key_id,
        row.done,
        row.total,
        row.failed,
        row.message,
        row.result,
        row.created,
        row.started,
        row.finished,
    )


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class ServerStore:
    """API keys and jobs. Safe to share between threads (one short session per call)."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            if url.startswith("sqlite:///"):
                Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(url, future=True, pool_pre_ping=True)
            _Base.metadata.create_all(self.engine)
        except (SQLAlchemyError, OSError) as exc:
            raise JobError(
                f"cannot open the server database {url!r}: {exc.__class__.__name__}: {exc}. "
                "Check PRODUCTSTUDIO_SERVER_DATABASE_URL."
            ) from None

    def close(self) -> None:
        self.engine.dispose()

    # -- keys ------------------------------------------------------------------------------
    def add_key(self, name: str) -> tuple[str, KeyInfo]:
        """A new random key (shown once) and its record; only its sha256 is stored."""
        if not name.strip() or len(name) > 200:
            raise InvalidParamsError("a key needs a name of 1..200 characters")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        kid = uuid.uuid4().hex[:12]
        now = time.time()
        with Session(self.engine) as s, s.begin():
            s.add(KeyRow(id=kid, name=name.strip(), sha256=hash_key(key), created=now))
        return key, KeyInfo(kid, name.strip(), now, False, 0)

    def list_keys(self) -> list[KeyInfo]:
        with Session(self.engine) as s:
            rows = s.scalars(select(KeyRow).order_by(KeyRow.created))
            return [KeyInfo(r.id, r.name, r.created, r.revoked > 0, r.calls) for r in rows]

    def revoke_key(self, key_id: str) -> bool:
        with Session(self.engine) as s, s.begin():
            res = s.execute(update(KeyRow).where(KeyRow.id == key_id).values(revoked=time.time()))
            return bool(res.rowcount)  # type: ignore[attr-defined]

    def find_key(self, key: str) -> KeyInfo | None:
        """The active key with this value, or None."""
        digest = hash_key(key)
        with Session(self.engine) as s:
            r = s.scalars(select(KeyRow).where(KeyRow.sha256 == digest)).first()
            if r is None or r.revoked > 0:
                return None
            return KeyInfo(r.id, r.name, r.created, False, r.calls)

    def count_call(self, key_id: str) -> None:
        with Session(self.engine) as s, s.begin():
            s.execute(update(KeyRow).where(KeyRow.id == key_id).values(calls=KeyRow.calls + 1))

    def has_keys(self) -> bool:
        with Session(self.engine) as s:
            return s.scalars(select(KeyRow.id).where(KeyRow.revoked == 0)).first() is not None

    # -- jobs ------------------------------------------------------------------------------
    def create_job(
        self, kind: JobKind, params: dict[str, Any], *, total: int, key_id: str = ""
    ) -> Job:
        now = time.time()
        row = JobRow(
            id=uuid.uuid4().hex,
            kind=kind.value,
            status=JobStatus.QUEUED.value,
            params=json.dumps(params, sort_keys=True),
            key_id=key_id,
            total=total,
            done=0,
            failed=0,
            message="queued",
            result="",
            created=now,
            updated=now,
        )
        with Session(self.engine) as s, s.begin():
            s.add(row)
            return _job(row)

    def get_job(self, job_id: str) -> Job | None:
        with Session(self.engine) as s:
            row = s.get(JobRow, job_id)
            return _job(row) if row is not None else None

    def jobs(self, key_id: str | None = None, limit: int = 100) -> list[Job]:
        with Session(self.engine) as s:
            q = select(JobRow).order_by(JobRow.created.desc()).limit(limit)
            if key_id is not None:
                q = q.where(JobRow.key_id == key_id)
            return [_job(r) for r in s.scalars(q)]

    def claim_next(self) -> Job | None:
        """Atomically move the oldest queued job to running for this process."""
        with Session(self.engine) as s:
            ids = list(
                s.scalars(
                    select(JobRow.id)
                    .where(JobRow.status == JobStatus.QUEUED.value)
                    .order_by(JobRow.created)
                    .limit(5)
                )
            )
        for job_id in ids:
            now = time.time()
            with Session(self.engine) as s, s.begin():
                res = s.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id, JobRow.status == JobStatus.QUEUED.value)
                    .values(
                        status=JobStatus.RUNNING.value,
                        owner=owner_id(),
                        started=now,
                        updated=now,
                        message="starting",
                    )
                )
            if res.rowcount:  # type: ignore[attr-defined]
                return self.get_job(job_id)
        return None

    def progress(self, job_id: str, done: int, total: int, failed: int, message: str) -> None:
        try:
            with Session(self.engine) as s, s.begin():
                s.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id, JobRow.status == JobStatus.RUNNING.value)
                    .values(
                        done=done, total=total, failed=failed, message=message, updated=time.time()
                    )
                )
        except SQLAlchemyError as exc:
            raise JobError(f"cannot record progress of job {job_id}: {exc}") from None

    def finish(self, job_id: str, status: JobStatus, message: str, result: str = "") -> bool:
        """Set a final status unless the job already has one (a cancel wins over a late done)."""
        now = time.time()
        with Session(self.engine) as s, s.begin():
            res = s.execute(
                update(JobRow)
                .where(
                    JobRow.id == job_id,
                    JobRow.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
                )
                .values(
                    status=status.value, message=message, result=result, finished=now, updated=now
                )
            )
            return bool(res.rowcount)  # type: ignore[attr-defined]

    def delete_job(self, job_id: str) -> None:
        with Session(self.engine) as s, s.begin():
            s.execute(delete(JobRow).where(JobRow.id == job_id))

    def expired(self, before: float) -> list[str]:
        with Session(self.engine) as s:
            q = select(JobRow.id).where(
                JobRow.finished > 0,
                JobRow.finished < before,
            )
            return list(s.scalars(q))

    def requeue_orphans(self) -> int:
        """Jobs left running by a process of this host that no longer exists go back to the
        queue (batch runs resume: finished items are skipped)."""
        host = socket.gethostname()
        n = 0
        with Session(self.engine) as s, s.begin():
            rows = s.scalars(select(JobRow).where(JobRow.status == JobStatus.RUNNING.value))
            for r in rows:
                h, _, pid = r.owner.rpartition(":")
                if h == host and pid.isdigit() and not _alive(int(pid)):
                    r.status = JobStatus.QUEUED.value
                    r.message = "re-queued after a server restart"
                    n += 1
        return n


def _alive(pid: int) -> bool:
    from productstudio.catalog.store import pid_alive

    return pid == os.getpid() or pid_alive(pid)


__all__ = [
    "KEY_PREFIX",
    "Job",
    "JobKind",
    "JobStatus",
    "KeyInfo",
    "ServerStore",
    "hash_key",
]
