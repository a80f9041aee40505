"""Front door: the HTTP server (FastAPI) and the web page.

``create_app(settings)`` builds the application; ``productstudio serve`` runs it with
uvicorn. The names below load FastAPI on first use only (worker processes import this
package without needing it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from productstudio.server.app import create_app
    from productstudio.server.settings import ServerSettings, load_settings


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from productstudio.server.app import create_app

        return create_app
    if name in ("ServerSettings", "load_settings"):
        from productstudio.server import settings

        return getattr(settings, name)
    raise AttributeError(f"module 'productstudio.server' has no attribute {name!r}")


__all__ = ["ServerSettings", "create_app", "load_settings"]
