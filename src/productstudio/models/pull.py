"""``models pull`` / ``models verify``: download weights with a pinned sha256, check files.

Downloads go to ``Settings.cache_dir / "models"`` (searched by discovery), are streamed to
a temp file, checked against the pin and only then renamed into place: a failed or
tampered download never leaves a file behind.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from productstudio.errors import BackendError, InvalidParamsError, WeightsChecksumError
from productstudio.models.registry import BackendEntry

log = logging.getLogger(__name__)
B = TypeVar("B")
CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def models_cache() -> Path:
    from productstudio.settings import get_settings

    return Path(get_settings().cache_dir).expanduser() / "models"


def pull(
    entry: BackendEntry[B],
    *,
    url: str | None = None,
    dest_dir: Path | None = None,
    force: bool = False,
    timeout: float = 60.0,
    on_progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Download ``entry``'s weights and verify the pinned sha256.

    Args:
        entry: a registry entry with ``url`` and ``sha256`` (``url`` may be overridden,
            e.g. an internal mirror; the pin still applies).
        dest_dir: target folder (default: the models cache).
        force: download again even if a verified file is present.
        on_progress: ``(bytes_done, bytes_total)``; total is 0 when unknown.

    Returns:
        Path of the verified file.

    Raises:
        InvalidParamsError: the entry has no weights, URL or pin. BackendError: network or
        HTTP failure. WeightsChecksumError: the download does not match the pin.
    """
    if not entry.file_names:
        raise InvalidParamsError(f"'{entry.name}' needs no weights; nothing to pull")
    src = url or entry.url
    if not src:
        raise InvalidParamsError(
            f"no download source is known for '{entry.name}'; copy the file into "
            "PRODUCTSTUDIO_MODELS yourself or pass --url"
        )
    if not entry.sha256:
        raise InvalidParamsError(f"'{entry.name}' has no pinned sha256; refusing to download")
    folder = dest_dir or models_cache()
    target = folder / entry.file_names[0]
    if target.is_file() and not force and sha256_of(target) == entry.sha256:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as fh:
            try:
                with urllib.request.urlopen(src, timeout=timeout) as resp:
                    total = int(resp.headers.get("Content-Length") or 0)
                    done = 0
                    while block := resp.read(CHUNK):
                        fh.write(block)
                        h.update(block)
                        done += len(block)
                        if on_progress:
                            on_progress(done, total)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise BackendError(
                    f"cannot download '{entry.name}' from {src}: {exc}. Check the network, or copy "
                    "the file into PRODUCTSTUDIO_MODELS by hand."
                ) from None
        got = h.hexdigest()
        if got != entry.sha256:
            raise WeightsChecksumError(
                f"download of '{entry.name}' from {src} has sha256 {got}, expected {entry.sha256}; "
                "the file was discarded"
            )
        os.replace(tmp, target)
        tmp = ""
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
    log.info("pulled %s to %s", entry.name, target)
    return target


def verify(entry: BackendEntry[B], path: Path) -> bool | None:
    """True/False when ``path`` matches/mismatches the pin; None when there is no pin."""
    if not entry.sha256:
        return None
    return sha256_of(path) == entry.sha256
