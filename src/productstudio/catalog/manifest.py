"""The per-run manifest: one line per item (JSONL or CSV), written as items finish.

Fields: ``key, preset, status, source, output, size, sha256, seconds, timings, verdict,
failed_rules, confidence, unsure, message``. ``sha256`` and ``size`` describe the output file;
``timings`` holds the per-stage seconds (JSON in CSV); ``verdict`` is the output's compliance
verdict against its recipe's rules (``pass``/``warn``/``fail``, empty when not checked, e.g.
for skipped items) and ``failed_rules`` the rules it fails (``;``-joined in CSV). Each line is
flushed when written, so a crashed run's manifest holds every item it finished.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from productstudio.errors import OutputError

FIELDS = (
    "key",
    "preset",
    "status",
    "source",
    "output",
    "size",
    "sha256",
    "seconds",
    "timings",
    "verdict",
    "failed_rules",
    "confidence",
    "unsure",
    "message",
)


class ManifestWriter:
    """Appends item records to ``path`` (``.jsonl`` or ``.csv``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.csv = path.suffix.lower() == ".csv"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh: IO[str] = path.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise OutputError(
                f'Cannot write the manifest "{path}": {exc.strerror or exc}.', path=path
            ) from None
        self._csv = csv.DictWriter(self._fh, FIELDS) if self.csv else None
        if self._csv is not None:
            self._csv.writeheader()
        self.lines = 0

    def write(self, record: dict[str, Any]) -> None:
        row = {k: record.get(k) for k in FIELDS}
        if self._csv is not None:
            if isinstance(row["timings"], dict):
                row["timings"] = json.dumps(row["timings"])
            if isinstance(row["failed_rules"], list | tuple):
                row["failed_rules"] = ";".join(row["failed_rules"])
            self._csv.writerow(row)
        else:
            self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._fh.flush()
        self.lines += 1

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> ManifestWriter:
        return self

    # the context-manager protocol, written out here as in runners/base.py (nothing to share)
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_manifest(path: Path) -> list[dict[str, Any]]:
    """The records of a manifest file (JSONL or CSV)."""
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
