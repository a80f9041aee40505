"""The work a request asks for, run inside a pool worker process.

Each task takes plain values (bytes, strings, numbers, frozen params) and returns a
:class:`~productstudio.server.removebg.Rendered` answer; it calls :mod:`productstudio.api`
and never touches the file system (images arrive as bytes, results leave as bytes). Models
are loaded once per worker process by :func:`model` and kept for every later request.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from productstudio.errors import InvalidParamsError
from productstudio.server.removebg import RemoveBgRequest, Rendered, render

log = logging.getLogger(__name__)

_MODELS: dict[tuple[str, str], Any] = {}
_MAX_PIXELS: int | None = None


def init_worker(threads: int, warm: tuple[str, ...] = ()) -> None:
    """Per-process set-up: thread counts, then load the named segmenters."""
    import cv2

    cv2.setNumThreads(threads)
    from productstudio.settings import get_settings

    get_settings.cache_clear()
    for name in warm:
        try:
            model("segmenter", name)
        except Exception as exc:  # a missing model is reported by the request that needs it
            log.warning("could not pre-load segmenter %s: %s", name, exc)


def model(kind: str, name: str) -> Any:
    """The loaded backend ``name`` of ``kind`` (segmenter, inpainter, upscaler, style,
    text, generator), loaded on first use and kept for the life of the process."""
    key = (kind, name)
    if key not in _MODELS:
        if kind == "segmenter":
            from productstudio.models.segmenters import load_segmenter

            _MODELS[key] = load_segmenter(name)
        elif kind == "inpainter":
            from productstudio.models.inpainters import load_inpainter

            _MODELS[key] = load_inpainter(name)
        elif kind == "upscaler":
            from productstudio.models.upscalers import load_upscaler

            _MODELS[key] = load_upscaler(name)
        elif kind == "style":
            from productstudio.models.style import load_style_model

            _MODELS[key] = load_style_model(name)
        elif kind == "text":
            from productstudio.models.text import load_text_detector

            _MODELS[key] = load_text_detector(name)
        elif kind == "generator":
            from productstudio.models.generators import load_generator

            _MODELS[key] = load_generator(Path(name))
        else:  # pragma: no cover - programming error
            raise ValueError(f"unknown model kind {kind}")
    return _MODELS[key]


def _load(data: bytes, max_pixels: int, *, name: str = "image", keep_16bit: bool = False) -> Any:
    from productstudio.imaging import load_image

    return load_image(data, max_pixels=max_pixels, name=name, keep_16bit=keep_16bit)


def _mask(data: bytes, shape: tuple[int, ...], max_pixels: int) -> np.ndarray:
    """A mask upload: alpha when it has transparency, else its grey levels (white = 1)."""
    from productstudio.imaging.types import alpha_product_mask, as_mask

    px = _load(data, max_pixels, name="mask").pixels
    own = alpha_product_mask(px)
    m = own if own is not None else as_mask(px[..., :3].max(axis=2))
    if m.shape != tuple(shape[:2]):
        raise InvalidParamsError(
            f"the mask is {m.shape[1]}x{m.shape[0]} but the image is {shape[1]}x{shape[0]}: "
            "send a mask at the image's size"
        )
    return m


_MEDIA = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def _encode(px: np.ndarray, fmt: str, notes: tuple[str, ...] | list[str] = ()) -> Rendered:
    from productstudio.imaging import ImageFormat, encode_image

    f = ImageFormat("jpeg" if fmt in ("jpg", "jpeg") else fmt)
    headers = {"X-Width": str(px.shape[1]), "X-Height": str(px.shape[0])}
    if notes:
        headers["X-Notes"] = "; ".join(notes).encode("ascii", "replace").decode()[:500]
    return Rendered(encode_image(px, f), _MEDIA[f.value], headers)


def _mask_png(alpha: np.ndarray, notes: tuple[str, ...] | list[str] = ()) -> Rendered:
    """The matte as a one-channel grey PNG."""
    from productstudio.imaging.io import encode_mask

    headers = {"X-Width": str(alpha.shape[1]), "X-Height": str(alpha.shape[0])}
    if notes:
        headers["X-Notes"] = "; ".join(notes).encode("ascii", "replace").decode()[:500]
    return Rendered(encode_mask(alpha), "image/png", headers)


def _zip(files: list[tuple[str, bytes]], headers: dict[str, str] | None = None) -> Rendered:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in files:
            z.writestr(name, data)
    return Rendered(buf.getvalue(), "application/zip", headers or {})


# -- tasks --------------------------------------------------------------------------------
def removebg(
    image: bytes,
    params: RemoveBgRequest,
    segmenter: str,
    max_pixels: int,
    background: bytes | None = None,
) -> Rendered:
    photo = _load(image, max_pixels).pixels
    bg = _load(background, max_pixels, name="bg_image_file").pixels if background else None
    return render(photo, params, segmenter=model("segmenter", segmenter), background=bg)


def rembg_remove(
    image: bytes,
    segmenter: str,
    max_pixels: int,
    only_mask: bool = False,
    alpha_matting: bool = False,
    bgcolor: tuple[int, int, int, int] | None = None,
) -> Rendered:
    """rembg's ``/api/remove``: an RGBA PNG (or the mask, or over ``bgcolor``)."""
    from productstudio import api
    from productstudio.ops.composite import over
    from productstudio.ops.cutout import CutoutParams, Refine

    px = _load(image, max_pixels).pixels
    params = CutoutParams(refine=Refine.CLOSED_FORM if alpha_matting else Refine.NONE)
    cut = api.cut_out(px, segmenter=model("segmenter", segmenter), params=params)
    out = cut.image
    if only_mask:
        return _mask_png(out[..., 3], cut.notes)
    if bgcolor is not None:
        under = np.zeros_like(out)
        under[...] = bgcolor
        out = over(out, under)
    return _encode(out, "png", cut.notes)


