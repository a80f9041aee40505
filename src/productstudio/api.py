"""The small typed Python API: one call per thing ProductStudio does to an image.

Every function takes the image first (pixels, a :class:`~productstudio.imaging.LoadedImage`,
a path or the file's bytes), then the same typed parameters the CLI options and recipe steps
use (the ops' frozen dataclasses, enums, preset names), and raises the one error tree of
:mod:`productstudio.errors`. Learned backends are given by name (``"auto"``, a registry name,
or a model file path) or as an already loaded object, so a long-lived caller (the server, a
notebook) loads a model once and passes it on every call. There is no logic here beyond
wiring: the ops, the models and the recipes do the work, and the CLI and the HTTP server
are thin layers over these functions.

Example:
    >>> import numpy as np
    >>> from productstudio import api
    >>> photo = np.full((120, 160, 3), 245, np.uint8)
    >>> photo[30:90, 50:110] = (200, 40, 40)
    >>> cut = api.cut_out(photo, segmenter="classical")
    >>> cut.image.shape, int(cut.image[60, 80, 3]), int(cut.image[5, 5, 3])
    ((120, 160, 4), 255, 0)

Batch runs over a catalogue go through :func:`productstudio.catalog.run_catalog`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from productstudio.errors import InvalidParamsError
from productstudio.imaging.io import LoadedImage, load_image
from productstudio.imaging.types import (
    Image,
    Mask,
    RGBAImage,
    alpha_product_mask,
    as_mask,
    check_image,
    has_transparency,
)

if TYPE_CHECKING:  # pragma: no cover - types only; the modules load when a function runs
    from productstudio.models.conditioning.fusion import Prompt
    from productstudio.models.generators.base import ConditionalGenerator
    from productstudio.models.inpainters.base import Inpainter
    from productstudio.models.segmenters.base import Segmenter
    from productstudio.models.style.base import LookMethod, NeuralStyle
    from productstudio.models.text.base import TextDetector
    from productstudio.models.text.erase import EraseTextParams, EraseTextResult
    from productstudio.models.upscalers.base import Upscaler
    from productstudio.ops.adjust import AdjustParams
    from productstudio.ops.cutout import CutoutParams
    from productstudio.ops.recolour import RecolourParams
    from productstudio.ops.shadow import ShadowParams
    from productstudio.ops.style import Region
    from productstudio.recipes import Recipe, RecipeResult
    from productstudio.recipes.compliance import ComplianceReport

#: An image argument: pixels ((H, W, 3|4) uint8/uint16), a loaded image, a path or file bytes.
ImageInput = np.ndarray | LoadedImage | str | Path | bytes | BinaryIO


def load(image: ImageInput, *, max_pixels: int | None = None) -> LoadedImage:
    """``image`` as a :class:`LoadedImage` (files and bytes are decoded with ``load_image``)."""
    if isinstance(image, LoadedImage):
        return image
    if isinstance(image, np.ndarray):
        check_image(image)
        return LoadedImage(pixels=image, source="<array>", format="array", mode="array")
    return load_image(image, max_pixels=max_pixels)


def pixels(image: ImageInput, *, max_pixels: int | None = None) -> Image:
    """``image``'s pixels (see :func:`load`)."""
    return load(image, max_pixels=max_pixels).pixels


def _segmenter(choice: str | Path | Segmenter) -> Segmenter:
    from productstudio.models.segmenters import Segmenter, load_segmenter

    return choice if isinstance(choice, Segmenter) else load_segmenter(choice)


def product_mask(image: ImageInput, *, segmenter: str | Path | Segmenter = "auto") -> Mask:
    """The product's soft mask, float32 (H, W) in [0, 1]: the image's own alpha when it has
    transparency, else the segmenter's answer."""
    px = pixels(image)
    own = alpha_product_mask(px)
    return own if own is not None else _segmenter(segmenter).segment(px).mask


