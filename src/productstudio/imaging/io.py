"""Load and save images robustly.

``load_image`` sniffs the real format from the bytes (never the extension), applies the
EXIF orientation, converts embedded ICC profiles (Adobe RGB, Display P3, CMYK …) to sRGB,
handles CMYK (including Adobe's inverted JPEGs), palette/LA/16-bit/animated files, and
turns every failure into a typed :mod:`productstudio.errors` error that names the file and
the fix. ``save_image`` writes atomically (temp file + ``os.replace``), embeds sRGB, strips
EXIF (GPS included) and never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image as PILImage
from PIL import ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from productstudio.errors import (
    CorruptImageError,
    ImageTooLargeError,
    InputError,
    InvalidParamsError,
    OutputError,
    UnsupportedImageError,
)
from productstudio.imaging.types import Image, as_mask, check_image, to_uint8

log = logging.getLogger(__name__)

_HEIF_REGISTERED = False


def _register_plugins() -> None:
    global _HEIF_REGISTERED
    if _HEIF_REGISTERED:
        return
    try:
        from pillow_heif import register_heif_opener

        register_heif_opener()
    except ImportError:  # pragma: no cover - pillow-heif is a core dependency
        log.debug("pillow-heif not installed: HEIC/HEIF cannot be read")
    _HEIF_REGISTERED = True


class ImageFormat(StrEnum):
    """Output formats ``save_image`` can write: the one output-format enum (recipes' ``output``
    step, ``run --format``, the batch worker and the server all use it)."""

    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    TIFF = "tiff"
    AVIF = "avif"
    BMP = "bmp"

    @classmethod
    def from_suffix(cls, path: str | Path) -> ImageFormat:
        """The format for a file name's extension (``.jpg`` → JPEG …)."""
        suffix = Path(path).suffix.lower().lstrip(".")
        aliases = {"jpg": "jpeg", "jpe": "jpeg", "tif": "tiff"}
        try:
            return cls(aliases.get(suffix, suffix))
        except ValueError:
            raise InvalidParamsError(
                f"cannot tell the output format from '{path}': use one of "
                ".jpg, .png, .webp, .tif, .avif, .bmp"
            ) from None

    @property
    def pil_name(self) -> str:
        return self.value.upper()

    @property
    def supports_alpha(self) -> bool:
        return self in (ImageFormat.PNG, ImageFormat.WEBP, ImageFormat.TIFF, ImageFormat.AVIF)

    @property
    def suffix(self) -> str:
        """The file extension written for this format (``.jpg``, ``.png``, ``.tif`` …).

        Example:
            >>> ImageFormat.JPEG.suffix, ImageFormat.TIFF.suffix, ImageFormat.PNG.suffix
            ('.jpg', '.tif', '.png')
        """
        return {"jpeg": ".jpg", "tiff": ".tif"}.get(self.value, "." + self.value)


@dataclass(frozen=True, slots=True)
class LoadedImage:
    """Pixels plus what the loader learned about the file.

    Attributes:
        pixels: (H, W, 3|4) uint8 sRGB, or uint16 when ``keep_16bit`` was asked and the file is
            16-bit.
        source: file name (or ``"<bytes>"``).
        format: the sniffed format name (``"JPEG"``, ``"PNG"``, ``"HEIF"`` …).
        mode: the file's own Pillow mode before conversion (``"CMYK"``, ``"P"``, ``"I;16"`` …).
        bit_depth: 8 or 16 (of the file).
        icc_converted: an embedded non-sRGB profile was converted to sRGB.
        orientation: the EXIF orientation that was applied (1 = none).
        frames: number of frames in the file (only the first is used).
        file_size: bytes read.
        notes: human-readable remarks (``"animated: used frame 1 of 12"`` …).
    """

    pixels: Image
    source: str
    format: str
    mode: str
    bit_depth: int = 8
    icc_converted: bool = False
    orientation: int = 1
    frames: int = 1
    file_size: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[2] == 4

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])