def cutout(
    image: bytes,
    segmenter: str,
    max_pixels: int,
    refine: str = "none",
    fmt: str = "png",
    mask_only: bool = False,
) -> Rendered:
    from productstudio import api
    from productstudio.ops.cutout import CutoutParams, Refine

    px = _load(image, max_pixels).pixels
    cut = api.cut_out(
        px, segmenter=model("segmenter", segmenter), params=CutoutParams(refine=Refine(refine))
    )
    out = cut.image
    r = _mask_png(out[..., 3], cut.notes) if mask_only else _encode(out, fmt, cut.notes)
    r.headers["X-Segmenter"] = cut.backend
    r.headers["X-Confidence"] = f"{cut.confidence:.3f}" if cut.confidence is not None else ""
    r.headers["X-Unsure"] = "true" if cut.unsure else "false"
    return r


def main_image(image: bytes, preset: str, segmenter: str, max_pixels: int) -> Rendered:
    from productstudio import api

    loaded = _load(image, max_pixels)
    res = api.main_image(loaded, preset, segmenter=model("segmenter", segmenter))
    data = res.encode_bytes()
    fmt = res.encode.format.value
    media = _MEDIA.get(fmt, f"image/{fmt}")
    headers = {
        "X-Width": str(res.pixels.shape[1]),
        "X-Height": str(res.pixels.shape[0]),
        "X-Preset": preset,
    }
    if res.notes:
        headers["X-Notes"] = "; ".join(res.notes).encode("ascii", "replace").decode()[:500]
    return Rendered(data, media, headers)


def check(
    image: bytes, preset: str, segmenter: str, max_pixels: int, text: bool = False
) -> Rendered:
    from productstudio import api

    loaded = _load(image, max_pixels)
    report = api.check(
        loaded,
        preset,
        segmenter=model("segmenter", segmenter),
        data=image,
        text_detector=model("text", "auto") if text else None,
    )
    body = report.to_dict()
    body["file"] = "upload"
    for rule in body["results"]:
        if rule["rule"] == "text" and not text:
            rule["measured"], rule["message"] = "not run", "ask with text=true (OCR, slow)"
    if not text:
        body["notes"] = ["The text/watermark rule was not run (it is slow; ask with text=true)."]
    return Rendered(json.dumps(body).encode(), "application/json", {"X-Verdict": body["verdict"]})


def recolour(
    image: bytes,
    colors: list[str],
    strength: float,
    segmenter: str,
    max_pixels: int,
    fmt: str = "png",
    mask: bytes | None = None,
) -> Rendered:
    from productstudio import api
    from productstudio.ops.recolour import RecolourParams

    params = [RecolourParams(color=c, strength=strength) for c in colors]
    px = _load(image, max_pixels).pixels
    m = (
        _mask(mask, px.shape, max_pixels)
        if mask
        else api.product_mask(px, segmenter=model("segmenter", segmenter))
    )
    outs = [api.recolour(px, p, mask=m) for p in params]
    if len(outs) == 1:
        return _encode(outs[0], fmt)
    ext = "jpg" if fmt in ("jpg", "jpeg") else fmt
    files = [
        (f"{i:02d}_{c.lstrip('#').replace(' ', '-')}.{ext}", _encode(o, fmt).data)
        for i, (c, o) in enumerate(zip(colors, outs, strict=True))
    ]
    return _zip(files, {"X-Variants": str(len(files))})


def adjust(
    image: bytes,
    params: Any,
    spots: bool,
    max_pixels: int,
    fmt: str = "png",
    mask: bytes | None = None,
) -> Rendered:
    from productstudio import api

    px = _load(image, max_pixels).pixels
    m = _mask(mask, px.shape, max_pixels) if mask else None
    res = api.adjust(px, params, mask=m, spots=spots)
    return _encode(res.image, fmt, res.notes)