@dataclass(frozen=True, slots=True)
class CutoutResult:
    """What :func:`cut_out` returns.

    Attributes:
        image: (H, W, 4) uint8 RGBA; pixels with alpha 255 keep their source value.
        confidence: the segmenter's confidence (0..1), ``None`` when the input's own alpha
            was used.
        backend: the segmenter that made the mask (``"input-alpha"`` for the input's own).
        notes: warnings in words (an unsure mask and why).
    """

    image: RGBAImage
    confidence: float | None
    backend: str
    notes: tuple[str, ...] = ()

    @property
    def unsure(self) -> bool:
        from productstudio.models.segmenters.base import UNSURE_BELOW

        return self.confidence is not None and self.confidence < UNSURE_BELOW


def cut_out(
    image: ImageInput,
    *,
    segmenter: str | Path | Segmenter = "auto",
    params: CutoutParams | None = None,
    use_input_alpha: bool = False,
    max_pixels: int | None = None,
) -> CutoutResult:
    """Cut the product out: an RGBA image with a soft alpha (``productstudio cutout``).

    Args:
        image: the photo.
        segmenter: ``"auto"``, a segmenter name, an .onnx path or a loaded segmenter.
        params: edge refinement and mask clean-up (:class:`~productstudio.ops.CutoutParams`).
        use_input_alpha: an input that already has transparency is returned as it is.
        max_pixels: refuse larger inputs (default: the ``max_pixels`` setting).
    """
    from productstudio.imaging.types import to_uint8
    from productstudio.ops.cutout import cutout

    loaded = load(image, max_pixels=max_pixels)
    px = loaded.pixels
    if use_input_alpha and has_transparency(px):
        return CutoutResult(to_uint8(px), None, "input-alpha", loaded.notes)
    seg = _segmenter(segmenter).segment(px)
    notes = list(loaded.notes)
    if seg.unsure:
        notes.append(
            f"unsure cut-out ({seg.backend}, confidence {seg.confidence:.2f}): "
            + "; ".join(seg.notes)
        )
    return CutoutResult(cutout(px, seg.mask, params), seg.confidence, seg.backend, tuple(notes))


def compose(
    product: RGBAImage,
    *,
    background: str | Image | None = "#ffffff",
    shadow: ShadowParams | None = None,
) -> Image:
    """Put a cut-out on a background, with an optional shadow (the recipe steps
    ``background`` and ``shadow`` for one image).

    Args:
        product: (H, W, 4) RGBA cut-out (e.g. :attr:`CutoutResult.image`).
        background: a colour (hex, CSS name), a scene photo (fitted to cover the product's
            canvas), or ``None``/``"transparent"`` to keep transparency.
        shadow: contact, drop, cast shadow or reflection params (``productstudio.ops``);
            a shadow never changes a product pixel.

    Returns:
        (H, W, 3) on an opaque background, (H, W, 4) when transparent.
    """
    from productstudio.ops.backgrounds import Fit, fit_image
    from productstudio.ops.composite import composite
    from productstudio.ops.shadow import apply_shadow

    check_image(product, channels=(4,), name="product")
    h, w = product.shape[:2]
    bg: str | np.ndarray
    if background is None or (isinstance(background, str) and background == "transparent"):
        bg = "#00000000"
    elif isinstance(background, np.ndarray):
        bg = fit_image(background, w, h, Fit.COVER)
    else:
        bg = background
    if shadow is not None:
        out: Image = apply_shadow(product, bg, shadow)
        return out
    if isinstance(bg, str) and bg == "#00000000":
        return product.copy()
    return composite(product, bg)


def _recipe(recipe: str | Path | Recipe) -> Recipe:
    from productstudio.recipes import Recipe, load_recipe

    return recipe if isinstance(recipe, Recipe) else load_recipe(recipe)