def _read_bytes(source: str | Path | bytes | BinaryIO, name: str | None) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), name or "<bytes>"
    if not isinstance(source, str | Path):
        data = source.read()
        return bytes(data), name or str(getattr(source, "name", "<stream>"))
    path = Path(source)
    label = name or str(path)
    try:
        return path.read_bytes(), label
    except FileNotFoundError:
        raise InputError(
            f'Cannot read "{label}": no such file. Check the path.', path=path
        ) from None
    except IsADirectoryError:
        raise InputError(
            f'Cannot read "{label}": it is a folder. Pass an image file, or use `productstudio run '
            "FOLDER` for a whole folder.",
            path=path,
        ) from None
    except PermissionError:
        raise InputError(
            f'Cannot read "{label}": permission denied. Make the file readable (chmod +r).',
            path=path,
        ) from None
    except OSError as exc:
        raise InputError(f'Cannot read "{label}": {exc.strerror or exc}.', path=path) from None


_SRGB_PROFILE: ImageCms.ImageCmsProfile | None = None


def srgb_profile() -> ImageCms.ImageCmsProfile:
    """The sRGB ICC profile (built once)."""
    global _SRGB_PROFILE
    if _SRGB_PROFILE is None:
        raw = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
        raw[24:36] = bytes(12)  # creation date: zeroed so identical pixels give identical files
        _SRGB_PROFILE = ImageCms.ImageCmsProfile(io.BytesIO(bytes(raw)))
    return _SRGB_PROFILE


def _profile_is_srgb(icc: bytes) -> bool:
    try:
        prof = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        desc = (ImageCms.getProfileDescription(prof) or "").lower()
    except (OSError, ImageCms.PyCMSError):
        return False
    return "srgb" in desc


def _convert_icc(im: PILImage.Image, label: str) -> tuple[PILImage.Image, bool]:
    icc = im.info.get("icc_profile")
    if not icc:
        return im, False
    if im.mode not in ("RGB", "RGBA", "CMYK", "L", "LA"):
        return im, False
    if im.mode in ("RGB", "RGBA") and _profile_is_srgb(icc):
        return im, False
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        alpha = im.getchannel("A") if im.mode in ("RGBA", "LA") else None
        base = im.convert("RGB" if im.mode in ("RGBA",) else "L") if alpha is not None else im
        out_mode = "RGB"
        if base.mode == "L":
            base = base.convert("RGB")
            return (base if alpha is None else _put_alpha(base, alpha)), False
        converted = ImageCms.profileToProfile(
            base,
            src,
            srgb_profile(),
            outputMode=out_mode,
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
        )
        assert converted is not None
        if alpha is not None:
            converted = _put_alpha(converted, alpha)
        return converted, True
    except (OSError, ImageCms.PyCMSError, ValueError) as exc:
        log.warning(
            '"%s": embedded ICC profile could not be applied (%s); using it as sRGB', label, exc
        )
        return im, False


def _put_alpha(rgb: PILImage.Image, alpha: PILImage.Image) -> PILImage.Image:
    out = rgb.convert("RGBA")
    out.putalpha(alpha)
    return out


def _sixteen_bit(data: bytes, im: PILImage.Image) -> np.ndarray | None:
    """Decode 16-bit PNG/TIFF with OpenCV (Pillow reduces 16-bit RGB to 8 bits)."""
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16:
        return None
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    elif arr.shape[2] == 3:
        arr = arr[..., ::-1]
    elif arr.shape[2] == 4:
        arr = arr[..., [2, 1, 0, 3]]
    else:
        return None
    return np.ascontiguousarray(arr)


_ORIENT_OPS = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
    7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
    8: lambda a: np.swapaxes(a, 0, 1)[::-1],
}


def _is_sixteen_bit(im: PILImage.Image, data: bytes) -> bool:
    if im.format == "PNG":
        return len(data) > 24 and data[12:16] == b"IHDR" and data[24] == 16
    if im.format == "TIFF":
        bps = im.tag_v2.get(258) if hasattr(im, "tag_v2") else None
        if isinstance(bps, tuple):
            bps = bps[0]
        return bps == 16
    return False