def erase(
    image: bytes,
    inpainter: str,
    dilate: int,
    max_pixels: int,
    mask: bytes | None = None,
    boxes: list[tuple[int, int, int, int]] | None = None,
    fmt: str = "png",
) -> Rendered:
    from productstudio import api
    from productstudio.ops.inpaint import box_to_mask

    px = _load(image, max_pixels).pixels
    m = _mask(mask, px.shape, max_pixels) if mask else np.zeros(px.shape[:2], np.float32)
    for b in boxes or []:
        m = np.maximum(m, box_to_mask(px.shape[:2], b))
    if not (m > 0).any():
        raise InvalidParamsError("nothing to erase: the mask is empty and no box was given")
    return _encode(api.erase(px, m, inpainter=model("inpainter", inpainter), dilate=dilate), fmt)


def erase_text(
    image: bytes, params: Any, inpainter: str, max_pixels: int, fmt: str = "png"
) -> Rendered:
    from productstudio import api

    px = _load(image, max_pixels).pixels
    res = api.erase_text(
        px, params, detector=model("text", "auto"), inpainter=model("inpainter", inpainter)
    )
    r = _encode(res.image, fmt)
    r.headers["X-Text-Removed"] = str(res.removed)
    r.headers["X-Text-Kept"] = str(len(res.verdicts) - res.removed)
    return r


def upscale(image: bytes, scale: float, upscaler: str, max_pixels: int, fmt: str) -> Rendered:
    from productstudio import api

    px = _load(image, max_pixels, keep_16bit=True).pixels
    h, w = px.shape[:2]
    if h * w * scale * scale > max_pixels:
        raise InvalidParamsError(
            f"x{scale:g} of {w}x{h} is {h * w * scale * scale / 1e6:.1f} MP, over the "
            f"server's limit of {max_pixels / 1e6:.1f} MP: use a smaller scale"
        )
    return _encode(api.upscale(px, scale, upscaler=model("upscaler", upscaler)), fmt)


def style(
    image: bytes,
    segmenter: str,
    max_pixels: int,
    reference: bytes | None,
    style_index: int | None,
    method: str,
    region: str,
    strength: float,
    fmt: str = "png",
) -> Rendered:
    from productstudio import api

    px = _load(image, max_pixels).pixels
    ref = _load(reference, max_pixels, name="reference").pixels if reference else None
    neural = None
    if style_index is not None:
        neural = model("style", "multistyle26")
    elif method == "neural":
        neural = model("style", "arbitrary")
    out = api.style(
        px,
        reference=ref,
        style=style_index,
        method=method,
        region=region,
        strength=strength,
        segmenter=model("segmenter", segmenter),
        model=neural,
    )
    return _encode(out, fmt)


def compose(
    product: bytes,
    max_pixels: int,
    background: str,
    shadow: str | None,
    shadow_opacity: float | None,
    fmt: str,
    background_image: bytes | None = None,
) -> Rendered:
    from productstudio import api
    from productstudio.recipes.steps import ShadowStep

    px = _load(product, max_pixels, name="product").pixels
    if px.shape[2] != 4:
        raise InvalidParamsError(
            "'product' must be an RGBA cut-out with transparency (e.g. from /v1/cutout)"
        )
    params = None
    if shadow is not None:  # the recipe step's type → params mapping, one home
        extra = {} if shadow_opacity is None else {"opacity": shadow_opacity}
        params = ShadowStep.model_validate({"type": shadow, **extra}).op()
    bg: str | np.ndarray | None
    if background_image:
        bg = _load(background_image, max_pixels, name="background_image").pixels
    else:
        bg = None if background == "transparent" else background
    out = api.compose(px, background=bg, shadow=params)
    if out.shape[2] == 4 and fmt == "jpg":
        fmt = "png"
    return _encode(out, fmt)


def sample(generator_dir: str, title: str, attrs: dict[str, str], n: int, seed: int) -> Rendered:
    from productstudio import api
    from productstudio.models.conditioning.fusion import Prompt

    gen = model("generator", generator_dir)
    images = api.sample(gen, Prompt(title, dict(attrs)), n=n, seed=seed)
    if n == 1:
        return _encode(images[0], "png")
    return _zip(
        [(f"sample_{i:03d}.png", _encode(im, "png").data) for i, im in enumerate(images)],
        {"X-Samples": str(n)},
    )


TASKS: dict[str, Callable[..., Rendered]] = {
    f.__name__: f
    for f in (
        removebg,
        rembg_remove,
        cutout,
        main_image,
        check,
        recolour,
        adjust,
        erase,
        erase_text,
        upscale,
        style,
        compose,
        sample,
    )
}


def run_task(name: str, kwargs: dict[str, Any]) -> Rendered:
    """Run the task ``name`` (a key of :data:`TASKS`)."""
    return TASKS[name](**kwargs)


__all__ = ["TASKS", "init_worker", "model", "run_task"]
