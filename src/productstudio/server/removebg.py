"""remove.bg's API semantics over ProductStudio's cut-out (``POST /v1.0/removebg``).

The request model mirrors remove.bg's documented parameters; :func:`render` turns a photo
and a request into the answer (bytes, content type and remove.bg's ``X-*`` headers).

Honoured: ``size`` (output megapixels: preview/small/regular 0.25, medium 1.5, hd 4, 4k 10,
full 25, auto/50MP: the input's own), ``format`` (auto/png/jpg/webp/zip), ``roi``, ``crop``,
``crop_margin``, ``scale``, ``position``, ``channels``, ``bg_color`` (with alpha),
``bg_image_file``/``bg_image_url``, ``add_shadow`` with ``shadow_type``/``shadow_opacity``.
Accepted but not honoured: ``type`` and ``type_level`` (one product segmenter for every kind;
``X-Type`` echoes the given type, ``product`` for ``auto``), ``semitransparency`` (alpha is
always soft at the outline and opaque inside). No credits are charged (``X-Credits-Charged: 0``).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import zipfile
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from productstudio.errors import InvalidParamsError


class Size(StrEnum):
    AUTO = "auto"
    PREVIEW = "preview"
    FULL = "full"
    MP50 = "50MP"
    SMALL = "small"
    REGULAR = "regular"
    MEDIUM = "medium"
    HD = "hd"
    K4 = "4k"


#: Output megapixels per size (None: the input's own size).
SIZE_MP: dict[Size, float | None] = {
    Size.PREVIEW: 0.25,
    Size.SMALL: 0.25,
    Size.REGULAR: 0.25,
    Size.MEDIUM: 1.5,
    Size.HD: 4.0,
    Size.K4: 10.0,
    Size.FULL: 25.0,
    Size.AUTO: None,
    Size.MP50: None,
}


class ForegroundType(StrEnum):
    AUTO = "auto"
    PERSON = "person"
    PRODUCT = "product"
    CAR = "car"
    ANIMAL = "animal"
    GRAPHIC = "graphic"
    TRANSPORTATION = "transportation"


class TypeLevel(StrEnum):
    NONE = "none"
    ONE = "1"
    TWO = "2"
    LATEST = "latest"


class OutFormat(StrEnum):
    AUTO = "auto"
    PNG = "png"
    JPG = "jpg"
    WEBP = "webp"
    ZIP = "zip"


class Channels(StrEnum):
    RGBA = "rgba"
    ALPHA = "alpha"


class ShadowType(StrEnum):
    CAR = "car"
    THREE_D = "3D"
    DROP = "drop"


_LEN = r"-?\d+(?:\.\d+)?(?:px|%)?"
_ROI = re.compile(rf"^\s*({_LEN})\s+({_LEN})\s+({_LEN})\s+({_LEN})\s*$")
_PCT = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s*$")
_HEX = re.compile(r"^#?([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


class RemoveBgRequest(BaseModel):
    """remove.bg's request parameters (multipart, form or JSON; files come apart)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_url: str | None = Field(None, max_length=4096, description="URL of the source image.")
    image_file_b64: str | None = Field(None, description="Source image, base64-encoded.")
    size: Size = Field(Size.PREVIEW, description="Output resolution (see SIZE_MP).")
    type: ForegroundType = Field(ForegroundType.AUTO, description="Accepted, not honoured.")
    type_level: TypeLevel = Field(TypeLevel.LATEST, description="Accepted, not honoured.")
    format: OutFormat = Field(OutFormat.AUTO, description="auto: PNG if transparent, else JPG.")
    roi: str = Field("0% 0% 100% 100%", description="x1 y1 x2 y2 in px or %.")
    crop: bool = Field(False, description="Crop off empty regions.")
    crop_margin: str = Field("0", description="Margin around the crop: px or % (≤ 50%/500 px).")
    scale: str = Field("original", description="Subject size relative to the image: 10%..100%.")
    position: str = Field("original", description="original, center, 'x%' or 'x% y%'.")
    channels: Channels = Field(Channels.RGBA, description="rgba, or alpha (the matte only).")
    add_shadow: bool = Field(False, description="Add an artificial shadow.")
    shadow_type: ShadowType | None = Field(None, description="car, 3D or drop.")
    shadow_opacity: int | None = Field(None, ge=0, le=100, description="0..100.")
    semitransparency: bool = Field(True, description="Accepted, not honoured.")
    bg_color: str | None = Field(None, max_length=64, description="Hex (81d4fa, fff8) or name.")
    bg_image_url: str | None = Field(None, max_length=4096, description="Background image URL.")

    @field_validator("roi")
    @classmethod
    def _roi(cls, v: str) -> str:
        if not _ROI.match(v):
            raise ValueError("roi must be 'x1 y1 x2 y2' in px or %, e.g. '0% 0% 100% 100%'")
        return v

    @field_validator("crop_margin")
    @classmethod
    def _margin(cls, v: str) -> str:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)(px|%)?\s*", v)
        if not m:
            raise ValueError("crop_margin must be px or %, e.g. '30px' or '10%'")
        value, unit = float(m.group(1)), m.group(2) or "px"
        if (unit == "%" and value > 50) or (unit == "px" and value > 500):
            raise ValueError("crop_margin is at most 50% or 500px")
        return v

    @field_validator("scale")
    @classmethod
    def _scale(cls, v: str) -> str:
        if v.strip() == "original":
            return "original"
        m = _PCT.match(v)
        if not m or not 10 <= float(m.group(1)) <= 100:
            raise ValueError("scale must be 'original' or a percentage from 10% to 100%")
        return v

    @field_validator("position")
    @classmethod
    def _position(cls, v: str) -> str:
        if v.strip() in ("original", "center"):
            return v.strip()
        parts = v.split()
        if not 1 <= len(parts) <= 2 or not all(
            (m := _PCT.match(p)) and float(m.group(1)) <= 100 for p in parts
        ):
            raise ValueError("position must be 'original', 'center', 'x%' or 'x% y%' (0..100%)")
        return v

    @field_validator("bg_color")
    @classmethod
    def _bg_color(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        from productstudio.imaging.color import parse_color

        try:
            parse_color(bg_color_css(v))
        except InvalidParamsError:
            raise ValueError(
                f"bg_color '{v}' is not a colour: use hex like 81d4fa (or 81d4fa77 with alpha) "
                "or a name like green"
            ) from None
        return v.strip()

    @property
    def credits(self) -> str:
        return "0"


def bg_color_css(v: str) -> str:
    """remove.bg writes hex without '#': add it."""
    v = v.strip()
    return ("#" + v.lstrip("#")) if _HEX.match(v) else v


def decode_b64(text: str, field_name: str = "image_file_b64") -> bytes:
    """Base64 (optionally a ``data:`` URL) to bytes, with a clear error."""
    t = text.strip()
    if t.startswith("data:") and "," in t:
        t = t.split(",", 1)[1]
    try:
        return base64.b64decode(t + "=" * (-len(t) % 4), validate=False)
    except (binascii.Error, ValueError):
        raise InvalidParamsError(f"'{field_name}' is not valid base64") from None


# -- geometry helpers ---------------------------------------------------------------------
def _length(text: str, whole: int) -> float:
    t = text.strip()
    if t.endswith("%"):
        return float(t[:-1]) / 100.0 * whole
    return float(t.removesuffix("px"))


def roi_box(roi: str, width: int, height: int) -> tuple[int, int, int, int]:
    """``x1 y1 x2 y2`` (px or %) as a clipped pixel box."""
    m = _ROI.match(roi)
    if not m:
        raise InvalidParamsError(f"roi '{roi}' is not 'x1 y1 x2 y2'")
    x1, y1, x2, y2 = (
        _length(m.group(1), width),
        _length(m.group(2), height),
        _length(m.group(3), width),
        _length(m.group(4), height),
    )
    bx0, bx1 = sorted((round(x1), round(x2)))
    by0, by1 = sorted((round(y1), round(y2)))
    return (
        max(0, min(width, bx0)),
        max(0, min(height, by0)),
        max(0, min(width, bx1)),
        max(0, min(height, by1)),
    )


def alpha_box(alpha: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the non-transparent pixels (exclusive end), or None."""
    ys = np.flatnonzero(alpha.any(axis=1))
    xs = np.flatnonzero(alpha.any(axis=0))
    if ys.size == 0:
        return None
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def crop_to_subject(rgba: np.ndarray, margin: str) -> np.ndarray:
    box = alpha_box(rgba[..., 3])
    assert box is not None
    x0, y0, x1, y1 = box
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)(px|%)?\s*", margin)
    assert m is not None
    value, unit = float(m.group(1)), m.group(2) or "px"
    mx = value / 100.0 * (x1 - x0) if unit == "%" else value
    my = value / 100.0 * (y1 - y0) if unit == "%" else value
    mx_i, my_i = round(mx), round(my)
    crop = rgba[y0:y1, x0:x1]
    out = np.zeros((crop.shape[0] + 2 * my_i, crop.shape[1] + 2 * mx_i, 4), np.uint8)
    out[my_i : my_i + crop.shape[0], mx_i : mx_i + crop.shape[1]] = crop
    return out


def scale_and_position(rgba: np.ndarray, scale: str, position: str) -> np.ndarray:
    """Resize the subject to ``scale`` of the image and place it at ``position``."""
    from productstudio.ops.canvas import resize_rgba

    h, w = rgba.shape[:2]
    box = alpha_box(rgba[..., 3])
    assert box is not None
    x0, y0, x1, y1 = box
    sub = rgba[y0:y1, x0:x1]
    bw, bh = x1 - x0, y1 - y0
    if scale != "original":
        m = _PCT.match(scale)
        assert m is not None
        s = float(m.group(1)) / 100.0 * min(w / bw, h / bh)
        nw, nh = max(1, round(bw * s)), max(1, round(bh * s))
        if (nw, nh) != (bw, bh):
            sub = resize_rgba(sub, nw, nh)
        bw, bh = nw, nh
    pos = position if not (scale != "original" and position == "original") else "center"
    if pos == "original":  # keep the subject's centre where it was
        ox = round((x0 + x1) / 2 - bw / 2)
        oy = round((y0 + y1) / 2 - bh / 2)
    elif pos == "center":
        ox, oy = (w - bw) // 2, (h - bh) // 2
    else:
        parts = [float(p.strip().rstrip("%")) / 100.0 for p in pos.split()]
        px_, py_ = parts[0], parts[1] if len(parts) > 1 else parts[0]
        ox, oy = round(px_ * (w - bw)), round(py_ * (h - bh))
    out = np.zeros_like(rgba)
    # paste with clipping (a subject larger than the image is cut at the edges)
    sx0, sy0 = max(0, -ox), max(0, -oy)
    dx0, dy0 = max(0, ox), max(0, oy)
    cw, ch = min(bw - sx0, w - dx0), min(bh - sy0, h - dy0)
    if cw > 0 and ch > 0:
        out[dy0 : dy0 + ch, dx0 : dx0 + cw] = sub[sy0 : sy0 + ch, sx0 : sx0 + cw]
    return out


def downscale_to(image: np.ndarray, megapixels: float | None) -> np.ndarray:
    """``image`` shrunk (area-averaged) to at most ``megapixels`` (never enlarged)."""
    h, w = image.shape[:2]
    if megapixels is None or h * w <= megapixels * 1e6:
        return image
    import cv2

    s = (megapixels * 1e6 / (h * w)) ** 0.5
    nw, nh = max(1, int(w * s)), max(1, int(h * s))
    out: np.ndarray = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return out


@dataclass
class Rendered:
    """An answer: body, content type and headers."""

    data: bytes
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def render(
    photo: np.ndarray,
    req: RemoveBgRequest,
    *,
    segmenter: Any,
    background: np.ndarray | None = None,
) -> Rendered:
    """The remove.bg answer for ``photo`` (pixels, already loaded within the limits).

    Raises:
        NoForegroundError: nothing was found (or nothing inside ``roi``).
    """
    from productstudio import api
    from productstudio.imaging import ImageFormat, encode_image
    from productstudio.imaging.color import parse_color
    from productstudio.imaging.io import encode_mask
    from productstudio.imaging.types import to_uint8
    from productstudio.ops.composite import over
    from productstudio.recipes.steps import ShadowStep
    from productstudio.server.errors import NoForegroundError

    px = downscale_to(photo, SIZE_MP[req.size])
    cut = api.cut_out(px, segmenter=segmenter)
    rgba = cut.image.copy()
    h, w = rgba.shape[:2]
    x0, y0, x1, y1 = roi_box(req.roi, w, h)
    keep = np.zeros((h, w), bool)
    keep[y0:y1, x0:x1] = True
    rgba[..., 3] = np.where(keep, rgba[..., 3], 0)
    if alpha_box(rgba[..., 3] > 8) is None:
        raise NoForegroundError(
            "Could not identify foreground in image"
            + (" inside the roi" if req.roi != "0% 0% 100% 100%" else "")
            + ". Use a photo with one clearly visible product."
        )
    if req.crop:
        rgba = crop_to_subject(rgba, req.crop_margin)
    if req.scale != "original" or req.position != "original":
        rgba = scale_and_position(rgba, req.scale, req.position)
    fg = alpha_box(rgba[..., 3]) or (0, 0, 0, 0)

    if req.channels is Channels.ALPHA:
        a = rgba[..., 3]
        result: np.ndarray = np.dstack([a, a, a])
    else:
        bg: str | np.ndarray | None = None
        bg_alpha = 255
        if background is not None:
            bg = background
        elif req.bg_color:
            col = parse_color(bg_color_css(req.bg_color))
            bg_alpha = int(col[3]) if len(col) == 4 else 255
            bg = "#{:02x}{:02x}{:02x}".format(*col[:3])
        shadow = None
        if req.add_shadow:  # remove.bg's drop → our drop shadow; car/3D → a contact shadow
            kind = "drop" if req.shadow_type is ShadowType.DROP else "contact"
            extra = {} if req.shadow_opacity is None else {"opacity": req.shadow_opacity / 100}
            shadow = ShadowStep.model_validate({"type": kind, **extra}).op()
        if bg is not None and bg_alpha == 255:
            result = api.compose(rgba, background=bg, shadow=shadow)
        else:
            layer = to_uint8(api.compose(rgba, background=None, shadow=shadow))
            if bg is not None:  # a semi-transparent colour under the product
                assert isinstance(bg, str)
                col = parse_color(bg)
                under = np.zeros_like(layer)
                under[...] = (*col[:3], bg_alpha)
                layer = over(layer, under)
            result = layer

    transparent = result.shape[2] == 4 and bool((result[..., 3] < 255).any())
    fmt = req.format
    if fmt is OutFormat.AUTO:
        fmt = OutFormat.PNG if transparent else OutFormat.JPG
    if fmt is OutFormat.ZIP:
        rgb = result[..., :3]
        alpha = result[..., 3] if result.shape[2] == 4 else np.full(rgb.shape[:2], 255, np.uint8)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("color.jpg", encode_image(np.ascontiguousarray(rgb), ImageFormat.JPEG))
            z.writestr("alpha.png", encode_mask(alpha))
        data, media = buf.getvalue(), "application/zip"
    else:
        image_format = {
            OutFormat.PNG: ImageFormat.PNG,
            OutFormat.JPG: ImageFormat.JPEG,
            OutFormat.WEBP: ImageFormat.WEBP,
        }[fmt]
        if req.channels is Channels.ALPHA and image_format is ImageFormat.PNG:
            data = encode_mask(result[..., 0])  # one grey channel, like remove.bg's
        else:
            data = encode_image(result, image_format)
        media = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}[image_format.value]
    fx0, fy0, fx1, fy1 = fg
    headers = {
        "X-Type": req.type.value if req.type is not ForegroundType.AUTO else "product",
        "X-Width": str(result.shape[1]),
        "X-Height": str(result.shape[0]),
        "X-Foreground-Top": str(fy0),
        "X-Foreground-Left": str(fx0),
        "X-Foreground-Width": str(fx1 - fx0),
        "X-Foreground-Height": str(fy1 - fy0),
        "X-Credits-Charged": req.credits,
    }
    if cut.notes:
        headers["X-Notes"] = "; ".join(cut.notes).encode("ascii", "replace").decode()[:500]
    return Rendered(data, media, headers, {"backend": cut.backend, "confidence": cut.confidence})


__all__ = [
    "SIZE_MP",
    "Channels",
    "ForegroundType",
    "OutFormat",
    "RemoveBgRequest",
    "Rendered",
    "ShadowType",
    "Size",
    "TypeLevel",
    "bg_color_css",
    "decode_b64",
    "render",
]
