"""SSRF-safe download: blocked addresses after DNS and on every redirect hop, size and time
caps, no proxies from the environment. A local HTTP server on 127.0.0.1 stands in for the web;
reaching it needs the explicit ``allow_private=True`` test flag (or a patched resolver)."""

from __future__ import annotations

import io
import ipaddress
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from productstudio.errors import FetchError, FetchReason, InputError, InvalidParamsError
from productstudio.imaging import fetch
from productstudio.imaging.fetch import blocked_reason, fetch_bytes


def _png() -> bytes:
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


PNG = _png()


class _Handler(BaseHTTPRequestHandler):
    hits: list[str] = []  # noqa: RUF012  shared log of requested paths

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, code: int, body: bytes = b"", ctype: str = "image/png", **hdrs: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in hdrs.items():
            self.send_header(k.replace("_", "-"), v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        _Handler.hits.append(self.path)
        host = self.headers.get("Host", "")
        if self.path == "/img.png":
            self._send(200, PNG, "image/png; charset=binary")
        elif self.path == "/host":
            self._send(200, host.encode(), "text/plain")
        elif self.path == "/redirect":
            self._send(302, Location="/img.png")
        elif self.path == "/redirect-internal":
            self._send(302, Location="http://internal.example/secret")
        elif self.path == "/redirect-metadata":
            self._send(301, Location="http://169.254.169.254/latest/meta-data/")
        elif self.path == "/redirect-file":
            self._send(302, Location="file:///etc/passwd")
        elif self.path == "/loop":
            self._send(302, Location="/loop")
        elif self.path == "/no-location":
            self._send(302)
        elif self.path == "/big-declared":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(10**9))
            self.end_headers()
            self.wfile.write(b"x" * 1000)
        elif self.path == "/big-chunked":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(64):
                chunk = b"y" * 4096
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):  # one byte every 50 ms: each read is quick, the whole is not
                try:
                    self.wfile.write(b"z")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.05)
        else:
            self._send(404, b"not found", "text/plain")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _clear_hits() -> None:
    _Handler.hits.clear()


def _get(url: str, **kw: object) -> fetch.FetchResult:
    args: dict[str, object] = {"max_bytes": 1_000_000, "timeout_s": 5.0}
    args.update(kw)
    return fetch_bytes(url, **args)  # type: ignore[arg-type]


# -- the allow flag and plain downloads -------------------------------------------------
def test_loopback_is_refused_before_any_connection(server: str) -> None:
    """Without the allow flag a loopback URL is refused and the server sees no request."""
    with pytest.raises(FetchError) as ei:
        _get(server + "/img.png")
    assert ei.value.reason is FetchReason.BLOCKED
    assert "127.0.0.1" in str(ei.value) and "loopback" in str(ei.value)
    assert isinstance(ei.value, InputError)
    assert _Handler.hits == []


def test_download_with_allow_flag(server: str) -> None:
    """The body, its content type (parameters dropped) and the final URL come back."""
    res = _get(server + "/img.png", allow_private=True)
    assert res.data == PNG
    assert res.content_type == "image/png"
    assert res.final_url == server + "/img.png"


def test_redirect_is_followed(server: str) -> None:
    res = _get(server + "/redirect", allow_private=True)
    assert res.data == PNG
    assert res.final_url == server + "/img.png"
    assert _Handler.hits == ["/redirect", "/img.png"]


