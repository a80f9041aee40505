"""The FastAPI application: ``create_app(settings)``.

The lifespan opens the store (keys, jobs), starts the worker pool (models loaded once per
worker process) and the job runner, and stops them on shutdown. Routers come from
:data:`productstudio.server.routes.ROUTERS`; the web page is served from ``static/``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from productstudio import __version__
from productstudio.errors import InvalidParamsError, ProductStudioError
from productstudio.server.context import AppContext, ClientGone
from productstudio.server.errors import ApiError, ErrorInfo, error_info
from productstudio.server.jobs import JobRunner
from productstudio.server.limits import BodyLimit
from productstudio.server.pool import QueueFull, TaskFailed, TaskTimeout, WorkerCrashed, WorkPool
from productstudio.server.settings import ServerSettings, load_settings
from productstudio.server.store import ServerStore

log = logging.getLogger(__name__)

DESCRIPTION = """Self-hosted product-image studio.

* `POST /v1.0/removebg` speaks remove.bg's API (switch a shop by changing the base URL);
  `/api/remove` speaks rembg's.
* `/v1/*`: cut-out, main image by preset, marketplace check, recolour, adjust, erase,
  erase-text, upscale, style, compose (background + shadow), generator samples.
* `GET /v1/variants/choose` + `POST /v1/events`: personalised image variants that learn
  from clicks (the decision's propensity is logged for off-policy evaluation).
* `/v1/jobs`: async batches and sampling with progress (SSE), result zip, cancel.

Errors are `{"errors": [{"title": ..., "code": ...}]}`; 4xx means the request can be fixed,
429 carries `Retry-After`.
"""


def _error_response(info: ErrorInfo) -> JSONResponse:
    return JSONResponse(info.body(), status_code=info.status, headers=dict(info.headers))


def _validation_text(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors()[:5]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"'{loc or 'request'}': {e.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(parts) + "."


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> Response:
        return _error_response(exc.info)

    @app.exception_handler(ProductStudioError)
    async def _ps(_: Request, exc: ProductStudioError) -> Response:
        return _error_response(error_info(exc))

    @app.exception_handler(TaskFailed)
    async def _failed(_: Request, exc: TaskFailed) -> Response:
        return _error_response(exc.info)

    @app.exception_handler(QueueFull)
    async def _full(_: Request, exc: QueueFull) -> Response:
        return _error_response(
            ErrorInfo(
                429,
                "queue_full",
                f"The server is busy (every worker and the waiting line are full). Retry in "
                f"{exc.retry_after} s.",
                (("Retry-After", str(exc.retry_after)),),
            )
        )

    @app.exception_handler(TaskTimeout)
    async def _timeout(_: Request, exc: TaskTimeout) -> Response:
        return _error_response(
            ErrorInfo(
                503,
                "timeout",
                f"{exc}; it was stopped. Try a smaller image or a faster model.",
                (("Retry-After", "5"),),
            )
        )

    @app.exception_handler(WorkerCrashed)
    async def _crashed(_: Request, exc: WorkerCrashed) -> Response:
        return _error_response(ErrorInfo(503, "worker_crashed", str(exc), (("Retry-After", "5"),)))

    @app.exception_handler(ClientGone)
    async def _gone(_: Request, exc: ClientGone) -> Response:
        return Response(status_code=499)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        return _error_response(ErrorInfo(422, "invalid_parameters", _validation_text(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        title = str(exc.detail) if exc.detail else "Request failed."
        if exc.status_code == 400 and "multipart" in title.lower():
            title = f"Malformed form data: {title}"
        return _error_response(ErrorInfo(exc.status_code, code, title))

    @app.exception_handler(Exception)
    async def _any(_: Request, exc: Exception) -> Response:
        return _error_response(error_info(exc))


def _offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the files shipped in the fastapi-offline package (no CDN);
    without it, /docs says so and points to /openapi.json."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse

    try:
        import fastapi_offline

        assets: str | None = str(Path(fastapi_offline.__file__).parent / "static")
    except ImportError:
        assets = None
    if assets is not None:
        app.mount("/_docs", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        if assets is None:
            return HTMLResponse(
                "<p>The interactive docs need the fastapi-offline package "
                '(<code>pip install "productstudio[server]"</code>); the schema is at '
                '<a href="/openapi.json">/openapi.json</a>.</p>'
            )
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="ProductStudio API",
            swagger_js_url="/_docs/swagger-ui-bundle.js",
            swagger_css_url="/_docs/swagger-ui.css",
            swagger_favicon_url="/_docs/favicon.png",
        )


def create_app(settings: ServerSettings | None = None, **overrides: Any) -> FastAPI:
    """The ProductStudio server application.

    Args:
        settings: server settings (default: :func:`load_settings` from env / TOML).
        overrides: individual settings (e.g. ``concurrency=1``).

    Raises:
        InvalidParamsError: keys are required (not on loopback) but none exists.
    """
    from productstudio.server.routes import ROUTERS

    s = settings or load_settings(**overrides)
    if overrides and settings is not None:
        s = settings.model_copy(update=overrides)
    if s.segmenter.strip().lower() == "auto":
        # decided once, here, as for `run`: a first run fetches the recommended model (or says
        # why classical is used) before the workers start; they never download (pool.py)
        from productstudio.models.segmenters import resolve_segmenter

        chosen = resolve_segmenter("auto", on_notice=log.warning)
        (log.warning if chosen.fell_back else log.info)(
            "segmenter: %s%s", chosen.describe(), f" ({chosen.problem})" if chosen.problem else ""
        )
    ctx = AppContext.discover(s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        s.data_dir.mkdir(parents=True, exist_ok=True)
        store = ServerStore(s.store_url())
        if s.keys_required and not s.api_key_hashes and not store.has_keys():
            store.close()
            raise InvalidParamsError(
                f"the server listens on {s.host} (not loopback), so API keys are required, but "
                "there is none: create one with `productstudio keys add NAME`, or set "
                "PRODUCTSTUDIO_SERVER_REQUIRE_KEYS=false on a trusted network."
            )
        from productstudio.personalize.store import FeedbackStore

        try:
            feedback = FeedbackStore(s.feedback_url())
        except ProductStudioError:
            store.close()
            raise
        ctx.store, ctx.feedback = store, feedback
        warm = (s.segmenter,) if s.segmenter in (*ctx.segmenters, "auto") else ()
        ctx.pool = WorkPool(s.pool_size, s.queue_size, warm=warm)
        ctx.pool.start()
        ctx.runner = JobRunner(
            store, s.data_dir, concurrency=s.job_concurrency, ttl_hours=s.job_ttl_hours
        )
        ctx.runner.start()
        log.info(
            "ProductStudio server: %d worker(s), segmenters %s, keys %s",
            s.pool_size,
            ctx.segmenters,
            "required" if s.keys_required else "off",
        )
        try:
            yield
        finally:
            await ctx.runner.stop()
            ctx.pool.close()
            feedback.close()
            store.close()

    app = FastAPI(
        title="ProductStudio",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.ps = ctx
    install_error_handlers(app)
    _offline_docs(app)
    for make in ROUTERS:
        app.include_router(make(ctx))
    static = resources.files("productstudio.server").joinpath("static")
    app.mount("/", StaticFiles(directory=str(static), html=True), name="static")
    if s.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=s.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["X-Api-Key", "Content-Type", "Accept"],
            expose_headers=[
                "X-Width",
                "X-Height",
                "X-Type",
                "X-Foreground-Top",
                "X-Foreground-Left",
                "X-Foreground-Width",
                "X-Foreground-Height",
                "X-Credits-Charged",
                "Retry-After",
            ],
        )
    request_cap = s.max_upload_bytes * 2 + 2_000_000  # an image + a background/mask + fields
    app.add_middleware(
        BodyLimit,
        default=request_cap,
        per_prefix={"/v1/jobs": s.max_batch_bytes},
    )
    return app


__all__ = ["create_app", "install_error_handlers"]
