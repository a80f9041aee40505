"""The job store: runs, items with claims and leases, and events (SQLite or PostgreSQL).

One store can serve many runs and many runners at once. A run *registers* its catalogue
(one row per item and preset, streamed in chunks), then every runner *claims* small batches
of pending items with a lease, processes them, and *commits* each outcome. A runner that
dies stops renewing its leases; its items become claimable again when the lease expires (at
once, when the dead runner was on this host and its process is gone).

Guarantees:

* **PostgreSQL**: claims use ``SELECT … FOR UPDATE SKIP LOCKED``, so any number of runners
  on any number of machines never hold the same item at once; commits are fenced by the
  lease owner (a runner whose lease was taken over cannot overwrite the new owner's state).
* **SQLite** (the default, a file in the output folder): every write transaction starts with
  ``BEGIN IMMEDIATE`` (the database-wide write lock), so several processes on *one machine*
  also never claim the same item; claims are serialised, which is fine for one machine's
  workers. Not for network file systems (SQLite's locking is unreliable there): use
  PostgreSQL for several machines.

Schema versions live in ``ps_schema``; :data:`MIGRATIONS` upgrades an older store in place
when it is opened (under a lock, so concurrent openers migrate once). Version 0 is the
pre-lease ``ps_items`` table (key, settings): it is kept as ``ps_items_v0``; its items are
redone once because it did not record the input content or the model.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    inspect,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from productstudio.errors import InputError, JobError

log = logging.getLogger(__name__)

#: The schema version this code writes.
SCHEMA_VERSION = 1


class Status(StrEnum):
    """State of one item (``SKIPPED`` only appears in results, never in the store)."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class RunState(StrEnum):
    """State of one run."""

    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"
    CRASHED = "crashed"


_md = MetaData()
_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER only

schema_table = Table(
    "ps_schema",
    _md,
    Column("version", Integer, primary_key=True),
    Column("applied", Float, nullable=False),
    Column("note", Text, nullable=False, default=""),
)

runs_table = Table(
    "ps_runs",
    _md,
    Column("id", String(32), primary_key=True),
    Column("scope", String(64), nullable=False, index=True),
    Column("output", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("jobs", Text, nullable=False),  # JSON list of {preset, job, model, model_hash, …}
    Column("executor", String(16), nullable=False),
    Column("workers", Integer, nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("lease_s", Float, nullable=False),
    Column("started", Float, nullable=False),
    Column("heartbeat", Float, nullable=False),
    Column("finished", Float),
    Column("state", String(16), nullable=False),
    Column("total", BigInteger, nullable=False, default=0),
    Column("message", Text, nullable=False, default=""),
)

items_table = Table(
    "ps_items",
    _md,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("scope", String(64), nullable=False),
    Column("key", String(1024), nullable=False),
    Column("key_norm", String(1024), nullable=False),  # lower case: outputs ignore case
    Column("preset", String(128), nullable=False),
    Column("source", Text, nullable=False),
    Column("origin", Text, nullable=False, default=""),
    Column("attrs", Text, nullable=False, default="{}"),
    Column("output", Text, nullable=False),
    Column("job", String(64), nullable=False),  # the job the latest listing asked for
    Column("status", String(16), nullable=False),
    Column("listed_run", String(32), nullable=False),
    Column("claims", Integer, nullable=False, default=0),  # claims without an outcome
    Column("attempts", Integer, nullable=False, default=0),  # transient failures so far
    Column("not_before", Float, nullable=False, default=0.0),  # retry back-off
    Column("lease_owner", String(32)),
    Column("lease_until", Float),
    Column("done_job", String(64)),  # the job of the output on disk
    Column("input_hash", String(64)),
    Column("input_size", BigInteger),
    Column("input_mtime_ns", BigInteger),
    Column("output_hash", String(64)),
    Column("output_size", BigInteger),
    Column("message", Text, nullable=False, default=""),
    Column("seconds", Float),
    Column("timings", Text),  # JSON {stage: seconds}
    Column("confidence", Float),
    Column("unsure", Boolean),
    Column("verdict", String(16)),
    Column("backend", String(64)),
    Column("worker", String(128)),
    Column("run_id", String(32)),  # the run that produced the current state
    Column("finished_at", Float),
    UniqueConstraint("scope", "key_norm", "preset", name="uq_ps_items_scope_key_preset"),
    Index("ix_ps_items_claim", "scope", "status", "id"),
    Index("ix_ps_items_lease", "lease_owner"),
)

events_table = Table(
    "ps_events",
    _md,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("run_id", String(32), nullable=False, index=True),
    Column("item_id", _ID, index=True),
    Column("kind", String(16), nullable=False),  # claimed|done|failed|retry|released|skipped
    Column("at", Float, nullable=False),
    Column("seconds", Float),
    Column("worker", String(128)),
    Column("message", Text, nullable=False, default=""),
)


# --- migrations -------------------------------------------------------------------------------


def _v1(conn: Connection) -> None:
    insp = inspect(conn)
    if insp.has_table("ps_items"):
        cols = {c["name"] for c in insp.get_columns("ps_items")}
        if "settings" in cols:  # version 0: the pre-lease table
            conn.execute(text("ALTER TABLE ps_items RENAME TO ps_items_v0"))
    for table in (runs_table, items_table, events_table):
        table.create(conn, checkfirst=True)


#: (version, what it does, the upgrade) in order; each runs in the opener's transaction.
MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "runs, items with claims and leases, events (v0 ps_items kept as ps_items_v0)", _v1),
]


