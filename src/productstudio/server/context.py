"""What every route shares: settings, the store, the work pool, the job runner, the models
this server can offer, and the helpers that admit a request (key, rate limit) and run its
work in the pool (freeing the slot when the client goes away)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import Response

from productstudio.server.errors import ApiError
from productstudio.server.jobs import JobRunner
from productstudio.server.limits import ImageHeader, check_image_bytes
from productstudio.server.pool import WorkPool
from productstudio.server.removebg import Rendered
from productstudio.server.settings import ServerSettings
from productstudio.server.store import ServerStore

if TYPE_CHECKING:
    from productstudio.personalize.store import FeedbackStore


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the key's id and name (empty when keys are off)."""

    key_id: str = ""
    name: str = ""


class RateLimiter:
    """A token bucket per caller: ``per_minute`` requests, bursts up to the same number."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, who: str) -> tuple[bool, int, float]:
        """(allowed, remaining, seconds until the next token)."""
        if self.rate <= 0:
            return True, 0, 0.0
        now = time.monotonic()
        tokens, last = self._buckets.get(who, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[who] = (tokens - 1.0, now)
            return True, int(tokens - 1.0), 0.0
        self._buckets[who] = (tokens, now)
        if len(self._buckets) > 100_000:  # forget idle callers
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 120}
        return False, 0, (1.0 - tokens) / self.rate


def value(choice: Any) -> str:
    """The string of a (dynamic) enum member."""
    return str(getattr(choice, "value", choice))


def choice_enum(name: str, values: list[str]) -> type[StrEnum]:
    """A StrEnum of ``values`` (for OpenAPI: only what this server can really do)."""
    members = {v.replace("-", "_").replace(".", "_").upper() or "EMPTY": v for v in values}
    return StrEnum(name, members)  # type: ignore[return-value]


@dataclass
class AppContext:
    """The server's shared state (``app.state.ps``)."""

    settings: ServerSettings
    segmenters: list[str]
    inpainters: list[str]
    upscalers: list[str]
    styles: list[str]
    text: bool
    presets: list[str]
    generators: dict[str, Path]
    pipelines: dict[str, str] = field(default_factory=dict)
    store: ServerStore | None = None
    pool: WorkPool | None = None
    runner: JobRunner | None = None
    feedback: FeedbackStore | None = None
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(0))
    started: float = field(default_factory=time.time)

    @classmethod
    def discover(cls, settings: ServerSettings) -> AppContext:
        """Find the models, presets and generators this server can offer."""
        from productstudio.models.discovery import available
        from productstudio.models.inpainters import INPAINTERS
        from productstudio.models.segmenters import SEGMENTERS
        from productstudio.models.style import STYLE_MODELS
        from productstudio.models.upscalers import UPSCALERS
        from productstudio.recipes import list_presets

        def names(registry: Any) -> list[str]:
            return [e.name for e, _ in available(registry)]

        try:
            from productstudio.models.text import rapidocr_available

            text = bool(rapidocr_available())
        except ImportError:  # pragma: no cover
            text = False
        gens: dict[str, Path] = {}
        if settings.generators_dir is not None and settings.generators_dir.is_dir():
            for d in sorted(settings.generators_dir.iterdir()):
                if (d / "config.json").is_file():
                    gens[d.name] = d.resolve()
        return cls(
            pipelines=_pipelines(),
            settings=settings,
            segmenters=names(SEGMENTERS),
            inpainters=names(INPAINTERS),
            upscalers=names(UPSCALERS),
            styles=names(STYLE_MODELS),
            text=text,
            presets=list_presets(),
            generators=gens,
            limiter=RateLimiter(settings.rate_limit_per_minute),
        )

    # -- admission -----------------------------------------------------------------------
    async def authenticate(self, request: Request) -> Caller:
        """Check the API key (when keys are on) and the rate limit; 403 / 429 otherwise."""
        key = request.headers.get("x-api-key", "").strip()
        caller = Caller()
        if key:
            found: Caller | None = await asyncio.to_thread(self._lookup, key)
            caller = found or Caller()
            if not caller.key_id and self.settings.keys_required:
                raise ApiError(403, "auth_failed", "Invalid API key: check the X-Api-Key header.")
        elif self.settings.keys_required:
            raise ApiError(
                403,
                "auth_failed",
                "Missing API key: send it in the X-Api-Key header (create one with "
                "`productstudio keys add NAME`).",
            )
        who = caller.key_id or (request.client.host if request.client else "?")
        ok, remaining, wait = self.limiter.take(who)
        if not ok:
            limit = str(int(self.limiter.capacity))
            raise ApiError(
                429,
                "rate_limit_exceeded",
                f"Rate limit exceeded: {limit} requests per minute. Retry in {wait:.0f} s.",
                {
                    "Retry-After": str(max(1, round(wait + 0.5))),
                    "X-RateLimit-Limit": limit,
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(int(time.time() + wait) + 1),
                },
            )
        request.state.rate_remaining = remaining
        if caller.key_id and self.store is not None:
            await asyncio.to_thread(self.store.count_call, caller.key_id)
        return caller

    def _lookup(self, key: str) -> Caller | None:
        from productstudio.server.store import hash_key

        digest = hash_key(key)
        for h in self.settings.api_key_hashes:
            if hmac.compare_digest(h.strip().lower(), digest):
                return Caller(key_id="env-" + digest[:8], name="configured key")
        if self.store is None:
            return None
        info = self.store.find_key(key)
        return Caller(info.id, info.name) if info is not None else None

    # -- inputs --------------------------------------------------------------------------
    def check_image(self, data: bytes, field_name: str) -> ImageHeader:
        s = self.settings
        return check_image_bytes(
            data, field=field_name, max_bytes=s.max_upload_bytes, max_pixels=s.max_pixels
        )

    async def admit_image(self, request: Request, data: bytes, field_name: str) -> None:
        """Authenticate the caller, then check an upload (in that order: a 401 before a 400)."""
        await self.authenticate(request)
        self.check_image(data, field_name)

    def segmenter(self, choice: Any) -> str:
        """The segmenter a request picked, or the server's default when it picked none."""
        return str(choice.value) if choice is not None else self.settings.segmenter

    async def fetch_image(self, url: str, field_name: str) -> bytes:
        """Download an image URL (only when the server allows URLs), SSRF-safe."""
        if not self.settings.allow_image_url:
            raise ApiError(
                400,
                "url_disabled",
                f"'{field_name}' is turned off on this server (it would fetch URLs on your "
                "behalf): upload the file instead, or start the server with "
                "PRODUCTSTUDIO_SERVER_ALLOW_IMAGE_URL=true.",
            )
        from productstudio.imaging.fetch import fetch_bytes

        res = await asyncio.to_thread(
            fetch_bytes,
            url,
            max_bytes=self.settings.max_upload_bytes,
            timeout_s=self.settings.url_timeout_s,
        )
        return res.data

    # -- running -------------------------------------------------------------------------
    async def run(self, request: Request, task: str, **kwargs: Any) -> Rendered:
        """Run ``task`` in the pool; if the client disconnects first, cancel it (its worker
        is replaced and the slot freed) and raise :class:`ClientGone`."""
        assert self.pool is not None
        work = asyncio.ensure_future(
            self.pool.run(task, kwargs, timeout=self.settings.request_timeout_s)
        )
        watch = asyncio.ensure_future(_disconnected(request))
        try:
            done, _ = await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            work.cancel()
            watch.cancel()
            raise
        if work in done:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
            result: Rendered = work.result()
            return result
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await work
        raise ClientGone()

    async def render(self, request: Request, task: str, **kwargs: Any) -> Response:
        """Run an image task under the server's pixel limit and answer with its result."""
        rendered = await self.run(request, task, max_pixels=self.settings.max_pixels, **kwargs)
        return respond(rendered)


def _pipelines() -> dict[str, str]:
    """Pretrained pipelines added with ``productstudio models add`` (name → pipeline class):
    what scene and generate jobs may load. Only these names are offered, never a path."""
    import logging

    from productstudio.errors import ProductStudioError
    from productstudio.models.manage import ModelKind, ModelStore

    try:
        added = ModelStore().of_kind(ModelKind.PIPELINE)
    except ProductStudioError as exc:  # a damaged models file must not stop the server
        logging.getLogger(__name__).warning("pipelines not offered: %s", exc)
        return {}
    return {m.name: m.pipeline_class or "" for m in added}


class ClientGone(Exception):
    """The client disconnected before its result was ready."""


async def _disconnected(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def respond(r: Rendered, filename: str | None = None) -> Response:
    headers = dict(r.headers)
    if filename:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(content=r.data, media_type=r.media_type, headers=headers)


def ctx_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ps
    return ctx


__all__ = ["AppContext", "Caller", "ClientGone", "RateLimiter", "choice_enum", "ctx_of", "value"]
