"""Server parts without a running server: settings precedence, content sniffing, the body
cap middleware, remove.bg's geometry (roi, crop, scale/position) and upload names."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from productstudio.errors import CorruptImageError, ImageTooLargeError, InvalidParamsError
from productstudio.errors import UnsupportedImageError as Unsupported
from productstudio.server.jobs import safe_name
from productstudio.server.limits import BodyLimit, check_image_bytes, sniff
from productstudio.server.removebg import (
    RemoveBgRequest,
    alpha_box,
    crop_to_subject,
    roi_box,
    scale_and_position,
)
from productstudio.server.settings import load_settings


def test_settings_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Explicit options > environment > TOML file > defaults; bad values name the setting."""
    cfg = tmp_path / "server.toml"
    cfg.write_text('[server]\nport = 8100\nqueue_size = 3\ncors_origins = ["https://a.example"]\n')
    s = load_settings(cfg)
    assert (s.port, s.queue_size, s.cors_origins, s.host) == (
        8100,
        3,
        ["https://a.example"],
        "127.0.0.1",
    )
    monkeypatch.setenv("PRODUCTSTUDIO_SERVER_PORT", "8200")
    assert load_settings(cfg).port == 8200
    assert load_settings(cfg, port=8300).port == 8300
    monkeypatch.setenv("PRODUCTSTUDIO_SERVER_CONFIG", str(cfg))
    assert load_settings().queue_size == 3
    with pytest.raises(InvalidParamsError, match="port"):
        load_settings(port=0)
    cfg.write_text("port = [oops")
    with pytest.raises(InvalidParamsError, match=r"server\.toml"):
        load_settings(cfg)
    with pytest.raises(InvalidParamsError, match="not found"):
        load_settings(tmp_path / "missing.toml")


def test_keys_default_only_off_on_loopback() -> None:
    assert not load_settings(host="127.0.0.1").keys_required
    assert not load_settings(host="::1").keys_required
    assert load_settings(host="0.0.0.0").keys_required
    assert load_settings(host="192.168.1.9").keys_required
    assert not load_settings(host="0.0.0.0", require_keys=False).keys_required


def _encode(fmt: str, size: tuple[int, int] = (8, 6)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fmt", "name"),
    [("JPEG", "jpeg"), ("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif"), ("BMP", "bmp"),
     ("TIFF", "tiff"), ("AVIF", "avif")],
)  # fmt: skip
def test_sniff_real_formats(fmt: str, name: str) -> None:
    data = _encode(fmt)
    assert sniff(data) == name
    header = check_image_bytes(data, field="f", max_bytes=10**6, max_pixels=10**6)
    assert (header.format, header.width, header.height) == (name, 8, 6)


def test_sniff_heic() -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    assert sniff(_encode("HEIF", (64, 64))) == "heif"


def test_check_image_bytes_refusals() -> None:
    with pytest.raises(Unsupported, match="PDF"):
        check_image_bytes(b"%PDF-1.4 ...", field="f", max_bytes=100, max_pixels=100)
    with pytest.raises(Unsupported, match="HTML"):
        check_image_bytes(b"<!DOCTYPE html>", field="f", max_bytes=100, max_pixels=100)
    with pytest.raises(ImageTooLargeError, match="bytes"):
        check_image_bytes(_encode("PNG"), field="f", max_bytes=10, max_pixels=100)
    with pytest.raises(ImageTooLargeError, match="MP"):
        check_image_bytes(_encode("PNG", (100, 100)), field="f", max_bytes=10**6, max_pixels=5000)
    with pytest.raises(CorruptImageError, match="header"):
        check_image_bytes(
            b"\x89PNG\r\n\x1a\n" + b"\0" * 20, field="f", max_bytes=100, max_pixels=100
        )
    with pytest.raises(CorruptImageError, match="empty"):
        check_image_bytes(b"", field="f", max_bytes=100, max_pixels=100)


async def _call(mw: BodyLimit, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> Any:
    sent: list[dict[str, Any]] = []
    queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
             for i, c in enumerate(chunks)]  # fmt: skip

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/v1/cutout", "headers": headers}
    await mw(scope, receive, send)
    return sent


