"""The feedback store: variants, decisions (``choose``) and events (``record``) in SQL.

SQLite by default (a file; WAL journal, writers take the lock up front with ``BEGIN IMMEDIATE``
and wait up to ``busy_timeout``), PostgreSQL by URL (``postgresql+psycopg://…``). Tables
(prefix ``ps_fb_``): ``config``, ``variants``, ``events`` (every event id with its content hash),
``impressions`` (one row per impression: context, propensity, clicked/converted flags) and
``stats`` (impressions, clicks, conversions per product × segment × variant).

Exactness under concurrent writers: each event is one transaction — insert the event id
(``ON CONFLICT DO NOTHING``: a retry finds it and compares content), then the impression row or
``UPDATE … SET clicked = 1 WHERE clicked = 0`` (only the first click of an impression counts),
then an atomic counter upsert. Either all of it is stored or none of it.

Python API::

    store = FeedbackStore.open("feedback.sqlite")            # or a postgresql+psycopg:// URL
    store.add_variants(VariantMatrix.from_yaml("m.yaml").expand(), product="shoe-1")
    d = store.choose("shoe-1", UserContext.parse("interests=noir,gender=women"))
    store.record(d.impression())                              # shown
    store.record(Event(EventKind.CLICK, "c-1", impression_id=d.decision_id))
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from productstudio.errors import EventError, InvalidParamsError, JobError
from productstudio.personalize.context import UserContext, context_vector, joint_features
from productstudio.personalize.events import (
    Decision,
    Event,
    EventKind,
    RecordResult,
    RecordStatus,
    check_id,
)
from productstudio.personalize.policies import (
    LinearStats,
    PolicyKind,
    PolicyParams,
    choice_probs,
    sample_action,
)
from productstudio.personalize.segments import SegmentRules
from productstudio.personalize.variants import VariantRecord, VariantSpec, features_json

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class FeedbackConfig:
    """What ``choose`` uses unless told otherwise: the policy, the segment rules, the seed."""

    policy: PolicyParams = field(default_factory=PolicyParams)
    segments_yaml: str = ""
    seed: int = 0

    def rules(self) -> SegmentRules:
        if not self.segments_yaml:
            return SegmentRules.by_interest()
        return SegmentRules.from_text(self.segments_yaml, file="<stored segment rules>")


@dataclass(frozen=True)
class StatRow:
    product: str
    segment: str
    variant: str
    impressions: int
    clicks: int
    conversions: int

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else float("nan")


@dataclass(frozen=True)
class ImpressionLog:
    """The impressions as arrays (for off-policy evaluation and the report), in time order."""

    impression_id: list[str]
    product: list[str]
    segment: list[str]
    variant: list[str]
    policy: list[str]
    propensity: F64
    clicked: F64
    converted: F64
    ts: F64
    context: list[str]

    @property
    def n(self) -> int:
        return len(self.impression_id)


def _tables() -> Any:
    # imported here, not at the top as catalog/store.py does: the feedback store loads lazily
    from sqlalchemy import (
        Column,
        Float,
        Index,
        Integer,
        MetaData,
        String,
        Table,
        Text,
    )

    md = MetaData()
    # one Table per kind of record: the column lists look alike but each is its own schema
    t = {
        "config": Table(
            "ps_fb_config",
            md,
            Column("key", String(64), primary_key=True),
            Column("value", Text, nullable=False),
        ),
        "variants": Table(
            "ps_fb_variants",
            md,
            Column("product", String(128), primary_key=True),
            Column("variant", String(128), primary_key=True),
            Column("recipe", Text, nullable=False, default=""),
            Column("features", Text, nullable=False, default="{}"),
            Column("image", Text, nullable=False, default=""),
            Column("created", Float, nullable=False),
        ),
        "events": Table(
            "ps_fb_events",
            md,
            Column("event_id", String(128), primary_key=True),
            Column("kind", String(16), nullable=False),
            Column("impression_id", String(128), nullable=False),
            Column("digest", String(64), nullable=False),
            Column("counted", Integer, nullable=False, default=0),
            Column("ts", Float, nullable=False),
        ),
        "impressions": Table(
            "ps_fb_impressions",
            md,
            Column("impression_id", String(128), primary_key=True),
            Column("product", String(128), nullable=False),
            Column("variant", String(128), nullable=False),
            Column("segment", String(64), nullable=False),
            Column("policy", String(32), nullable=False),
            Column("propensity", Float, nullable=False),
            Column("decision_id", String(128), nullable=False),
            Column("user_id", String(128), nullable=False),
            Column("context", Text, nullable=False),
            Column("context_key", String(64), nullable=False),
            Column("ts", Float, nullable=False),
            Column("clicked", Integer, nullable=False, default=0),
            Column("converted", Integer, nullable=False, default=0),
            Index("ix_ps_fb_impressions_ts", "ts"),
        ),
        "stats": Table(
            "ps_fb_stats",
            md,
            Column("product", String(128), primary_key=True),
            Column("segment", String(64), primary_key=True),
            Column("variant", String(128), primary_key=True),
            Column("impressions", Integer, nullable=False, default=0),
            Column("clicks", Integer, nullable=False, default=0),
            Column("conversions", Integer, nullable=False, default=0),
        ),
    }
    return md, t


def _stable_seed(*parts: object) -> int:
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "little")


def _make_engine(url: str) -> Engine:
    from sqlalchemy import create_engine, event

    from productstudio.catalog.store import sqlite_connect_pragmas

    if url.startswith("sqlite"):
        engine = create_engine(
            url, future=True, connect_args={"check_same_thread": False, "timeout": 60}
        )
        memory = ":memory:" in url or url in ("sqlite://", "sqlite:///")
        sqlite_connect_pragmas(engine, memory=memory)

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            write = conn.get_execution_options().get("ps_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return create_engine(url, future=True, pool_pre_ping=True)


class FeedbackStore:
    """Variants, decisions and events on one SQL database; safe across threads and processes.

    Args:
        url: a SQLAlchemy URL (``sqlite:///feedback.sqlite``, ``postgresql+psycopg://…``).
        refresh_seconds: how stale the contextual policies' model may get before it is refit
            from the impressions (they are batch-updated, like a production bandit).
    """

    def __init__(self, url: str, *, refresh_seconds: float = 5.0) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        self.url = url
        self.refresh_seconds = refresh_seconds
        self._md, self.t = _tables()
        try:
            self.engine = _make_engine(url)
            self._md.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise JobError(
                f"cannot open the feedback store {url!r}: {exc.__class__.__name__}: {exc}. "
                "Check the URL (sqlite:///file.sqlite or postgresql+psycopg://user@host/db)."
            ) from None
        self._lock = threading.Lock()
        self._variants: dict[str, list[VariantRecord]] = {}
        self._config: FeedbackConfig | None = None
        self._rules: SegmentRules | None = None
        self._rng: np.random.Generator | None = None
        self._linear: tuple[float, LinearStats, list[str]] | None = None

    @classmethod
    def open(cls, target: str | Path, **kw: Any) -> FeedbackStore:
        """A URL (``…://…``) or a file path (SQLite, folders created)."""
        text = str(target)
        if "://" in text:
            return cls(text, **kw)
        p = Path(text).expanduser().resolve()
        p.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{p}", **kw)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[Connection]:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.connect().execution_options(ps_write=True) as conn, conn.begin():
                yield conn
        except SQLAlchemyError as exc:
            raise JobError(f"cannot write to the feedback store {self.url!r}: {exc}") from None

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise JobError(f"cannot read the feedback store {self.url!r}: {exc}") from None

    def _insert(self, table: Any) -> Any:
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        if self.engine.dialect.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table)
        raise JobError(
            f"the feedback store supports SQLite and PostgreSQL, not {self.engine.dialect.name}"
        )

    # -- config ------------------------------------------------------------------------------
    def config(self) -> FeedbackConfig:
        if self._config is None:
            from sqlalchemy import select

            with self._read() as c:
                rows: dict[str, str] = {
                    str(k): str(v) for k, v in c.execute(select(self.t["config"]))
                }
            policy = (
                PolicyParams.from_dict(json.loads(rows["policy"])) if "policy" in rows else None
            )
            self._config = FeedbackConfig(
                policy=policy or PolicyParams(),
                segments_yaml=rows.get("segments", ""),
                seed=int(rows.get("seed", "0")),
            )
        return self._config

    def configure(
        self,
        *,
        policy: PolicyParams | None = None,
        segments_yaml: str | None = None,
        seed: int | None = None,
    ) -> FeedbackConfig:
        """Store the default policy, segment rules (validated YAML text) and seed."""
        if segments_yaml:
            SegmentRules.from_text(segments_yaml, file="segment rules")
        values = {}
        if policy is not None:
            values["policy"] = json.dumps(policy.to_dict(), sort_keys=True)
        if segments_yaml is not None:
            values["segments"] = segments_yaml
        if seed is not None:
            values["seed"] = str(int(seed))
        tbl = self.t["config"]
        with self._write() as c:
            for k, v in values.items():
                ins = self._insert(tbl).values(key=k, value=v)
                c.execute(ins.on_conflict_do_update(index_elements=["key"], set_={"value": v}))
        self._config = None
        self._rules = None
        self._rng = None
        return self.config()

    def rules(self) -> SegmentRules:
        if self._rules is None:
            self._rules = self.config().rules()
        return self._rules

    # -- variants ----------------------------------------------------------------------------
    def add_variants(
        self, variants: Iterable[VariantRecord | VariantSpec], *, product: str | None = None
    ) -> list[VariantRecord]:
        """Register (or replace) variants; a :class:`VariantSpec` needs ``product``."""
        recs: list[VariantRecord] = []
        for v in variants:
            if isinstance(v, VariantSpec):
                if product is None:
                    raise InvalidParamsError("add_variants: VariantSpec needs product=")
                v = v.for_product(product)
            recs.append(v)
        tbl = self.t["variants"]
        now = time.time()
        with self._write() as c:
            for r in recs:
                vals = {
                    "recipe": r.recipe,
                    "features": features_json(r.features),
                    "image": r.image,
                    "created": now,
                }
                ins = self._insert(tbl).values(product=r.product, variant=r.variant_id, **vals)
                c.execute(
                    ins.on_conflict_do_update(index_elements=["product", "variant"], set_=vals)
                )
        with self._lock:
            for p in {r.product for r in recs}:
                self._variants.pop(p, None)
            self._linear = None
        return recs

    def variants(self, product: str, *, fresh: bool = False) -> list[VariantRecord]:
        """The product's variants, sorted by id (cached; ``fresh`` re-reads)."""
        if not fresh and product in self._variants:
            return self._variants[product]
        from sqlalchemy import select

        t = self.t["variants"]
        with self._read() as c:
            rows = c.execute(
                select(t.c.variant, t.c.recipe, t.c.features, t.c.image)
                .where(t.c.product == product)
                .order_by(t.c.variant)
            ).all()
        recs = [VariantRecord(product, v, r, json.loads(f), im) for v, r, f, im in rows]
        with self._lock:
            self._variants[product] = recs
        return recs

    def products(self) -> list[str]:
        from sqlalchemy import select

        t = self.t["variants"]
        with self._read() as c:
            return list(c.execute(select(t.c.product).distinct().order_by(t.c.product)).scalars())

    # -- choose ------------------------------------------------------------------------------
    def _decision_rng(self, decision_id: str | None) -> np.random.Generator:
        seed = self.config().seed
        if decision_id:
            return np.random.default_rng(_stable_seed(seed, decision_id))
        with self._lock:
            if self._rng is None:
                self._rng = np.random.default_rng(seed)
            return np.random.default_rng(self._rng.integers(0, 2**63))

    def _counts(self, product: str, segment: str, ids: Sequence[str]) -> tuple[F64, F64]:
        from sqlalchemy import select

        t = self.t["stats"]
        with self._read() as c:
            rows = c.execute(
                select(t.c.variant, t.c.impressions, t.c.clicks).where(
                    (t.c.product == product) & (t.c.segment == segment)
                )
            ).all()
        got = {v: (n, k) for v, n, k in rows}
        n = np.array([got.get(i, (0, 0))[0] for i in ids], np.float64)
        k = np.array([got.get(i, (0, 0))[1] for i in ids], np.float64)
        return n, k

    def probabilities(
        self,
        product: str,
        user: UserContext,
        policy: PolicyParams | None = None,
        rng: np.random.Generator | None = None,
    ) -> tuple[list[str], F64, str]:
        """(variant ids, the policy's probability vector, segment) for this user now."""
        check_id(product, "product")
        variants = self.variants(product)
        if not variants:
            variants = self.variants(product, fresh=True)
        if not variants:
            raise InvalidParamsError(
                f"product '{product}' has no variants in the feedback store; add them with "
                "`productstudio feedback variants` or FeedbackStore.add_variants"
            )
        p = policy or self.config().policy
        ids = [v.variant_id for v in variants]
        segment = self.rules().assign(user)
        rng = rng or np.random.default_rng(0)
        counts = linear = None
        if p.kind.contextual:
            stats, names = self.linear_model(p)
            z = np.array([[v.features.get(f, 0.0) for f in names] for v in variants])
            linear = (joint_features(context_vector(user, p.numeric_features), z), stats)
        elif p.kind is not PolicyKind.UNIFORM:
            counts = self._counts(product, segment, ids)
        probs = choice_probs(p, len(ids), counts=counts, linear=linear, rng=rng)
        return ids, probs, segment

    def choose(
        self,
        product: str,
        user: UserContext | None = None,
        *,
        policy: PolicyParams | None = None,
        decision_id: str | None = None,
        record: bool = False,
    ) -> Decision:
        """Choose a variant for ``user``; the propensity is the exact probability of the draw.

        Args:
            decision_id: makes the decision reproducible (same id, seed and store state → same
                variant); a random id otherwise.
            record: also record the impression (event id = decision id).
        """
        user = user or UserContext()
        if decision_id is not None:
            check_id(decision_id, "decision_id")
        rng = self._decision_rng(decision_id)
        did = decision_id or uuid.uuid4().hex
        p = policy or self.config().policy
        ids, probs, segment = self.probabilities(product, user, p, rng)
        i = sample_action(probs, rng)
        d = Decision(
            decision_id=did,
            product=product,
            variant=ids[i],
            propensity=float(probs[i]),
            segment=segment,
            policy=p.kind.value,
            probabilities={v: float(q) for v, q in zip(ids, probs, strict=True)},
            user=user,
        )
        if record:
            self.record(d.impression())
        return d

    # -- record ------------------------------------------------------------------------------
    def record(self, event: Event) -> RecordResult:
        """Store one event atomically (see the module docstring).

        Returns:
            ``recorded``, or ``duplicate`` when this exact event was already stored.

        Raises:
            EventError: unknown variant or impression, a different event under a used id;
                nothing is stored.
        """
        from sqlalchemy import select, update

        ts = time.time() if event.ts is None else float(event.ts)
        digest = event.digest()
        segment = event.segment
        if event.kind is EventKind.IMPRESSION:
            segment = segment or self.rules().assign(event.user)
            ids = {v.variant_id for v in self.variants(event.product)}
            if event.variant not in ids:
                ids = {v.variant_id for v in self.variants(event.product, fresh=True)}
            if event.variant not in ids:
                raise EventError(
                    f"unknown variant '{event.variant}' of product '{event.product}'"
                    + (f"; its variants: {', '.join(sorted(ids))}" if ids else " (no variants)"),
                    event_id=event.event_id,
                    reason="unknown_variant",
                )
        t_ev, t_imp, t_st = self.t["events"], self.t["impressions"], self.t["stats"]
        with self._write() as c:
            ins = self._insert(t_ev).values(
                event_id=event.event_id,
                kind=event.kind.value,
                impression_id=event.impression_id,
                digest=digest,
                counted=0,
                ts=ts,
            )
            new = c.execute(
                ins.on_conflict_do_nothing(index_elements=["event_id"]).returning(t_ev.c.event_id)
            ).first()
            if new is None:
                old = c.execute(
                    select(t_ev.c.digest).where(t_ev.c.event_id == event.event_id)
                ).scalar_one()
                if old == digest:
                    return RecordResult(event.event_id, RecordStatus.DUPLICATE, False)
                raise EventError(
                    "this event id was already used for a different event; use a new id "
                    "(a retry must resend exactly the same event)",
                    event_id=event.event_id,
                    reason="duplicate_id",
                )
            if event.kind is EventKind.IMPRESSION:
                assert event.propensity is not None
                ctx = event.user.to_json()
                c.execute(
                    t_imp.insert().values(
                        impression_id=event.event_id,
                        product=event.product,
                        variant=event.variant,
                        segment=segment,
                        policy=event.policy,
                        propensity=event.propensity,
                        decision_id=event.decision_id,
                        user_id=event.user.user_id,
                        context=ctx,
                        context_key=hashlib.sha256(ctx.encode()).hexdigest(),
                        ts=ts,
                        clicked=0,
                        converted=0,
                    )
                )
                key = (event.product, segment, event.variant)
                column = "impressions"
            else:
                imp = c.execute(
                    select(t_imp.c.product, t_imp.c.segment, t_imp.c.variant).where(
                        t_imp.c.impression_id == event.impression_id
                    )
                ).first()
                if imp is None:
                    raise EventError(
                        f"unknown impression '{event.impression_id}': record the impression "
                        f"before its {event.kind.value}s",
                        event_id=event.event_id,
                        reason="unknown_impression",
                    )
                flag = "clicked" if event.kind is EventKind.CLICK else "converted"
                flipped = c.execute(
                    update(t_imp)
                    .where((t_imp.c.impression_id == event.impression_id) & (t_imp.c[flag] == 0))
                    .values({flag: 1})
                    .returning(t_imp.c.impression_id)
                ).first()
                if flipped is None:
                    return RecordResult(event.event_id, RecordStatus.RECORDED, False)
                key = (imp[0], imp[1], imp[2])
                column = "clicks" if event.kind is EventKind.CLICK else "conversions"
            c.execute(update(t_ev).where(t_ev.c.event_id == event.event_id).values(counted=1))
            base = {"impressions": 0, "clicks": 0, "conversions": 0, column: 1}
            up = self._insert(t_st).values(product=key[0], segment=key[1], variant=key[2], **base)
            c.execute(
                up.on_conflict_do_update(
                    index_elements=["product", "segment", "variant"],
                    set_={column: t_st.c[column] + 1},
                )
            )
        return RecordResult(event.event_id, RecordStatus.RECORDED, True)

    # -- reading -----------------------------------------------------------------------------
    def stats(self, product: str | None = None) -> list[StatRow]:
        from sqlalchemy import select

        t = self.t["stats"]
        q = select(
            t.c.product, t.c.segment, t.c.variant, t.c.impressions, t.c.clicks, t.c.conversions
        ).order_by(t.c.product, t.c.segment, t.c.variant)
        if product is not None:
            q = q.where(t.c.product == product)
        with self._read() as c:
            return [StatRow(*r) for r in c.execute(q)]

    def count_events(self) -> dict[str, int]:
        from sqlalchemy import func, select

        t = self.t["events"]
        with self._read() as c:
            rows = c.execute(select(t.c.kind, func.count()).group_by(t.c.kind)).all()
        return {k: int(n) for k, n in rows}

    def impressions(self, product: str | None = None) -> ImpressionLog:
        from sqlalchemy import select

        t = self.t["impressions"]
        q = select(
            t.c.impression_id,
            t.c.product,
            t.c.segment,
            t.c.variant,
            t.c.policy,
            t.c.propensity,
            t.c.clicked,
            t.c.converted,
            t.c.ts,
            t.c.context,
        ).order_by(t.c.ts, t.c.impression_id)
        if product is not None:
            q = q.where(t.c.product == product)
        with self._read() as c:
            rows = c.execute(q).all()
        cols = list(zip(*rows, strict=True)) if rows else [()] * 10
        return ImpressionLog(
            impression_id=list(cols[0]),
            product=list(cols[1]),
            segment=list(cols[2]),
            variant=list(cols[3]),
            policy=list(cols[4]),
            propensity=np.asarray(cols[5], np.float64),
            clicked=np.asarray(cols[6], np.float64),
            converted=np.asarray(cols[7], np.float64),
            ts=np.asarray(cols[8], np.float64),
            context=list(cols[9]),
        )

    def feature_names(self) -> list[str]:
        from sqlalchemy import select

        t = self.t["variants"]
        with self._read() as c:
            rows = c.execute(select(t.c.features)).scalars().all()
        return sorted({k for f in rows for k in json.loads(f)})

    def linear_model(self, policy: PolicyParams | None = None) -> tuple[LinearStats, list[str]]:
        """Ridge statistics of the contextual policies, refit from the impressions at most every
        ``refresh_seconds`` (grouped by context × product × variant, so the cost grows with the
        number of distinct contexts, not impressions)."""
        p = policy or self.config().policy
        now = time.monotonic()
        cached = self._linear
        if cached is not None and now - cached[0] < self.refresh_seconds:
            return cached[1], cached[2]
        from sqlalchemy import func, select

        names = self.feature_names()
        t = self.t["impressions"]
        q = select(
            t.c.context_key,
            t.c.product,
            t.c.variant,
            func.min(t.c.context),
            func.count(),
            func.sum(t.c.clicked),
        ).group_by(t.c.context_key, t.c.product, t.c.variant)
        with self._read() as c:
            rows = c.execute(q).all()
        dx = context_vector(UserContext(), p.numeric_features).size
        stats = LinearStats.empty(dx * (len(names) + 1), p.ridge)
        if rows:
            feats: dict[tuple[str, str], NDArray[np.float64]] = {}
            for prod in {r[1] for r in rows}:
                for v in self.variants(prod, fresh=True):
                    feats[(prod, v.variant_id)] = np.array([v.features.get(f, 0.0) for f in names])
            phis, rewards, weights = [], [], []
            for _key, prod, var, ctx, n, k in rows:
                z = feats.get((prod, var))
                if z is None:
                    continue  # a variant removed since: ignore its history
                x = context_vector(UserContext.from_dict(json.loads(ctx)), p.numeric_features)
                phis.append(joint_features(x, z[None, :])[0])
                rewards.append(float(k or 0) / float(n))
                weights.append(float(n))
            if phis:
                stats.add(np.array(phis), np.array(rewards), np.array(weights))
        self._linear = (now, stats, names)
        return stats, names


__all__ = ["FeedbackConfig", "FeedbackStore", "ImpressionLog", "StatRow"]
