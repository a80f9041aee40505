"""The server's routers. Adding a router: a module with ``router(ctx) -> APIRouter`` and one
line in :data:`ROUTERS`."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter

from productstudio.server.context import AppContext
from productstudio.server.routes import feedback, jobs, meta, ops, rembg, removebg

ROUTERS: list[Callable[[AppContext], APIRouter]] = [
    removebg.router,
    rembg.router,
    ops.router,
    jobs.router,
    feedback.router,
    meta.router,
]

__all__ = ["ROUTERS"]
