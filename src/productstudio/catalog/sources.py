"""List a catalogue's input images from a folder, a CSV file or a JSONL file.

``list_items(source)`` accepts:

* a **folder**: every image file below it, recursively (extensions in ``IMAGE_EXTENSIONS``,
  case-insensitive), sorted by relative path; hidden files and folders (names starting with
  ``.``) are skipped, symlinked folders are not followed;
* a **CSV** (``.csv``, ``.tsv``; comma, semicolon, tab or ``|`` separated, UTF-8 with or without
  a BOM) or **JSONL** (``.jsonl``, ``.ndjson``: one JSON object per line) file: one image per
  row, named by the first of the columns/fields ``path``, ``file``, ``image`` (header matched
  case-insensitively), relative to the file's own folder (absolute paths are kept); every other
  column becomes an attribute string. An optional ``key`` column names the output instead of
  the path (it must be unique, relative and without ``..``);
* a single image file.

Each image becomes a :class:`CatalogItem` whose ``key`` names its outputs: the path relative to
the folder (or to the CSV/JSONL file's folder) without its extension, with ``/`` separators, e.g.
``shoes/red/12``. Paths outside that folder keep their remaining parts (``../raw/a.jpg`` →
``raw/a``; ``/data/x/a.jpg`` → ``data/x/a``), so a key never climbs out of an output folder.
Different files whose keys differ only by extension (``a.jpg``, ``a.png``) share a key; the
batch planner tells them apart. Two files that would still collide (same key and extension,
ignoring case) raise :class:`InputError`.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

from productstudio.errors import InputError, InvalidParamsError

__all__ = [
    "IMAGE_EXTENSIONS",
    "PATH_COLUMNS",
    "CatalogItem",
    "Missing",
    "iter_items",
    "iter_table",
    "list_items",
    "read_folder",
    "read_table",
]

log = logging.getLogger(__name__)

#: File extensions (lower case) that a folder listing picks up.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".webp",
        ".tif",
        ".tiff",
        ".bmp",
        ".gif",
        ".heic",
        ".heif",
        ".avif",
    }
)

#: Columns/fields that name the image in a CSV or JSONL catalogue, in order of preference.
PATH_COLUMNS: tuple[str, ...] = ("path", "file", "image")

_CSV_SUFFIXES = frozenset({".csv", ".tsv"})
_JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
_KEY_COLUMN = "key"


class Missing(StrEnum):
    """What to do with a CSV/JSONL row whose image file does not exist."""

    ERROR = "error"  # raise InputError naming the file and line (default)
    SKIP = "skip"  # leave the row out and log a warning
    KEEP = "keep"  # list it anyway; loading it later fails for that item only


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """One input image of a catalogue.

    Attributes:
        path: the image file (absolute when the source was given as an absolute path).
        key: relative path without extension, ``/``-separated; names the outputs.
        attrs: the row's other columns (CSV/JSONL), as strings; empty for folders.
        origin: where the item was listed, for messages: ``"catalog.csv:12"`` or the folder.
        url: for a CSV/JSONL row with an ``http(s)://`` image, the URL (``path`` is then
            just the key).
    """

    path: Path
    key: str
    attrs: dict[str, str] = field(default_factory=dict, hash=False)
    origin: str = ""
    url: str = ""


def _existing_source(source: str | Path) -> Path:
    """The catalogue source as a path, or an :class:`InputError` naming it when it is absent."""
    src = Path(source).expanduser()
    if not src.exists():
        raise InputError(
            f'Catalogue source "{src}" does not exist. Pass a folder of images, a .csv/.jsonl '
            "file, or an image file.",
            path=src,
        )
    return src


def list_items(
    source: str | Path,
    *,
    missing: Missing | str = Missing.ERROR,
    exclude: Iterable[str | Path] = (),
) -> list[CatalogItem]:
    """The catalogue items of a folder, a CSV/TSV/JSONL file or a single image.

    Args:
        source: folder, ``.csv``/``.tsv``/``.jsonl``/``.ndjson`` file, or one image file.
        missing: what to do with table rows naming files that do not exist (see
            :class:`Missing`); folders only list files that exist.
        exclude: folders to leave out of a folder listing (e.g. the output folder when it
            sits inside the input folder).

    Returns:
        The items, sorted by relative path (folders) or in row order (tables).

    Raises:
        InputError: the source does not exist, is not a supported kind, holds no image, or a
            row is malformed (the message names the file and line and the fix).
        InvalidParamsError: ``missing`` is not a :class:`Missing` value.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     d = Path(tmp)
        ...     (d / "shoes").mkdir()
        ...     _ = (d / "shoes" / "red.JPG").write_bytes(b"")
        ...     _ = (d / ".DS_Store").write_bytes(b"")
        ...     _ = (d / "notes.txt").write_text("x")
        ...     [item.key for item in list_items(d)]
        ['shoes/red']
    """
    policy = _missing_policy(missing)
    src = _existing_source(source)
    if src.is_dir():
        return read_folder(src, exclude=exclude)
    suffix = src.suffix.lower()
    if suffix in _CSV_SUFFIXES or suffix in _JSONL_SUFFIXES:
        return read_table(src, missing=policy)
    if suffix in IMAGE_EXTENSIONS:
        return [CatalogItem(path=src, key=_safe_key_from_path(src, src.parent), origin=str(src))]
    raise InputError(
        f'Cannot use "{src}" as a catalogue: expected a folder, a .csv/.tsv/.jsonl/.ndjson '
        f"file or an image ({', '.join(sorted(IMAGE_EXTENSIONS))}).",
        path=src,
    )


def read_folder(folder: str | Path, *, exclude: Iterable[str | Path] = ()) -> list[CatalogItem]:
    """Every image below ``folder`` (recursive, sorted, hidden entries skipped).

    Raises:
        InputError: not a folder, unreadable, or no image found.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise InputError(f'"{root}" is not a folder.', path=root)
    found: list[tuple[str, Path]] = []
    for dirpath, names in _image_dirs(root, exclude):
        for n in names:
            path = Path(dirpath, n)
            found.append((path.relative_to(root).as_posix(), path))
    if not found:
        raise _no_images(root)
    found.sort(key=lambda pair: pair[0])
    items = [
        CatalogItem(path=path, key=_strip_suffix(rel), origin=str(root)) for rel, path in found
    ]
    _check_collisions(items)
    return items


