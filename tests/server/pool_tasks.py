"""Tasks for the work-pool tests (imported by the pool's worker processes)."""

from __future__ import annotations

import os
import time
from typing import Any


def init_worker(threads: int, warm: tuple[str, ...]) -> None:
    pass


def run_task(name: str, kwargs: dict[str, Any]) -> Any:
    if name == "echo":
        return {"pid": os.getpid(), **kwargs}
    if name == "sleep":
        time.sleep(float(kwargs["seconds"]))
        return {"pid": os.getpid()}
    if name == "fail":
        from productstudio.errors import InvalidParamsError

        raise InvalidParamsError("bad 'x': give a number")
    if name == "bug":
        raise ZeroDivisionError("oops")
    if name == "die":
        os._exit(3)
    raise KeyError(name)
