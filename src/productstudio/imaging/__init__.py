"""Layer 1: image I/O, array conventions and colour helpers."""

from productstudio.imaging.color import (
    delta_e2000,
    lab_to_rgb,
    linear_to_srgb,
    parse_color,
    rgb_to_lab,
    srgb_to_linear,
)
from productstudio.imaging.io import (
    ImageFormat,
    LoadedImage,
    encode_image,
    load_image,
    save_image,
    write_atomic,
)
from productstudio.imaging.types import (
    Color,
    Image,
    Mask,
    RGBAImage,
    RGBImage,
    as_mask,
    check_image,
    from_float,
    split_alpha,
    to_float,
    to_uint8,
    with_alpha,
)

__all__ = [
    "Color",
    "Image",
    "ImageFormat",
    "LoadedImage",
    "Mask",
    "RGBAImage",
    "RGBImage",
    "as_mask",
    "check_image",
    "delta_e2000",
    "encode_image",
    "from_float",
    "lab_to_rgb",
    "linear_to_srgb",
    "load_image",
    "parse_color",
    "rgb_to_lab",
    "save_image",
    "split_alpha",
    "srgb_to_linear",
    "to_float",
    "to_uint8",
    "with_alpha",
    "write_atomic",
]
