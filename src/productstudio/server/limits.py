"""Input limits enforced before any pixel is decoded.

* :class:`BodyLimit` (ASGI middleware): a request body over the cap is refused with 413 from
  its ``Content-Length``, or as soon as the streamed bytes pass the cap — before the multipart
  parser spools it anywhere.
* :func:`sniff` tells the real format from the first bytes (never the name or the declared
  content type); :func:`check_image_bytes` adds the byte cap and reads only the header to
  refuse images over the megapixel cap (decompression bombs included) without decoding them.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from productstudio.errors import CorruptImageError, ImageTooLargeError, UnsupportedImageError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


def sniff(data: bytes) -> str | None:
    """The image format the bytes start with (``"jpeg"``, ``"png"`` …), else ``None``.

    Example:
        >>> sniff(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(8)), sniff(b"%PDF-1.7"), sniff(b"")
        ('png', None, None)
    """
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:2] == b"BM" and len(head) >= 14:
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[4:8] == b"ftyp":
        brands = {head[8:12]} | {head[i : i + 4] for i in range(16, min(len(head), 32), 4)}
        if brands & _AVIF_BRANDS:
            return "avif"
        if brands & _HEIF_BRANDS:
            return "heif"
    return None


def _looks_like(data: bytes) -> str:
    head = data[:16].lstrip()
    for magic, what in (
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive"),
        (b"<svg", "an SVG drawing (vector images are not supported)"),
        (b"<?xml", "an XML/SVG file"),
        (b"<!DOCTYPE", "an HTML page"),
        (b"<html", "an HTML page"),
        (b"{", "JSON text"),
    ):
        if head.lower().startswith(magic.lower()):
            return what
    return f"{len(data)} bytes starting with {data[:8]!r}"


@dataclass(frozen=True, slots=True)
class ImageHeader:
    """What the header says, read without decoding pixels."""

    format: str
    width: int
    height: int

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


def check_image_bytes(data: bytes, *, field: str, max_bytes: int, max_pixels: int) -> ImageHeader:
    """Refuse anything but a readable image within the caps, before decoding it.

    Raises:
        ImageTooLargeError: over ``max_bytes`` or ``max_pixels`` (from the header).
        UnsupportedImageError: not one of JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC, AVIF.
        CorruptImageError: empty, or a known format whose header cannot be read.
    """
    if not data:
        raise CorruptImageError(f"'{field}' is empty (0 bytes). Send the image file's bytes.")
    if len(data) > max_bytes:
        raise ImageTooLargeError(
            f"'{field}' is {len(data):,} bytes, over the limit of {max_bytes:,}. "
            "Send a smaller file (or raise PRODUCTSTUDIO_SERVER_MAX_UPLOAD_BYTES)."
        )
    fmt = sniff(data)
    if fmt is None:
        raise UnsupportedImageError(
            f"'{field}' is not an image we can read: it looks like {_looks_like(data)}. "
            "Send a JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC or AVIF file."
        )
    from PIL import Image as PILImage

    if fmt in ("heif", "avif"):
        try:
            from pillow_heif import register_heif_opener

            register_heif_opener()
        except ImportError:  # pragma: no cover - a core dependency
            pass
    old = PILImage.MAX_IMAGE_PIXELS
    try:
        PILImage.MAX_IMAGE_PIXELS = max_pixels
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data)) as im:  # reads the header only
                width, height = im.size
    except PILImage.DecompressionBombError:
        raise ImageTooLargeError(
            f"'{field}' declares more than {max_pixels / 1e6:.1f} MP (a decompression bomb, or a "
            "very large image). Downscale it first."
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise CorruptImageError(
            f"'{field}' looks like {fmt.upper()} but its header cannot be read ({exc}). "
            "Re-export the image."
        ) from None
    finally:
        PILImage.MAX_IMAGE_PIXELS = old
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"'{field}' is {width}x{height} = {width * height / 1e6:.1f} MP, over the limit of "
            f"{max_pixels / 1e6:.1f} MP. Downscale it first."
        )
    if width < 1 or height < 1:
        raise CorruptImageError(f"'{field}' has an empty size ({width}x{height}).")
    return ImageHeader(fmt, width, height)


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: 413 for request bodies over the cap of their path.

    Args:
        app: the wrapped application.
        default: cap in bytes for every path not in ``per_prefix``.
        per_prefix: caps for path prefixes (longest match wins), e.g. batch uploads.
    """

    def __init__(
        self, app: ASGIApp, *, default: int, per_prefix: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.default = default
        self.per_prefix = sorted((per_prefix or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        for prefix, cap in self.per_prefix:
            if path.startswith(prefix):
                return cap
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.limit_for(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _send_error(send, 400, "Content-Length is not a number.", "bad_request")
                return
            if size > cap:
                await _send_error(send, 413, _too_large_text(size, cap), "file_too_large")
                return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise _TooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_error(send, 413, _too_large_text(seen, cap), "file_too_large")


def _too_large_text(size: int, cap: int) -> str:
    return (
        f"The request body is over {cap:,} bytes ({size:,} seen). Send a smaller image "
        "(or raise PRODUCTSTUDIO_SERVER_MAX_UPLOAD_BYTES)."
    )


async def _send_error(send: Send, status: int, title: str, code: str) -> None:
    body = json.dumps({"errors": [{"title": title, "code": code}]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


__all__ = ["BodyLimit", "ImageHeader", "check_image_bytes", "sniff"]