def read_table(table: str | Path, *, missing: Missing | str = Missing.ERROR) -> list[CatalogItem]:
    """The rows of a CSV/TSV or JSONL catalogue as items (see the module docstring).

    Raises:
        InputError: unreadable or malformed file, missing path column, bad row, missing image
            (with ``missing="error"``), duplicate rows or keys, or no row at all.
        InvalidParamsError: ``missing`` is not a :class:`Missing` value.
    """
    path = Path(table).expanduser()
    items: list[CatalogItem] = []
    by_path: dict[Path, str] = {}
    by_key: dict[str, str] = {}
    for item in iter_table(path, missing=missing):
        line = item.origin.rsplit(":", 1)[-1]
        if item.attrs.get(_EXPLICIT_KEY):
            first = by_key.get(item.key.lower())
            if first is not None:
                raise InputError(
                    f"{item.origin}: key '{item.key}' is already used on line {first}; keys name "
                    "the outputs, so make them unique.",
                    path=path,
                )
            by_key[item.key.lower()] = line
        else:
            ident = Path(os.path.normcase(os.path.abspath(item.path)))
            first = by_path.get(ident)
            if first is not None:
                raise InputError(
                    f"{item.origin}: '{item.path.name}' is already listed on line {first}. Remove "
                    f"the duplicate, or add a '{_KEY_COLUMN}' column to name each output.",
                    path=path,
                )
            by_path[ident] = line
        attrs = {k: v for k, v in item.attrs.items() if k != _EXPLICIT_KEY}
        items.append(CatalogItem(item.path, item.key, attrs, item.origin))
    _check_collisions(items)
    return items


