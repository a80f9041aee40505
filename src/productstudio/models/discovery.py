"""Find model files on disk and pick backends: ``name``, ``auto`` or a path.

Search order for a backend's weights:
0. a file added for it with ``productstudio models add NAME PATH`` (:mod:`.manage`);
1. the folder in ``PRODUCTSTUDIO_MODELS`` (searched recursively by known file names);
2. rembg's model folder: ``U2NET_HOME``, else ``~/.u2net`` (so users reuse models they have);
3. ProductStudio's download cache (``models pull``), ``Settings.cache_dir / "models"``.

A backend whose model is a folder (a diffusers pipeline) has a ``locate`` function instead.

``auto`` with none of them holding a model fetches the registry's recommended model into the
cache once (:func:`resolve_choice`, like rembg's first run but sha256-pinned), unless offline
mode is on; when that is not possible it falls back to the best built-in backend and says so.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Generic, TypeVar

from productstudio.errors import (
    DownloadError,
    InvalidParamsError,
    WeightsChecksumError,
    WeightsNotFoundError,
)
from productstudio.models.pull import human_size, models_cache, offline_mode, pull, source_url
from productstudio.models.registry import BackendEntry, Registry

log = logging.getLogger(__name__)
B = TypeVar("B")
AUTO = "auto"
FAILED_AUTO_TTL_S = 600.0  # a failed first-run download is not retried within this time


@dataclass(frozen=True, slots=True)
class ModelFolder:
    """A folder searched for model files and where it comes from (for ``models list``)."""

    label: str  # "PRODUCTSTUDIO_MODELS", "rembg (U2NET_HOME)", "rembg (~/.u2net)", "cache"
    path: Path


def model_folders() -> list[ModelFolder]:
    """Folders searched for model files, in order (only those that exist)."""
    from productstudio.settings import get_settings

    s = get_settings()
    out: list[ModelFolder] = []
    if s.models is not None:
        out.append(ModelFolder("PRODUCTSTUDIO_MODELS", Path(s.models).expanduser()))
    u2 = os.environ.get("U2NET_HOME")
    if u2:
        out.append(ModelFolder("rembg (U2NET_HOME)", Path(u2).expanduser()))
    else:
        out.append(ModelFolder("rembg (~/.u2net)", Path.home() / ".u2net"))
    out.append(ModelFolder("cache (models pull)", models_cache()))
    return [f for f in out if f.path.is_dir()]


def search_dirs() -> list[Path]:
    """Folders searched for model files, in order (only those that exist)."""
    return [f.path for f in model_folders()]


ADDED = "models add"  # origin of a file registered with `productstudio models add`


def origin_of(
    path: Path, folders: Iterable[ModelFolder] | None = None, backend: str | None = None
) -> str | None:
    """Where a found file came from: ``ADDED`` when it is the file ``models add`` recorded for
    ``backend``, else the label of the first searched folder that holds it (None: neither)."""
    if backend is not None:
        from productstudio.models.manage import added_file_for

        if added_file_for(backend) == path:
            return ADDED
    for f in folders if folders is not None else model_folders():
        if path.is_relative_to(f.path):
            return f.label
    return None


def _walk(folder: Path) -> Iterator[Path]:
    for root, _dirs, files in os.walk(folder, followlinks=False):
        for f in files:
            yield Path(root) / f


def find_weights(entry: BackendEntry[B], dirs: Iterable[Path] | None = None) -> Path | None:
    """The first file named like one of ``entry.file_names`` in the search folders (a file
    added with ``models add`` first; ``entry.locate()`` for folder models)."""
    if entry.locate is not None:
        return entry.locate()
    if not entry.file_names:
        return None
    from productstudio.models.manage import added_file_for

    added = added_file_for(entry.name)
    if added is not None:
        return added
    wanted = {n.lower() for n in entry.file_names}
    for d in dirs if dirs is not None else search_dirs():
        direct = [d / n for n in entry.file_names if (d / n).is_file()]
        if direct:
            return direct[0]
        for p in _walk(d):
            if p.name.lower() in wanted:
                return p
    return None


def available(registry: Registry[BackendEntry[B]]) -> list[tuple[BackendEntry[B], Path | None]]:
    """Every entry whose weights are present (or need none), best rank first."""
    dirs = search_dirs()
    out: list[tuple[BackendEntry[B], Path | None]] = []
    for name in registry.names():
        e = registry.get(name)
        if not e.needs_weights:
            out.append((e, None))
            continue
        p = find_weights(e, dirs)
        if p is not None:
            out.append((e, p))
    out.sort(key=lambda t: -t[0].rank)
    return out


def resolve(
    registry: Registry[BackendEntry[B]], choice: str | Path = AUTO
) -> tuple[BackendEntry[B], Path | None]:
    """Turn ``--model`` (a name, ``auto`` or a file path) into an entry and its weights path.

    Raises:
        UnknownBackendError: not a registered name nor an existing file.
        WeightsNotFoundError: a known name whose weights are not on this machine.
    """
    text = str(choice)
    if text.lower() == AUTO:
        found = available(registry)
        if not found:
            raise WeightsNotFoundError(f"no {registry.kind} available")
        return found[0]
    path = Path(text).expanduser()
    if path.suffix and (path.is_file() or os.sep in text or "/" in text):
        if not path.is_file():
            raise WeightsNotFoundError(f'model file "{path}" not found')
        entry = match_file(registry, path)
        return entry, path
    entry = registry.get(text)
    if not entry.needs_weights:
        return entry, None
    p = find_weights(entry)
    if p is None and entry.hint:
        raise WeightsNotFoundError(
            f"the {registry.kind} '{entry.name}' is not set up: {entry.hint}"
        )
    if p is None:
        where = ", ".join(str(d) for d in search_dirs()) or "(no model folder exists)"
        raise WeightsNotFoundError(
            f"the {registry.kind} '{entry.name}' needs one of {list(entry.file_names)}, not found "
            f"in {where}. Set PRODUCTSTUDIO_MODELS to the folder that holds it, pass the file "
            f"with --model PATH, or run `productstudio models pull {entry.name}`."
        )
    return entry, p


class Pick(StrEnum):
    """How :func:`resolve_choice` arrived at its backend."""

    NAMED = "named"  # --model NAME
    FILE = "file"  # --model PATH
    FOUND = "found"  # auto: the best model whose file is in a model folder
    BUILT_IN = "built-in"  # auto: nothing to find or fetch; the best weightless backend
    DOWNLOADED = "downloaded"  # auto: none found, the recommended model fetched now
    FALLBACK = "fallback"  # auto: none found, the download was not possible


OFFLINE = "offline"  # Resolved.cause when offline mode forbade the download


@dataclass(frozen=True, slots=True)
class Resolved(Generic[B]):
    """A backend picked for ``--model``, with what a user must be told about the pick.

    Attributes:
        entry, path: the registry entry and its weights file (``None``: needs none).
        pick: how it was picked.
        origin: label of the model folder the file was found in (``models list``'s "from").
        recommended: the model ``auto`` wanted to fetch (with DOWNLOADED and FALLBACK).
        cause: why that download was not possible: ``OFFLINE`` or the error message.
        caveat: what the fallback backend is good for ("plain backgrounds only").
    """

    entry: BackendEntry[B]
    path: Path | None
    pick: Pick
    origin: str | None = None
    recommended: str | None = None
    cause: str | None = None
    caveat: str = ""

    def load(self) -> B:
        """The loaded backend."""
        return self.entry.load(self.path)

    @property
    def choice(self) -> str:
        """The ``--model`` value that gives this same backend again without resolving
        ``auto`` (hand it to batch workers): the registry name, or the file for ``FILE``."""
        return str(self.path) if self.pick is Pick.FILE and self.path else self.entry.name

    @property
    def fell_back(self) -> bool:
        return self.pick is Pick.FALLBACK

    @property
    def problem(self) -> str | None:
        """One line on why the recommended model could not be downloaded (None when offline
        mode forbade it, which :meth:`describe` already says, or when nothing went wrong)."""
        if self.pick is not Pick.FALLBACK or self.cause in (None, OFFLINE):
            return None
        return self.cause

    def describe(self) -> str:
        """Which backend and why, for a run's header line, e.g. ``auto: u2netp downloaded to
        /home/me/.cache/productstudio/models/u2netp.onnx``."""
        name, where = self.entry.name, f" from {self.path}" if self.path else " (built in)"
        if self.pick in (Pick.NAMED, Pick.FILE):
            return name + where
        if self.pick is Pick.FOUND:
            return f"auto: {name}{where}" + (f" ({self.origin})" if self.origin else "")
        if self.pick is Pick.DOWNLOADED:
            return f"auto: {name} downloaded to {self.path}"
        if self.pick is Pick.FALLBACK:
            why = "offline" if self.cause == OFFLINE else "download failed"
            caveat = f" — {self.caveat}" if self.caveat else ""
            return (
                f"auto: {name} ({why}){caveat}; run `productstudio models pull {self.recommended}`"
            )
        return f"auto: {name} (built in)"


_failed_auto: dict[tuple[object, ...], tuple[float, Resolved[object]]] = {}


def resolve_choice(
    registry: Registry[BackendEntry[B]],
    choice: str | Path = AUTO,
    *,
    recommended: str | None = None,
    caveat: str = "",
    offline: bool | None = None,
    on_notice: Callable[[str], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    timeout: float = 30.0,
) -> Resolved[B]:
    """Turn ``--model`` into a backend, fetching the recommended model on a first run.

    A name or a path resolves as :func:`resolve` does (never downloads). ``auto`` picks the
    best model found in the model folders; when there is none and ``recommended`` names a
    model with a pinned download, that model is downloaded once into the cache
    (:func:`~productstudio.models.pull.pull`: verified, atomic, resumable) and used, unless
    offline mode is on. When it cannot be downloaded (offline, no network, HTTP error, wrong
    hash) the best built-in backend is used and the result says so (:meth:`Resolved.describe`,
    :attr:`Resolved.problem`); a failed attempt is not repeated within
    ``FAILED_AUTO_TTL_S`` in this process, so a loop over images asks the network once.

    Args:
        registry: the backend kind's registry.
        choice: a registry name, ``auto`` or a weights file.
        recommended: the model ``auto`` downloads when none is found (None: never download).
        caveat: what the built-in fallback is good for, for the user's notice.
        offline: never download (default: ``PRODUCTSTUDIO_OFFLINE``).
        on_notice: receives the one line announcing a download (what, from where, how big)
            before it starts, and the fallback's explanation; default: logged as warnings.
        on_progress: ``(bytes_done, bytes_total)`` during a download.
        timeout: seconds to wait for the connection and for each read.

    Raises:
        UnknownBackendError, WeightsNotFoundError, InvalidParamsError: as :func:`resolve`.
    """
    text = str(choice)
    if text.lower() != AUTO:
        entry, path = resolve(registry, choice)
        if text in registry or path is None:
            origin = origin_of(path, backend=entry.name) if path else None
            return Resolved(entry, path, Pick.NAMED, origin=origin)
        return Resolved(entry, path, Pick.FILE)
    folders = model_folders()
    found = available(registry)
    for entry, path in found:
        if path is not None:
            return Resolved(entry, path, Pick.FOUND, origin=origin_of(path, folders, entry.name))
    if not found:
        raise WeightsNotFoundError(f"no {registry.kind} available")
    fallback = found[0][0]
    if recommended is None:
        return Resolved(fallback, None, Pick.BUILT_IN)
    want = registry.get(recommended)
    off = offline_mode() if offline is None else offline
    say = on_notice or log.warning
    if off:
        res: Resolved[B] = Resolved(fallback, None, Pick.FALLBACK, None, want.name, OFFLINE, caveat)
    else:
        url = source_url(want)
        key = (registry.kind, want.name, url, str(models_cache()))
        seen = _failed_auto.get(key)
        if seen is not None and time.monotonic() - seen[0] < FAILED_AUTO_TTL_S:
            return seen[1]  # type: ignore[return-value]  # stored for this registry's kind
        say(
            f"first run: downloading the recommended {registry.kind} {want.name} "
            f"({human_size(want.size)}) from {url} to {models_cache()} — once; "
            "PRODUCTSTUDIO_OFFLINE=1 or --offline never downloads"
        )
        try:
            path = pull(want, offline=False, timeout=timeout, on_progress=on_progress)
        except (DownloadError, WeightsChecksumError, InvalidParamsError) as exc:
            res = Resolved(fallback, None, Pick.FALLBACK, None, want.name, str(exc), caveat)
            _failed_auto[key] = (time.monotonic(), res)  # type: ignore[assignment]
        else:
            return Resolved(
                want, path, Pick.DOWNLOADED, origin=origin_of(path), recommended=want.name
            )
    if on_notice is None:  # a library caller: say it once, in the log
        log.warning("%s%s", res.describe(), f" ({res.problem})" if res.problem else "")
    return res


def load_backend(registry: Registry[BackendEntry[B]], choice: str | Path = AUTO) -> B:
    """Resolve ``choice`` (name, ``auto`` or path) in ``registry`` and load the backend."""
    entry, path = resolve(registry, choice)
    return entry.load(path)


def match_file(registry: Registry[BackendEntry[B]], path: Path) -> BackendEntry[B]:
    """The entry whose known file names include ``path.name`` (for ``--model PATH``)."""
    name = path.name.lower()
    for n in registry.names():
        e = registry.get(n)
        if name in {f.lower() for f in e.file_names}:
            return e
    stem = path.stem.lower().replace("_", "-")
    for n in sorted(registry.names(), key=len, reverse=True):
        if n in stem:
            return registry.get(n)
    raise InvalidParamsError(
        f'cannot tell which {registry.kind} "{path}" is from its name. Rename it to a known '
        f"file name or pass the backend by name. Known: {', '.join(registry.names())}"
    )
