"""Loader and saver: formats, colour management, and every kind of bad input."""

from __future__ import annotations

import io
import os
import stat
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from icc_profiles import DISPLAY_P3, rgb_profile
from PIL import Image, ImageCms

from productstudio.errors import (
    CorruptImageError,
    ImageTooLargeError,
    InputError,
    InvalidParamsError,
    OutputError,
)
from productstudio.imaging import ImageFormat, encode_image, load_image, save_image, write_atomic
from strategies import rgb_images, rgba_images


def _png(arr: np.ndarray, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", **kw)
    return buf.getvalue()


def _jpeg(im: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95, **kw)
    return buf.getvalue()


@pytest.fixture
def photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    arr = np.zeros((40, 60, 3), np.uint8)
    arr[..., 0] = np.linspace(0, 255, 60, dtype=np.uint8)[None]
    arr[..., 1] = 120
    arr[10:30, 20:40] = rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)
    return arr


# -- formats ---------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "WEBP"])
def test_lossless_formats_round_trip(photo: np.ndarray, fmt: str) -> None:
    """Lossless formats load back bit-identical."""
    buf = io.BytesIO()
    kw = {"lossless": True} if fmt == "WEBP" else {}
    Image.fromarray(photo).save(buf, fmt, **kw)
    got = load_image(buf.getvalue())
    assert got.format == fmt
    np.testing.assert_array_equal(got.pixels, photo)


@pytest.mark.parametrize("fmt", ["JPEG", "AVIF", "HEIF"])
def test_lossy_formats_load(photo: np.ndarray, fmt: str) -> None:
    """JPEG, AVIF and HEIC decode to RGB of the same size, close to the source."""
    from pillow_heif import register_heif_opener

    register_heif_opener()
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, fmt, quality=95)
    got = load_image(buf.getvalue())
    assert got.pixels.shape == photo.shape and got.pixels.dtype == np.uint8
    assert np.abs(got.pixels.astype(int) - photo).mean() < 12


def test_format_is_sniffed_not_taken_from_extension(tmp_path: Path, photo: np.ndarray) -> None:
    """A PNG named .jpg loads as PNG."""
    p = tmp_path / "really_a_png.jpg"
    p.write_bytes(_png(photo))
    got = load_image(p)
    assert got.format == "PNG"
    np.testing.assert_array_equal(got.pixels, photo)


def test_exif_orientation_is_applied(photo: np.ndarray) -> None:
    """Orientation 6 (rotate 90° clockwise) gives the stored pixels rotated."""
    im = Image.fromarray(photo)
    exif = im.getexif()
    exif[0x0112] = 6
    data = _jpeg(im, exif=exif.tobytes())
    got = load_image(data)
    assert got.orientation == 6
    assert got.pixels.shape == (60, 40, 3)
    stored = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    np.testing.assert_array_equal(got.pixels, np.rot90(stored, k=-1))


def test_adobe_rgb_profile_is_converted_to_srgb() -> None:
    """An Adobe-RGB-tagged file is converted: saturated colours change, flag is set."""
    arr = np.full((8, 8, 3), (100, 150, 50), np.uint8)
    got = load_image(_png(arr, icc_profile=rgb_profile("Adobe RGB (1998) test")))
    assert got.icc_converted
    g = got.pixels[0, 0].astype(int)
    assert g[1] > g[0] + 60 and g[2] < 50  # more saturated green in sRGB
    assert not np.array_equal(got.pixels, arr)


def test_display_p3_profile_is_converted() -> None:
    """Display P3 red becomes sRGB red clipped (green and blue near zero)."""
    arr = np.full((4, 4, 3), (255, 0, 0), np.uint8)
    got = load_image(_png(arr, icc_profile=rgb_profile("Display P3 test", DISPLAY_P3)))
    assert got.icc_converted
    r, g, b = got.pixels[0, 0].tolist()
    assert r == 255 and g < 20 and b < 20


def test_srgb_profile_is_left_alone(photo: np.ndarray) -> None:
    """An sRGB-tagged file is not converted (pixels bit-identical)."""
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    got = load_image(_png(photo, icc_profile=srgb))
    assert not got.icc_converted
    np.testing.assert_array_equal(got.pixels, photo)


def test_cmyk_jpeg_becomes_rgb() -> None:
    """A CMYK JPEG (Adobe, inverted) loads as RGB with the right colour."""
    im = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red ink mix
    got = load_image(_jpeg(im))
    assert got.mode == "CMYK" and got.pixels.shape == (16, 16, 3)
    r, g, b = got.pixels[8, 8].tolist()
    assert r > 200 and g < 60 and b < 60


