"""Make docs/server-page.jpg: the web page after a real cut-out, a background colour, a
contact shadow and the preset check, in headless Chromium.

    PRODUCTSTUDIO_SHARED=../shared python docs/server_screenshot.py

The photo is a GroceryStoreDataset packshot (MIT) from ../shared/data/text; the server runs
in this process on 127.0.0.1 with the U²-Netp model from ../shared/weights.
"""

from __future__ import annotations

import io
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PRODUCTSTUDIO_SHARED", ROOT.parent / "shared"))
PHOTO = SHARED / "data" / "text" / "images" / "grocery_iconic_tropicana_apple_juice.jpg"
OUT = ROOT / "docs" / "server-page.jpg"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic"]


def main() -> None:
    import uvicorn
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from productstudio.server import create_app

    os.environ["PRODUCTSTUDIO_MODELS"] = str(SHARED / "weights")
    app = create_app(data_dir=Path(tempfile.mkdtemp()), concurrency=1, segmenter="u2netp")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1180, "height": 820})
            page.goto(f"http://127.0.0.1:{port}/")
            page.set_input_files("#files", str(PHOTO))
            page.wait_for_selector('#after[src^="blob:"]', timeout=120_000)
            idle = "document.body.dataset.busy === '0'"
            page.wait_for_function(idle, timeout=120_000)
            page.fill("#bg-color", "#d8e8f4")
            page.select_option("#shadow", "contact")
            page.dispatch_event("#bg-color", "change")
            time.sleep(0.6)
            page.wait_for_function(idle, timeout=120_000)
            page.click("#check")
            page.wait_for_function(idle, timeout=120_000)
            page.evaluate("window.scrollTo(0, 0)")
            png = page.screenshot(full_page=True)
            browser.close()
    finally:
        server.should_exit = True
    Image.open(io.BytesIO(png)).convert("RGB").save(OUT, "JPEG", quality=82, optimize=True)
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB)", file=sys.stderr)


if __name__ == "__main__":
    main()