def iter_table(
    table: str | Path, *, missing: Missing | str = Missing.ERROR, urls: bool = False
) -> Iterator[CatalogItem]:
    """Stream the rows of a CSV/TSV or JSONL catalogue as items, in row order.

    Rows are read one at a time (millions of rows never sit in memory); duplicate ids are not
    checked here (the job store does that when a run registers the rows). Items with an
    explicit key column carry the attribute ``"\0key"`` (dropped by :func:`read_table`).

    Raises:
        InputError: unreadable or malformed file or row, missing image (``missing="error"``),
            or no row at all.
    """
    policy = _missing_policy(missing)
    path = Path(table).expanduser()
    suffix = path.suffix.lower()
    base = path.parent
    rows = _jsonl_rows(path) if suffix in _JSONL_SUFFIXES else _csv_rows(path)
    seen = 0
    n_rows = 0
    for line, record in rows:
        n_rows += 1
        item = _row_item(path, base, line, record, policy, urls)
        if item is not None:
            seen += 1
            yield item
    if not seen:
        raise InputError(
            f'"{path}" lists no images{" that exist" if n_rows else ""}. Add rows with a '
            f"'{PATH_COLUMNS[0]}' column.",
            path=path,
        )


_EXPLICIT_KEY = "\0key"


def _key_from_url(url: str, where: str, path: Path) -> str:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    segs = [s for s in unquote(parts.path).split("/") if s not in ("", ".", "..")]
    key = "/".join([(parts.hostname or "host").lower(), *segs])
    return _checked_key(_strip_suffix(key), where, path)


def _row_item(
    path: Path,
    base: Path,
    line: int,
    record: dict[str, str],
    policy: Missing,
    urls: bool = False,
) -> CatalogItem | None:
    where = f"{path}:{line}"
    lowered = {name.lower(): name for name in record}
    column = next((lowered[c] for c in PATH_COLUMNS if c in lowered), None)
    if column is None:
        raise InputError(
            f"{where}: no image column; name one of {', '.join(PATH_COLUMNS)} "
            f"(found: {', '.join(record) or 'none'}).",
            path=path,
        )
    key_column = lowered.get(_KEY_COLUMN)
    raw = record[column].strip()
    if not raw:
        raise InputError(
            f"{where}: the '{column}' value is empty: give the image's path or remove the row.",
            path=path,
        )
    if "://" in raw:
        if urls and raw[:8].lower().startswith(("http://", "https://")):
            attrs = {k: v for k, v in record.items() if k not in (column, key_column)}
            if key_column is not None:
                attrs[_EXPLICIT_KEY] = "1"
                key = _checked_key(record[key_column], where, path)
            else:
                key = _key_from_url(raw, where, path)
            return CatalogItem(path=Path(key), key=key, attrs=attrs, origin=where, url=raw)
        raise InputError(
            f"{where}: '{raw}' is a URL; only http(s) image URLs are downloaded, and only by "
            "`productstudio run`. Give a local path or an http(s) URL.",
            path=path,
        )
    image = Path(raw).expanduser()
    image = image if image.is_absolute() else base / image
    if image.is_dir():
        raise InputError(
            f"{where}: '{raw}' is a folder, not an image file. Point it at one image, or "
            "pass the folder itself as the catalogue.",
            path=path,
        )
    if not image.exists():
        if policy is Missing.ERROR:
            raise InputError(
                f"{where}: image '{raw}' not found (looked for {image}). Fix the path "
                "(relative paths start at the catalogue file's folder) or remove the row.",
                path=path,
            )
        if policy is Missing.SKIP:
            log.warning("%s: image %s not found; skipped", where, image)
            return None
    attrs = {k: v for k, v in record.items() if k not in (column, key_column)}
    if key_column is not None:
        key = _checked_key(record[key_column], where, path)
        attrs[_EXPLICIT_KEY] = "1"
    else:
        key = _safe_key_from_path(image, base)
    return CatalogItem(path=image, key=key, attrs=attrs, origin=where)


