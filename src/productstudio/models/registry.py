"""One generic registry for every kind of learned backend.

Segmenters, inpainters, upscalers, text detectors, generators and encoders each keep one
``Registry`` instance; the CLI choices, the API schema and the web page read them.

Example:
    >>> R: Registry[type] = Registry("widgets")
    >>> @R.register("plain")
    ... class Plain: ...
    >>> R.get("plain") is Plain
    True
    >>> R.names()
    ['plain']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

from productstudio.errors import InvalidParamsError, UnknownBackendError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → backend mapping that rejects duplicates and explains unknown names."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that adds an object under ``name`` (lower-case, unique)."""
        key = name.strip().lower()
        if not key:
            raise InvalidParamsError(f"{self.kind} registry: empty backend name")

        def deco(obj: T) -> T:
            if key in self._items:
                raise InvalidParamsError(f"{self.kind} registry: '{key}' is already registered")
            self._items[key] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        """The backend registered under ``name``.

        Raises:
            UnknownBackendError: listing the registered names.
        """
        key = name.strip().lower()
        try:
            return self._items[key]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise UnknownBackendError(
                f"unknown {self.kind} '{name}'. Registered {self.kind}s: {known}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)


B = TypeVar("B")


class BackendEntry(Generic[B]):
    """What a registry holds for a learned backend: how to load it and how to find its weights.

    Args:
        name: registry name (``"isnet-general-use"``).
        summary: one line for ``models list``.
        load: ``load(weights_path_or_None) -> backend``; ``None`` only when ``file_names`` is empty.
        file_names: file names that identify this model's weights on disk (for discovery).
        rank: higher is better; ``auto`` picks the highest-ranked backend whose weights exist.
        url, sha256: where ``models pull`` downloads it from and the pinned checksum.
        size: the pinned size of that download in bytes (``None``: unknown).
        locate: for a model that is not one file (a diffusers folder): returns where it is,
            or ``None``; used instead of the file-name search.
        hint: how to make a missing model available (shown when it is not found).
    """

    __slots__ = (
        "file_names",
        "hint",
        "load",
        "locate",
        "name",
        "rank",
        "sha256",
        "size",
        "summary",
        "url",
    )

    def __init__(
        self,
        name: str,
        summary: str,
        load: Callable[[Path | None], B],
        *,
        file_names: tuple[str, ...] = (),
        rank: int = 0,
        url: str | None = None,
        sha256: str | None = None,
        size: int | None = None,
        locate: Callable[[], Path | None] | None = None,
        hint: str | None = None,
    ) -> None:
        self.name = name
        self.summary = summary
        self.load = load
        self.file_names = file_names
        self.rank = rank
        self.url = url
        self.sha256 = sha256
        self.size = size
        self.locate = locate
        self.hint = hint

    @property
    def needs_weights(self) -> bool:
        return bool(self.file_names) or self.locate is not None

    def __repr__(self) -> str:
        return f"BackendEntry({self.name!r}, rank={self.rank})"
