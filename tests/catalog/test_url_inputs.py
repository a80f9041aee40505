"""CSV rows with http(s) image URLs: downloads with caps, retries, per-host limit, errors."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog_helpers import QUICK, outputs, real_photos
from productstudio.catalog import RunOptions, run_catalog
from productstudio.catalog.fetching import FetchOptions, HostLimiter


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, int]]]:
    """127.0.0.1 only: /ok/<photo>, /missing (404), /text (not an image), /busy (503 once),
    /slow (answers after the client's time limit)."""
    (photo,) = real_photos(tmp_path / "srv", 1)
    body = photo.read_bytes()
    hits: dict[str, int] = {}
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits[self.path] = hits.get(self.path, 0) + 1
            if self.path.startswith("/ok/"):
                self._send(200, body, "image/jpeg")
            elif self.path == "/text":
                self._send(200, b"<html>not an image</html>", "text/html")
            elif self.path == "/busy" and hits[self.path] == 1:
                self._send(503, b"busy", "text/plain")
            elif self.path == "/busy":
                self._send(200, body, "image/jpeg")
            elif self.path == "/slow":
                release.wait(5)
                self._send(200, body, "image/jpeg")
            else:
                self._send(404, b"no", "text/plain")

        def _send(self, code: int, data: bytes, ctype: str) -> None:
            try:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass

        def log_message(self, *a: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", hits
    release.set()
    srv.shutdown()


def test_url_rows_download_retry_and_fail_with_reasons(
    server: tuple[str, dict[str, int]], tmp_path: Path
) -> None:
    base, hits = server
    cat = tmp_path / "c.csv"
    cat.write_text(
        "image,title\n"
        f"{base}/ok/a.jpg,first\n{base}/ok/b.jpg?v=2,second\n{base}/missing,gone\n"
        f"{base}/text,html\n{base}/busy,flaky\n{base}/slow,slow\n"
    )
    opts = RunOptions(
        executor="serial",  # type: ignore[arg-type]
        retries=1,
        retry_backoff_s=0.01,
        fetch=FetchOptions(timeout_s=0.5, allow_private=True),
    )
    s = run_catalog(cat, tmp_path / "out", QUICK, opts)
    assert (s.done, s.failed) == (3, 3), s.failures
    assert sorted(outputs(tmp_path / "out")) == [
        "127.0.0.1/busy.jpg",
        "127.0.0.1/ok/a.jpg",
        "127.0.0.1/ok/b.jpg",
    ]
    why = {src.rsplit("/", 1)[-1]: msg for src, msg in s.failures}
    assert "404" in why["missing"] and hits["/missing"] == 1  # permanent: not retried
    assert "not an image" in why["text"] or "damaged" in why["text"]
    assert "gave up after 2 attempts" in why["slow"] and hits["/slow"] == 2
    assert hits["/busy"] == 2  # 503 then 200: retried once
    again = run_catalog(cat, tmp_path / "out", QUICK, opts)
    assert again.skipped == 3 and hits["/ok/a.jpg"] == 1  # done URLs are not fetched again


def test_private_addresses_are_refused_by_default(
    server: tuple[str, dict[str, int]], tmp_path: Path
) -> None:
    base, hits = server
    cat = tmp_path / "c.jsonl"
    cat.write_text(f'{{"image": "{base}/ok/a.jpg", "key": "sku-1"}}\n')
    s = run_catalog(cat, tmp_path / "out", QUICK, RunOptions(executor="serial"))  # type: ignore[arg-type]
    assert s.failed == 1 and "loopback" in s.failures[0][1]
    assert hits == {}


def test_host_limiter_caps_concurrency() -> None:
    lim = HostLimiter(2)
    active = {"now": 0, "max": 0}
    lock = threading.Lock()

    def one(url: str) -> None:
        with lim.hold(url):
            with lock:
                active["now"] += 1
                active["max"] = max(active["max"], active["now"])
            time.sleep(0.02)
            with lock:
                active["now"] -= 1

    threads = [threading.Thread(target=one, args=(f"http://shop.example/{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert active["max"] == 2
    assert FetchOptions(per_host=8).split(3).per_host == 3
