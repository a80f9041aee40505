"""rembg-compatible ``/api/remove``: ``GET ?url=…`` and ``POST`` a ``file``, rembg's names.

``model`` picks one of this server's segmenters (rembg names such as ``u2netp`` and
``isnet-general-use`` are ours too; when left out, the server's default is used rather than
rembg's ``bria-rmbg``). ``om`` (only mask), ``a`` (alpha matting: closed-form refinement)
and ``bgc`` (``r,g,b,a``) are honoured; ``af``, ``ab``, ``ae``, ``ppm``, ``dc``, ``vm`` and
``extras`` are accepted and ignored (the cut-out always cleans the mask and decontaminates
edge colours).
"""

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request
from fastapi.responses import Response

from productstudio.server.context import AppContext, choice_enum
from productstudio.server.errors import ApiError

_PNG: dict[int | str, dict[str, Any]] = {
    "200": {"content": {"image/png": {}}, "description": "RGBA PNG (or the mask)."}
}


def _bgc(text: str | None) -> tuple[int, int, int, int] | None:
    if not text:
        return None
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (3, 4) or not all(0 <= p <= 255 for p in parts):
        raise ApiError(400, "invalid_parameters", "'bgc' must be r,g,b,a with values 0..255.")
    return (*parts, 255)[:4] if len(parts) == 3 else tuple(parts)  # type: ignore[return-value]


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(tags=["rembg compatible"])
    Model = choice_enum("RembgModel", ctx.segmenters)

    async def remove(
        request: Request,
        image: bytes,
        model: Any,
        om: bool,
        a: bool,
        bgc: tuple[int, int, int, int] | None,
    ) -> Response:
        return await ctx.render(
            request,
            "rembg_remove",
            image=image,
            segmenter=ctx.segmenter(model),
            only_mask=om,
            alpha_matting=a,
            bgcolor=bgc,
        )

    @r.get("/api/remove", summary="Remove from URL (rembg API)", responses=_PNG)
    async def get_remove(
        request: Request,
        url: Annotated[str, Query(max_length=4096, description="Image URL.")],
        model: Annotated[Model | None, Query()] = None,  # type: ignore[valid-type]
        a: Annotated[bool, Query(description="Alpha matting (closed-form).")] = False,
        af: Annotated[int, Query(ge=0, le=255)] = 240,
        ab: Annotated[int, Query(ge=0, le=255)] = 10,
        ae: Annotated[int, Query(ge=0, le=255)] = 10,
        om: Annotated[bool, Query(description="Only the mask.")] = False,
        ppm: bool = False,
        dc: bool = False,
        vm: bool = False,
        bgc: Annotated[str | None, Query(max_length=32, description="r,g,b,a")] = None,
        extras: Annotated[str | None, Query(max_length=4096)] = None,
    ) -> Response:
        await ctx.authenticate(request)
        color = _bgc(bgc)
        image = await ctx.fetch_image(url, "url")
        ctx.check_image(image, "url")
        return await remove(request, image, model, om, a, color)

    @r.post("/api/remove", summary="Remove from an upload (rembg API)", responses=_PNG)
    async def post_remove(
        request: Request,
        file: Annotated[bytes, File(description="The image.")],
        model: Annotated[Model | None, Form()] = None,  # type: ignore[valid-type]
        a: Annotated[bool, Form()] = False,
        af: Annotated[int, Form(ge=0, le=255)] = 240,
        ab: Annotated[int, Form(ge=0, le=255)] = 10,
        ae: Annotated[int, Form(ge=0, le=255)] = 10,
        om: Annotated[bool, Form()] = False,
        ppm: Annotated[bool, Form()] = False,
        dc: Annotated[bool, Form()] = False,
        vm: Annotated[bool, Form()] = False,
        bgc: Annotated[str | None, Query(max_length=32, description="r,g,b,a")] = None,
        extras: Annotated[str | None, Query(max_length=4096)] = None,
    ) -> Response:
        await ctx.authenticate(request)
        color = _bgc(bgc)
        ctx.check_image(file, "file")
        return await remove(request, file, model, om, a, color)

    return r
