"""Helpers for the server tests: an app per module, env for its workers, a live server."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import shared_root

SEGMENTER = "classical"  # fast on the studio packshots the tests use; u2netp where named


def server_env() -> dict[str, str]:
    """Environment for the app's worker processes: the shared model folder when present."""
    weights = shared_root() / "weights"
    return {"PRODUCTSTUDIO_MODELS": str(weights)} if weights.is_dir() else {}


def segmenter() -> str:
    return SEGMENTER


@contextmanager
def patched_env(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def make_app(data_dir: Path, **overrides: Any) -> Any:
    from productstudio.server import create_app
    from productstudio.settings import get_settings

    get_settings.cache_clear()
    opts: dict[str, Any] = {
        "data_dir": data_dir,
        "concurrency": 1,
        "queue_size": 4,
        "segmenter": segmenter(),
        "rate_limit_per_minute": 0,
    }
    opts.update(overrides)
    return create_app(**opts)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