def load_image(
    source: str | Path | bytes | BinaryIO,
    *,
    max_pixels: int | None = None,
    keep_16bit: bool = False,
    name: str | None = None,
) -> LoadedImage:
    """Read an image from a path, bytes or a binary stream.

    Args:
        source: file path, raw bytes or a readable binary stream.
        max_pixels: refuse images with more pixels (default: ``Settings.max_pixels``, 50 MP).
        keep_16bit: return uint16 pixels for 16-bit files instead of rounding to 8 bits.
        name: label used in messages (defaults to the path).

    Returns:
        A :class:`LoadedImage` with (H, W, 3) RGB or (H, W, 4) RGBA pixels in sRGB.

    Raises:
        InputError: unreadable path. CorruptImageError: empty, truncated, damaged or not an
        image. ImageTooLargeError: over ``max_pixels`` or a decompression bomb.
        UnsupportedImageError: a mode we cannot convert.
    """
    from productstudio.settings import get_settings

    _register_plugins()
    limit = max_pixels if max_pixels is not None else get_settings().max_pixels
    if limit <= 0:
        raise InvalidParamsError(f"max_pixels must be positive, got {limit}")
    data, label = _read_bytes(source, name)
    if not data:
        raise CorruptImageError(
            f'Cannot read "{label}": the file is empty (0 bytes). Re-export or re-download it.',
            path=label,
        )
    old_limit = PILImage.MAX_IMAGE_PIXELS
    try:
        # Pillow's own bomb check speaks in pixels; the limit is checked below on the size in
        # the header, before any pixel is decoded, with one message in megapixels
        PILImage.MAX_IMAGE_PIXELS = None
        im = PILImage.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise CorruptImageError(
            f'Cannot read "{label}": not an image, or a damaged header ({len(data)} bytes, starts '
            f"with {data[:8]!r}). Check that it is a JPEG/PNG/WebP/HEIC/AVIF/TIFF/BMP/GIF file.",
            path=label,
        ) from None
    except OSError as exc:
        raise CorruptImageError(
            f'Cannot read "{label}": {exc}. Re-export it.', path=label
        ) from None
    finally:
        PILImage.MAX_IMAGE_PIXELS = old_limit

    fmt = im.format or "unknown"
    width, height = im.size
    if width * height > limit:
        raise ImageTooLargeError(
            f'Refusing "{label}": {width}x{height} = {megapixels(width * height)} is over the '
            f"limit of {megapixels(limit)} (a decompression bomb, or a very large photo). "
            "Downscale it first, or raise the limit with --max-pixels / PRODUCTSTUDIO_MAX_PIXELS.",
            path=label,
        )
    notes: list[str] = []
    frames = int(getattr(im, "n_frames", 1) or 1)
    if frames > 1:
        im.seek(0)
        notes.append(f"animated {fmt}: used frame 1 of {frames}")
        log.warning('"%s" is animated (%d frames): using the first frame', label, frames)
    file_mode = im.mode
    try:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        im.load()
    except OSError as exc:
        msg = str(exc)
        reason = "the file ends early (truncated)" if "truncat" in msg.lower() else msg
        raise CorruptImageError(
            f'Cannot read "{label}": {reason}. Re-export it or drop it from the catalogue.',
            path=label,
        ) from None
    except (ValueError, SyntaxError, IndexError, EOFError) as exc:
        raise CorruptImageError(
            f'Cannot read "{label}": damaged {fmt} data ({exc}). Re-export it.', path=label
        ) from None

    orientation = 1
    try:
        orientation = int(im.getexif().get(0x0112, 1) or 1)
    except (OSError, ValueError, TypeError):
        orientation = 1
    if orientation not in range(1, 9):
        orientation = 1

    bit_depth = 16 if _is_sixteen_bit(im, data) else 8
    if bit_depth == 16 and fmt in ("PNG", "TIFF"):
        arr16 = _sixteen_bit(data, im)
        if arr16 is not None:
            if orientation in _ORIENT_OPS:
                arr16 = np.ascontiguousarray(_ORIENT_OPS[orientation](arr16))
            if im.info.get("icc_profile") and not _profile_is_srgb(im.info["icc_profile"]):
                notes.append("16-bit file with a non-sRGB ICC profile: profile not applied")
            pixels: np.ndarray = arr16 if keep_16bit else to_uint8(arr16)
            return LoadedImage(
                pixels=pixels,
                source=label,
                format=fmt,
                mode=file_mode,
                bit_depth=16,
                orientation=orientation,
                frames=frames,
                file_size=len(data),
                notes=tuple(notes),
            )

    img: PILImage.Image = im
    try:
        img = ImageOps.exif_transpose(im) or im
    except (OSError, ValueError, TypeError):  # broken EXIF: keep pixels as stored
        notes.append("EXIF orientation unreadable: not applied")
    img, icc_converted = _convert_icc(img, label)
    pixels = _to_array(img, label)
    return LoadedImage(
        pixels=pixels,
        source=label,
        format=fmt,
        mode=file_mode,
        bit_depth=bit_depth,
        icc_converted=icc_converted,
        orientation=orientation,
        frames=frames,
        file_size=len(data),
        notes=tuple(notes),
    )


