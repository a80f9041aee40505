"""The job store: what a batch run has done, so an interrupted run resumes.

SQLite by default (a file in the output folder), PostgreSQL (or any SQLAlchemy URL) when
given ``--store postgresql+psycopg://…``. One row per catalogue item and settings hash.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Float, Integer, String, Text, create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from productstudio.errors import JobError


class Status(StrEnum):
    """State of one item in a run."""

    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class _Base(DeclarativeBase):
    pass


class ItemRow(_Base):
    __tablename__ = "ps_items"

    key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    settings: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    source_size: Mapped[int] = mapped_column(Integer)
    source_mtime: Mapped[float] = mapped_column(Float)
    output: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    updated: Mapped[float] = mapped_column(Float, default=0.0)


@dataclass(frozen=True, slots=True)
class SourceStamp:
    """Size and modification time of an input, to notice edited sources."""

    size: int
    mtime: float

    @classmethod
    def of(cls, path: Path) -> SourceStamp:
        try:
            st = path.stat()
        except OSError:
            return cls(-1, -1.0)
        return cls(int(st.st_size), float(st.st_mtime))


class JobStore:
    """Records per-item outcomes; :meth:`is_done` answers "can this item be skipped?"."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine: Engine = create_engine(url, future=True)
            _Base.metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise JobError(
                f"cannot open the job store {url!r}: {exc.__class__.__name__}: {exc}. "
                "Check the URL, or omit --store to use a SQLite file in the output folder."
            ) from None

    @classmethod
    def sqlite(cls, path: Path) -> JobStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{path}")

    def is_done(self, key: str, settings: str, stamp: SourceStamp, output: Path) -> bool:
        """True when the item finished with these settings, from this source, and its output
        exists."""
        if not output.is_file():
            return False
        with Session(self.engine) as s:
            row = s.get(ItemRow, (key, settings))
            return (
                row is not None
                and row.status == Status.DONE
                and row.source_size == stamp.size
                and abs(row.source_mtime - stamp.mtime) < 1e-3
                and row.output == str(output)
            )

    def record(
        self,
        key: str,
        settings: str,
        source: Path,
        stamp: SourceStamp,
        output: Path | None,
        status: Status,
        message: str = "",
        seconds: float = 0.0,
    ) -> None:
        try:
            with Session(self.engine) as s, s.begin():
                row = s.get(ItemRow, (key, settings))
                if row is None:
                    row = ItemRow(key=key, settings=settings)
                    s.add(row)
                row.source = str(source)
                row.source_size = stamp.size
                row.source_mtime = stamp.mtime
                row.output = str(output) if output is not None else ""
                row.status = str(status)
                row.message = message
                row.seconds = seconds
                row.updated = time.time()
        except SQLAlchemyError as exc:
            raise JobError(f"cannot write to the job store {self.url!r}: {exc}") from None

    def rows(self, settings: str | None = None) -> list[ItemRow]:
        with Session(self.engine) as s:
            q = select(ItemRow)
            if settings is not None:
                q = q.where(ItemRow.settings == settings)
            return list(s.scalars(q.order_by(ItemRow.key)))

    def close(self) -> None:
        self.engine.dispose()
