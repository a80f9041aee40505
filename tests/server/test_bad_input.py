"""Bad input on every endpoint — oversize, non-image, decompression bomb, truncated file, bad
enum, missing field, hostile URL — is a 4xx with a message in words, never a 5xx, and leaves
nothing on disk (no job folder, no spooled upload)."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from server_helpers import make_app, patched_env, server_env

CAP = 300_000

# endpoint → (file field, valid other fields, one bad enum/choice field)
ENDPOINTS: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
    "/v1.0/removebg": ("image_file", {}, {"size": "huge"}),
    "/api/remove": ("file", {}, {"model": "bria-rmbg-9"}),
    "/v1/cutout": ("image", {}, {"format": "gif"}),
    "/v1/main-image": ("image", {"preset": "amazon-main"}, {"preset": "mars-shop"}),
    "/v1/check": ("image", {"preset": "amazon-main"}, {"preset": "mars-shop"}),
    "/v1/recolour": ("image", {"colors": "red"}, {"colors": "ultraviolet-ish"}),
    "/v1/adjust": ("image", {}, {"white_balance": "purple"}),
    "/v1/erase": ("image", {"boxes": "1,1,5,5"}, {"model": "photoshop"}),
    "/v1/upscale": ("image", {}, {"model": "magic"}),
    "/v1/style": ("image", {"style": "3"}, {"method": "van-gogh"}),
    "/v1/compose": ("product", {}, {"shadow": "dramatic"}),
    "/v1/jobs": ("images", {"preset": "amazon-main"}, {"preset": "mars-shop"}),
}


def _png_header(width: int, height: int) -> bytes:
    """A valid PNG signature + IHDR declaring a huge size, with a tiny IDAT (a bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


@pytest.fixture(scope="module")
def env(tmp_module: Path, spool_dir: Path) -> Iterator[tuple[TestClient, Path]]:
    data = tmp_module / "data"
    with patched_env(server_env()):
        app = make_app(data, max_upload_bytes=CAP, max_megapixels=1.0, allow_image_url=True)
        with TestClient(app) as c:
            yield c, data


def _post(c: TestClient, path: str, field: str, data: bytes | None, form: dict[str, str]) -> Any:
    files = {field: ("x.jpg", data)} if data is not None else None
    return c.post(path, files=files, data=form)


def _assert_clear_4xx(r: Any, status: int | tuple[int, ...], *words: str) -> str:
    statuses = (status,) if isinstance(status, int) else status
    assert r.status_code in statuses, (r.status_code, r.text)
    err = r.json()["errors"][0]
    title: str = err["title"]
    assert err["code"] and len(title) > 15
    for w in words:
        assert w.lower() in title.lower(), title
    return title


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_every_kind_of_bad_file(
    env: tuple[TestClient, Path], path: str, photo: bytes, spool_dir: Path
) -> None:
    c, data_dir = env
    field, form, _ = ENDPOINTS[path]
    if path == "/v1/style" and "multistyle26" not in c.get("/v1/info").json()["style_models"]:
        form = {}
        extra = {"reference": ("r.jpg", photo)}
    else:
        extra = {}

    def post(blob: bytes | None) -> Any:
        files: dict[str, Any] = dict(extra)
        if blob is not None:
            files[field] = ("x.jpg", blob)
        return c.post(path, files=files or None, data=form)

    _assert_clear_4xx(post(b"\xff\xd8\xff" + bytes(CAP)), 413, "over the limit")
    _assert_clear_4xx(post(b"%PDF-1.7\n" + b"x" * 500), 415, "not an image", "PDF")
    _assert_clear_4xx(post(b"hello"), 415, "not an image")
    _assert_clear_4xx(post(b""), (400, 422), "")
    _assert_clear_4xx(post(_png_header(30_000, 30_000)), 413, "MP")
    truncated = photo[: len(photo) // 3]
    if path != "/v1/jobs":  # jobs check headers at upload; decoding happens in the job
        _assert_clear_4xx(post(truncated), 400, "")
    missing = post(None)
    _assert_clear_4xx(missing, (400, 422), "")
    assert field in missing.json()["errors"][0]["title"] or "image" in missing.text
    # the database (with its WAL files: the feedback store shares it) is not a leftover
    leftovers = [
        p for p in data_dir.rglob("*") if p.is_file() and not p.name.startswith("server.sqlite")
    ]
    assert leftovers == []
    assert list(spool_dir.iterdir()) == []


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_bad_choice_names_the_field(env: tuple[TestClient, Path], path: str, photo: bytes) -> None:
    c, _ = env
    field, form, bad = ENDPOINTS[path]
    files: dict[str, Any] = {field: ("p.jpg", photo)}
    if path == "/v1/style":
        files["reference"] = ("r.jpg", photo)
        form = {}
    r = c.post(path, files=files, data={**form, **bad})
    (name,) = bad
    _assert_clear_4xx(r, (400, 422), name)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1.0/removebg", {"image_url": "http://169.254.169.254/latest/meta-data/iam"}),
        ("/v1.0/removebg", {"image_url": "file:///etc/passwd"}),
        ("/v1.0/removebg", {"image_url": "http://[::ffff:127.0.0.1]:7000/v1/info"}),
        ("/v1.0/removebg", {"image_url": "gopher://10.0.0.1/x"}),
    ],
)
def test_hostile_urls_are_refused(
    env: tuple[TestClient, Path], path: str, body: dict[str, str]
) -> None:
    c, _ = env
    _assert_clear_4xx(c.post(path, json=body), 400, "")
    _assert_clear_4xx(c.post(path, data=body), 400, "")