def _to_array(im: PILImage.Image, label: str) -> np.ndarray:
    mode = im.mode
    if mode == "P" or mode == "PA":
        im = (
            im.convert("RGBA") if ("transparency" in im.info or mode == "PA") else im.convert("RGB")
        )
    elif mode in ("LA", "La", "RGBa"):
        im = im.convert("RGBA")
    elif mode in ("1", "L") or mode == "CMYK":
        im = im.convert("RGB")
    elif mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        gray = np.clip(np.rint(arr / top * 255.0), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
    elif mode in ("YCbCr", "LAB", "HSV"):
        im = im.convert("RGB")
    elif mode not in ("RGB", "RGBA"):
        try:
            im = im.convert("RGBA" if "A" in mode else "RGB")
        except (ValueError, OSError):
            raise UnsupportedImageError(
                f'Cannot use "{label}": pixel mode {mode} is not supported. Convert it to RGB.',
                path=label,
            ) from None
    arr = np.asarray(im)
    if arr.dtype != np.uint8:
        raise UnsupportedImageError(
            f'Cannot use "{label}": unexpected pixel type {arr.dtype}. Convert it to 8-bit RGB.',
            path=label,
        )
    return np.ascontiguousarray(arr)


def encode_image(
    pixels: np.ndarray,
    fmt: ImageFormat | str,
    *,
    quality: int = 92,
    background: tuple[int, int, int] = (255, 255, 255),
) -> bytes:
    """Encode pixels to bytes with an embedded sRGB profile and no EXIF.

    RGBA saved to a format without alpha (JPEG, BMP) is flattened over ``background``.
    uint16 pixels are kept 16-bit for PNG/TIFF and rounded to 8 bits otherwise.
    """
    check_image(pixels)
    fmt = ImageFormat(fmt) if not isinstance(fmt, ImageFormat) else fmt
    if not 1 <= quality <= 100:
        raise InvalidParamsError(f"quality must be in 1..100, got {quality}")
    if pixels.dtype == np.uint16 and fmt in (ImageFormat.PNG, ImageFormat.TIFF):
        import cv2

        arr = pixels[..., ::-1] if pixels.shape[2] == 3 else pixels[..., [2, 1, 0, 3]]
        ok, buf = cv2.imencode("." + ("png" if fmt is ImageFormat.PNG else "tiff"), arr)
        if not ok:
            raise OutputError(f"could not encode a 16-bit {fmt.value} image")
        return bytes(buf.tobytes())
    arr8 = to_uint8(pixels)
    if arr8.shape[2] == 4 and not fmt.supports_alpha:
        a = arr8[..., 3:4].astype(np.float32) / 255.0
        bg = np.asarray(background, np.float32).reshape(1, 1, 3)
        flat = arr8[..., :3].astype(np.float32) * a + bg * (1.0 - a)
        arr8 = np.clip(np.rint(flat), 0, 255).astype(np.uint8)
    im = PILImage.fromarray(arr8, "RGBA" if arr8.shape[2] == 4 else "RGB")
    buf_io = io.BytesIO()
    kwargs: dict[str, object] = {"icc_profile": srgb_profile().tobytes()}
    if fmt is ImageFormat.JPEG:
        kwargs.update(quality=quality, optimize=True, subsampling=0 if quality >= 90 else 2)
    elif fmt in (ImageFormat.WEBP, ImageFormat.AVIF):
        kwargs.update(quality=quality)
    elif fmt is ImageFormat.PNG:
        kwargs.update(optimize=False, compress_level=6)
    elif fmt is ImageFormat.BMP:
        kwargs.pop("icc_profile")
    try:
        try:
            im.save(buf_io, format=fmt.pil_name, **kwargs)
        except OSError:
            if not kwargs.get("optimize"):
                raise
            # Pillow's buffer for optimised Huffman tables is too small for very noisy
            # images at 4:4:4 ("broken data stream"): encode without optimisation instead
            kwargs["optimize"] = False
            buf_io = io.BytesIO()
            im.save(buf_io, format=fmt.pil_name, **kwargs)
    except (OSError, ValueError) as exc:
        raise OutputError(f"could not encode a {fmt.value} image: {exc}") from None
    return buf_io.getvalue()


def megapixels(pixels: int) -> str:
    """A pixel count in megapixels, the one unit of size limits (``"50 MP"``, ``"0.0024 MP"``).

    Example:
        >>> megapixels(50_000_000), megapixels(2400), megapixels(12_345_678)
        ('50 MP', '0.0024 MP', '12.3 MP')
    """
    return f"{pixels / 1e6:.3g} MP"


def encode_mask(mask: np.ndarray, fmt: ImageFormat | str = ImageFormat.PNG) -> bytes:
    """Encode a mask as a single-channel 8-bit grey (Pillow mode ``L``) image, lossless.

    Args:
        mask: (H, W) mask, any dtype :func:`~productstudio.imaging.types.as_mask` takes
            (uint8 is written as is).
        fmt: PNG (default), TIFF or BMP; lossy formats would blur the matte.

    Example:
        >>> m = np.zeros((4, 4), np.uint8); m[1:3, 1:3] = 255
        >>> PILImage.open(io.BytesIO(encode_mask(m))).mode
        'L'
    """
    fmt = ImageFormat(fmt) if not isinstance(fmt, ImageFormat) else fmt
    if fmt not in (ImageFormat.PNG, ImageFormat.TIFF, ImageFormat.BMP):
        raise InvalidParamsError(
            f"a mask is written losslessly as PNG, TIFF or BMP, not {fmt.value}: use .png"
        )
    if isinstance(mask, np.ndarray) and mask.dtype == np.uint8 and mask.ndim == 2:
        m8 = mask
    else:
        m8 = np.clip(np.rint(as_mask(mask) * 255.0), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    try:
        PILImage.fromarray(np.ascontiguousarray(m8), "L").save(buf, format=fmt.pil_name)
    except (OSError, ValueError) as exc:
        raise OutputError(f"could not encode a {fmt.value} mask: {exc}") from None
    return buf.getvalue()


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(
    data: bytes, path: str | Path, *, before_rename: Callable[[], None] | None = None
) -> Path:
    """Write ``data`` to ``path`` atomically: a temp file in the same folder, then rename.

    ``before_rename`` is called once the temp file holds the data (flushed and synced) and
    before it takes the final name (the batch runner's crash tests stop a run there).

    Raises:
        OutputError: the folder is missing or not writable, or the disk is full.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f'Cannot create the output folder "{folder}": {exc.strerror or exc}. '
            "Choose a writable folder with -o.",
            path=path,
        ) from None
    tmp_name: str | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
        # mkstemp makes the file private (0600); give it what open() would: 0666 minus umask
        os.chmod(tmp_name, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if before_rename is not None:
            before_rename()
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        raise OutputError(
            f'Cannot write "{path}": {exc.strerror or exc}. Check that the folder is writable '
            "and the disk has space.",
            path=path,
        ) from None
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
    return path


def save_image(
    pixels: np.ndarray,
    path: str | Path,
    *,
    fmt: ImageFormat | str | None = None,
    quality: int = 92,
    background: tuple[int, int, int] = (255, 255, 255),
) -> Path:
    """Encode (see :func:`encode_image`) and write atomically; the format follows the extension."""
    f = ImageFormat(fmt) if fmt is not None else ImageFormat.from_suffix(path)
    return write_atomic(encode_image(pixels, f, quality=quality, background=background), path)
