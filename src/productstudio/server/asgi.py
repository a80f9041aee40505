"""ASGI entry point for uvicorn/gunicorn: ``uvicorn --factory productstudio.server.asgi:create``.

Settings come from ``PRODUCTSTUDIO_SERVER_*`` and the TOML file named by
``PRODUCTSTUDIO_SERVER_CONFIG`` (``productstudio serve`` sets them for its worker processes).
"""

from __future__ import annotations

from fastapi import FastAPI

from productstudio.server.app import create_app
from productstudio.server.settings import load_settings


def create() -> FastAPI:
    """A new application from the environment's settings."""
    return create_app(load_settings())


__all__ = ["create"]
