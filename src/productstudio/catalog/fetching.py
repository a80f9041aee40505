"""URL inputs of a catalogue: SSRF-safe downloads with caps, a per-host concurrency limit and
transient/permanent error classification (the run's store-backed retries do the back-off).

The download itself is :func:`productstudio.imaging.fetch.fetch_bytes` (blocked private,
loopback, link-local and metadata addresses after DNS, every redirect re-checked, byte and
time caps). Here: at most ``per_host`` downloads from one host at a time in a process (a run
with W worker processes gives each ``ceil(per_host / W)``), and timeouts, network errors,
HTTP 429 and 5xx become :class:`~productstudio.catalog.worker.TransientError` (retried with
back-off by the run); 4xx, blocked addresses, oversize bodies and bad URLs are permanent.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from productstudio.errors import FetchError, FetchReason, InvalidParamsError

_TRANSIENT = {FetchReason.TIMEOUT, FetchReason.NETWORK}


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """How URL inputs are downloaded.

    Attributes:
        max_bytes: largest image accepted (bytes).
        timeout_s: time limit of one download, redirects included.
        per_host: downloads from one host at a time, over all workers of a run.
        allow_private: also fetch from private/loopback addresses (trusted intranets, tests).
    """

    max_bytes: int = 50 * 1024 * 1024
    timeout_s: float = 30.0
    per_host: int = 8
    allow_private: bool = False

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.timeout_s <= 0 or self.per_host < 1:
            raise InvalidParamsError(
                "FetchOptions: max_bytes and timeout_s must be positive and per_host ≥ 1"
            )

    def split(self, workers: int) -> FetchOptions:
        """The options for one of ``workers`` processes (the per-host cap divided up)."""
        share = max(1, math.ceil(self.per_host / max(1, workers)))
        return FetchOptions(self.max_bytes, self.timeout_s, share, self.allow_private)


class HostLimiter:
    """At most ``per_host`` concurrent holders per host name (in this process)."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._lock = threading.Lock()
        self._sems: dict[str, threading.BoundedSemaphore] = {}

    @contextmanager
    def hold(self, url: str) -> Iterator[None]:
        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            sem = self._sems.setdefault(host, threading.BoundedSemaphore(self.per_host))
        with sem:
            yield


def is_url(text: str) -> bool:
    """``http://`` or ``https://`` (any case)."""
    return text[:8].lower().startswith(("http://", "https://"))


def fetch_input(url: str, options: FetchOptions, limiter: HostLimiter) -> bytes:
    """The image bytes at ``url``.

    Raises:
        TransientError: timeouts, network errors, HTTP 429/5xx (the run retries them).
        FetchError: permanent failures (blocked address, 4xx, too large, bad URL).
    """
    from productstudio.catalog.worker import TransientError
    from productstudio.imaging.fetch import fetch_bytes

    with limiter.hold(url):
        try:
            return fetch_bytes(
                url,
                max_bytes=options.max_bytes,
                timeout_s=options.timeout_s,
                allow_private=options.allow_private,
            ).data
        except FetchError as exc:
            status = exc.status or 0
            if exc.reason in _TRANSIENT or status == 429 or status >= 500:
                raise TransientError(str(exc), path=url) from None
            raise