def test_hostile_urls_on_rembg_and_backgrounds(env: tuple[TestClient, Path], photo: bytes) -> None:
    c, _ = env
    for url in ("http://127.0.0.1:22/", "http://10.1.2.3/a.png", "ftp://example.com/a.png"):
        _assert_clear_4xx(c.get("/api/remove", params={"url": url}), 400, "")
    r = c.post(
        "/v1.0/removebg",
        files={"image_file": ("p.jpg", photo)},
        data={"bg_image_url": "http://192.168.1.1/bg.jpg"},
    )
    _assert_clear_4xx(r, 400, "192.168.1.1")


def test_request_body_over_the_cap_is_cut_off(env: tuple[TestClient, Path]) -> None:
    """The body cap answers 413 from the declared length, before any parsing."""
    c, _ = env
    big = io.BytesIO(b"\xff\xd8\xff" + bytes(3 * CAP + 2_000_000))
    r = c.post("/v1/cutout", files={"image": ("big.jpg", big)})
    _assert_clear_4xx(r, 413, "over")


def test_removebg_parameter_errors(env: tuple[TestClient, Path], photo: bytes) -> None:
    c, _ = env
    f = {"image_file": ("p.jpg", photo)}
    cases = [
        ({"roi": "left half"}, "roi"),
        ({"crop_margin": "80%"}, "crop_margin"),
        ({"scale": "5%"}, "scale"),
        ({"position": "top"}, "position"),
        ({"bg_color": "not-a-colour"}, "bg_color"),
        ({"shadow_opacity": "300"}, "shadow_opacity"),
        ({"colour": "red"}, "colour"),  # a typo: unknown parameter
    ]
    for form, name in cases:
        _assert_clear_4xx(c.post("/v1.0/removebg", files=f, data=form), 400, name)
    _assert_clear_4xx(c.post("/v1.0/removebg", data={"size": "full"}), 400, "image_file")
    _assert_clear_4xx(
        c.post("/v1.0/removebg", json={"image_file_b64": "%%%not base64%%%"}), (400, 415), ""
    )
    _assert_clear_4xx(
        c.post("/v1.0/removebg", content=b"x", headers={"content-type": "text/plain"}), 415, ""
    )
    _assert_clear_4xx(
        c.post("/v1.0/removebg", content=b"{oops", headers={"content-type": "application/json"}),
        400,
        "JSON",
    )
    _assert_clear_4xx(
        c.post("/v1.0/removebg", files=f, data={"image_url": "http://example.com/a.jpg"}),
        400,
        "exactly one",
    )


def test_unknown_job_and_path_tricks(env: tuple[TestClient, Path]) -> None:
    c, _ = env
    assert c.get("/v1/jobs/" + "0" * 32).status_code == 404
    assert c.get("/v1/jobs/not-an-id").status_code in (404, 422)
    assert c.get("/v1/jobs/" + "0" * 32 + "/files/..%2f..%2fetc%2fpasswd").status_code in (404, 422)
    assert c.get("/../../etc/passwd").status_code == 404
