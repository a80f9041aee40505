"""Array conventions shared by every layer.

* An **image** is a ``numpy.ndarray`` of shape ``(H, W, 3)`` (RGB) or ``(H, W, 4)`` (RGBA),
  dtype ``uint8`` (sRGB, 0..255) or ``uint16`` (0..65535, only when asked for).
* A **mask** (soft alpha, probability) is ``float32`` of shape ``(H, W)`` in ``[0, 1]``.
* Colours are ``(r, g, b)`` or ``(r, g, b, a)`` tuples of ints in 0..255.

The helpers here validate and convert; they never modify their input.
"""

from __future__ import annotations

from typing import TypeAlias, cast

import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError

Image: TypeAlias = NDArray[np.uint8] | NDArray[np.uint16]
RGBImage: TypeAlias = NDArray[np.uint8]
RGBAImage: TypeAlias = NDArray[np.uint8]
Mask: TypeAlias = NDArray[np.float32]
Color: TypeAlias = tuple[int, int, int] | tuple[int, int, int, int]


def check_image(
    image: np.ndarray, *, name: str = "image", channels: tuple[int, ...] = (3, 4)
) -> None:
    """Raise InvalidParamsError unless ``image`` is (H, W, C) uint8/uint16, C in ``channels``."""
    if not isinstance(image, np.ndarray):
        raise InvalidParamsError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] not in channels:
        raise InvalidParamsError(
            f"{name} must have shape (H, W, C) with C in {channels}, got {image.shape}"
        )
    if image.dtype not in (np.uint8, np.uint16):
        raise InvalidParamsError(f"{name} must be uint8 or uint16, got {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidParamsError(f"{name} is empty: shape {image.shape}")


def as_mask(mask: np.ndarray, *, shape: tuple[int, int] | None = None, name: str = "mask") -> Mask:
    """Return ``mask`` as float32 (H, W) in [0, 1].

    Accepts bool, uint8 (0..255), uint16 (0..65535) or float arrays (clipped to [0, 1]), and
    (H, W, 1) or RGBA/LA arrays (the last channel is used).

    Raises:
        InvalidParamsError: wrong rank, or ``shape`` given and different.
    """
    if not isinstance(mask, np.ndarray):
        raise InvalidParamsError(f"{name} must be a numpy array, got {type(mask).__name__}")
    m = mask
    if m.ndim == 3:
        m = m[..., -1]
    if m.ndim != 2:
        raise InvalidParamsError(f"{name} must be 2-D (H, W), got shape {mask.shape}")
    if shape is not None and m.shape != tuple(shape):
        raise InvalidParamsError(
            f"{name} is {m.shape[1]}x{m.shape[0]} but the image is {shape[1]}x{shape[0]}: "
            "resize the mask to the image size"
        )
    if m.dtype == np.bool_:
        return m.astype(np.float32)
    if m.dtype == np.uint8:
        return m.astype(np.float32) / np.float32(255.0)
    if m.dtype == np.uint16:
        return m.astype(np.float32) / np.float32(65535.0)
    out = np.clip(m.astype(np.float32, copy=False), 0.0, 1.0)
    if not np.isfinite(out).all():
        out = np.nan_to_num(out, nan=0.0)
    return out


def to_float(image: np.ndarray) -> NDArray[np.float32]:
    """Image as float32 in [0, 1] (uint8 and uint16 aware)."""
    scale = 65535.0 if image.dtype == np.uint16 else 255.0
    return image.astype(np.float32) / np.float32(scale)


def from_float(image: np.ndarray, dtype: type[np.uint8] | type[np.uint16] = np.uint8) -> Image:
    """Float image in [0, 1] back to uint8/uint16 with rounding and clipping."""
    scale = 65535.0 if dtype is np.uint16 else 255.0
    out = np.clip(np.rint(image * scale), 0, scale).astype(dtype)
    return cast(Image, out)


def to_uint8(image: np.ndarray) -> RGBImage:
    """uint16 → uint8 with rounding; uint8 is returned as is (not copied)."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    raise InvalidParamsError(f"expected uint8 or uint16, got {image.dtype}")


def split_alpha(image: np.ndarray) -> tuple[np.ndarray, Mask | None]:
    """(rgb, alpha or None) of an RGB/RGBA image; alpha as a float32 mask."""
    check_image(image)
    if image.shape[2] == 4:
        return image[..., :3], as_mask(image[..., 3])
    return image, None


#: The one transparency rule: an image's alpha is a product mask (a cut-out) when at least one
#: pixel's 8-bit alpha is below this value. Alpha 250..254 everywhere is export noise of an
#: opaque photo (editors that round premultiplied values), not a cut-out.
OPAQUE_ALPHA_MIN = 250


def has_transparency(image: np.ndarray) -> bool:
    """The image has an alpha channel with at least one pixel below :data:`OPAQUE_ALPHA_MIN`.

    Example:
        >>> px = np.full((2, 2, 4), 255, np.uint8)
        >>> has_transparency(px), has_transparency(px[..., :3])
        (False, False)
        >>> px[0, 0, 3] = 0
        >>> has_transparency(px)
        True
    """
    check_image(image)
    if image.shape[2] != 4:
        return False
    return bool((to_uint8(image[..., 3]) < OPAQUE_ALPHA_MIN).any())


def alpha_product_mask(image: np.ndarray) -> Mask | None:
    """The product mask an image carries itself: its alpha as a float32 (H, W) mask when it
    :func:`has_transparency`, else ``None`` (the caller then asks a segmenter).

    This is the one product-mask rule of ProductStudio (CLI edit commands, recipe steps, text
    removal, the batch worker and the compliance checker all use it).
    """
    if not has_transparency(image):
        return None
    return as_mask(image[..., 3])


def with_alpha(rgb: np.ndarray, alpha: np.ndarray) -> RGBAImage:
    """Stack an RGB uint8 image and a mask (any dtype :func:`as_mask` takes) into RGBA uint8."""
    check_image(rgb, name="rgb", channels=(3,))
    a = as_mask(alpha, shape=rgb.shape[:2], name="alpha")
    a8 = np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)
    return np.dstack([to_uint8(rgb), a8])
