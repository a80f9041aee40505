"""End to end: `productstudio run`, `cutout` and `models` through Typer's CliRunner."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from productstudio.cli import app
from productstudio.imaging import load_image
from productstudio.models.registry import BackendEntry

runner = CliRunner()


def _photo(path: Path, k: int = 1) -> None:
    img = np.full((150 * k, 200 * k, 3), 240, np.uint8)
    img[40 * k : 110 * k, 60 * k : 140 * k] = (200, 40, 40)
    Image.fromarray(img).save(path)


def test_run_folder_main_job(tmp_path: Path) -> None:
    """A folder with a good photo, a bad file and a subfolder: exit 1, outputs for the good ones,
    a red line naming the bad file, and a resumable second run."""
    src = tmp_path / "photos"
    (src / "sub").mkdir(parents=True)
    _photo(src / "shoe.jpg")
    _photo(src / "sub" / "bag.png")
    (src / "notes.jpg").write_text("not an image")
    out = tmp_path / "out"
    r = runner.invoke(
        app, ["run", str(src), "-o", str(out), "--size", "300", "--model", "classical"]
    )
    assert r.exit_code == 1, r.output
    assert "notes.jpg" in r.stderr
    shoe = load_image(out / "shoe.jpg")
    assert shoe.size == (300, 300) and shoe.format == "JPEG"
    assert (out / "sub" / "bag.jpg").is_file()
    assert not (out / "notes.jpg").exists()
    px = shoe.pixels
    assert (px[0, 0] >= 254).all() and (px[-1, -1] >= 254).all()
    r2 = runner.invoke(
        app, ["run", str(src), "-o", str(out), "--size", "300", "--model", "classical"]
    )
    assert "skipped" in r2.stdout and r2.exit_code == 1


def test_run_amazon_defaults_and_preset(tmp_path: Path) -> None:
    src = tmp_path / "one.jpg"
    _photo(src, k=5)
    out = tmp_path / "o"
    r = runner.invoke(app, ["run", str(src), "-o", str(out), "--model", "classical"])
    assert r.exit_code == 0, r.output
    img = load_image(out / "one.jpg")
    assert img.size == (2000, 2000)
    a = img.pixels.min(axis=2) < 250
    ys, xs = np.nonzero(a)
    assert abs((xs.max() - xs.min() + 1) - 1700) <= 6  # 85 % of 2000 along the long side
    assert (
        abs((xs.max() + xs.min()) / 2 - 999.5) <= 2 and abs((ys.max() + ys.min()) / 2 - 999.5) <= 2
    )
    r = runner.invoke(app, ["run", str(src), "-o", str(tmp_path / "p"), "--preset", "etsy"])
    assert r.exit_code == 0, r.output


def test_run_bad_options(tmp_path: Path) -> None:
    _photo(tmp_path / "x.jpg")
    r = runner.invoke(
        app, ["run", str(tmp_path / "x.jpg"), "-o", str(tmp_path / "o"), "--model", "nope"]
    )
    assert r.exit_code == 2 and "unknown segmenter 'nope'" in r.stderr
    r = runner.invoke(
        app, ["run", str(tmp_path / "x.jpg"), "-o", str(tmp_path / "o"), "--preset", "nope"]
    )
    assert r.exit_code == 2
    r = runner.invoke(app, ["run", str(tmp_path / "missing"), "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "missing" in r.stderr


def test_cutout_file_and_stdin_stdout(tmp_path: Path) -> None:
    src = tmp_path / "p.jpg"
    _photo(src)
    out = tmp_path / "p.png"
    r = runner.invoke(app, ["cutout", str(src), "-o", str(out), "--model", "classical"])
    assert r.exit_code == 0, r.output
    rgba = load_image(out).pixels
    assert rgba.shape == (150, 200, 4)
    assert rgba[75, 100, 3] == 255 and rgba[5, 5, 3] == 0
    r = runner.invoke(
        app, ["cutout", "-", "-o", "-", "--model", "classical"], input=src.read_bytes()
    )
    assert r.exit_code == 0
    assert load_image(r.stdout_bytes).pixels.shape == (150, 200, 4)
    r = runner.invoke(app, ["cutout", str(src), "-o", str(tmp_path / "x.jpg")])
    assert r.exit_code == 2 and "transparency" in r.stderr


def test_models_list_and_verify(monkeypatch: pytest.MonkeyPatch, weights_dir: Path) -> None:
    from productstudio.settings import get_settings

    r = runner.invoke(app, ["models", "list"])
    assert r.exit_code == 0 and "classical" in r.stdout
    monkeypatch.setenv("PRODUCTSTUDIO_MODELS", str(weights_dir))
    get_settings.cache_clear()
    r = runner.invoke(app, ["models", "list"])
    assert "u2netp" in r.stdout and "isnet-general-use" in r.stdout
    r = runner.invoke(app, ["models", "verify", "u2netp", "classical"])
    assert r.exit_code == 0, r.output
    assert "ok" in r.stdout


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A file server on 127.0.0.1 (never the internet)."""
    root = tmp_path / "srv"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):  # type: ignore[no-untyped-def]
            super().__init__(*a, directory=str(root), **k)

        def log_message(self, *a):  # type: ignore[no-untyped-def]
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", root
    srv.shutdown()


def test_models_pull_verifies_sha256(http_server: tuple[str, Path], tmp_path: Path) -> None:
    """A good file is stored; a tampered one is refused and leaves nothing behind."""
    from productstudio.errors import WeightsChecksumError
    from productstudio.models.pull import pull

    base, root = http_server
    payload = b"model-bytes" * 1000
    (root / "m.onnx").write_bytes(payload)
    entry: BackendEntry[object] = BackendEntry(
        "m",
        "test",
        lambda p: None,
        file_names=("m.onnx",),
        sha256=hashlib.sha256(payload).hexdigest(),
    )
    dest = tmp_path / "cache"
    got = pull(entry, url=f"{base}/m.onnx", dest_dir=dest)
    assert got.read_bytes() == payload
    (root / "m.onnx").write_bytes(payload + b"evil")
    with pytest.raises(WeightsChecksumError):
        pull(entry, url=f"{base}/m.onnx", dest_dir=tmp_path / "c2")
    assert not any((tmp_path / "c2").iterdir())


def test_models_pull_cli_with_url(http_server: tuple[str, Path]) -> None:
    """`models pull u2netp --url` from a local server; the pin is rembg's file, so our
    rebuilt file is refused with a checksum error (exit 2)."""
    base, root = http_server
    root.joinpath("u2netp.onnx").write_bytes(b"not the real model")
    r = runner.invoke(app, ["models", "pull", "u2netp", "--url", f"{base}/u2netp.onnx"])
    assert r.exit_code == 2 and "sha256" in r.stderr
