"""How errors become HTTP answers: one body shape everywhere, remove.bg's
``{"errors": [{"title": …, "code": …, "detail": …}]}``, and 4xx for anything the caller can
fix. The mapping is used in the request process and in the worker processes alike."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from productstudio.errors import (
    BackendError,
    CorruptImageError,
    FetchError,
    FetchReason,
    ImageTooLargeError,
    InputError,
    InvalidParamsError,
    MissingDependencyError,
    RecipeError,
    UnknownBackendError,
    UnsupportedImageError,
    WeightsNotFoundError,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """An error as the HTTP layer reports it."""

    status: int
    code: str
    title: str
    headers: tuple[tuple[str, str], ...] = field(default=())

    def body(self) -> dict[str, list[dict[str, str]]]:
        return {"errors": [{"title": self.title, "code": self.code}]}


class ApiError(Exception):
    """Raised by routes: answered as ``info``."""

    def __init__(
        self, status: int, code: str, title: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(title)
        self.info = ErrorInfo(status, code, title, tuple((headers or {}).items()))


class NoForegroundError(InputError):
    """The segmenter found nothing to cut out (remove.bg's ``unknown_foreground``)."""


# The caller's faults in the order they are tested (a subclass before its base class).
_CALLER_FAULTS: tuple[tuple[type[Exception], int, str], ...] = (
    (ImageTooLargeError, 413, "file_too_large"),
    (UnsupportedImageError, 415, "unsupported_format"),
    (CorruptImageError, 400, "corrupt_image"),
    (InputError, 400, "invalid_input"),
    (RecipeError, 400, "invalid_recipe"),
    (UnknownBackendError, 400, "unknown_model"),
    (InvalidParamsError, 400, "invalid_parameters"),
    (WeightsNotFoundError, 503, "model_unavailable"),
    (MissingDependencyError, 503, "model_unavailable"),
)


def error_info(exc: BaseException) -> ErrorInfo:
    """The HTTP status, code and message for an exception (5xx only for our own faults)."""
    if isinstance(exc, ApiError):
        return exc.info
    msg = str(exc)
    if isinstance(exc, NoForegroundError):
        return ErrorInfo(400, "unknown_foreground", msg)
    if isinstance(exc, FetchError):
        code = (
            "url_refused"
            if exc.reason in (FetchReason.BLOCKED, FetchReason.URL)
            else ("file_too_large" if exc.reason is FetchReason.TOO_LARGE else "url_failed")
        )
        return ErrorInfo(413 if exc.reason is FetchReason.TOO_LARGE else 400, code, msg)
    for kind, status, code in _CALLER_FAULTS:
        if isinstance(exc, kind):
            return ErrorInfo(status, code, msg)
    if isinstance(exc, BackendError):
        return ErrorInfo(500, "model_failed", msg)
    log.error("unexpected error: %r", exc, exc_info=exc)
    return ErrorInfo(
        500,
        "server_error",
        f"Internal error ({exc.__class__.__name__}). It was logged; please report it with the "
        "input that caused it.",
    )


__all__ = ["ApiError", "ErrorInfo", "NoForegroundError", "error_info"]
