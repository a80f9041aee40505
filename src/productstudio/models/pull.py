"""``models pull`` / ``models verify``: download weights with a pinned sha256, check files.

Downloads go to :func:`models_cache` (``Settings.cache_dir / "models"``, i.e.
``$XDG_CACHE_HOME/productstudio/models``; searched by discovery). A download is

* **verified**: streamed into a hidden ``.NAME.part`` file beside the target, hashed on the
  way, and renamed onto ``NAME`` (``os.replace``, atomic) only when its sha256 matches the
  pin; a mismatch deletes it. A server that offers another size than the pinned one is
  refused before any byte is stored. Nothing but a verified file ever carries the model's name.
* **concurrency-safe**: the target folder is locked (``flock``) while a process downloads
  into it; a second process waits, then finds the verified file and downloads nothing.
* **resumable**: a transfer cut off by the network leaves its ``.part`` file, and the next
  attempt asks only for the missing bytes (HTTP ``Range``); a stale part that does not verify
  is thrown away and the file fetched once more from the start.

Where files come from: the entry's URL (rembg's GitHub release), or the same file name under
``PRODUCTSTUDIO_MODELS_URL`` (a mirror), or ``--url``; the pin applies to all of them.
Offline mode (``PRODUCTSTUDIO_OFFLINE=1``) forbids every download.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from productstudio.errors import DownloadError, InvalidParamsError, WeightsChecksumError
from productstudio.models.registry import BackendEntry

log = logging.getLogger(__name__)
B = TypeVar("B")
CHUNK = 1 << 20
try:  # POSIX: downloads into one folder are serialised with flock
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None  # type: ignore[assignment]
Progress = Callable[[int, int], None]


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def models_cache() -> Path:
    """The folder that ``models pull`` and the first-run download store models in."""
    from productstudio.settings import get_settings

    return Path(get_settings().cache_dir).expanduser() / "models"


def offline_mode() -> bool:
    """``PRODUCTSTUDIO_OFFLINE`` (or the CLI's ``--offline``): never download anything."""
    from productstudio.settings import get_settings

    return get_settings().offline


def source_url(entry: BackendEntry[B], url: str | None = None) -> str | None:
    """Where ``entry``'s file is downloaded from: ``url``, else its file name under
    ``PRODUCTSTUDIO_MODELS_URL`` when that is set, else the entry's own URL (rembg's release).
    """
    if url:
        return url
    if not entry.url:
        return None
    from productstudio.settings import get_settings

    base = get_settings().models_url
    if base:
        name = urllib.parse.urlsplit(entry.url).path.rsplit("/", 1)[-1]
        return base.rstrip("/") + "/" + name
    return entry.url


def human_size(n: int | None) -> str:
    """``4574861`` → ``"4.6 MB"`` (decimal units, as download sizes are usually told).

    Example:
        >>> human_size(4_574_861), human_size(178_648_008), human_size(512)
        ('4.6 MB', '178.6 MB', '512 bytes')
    """
    if n is None:
        return "size unknown"
    if n < 1000:
        return f"{n} bytes"
    value = float(n)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 1000:
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} TB"


def pull(
    entry: BackendEntry[B],
    *,
    url: str | None = None,
    dest_dir: Path | None = None,
    force: bool = False,
    timeout: float = 60.0,
    offline: bool | None = None,
    on_progress: Progress | None = None,
) -> Path:
    """Download ``entry``'s weights and verify the pinned sha256 (see the module docstring).

    Args:
        entry: a registry entry with ``url`` and ``sha256``.
        url: download from here instead (a mirror; the pin still applies).
        dest_dir: target folder (default: :func:`models_cache`).
        force: download again even if a verified file is present.
        timeout: seconds to wait for the connection and for each read.
        offline: refuse to download (default: ``PRODUCTSTUDIO_OFFLINE``).
        on_progress: ``(bytes_done, bytes_total)``; total is 0 when unknown.

    Returns:
        Path of the verified file.

    Raises:
        InvalidParamsError: the entry needs no weights, or no pinned download exists for it
            (the message says how to get the file). DownloadError: offline mode, network or
            HTTP failure, a transfer cut off (run again to resume). WeightsChecksumError: the
            download does not match the pin (nothing is kept).
    """
    if not entry.file_names:
        raise InvalidParamsError(
            f"'{entry.name}' needs no model file (built in, or shipped with its package); "
            "nothing to pull"
        )
    src = source_url(entry, url)
    if not src or not entry.sha256:
        raise InvalidParamsError(
            f"no pinned download exists for '{entry.name}': ProductStudio only downloads files "
            "whose sha256 it knows. Get the file from the model's authors, then run "
            f"`productstudio models add {entry.name} PATH`, or save it as "
            f"{entry.file_names[0]} in the PRODUCTSTUDIO_MODELS folder"
        )
    if offline if offline is not None else offline_mode():
        raise DownloadError(
            f"offline mode is on (PRODUCTSTUDIO_OFFLINE or --offline): not downloading "
            f"'{entry.name}'. Unset it to download, or copy {entry.file_names[0]} into "
            "PRODUCTSTUDIO_MODELS by hand"
        )
    folder = dest_dir or models_cache()
    target = folder / entry.file_names[0]
    if target.is_file() and not force and sha256_of(target) == entry.sha256:
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f'cannot create the model folder "{folder}": {exc.strerror or exc}. Set '
            "PRODUCTSTUDIO_CACHE_DIR to a writable folder"
        ) from None
    with _folder_lock(folder):
        # another process may have finished the same download while this one waited
        if target.is_file() and not force and sha256_of(target) == entry.sha256:
            return target
        _download(entry.name, src, target, entry.sha256, entry.size, timeout, on_progress)
    log.info("pulled %s to %s", entry.name, target)
    return target


