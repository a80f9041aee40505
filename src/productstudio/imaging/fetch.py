"""SSRF-safe download of an image URL (catalogue URL inputs, the server's ``image_url``).

:func:`fetch_bytes` refuses anything but ``http``/``https``, resolves the host itself and
refuses the URL when **any** address it resolves to is private, loopback, link-local
(cloud metadata at 169.254.169.254 included), multicast, reserved, unspecified or otherwise
not globally routable — IPv6 wrappers of IPv4 addresses (``::ffff:a.b.c.d``, 6to4, NAT64,
Teredo) are unwrapped first. It then connects to the address it checked (no second DNS
look-up that a rebinding attacker could answer differently), re-checks every redirect hop the
same way, caps the body in bytes (the ``Content-Length`` header and the bytes actually read)
and the whole download in seconds, and asks for an uncompressed body (no gzip bombs).
Proxies from the environment are ignored unless ``trust_env=True``.

Example:
    >>> from productstudio.errors import FetchError
    >>> try:
    ...     fetch_bytes("http://169.254.169.254/latest/meta-data/", max_bytes=1000, timeout_s=1)
    ... except FetchError as exc:
    ...     print(exc.reason.value)
    blocked
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import socket
import ssl
import time
import urllib.request
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from productstudio.errors import FetchError, FetchReason, InvalidParamsError

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK = 64 * 1024
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
USER_AGENT = "productstudio-fetch/1"


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A downloaded body.

    Attributes:
        data: the body bytes (at most ``max_bytes``).
        content_type: the ``Content-Type`` header without parameters, lower-case ("" if absent).
        final_url: the URL after redirects.
    """

    data: bytes
    content_type: str
    final_url: str


def _unwrap(ip: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv6 transition address (mapped, 6to4, Teredo, NAT64)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def blocked_reason(address: str | IPAddress) -> str | None:
    """Why ``address`` must not be fetched from, or ``None`` when it is public.

    Example:
        >>> blocked_reason("10.1.2.3"), blocked_reason("::ffff:127.0.0.1")
        ('private', 'loopback')
        >>> blocked_reason("93.184.215.14") is None
        True
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    for candidate in dict.fromkeys((_unwrap(ip), ip)):
        if candidate.is_loopback:
            return "loopback"
        if candidate.is_link_local:
            return "link-local (cloud metadata lives here)"
        if candidate.is_multicast:
            return "multicast"
        if candidate.is_unspecified:
            return "unspecified"
        if candidate.is_reserved:
            return "reserved"
        if candidate.is_private:
            return "private"
        if not candidate.is_global:
            return "not globally routable"
    return None


def _resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _split(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path+query) of an http(s) URL, or a FetchError."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise FetchError(
            f'"{url}" is not a valid URL ({exc}). Give an http:// or https:// image URL.',
            url=url,
            reason=FetchReason.URL,
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(
            f'"{url}": only http:// and https:// URLs can be fetched, not "{scheme or "?"}:". '
            "Give a web address of the image.",
            url=url,
            reason=FetchReason.URL,
        )
    if not parts.hostname:
        raise FetchError(
            f'"{url}" has no host name. Give a full URL such as https://shop.example/p.jpg.',
            url=url,
            reason=FetchReason.URL,
        )
    if parts.username is not None or parts.password is not None:
        raise FetchError(
            f'"{url}" carries credentials (user:password@); they are not sent. Use a URL '
            "that needs no login.",
            url=url,
            reason=FetchReason.URL,
        )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


def _check_host(url: str, host: str, port: int, allow_private: bool) -> list[str]:
    """The host's addresses, all public (unless ``allow_private``), else a FetchError."""
    try:
        addresses = _resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise FetchError(
            f'Cannot fetch "{url}": the host name "{host}" does not resolve ({exc}). '
            "Check the URL.",
            url=url,
            reason=FetchReason.NETWORK,
        ) from None
    if not addresses:
        raise FetchError(
            f'Cannot fetch "{url}": "{host}" has no address.', url=url, reason=FetchReason.NETWORK
        )
    if not allow_private:
        for addr in addresses:
            why = blocked_reason(addr)
            if why is not None:
                raise FetchError(
                    f'Refusing "{url}": "{host}" resolves to {addr}, a {why} address. Only '
                    "public web addresses can be fetched; upload the file instead.",
                    url=url,
                    reason=FetchReason.BLOCKED,
                )
    return addresses


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to an already-checked address (no second DNS look-up)."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """An HTTPS connection to an already-checked address; SNI and the certificate check use
    the host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def _proxy_for(scheme: str, host: str) -> tuple[str, int] | None:
    """(host, port) of the environment's proxy for this URL, or None (``trust_env`` only)."""
    proxies = urllib.request.getproxies()
    if scheme not in proxies or urllib.request.proxy_bypass(host):
        return None
    p = urlsplit(proxies[scheme] if "://" in proxies[scheme] else "http://" + proxies[scheme])
    if not p.hostname:
        return None
    return p.hostname, p.port or 8080


def _connection(
    scheme: str, host: str, port: int, address: str, timeout: float, trust_env: bool
) -> tuple[http.client.HTTPConnection, bool]:
    """A connection for one hop, and whether requests must use the absolute URL (HTTP proxy)."""
    proxy = _proxy_for(scheme, host) if trust_env else None
    if proxy is None:
        cls = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
        return cls(host, port, address, timeout), False
    # Through a proxy the proxy resolves the name; the host was still checked above.
    if scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            proxy[0], proxy[1], timeout=timeout, context=ssl.create_default_context()
        )
        conn.set_tunnel(host, port)
        return conn, False
    return http.client.HTTPConnection(proxy[0], proxy[1], timeout=timeout), True


