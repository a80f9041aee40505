"""``productstudio serve`` and ``productstudio keys``: start, answer, stop cleanly; keys are
shown once and stored hashed; bad options are one red line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from productstudio.cli import app

runner = CliRunner()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_keys_add_list_revoke(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'server.sqlite'}"
    added = runner.invoke(app, ["keys", "add", "shop-frontend", "--database-url", db])
    assert added.exit_code == 0, added.output
    key = added.stdout.strip()
    assert key.startswith("ps_") and len(key) > 30
    assert key.encode() not in (tmp_path / "server.sqlite").read_bytes()
    listed = runner.invoke(app, ["keys", "list", "--database-url", db])
    assert "shop-frontend" in listed.stdout and key not in listed.stdout
    key_id = next(line.split()[1] for line in listed.stdout.splitlines() if "shop" in line)
    assert runner.invoke(app, ["keys", "revoke", key_id, "--database-url", db]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["keys", "list", "--database-url", db]).stdout
    bad = runner.invoke(app, ["keys", "revoke", "nope", "--database-url", db])
    assert bad.exit_code == 2 and "keys list" in bad.stderr


def test_serve_rejects_bad_settings(tmp_path: Path) -> None:
    r = runner.invoke(app, ["serve", "--port", "0", "--data-dir", str(tmp_path)])
    assert r.exit_code == 2 and "port" in r.stderr
    r = runner.invoke(app, ["serve", "--config", str(tmp_path / "none.toml")])
    assert r.exit_code == 2 and "not found" in r.stderr


def test_serve_starts_answers_and_stops(tmp_path: Path) -> None:
    """A real `productstudio serve`: health, the page and the docs answer; Ctrl-C stops the
    server and its worker processes."""
    psutil = pytest.importorskip("psutil")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRODUCTSTUDIO_SERVER_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "productstudio.cli", "serve", "--port", str(port),
         "--data-dir", str(tmp_path), "--concurrency", "1", "--model", "classical"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                health = httpx.get(url + "/v1/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.3)
        assert health.json()["status"] == "ok"
        assert "ProductStudio" in httpx.get(url + "/", timeout=10).text
        assert httpx.get(url + "/docs", timeout=10).status_code == 200
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children  # the image worker
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, out
    assert "http://127.0.0.1" in out
    time.sleep(0.5)
    assert not [c for c in children if c.is_running() and c.status() != "zombie"]