def verify(entry: BackendEntry[B], path: Path) -> bool | None:
    """True/False when ``path`` matches/mismatches the pin; None when there is no pin."""
    if not entry.sha256:
        return None
    return sha256_of(path) == entry.sha256


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``folder`` itself (no lock file is left behind)."""
    if fcntl is None:  # not POSIX: no lock; the verified os.replace keeps it atomic
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("waiting for another process that is downloading into %s", folder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _download(
    name: str,
    url: str,
    target: Path,
    sha256: str,
    size: int | None,
    timeout: float,
    on_progress: Progress | None,
) -> None:
    """Fetch ``url`` into ``target`` through ``.target.part`` (resumed when present)."""
    # under the folder lock a fixed, resumable part name is safe; without one, a unique name
    tag = "" if fcntl else f".{os.getpid()}"
    part = target.with_name(f".{target.name}{tag}.part")
    for attempt in range(2):
        start = part.stat().st_size if part.is_file() else 0
        if size is not None and start >= size:
            if start == size and sha256_of(part) == sha256:  # complete, but never renamed
                os.replace(part, target)
                return
            part.unlink()  # cannot be a prefix of the pinned file
            start = 0
        try:
            got = _stream(url, part, start, size, timeout, on_progress)
        except _StalePart:
            part.unlink(missing_ok=True)
            continue
        except DownloadError as exc:
            if part.is_file() and part.stat().st_size == 0:
                part.unlink()
            raise DownloadError(f"cannot download '{name}' from {url}: {exc}") from None
        except BaseException:
            if part.is_file() and part.stat().st_size == 0:
                part.unlink()
            raise
        if got != sha256:
            part.unlink(missing_ok=True)
            if start and attempt == 0:  # a stale part from another file: once more from zero
                log.warning("resumed download of %s did not verify; starting again", name)
                continue
            raise WeightsChecksumError(
                f"download of '{name}' from {url} has sha256 {got}, expected {sha256}; the file "
                "was discarded. The server holds another file (a wrong mirror or a tampered "
                "copy): check PRODUCTSTUDIO_MODELS_URL / --url"
            )
        os.replace(part, target)
        return
    raise DownloadError(f"cannot download '{name}' from {url}: the server ignores byte ranges")


class _StalePart(Exception):
    """The server cannot continue the part file (416, or another file): start from zero."""


def _stream(
    url: str,
    part: Path,
    start: int,
    size: int | None,
    timeout: float,
    on_progress: Progress | None,
) -> str:
    """Append the bytes from ``start`` to ``part``; the sha256 of the whole file."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        agent = f"productstudio/{version('productstudio')}"
    except PackageNotFoundError:  # a source checkout that is not installed
        agent = "productstudio"
    h = hashlib.sha256()
    if start:
        with part.open("rb") as fh:
            for block in iter(lambda: fh.read(CHUNK), b""):
                h.update(block)
    headers = {"User-Agent": agent}
    if start:
        headers["Range"] = f"bytes={start}-"
    host = urllib.parse.urlsplit(url).netloc or url
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            if start and resp.status == 206:
                crange = resp.headers.get("Content-Range", "")
                if not crange.startswith(f"bytes {start}-"):
                    raise _StalePart
            elif start:  # 200: the server sends the whole file again
                h = hashlib.sha256()
                start = 0
            total = start + int(length) if length is not None else (size or 0)
            if size is not None and length is not None and total != size:
                raise DownloadError(
                    f"the server offers {total} bytes, but the pinned file has {size}; nothing "
                    "was kept. It holds another file: check PRODUCTSTUDIO_MODELS_URL / --url"
                )
            done = start
            if on_progress:
                on_progress(done, total)
            with part.open("ab" if start else "wb") as fh:
                try:
                    while block := resp.read(CHUNK):
                        done += len(block)
                        if size is not None and done > size:
                            fh.truncate(0)
                            raise DownloadError(
                                f"the server sends more than the pinned {size} bytes; nothing "
                                "was kept"
                            )
                        fh.write(block)
                        h.update(block)
                        if on_progress:
                            on_progress(done, total)
                except http.client.IncompleteRead:
                    pass  # the connection closed early: told below, the part is kept
                fh.flush()
                os.fsync(fh.fileno())
            if total and done < total:
                raise DownloadError(
                    f"the transfer stopped after {done} of {total} bytes; run the same command "
                    "again to continue where it stopped"
                )
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:
            raise _StalePart from None
        raise DownloadError(f"the server answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = getattr(exc.reason, "strerror", None) or exc.reason
        raise DownloadError(
            f"cannot reach {host} ({reason}). Check the network or the proxy (HTTPS_PROXY), "
            "or copy the file into PRODUCTSTUDIO_MODELS by hand"
        ) from None
    except (http.client.HTTPException, OSError) as exc:
        raise DownloadError(
            f"{exc or type(exc).__name__}; run the same command again to continue where it stopped"
        ) from None
    return h.hexdigest()
