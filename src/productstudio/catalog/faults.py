"""Named fault points for the crash tests: stop a real run at a chosen place.

Off unless ``PRODUCTSTUDIO_FAULT`` is set (tests set it in a subprocess's environment), e.g.
``PRODUCTSTUDIO_FAULT="decode@3=kill"``: the third time the run reaches the ``decode`` point
it SIGKILLs itself. Several faults are separated by commas. Actions:

* ``kill``: ``SIGKILL`` this process at once (no clean-up runs: a real crash);
* ``pause``: write ``$PRODUCTSTUDIO_FAULT_DIR/<point>.<pid>.paused`` and block until the
  process is killed or interrupted (the test sends the signal);
* ``wait``: write the same file, then block until ``$PRODUCTSTUDIO_FAULT_DIR/go`` exists (a
  start barrier for concurrent runners).

Points: ``registered`` (catalogue registered, before the first claim), ``claimed`` (after
a claim is committed), ``decode`` (input bytes read, before decoding), ``write`` (output
temp file written, before its rename), ``commit`` (between two items' updates in one store
commit).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

ENV = "PRODUCTSTUDIO_FAULT"
DIR_ENV = "PRODUCTSTUDIO_FAULT_DIR"

_counts: dict[str, int] = {}


def _plan() -> dict[str, tuple[int, str]]:
    spec = os.environ.get(ENV, "")
    plan: dict[str, tuple[int, str]] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        where, _, action = part.partition("=")
        name, _, nth = where.partition("@")
        plan[name] = (int(nth or 1), action or "kill")
    return plan


def fault_point(name: str) -> None:
    """Trigger the fault planned for ``name`` (no-op unless ``PRODUCTSTUDIO_FAULT`` names it)."""
    if ENV not in os.environ:
        return
    planned = _plan().get(name)
    if planned is None:
        return
    _counts[name] = _counts.get(name, 0) + 1
    nth, action = planned
    if _counts[name] != nth:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    folder = Path(os.environ.get(DIR_ENV, "."))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.{os.getpid()}.paused").write_text(str(os.getpid()))
    while action == "pause" or not (folder / "go").exists():
        time.sleep(0.01)  # blocked here until the test kills, interrupts or releases us
