"""Find model files on disk and pick backends: ``name``, ``auto`` or a path.

Search order for a backend's weights:
0. a file added for it with ``productstudio models add NAME PATH`` (:mod:`.manage`);
1. the folder in ``PRODUCTSTUDIO_MODELS`` (searched recursively by known file names);
2. rembg's model folder: ``U2NET_HOME``, else ``~/.u2net`` (so users reuse models they have);
3. ProductStudio's download cache (``models pull``), ``Settings.cache_dir``.

A backend whose model is a folder (a diffusers pipeline) has a ``locate`` function instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from productstudio.errors import InvalidParamsError, WeightsNotFoundError
from productstudio.models.registry import BackendEntry, Registry

B = TypeVar("B")
AUTO = "auto"


def search_dirs() -> list[Path]:
    """Folders searched for model files, in order (only those that exist)."""
    from productstudio.settings import get_settings

    s = get_settings()
    dirs: list[Path] = []
    if s.models is not None:
        dirs.append(Path(s.models).expanduser())
    u2 = os.environ.get("U2NET_HOME")
    dirs.append(Path(u2).expanduser() if u2 else Path.home() / ".u2net")
    dirs.append(Path(s.cache_dir).expanduser() / "models")
    return [d for d in dirs if d.is_dir()]


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