# --- records ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedItem:
    """One row of a catalogue for one preset, as registered."""

    key: str
    preset: str
    source: str
    output: str
    job: str
    origin: str = ""
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ClaimedItem:
    """An item held under this runner's lease, with what the store knows about it."""

    id: int
    key: str
    preset: str
    source: str
    output: str
    job: str
    origin: str
    attrs: dict[str, str]
    claims: int
    attempts: int
    done_job: str | None
    input_hash: str | None
    input_size: int | None
    input_mtime_ns: int | None
    output_hash: str | None
    output_size: int | None


def _claimed_item(row: Any) -> ClaimedItem:
    """A claimed ``ps_items`` row: every field is the column of its name, ``attrs`` decoded."""
    cols = {f.name: row[f.name] for f in fields(ClaimedItem) if f.name != "attrs"}
    return ClaimedItem(**cols, attrs=json.loads(row["attrs"] or "{}"))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to record for a claimed item.

    ``status`` is DONE, FAILED, SKIPPED (verified unchanged) or PENDING (a transient failure
    to retry after ``retry_at``).
    """

    item_id: int
    status: Status
    message: str = ""
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    input_hash: str | None = None
    input_size: int | None = None
    input_mtime_ns: int | None = None
    output_hash: str | None = None
    output_size: int | None = None
    confidence: float | None = None
    unsure: bool | None = None
    verdict: str | None = None
    backend: str = ""
    worker: str = ""
    retry_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Registration:
    """What registering a chunk decided: items to process and items already done."""

    pending: int
    skipped: list[dict[str, Any]]


class DuplicateItemError(InputError):
    """Two catalogue rows name the same output (same id and preset)."""


# --- the store --------------------------------------------------------------------------------


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sqlite_connect_pragmas(engine: Engine, *, memory: bool) -> None:
    """Set up every new SQLite connection of ``engine`` for several writers: BEGIN issued by
    the caller, a 60 s busy wait, and (for a file, not ``memory``) WAL with normal sync.
    Shared by the job store and the feedback store (personalize)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 60000")
        if not memory:
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()


def _apply_sqlite_settings(engine: Engine, memory: bool) -> None:
    sqlite_connect_pragmas(engine, memory=memory)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock, taken up front