def test_env_proxy_is_ignored_unless_asked(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy in the environment is not used by default (a dead proxy would fail)."""
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert _get(server + "/img.png", allow_private=True).data == PNG
    with pytest.raises(FetchError) as ei:
        _get(server + "/img.png", allow_private=True, trust_env=True)
    assert ei.value.reason is FetchReason.NETWORK


# -- DNS: checked after resolution, pinned, and on every hop ------------------------------
@pytest.fixture
def fake_dns(server: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """``shop.example`` resolves to the test server, ``internal.example`` to 10.0.0.7; the
    test server's own address counts as public so only the DNS answer decides."""
    table = {"shop.example": ["127.0.0.1"], "internal.example": ["10.0.0.7"]}
    calls: dict[str, list[str]] = {"resolved": []}

    def resolve(host: str, port: int) -> list[str]:
        calls["resolved"].append(host)
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        if host not in table:
            raise OSError("no such host")
        return table[host]

    real = fetch.blocked_reason
    monkeypatch.setattr(fetch, "_resolve", resolve)
    monkeypatch.setattr(
        fetch, "blocked_reason", lambda a: None if str(a) == "127.0.0.1" else real(a)
    )
    return calls


def test_connects_to_the_checked_address(server: str, fake_dns: dict[str, list[str]]) -> None:
    """The name is resolved once by the checker and the connection goes to that address
    (the system resolver has never heard of shop.example); Host carries the name."""
    port = server.rsplit(":", 1)[1]
    res = _get(f"http://shop.example:{port}/host")
    assert res.data.decode() == f"shop.example:{port}"
    assert fake_dns["resolved"] == ["shop.example"]


def test_redirect_to_a_private_host_is_refused(server: str, fake_dns: dict[str, list[str]]) -> None:
    """A public first hop that redirects to a name resolving to 10.x is refused at that hop."""
    port = server.rsplit(":", 1)[1]
    with pytest.raises(FetchError) as ei:
        _get(f"http://shop.example:{port}/redirect-internal")
    assert ei.value.reason is FetchReason.BLOCKED
    assert "10.0.0.7" in str(ei.value) and ei.value.url == "http://internal.example/secret"
    assert fake_dns["resolved"] == ["shop.example", "internal.example"]
    assert _Handler.hits == ["/redirect-internal"]


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/redirect-metadata", FetchReason.BLOCKED), ("/redirect-file", FetchReason.URL)],
)
def test_redirect_to_metadata_or_file_is_refused(
    server: str, fake_dns: dict[str, list[str]], path: str, reason: FetchReason
) -> None:
    port = server.rsplit(":", 1)[1]
    with pytest.raises(FetchError) as ei:
        _get(f"http://shop.example:{port}{path}")
    assert ei.value.reason is reason


