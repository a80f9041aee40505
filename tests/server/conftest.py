"""Server fixtures: one application per test module (its worker processes are spawned once),
real photos from ../shared, and a live uvicorn server on 127.0.0.1 for HTTP clients."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import shared_path


@pytest.fixture(scope="module")
def photo_path() -> Path:
    """A real retailer packshot (GroceryStoreDataset, MIT), 198x198 on white."""
    return shared_path("data", "text", "images", "grocery_iconic_oatly_oat_milk.jpg")


@pytest.fixture(scope="module")
def photo(photo_path: Path) -> bytes:
    return photo_path.read_bytes()


@pytest.fixture(scope="module")
def photo2() -> bytes:
    """Another real packshot on white (GroceryStoreDataset, MIT)."""
    return shared_path(
        "data", "text", "images", "grocery_iconic_tropicana_apple_juice.jpg"
    ).read_bytes()


@pytest.fixture(scope="module")
def store_photo() -> bytes:
    """A real hand-held in-store photo (GroceryStoreDataset, MIT), 348x348."""
    return shared_path(
        "data", "text", "images", "grocery_natural_oatly_oat_milk_016.jpg"
    ).read_bytes()


@pytest.fixture(scope="module")
def tmp_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server")


@pytest.fixture(scope="module")
def spool_dir(tmp_module: Path) -> Iterator[Path]:
    """Route the multipart parser's temporary files into a folder the tests can inspect."""
    d = tmp_module / "spool"
    d.mkdir()
    old = tempfile.tempdir
    tempfile.tempdir = str(d)
    try:
        yield d
    finally:
        tempfile.tempdir = old
