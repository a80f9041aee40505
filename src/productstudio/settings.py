"""Process-wide settings, read from ``PRODUCTSTUDIO_*`` environment variables.

Precedence (highest first): explicit arguments (CLI options, function parameters) →
environment variables (``PRODUCTSTUDIO_MAX_PIXELS`` …) → a ``.env`` file in the working
directory → the defaults below.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _user_cache() -> Path:
    """``$XDG_CACHE_HOME`` when set to an absolute path (XDG spec), else ``~/.cache``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"


class Settings(BaseSettings):
    """ProductStudio settings; see the module docstring for precedence."""

    model_config = SettingsConfigDict(env_prefix="PRODUCTSTUDIO_", env_file=".env", extra="ignore")

    max_pixels: int = Field(50_000_000, gt=0, description="Largest image accepted, in pixels.")
    models: Path | None = Field(
        None, description="Folder searched recursively for model files (e.g. ../shared/weights)."
    )
    shared: Path | None = Field(
        None, description="The shared data folder (tests and benchmarks only)."
    )
    threads: int = Field(0, ge=0, description="Threads per worker for ONNX/torch; 0 = auto.")
    cache_dir: Path = Field(
        default_factory=lambda: _user_cache() / "productstudio",
        description="Where `models pull` and the first-run download store models "
        "(default: $XDG_CACHE_HOME/productstudio, else ~/.cache/productstudio).",
    )
    offline: bool = Field(
        False,
        description="Never download anything: `--model auto` with no model found uses the "
        "built-in classical segmenter instead of fetching the recommended model.",
    )
    models_url: str | None = Field(
        None,
        description="Base URL that model downloads come from instead of rembg's GitHub "
        "release (a mirror; the pinned sha256 still applies).",
    )
    models_file: Path | None = Field(
        None,
        description="The list of models added with `models add` (default: "
        "$XDG_CONFIG_HOME/productstudio/models.json, else ~/.config/productstudio/models.json).",
    )
    pipeline: str | None = Field(
        None,
        description="Default diffusers pipeline for scene/generate and the `diffusion` "
        "inpainter: a name from `models add`, a folder, a checkpoint file or a cached hub id.",
    )
    allow_hub: bool = Field(
        False,
        description="Let diffusers fetch missing files from the Hugging Face Hub (off: local "
        "files only, never a network call).",
    )

    def models_file_path(self) -> Path:
        """Where `models add` keeps its list (see ``models_file``)."""
        if self.models_file is not None:
            return Path(self.models_file).expanduser()
        xdg = os.environ.get("XDG_CONFIG_HOME")
        base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
        return base / "productstudio" / "models.json"

    def thread_count(self) -> int:
        """Threads a single worker should use: the setting, else the machine's cores."""
        return self.threads or max(1, os.cpu_count() or 1)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process (read once; call ``get_settings.cache_clear()`` to reload)."""
    return Settings()  # type: ignore[call-arg]  # pydantic-settings fills fields from the env
