"""One endpoint per edit, the same parameters as the CLI commands and recipe steps.

Every endpoint takes a multipart upload ``image`` (plus its own fields) and answers with the
image (``format``: png, jpg or webp) and ``X-Width``/``X-Height``/``X-Notes`` headers, or
JSON for ``/v1/check``. Model choices list only what this server has.
"""

import json
import re
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request
from fastapi.responses import Response

from productstudio.models.style.base import LookMethod
from productstudio.ops.adjust import WhiteBalance
from productstudio.ops.cutout import Refine
from productstudio.ops.style import Region
from productstudio.ops.text import TextSelect
from productstudio.recipes.steps import ShadowType
from productstudio.server.context import AppContext, choice_enum, respond, value
from productstudio.server.errors import ApiError


class ImageOut(StrEnum):
    PNG = "png"
    JPG = "jpg"
    WEBP = "webp"


class CutoutOut(StrEnum):
    PNG = "png"
    WEBP = "webp"


_IMG: dict[int | str, dict[str, Any]] = {
    "200": {
        "description": "The result image.",
        "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}, "application/zip": {}},
    }
}

ImageFile = Annotated[bytes, File(description="The photo (JPEG, PNG, WebP, HEIC, AVIF …).")]


def _colors(text: str) -> list[str]:
    from productstudio.imaging.color import parse_color
    from productstudio.ops.recolour import parse_palette

    try:
        colours = parse_palette(text)
        for c in colours:
            parse_color(c)
    except ValueError as exc:
        raise ApiError(400, "invalid_parameters", f"'colors': {exc}") from None
    if not 1 <= len(colours) <= 12:
        raise ApiError(400, "invalid_parameters", "'colors': give 1 to 12 colours.")
    return colours


def _boxes(text: str | None) -> list[tuple[int, int, int, int]]:
    if not text:
        return []
    from productstudio.ops.inpaint import parse_box

    out = []
    for part in re.split(r"[;\s]+", text.strip()):
        if part:
            try:
                out.append(parse_box(part))
            except ValueError as exc:
                raise ApiError(400, "invalid_parameters", f"'boxes': {exc}") from None
    if len(out) > 64:
        raise ApiError(400, "invalid_parameters", "'boxes': at most 64 boxes.")
    return out