def test_body_limit_declared_and_streamed() -> None:
    """413 from Content-Length without reading, and as soon as a chunked body passes the cap;
    bodies under the cap reach the app whole."""
    seen: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        seen.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    mw = BodyLimit(app, default=100, per_prefix={"/v1/jobs": 10_000})
    declared = asyncio.run(_call(mw, [(b"content-length", b"500")], [b"x" * 500]))
    assert declared[0]["status"] == 413 and seen == []
    streamed = asyncio.run(_call(mw, [], [b"x" * 60, b"x" * 60]))
    assert streamed[0]["status"] == 413 and seen == []
    fine = asyncio.run(_call(mw, [], [b"x" * 40, b"x" * 40]))
    assert fine[0]["status"] == 200 and seen == [b"x" * 80]
    assert mw.limit_for("/v1/jobs/abc") == 10_000 and mw.limit_for("/v1/cutout") == 100


def _subject(h: int = 100, w: int = 200) -> np.ndarray:
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[20:60, 30:70] = (10, 200, 30, 255)
    return rgba


def test_roi_crop_scale_position() -> None:
    assert roi_box("0% 0% 100% 100%", 200, 100) == (0, 0, 200, 100)
    assert roi_box("10px 20px 50% 150%", 200, 100) == (10, 20, 100, 100)
    rgba = _subject()
    assert alpha_box(rgba[..., 3]) == (30, 20, 70, 60)
    cropped = crop_to_subject(rgba, "10px")
    assert cropped.shape[:2] == (60, 60) and alpha_box(cropped[..., 3]) == (10, 10, 50, 50)
    assert crop_to_subject(rgba, "25%").shape[:2] == (60, 60)
    centred = scale_and_position(rgba, "50%", "original")  # scale implies centre
    x0, y0, x1, y1 = alpha_box(centred[..., 3]) or (0, 0, 0, 0)
    assert (y1 - y0) == 50 and (x0 + x1) / 2 == pytest.approx(100, abs=1)
    corner = scale_and_position(rgba, "original", "0% 100%")
    assert alpha_box(corner[..., 3]) == (0, 60, 40, 100)
    same = scale_and_position(rgba, "original", "original")
    np.testing.assert_array_equal(same, rgba)


@given(
    st.integers(1, 60),
    st.integers(1, 60),
    st.sampled_from(["10%", "35%", "100%"]),
    st.sampled_from(["center", "original", "0%", "100% 0%", "37% 81%"]),
)
def test_scale_position_keeps_the_subject_inside(h: int, w: int, scale: str, pos: str) -> None:
    """Any subject, scale and position: the subject stays inside the image, scaled to the
    asked share of the limiting side."""
    rgba = np.zeros((80, 120, 4), np.uint8)
    rgba[5 : 5 + h, 7 : 7 + w, 3] = 255
    out = scale_and_position(rgba, scale, pos)
    box = alpha_box(out[..., 3])
    assert box is not None
    bw, bh = box[2] - box[0], box[3] - box[1]
    share = float(scale.rstrip("%")) / 100
    assert max(bw / 120, bh / 80) == pytest.approx(share, abs=2 / min(bw, bh) + 0.02)


def test_request_model_messages() -> None:
    with pytest.raises(ValueError, match="roi"):
        RemoveBgRequest(roi="everything")
    assert RemoveBgRequest(bg_color="81d4fa77").bg_color == "81d4fa77"
    with pytest.raises(ValueError, match="unknown|extra"):
        RemoveBgRequest.model_validate({"colour": "red"})


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("shoe.jpg", "0003_shoe.jpg"),
        ("../../etc/passwd", "0003_passwd"),
        ("C:\\Users\\x\\Desktop\\My Photo (1).PNG", "0003_My_Photo_1.png"),
        ("", "0003_image"),
        ("...", "0003_image"),
        ("a" * 300 + ".jpeg", "0003_" + "a" * 80 + ".jpeg"),
    ],
)
def test_safe_upload_names(name: str, expected: str) -> None:
    assert safe_name(name, 3) == expected


def test_public_server_without_keys_refuses_to_start(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from productstudio.server import create_app

    app = create_app(host="0.0.0.0", data_dir=tmp_path, concurrency=1)
    with pytest.raises(InvalidParamsError, match="keys add"), TestClient(app):
        pass
