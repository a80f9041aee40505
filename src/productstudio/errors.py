"""One exception tree for all of ProductStudio.

Every message says what failed, where (file, field, YAML line) and what to do about it.

```
ProductStudioError
├── InputError
│   ├── CorruptImageError        (truncated, bad header, not an image)
│   ├── ImageTooLargeError       (pixel limit, decompression bomb)
│   ├── UnsupportedImageError    (format/mode we cannot handle)
│   ├── OutputError              (cannot write the result)
│   └── FetchError               (an image URL refused or failed: blocked address, size, time)
├── InvalidParamsError           (also a ValueError)
├── BackendError
│   ├── UnknownBackendError      (also a KeyError)
│   ├── WeightsNotFoundError
│   ├── WeightsChecksumError
│   ├── DownloadError            (offline, unreachable, HTTP error, cut-off transfer)
│   └── MissingDependencyError
├── RecipeError                  (carries file, line, key)
├── JobError
├── EventError                   (a bad feedback event: carries event_id and reason)
└── CancelledError               (long work stopped on request: a generation, a batch)
```
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path


class ProductStudioError(Exception):
    """Base of every error ProductStudio raises on purpose."""


class InputError(ProductStudioError):
    """An input file or stream cannot be used."""

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        super().__init__(message)
        self.path = str(path) if path is not None else None


class CorruptImageError(InputError):
    """The bytes are not a readable image (empty, truncated, bad header, not an image)."""


class ImageTooLargeError(InputError):
    """The image is over the configured pixel limit or looks like a decompression bomb."""


class UnsupportedImageError(InputError):
    """The image is readable but in a format, mode or shape we do not handle."""


class OutputError(InputError):
    """The result cannot be written (unwritable folder, disk full, bad extension)."""


class FetchReason(StrEnum):
    """Why :class:`FetchError` was raised."""

    URL = "url"  # not an http(s) URL, no host, credentials in it
    BLOCKED = "blocked"  # private, loopback, link-local, multicast, reserved, metadata address
    TOO_LARGE = "too_large"  # over the byte cap
    TIMEOUT = "timeout"  # over the time cap
    REDIRECTS = "redirects"  # too many redirects, or a redirect without a Location
    HTTP_STATUS = "http_status"  # the server answered with an error status
    NETWORK = "network"  # DNS failure, connection refused, TLS error


class FetchError(InputError):
    """An image URL could not be fetched, or was refused before any connection was made.

    Attributes:
        url: the URL of the failing hop.
        reason: a :class:`FetchReason`.
        status: the HTTP status for ``FetchReason.HTTP_STATUS``.
    """

    def __init__(
        self, message: str, *, url: str, reason: FetchReason, status: int | None = None
    ) -> None:
        super().__init__(message, path=url)
        self.url = url
        self.reason = reason
        self.status = status


class InvalidParamsError(ProductStudioError, ValueError):
    """A parameter, option or array argument is out of range or of the wrong kind."""


class BackendError(ProductStudioError):
    """A learned backend cannot be found, loaded or run."""


class UnknownBackendError(BackendError, KeyError):
    """A registry has no backend under that name."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class WeightsNotFoundError(BackendError):
    """A backend's weights file is not where it was looked for."""


class WeightsChecksumError(BackendError):
    """Downloaded or local weights do not match their pinned sha256."""


class DownloadError(BackendError):
    """A model download was not possible (offline mode, no network, HTTP error, cut off)."""


class MissingDependencyError(BackendError):
    """An optional package is not installed; the message names the pip command."""


class RecipeError(ProductStudioError):
    """A recipe file is invalid; carries the file, line and key when known."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        where = []
        if file is not None:
            where.append(str(file))
        if line is not None:
            where.append(f"line {line}")
        if key is not None:
            where.append(f"key '{key}'")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + message)
        self.file = str(file) if file is not None else None
        self.line = line
        self.key = key


class JobError(ProductStudioError):
    """A batch job or its store failed."""


class EventError(ProductStudioError):
    """A feedback event (impression, click, conversion) cannot be recorded; nothing was stored.

    ``reason`` is one of ``invalid``, ``unknown_variant``, ``unknown_impression``,
    ``missing_propensity``, ``duplicate_id`` (same id, different content).
    """

    def __init__(self, message: str, *, event_id: str | None = None, reason: str = "invalid"):
        prefix = f"event '{event_id}': " if event_id else ""
        super().__init__(prefix + message)
        self.event_id = event_id
        self.reason = reason


class CancelledError(ProductStudioError):
    """Long work (a diffusion run, a batch) was stopped because the caller asked it to."""


class Extra(StrEnum):
    """The optional-dependency groups ("extras") of ``pyproject.toml``; a test keeps this list
    equal to the file, so no install hint names an extra that does not exist."""

    MATTING = "matting"
    LEARN = "learn"
    SERVER = "server"
    RAY = "ray"
    POSTGRES = "postgres"
    REPORT = "report"


def install_hint(extra: Extra | str | None = None, *, requirements: str | None = None) -> str:
    """The one way to tell a user what to install.

    Args:
        extra: the productstudio extra that brings the package; ``None`` for a core
            dependency (reinstalling productstudio brings it back).
        requirements: a requirements file shipped in the repository (installed without its
            dependencies, e.g. ``requirements-ocr.txt``), instead of an extra.

    Example:
        >>> install_hint("learn")
        'pip install -c constraints.txt "productstudio[learn]"'
        >>> install_hint()
        'pip install -c constraints.txt "productstudio"'
    """
    if requirements is not None:
        return f"pip install -c constraints.txt --no-deps -r {requirements}"
    if extra is None:
        return 'pip install -c constraints.txt "productstudio"'
    return f'pip install -c constraints.txt "productstudio[{Extra(extra).value}]"'


def require(module: str, extra: Extra | str | None = None) -> None:
    """Raise :class:`MissingDependencyError` unless ``module`` can be imported.

    Args:
        module: importable module name, e.g. ``"torch"``.
        extra: the productstudio extra that installs it (``"learn"``); ``None`` for a core
            dependency.
    """
    import importlib.util

    if importlib.util.find_spec(module) is None:
        kind = "optional package" if extra is not None else "package"
        raise MissingDependencyError(
            f"This feature needs the {kind} '{module}'. Install it with: {install_hint(extra)}"
        )
