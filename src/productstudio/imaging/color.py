"""Colour helpers: parsing, sRGB transfer functions, CIELAB and ΔE2000.

The only home of Lab conversions: :func:`rgb_to_lab`/:func:`lab_to_rgb` (scikit-image, float64
inside: for colour targets and ΔE) and :func:`rgb_to_lab_cv`/:func:`lab_to_rgb_cv` (OpenCV,
float32: fast, for statistics over whole images).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import ImageColor

from productstudio.errors import InvalidParamsError
from productstudio.imaging.types import Color

WHITE: tuple[int, int, int] = (255, 255, 255)


def parse_color(value: str | Color) -> Color:
    """Parse ``"#fff"``, ``"#ffffff"``, ``"#ffffff80"``, ``"white"``, ``"rgb(1,2,3)"`` or a tuple.

    Returns an RGB tuple, or RGBA when the input carries alpha.

    Example:
        >>> parse_color("#ff000080")
        (255, 0, 0, 128)
    """
    if isinstance(value, tuple | list):
        vals = tuple(int(v) for v in value)
        if len(vals) not in (3, 4) or not all(0 <= v <= 255 for v in vals):
            raise InvalidParamsError(f"a colour tuple needs 3 or 4 ints in 0..255, got {value!r}")
        return vals  # type: ignore[return-value]
    text = str(value).strip()
    if (
        text
        and text[0] != "#"
        and all(c in "0123456789abcdefABCDEF" for c in text)
        and len(text) in (3, 4, 6, 8)
    ):
        text = "#" + text
    try:
        rgb = ImageColor.getrgb(text)
    except ValueError:
        raise InvalidParamsError(
            f"'{value}' is not a colour: use a hex code like #ffffff or #ff000080, or a CSS "
            "name like 'white'"
        ) from None
    return tuple(int(v) for v in rgb)  # type: ignore[return-value]


def srgb_to_linear(x: NDArray[np.floating]) -> NDArray[np.float32]:
    """sRGB-encoded values in [0, 1] to linear light (IEC 61966-2-1)."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: NDArray[np.floating]) -> NDArray[np.float32]:
    """Linear light in [0, 1] to sRGB encoding (IEC 61966-2-1)."""
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(
        np.float32
    )


def rgb_to_lab(rgb: NDArray[np.uint8] | NDArray[np.floating]) -> NDArray[np.float32]:
    """sRGB (uint8, or float in [0, 1]) to CIELAB (D65), shape (..., 3)."""
    from skimage.color import rgb2lab

    arr = np.asarray(rgb)
    f = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    return rgb2lab(f).astype(np.float32)


def lab_to_rgb(lab: NDArray[np.floating]) -> NDArray[np.float32]:
    """CIELAB (D65) to sRGB float in [0, 1], shape (..., 3)."""
    from skimage.color import lab2rgb

    return np.clip(lab2rgb(np.asarray(lab, dtype=np.float64)), 0.0, 1.0).astype(np.float32)


def delta_e2000(lab1: NDArray[np.floating], lab2: NDArray[np.floating]) -> NDArray[np.float32]:
    """CIEDE2000 colour difference between two Lab arrays of the same shape (..., 3)."""
    from skimage.color import deltaE_ciede2000

    return np.asarray(deltaE_ciede2000(lab1, lab2), dtype=np.float32)


def rgb_to_lab_cv(rgb: NDArray[np.uint8] | NDArray[np.float32]) -> NDArray[np.float32]:
    """sRGB to CIELAB (D65) through OpenCV, (H, W, 3): L in 0..100, a and b centred on 0.

    float32 RGB in [0, 1] converts at full precision; uint8 goes through OpenCV's 8-bit path
    (L in steps of 100/255, a and b in whole units): fine for statistics, not for ΔE.

    Example:
        >>> px = np.full((1, 1, 3), 255, np.uint8)
        >>> [round(float(v), 1) for v in rgb_to_lab_cv(px)[0, 0]]
        [100.0, 0.0, 0.0]
    """
    import cv2

    arr = np.asarray(rgb)
    if arr.dtype == np.uint8:
        lab = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2Lab).astype(np.float32)
        lab[..., 0] *= 100.0 / 255.0
        lab[..., 1:] -= 128.0
        return lab
    out: np.ndarray = cv2.cvtColor(arr.astype(np.float32, copy=False), cv2.COLOR_RGB2Lab)
    return out.astype(np.float32, copy=False)


def lab_to_rgb_cv(lab: NDArray[np.float32]) -> NDArray[np.float32]:
    """CIELAB (D65, float32 (H, W, 3)) to sRGB float32 in [0, 1] through OpenCV."""
    import cv2

    out: NDArray[np.float32] = np.clip(
        cv2.cvtColor(np.asarray(lab, np.float32), cv2.COLOR_Lab2RGB), 0.0, 1.0
    )
    return out