def main_image(
    image: ImageInput,
    recipe: str | Path | Recipe = "amazon-main",
    *,
    segmenter: str | Path | Segmenter = "auto",
    attributes: Mapping[str, Any] | None = None,
    seed: int = 0,
    max_pixels: int | None = None,
) -> RecipeResult:
    """Run a preset or recipe on one photo (``productstudio run --preset/--recipe``).

    Returns:
        The :class:`~productstudio.recipes.RecipeResult`: ``.pixels``, ``.notes``, and
        ``.encode_bytes()`` / ``.save(path)`` with the recipe's output settings.
    """
    from productstudio.recipes import StepContext

    r = _recipe(recipe)
    loaded = load(image, max_pixels=max_pixels)
    ctx = StepContext(
        segmenter_choice=str(segmenter) if isinstance(segmenter, str | Path) else "auto",
        attributes=dict(attributes or {}),
        seed=seed,
    )
    if not isinstance(segmenter, str | Path):
        ctx.set_segmenter(segmenter)
    return r.apply(loaded, ctx)


def check(
    image: ImageInput,
    preset: str | Path | Recipe = "amazon-main",
    *,
    segmenter: str | Path | Segmenter | None = None,
    data: bytes | None = None,
    text_detector: str | TextDetector | None = "auto",
) -> ComplianceReport:
    """Check an image against a marketplace's rules (``productstudio check``).

    Args:
        image: the image; give file bytes (or ``data``) so that file size and JPEG quality
            rules can be measured.
        preset: preset name, recipe path or recipe whose ``rules`` apply.
        segmenter: for the product mask when a rule needs it (default ``auto``, loaded only
            when needed).
        data: the encoded file, when ``image`` is pixels or a loaded image.
        text_detector: for the text/watermark rule: ``"auto"`` (the optional OCR detector
            when installed, loaded only if the rules have a text rule), a loaded detector, or
            ``None`` to skip that rule (it is the slow one: ~15 s at 2000x2000 on 2 cores).
    """
    from productstudio.recipes import check_loaded

    r = _recipe(preset)
    if isinstance(image, bytes):
        data = image if data is None else data
    loaded = load(image)
    seg = _segmenter(segmenter) if isinstance(segmenter, str | Path) else segmenter
    if isinstance(text_detector, str):
        if text_detector != "auto":
            from productstudio.models.text import load_text_detector

            text_detector = load_text_detector(text_detector)
        else:  # the checker's own default: the optional detector, loaded lazily
            return check_loaded(loaded, r.rules, data=data, segmenter=seg, preset=r.name)
    return check_loaded(
        loaded, r.rules, data=data, segmenter=seg, text_detector=text_detector, preset=r.name
    )


def recolour(
    image: ImageInput,
    params: RecolourParams,
    *,
    mask: Mask | None = None,
    segmenter: str | Path | Segmenter = "auto",
) -> Image:
    """Recolour the product keeping its shading (``productstudio recolour``).

    ``mask`` (white = recolour) defaults to the image's alpha, else the segmenter's mask.
    """
    from productstudio.ops.recolour import recolour as _recolour

    px = pixels(image)
    m = _mask_for(px, mask) if mask is not None else product_mask(px, segmenter=segmenter)
    return _recolour(px, params, m)


@dataclass(frozen=True, slots=True)
class AdjustResult:
    """What :func:`adjust` returns: the image and what was done, in words."""

    image: Image
    notes: tuple[str, ...] = ()


def adjust(
    image: ImageInput,
    params: AdjustParams | None = None,
    *,
    mask: Mask | None = None,
    spots: bool = False,
) -> AdjustResult:
    """Tone and colour adjustment (``productstudio adjust``): neutral ``params`` (the default)
    auto-adjust only what is off; ``spots`` also removes dust and small spots."""
    from productstudio.ops.adjust import AdjustParams, auto_adjust, remove_spots
    from productstudio.ops.adjust import adjust as _adjust

    px = pixels(image)
    m = _mask_for(px, mask) if mask is not None else None
    p = params or AdjustParams()
    notes: list[str] = []
    if p.is_neutral:
        res = auto_adjust(px, m)
        out, notes = res.image, [f"auto: {n}" for n in res.notes]
    else:
        out = _adjust(px, p, m)
    if spots:
        import cv2

        out, spot_mask = remove_spots(out, m)
        n_spots = cv2.connectedComponents(spot_mask.astype(np.uint8))[0] - 1
        notes.append(f"spots: {int(n_spots)} removed")
    return AdjustResult(out, tuple(notes))


