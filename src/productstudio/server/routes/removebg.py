"""remove.bg-compatible routes: ``POST /v1.0/removebg`` and ``GET /v1.0/account``.

The request may be multipart (``image_file``, ``bg_image_file`` as files), an urlencoded
form, or JSON; answers carry remove.bg's headers, and ``Accept: application/json`` gives
``{"data": {"result_b64": …, "foreground_top": …}}``. See
:mod:`productstudio.server.removebg` for what each parameter does and which are accepted
but not honoured.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from productstudio.server.context import AppContext, respond
from productstudio.server.errors import ApiError
from productstudio.server.removebg import RemoveBgRequest, decode_b64

_ERR = {
    "description": "remove.bg error shape",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "title": {"type": "string"},
                                "code": {"type": "string"},
                            },
                        },
                    }
                },
            }
        }
    },
}


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with every ``$ref`` to ``$defs`` replaced by the definition (the body schemas
    are not registered as OpenAPI components)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {**_inline(defs[ref.rsplit("/", 1)[1]], defs), **_inline(rest, defs)}
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _form_schema(multipart: bool) -> dict[str, Any]:
    schema = RemoveBgRequest.model_json_schema()
    props = _inline(dict(schema["properties"]), schema.get("$defs", {}))
    if multipart:
        props["image_file"] = {"type": "string", "format": "binary"}
        props["bg_image_file"] = {"type": "string", "format": "binary"}
    return {"type": "object", "properties": props, "additionalProperties": False}


def _openapi() -> dict[str, Any]:
    body: dict[str, Any] = {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": _form_schema(True)},
            "application/x-www-form-urlencoded": {"schema": _form_schema(False)},
            "application/json": {"schema": _form_schema(False)},
        },
    }
    return {
        "requestBody": body,
        "responses": {
            "200": {
                "description": "The result image (PNG/JPG/WebP/ZIP) with X-Width, X-Height, "
                "X-Type, X-Foreground-*, X-Credits-Charged; JSON with Accept: application/json",
                "content": {
                    "image/png": {"schema": {"type": "string", "format": "binary"}},
                    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                    "image/webp": {"schema": {"type": "string", "format": "binary"}},
                    "application/zip": {"schema": {"type": "string", "format": "binary"}},
                    "application/json": {"schema": {"type": "object"}},
                },
            },
            "400": _ERR,
            "403": _ERR,
            "413": _ERR,
            "415": _ERR,
            "429": _ERR,
        },
    }


async def _parse(
    ctx: AppContext, request: Request
) -> tuple[RemoveBgRequest, bytes | None, bytes | None]:
    """(params, image bytes or None, background bytes or None) from any of the three bodies."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fields: dict[str, Any] = {}
    image: bytes | None = None
    bg: bytes | None = None
    cap = ctx.settings.max_upload_bytes
    if ctype == "application/json":
        try:
            data = json.loads(await request.body() or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise ApiError(400, "invalid_json", "The JSON body must be an object of parameters.")
        fields = data
    elif ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form(max_files=2, max_fields=40, max_part_size=cap * 4 // 3 + 1024)
        try:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    content = await value.read(cap + 1)
                    if key == "image_file":
                        image = content
                    elif key == "bg_image_file":
                        bg = content
                    else:
                        raise ApiError(
                            400, "invalid_parameters", f"'{key}' cannot be a file upload."
                        )
                elif key in fields:
                    raise ApiError(400, "invalid_parameters", f"'{key}' is given twice.")
                else:
                    fields[key] = value
        finally:
            await form.close()
    elif not ctype and not await request.body():
        fields = {}  # no body at all: answered below as a missing image
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            "Send multipart/form-data, application/x-www-form-urlencoded or application/json.",
        )
    fields = {k: v for k, v in fields.items() if v not in (None, "")}
    try:
        params = RemoveBgRequest.model_validate(fields)
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(p) for p in e["loc"]) or "body"
        msg = "unknown parameter" if e["type"] == "extra_forbidden" else e["msg"]
        raise ApiError(400, "invalid_parameters", f"'{loc}': {msg}.") from None
    return params, image, bg


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(tags=["remove.bg compatible"])

    @r.post(
        "/v1.0/removebg",
        summary="Remove the background (remove.bg API)",
        openapi_extra=_openapi(),
        response_class=Response,
    )
    async def removebg(request: Request) -> Response:
        await ctx.authenticate(request)
        params, image, bg = await _parse(ctx, request)
        sources = [x is not None for x in (image, params.image_file_b64, params.image_url)]
        if sum(sources) != 1:
            raise ApiError(
                400,
                "missing_image" if not any(sources) else "invalid_parameters",
                "Give exactly one of image_file, image_file_b64 or image_url.",
            )
        if params.image_file_b64 is not None:
            image = decode_b64(params.image_file_b64)
        elif params.image_url is not None:
            image = await ctx.fetch_image(params.image_url, "image_url")
        assert image is not None
        ctx.check_image(image, "image_file")
        if params.bg_image_url is not None:
            if bg is not None:
                raise ApiError(400, "invalid_parameters", "Give bg_image_file or bg_image_url.")
            bg = await ctx.fetch_image(params.bg_image_url, "bg_image_url")
        if bg is not None:
            ctx.check_image(bg, "bg_image_file")
            if params.bg_color:
                raise ApiError(
                    400, "invalid_parameters", "Give a background colour or image, not both."
                )
        result = await ctx.run(
            request,
            "removebg",
            image=image,
            params=params,
            segmenter=ctx.settings.segmenter,
            max_pixels=ctx.settings.max_pixels,
            background=bg,
        )
        if "application/json" in request.headers.get("accept", "") and (
            "image/" not in request.headers.get("accept", "")
        ):
            h = result.headers
            body = {
                "data": {
                    "result_b64": base64.b64encode(result.data).decode(),
                    "foreground_top": int(h["X-Foreground-Top"]),
                    "foreground_left": int(h["X-Foreground-Left"]),
                    "foreground_width": int(h["X-Foreground-Width"]),
                    "foreground_height": int(h["X-Foreground-Height"]),
                }
            }
            return JSONResponse(body, headers=h)
        return respond(result)

    @r.get(
        "/v1.0/account",
        summary="Account (remove.bg API): credits and calls",
        responses={"403": _ERR},
    )
    async def account(request: Request) -> dict[str, Any]:
        caller = await ctx.authenticate(request)
        calls = 0
        if caller.key_id and ctx.store is not None:
            calls = next((k.calls for k in ctx.store.list_keys() if k.id == caller.key_id), 0)
        credits = ctx.settings.account_credits
        return {
            "data": {
                "attributes": {
                    "credits": {
                        "total": credits,
                        "subscription": credits,
                        "payg": 0,
                        "enterprise": 0,
                    },
                    "api": {"free_calls": credits, "sizes": "all"},
                    "productstudio": {
                        "key": caller.name or None,
                        "calls": calls,
                        "rate_limit_per_minute": ctx.settings.rate_limit_per_minute,
                        "note": "self-hosted: nothing is billed; credits are a fixed number",
                    },
                }
            }
        }

    return r
