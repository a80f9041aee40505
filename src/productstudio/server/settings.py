"""Server settings: ``PRODUCTSTUDIO_SERVER_*`` environment variables and an optional TOML file.

Precedence, highest first: options given to ``productstudio serve`` (or keyword arguments of
:func:`load_settings`) → environment variables (``PRODUCTSTUDIO_SERVER_PORT=8080``; lists as
JSON, ``PRODUCTSTUDIO_SERVER_CORS_ORIGINS='["https://shop.example"]'``) → the TOML file
(``--config server.toml`` or ``PRODUCTSTUDIO_SERVER_CONFIG``; keys as below, top level or under
``[server]``) → the defaults. Model folders, the pixel limit and threads come from the library's
own settings (``PRODUCTSTUDIO_MODELS`` …).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from productstudio.errors import InvalidParamsError
from productstudio.models.pipelines.options import Device, DType, Offload


def _default_data_dir() -> Path:
    from productstudio.settings import get_settings

    return Path(get_settings().cache_dir) / "server"


class ServerSettings(BaseSettings):
    """Everything ``productstudio serve`` can be told; see the module docstring for precedence."""

    model_config = SettingsConfigDict(env_prefix="PRODUCTSTUDIO_SERVER_", extra="forbid")

    host: str = Field("127.0.0.1", description="Interface to listen on.")
    port: int = Field(7000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes.")
    concurrency: int = Field(
        0, ge=0, le=64, description="Image worker processes per server process (0 = cores)."
    )
    queue_size: int = Field(
        8, ge=0, le=10_000, description="Requests that may wait for a worker; more get 429."
    )
    request_timeout_s: float = Field(
        120.0, gt=0, description="A request still running after this is cancelled (503)."
    )
    max_upload_bytes: int = Field(25_000_000, gt=0, description="Largest image file accepted.")
    max_megapixels: float = Field(
        36.0, gt=0, description="Largest image accepted, checked from the header before decoding."
    )
    max_batch_files: int = Field(200, ge=1, description="Files per batch job.")
    max_batch_bytes: int = Field(300_000_000, gt=0, description="Largest batch job upload.")
    allow_image_url: bool = Field(
        False, description="Accept image_url / bg_image_url (fetched SSRF-safe)."
    )
    url_timeout_s: float = Field(15.0, gt=0, description="Time cap of one URL download.")
    require_keys: bool | None = Field(
        None, description="Require X-Api-Key (default: only when not listening on loopback)."
    )
    api_key_hashes: list[str] = Field(
        default_factory=list,
        description="sha256 hex digests of accepted keys, besides those in the database.",
    )
    rate_limit_per_minute: int = Field(
        120, ge=0, description="Requests per key (or per client without keys); 0 = off."
    )
    cors_origins: list[str] = Field(default_factory=list, description="CORS: off when empty.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL for jobs and keys (default: SQLite in data_dir)."
    )
    feedback_store: str | None = Field(
        None,
        description="SQLAlchemy URL of the click-feedback store (choose/events); default: the "
        "server's own database (database_url).",
    )
    data_dir: Path = Field(default_factory=_default_data_dir, description="Job inputs and results.")
    job_concurrency: int = Field(1, ge=1, le=16, description="Async jobs running at once.")
    job_ttl_hours: float = Field(24.0, gt=0, description="Finished jobs are deleted after this.")
    generators_dir: Path | None = Field(
        None, description="Folder of trained generators (one sub-folder each) for sampling."
    )
    segmenter: str = Field("auto", description="Default cut-out model.")
    pipeline_device: Device = Field(
        Device.AUTO, description="Where scene/generate jobs run pipelines (auto: CUDA, MPS, CPU)."
    )
    pipeline_dtype: DType = Field(
        DType.AUTO, description="Pipeline weight precision (auto: float16 on a GPU, else 32)."
    )
    pipeline_offload: Offload = Field(
        Offload.NONE, description="CPU offload of pipelines on a GPU (none, model, sequential)."
    )
    account_credits: int = Field(
        1_000_000, ge=0, description="What GET /v1.0/account reports (no billing here)."
    )
    log_level: str = Field("info", pattern="^(critical|error|warning|info|debug)$")

    _toml_file: ClassVar[Path | None] = None

    @field_validator("segmenter")
    @classmethod
    def _no_paths(cls, v: str) -> str:
        return v.strip()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls, cls._toml_file))

    # -- derived -------------------------------------------------------------------------
    @property
    def loopback(self) -> bool:
        """True when the server listens only on this machine."""
        if self.host in ("localhost",):
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def keys_required(self) -> bool:
        return self.require_keys if self.require_keys is not None else not self.loopback

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1_000_000)

    @property
    def pool_size(self) -> int:
        return self.concurrency or max(1, os.cpu_count() or 1)

    def store_url(self) -> str:
        """The SQLAlchemy URL of the jobs/keys store."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'server.sqlite'}"

    def feedback_url(self) -> str:
        """The SQLAlchemy URL of the click-feedback store (``ps_fb_*`` tables)."""
        return self.feedback_store or self.store_url()


class _TomlSource(PydanticBaseSettingsSource):
    """Values from a TOML file: top-level keys, or those under a ``[server]`` table."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path
        self.data: dict[str, Any] = {}
        if path is not None:
            try:
                raw = tomllib.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise InvalidParamsError(f'config file "{path}" not found') from None
            except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise InvalidParamsError(f'cannot read config file "{path}": {exc}') from None
            table = raw.get("server", raw)
            if not isinstance(table, dict):
                raise InvalidParamsError(f'config file "{path}": [server] must be a table')
            self.data = dict(table)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


def load_settings(config: Path | None = None, **overrides: Any) -> ServerSettings:
    """Settings from ``overrides`` > environment > ``config`` (TOML) > defaults.

    ``config`` defaults to ``PRODUCTSTUDIO_SERVER_CONFIG`` when set. ``None`` overrides are
    ignored (an option that was not given).

    Raises:
        InvalidParamsError: the config file is missing or invalid, or a value is out of range
            (the message names the setting).
    """
    from pydantic import ValidationError

    env_cfg = os.environ.get("PRODUCTSTUDIO_SERVER_CONFIG")
    path = config or (Path(env_cfg) if env_cfg else None)
    ServerSettings._toml_file = path
    try:
        return ServerSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e["loc"])
        raise InvalidParamsError(
            f"server setting '{where}': {e['msg']}"
            + (f" (from {path})" if path is not None else "")
        ) from None
    finally:
        ServerSettings._toml_file = None


__all__ = ["ServerSettings", "load_settings"]
