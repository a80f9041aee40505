"""Shared fixtures: the ../shared data folder (skipped, never failed, when absent) and an
isolated settings environment for every test."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_server import ModelServer, serve
from productstudio.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]


def shared_root() -> Path:
    """``PRODUCTSTUDIO_SHARED``, else ``../shared`` beside the project root."""
    env = os.environ.get("PRODUCTSTUDIO_SHARED")
    return Path(env) if env else ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under the shared folder; skips the calling test when it does not exist."""
    p = shared_root().joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not found: {p} (set PRODUCTSTUDIO_SHARED)")
    return p


def read_manifest(*parts: str) -> list[dict[str, str]]:
    """Rows of a shared CSV manifest (skips when absent)."""
    path = shared_path(*parts)
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return shared_path()


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    return shared_path("weights")


@pytest.fixture(scope="session")
def cutout_manifest() -> list[dict[str, str]]:
    return read_manifest("data", "cutout", "manifest.csv")


@pytest.fixture(scope="session")
def tiny_pipeline_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random-weight diffusers folders (``t2i``, ``inpaint``), built once per session;
    skips without diffusers. Tests must not modify them."""
    pytest.importorskip("diffusers")
    from tiny_pipelines import make_tiny_folders

    return make_tiny_folders(tmp_path_factory.mktemp("tiny-pipelines"))


@pytest.fixture(autouse=True)
def _isolated_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """No test sees the developer's own model folders, cache or environment."""
    for key in list(os.environ):
        if key.startswith("PRODUCTSTUDIO_") and key != "PRODUCTSTUDIO_SHARED":
            monkeypatch.delenv(key, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("U2NET_HOME", str(home / ".u2net"))
    monkeypatch.setenv("PRODUCTSTUDIO_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("PRODUCTSTUDIO_MODELS_FILE", str(home / "config" / "models.json"))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hf-hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # no test downloads a model: `--model auto` with nothing found falls back to classical
    # (tests of the first-run download unset this and serve files from 127.0.0.1)
    monkeypatch.setenv("PRODUCTSTUDIO_OFFLINE", "1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    """A model file server on 127.0.0.1 that records its requests."""
    with serve() as srv:
        yield srv


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch, model_server: ModelServer) -> ModelServer:
    """Downloads allowed, from ``model_server`` only (``PRODUCTSTUDIO_MODELS_URL``)."""
    monkeypatch.delenv("PRODUCTSTUDIO_OFFLINE", raising=False)
    monkeypatch.setenv("PRODUCTSTUDIO_MODELS_URL", model_server.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    get_settings.cache_clear()
    return model_server