def router(ctx: AppContext) -> APIRouter:
    # the endpoints' parameter lists look alike on purpose: FastAPI builds each form from them
    r = APIRouter(prefix="/v1", tags=["edit"])
    Segmenter = choice_enum("Segmenter", ["auto", *ctx.segmenters])
    Preset = choice_enum("Preset", ctx.presets)
    Inpainter = choice_enum("Inpainter", ["auto", *ctx.inpainters])
    Upscaler = choice_enum("Upscaler", ctx.upscalers or ["lanczos"])

    async def opt_image(data: bytes | None, name: str) -> bytes | None:
        if data:
            ctx.check_image(data, name)
            return data
        return None

    @r.post("/cutout", summary="Cut the product out (RGBA)", responses=_IMG)
    async def cutout(
        request: Request,
        image: ImageFile,
        model: Annotated[Segmenter | None, Form()] = None,  # type: ignore[valid-type]
        refine: Annotated[Refine, Form()] = Refine.NONE,
        format: Annotated[CutoutOut, Form()] = CutoutOut.PNG,
        mask_only: Annotated[bool, Form(description="The alpha matte as grey.")] = False,
    ) -> Response:
        await ctx.admit_image(request, image, "image")
        return await ctx.render(
            request,
            "cutout",
            image=image,
            segmenter=ctx.segmenter(model),
            refine=refine.value,
            fmt=format.value,
            mask_only=mask_only,
        )

    @r.post("/main-image", summary="Marketplace main image by preset", responses=_IMG)
    async def main_image(
        request: Request,
        image: ImageFile,
        preset: Annotated[Preset, Form()],  # type: ignore[valid-type]
        model: Annotated[Segmenter | None, Form()] = None,  # type: ignore[valid-type]
    ) -> Response:
        await ctx.admit_image(request, image, "image")
        return await ctx.render(
            request,
            "main_image",
            image=image,
            preset=value(preset),
            segmenter=ctx.segmenter(model),
        )

    @r.post(
        "/check",
        summary="Check against a marketplace's rules",
        responses={"200": {"description": "Rule-by-rule verdicts (JSON)."}},
    )
    async def check(
        request: Request,
        image: ImageFile,
        preset: Annotated[Preset, Form()],  # type: ignore[valid-type]
        model: Annotated[Segmenter | None, Form()] = None,  # type: ignore[valid-type]
        text: Annotated[
            bool, Form(description="Also run the text/watermark rule (slow: OCR).")
        ] = False,
    ) -> Response:
        await ctx.admit_image(request, image, "image")
        if text and not ctx.text:
            raise ApiError(400, "model_unavailable", "'text': no text detector on this server.")
        return await ctx.render(
            request,
            "check",
            image=image,
            preset=value(preset),
            segmenter=ctx.segmenter(model),
            text=text,
        )

    @r.post("/recolour", summary="Recolour the product (one or many colours)", responses=_IMG)
    async def recolour(
        request: Request,
        image: ImageFile,
        colors: Annotated[
            str, Form(max_length=400, description="One colour, or a comma list (zip answer).")
        ],
        strength: Annotated[float, Form(ge=0.0, le=1.0)] = 1.0,
        mask: Annotated[bytes | None, File(description="White = recolour.")] = None,
        model: Annotated[Segmenter | None, Form()] = None,  # type: ignore[valid-type]
        format: Annotated[ImageOut, Form()] = ImageOut.PNG,
    ) -> Response:
        await ctx.admit_image(request, image, "image")
        return await ctx.render(
            request,
            "recolour",
            image=image,
            colors=_colors(colors),
            strength=strength,
            segmenter=ctx.segmenter(model),
            fmt=format.value,
            mask=await opt_image(mask, "mask"),
        )

    @r.post("/adjust", summary="Auto or manual tone/colour adjustment", responses=_IMG)
    async def adjust(
        request: Request,
        image: ImageFile,
        white_balance: Annotated[WhiteBalance, Form()] = WhiteBalance.NONE,
        exposure: Annotated[float, Form(ge=-4.0, le=4.0, description="Stops.")] = 0.0,
        contrast: Annotated[float, Form(ge=-1.0, le=1.0)] = 0.0,
        saturation: Annotated[float, Form(ge=0.0, le=3.0)] = 1.0,
        sharpen: Annotated[float, Form(ge=0.0, le=3.0)] = 0.0,
        denoise: Annotated[float, Form(ge=0.0, le=1.0)] = 0.0,
        spots: Annotated[bool, Form(description="Also remove dust and spots.")] = False,
        mask: Annotated[bytes | None, File(description="Product mask.")] = None,
        format: Annotated[ImageOut, Form()] = ImageOut.PNG,
    ) -> Response:
        from productstudio.ops.adjust import AdjustParams

        await ctx.admit_image(request, image, "image")
        params = AdjustParams(
            white_balance=white_balance,
            exposure_ev=exposure,
            contrast=contrast,
            saturation=saturation,
            sharpen=sharpen,
            denoise=denoise,
        )
        return await ctx.render(
            request,
            "adjust",
            image=image,
            params=params,
            spots=spots,
            fmt=format.value,
            mask=await opt_image(mask, "mask"),
        )

    @r.post("/erase", summary="Remove what a mask or boxes mark", responses=_IMG)
    async def erase(
        request: Request,
        image: ImageFile,
        mask: Annotated[bytes | None, File(description="White (or opaque) = remove.")] = None,
        boxes: Annotated[str | None, Form(max_length=2000, description="x,y,w,h;x,y,w,h …")] = None,
        model: Annotated[Inpainter, Form()] = "auto",  # type: ignore[valid-type]
        dilate: Annotated[int, Form(ge=0, le=256)] = 0,
        format: Annotated[ImageOut, Form()] = ImageOut.PNG,
    ) -> Response:
        await ctx.admit_image(request, image, "image")
        bx = _boxes(boxes)
        if not mask and not bx:
            raise ApiError(400, "invalid_parameters", "Give a 'mask' file or 'boxes'.")
        return await ctx.render(
            request,
            "erase",
            image=image,
            inpainter=value(model),
            dilate=dilate,
            mask=await opt_image(mask, "mask"),
            boxes=bx,
            fmt=format.value,
        )

    async def erase_text(
        request: Request,
        image: ImageFile,
        select: Annotated[TextSelect, Form()] = TextSelect.OVERLAY,
        dilate: Annotated[int, Form(ge=0, le=32)] = 2,
        model: Annotated[Inpainter, Form()] = "auto",  # type: ignore[valid-type]
        format: Annotated[ImageOut, Form()] = ImageOut.PNG,
    ) -> Response:
        from productstudio.models.text import EraseTextParams

        await ctx.admit_image(request, image, "image")
        return await ctx.render(
            request,
            "erase_text",
            image=image,
            params=EraseTextParams(select=select, dilate=dilate),
            inpainter=value(model),
            fmt=format.value,
        )

    if ctx.text:  # only with the optional OCR detector (requirements-ocr.txt)
        r.post("/erase-text", summary="Remove overlaid text and watermarks", responses=_IMG)(
            erase_text
        )

    @r.post("/upscale", summary="Enlarge", responses=_IMG)
    async def upscale(
        request: Request,
        image: ImageFile,
        scale: Annotated[float, Form(gt=1.0, le=16.0)] = 2.0,
        model: Annotated[Upscaler, Form()] = "lanczos",  # type: ignore[valid-type]
        format: Annotated[ImageOut, Form()] = ImageOut.PNG,
    ) -> Response:
        await ctx.admit_image(request, image, "image")
        return await ctx.render(
            request,
            "upscale",
            image=image,
            scale=scale,
            upscaler=value(model),
            fmt=format.value,
        )

    @r.post("/style", summary="A look from a reference photo, or a neural style", responses=_IMG)
    async def style(
        request: Request,
        image: ImageFile,
        reference: Annotated[bytes | None, File(description="Reference photo.")] = None,
        style: Annotated[int | None, Form(ge=0, le=25, description="Neural style 0..25.")] = None,
        method: Annotated[LookMethod, Form()] = LookMethod.LAB_STATS,
        region: Annotated[Region, Form()] = Region.BOTH,
        strength: Annotated[float, Form(ge=0.0, le=1.0)] = 1.0,
        model: Annotated[Segmenter | None, Form()] = None,  # type: ignore[valid-type]
        format: Annotated[ImageOut, Form()] = ImageOut.PNG,
    ) -> Response:
        await ctx.admit_image(request, image, "image")
        ref = await opt_image(reference, "reference")
        if (ref is None) == (style is None):
            raise ApiError(400, "invalid_parameters", "Give exactly one of 'reference' or 'style'.")
        need = (
            "multistyle26"
            if style is not None
            else ("arbitrary" if method is LookMethod.NEURAL else None)
        )
        if need is not None and need not in ctx.styles:
            raise ApiError(
                400, "model_unavailable", f"The '{need}' style model is not on this server."
            )
        return await ctx.render(
            request,
            "style",
            image=image,
            segmenter=ctx.segmenter(model),
            reference=ref,
            style_index=style,
            method=method.value,
            region=region.value,
            strength=strength,
            fmt=format.value,
        )

    @r.post("/compose", summary="A cut-out on a background, with a shadow", responses=_IMG)
    async def compose(
        request: Request,
        product: Annotated[bytes, File(description="RGBA cut-out (from /v1/cutout).")],
        background: Annotated[
            str, Form(max_length=64, description="Colour (hex, name) or 'transparent'.")
        ] = "#ffffff",
        background_image: Annotated[bytes | None, File(description="A scene photo.")] = None,
        shadow: Annotated[ShadowType | None, Form(description="None: no shadow.")] = None,
        shadow_opacity: Annotated[float | None, Form(ge=0.0, le=1.0)] = None,
        format: Annotated[ImageOut, Form()] = ImageOut.PNG,
    ) -> Response:
        from productstudio.errors import InvalidParamsError
        from productstudio.imaging.color import parse_color

        await ctx.admit_image(request, product, "product")
        if background != "transparent":
            try:
                col = parse_color(background)
            except InvalidParamsError as exc:
                raise ApiError(400, "invalid_parameters", f"'background': {exc}") from None
            if len(col) == 4 and col[3] not in (0, 255):
                raise ApiError(
                    400, "invalid_parameters", "'background' must be opaque or 'transparent'."
                )
        return await ctx.render(
            request,
            "compose",
            product=product,
            background=background,
            shadow=shadow.value if shadow is not None else None,
            shadow_opacity=shadow_opacity,
            fmt=format.value,
            background_image=await opt_image(background_image, "background_image"),
        )

    if ctx.generators:
        Generator = choice_enum("Generator", sorted(ctx.generators))

        @r.post("/sample", summary="Images from one of our generators", responses=_IMG)
        async def sample(
            request: Request,
            generator: Annotated[Generator, Form()],  # type: ignore[valid-type]
            title: Annotated[str, Form(max_length=300)] = "",
            attrs: Annotated[
                str, Form(max_length=2000, description='JSON object, e.g. {"colour": "Red"}')
            ] = "{}",
            n: Annotated[int, Form(ge=1, le=16)] = 1,
            seed: Annotated[int, Form(ge=0, le=2**31 - 1)] = 0,
        ) -> Response:
            await ctx.authenticate(request)
            res = await ctx.run(  # no upload, so no pixel limit: not ctx.render
                request,
                "sample",
                generator_dir=str(ctx.generators[value(generator)]),
                title=title,
                attrs=parse_attrs(attrs),
                n=n,
                seed=seed,
            )
            return respond(res)

    return r


def parse_attrs(text: str) -> dict[str, str]:
    """A JSON object of string attributes, or a 400."""
    try:
        data = json.loads(text or "{}")
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float) for k, v in data.items()
    ):
        raise ApiError(
            400, "invalid_parameters", '\'attrs\' must be a JSON object like {"colour": "Red"}.'
        )
    return {k: str(v) for k, v in data.items()}
