"""A model file server on 127.0.0.1 for download tests: no test ever reaches the internet.

It serves ``files`` by name, honours ``Range: bytes=N-`` (206), records every request, and
can answer an HTTP error, wait before answering, or cut the first transfer of a file short.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class ModelServer:
    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)  # name → HTTP error to answer
    cut_once: dict[str, int] = field(default_factory=dict)  # name → bytes sent, then closed
    delay_s: float = 0.0  # wait before answering (makes two clients overlap)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (name, Range)

    def names(self) -> list[str]:
        return [name for name, _ in self.requests]


@contextmanager
def serve() -> Iterator[ModelServer]:
    """Start a :class:`ModelServer` on a free loopback port; stopped on exit."""
    state = ModelServer()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            name = self.path.rsplit("/", 1)[-1]
            rng = self.headers.get("Range")
            with lock:
                state.requests.append((name, rng))
                cut = state.cut_once.pop(name, None)
            if state.delay_s:
                time.sleep(state.delay_s)
            if name in state.status:
                self.send_error(state.status[name])
                return
            data = state.files.get(name)
            if data is None:
                self.send_error(404)
                return
            start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
            if start >= len(data) > 0:
                self.send_error(416)
                return
            body = data[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if cut is not None:  # promise the whole file, send part of it, hang up
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    state.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        srv.shutdown()
        srv.server_close()


def closed_port() -> int:
    """A loopback port that nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pin(monkeypatch: object, name: str, data: bytes) -> None:
    """Make the registry's pin of segmenter ``name`` match ``data`` for one test (the real pins
    are rembg's release files, which no test downloads)."""
    import hashlib

    from productstudio.models.segmenters import SEGMENTERS

    entry = SEGMENTERS.get(name)
    monkeypatch.setattr(entry, "sha256", hashlib.sha256(data).hexdigest())  # type: ignore[attr-defined]
    monkeypatch.setattr(entry, "size", len(data))  # type: ignore[attr-defined]
