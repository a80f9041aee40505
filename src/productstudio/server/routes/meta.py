"""What this server offers (models, presets, limits) and its health."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request

from productstudio import __version__
from productstudio.server.context import AppContext


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix="/v1", tags=["server"])

    @r.get("/health", summary="Liveness and the work queue")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "uptime_s": round(time.time() - ctx.started, 1),
            "queue": ctx.pool.stats() if ctx.pool is not None else None,
            "jobs_running": ctx.runner.running() if ctx.runner is not None else 0,
        }

    @r.get("/info", summary="Models, presets and limits of this server")
    async def info(request: Request) -> dict[str, Any]:
        await ctx.authenticate(request)
        s = ctx.settings
        return {
            "version": __version__,
            "segmenters": ctx.segmenters,
            "default_segmenter": s.segmenter,
            "inpainters": ctx.inpainters,
            "upscalers": ctx.upscalers,
            "style_models": ctx.styles,
            "text_detector": ctx.text,
            "presets": ctx.presets,
            "generators": sorted(ctx.generators),
            "pipelines": sorted(ctx.pipelines),
            "limits": {
                "max_upload_bytes": s.max_upload_bytes,
                "max_megapixels": s.max_megapixels,
                "max_batch_files": s.max_batch_files,
                "image_url": s.allow_image_url,
                "rate_limit_per_minute": s.rate_limit_per_minute,
            },
            "keys_required": s.keys_required,
        }

    return r