def _mask_for(image: Image, mask: np.ndarray) -> Mask:
    m = as_mask(mask)
    if m.shape != image.shape[:2]:
        raise InvalidParamsError(
            f"the mask is {m.shape[1]}x{m.shape[0]} but the image is "
            f"{image.shape[1]}x{image.shape[0]}: give a mask at the image's size"
        )
    return m


def _inpainter(choice: str | Path | Inpainter) -> Inpainter:
    from productstudio.models.inpainters import Inpainter, load_inpainter

    return choice if isinstance(choice, Inpainter) else load_inpainter(choice)


def erase(
    image: ImageInput,
    mask: Mask,
    *,
    inpainter: str | Path | Inpainter = "auto",
    dilate: int = 0,
) -> Image:
    """Remove what ``mask`` marks (white = remove) with an inpainter (``productstudio erase``);
    pixels outside the (dilated) mask are returned unchanged."""
    if not 0 <= dilate <= 256:
        raise InvalidParamsError(f"dilate must be in 0..256 px, got {dilate}")
    px = pixels(image)
    out: Image = _inpainter(inpainter).inpaint(px, _mask_for(px, mask), dilate=dilate)
    return out


def erase_text(
    image: ImageInput,
    params: EraseTextParams | None = None,
    *,
    detector: str | Path | TextDetector = "auto",
    inpainter: str | Path | Inpainter = "auto",
) -> EraseTextResult:
    """Remove overlaid text and watermarks; packaging text is kept unless
    ``params.select`` says otherwise (``productstudio erase-text``)."""
    from productstudio.models.text import TextDetector, erase_text, load_text_detector

    det = detector if isinstance(detector, TextDetector) else load_text_detector(detector)
    return erase_text(pixels(image), det, _inpainter(inpainter), params)


def upscale(
    image: ImageInput,
    scale: float = 2.0,
    *,
    upscaler: str | Path | Upscaler = "lanczos",
    on_progress: Callable[[int, int], None] | None = None,
) -> Image:
    """Enlarge by ``scale`` in (1, 16] (``productstudio upscale``); 16-bit inputs stay 16-bit."""
    from productstudio.models.upscalers import Upscaler, load_upscaler

    if not 1.0 < scale <= 16.0:
        raise InvalidParamsError(f"scale must be in (1, 16], got {scale}")
    px = image if isinstance(image, np.ndarray) else _pixels16(image)
    up = upscaler if isinstance(upscaler, Upscaler) else load_upscaler(upscaler)
    out: Image = up.upscale(px, scale, on_progress=on_progress)
    return out


def _pixels16(image: ImageInput) -> Image:
    """Pixels with 16-bit files kept 16-bit (for :func:`upscale`)."""
    if isinstance(image, LoadedImage):
        return image.pixels
    if isinstance(image, np.ndarray):
        return image
    return load_image(image, keep_16bit=True).pixels