def _timeout(url: str, timeout_s: float) -> FetchError:
    return FetchError(
        f'Gave up on "{url}" after {timeout_s:g} s (time limit). Try a faster host, or '
        "upload the file instead.",
        url=url,
        reason=FetchReason.TIMEOUT,
    )


def _remaining(deadline: float, url: str, timeout_s: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _timeout(url, timeout_s)
    return left


def _too_large(url: str, size: str, max_bytes: int) -> FetchError:
    return FetchError(
        f'"{url}" is {size}, over the limit of {max_bytes:,} bytes. Use a smaller image.',
        url=url,
        reason=FetchReason.TOO_LARGE,
    )


def _read_body(
    resp: http.client.HTTPResponse,
    conn: http.client.HTTPConnection,
    url: str,
    max_bytes: int,
    deadline: float,
    timeout_s: float,
) -> bytes:
    length = resp.getheader("Content-Length")
    if length is not None and length.strip().isdigit() and int(length) > max_bytes:
        raise _too_large(url, f"{int(length):,} bytes (Content-Length)", max_bytes)
    chunks: list[bytes] = []
    total = 0
    while True:
        left = _remaining(deadline, url, timeout_s)
        if conn.sock is not None:
            conn.sock.settimeout(left)
        chunk = resp.read1(_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            raise _too_large(url, f"more than {max_bytes:,} bytes", max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def fetch_bytes(
    url: str,
    *,
    max_bytes: int,
    timeout_s: float,
    allow_private: bool = False,
    max_redirects: int = 5,
    trust_env: bool = False,
) -> FetchResult:
    """Download ``url`` with SSRF protection and size/time caps.

    Args:
        url: an ``http://`` or ``https://`` URL.
        max_bytes: largest body accepted (checked against ``Content-Length`` and while reading).
        timeout_s: wall-clock limit for the whole download, redirects included.
        allow_private: also fetch from private/loopback/link-local addresses. Only for tests
            and trusted intranets; never from user input on a public server.
        max_redirects: redirect hops followed (each one checked like the first URL).
        trust_env: use the proxy from ``http_proxy``/``https_proxy``/``no_proxy``. Off by
            default; through a proxy the proxy resolves names, after the same checks here.

    Returns:
        :class:`FetchResult` with the body, its content type and the final URL.

    Raises:
        FetchError: a bad or blocked URL, too many redirects, an error status, a body over
            ``max_bytes``, the time limit, or a network failure (``.reason`` says which).
        InvalidParamsError: ``max_bytes``, ``timeout_s`` or ``max_redirects`` out of range.
    """
    if max_bytes <= 0:
        raise InvalidParamsError(f"fetch_bytes: max_bytes must be positive, got {max_bytes}")
    if not timeout_s > 0:
        raise InvalidParamsError(f"fetch_bytes: timeout_s must be positive, got {timeout_s}")
    if max_redirects < 0:
        raise InvalidParamsError(f"fetch_bytes: max_redirects must be ≥ 0, got {max_redirects}")
    deadline = time.monotonic() + timeout_s
    current = url
    for _hop in range(max_redirects + 1):
        scheme, host, port, path = _split(current)
        addresses = _check_host(current, host, port, allow_private)
        resp, conn = _request(
            current, scheme, host, port, path, addresses, deadline, timeout_s, trust_env
        )
        try:
            if resp.status in _REDIRECTS:
                location = resp.getheader("Location")
                if not location:
                    raise FetchError(
                        f'"{current}" redirects ({resp.status}) without a Location header.',
                        url=current,
                        reason=FetchReason.REDIRECTS,
                    )
                log.debug("fetch: %s → %s", current, location)
                current = urljoin(current, location.strip())
                continue
            if not 200 <= resp.status < 300:
                raise FetchError(
                    f'"{current}" answered HTTP {resp.status} {resp.reason}. Check that the URL '
                    "points to a public image.",
                    url=current,
                    reason=FetchReason.HTTP_STATUS,
                    status=resp.status,
                )
            data = _read_body(resp, conn, current, max_bytes, deadline, timeout_s)
            ctype = (resp.getheader("Content-Type") or "").split(";")[0].strip().lower()
            return FetchResult(data, ctype, current)
        except (OSError, http.client.HTTPException) as exc:
            if isinstance(exc, TimeoutError):
                raise _timeout(current, timeout_s) from None
            raise FetchError(
                f'Cannot fetch "{current}": {exc.__class__.__name__}: {exc}.',
                url=current,
                reason=FetchReason.NETWORK,
            ) from None
        finally:
            conn.close()
    raise FetchError(
        f'"{url}" redirects more than {max_redirects} times. Give the image\'s direct URL.',
        url=url,
        reason=FetchReason.REDIRECTS,
    )


def _request(
    url: str,
    scheme: str,
    host: str,
    port: int,
    path: str,
    addresses: list[str],
    deadline: float,
    timeout_s: float,
    trust_env: bool,
) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
    """Send the GET to the first address that accepts a connection; return the response."""
    last: Exception | None = None
    for address in addresses:
        left = _remaining(deadline, url, timeout_s)
        conn, absolute = _connection(scheme, host, port, address, left, trust_env)
        try:
            conn.request(
                "GET",
                url if absolute else path,
                headers={
                    "User-Agent": USER_AGENT,
                    "Accept": "image/*,*/*;q=0.5",
                    "Accept-Encoding": "identity",
                },
            )
            if conn.sock is not None:
                conn.sock.settimeout(_remaining(deadline, url, timeout_s))
            return conn.getresponse(), conn
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            if isinstance(exc, TimeoutError):
                raise _timeout(url, timeout_s) from None
            last = exc
            if trust_env:
                break
    raise FetchError(
        f'Cannot fetch "{url}": {last.__class__.__name__}: {last}. Check that the host is up.',
        url=url,
        reason=FetchReason.NETWORK,
    )


__all__ = ["FetchResult", "blocked_reason", "fetch_bytes"]
