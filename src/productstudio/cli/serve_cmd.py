"""``productstudio serve`` (the HTTP server and web page) and ``productstudio keys``.

FastAPI and uvicorn are imported inside the commands, so ``productstudio --help`` stays fast.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from productstudio.cli.app import app, err, handle_errors, out


def _export(overrides: dict[str, Any], config: Path | None) -> None:
    """Hand the options to every server worker process through the environment."""
    for key, value in overrides.items():
        if value is None:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        os.environ[f"PRODUCTSTUDIO_SERVER_{key.upper()}"] = text
    if config is not None:
        os.environ["PRODUCTSTUDIO_SERVER_CONFIG"] = str(config.resolve())


@app.command("serve")
@handle_errors
def serve_cmd(
    host: str | None = typer.Option(None, "--host", help="Interface (default 127.0.0.1)."),
    port: int | None = typer.Option(None, "--port", "-p", help="Port (default 7000)."),
    workers: int | None = typer.Option(
        None, "--workers", "-w", help="Server processes (default 1; each has its own pool)."
    ),
    concurrency: int | None = typer.Option(
        None, "--concurrency", help="Image worker processes per server process (default: cores)."
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="TOML settings file (see docs/server.md)."
    ),
    allow_image_url: bool | None = typer.Option(
        None,
        "--allow-image-url/--no-image-url",
        help="Fetch image_url (SSRF-safe); off by default.",
    ),
    require_keys: bool | None = typer.Option(
        None,
        "--require-keys/--no-keys",
        help="Require X-Api-Key (default: only when not on loopback).",
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Job files and the database."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db."
    ),
    segmenter: str | None = typer.Option(None, "--model", "-m", help="Default cut-out model."),
) -> None:
    """Run the HTTP server: the web page at /, the API (remove.bg- and rembg-compatible) and
    its docs at /docs."""
    from productstudio.server.settings import load_settings

    overrides: dict[str, Any] = {
        "host": host,
        "port": port,
        "workers": workers,
        "concurrency": concurrency,
        "allow_image_url": allow_image_url,
        "require_keys": require_keys,
        "data_dir": data_dir,
        "database_url": database_url,
        "segmenter": segmenter,
    }
    s = load_settings(config, **overrides)  # validate before starting anything
    _export(overrides, config)
    import uvicorn

    err.print(
        f"ProductStudio on [bold]http://{s.host}:{s.port}[/] — page /, API docs /docs "
        f"({s.workers} process(es) x {s.pool_size} image worker(s); keys "
        f"{'required' if s.keys_required else 'off'})",
        highlight=False,
    )
    uvicorn.run(
        "productstudio.server.asgi:create",
        factory=True,
        host=s.host,
        port=s.port,
        workers=s.workers,
        log_level=s.log_level,
        timeout_graceful_shutdown=10,
    )


keys_app = typer.Typer(help="API keys of the HTTP server (stored hashed).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _store(config: Path | None, database_url: str | None) -> Any:
    from productstudio.server.settings import load_settings
    from productstudio.server.store import ServerStore

    return ServerStore(load_settings(config, database_url=database_url).store_url())


_CONFIG = typer.Option(None, "--config", "-c", help="The server's TOML settings file.")
_DB = typer.Option(None, "--database-url", help="The server's database (default: its SQLite).")


@keys_app.command("add")
@handle_errors
def keys_add(
    name: str = typer.Argument(..., help="Who the key is for, e.g. 'shop-frontend'."),
    config: Path | None = _CONFIG,
    database_url: str | None = _DB,
) -> None:
    """Create a key and print it once (only its sha256 is stored)."""
    store = _store(config, database_url)
    try:
        key, info = store.add_key(name)
    finally:
        store.close()
    err.print(f"key {info.id} for '{info.name}' (shown once; keep it secret):", highlight=False)
    out.print(key, highlight=False)


@keys_app.command("list")
@handle_errors
def keys_list(config: Path | None = _CONFIG, database_url: str | None = _DB) -> None:
    """List keys (never their values)."""
    store = _store(config, database_url)
    try:
        keys = store.list_keys()
    finally:
        store.close()
    t = Table(title="API keys")
    for col in ("id", "name", "created", "calls", "state"):
        t.add_column(col)
    for k in keys:
        created = datetime.fromtimestamp(k.created).strftime("%Y-%m-%d %H:%M")
        t.add_row(k.id, k.name, created, str(k.calls), "revoked" if k.revoked else "active")
    out.print(t)


@keys_app.command("revoke")
@handle_errors
def keys_revoke(
    key_id: str = typer.Argument(..., help="The key's id (from `keys list`)."),
    config: Path | None = _CONFIG,
    database_url: str | None = _DB,
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from productstudio.errors import InvalidParamsError

    store = _store(config, database_url)
    try:
        ok = store.revoke_key(key_id)
    finally:
        store.close()
    if not ok:
        raise InvalidParamsError(f"no key with id '{key_id}': see `productstudio keys list`")
    out.print(f"revoked {key_id}")
