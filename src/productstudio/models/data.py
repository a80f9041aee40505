"""The products dataset for conditional generators (``../shared/data/products``).

Reads ``metadata.csv`` (never a directory listing), splits deterministically by a hash of the
product id, pads every photo to a square on white and resizes it to ``size`` x ``size``.
Decoded uint8 arrays are cached as ``.npz`` in a cache folder (never in the repository).

Example:
    >>> split_of("myntra_1528") in {Split.TRAIN, Split.VAL, Split.TEST}
    True
    >>> split_of("myntra_1528") == split_of("myntra_1528")
    True
    >>> pad_to_square(np.zeros((4, 2, 3), np.uint8)).shape
    (4, 4, 3)
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image as PILImage

from productstudio.errors import InputError, InvalidParamsError

log = logging.getLogger(__name__)

#: Attributes a generator can be conditioned on (CSV column names), in a fixed order.
ATTRIBUTES: tuple[str, ...] = (
    "category",
    "master_category",
    "sub_category",
    "colour",
    "gender",
    "season",
    "usage",
)
NONE_TOKEN = "<none>"


class Split(StrEnum):
    TRAIN = "train"
    VAL = "val"
    TEST = "test"


def split_of(product_id: str, *, val: float = 0.1, test: float = 0.1) -> Split:
    """Deterministic split from the sha1 of the id (80/10/10 by default)."""
    h = int.from_bytes(hashlib.sha1(product_id.encode("utf-8")).digest()[:8], "big") / 2**64
    if h < test:
        return Split.TEST
    if h < test + val:
        return Split.VAL
    return Split.TRAIN


def pad_to_square(image: NDArray[np.uint8], fill: int = 255) -> NDArray[np.uint8]:
    """Centre ``image`` (H, W, 3) on a square canvas of ``fill`` (white by default)."""
    h, w = image.shape[:2]
    s = max(h, w)
    out = np.full((s, s, image.shape[2]), fill, dtype=image.dtype)
    y, x = (s - h) // 2, (s - w) // 2
    out[y : y + h, x : x + w] = image
    return out


def prepare_image(image: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    """Pad to square on white and resize (area/Lanczos) to ``size`` x ``size`` RGB uint8."""
    sq = pad_to_square(image[..., :3])
    im = PILImage.fromarray(sq).resize((size, size), PILImage.Resampling.LANCZOS)
    return np.asarray(im, dtype=np.uint8).copy()


def save_npz(path: Path, **arrays: NDArray[np.generic]) -> Path:
    """Write ``arrays`` as an ``.npz`` cache file atomically (a unique temp file, then rename), so
    that processes filling the same cache at once never see or break a half-written file."""
    import io

    from productstudio.imaging import write_atomic

    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return write_atomic(buf.getvalue(), path)


@dataclass(frozen=True, slots=True)
class ProductRecord:
    """One row of ``metadata.csv`` that generators use."""

    id: str
    file: str
    title: str
    attrs: dict[str, str]
    source: str

    @property
    def split(self) -> Split:
        return split_of(self.id)


@dataclass(frozen=True)
class Vocab:
    """Per-attribute value lists; index 0 is always ``<none>`` (unknown / dropped).

    Example:
        >>> v = Vocab.build([{"colour": "Red"}, {"colour": "Blue"}], ("colour",))
        >>> v.index("colour", "Red"), v.index("colour", None)
        (2, 0)
    """

    values: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, rows: Iterable[dict[str, str]], names: Sequence[str]) -> Vocab:
        seen: dict[str, set[str]] = {n: set() for n in names}
        for r in rows:
            for n in names:
                v = (r.get(n) or "").strip()
                if v:
                    seen[n].add(v)
        return cls({n: (NONE_TOKEN, *sorted(seen[n])) for n in names})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.values)

    def size(self, name: str) -> int:
        return len(self.values[name])

    def index(self, name: str, value: str | None, *, strict: bool = True) -> int:
        """Index of ``value`` (0 for None/empty); unknown values raise InvalidParamsError
        (or map to 0 with ``strict=False``)."""
        if name not in self.values:
            raise InvalidParamsError(
                f"unknown attribute '{name}'. Known attributes: {', '.join(self.values)}"
            )
        if value is None or value == "" or value == NONE_TOKEN:
            return 0
        vals = self.values[name]
        for i, v in enumerate(vals):
            if v.lower() == value.strip().lower():
                return i
        if not strict:
            return 0
        shown = ", ".join(vals[1:20]) + (" …" if len(vals) > 21 else "")
        raise InvalidParamsError(f"unknown {name} '{value}'. Known values: {shown}")

    def to_json(self) -> str:
        return json.dumps({k: list(v) for k, v in self.values.items()}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Vocab:
        data = json.loads(text)
        return cls({k: tuple(v) for k, v in data.items()})


def read_metadata(
    root: str | Path, *, sources: Sequence[str] = ("myntra-small",)
) -> list[ProductRecord]:
    """Rows of ``root/metadata.csv`` whose ``source`` is in ``sources`` (all when empty).

    Raises:
        InputError: the CSV is missing or lacks required columns.
    """
    path = Path(root) / "metadata.csv"
    if not path.is_file():
        raise InputError(
            f"{path} not found: point --data at the products folder that holds metadata.csv",
            path=path,
        )
    out: list[ProductRecord] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"id", "file", "title"} - set(reader.fieldnames or ())
        if missing:
            raise InputError(f"{path}: missing columns {sorted(missing)}", path=path)
        for row in reader:
            if sources and row.get("source", "") not in sources:
                continue
            attrs = {a: (row.get(a) or "").strip() for a in ATTRIBUTES}
            out.append(
                ProductRecord(row["id"], row["file"], row["title"], attrs, row.get("source", ""))
            )
    out.sort(key=lambda r: r.id)
    return out


@dataclass
class ProductData:
    """Decoded images (N, S, S, 3) uint8 plus their records, in the same order (and, for paired
    translation data, the source photo of each row in ``inputs``)."""

    images: NDArray[np.uint8]
    records: list[ProductRecord]
    size: int
    #: paired data only: the source photo of each row (same shape as ``images``, the targets)
    inputs: NDArray[np.uint8] | None = None

    def subset(self, split: Split | None = None, limit: int | None = None) -> ProductData:
        idx = [i for i, r in enumerate(self.records) if split is None or r.split == split]
        if limit is not None:
            idx = idx[:limit]
        return self.take(idx)

    def take(self, idx: Sequence[int]) -> ProductData:
        """The rows ``idx`` (images, records and inputs), in that order."""
        ix = list(idx)
        return ProductData(
            self.images[ix],
            [self.records[i] for i in ix],
            self.size,
            None if self.inputs is None else self.inputs[ix],
        )

    def __len__(self) -> int:
        return len(self.records)


def load_products(
    root: str | Path,
    *,
    size: int = 64,
    sources: Sequence[str] = ("myntra-small",),
    limit: int | None = None,
    cache_dir: str | Path | None = None,
) -> ProductData:
    """Load, pad, resize and (optionally) cache the product photos.

    Args:
        root: folder with ``metadata.csv`` and ``images/``.
        size: output side in pixels (64 for benchmarks, 32 for quick tests).
        sources: which ``source`` values to keep (Myntra by default: it has colour/gender).
        limit: keep only the first ``limit`` records (sorted by id) — for tests.
        cache_dir: where to keep an ``.npz`` of the decoded arrays (None = no disk cache).

    Raises:
        InvalidParamsError: ``size`` is not in 8..512.
        InputError: missing CSV or image file.
    """
    if not 8 <= size <= 512:
        raise InvalidParamsError(f"size must be in 8..512, got {size}")
    root = Path(root)
    records = read_metadata(root, sources=sources)
    if limit is not None:
        records = records[:limit]
    if not records:
        raise InputError(f"{root}/metadata.csv has no rows for sources {list(sources)}", path=root)
    cache: Path | None = None
    if cache_dir is not None:
        key = hashlib.sha1(
            ("|".join(r.id for r in records) + f"|{size}|{root.resolve()}").encode()
        ).hexdigest()[:16]
        cache = Path(cache_dir) / f"products_{size}_{key}.npz"
        if cache.is_file():
            with np.load(cache) as z:
                return ProductData(z["images"], records, size)
    images = np.empty((len(records), size, size, 3), np.uint8)
    for i, r in enumerate(records):
        p = root / r.file
        try:
            with PILImage.open(p) as im:
                arr = np.asarray(im.convert("RGB"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read {p}: {exc}", path=p) from exc
        images[i] = prepare_image(arr, size)
    if cache is not None:
        save_npz(cache, images=images)
    log.info("loaded %d product photos at %dpx", len(records), size)
    return ProductData(images, records, size)
