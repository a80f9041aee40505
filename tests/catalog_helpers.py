"""Helpers shared by the catalogue tests: small real photos from ../shared and a quick spec."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from conftest import shared_path
from productstudio.catalog import JobSpec
from productstudio.catalog.worker import MAIN_CANVAS

#: classical segmenter (no weights), a small canvas: a real run that takes ~0.1 s per photo;
#: the same spec as `productstudio run --model classical --size 240`
QUICK = JobSpec(model="classical", canvas=dataclasses.replace(MAIN_CANVAS, width=240, height=240))


def real_photos(dest: Path, n: int, kind: str = "grocery") -> list[Path]:
    """Copy the first ``n`` product photos of ``kind`` from ../shared/data/products."""
    folder = shared_path("data", "products", "images")
    picks = sorted(folder.glob(f"{kind}*.jpg"))[:n]
    dest.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(p, dest / p.name)) for p in picks]


def outputs(folder: Path) -> dict[str, bytes]:
    """Every output image below ``folder`` (manifests and hidden files left out)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix in (".jpg", ".png", ".webp") and not p.name.startswith(".")
    }