def iter_items(
    source: str | Path,
    *,
    missing: Missing | str = Missing.ERROR,
    exclude: Iterable[str | Path] = (),
    urls: bool = True,
) -> Iterator[CatalogItem]:
    """Like :func:`list_items`, streamed: folders one directory at a time, tables one row at
    a time. Files of one folder that share a name but not the extension (``a.jpg``,
    ``a.png``) get the extension in their key (``a.jpg``, ``a.png``) so each output is
    distinct; duplicate table ids are left to the job store to report.

    Raises:
        InputError: as :func:`list_items`.
    """
    policy = _missing_policy(missing)
    src = _existing_source(source)
    if src.is_dir():
        yield from _iter_folder(src, exclude)
        return
    suffix = src.suffix.lower()
    if suffix in _CSV_SUFFIXES or suffix in _JSONL_SUFFIXES:
        for item in iter_table(src, missing=policy, urls=urls):
            attrs = {k: v for k, v in item.attrs.items() if k != _EXPLICIT_KEY}
            yield CatalogItem(item.path, item.key, attrs, item.origin, item.url)
        return
    yield from list_items(src)


def _iter_folder(root: Path, exclude: Iterable[str | Path]) -> Iterator[CatalogItem]:
    found = False
    for dirpath, names in _image_dirs(root, exclude):
        stems: dict[str, int] = {}
        for n in names:
            stems[Path(n).stem.lower()] = stems.get(Path(n).stem.lower(), 0) + 1
        for n in names:
            p = Path(dirpath, n)
            rel = p.relative_to(root).as_posix()
            key = rel if stems[Path(n).stem.lower()] > 1 else _strip_suffix(rel)
            found = True
            yield CatalogItem(path=p, key=key, origin=str(root))
    if not found:
        raise _no_images(root)


# --- helpers ---------------------------------------------------------------------------------


def _missing_policy(value: Missing | str) -> Missing:
    try:
        return Missing(value)
    except ValueError:
        raise InvalidParamsError(
            f"missing must be one of {', '.join(m.value for m in Missing)}, got {value!r}"
        ) from None


def _real(path: Path) -> str:
    return os.path.normcase(os.path.realpath(path))


def _image_dirs(root: Path, exclude: Iterable[str | Path]) -> Iterator[tuple[str, list[str]]]:
    """Each folder below ``root`` with its image file names, both in name order; hidden
    entries, the ``exclude`` folders and dangling symlinks are left out."""
    skip = {_real(Path(p).expanduser()) for p in exclude}

    def on_error(exc: OSError) -> None:
        raise InputError(
            f'Cannot read folder "{exc.filename}": {exc.strerror}. Fix its permissions or '
            "exclude it.",
            path=exc.filename,
        )

    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error, followlinks=False):
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and _real(Path(dirpath, d)) not in skip
        )
        yield (
            dirpath,
            sorted(
                n
                for n in filenames
                if not n.startswith(".")
                and Path(n).suffix.lower() in IMAGE_EXTENSIONS
                and Path(dirpath, n).is_file()  # a dangling symlink is not an input
            ),
        )


def _no_images(root: Path) -> InputError:
    return InputError(
        f'No images found in "{root}" (looked recursively for '
        f"{', '.join(sorted(IMAGE_EXTENSIONS))}; hidden files are skipped). "
        "Check the folder, or list the files in a CSV with a 'path' column.",
        path=root,
    )


def _strip_suffix(rel: str) -> str:
    p = PurePosixPath(rel)
    return p.with_suffix("").as_posix() if p.suffix else p.as_posix()


def _safe_key_from_path(image: Path, base: Path) -> str:
    """``image`` relative to ``base`` without extension; ``..`` parts and drives dropped."""
    try:
        rel = Path(os.path.relpath(image, base))
    except ValueError:  # another drive on Windows
        rel = Path(*image.parts[1:]) if image.is_absolute() else image
    parts = [p for p in PurePosixPath(rel.as_posix()).parts if p not in ("..", ".", "/")]
    return _strip_suffix("/".join(parts) or image.name)


def _checked_key(value: str, where: str, path: Path) -> str:
    key = value.strip().replace("\\", "/")
    parts = PurePosixPath(key).parts
    if not parts or key.startswith("/") or ".." in parts or ":" in key:
        raise InputError(
            f"{where}: key {value!r} cannot name an output: use a non-empty relative name "
            "without '..', ':' or a leading '/'.",
            path=path,
        )
    return "/".join(parts)


