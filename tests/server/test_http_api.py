"""The HTTP API on real photos (TestClient): remove.bg and rembg compatibility, every edit
endpoint, async jobs with SSE progress, keys and rate limits."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from server_helpers import make_app, patched_env, server_env

from productstudio.imaging import load_image


def _img(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def _tiny_generator(folder: Path) -> None:
    """A random-weight CVAE saved like `productstudio train` does (16 px, hashing text)."""
    from productstudio.models.conditioning.fusion import ConditionConfig
    from productstudio.models.data import Vocab
    from productstudio.models.generators import GENERATORS, VAEConfig

    vocab = Vocab.build([{"colour": "Red"}, {"colour": "Blue"}], ("colour",))
    cc = ConditionConfig.from_vocab(vocab, text_encoder="hashing", emb_dim=8, out_dim=16)
    model = GENERATORS.get("vae").from_config(VAEConfig(size=16, z_dim=8, channels=4), cc, vocab)
    model.save_pretrained(folder)


@pytest.fixture(scope="module")
def client(tmp_module: Path) -> Iterator[TestClient]:
    gens = tmp_module / "generators"
    if importlib.util.find_spec("torch") is not None:
        _tiny_generator(gens / "tiny-vae")
    with patched_env(server_env()):
        app = make_app(tmp_module / "data", generators_dir=gens)
        with TestClient(app) as c:
            yield c


# -- remove.bg ----------------------------------------------------------------------------
def test_removebg_multipart_full_size(client: TestClient, photo: bytes) -> None:
    """The answer is an RGBA PNG at the photo's size with remove.bg's headers; the white
    studio background is transparent and the carton opaque, with exact source colours."""
    r = client.post("/v1.0/removebg", files={"image_file": ("p.jpg", photo)}, data={"size": "full"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    out = _img(r.content)
    src = load_image(photo).pixels
    assert out.shape == (*src.shape[:2], 4)
    assert r.headers["X-Width"] == str(src.shape[1]) and r.headers["X-Height"] == str(src.shape[0])
    assert r.headers["X-Type"] == "product" and r.headers["X-Credits-Charged"] == "0"
    assert out[2, 2, 3] == 0 and out[100, 99, 3] == 255
    ys, xs = np.nonzero(out[..., 3])
    assert int(r.headers["X-Foreground-Top"]) == ys.min()
    assert int(r.headers["X-Foreground-Left"]) == xs.min()
    assert int(r.headers["X-Foreground-Width"]) == xs.max() - xs.min() + 1
    assert int(r.headers["X-Foreground-Height"]) == ys.max() - ys.min() + 1
    opaque = out[..., 3] == 255
    np.testing.assert_array_equal(out[opaque][:, :3], src[opaque])


def test_removebg_json_b64_colour_shadow_jpg(client: TestClient, photo: bytes) -> None:
    """JSON body with base64: bg_color without '#', add_shadow and format=jpg give an opaque
    JPEG whose far background is the colour; size=preview caps it to 0.25 MP."""
    body = {
        "image_file_b64": base64.b64encode(photo).decode(),
        "bg_color": "81d4fa",
        "add_shadow": True,
        "format": "jpg",
        "size": "preview",
    }
    r = client.post("/v1.0/removebg", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"
    out = _img(r.content)
    assert out.shape[0] * out.shape[1] <= 250_000
    corner = out[:6, :6].reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(corner, (0x81, 0xD4, 0xFA), atol=4)


def test_removebg_crop_channels_zip_and_json_accept(client: TestClient, photo: bytes) -> None:
    files = {"image_file": ("p.jpg", photo)}
    crop = client.post("/v1.0/removebg", files=files, data={"crop": "true", "size": "full"})
    assert crop.status_code == 200, crop.text
    a = _img(crop.content)[..., 3]
    assert a[0].any() and a[-1].any() and a[:, 0].any() and a[:, -1].any()  # tight box
    assert crop.headers["X-Foreground-Top"] == "0" and crop.headers["X-Foreground-Left"] == "0"
    alpha = client.post("/v1.0/removebg", files=files, data={"channels": "alpha", "size": "full"})
    grey = _img(alpha.content)
    assert grey.ndim == 2 or np.array_equal(grey[..., 0], grey[..., 1])
    z = client.post("/v1.0/removebg", files=files, data={"format": "zip"})
    assert z.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(z.content)).namelist()
    assert sorted(names) == ["alpha.png", "color.jpg"]
    js = client.post(
        "/v1.0/removebg", files=files, data={"scale": "50%"}, headers={"Accept": "application/json"}
    )
    data = js.json()["data"]
    img = _img(base64.b64decode(data["result_b64"]))
    h, w = img.shape[:2]
    assert max(data["foreground_width"] / w, data["foreground_height"] / h) == pytest.approx(
        0.5, abs=0.02
    )
    assert abs(data["foreground_left"] + data["foreground_width"] / 2 - w / 2) <= 2


def test_removebg_roi_outside_the_product(client: TestClient, photo: bytes) -> None:
    """A region of interest with no product in it → 400 unknown_foreground, in words."""
    r = client.post(
        "/v1.0/removebg",
        files={"image_file": ("p.jpg", photo)},
        data={"roi": "0px 0px 10px 10px", "size": "full"},
    )
    assert r.status_code == 400
    err = r.json()["errors"][0]
    assert err["code"] == "unknown_foreground" and "roi" in err["title"]


def test_account(client: TestClient) -> None:
    r = client.get("/v1.0/account")
    attrs = r.json()["data"]["attributes"]
    assert attrs["credits"]["total"] > 0 and attrs["api"]["sizes"] == "all"


# -- rembg ----------------------------------------------------------------------------
def test_rembg_post_and_only_mask(client: TestClient, photo: bytes) -> None:
    r = client.post("/api/remove", files={"file": ("p.jpg", photo)}, data={"model": "u2netp"})
    if r.status_code == 422:  # no u2netp weights here: the enum lists only what exists
        pytest.skip("u2netp weights not found")
    assert r.status_code == 200, r.text
    rgba = _img(r.content)
    assert rgba.shape[2] == 4 and rgba[2, 2, 3] == 0
    m = client.post(
        "/api/remove", files={"file": ("p.jpg", photo)}, data={"om": "true", "model": "u2netp"}
    )
    mask = _img(m.content)
    assert mask.ndim == 2  # one grey channel, like rembg's
    np.testing.assert_array_equal(mask, rgba[..., 3])
    red = _img(client.post("/api/remove?bgc=255,0,0,255", files={"file": ("p.jpg", photo)}).content)
    assert tuple(red[1, 1]) == (255, 0, 0, 255)


# -- edit endpoints -------------------------------------------------------------------
def test_cutout_compose_recolour(client: TestClient, photo: bytes) -> None:
    """Cut-out → compose on a colour with a shadow (product pixels unchanged) → recolour
    variants as a zip."""
    cut = client.post("/v1/cutout", files={"image": ("p.jpg", photo)})
    assert cut.status_code == 200, cut.text
    assert float(cut.headers["X-Confidence"]) > 0.5 and cut.headers["X-Unsure"] == "false"
    rgba = _img(cut.content)
    comp = client.post(
        "/v1/compose",
        files={"product": ("c.png", cut.content)},
        data={"background": "#3366ff", "shadow": "contact", "format": "png"},
    )
    assert comp.status_code == 200, comp.text
    out = _img(comp.content)
    assert tuple(out[0, 0]) == (0x33, 0x66, 0xFF)
    opaque = rgba[..., 3] == 255
    np.testing.assert_array_equal(out[opaque], rgba[opaque][:, :3])
    rec = client.post(
        "/v1/recolour",
        files={"image": ("c.png", cut.content)},
        data={"colors": "#c0392b, navy", "format": "png"},
    )
    assert rec.status_code == 200 and rec.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(rec.content)).namelist()
    assert names == ["00_c0392b.png", "01_navy.png"]


def test_main_image_and_check(client: TestClient, photo: bytes) -> None:
    """The walmart preset gives its canvas; check reports rule by rule (amazon-main's rules
    here), the slow text rule not run unless asked."""
    r = client.post("/v1/main-image", files={"image": ("p.jpg", photo)}, data={"preset": "walmart"})
    assert r.status_code == 200, r.text
    assert r.headers["X-Preset"] == "walmart"
    w, h = int(r.headers["X-Width"]), int(r.headers["X-Height"])
    assert _img(r.content).shape[:2] == (h, w)
    c = client.post(
        "/v1/check", files={"image": ("m.jpg", r.content)}, data={"preset": "amazon-main"}
    )
    report = c.json()
    assert c.headers["X-Verdict"] == report["verdict"] in ("pass", "warn", "fail")
    rules = {x["rule"]: x for x in report["results"]}
    assert rules["text"]["measured"] == "not run"
    assert rules["dimensions"]["measured"] == f"{w}x{h}"


def test_adjust_erase_upscale_style(client: TestClient, store_photo: bytes) -> None:
    src = load_image(store_photo).pixels
    adj = client.post(
        "/v1/adjust", files={"image": ("s.jpg", store_photo)}, data={"exposure": "1.0"}
    )
    assert _img(adj.content).mean() > src.mean()
    er = client.post(
        "/v1/erase",
        files={"image": ("s.jpg", store_photo)},
        data={"boxes": "100,100,40,40", "model": "telea"},
    )
    assert er.status_code == 200, er.text
    out = _img(er.content)
    np.testing.assert_array_equal(out[:90], src[:90])
    assert not np.array_equal(out[100:140, 100:140], src[100:140, 100:140])
    up = client.post("/v1/upscale", files={"image": ("s.jpg", store_photo)}, data={"scale": "2"})
    assert _img(up.content).shape[:2] == (2 * src.shape[0], 2 * src.shape[1])
    st = client.post(
        "/v1/style",
        files={"image": ("s.jpg", store_photo), "reference": ("r.jpg", store_photo)},
        data={"method": "lab-stats"},
    )
    assert st.status_code == 200, st.text
    assert np.abs(_img(st.content).astype(int) - src.astype(int)).mean() < 3  # same look


def test_info_lists_only_what_exists(client: TestClient) -> None:
    info = client.get("/v1/info").json()
    assert "classical" in info["segmenters"] and "amazon-main" in info["presets"]
    spec = client.get("/openapi.json").json()
    enum = spec["components"]["schemas"]
    seg_enum = next(v for k, v in enum.items() if k == "Segmenter")["enum"]
    assert set(seg_enum) == {"auto", *info["segmenters"]}


# -- jobs -----------------------------------------------------------------------------
def _events(client: TestClient, job_id: str) -> list[dict[str, Any]]:
    seen = []
    with client.stream("GET", f"/v1/jobs/{job_id}/events") as s:
        for line in s.iter_lines():
            if line.startswith("data:"):
                seen.append(json.loads(line[5:]))
    return seen


def test_batch_job_with_progress_and_result(
    client: TestClient, photo: bytes, photo2: bytes, tmp_module: Path
) -> None:
    """Two photos through a preset: SSE shows progress to done; the zip holds both outputs
    and the report; each item has the checker's verdict; ps_items records them in the same
    database."""
    r = client.post(
        "/v1/jobs",
        files=[("images", ("a.jpg", photo)), ("images", ("../../b.jpg", photo2))],
        data={"preset": "ebay"},
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "queued" and r.headers["Location"] == f"/v1/jobs/{job['id']}"
    seen = _events(client, job["id"])
    assert seen[-1]["status"] == "done", seen[-1]["message"]
    assert [e["progress"]["done"] for e in seen] == sorted(e["progress"]["done"] for e in seen)
    final = client.get(f"/v1/jobs/{job['id']}").json()
    items = final["items"]
    assert [i["name"] for i in items] == ["0000_a", "0001_b"]  # no client path survives
    assert all(i["status"] == "done" and i["verdict"] in ("pass", "warn", "fail") for i in items)
    z = client.get(f"/v1/jobs/{job['id']}/result")
    names = sorted(zipfile.ZipFile(io.BytesIO(z.content)).namelist())
    assert names == sorted([i["output"] for i in items] + ["report.json"])
    one = client.get(f"/v1/jobs/{job['id']}/files/{items[0]['output']}")
    assert one.status_code == 200 and one.headers["content-type"].startswith("image/")
    assert client.get(f"/v1/jobs/{job['id']}/files/..%2F..%2Fserver.sqlite").status_code == 404
    from sqlalchemy import create_engine, text

    eng = create_engine(f"sqlite:///{tmp_module / 'data' / 'server.sqlite'}")
    with eng.connect() as conn:
        keys = {row[0] for row in conn.execute(text("select key from ps_items"))}
    eng.dispose()
    assert {"0000_a", "0001_b"} <= keys


def test_cancel_deletes_files(client: TestClient, photo: bytes, tmp_module: Path) -> None:
    r = client.post(
        "/v1/jobs",
        files=[("images", (f"{i}.jpg", photo)) for i in range(6)],
        data={"preset": "etsy"},
    )
    job_id = r.json()["id"]
    deadline = time.monotonic() + 60
    while client.get(f"/v1/jobs/{job_id}").json()["status"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    c = client.post(f"/v1/jobs/{job_id}/cancel")
    assert c.json()["status"] == "cancelled"
    assert not (tmp_module / "data" / "jobs" / job_id).exists()
    assert client.get(f"/v1/jobs/{job_id}/result").status_code == 409
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 204
    assert client.get(f"/v1/jobs/{job_id}").status_code == 404


def test_generator_sampling_sync_and_job(client: TestClient) -> None:
    """/v1/sample answers PNGs (a zip for n > 1), same seed same images; a sampling job
    streams progress to done and zips its images."""
    if "tiny-vae" not in client.get("/v1/info").json()["generators"]:
        pytest.skip("torch not installed")
    form = {"generator": "tiny-vae", "title": "red shoe", "attrs": '{"colour": "Red"}', "seed": "3"}
    one = client.post("/v1/sample", data=form)
    assert one.status_code == 200, one.text
    assert _img(one.content).shape == (16, 16, 3)
    assert client.post("/v1/sample", data=form).content == one.content
    many = client.post("/v1/sample", data={**form, "n": "3"})
    assert zipfile.ZipFile(io.BytesIO(many.content)).namelist() == [
        "sample_000.png",
        "sample_001.png",
        "sample_002.png",
    ]
    bad = client.post("/v1/sample", data={**form, "attrs": "colour=Red"})
    assert bad.status_code == 400 and "attrs" in bad.json()["errors"][0]["title"]
    job = client.post("/v1/jobs/sample", data={**form, "n": "10"}).json()
    seen = _events(client, job["id"])
    assert seen[-1]["status"] == "done", seen[-1]["message"]
    z = zipfile.ZipFile(io.BytesIO(client.get(f"/v1/jobs/{job['id']}/result").content))
    assert len([n for n in z.namelist() if n.endswith(".png")]) == 10