def test_palette_with_transparency_becomes_rgba() -> None:
    """A palette PNG with a transparent index gives alpha 0 there and 255 elsewhere."""
    im = Image.new("P", (10, 10), 0)
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.paste(1, (0, 0, 5, 10))
    buf = io.BytesIO()
    im.save(buf, "PNG", transparency=1)
    got = load_image(buf.getvalue())
    assert got.pixels.shape == (10, 10, 4)
    assert got.pixels[0, 0, 3] == 0 and got.pixels[0, 9, 3] == 255
    assert got.pixels[0, 9, :3].tolist() == [255, 0, 0]


def test_la_becomes_rgba() -> None:
    """Grey+alpha loads as RGBA with grey replicated."""
    arr = np.zeros((5, 5, 2), np.uint8)
    arr[..., 0] = 77
    arr[..., 1] = 128
    got = load_image(_png(arr))
    assert got.pixels.shape == (5, 5, 4)
    assert got.pixels[0, 0].tolist() == [77, 77, 77, 128]


def test_sixteen_bit_png_rgb() -> None:
    """16-bit RGB PNG: rounded to 8 bits by default, kept with keep_16bit."""
    arr = np.zeros((6, 7, 3), np.uint16)
    arr[..., 0] = 65535
    arr[..., 1] = 257 * 100 + 3
    arr[..., 2] = 1000
    ok, buf = cv2.imencode(".png", arr[..., ::-1])
    assert ok
    got8 = load_image(buf.tobytes())
    assert got8.bit_depth == 16 and got8.pixels.dtype == np.uint8
    assert got8.pixels[0, 0].tolist() == [255, 100, 4]
    got16 = load_image(buf.tobytes(), keep_16bit=True)
    np.testing.assert_array_equal(got16.pixels, arr)


def test_sixteen_bit_grey_tiff() -> None:
    """16-bit grey TIFF loads as RGB."""
    arr = (np.arange(20, dtype=np.uint16).reshape(4, 5) * 3000).astype(np.uint16)
    ok, buf = cv2.imencode(".tiff", arr)
    assert ok
    got = load_image(buf.tobytes(), keep_16bit=True)
    assert got.pixels.dtype == np.uint16 and got.pixels.shape == (4, 5, 3)
    np.testing.assert_array_equal(got.pixels[..., 1], arr)


def test_animated_gif_uses_first_frame() -> None:
    """An animated GIF gives its first frame and a note saying so."""
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100)
    got = load_image(buf.getvalue())
    assert got.frames == 2
    assert any("frame 1 of 2" in n for n in got.notes)
    assert got.pixels[0, 0].tolist() == [255, 0, 0]


# -- bad input -------------------------------------------------------------------------
def test_zero_byte_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(CorruptImageError, match=r"empty\.jpg.*empty \(0 bytes\)"):
        load_image(p)


def test_truncated_jpeg(tmp_path: Path, photo: np.ndarray) -> None:
    """A JPEG cut in half is reported as truncated, naming the file."""
    data = _jpeg(Image.fromarray(photo))
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptImageError, match=r"cut\.jpg.*truncated"):
        load_image(p)


def test_corrupt_header(tmp_path: Path, photo: np.ndarray) -> None:
    data = bytearray(_png(photo))
    data[1:4] = b"XXX"
    p = tmp_path / "bad.png"
    p.write_bytes(bytes(data))
    with pytest.raises(CorruptImageError, match=r"bad\.png.*not an image"):
        load_image(p)