def style(
    image: ImageInput,
    *,
    reference: ImageInput | None = None,
    style: int | None = None,
    method: LookMethod | str = "lab-stats",
    region: Region | str = "both",
    strength: float = 1.0,
    mask: Mask | None = None,
    segmenter: str | Path | Segmenter = "auto",
    model: str | Path | NeuralStyle | None = None,
) -> Image:
    """A catalogue look from a reference photo, or one of 26 neural styles
    (``productstudio style``; the recipe step ``style`` takes the same names).

    Args:
        image: the photo.
        reference: the photo whose look to copy (with ``method``), or
        style: a fixed neural style 0..25 (multistyle26); give exactly one of the two.
        method: with ``reference``: ``lab-stats``, ``histogram`` or ``neural``.
        region: ``product``, ``background`` or ``both``.
        strength: 0..1 blend with the original.
        mask: the product mask for ``region`` (default: alpha, else the segmenter).
        segmenter: for the product mask.
        model: a loaded neural style model (multistyle26 for ``style``, arbitrary for
            ``method="neural"``); loaded by name when ``None``.
    """
    from productstudio.models.style.base import LookMethod
    from productstudio.ops.style import Region, StyleParams, transfer_style

    if (reference is None) == (style is None):
        raise InvalidParamsError("style: give exactly one of 'reference' or 'style'")
    try:
        reg = Region(region)
    except ValueError:
        raise InvalidParamsError(
            f"style: region must be product, background or both, got '{region}'"
        ) from None
    try:
        look = LookMethod(method)
    except ValueError:
        raise InvalidParamsError(
            f"style: method must be lab-stats, histogram or neural, got '{method}'"
        ) from None
    if not 0.0 <= strength <= 1.0:
        raise InvalidParamsError(f"style: strength must be in [0, 1], got {strength}")
    px = pixels(image)
    m: Mask | None = None
    if reg is not Region.BOTH:
        m = _mask_for(px, mask) if mask is not None else product_mask(px, segmenter=segmenter)
    if style is not None:
        from productstudio.models.style import MultiStyle, load_style_model

        sm = model if model is not None and not isinstance(model, str | Path) else None
        sm = sm or load_style_model(model if isinstance(model, str | Path) else "multistyle26")
        if not isinstance(sm, MultiStyle):
            raise InvalidParamsError("style: a fixed style needs the multistyle26 model")
        out: Image = sm.with_style(style).stylize(px, strength=strength, region=reg, mask=m)
        return out
    assert reference is not None
    ref = pixels(reference)
    if look.op_method is None:
        from productstudio.models.style import ArbitraryStyle, load_style_model

        am = model if model is not None and not isinstance(model, str | Path) else None
        am = am or load_style_model(model if isinstance(model, str | Path) else "arbitrary")
        if not isinstance(am, ArbitraryStyle):
            raise InvalidParamsError("style: method 'neural' needs the arbitrary style model")
        out = am.with_reference(ref).stylize(px, strength=strength, region=reg, mask=m)
        return out
    return transfer_style(px, ref, StyleParams(look.op_method, reg, strength), m)


def sample(
    model: str | Path | ConditionalGenerator,
    prompts: Prompt | Sequence[Prompt],
    *,
    n: int = 1,
    seed: int = 0,
) -> np.ndarray:
    """Generate images with one of our own generators (``productstudio sample``).

    Args:
        model: a folder written by ``productstudio train``, or a loaded generator.
        prompts: one prompt (repeated ``n`` times) or a list (one image each).
        n: images per single prompt (1..1024).
        seed: same seed, same images.

    Returns:
        uint8 (N, S, S, 3).
    """
    from productstudio.models.conditioning.fusion import Prompt
    from productstudio.models.generators import load_generator

    if not 1 <= n <= 1024:
        raise InvalidParamsError(f"n must be in 1..1024, got {n}")
    gen = load_generator(model) if isinstance(model, str | Path) else model
    batch = [prompts] * n if isinstance(prompts, Prompt) else list(prompts)
    return gen.sample(batch, seed=seed)


__all__ = [
    "AdjustResult",
    "CutoutResult",
    "ImageInput",
    "adjust",
    "check",
    "compose",
    "cut_out",
    "erase",
    "erase_text",
    "load",
    "main_image",
    "pixels",
    "product_mask",
    "recolour",
    "sample",
    "style",
    "upscale",
]