def _check_collisions(items: list[CatalogItem]) -> None:
    seen: dict[tuple[str, str], CatalogItem] = {}
    for item in items:
        ident = (item.key.lower(), item.path.suffix.lower())
        other = seen.get(ident)
        if other is not None and other.path != item.path:
            raise InputError(
                f'"{other.path}" ({other.origin}) and "{item.path}" ({item.origin}) would write '
                f"the same output '{item.key}': rename one of them (outputs ignore letter case).",
                path=item.path,
            )
        seen[ident] = item


def _open_text(path: Path) -> Any:
    try:
        fh = path.open(encoding="utf-8-sig", newline="")
        fh.read(1)
        fh.seek(0)
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None
    except OSError as exc:
        raise InputError(f'Cannot read "{path}": {exc.strerror or exc}.', path=path) from None
    return fh


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> InputError:
    return InputError(
        f'"{path}" is not UTF-8 text (byte {exc.start}): save it as UTF-8 (in Excel: "CSV UTF-8").',
        path=path,
    )


def _decoded(path: Path, lines: Iterator[str]) -> Iterator[str]:
    try:
        yield from lines
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with _open_text(path) as fh:
        try:
            sample = fh.read(8192)
        except UnicodeDecodeError as exc:
            raise InputError(
                f'"{path}" is not UTF-8 text (byte {exc.start}): save it as UTF-8 (in Excel: '
                '"CSV UTF-8").',
                path=path,
            ) from None
        fh.seek(0)
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
                sample.replace("\r\n", "\n"), delimiters=",;\t|"
            )
        except csv.Error:
            dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
        reader = csv.reader(_decoded(path, fh), dialect)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(
                f'"{path}" is empty: it needs a header row with a '
                f"'{PATH_COLUMNS[0]}' column and one row per image.",
                path=path,
            ) from None
        except csv.Error as exc:
            raise InputError(f"{path}:1: unreadable CSV header ({exc}).", path=path) from None
        names = [h.strip() for h in header]
        lowered = [n.lower() for n in names]
        if not any(n in PATH_COLUMNS for n in lowered):
            raise InputError(
                f"{path}:1: no image column in the header "
                f"({', '.join(h.strip() for h in header)}); name the column with the image "
                f"paths one of: {', '.join(PATH_COLUMNS)}.",
                path=path,
            )
        dup = sorted({n for n in lowered if n and lowered.count(n) > 1})
        if dup:
            raise InputError(
                f"{path}:1: column names repeat ({', '.join(dup)}): give each column its own name.",
                path=path,
            )
        try:
            for values in reader:
                line = reader.line_num
                if not values or all(not v.strip() for v in values):
                    continue
                if len(values) > len(names):
                    raise InputError(
                        f"{path}:{line}: {len(values)} fields but the header has {len(names)} "
                        "columns; quote values that contain the separator.",
                        path=path,
                    )
                values = values + [""] * (len(names) - len(values))
                yield line, {n: v for n, v in zip(names, values, strict=True) if n}
        except csv.Error as exc:
            raise InputError(
                f"{path}:{reader.line_num}: malformed CSV ({exc}).", path=path
            ) from None


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with _open_text(path) as fh:
        for line, raw in enumerate(_decoded(path, fh), start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{path}:{line}: not valid JSON ({exc.msg} at column {exc.colno}); each "
                    'line must be one object like {"path": "shoe.jpg", "title": "…"}.',
                    path=path,
                ) from None
            if not isinstance(obj, dict):
                raise InputError(
                    f"{path}:{line}: expected a JSON object, got {type(obj).__name__}; each "
                    'line must look like {"path": "shoe.jpg"}.',
                    path=path,
                )
            lowered = {str(k).strip().lower(): k for k in obj}
            column = next((lowered[c] for c in PATH_COLUMNS if c in lowered), None)
            if column is not None and not isinstance(obj[column], str):
                raise InputError(
                    f"{path}:{line}: '{column}' must be a string path, got "
                    f"{type(obj[column]).__name__}.",
                    path=path,
                )
            yield line, {str(k).strip(): _attr_str(v) for k, v in obj.items()}


def _attr_str(value: object) -> str:
    """JSON values as attribute strings: strings as is, null as "", others as JSON text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