def test_not_an_image(tmp_path: Path) -> None:
    p = tmp_path / "notes.jpg"
    p.write_text("this is a shopping list, not a photo")
    with pytest.raises(CorruptImageError, match="notes.jpg"):
        load_image(p)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(InputError, match="is a folder"):
        load_image(tmp_path)


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb)."""
    raw = zlib.compress(b"\0" * 64)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused() -> None:
    """A 200 MP header in a 100-byte file is refused before decoding, in one unit (MP)."""
    with pytest.raises(ImageTooLargeError, match="max-pixels") as exc:
        load_image(_bomb_png(20000, 10000), name="bomb.png")
    msg = str(exc.value)
    assert "20000x10000 = 200 MP" in msg and "limit of 50 MP" in msg, msg
    assert "pixels)" not in msg and "exceeds" not in msg, msg


def test_mask_encodes_as_single_channel() -> None:
    """encode_mask writes an 8-bit L image that reads back exactly; lossy formats refused."""
    from productstudio.imaging import encode_mask

    m = (np.arange(12 * 10) % 256).astype(np.uint8).reshape(12, 10)
    for fmt in ("png", "tiff", "bmp"):
        with Image.open(io.BytesIO(encode_mask(m, fmt))) as im:
            assert im.mode == "L"
            assert np.array_equal(np.asarray(im), m)
    soft = np.linspace(0, 1, 12 * 10, dtype=np.float32).reshape(12, 10)
    with Image.open(io.BytesIO(encode_mask(soft))) as im:
        assert np.array_equal(np.asarray(im), np.rint(soft * 255).astype(np.uint8))
    with pytest.raises(InvalidParamsError, match="PNG"):
        encode_mask(m, "jpeg")


def test_pixel_limit(photo: np.ndarray) -> None:
    """The configured limit applies; raising it admits the image."""
    data = _png(photo)
    with pytest.raises(ImageTooLargeError, match="over the limit"):
        load_image(data, max_pixels=1000)
    assert load_image(data, max_pixels=2400).size == (60, 40)


def test_pixel_limit_from_settings(monkeypatch: pytest.MonkeyPatch, photo: np.ndarray) -> None:
    from productstudio.settings import get_settings

    monkeypatch.setenv("PRODUCTSTUDIO_MAX_PIXELS", "100")
    get_settings.cache_clear()
    with pytest.raises(ImageTooLargeError):
        load_image(_png(photo))


# -- saving ----------------------------------------------------------------------------
def test_save_is_atomic_and_leaves_nothing_on_failure(tmp_path: Path, photo: np.ndarray) -> None:
    """Writing below a file fails with OutputError and leaves no temp file."""
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="file.txt"):
        save_image(photo, blocker / "out.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_save_replaces_existing_file_whole(tmp_path: Path, photo: np.ndarray) -> None:
    p = tmp_path / "a.png"
    p.write_bytes(b"old")
    save_image(photo, p)
    np.testing.assert_array_equal(load_image(p).pixels, photo)
    assert [x.name for x in tmp_path.iterdir()] == ["a.png"]


def test_saved_jpeg_has_srgb_and_no_exif(tmp_path: Path, photo: np.ndarray) -> None:
    """Outputs embed sRGB and carry no EXIF (GPS stripped), orientation reset."""
    p = save_image(photo, tmp_path / "o.jpg")
    with Image.open(p) as im:
        assert "sRGB" in ImageCms.getProfileDescription(
            ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))
        )
        assert len(im.getexif()) == 0


def test_rgba_to_jpeg_is_flattened_on_white() -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    got = load_image(encode_image(rgba, ImageFormat.JPEG))
    assert got.pixels.shape == (4, 4, 3) and got.pixels.min() >= 250


def test_unknown_output_extension() -> None:
    with pytest.raises(InvalidParamsError, match=r"\.png"):
        ImageFormat.from_suffix("out.xyz")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rgba_images(max_side=24))
def test_png_round_trip_property(img: np.ndarray) -> None:
    """Any RGBA image survives encode→load as PNG bit-identically."""
    got = load_image(encode_image(img, ImageFormat.PNG))
    np.testing.assert_array_equal(got.pixels, img)


@settings(max_examples=15, deadline=None)
@given(rgb_images(min_side=8, max_side=32))
def test_jpeg_keeps_shape_property(img: np.ndarray) -> None:
    got = load_image(encode_image(img, ImageFormat.JPEG))
    assert got.pixels.shape == img.shape


def test_real_photos_load(cutout_manifest: list[dict[str, str]]) -> None:
    """Every real cut-out photo loads at its manifest size."""
    from conftest import shared_path

    for row in cutout_manifest[:10]:
        got = load_image(shared_path("data", "cutout", "images", f"{row['name']}.jpg"))
        assert got.size == (int(row["width"]), int(row["height"]))


def test_noisy_high_quality_jpeg_encodes() -> None:
    """Pure noise at quality 95 (4:4:4) encodes; Pillow's optimiser buffer would overflow."""
    noise = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    got = load_image(encode_image(noise, ImageFormat.JPEG, quality=95))
    assert got.pixels.shape == noise.shape


def test_encoding_is_deterministic(photo: np.ndarray) -> None:
    """Identical pixels give identical files (the sRGB profile carries no timestamp)."""
    import productstudio.imaging.io as io_mod

    first = encode_image(photo, ImageFormat.PNG)
    io_mod._SRGB_PROFILE = None
    assert encode_image(photo, ImageFormat.PNG) == first


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_saved_files_follow_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    """Atomic writes give the permissions a plain open() would, not the temp file's private 0600."""
    old = os.umask(umask)
    try:
        p = write_atomic(b"x", tmp_path / "out.bin")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == mode