def test_one_private_address_among_public_ones_blocks(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name with both a public and a private address is refused (no lottery)."""
    monkeypatch.setattr(fetch, "_resolve", lambda h, p: ["93.184.215.14", "192.168.1.5"])
    with pytest.raises(FetchError) as ei:
        _get("http://mixed.example/x.png")
    assert ei.value.reason is FetchReason.BLOCKED and "192.168.1.5" in str(ei.value)


# -- hostile URLs, refused without any network ----------------------------------------------
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", FetchReason.URL),
        ("ftp://example.com/a.png", FetchReason.URL),
        ("gopher://127.0.0.1:70/", FetchReason.URL),
        ("javascript:alert(1)", FetchReason.URL),
        ("http:///nohost", FetchReason.URL),
        ("http://user:pw@example.com/a.png", FetchReason.URL),
        ("http://example.com:99999/a.png", FetchReason.URL),
        ("http://169.254.169.254/latest/meta-data/", FetchReason.BLOCKED),
        ("http://[fd00:ec2::254]/latest/meta-data/", FetchReason.BLOCKED),
        ("http://100.100.100.200/latest/meta-data/", FetchReason.BLOCKED),
        ("http://localhost/", FetchReason.BLOCKED),
        ("http://127.1/", FetchReason.BLOCKED),
        ("http://2130706433/", FetchReason.BLOCKED),
        ("http://0x7f000001/", FetchReason.BLOCKED),
        ("http://0.0.0.0/", FetchReason.BLOCKED),
        ("http://[::1]/", FetchReason.BLOCKED),
        ("http://[::ffff:127.0.0.1]/", FetchReason.BLOCKED),
        ("http://[::ffff:a9fe:a9fe]/", FetchReason.BLOCKED),
        ("http://[2002:c0a8:0101::]/", FetchReason.BLOCKED),
        ("http://[64:ff9b::a00:1]/", FetchReason.BLOCKED),
        ("http://[fe80::1]/", FetchReason.BLOCKED),
        ("http://224.0.0.1/", FetchReason.BLOCKED),
        ("http://10.0.0.1/", FetchReason.BLOCKED),
        ("http://172.16.5.4/", FetchReason.BLOCKED),
        ("http://192.168.0.1/", FetchReason.BLOCKED),
        ("http://100.64.0.1/", FetchReason.BLOCKED),
        ("https://240.0.0.1/", FetchReason.BLOCKED),
    ],
)
def test_hostile_urls(url: str, reason: FetchReason) -> None:
    with pytest.raises(FetchError) as ei:
        _get(url)
    assert ei.value.reason is reason, str(ei.value)
    assert "http" in str(ei.value) or "URL" in str(ei.value)


# -- caps -----------------------------------------------------------------------------
def test_declared_length_over_cap(server: str) -> None:
    with pytest.raises(FetchError) as ei:
        _get(server + "/big-declared", allow_private=True, max_bytes=5000)
    assert ei.value.reason is FetchReason.TOO_LARGE and "5,000" in str(ei.value)


def test_streamed_body_over_cap(server: str) -> None:
    """Without a Content-Length the bytes actually read are counted."""
    with pytest.raises(FetchError) as ei:
        _get(server + "/big-chunked", allow_private=True, max_bytes=50_000)
    assert ei.value.reason is FetchReason.TOO_LARGE
    assert len(_get(server + "/big-chunked", allow_private=True, max_bytes=300_000).data) == (
        64 * 4096
    )


def test_whole_download_time_cap(server: str) -> None:
    """A body trickled byte by byte hits the total time cap even though no read stalls."""
    with pytest.raises(FetchError) as ei:
        _get(server + "/slow", allow_private=True, timeout_s=0.6)
    assert ei.value.reason is FetchReason.TIMEOUT


def test_redirect_loop_and_missing_location(server: str) -> None:
    with pytest.raises(FetchError) as ei:
        _get(server + "/loop", allow_private=True, max_redirects=3)
    assert ei.value.reason is FetchReason.REDIRECTS
    assert _Handler.hits.count("/loop") == 4
    with pytest.raises(FetchError) as ei:
        _get(server + "/no-location", allow_private=True)
    assert ei.value.reason is FetchReason.REDIRECTS


def test_error_status(server: str) -> None:
    with pytest.raises(FetchError) as ei:
        _get(server + "/missing.png", allow_private=True)
    assert ei.value.reason is FetchReason.HTTP_STATUS and ei.value.status == 404


def test_unresolvable_and_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FetchError) as ei:
        _get("http://no-such-host.invalid/a.png")
    assert ei.value.reason is FetchReason.NETWORK
    with pytest.raises(FetchError) as ei:  # nothing listens on port 9 of loopback
        _get("http://127.0.0.1:9/a.png", allow_private=True)
    assert ei.value.reason is FetchReason.NETWORK


@pytest.mark.parametrize(
    "kw", [{"max_bytes": 0}, {"timeout_s": 0.0}, {"max_redirects": -1}, {"timeout_s": -1.0}]
)
def test_bad_arguments(kw: dict[str, float]) -> None:
    with pytest.raises(InvalidParamsError):
        _get("http://example.com/a.png", **kw)


# -- the address classifier --------------------------------------------------------------
_BLOCKED_NETS = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "224.0.0.0/4",
    "0.0.0.0/8",
    "240.0.0.0/4",
]


@given(st.sampled_from(_BLOCKED_NETS), st.integers(min_value=0, max_value=2**32 - 1))
def test_blocked_ipv4_and_every_ipv6_wrapper(net: str, n: int) -> None:
    """Any address of a blocked IPv4 range is blocked, bare or wrapped in IPv6 (mapped,
    6to4, NAT64)."""
    network = ipaddress.ip_network(net)
    ip = network[n % network.num_addresses]
    assert blocked_reason(ip) is not None
    v = int(ip)
    for wrapped in (
        ipaddress.IPv6Address((0xFFFF << 32) | v),
        ipaddress.IPv6Address((0x2002 << 112) | (v << 80)),
        ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | v),
    ):
        assert blocked_reason(wrapped) is not None, wrapped


@pytest.mark.parametrize("addr", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(addr: str) -> None:
    assert blocked_reason(addr) is None
