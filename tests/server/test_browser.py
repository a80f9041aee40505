"""The web page end to end in headless Chromium (Debian's /usr/bin/chromium via Playwright):
upload a real photo, get the cut-out, change the background, paint-erase, download and check
the downloaded file's pixels; errors in words; a batch with progress; keyboard use."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from server_helpers import live_server, make_app, patched_env, server_env

from conftest import shared_path

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(tmp_module: Path) -> Iterator[tuple[Any, str]]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with patched_env(server_env()):
        app = make_app(tmp_module / "data")
        with live_server(app) as url, sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
            pg = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            errors: list[str] = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.goto(url + "/")
            yield pg, url
            browser.close()
            assert errors == []  # no JavaScript error on the way


def _idle(pg: Any) -> None:
    pg.wait_for_function("document.body.dataset.busy === '0'", timeout=120_000)


def _download(pg: Any, button: str) -> bytes:
    with pg.expect_download(timeout=60_000) as info:
        pg.click(button)
    return Path(info.value.path()).read_bytes()


def _after_src(pg: Any) -> str:
    src: str = pg.get_attribute("#after", "src") or ""
    return src


def test_cutout_background_erase_download(page: tuple[Any, str], photo_path: Path) -> None:
    pg, _ = page
    pg.set_input_files("#files", str(photo_path))
    pg.wait_for_selector('#after[src^="blob:"]', timeout=120_000)
    _idle(pg)
    src = np.asarray(Image.open(photo_path).convert("RGB"))
    first = _after_src(pg)

    # background colour → the composed result on blue
    pg.fill("#bg-color", "#3366ff")
    pg.dispatch_event("#bg-color", "change")
    pg.wait_for_function(f"document.getElementById('after').src !== '{first}'", timeout=60_000)
    _idle(pg)
    blue = np.asarray(Image.open(io.BytesIO(_download(pg, "#download"))))
    assert blue.shape[:2] == src.shape[:2]
    assert tuple(blue[1, 1, :3]) == (0x33, 0x66, 0xFF)
    h, w = src.shape[:2]
    cy, cx = h // 2, w // 2
    assert tuple(blue[cy, cx, :3]) != (0x33, 0x66, 0xFF)  # the carton is there

    # paint across the middle of the carton with the mouse, one dab with the keyboard
    before_erase = _after_src(pg)
    pg.click("#brush-toggle")
    box = pg.locator("#brush").bounding_box()
    y = box["y"] + box["height"] * 0.5
    pg.mouse.move(box["x"] + box["width"] * 0.4, y)
    pg.mouse.down()
    pg.mouse.move(box["x"] + box["width"] * 0.6, y, steps=12)
    pg.mouse.up()
    pg.focus("#brush")
    pg.keyboard.press("ArrowUp")
    pg.keyboard.press("Space")
    pg.click("#erase")
    pg.wait_for_function(
        f"document.getElementById('after').src !== '{before_erase}'", timeout=120_000
    )
    _idle(pg)
    erased = np.asarray(Image.open(io.BytesIO(_download(pg, "#download"))))
    band = (slice(cy - 3, cy + 4), slice(int(w * 0.45), int(w * 0.55)))
    changed = np.abs(erased[band][..., :3].astype(int) - blue[band][..., :3].astype(int)).mean()
    assert changed > 10, changed  # the painted band was repainted
    assert tuple(erased[1, 1, :3]) == (0x33, 0x66, 0xFF)  # far from the paint: unchanged
    assert pg.text_content("#errors") == ""

    # download all: a zip holding exactly the current result
    z = zipfile.ZipFile(io.BytesIO(_download(pg, "#download-zip")))
    (name,) = z.namelist()
    assert name == f"{photo_path.stem}.png"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(z.read(name)))), erased)

    # the checker's verdict for the current result, in words
    pg.click("#check")
    _idle(pg)
    assert pg.text_content("#verdict .badge") in ("pass", "warn", "fail")
    assert "dimensions" in pg.text_content("#verdict")


def test_errors_in_words_and_keyboard(
    page: tuple[Any, str], photo_path: Path, tmp_path: Path
) -> None:
    pg, url = page
    # a fresh page with its own photo: under pytest-xdist the module's tests are spread over
    # workers, so what an earlier test left on the page differs from run to run
    pg.goto(url + "/")
    pg.wait_for_selector("#drop")
    pg.set_input_files("#files", str(photo_path))
    pg.wait_for_selector('#after[src^="blob:"]', timeout=120_000)
    _idle(pg)
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"these are notes, not a picture")
    before = pg.locator("#thumbs button").count()
    pg.set_input_files("#files", str(bad))
    pg.wait_for_function("document.getElementById('errors').textContent.length > 0")
    _idle(pg)
    assert "notes.png" in pg.text_content("#errors")
    assert "not an image" in pg.text_content("#errors")
    assert pg.locator("#thumbs button").count() == before  # the unusable file left the list
    with pg.expect_file_chooser(timeout=20_000):
        pg.locator("#drop").press("Enter")  # focuses the drop zone, then presses
    pg.focus("#split")
    pg.keyboard.press("Home")
    assert pg.eval_on_selector("#after-clip", "e => e.style.clipPath") == "inset(0px 0px 0px 0%)"


def test_batch_with_progress(page: tuple[Any, str]) -> None:
    pg, _ = page
    photos = [
        shared_path("data", "text", "images", n)
        for n in ("grocery_iconic_tropicana_apple_juice.jpg", "grocery_iconic_oatly_oat_milk.jpg")
    ]
    pg.set_input_files("#files", [str(p) for p in photos])
    pg.wait_for_selector("#batch:not([hidden])")
    _idle(pg)
    pg.select_option("#batch-preset", "etsy")
    pg.click("#batch-run")
    pg.wait_for_function(
        "document.getElementById('batch-status').textContent.startsWith('done')",
        timeout=120_000,
    )
    _idle(pg)
    assert pg.get_attribute("#batch-progress", "value") == pg.get_attribute(
        "#batch-progress", "max"
    )
    rows = pg.locator("#batch-table tbody tr")
    assert rows.count() >= 2  # these two (and the photo of the first test)
    verdicts = [rows.nth(i).locator("td").nth(2).text_content() for i in range(rows.count())]
    assert all(v in ("pass", "warn", "fail") for v in verdicts), verdicts
    data = _download(pg, "#batch-zip")
    assert "report.json" in zipfile.ZipFile(io.BytesIO(data)).namelist()


def test_api_docs_render_offline(page: tuple[Any, str]) -> None:
    """/docs is Swagger UI from the package's own files: the operations render with no CDN
    (this browser has no network beyond 127.0.0.1)."""
    pg, url = page
    pg.goto(url + "/docs")
    pg.wait_for_selector(".opblock-summary-path", timeout=60_000)
    paths = pg.locator(".opblock-summary-path").all_text_contents()
    assert "/v1.0/removebg" in [p.strip().replace("\u200b", "") for p in paths]