class JobStore:
    """Runs, items and events in a SQL database (see the module docstring).

    Every method is one short transaction; the store times its own calls
    (:attr:`seconds`, :attr:`calls`) so the driver can report the store's overhead.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.seconds = 0.0
        self.calls = 0
        try:
            u = make_url(url)
        except ArgumentError:
            raise JobError(
                f"'{url}' is not a database URL: use sqlite:///path/jobs.sqlite or "
                "postgresql+psycopg://user@host:5432/dbname."
            ) from None
        self.dialect = u.get_backend_name()
        # an in-memory SQLite store is one shared connection: one transaction at a time
        self._lock: threading.Lock | None = None
        try:
            if self.dialect == "sqlite":
                memory = u.database in (None, "", ":memory:")
                kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
                if memory:
                    from sqlalchemy.pool import StaticPool

                    kwargs["poolclass"] = StaticPool
                    self._lock = threading.Lock()
                self.engine: Engine = create_engine(url, **kwargs)
                _apply_sqlite_settings(self.engine, memory)
            else:
                self.engine = create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)
            self._migrate()
        except JobError:
            raise
        except (SQLAlchemyError, ImportError, OSError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise JobError(
                f"Cannot open the job store {redact(url)}: {reason}. Check that the database "
                "server runs and that the URL (user, host, port, database) is right."
            ) from None

    @classmethod
    def sqlite(cls, path: Path) -> JobStore:
        """A SQLite store in the file ``path`` (its folder is created)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{path}")

    # -- plumbing -------------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        t = time.perf_counter()
        lock = self._lock or contextlib.nullcontext()
        try:
            with lock, self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise JobError(f"the job store {redact(self.url)} failed: {reason}") from None
        finally:
            self.seconds += time.perf_counter() - t
            self.calls += 1

    def _migrate(self) -> None:
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(7319001)"))
            schema_table.create(conn, checkfirst=True)
            current = conn.execute(select(func.max(schema_table.c.version))).scalar() or 0
            if current > SCHEMA_VERSION:
                raise JobError(
                    f"the job store {redact(self.url)} has schema version {current}, newer than "
                    f"this ProductStudio understands ({SCHEMA_VERSION}): upgrade ProductStudio."
                )
            for version, note, upgrade in MIGRATIONS:
                if version > current:
                    upgrade(conn)
                    conn.execute(
                        schema_table.insert().values(
                            version=version, applied=time.time(), note=note
                        )
                    )
                    log.info("job store migrated to schema version %d: %s", version, note)

    def schema_version(self) -> int:
        with self._tx() as c:
            return int(c.execute(select(func.max(schema_table.c.version))).scalar() or 0)

    def close(self) -> None:
        self.engine.dispose()

    # -- runs -----------------------------------------------------------------------------
    def start_run(
        self,
        run_id: str,
        *,
        scope: str,
        output: str,
        source: str,
        jobs: Sequence[dict[str, Any]],
        executor: str,
        workers: int,
        lease_s: float,
    ) -> None:
        now = time.time()
        with self._tx() as c:
            c.execute(
                runs_table.insert().values(
                    id=run_id,
                    scope=scope,
                    output=output,
                    source=source,
                    jobs=json.dumps(list(jobs)),
                    executor=executor,
                    workers=workers,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    lease_s=lease_s,
                    started=now,
                    heartbeat=now,
                    state=RunState.RUNNING.value,
                    total=0,
                    message="",
                )
            )

    def finish_run(self, run_id: str, state: RunState, total: int, message: str = "") -> None:
        """Mark a run finished/interrupted and give back any item it still holds."""
        now = time.time()
        with self._tx() as c:
            self._release(c, run_id, now)
            c.execute(
                update(runs_table)
                .where(runs_table.c.id == run_id)
                .values(
                    state=state.value, finished=now, heartbeat=now, total=total, message=message
                )
            )

    def set_total(self, run_id: str, total: int) -> None:
        with self._tx() as c:
            c.execute(update(runs_table).where(runs_table.c.id == run_id).values(total=total))

    def heartbeat(self, run_id: str, lease_s: float) -> None:
        """Renew this run's leases and its liveness stamp."""
        now = time.time()
        with self._tx() as c:
            c.execute(
                update(items_table)
                .where(
                    items_table.c.lease_owner == run_id,
                    items_table.c.status == Status.RUNNING.value,
                )
                .values(lease_until=now + lease_s)
            )
            c.execute(update(runs_table).where(runs_table.c.id == run_id).values(heartbeat=now))

    def recover(self, scope: str) -> list[str]:
        """Mark dead runs on ``scope`` as crashed and give back their items.

        A run is dead when its heartbeat is older than its lease, or when it ran on this
        host and its process is gone. Returns the ids of the runs found dead.
        """
        now = time.time()
        host = socket.gethostname()
        dead: list[str] = []
        with self._tx() as c:
            rows = c.execute(
                select(runs_table.c.id, runs_table.c.host, runs_table.c.pid)
                .add_columns(runs_table.c.heartbeat, runs_table.c.lease_s)
                .where(runs_table.c.scope == scope, runs_table.c.state == RunState.RUNNING.value)
            ).all()
            for rid, rhost, pid, beat, lease in rows:
                if beat < now - lease or (rhost == host and not pid_alive(pid)):
                    dead.append(rid)
                    self._release(c, rid, now)
                    c.execute(
                        update(runs_table)
                        .where(runs_table.c.id == rid)
                        .values(state=RunState.CRASHED.value, finished=now)
                    )
        for rid in dead:
            log.warning(
                "run %s on this output stopped without finishing; its items are redone", rid
            )
        return dead

    def _release(self, c: Connection, run_id: str, now: float) -> None:
        held = c.execute(
            update(items_table)
            .where(
                items_table.c.lease_owner == run_id,
                items_table.c.status == Status.RUNNING.value,
            )
            .values(
                status=Status.PENDING.value,
                lease_owner=None,
                lease_until=None,
            )
            .returning(items_table.c.id)
        ).all()
        if held:
            c.execute(
                events_table.insert(),
                [{"run_id": run_id, "item_id": i, "kind": "released", "at": now} for (i,) in held],
            )

    def peers(self, scope: str, run_id: str) -> list[str]:
        """Runs on ``scope`` still running (this one included)."""
        with self._tx() as c:
            ids = c.execute(
                select(runs_table.c.id).where(
                    runs_table.c.scope == scope, runs_table.c.state == RunState.RUNNING.value
                )
            ).scalars()
            return sorted({*ids, run_id})

    # -- registration ---------------------------------------------------------------------
    def register(
        self,
        run_id: str,
        scope: str,
        planned: Sequence[PlannedItem],
        *,
        overwrite: bool = False,
        is_unchanged: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Registration:
        """Record a chunk of catalogue rows for this run.

        New rows become pending. Rows already in the store keep their state when they are
        done for the same job and ``is_unchanged(row)`` says the input and output on disk
        are still those recorded (then they are *skipped*); rows another live runner holds
        are left to it; every other row becomes pending.

        Raises:
            DuplicateItemError: two rows of this run name the same item (id and preset).
        """
        if not planned:
            return Registration(0, [])
        now = time.time()
        t = items_table.c
        with self._tx() as c:
            wanted = [(p.key.lower(), p.preset) for p in planned]

            def current() -> dict[tuple[str, str], Any]:
                found = c.execute(
                    select(items_table).where(
                        t.scope == scope, tuple_(t.key_norm, t.preset).in_(wanted)
                    )
                ).mappings()
                return {(r["key_norm"], r["preset"]): r for r in found}

            before = current()
            for p in planned:
                row = before.get((p.key.lower(), p.preset))
                if row is not None and row["listed_run"] == run_id:
                    raise DuplicateItemError(
                        f"{p.origin or p.source}: id '{p.key}' is already used by "
                        f"{row['origin'] or row['source']}; ids name the outputs, so make them "
                        "unique (or add a 'key' column)."
                    )
            new = [p for p in planned if (p.key.lower(), p.preset) not in before]
            if new:
                self._insert_ignore(c, scope, run_id, new)
            rows = current()
            seen: dict[tuple[str, str], PlannedItem] = {}
            pending = 0
            skipped: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            for p in planned:
                ident = (p.key.lower(), p.preset)
                row = rows[ident]
                first = seen.get(ident)
                if first is not None:
                    raise DuplicateItemError(
                        f"{p.origin or p.source}: id '{p.key}' is already used by "
                        f"{first.origin or first.source}; ids name the outputs, so make them "
                        "unique (or add a 'key' column)."
                    )
                seen[ident] = p
                fresh = ident not in before and row["listed_run"] == run_id
                values: dict[str, Any] = {
                    "b_id": row["id"],
                    "source": p.source,
                    "origin": p.origin,
                    "attrs": json.dumps(p.attrs, ensure_ascii=False),
                    "output": p.output,
                    "job": p.job,
                    "listed_run": run_id,
                    "status": row["status"],
                    "claims": row["claims"],
                    "not_before": row["not_before"],
                    "done_job": None if overwrite else row["done_job"],
                }
                held = (
                    row["status"] == Status.RUNNING.value
                    and row["lease_owner"] not in (None, run_id)
                    and (row["lease_until"] or 0) >= now
                )
                if fresh:
                    pending += 1
                elif held:
                    pending += 1  # another runner is on it
                elif (
                    not overwrite
                    and row["status"] == Status.DONE.value
                    and row["done_job"] == p.job
                    and row["output"] == p.output
                    and (is_unchanged is None or is_unchanged(dict(row)))
                ):
                    skipped.append(dict(row))
                else:
                    values.update(status=Status.PENDING.value, claims=0, not_before=0.0)
                    pending += 1
                updates.append(values)
            if updates:
                cols = [k for k in updates[0] if k != "b_id"]
                c.execute(
                    update(items_table)
                    .where(t.id == bindparam("b_id"))
                    .values({k: bindparam(k) for k in cols}),
                    updates,
                )
        return Registration(pending, skipped)

    def _insert_ignore(
        self, c: Connection, scope: str, run_id: str, planned: Sequence[PlannedItem]
    ) -> None:
        rows = [
            {
                "scope": scope,
                "key": p.key,
                "key_norm": p.key.lower(),
                "preset": p.preset,
                "source": p.source,
                "origin": p.origin,
                "attrs": json.dumps(p.attrs, ensure_ascii=False),
                "output": p.output,
                "job": p.job,
                "status": Status.PENDING.value,
                "listed_run": run_id,
                "claims": 0,
                "attempts": 0,
                "not_before": 0.0,
                "message": "",
            }
            for p in planned
        ]
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt: Any = pg_insert(items_table).on_conflict_do_nothing(
                constraint="uq_ps_items_scope_key_preset"
            )
        elif self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(items_table).on_conflict_do_nothing()
        else:  # pragma: no cover - other databases: one by one
            for r in rows:
                try:
                    with c.begin_nested():
                        c.execute(items_table.insert().values(**r))
                except SQLAlchemyError:
                    continue
            return
        c.execute(stmt, rows)

    # -- claims ---------------------------------------------------------------------------
    def claim(
        self,
        run_id: str,
        scope: str,
        limit: int,
        lease_s: float,
        *,
        listed_by: Sequence[str] = (),
    ) -> list[ClaimedItem]:
        """Reserve up to ``limit`` items for this run (pending ones whose back-off is over,
        and running ones whose lease has expired), oldest first."""
        now = time.time()
        t = items_table.c
        listed = list(listed_by) or [run_id]
        with self._tx() as c:
            ids = (
                c.execute(
                    select(t.id)
                    .where(
                        t.scope == scope,
                        t.listed_run.in_(listed),
                        or_(
                            and_(t.status == Status.PENDING.value, t.not_before <= now),
                            and_(t.status == Status.RUNNING.value, t.lease_until < now),
                        ),
                    )
                    .order_by(t.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
                .scalars()
                .all()
            )
            if not ids:
                return []
            rows = (
                c.execute(
                    update(items_table)
                    .where(t.id.in_(ids))
                    .values(
                        status=Status.RUNNING.value,
                        lease_owner=run_id,
                        lease_until=now + lease_s,
                        claims=t.claims + 1,
                    )
                    .returning(*items_table.c)
                )
                .mappings()
                .all()
            )
            c.execute(
                events_table.insert(),
                [
                    {"run_id": run_id, "item_id": r["id"], "kind": "claimed", "at": now}
                    for r in rows
                ],
            )
        out = [_claimed_item(r) for r in rows]
        out.sort(key=lambda it: it.id)
        return out

    def waiting(self, scope: str, listed_by: Sequence[str]) -> tuple[int, float | None]:
        """Pending items (not held by anyone), and the earliest time one of them can be
        claimed (retry back-off); items other live runners hold are theirs to finish."""
        t = items_table.c
        with self._tx() as c:
            n, first = c.execute(
                select(func.count(), func.min(t.not_before)).where(
                    t.scope == scope,
                    t.listed_run.in_(list(listed_by)),
                    t.status == Status.PENDING.value,
                )
            ).one()
        return int(n), first

    # -- outcomes -------------------------------------------------------------------------
    def commit(
        self,
        run_id: str,
        outcomes: Iterable[Outcome],
        *,
        each: Callable[[Outcome], None] | None = None,
    ) -> list[int]:
        """Record outcomes of items this run holds; returns the ids whose lease was lost
        (another runner took them over: their outcome is not recorded).

        ``each`` is called between the per-item updates (a fault-injection point for the
        crash tests; the whole call is still one transaction).
        """
        now = time.time()
        t = items_table.c
        lost: list[int] = []
        with self._tx() as c:
            events: list[dict[str, Any]] = []
            for o in outcomes:
                if each is not None:
                    each(o)
                values: dict[str, Any] = {
                    "message": o.message,
                    "seconds": o.seconds,
                    "timings": json.dumps(o.timings) if o.timings else None,
                    "worker": o.worker,
                    "run_id": run_id,
                    "finished_at": now,
                    "lease_owner": None,
                    "lease_until": None,
                    "claims": 0,
                }
                if o.input_hash is not None:
                    values.update(
                        input_hash=o.input_hash,
                        input_size=o.input_size,
                        input_mtime_ns=o.input_mtime_ns,
                    )
                if o.status in (Status.DONE, Status.SKIPPED):
                    values.update(status=Status.DONE.value, done_job=t.job, attempts=0)
                    if o.status == Status.DONE:
                        values.update(
                            output_hash=o.output_hash,
                            output_size=o.output_size,
                            confidence=o.confidence,
                            unsure=o.unsure,
                            verdict=o.verdict,
                            backend=o.backend,
                        )
                    else:
                        values.pop("message")
                        values.pop("seconds")
                        values.pop("timings")
                        values.pop("worker")
                        values.pop("run_id")
                        values.pop("finished_at")
                elif o.status == Status.PENDING:  # transient: retry later
                    values.update(
                        status=Status.PENDING.value, attempts=t.attempts + 1, not_before=o.retry_at
                    )
                else:
                    values.update(status=Status.FAILED.value, done_job=None)
                res = c.execute(
                    update(items_table)
                    .where(t.id == o.item_id, t.lease_owner == run_id)
                    .values(**values)
                )
                if res.rowcount == 0:
                    lost.append(o.item_id)
                    continue
                kind = {
                    Status.DONE: "done",
                    Status.SKIPPED: "skipped",
                    Status.PENDING: "retry",
                }.get(o.status, "failed")
                events.append(
                    {
                        "run_id": run_id,
                        "item_id": o.item_id,
                        "kind": kind,
                        "at": now,
                        "seconds": o.seconds,
                        "worker": o.worker,
                        "message": o.message[:2000],
                    }
                )
            if events:
                c.execute(events_table.insert(), events)
        return lost

    def release(self, run_id: str) -> None:
        """Give back every item this run holds (they become pending again)."""
        with self._tx() as c:
            self._release(c, run_id, time.time())

    # -- reading --------------------------------------------------------------------------
    def counts(self, scope: str | None = None, listed_by: str | None = None) -> dict[str, int]:
        """Items per status (optionally of one output scope, or listed by one run)."""
        t = items_table.c
        q = select(t.status, func.count()).group_by(t.status)
        if scope is not None:
            q = q.where(t.scope == scope)
        if listed_by is not None:
            q = q.where(t.listed_run == listed_by)
        with self._tx() as c:
            return {s: int(n) for s, n in c.execute(q).all()}

    def runs(self, scope: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        q = select(runs_table).order_by(runs_table.c.started.desc()).limit(limit)
        if scope is not None:
            q = q.where(runs_table.c.scope == scope)
        with self._tx() as c:
            return [dict(r) for r in c.execute(q).mappings()]

    def items(
        self,
        scope: str | None = None,
        *,
        status: str | None = None,
        limit: int | None = None,
        order: str = "id",
    ) -> list[dict[str, Any]]:
        t = items_table.c
        q = select(items_table)
        if scope is not None:
            q = q.where(t.scope == scope)
        if status is not None:
            q = q.where(t.status == status)
        q = q.order_by(getattr(t, order))
        if limit is not None:
            q = q.limit(limit)
        with self._tx() as c:
            return [dict(r) for r in c.execute(q).mappings()]

    def events(
        self, *, run_id: str | None = None, kinds: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        t = events_table.c
        q = select(events_table).order_by(t.id)
        if run_id is not None:
            q = q.where(t.run_id == run_id)
        if kinds:
            q = q.where(t.kind.in_(list(kinds)))
        with self._tx() as c:
            return [dict(r) for r in c.execute(q).mappings()]

    def scopes(self) -> list[str]:
        with self._tx() as c:
            return list(c.execute(select(runs_table.c.scope).distinct()).scalars())
