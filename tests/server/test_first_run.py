"""The server decides `auto` once when the app is created, as `run` does: a first run fetches
the recommended model (or logs why classical is used); its workers never download."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from model_server import ModelServer
from productstudio.models.pull import models_cache


def test_app_resolves_auto_once_at_start(
    online: ModelServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong file on the mirror: one request while the app is built, the fallback logged
    with the command that fetches a model, nothing kept."""
    from productstudio.server import create_app

    online.files["u2netp.onnx"] = b"\0" * 4_574_861
    caplog.set_level(logging.INFO, "productstudio")
    create_app(data_dir=tmp_path, concurrency=1, segmenter="auto")
    assert online.names() == ["u2netp.onnx"]
    assert "first run: downloading the recommended segmenter u2netp" in caplog.text
    assert "auto: classical (download failed) — plain backgrounds only" in caplog.text
    assert not (models_cache() / "u2netp.onnx").exists()
    caplog.clear()
    create_app(data_dir=tmp_path, concurrency=1, segmenter="classical")
    assert online.names() == ["u2netp.onnx"] and "segmenter:" not in caplog.text


def test_app_offline_makes_no_request(
    model_server: ModelServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from productstudio.server import create_app

    caplog.set_level(logging.INFO, "productstudio")
    create_app(data_dir=tmp_path, concurrency=1, segmenter="auto")
    assert model_server.requests == [] and "auto: classical (offline)" in caplog.text


def test_pool_workers_are_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers get PRODUCTSTUDIO_OFFLINE=1 on top of the server's settings."""
    from productstudio.server import pool

    seen: list[dict[str, str]] = []

    class Fake:
        def __init__(self, *args: Any) -> None:
            seen.append(args[-1])

        def kill(self) -> None:
            pass

    monkeypatch.setattr(pool, "_Worker", Fake)
    monkeypatch.setenv("PRODUCTSTUDIO_OFFLINE", "0")
    monkeypatch.setenv("PRODUCTSTUDIO_MAX_PIXELS", "123")
    p = pool.WorkPool(2, 0)
    p.start()
    p.close()
    assert len(seen) == 2
    assert seen[0]["PRODUCTSTUDIO_OFFLINE"] == "1" and seen[0]["PRODUCTSTUDIO_MAX_PIXELS"] == "123"
