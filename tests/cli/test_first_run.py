"""End to end: the first run of `run`, `cutout` and `check` with no model on the machine, and
`models list` / `models pull` over every listed name. Files come from 127.0.0.1 only."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import shared_path
from model_server import ModelServer, closed_port, pin
from productstudio.cli import app
from productstudio.cli.app import out as cli_console
from productstudio.imaging import load_image
from productstudio.models.pull import models_cache
from productstudio.models.segmenters import SEGMENTERS
from productstudio.settings import get_settings

runner = CliRunner()
FALLBACK = "plain backgrounds only; run `productstudio models pull u2netp`"
HANDHELD = "grocery_natural_oatly_oat_milk_016.jpg"  # an in-store photo: classical fails


def _photos(folder: Path, n: int = 3) -> Path:
    """``n`` studio-like photos (a red box on light grey) that classical cuts out."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.full((120, 160, 3), 235, np.uint8)
        img[30:90, 40 + 10 * i : 110 + 10 * i] = (190, 40, 40)
        Image.fromarray(img).save(folder / f"p{i}.png")
    return folder


def _cache_files() -> list[str]:
    d = models_cache()
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def _run(src: Path, out: Path, *extra: str, pre: tuple[str, ...] = ()) -> object:
    args = [*pre, "run", str(src), "-o", str(out), "--size", "200", "--workers", "1", *extra]
    return runner.invoke(app, args)


def test_run_wrong_hash_falls_back_once_per_run(online: ModelServer, tmp_path: Path) -> None:
    """Served bytes that do not match the pin: refused, nothing kept, the run goes on with
    classical, and the fallback is told once (not per image) before any work."""
    online.files["u2netp.onnx"] = b"\0" * 4_574_861
    r = _run(_photos(tmp_path / "in"), tmp_path / "out")
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    err = r.stderr  # type: ignore[attr-defined]
    assert err.count("first run: downloading the recommended segmenter u2netp (4.6 MB)") == 1
    assert err.count("sha256") == 1 and err.count(FALLBACK) == 1
    assert "(segmenter: auto: classical (download failed) — " + FALLBACK in err
    assert err.index(FALLBACK) < err.index("executor:")  # in the header, before work
    assert online.names() == ["u2netp.onnx"] and _cache_files() == []
    assert len(list((tmp_path / "out").glob("*.jpg"))) == 3


def test_run_no_network_falls_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PRODUCTSTUDIO_OFFLINE")
    monkeypatch.setenv("PRODUCTSTUDIO_MODELS_URL", f"http://127.0.0.1:{closed_port()}")
    get_settings.cache_clear()
    r = _run(_photos(tmp_path / "in", 2), tmp_path / "out")
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    err = r.stderr  # type: ignore[attr-defined]
    assert re.search(r"cannot download 'u2netp' from .* cannot reach 127\.0\.0\.1:\d+", err)
    assert err.count(FALLBACK) == 1 and _cache_files() == []


@pytest.mark.parametrize(
    ("env", "pre", "extra"),
    [(True, (), ()), (False, ("--offline",), ()), (False, (), ("--offline",))],
    ids=["PRODUCTSTUDIO_OFFLINE", "global --offline", "run --offline"],
)
def test_offline_run_makes_no_request(
    online: ModelServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    env: bool,
    pre: tuple[str, ...],
    extra: tuple[str, ...],
) -> None:
    """Offline by env, global flag or `run --offline`: the server sees no request and the
    header says classical (offline) with the command that fetches a model."""
    online.files["u2netp.onnx"] = b"model"
    if env:
        monkeypatch.setenv("PRODUCTSTUDIO_OFFLINE", "1")
    r = _run(_photos(tmp_path / "in", 2), tmp_path / "out", *extra, pre=pre)
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    err = r.stderr  # type: ignore[attr-defined]
    assert "(segmenter: auto: classical (offline) — " + FALLBACK in err
    assert err.count(FALLBACK) == 1 and "downloading" not in err
    assert online.requests == []


def test_cutout_and_check_offline_make_no_request(online: ModelServer, tmp_path: Path) -> None:
    """`cutout --offline` and `--offline check` (on a photo whose border is not plain, so it
    needs a segmenter) fall back with one line each and never touch the network."""
    online.files["u2netp.onnx"] = b"model"
    src = _photos(tmp_path / "in", 1) / "p0.png"
    r = runner.invoke(app, ["cutout", str(src), "-o", str(tmp_path / "c.png"), "--offline"])
    assert r.exit_code == 0, r.output
    assert r.stderr.count("segmenter: auto: classical (offline) — " + FALLBACK) == 1
    busy = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    Image.fromarray(busy).save(tmp_path / "busy.png")
    r = runner.invoke(app, ["--offline", "check", str(tmp_path / "busy.png")])
    assert r.stderr.count("segmenter: auto: classical (offline) — " + FALLBACK) == 1, r.output
    assert online.requests == []


def test_first_run_downloads_uses_and_reuses(
    online: ModelServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, weights_dir: Path
) -> None:
    """`cutout` with no model: one notice (what, how big, from where), the file lands in the
    cache and is the segmenter used (the matte is not classical's); the next `cutout` finds it
    there, says nothing about it, makes no request and gives the same matte."""
    data = (weights_dir / "segmentation" / "u2netp.onnx").read_bytes()
    pin(monkeypatch, "u2netp", data)
    online.files["u2netp.onnx"] = data
    photo = tmp_path / "hand.png"  # a small copy keeps the cut-outs quick
    Image.open(shared_path("data", "text", "images", HANDHELD)).resize((160, 160)).save(photo)

    def matte(name: str, *model: str) -> tuple[np.ndarray, str]:
        r = runner.invoke(app, ["cutout", str(photo), "-o", str(tmp_path / name), "--mask", *model])
        assert r.exit_code == 0, r.output
        return load_image(tmp_path / name).pixels, r.stderr

    first, err = matte("a.png")
    target = models_cache() / "u2netp.onnx"
    assert err.count("first run: downloading") == 1
    assert f"u2netp (4.6 MB) from {online.url}/u2netp.onnx to {models_cache()}" in err
    assert f"segmenter: auto: u2netp downloaded to {target}" in err
    assert target.read_bytes() == data and _cache_files() == ["u2netp.onnx"]
    again, err = matte("b.png")
    assert np.array_equal(first, again)
    assert "first run" not in err and "segmenter: auto" not in err
    assert not np.array_equal(first, matte("c.png", "-m", "classical")[0])
    assert online.names() == ["u2netp.onnx"]


def test_models_list_shows_where_files_came_from(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each found segmenter file is listed with its folder: PRODUCTSTUDIO_MODELS, rembg's, the
    cache, or `models add`; each missing one with the size `models pull` would fetch."""
    mine, rembg = tmp_path / "mine" / "deep", tmp_path / "u2net"
    for d in (mine, rembg, models_cache()):
        d.mkdir(parents=True)
    (mine / "isnet-general-use.onnx").write_bytes(b"x")
    (rembg / "silueta.onnx").write_bytes(b"x")
    (models_cache() / "u2netp.onnx").write_bytes(b"x")
    (tmp_path / "my-u2net.onnx").write_bytes(b"x")
    monkeypatch.setenv("PRODUCTSTUDIO_MODELS", str(tmp_path / "mine"))
    monkeypatch.setenv("U2NET_HOME", str(rembg))
    # the CLI's console reads COLUMNS once, at import: widen it directly so no cell is cut
    monkeypatch.setattr(cli_console, "width", 300)
    get_settings.cache_clear()
    r = runner.invoke(app, ["models", "add", "u2net", str(tmp_path / "my-u2net.onnx")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["models", "list", "--kind", "segmenter"])
    assert r.exit_code == 0, r.output
    rows = {ln.split("│")[1].strip(): ln for ln in r.stdout.splitlines() if "│" in ln}
    assert "yes ★" in rows["isnet-general-use"]
    assert "PRODUCTSTUDIO_MODELS" in rows["isnet-general-use"]
    assert "rembg (U2NET_HOME)" in rows["silueta"]
    assert "cache (models pull)" in rows["u2netp"]
    assert "models add" in rows["u2net"]
    assert "built in" in rows["classical"] and "178.6 MB" in rows["isnet-general-use"]
    assert "no " in rows["birefnet-general"] and "972.7 MB" in rows["birefnet-general"]
    assert "model folders searched: PRODUCTSTUDIO_MODELS" in r.stderr
    assert "first `run`" not in r.stderr


def test_models_list_tells_the_first_run(monkeypatch: pytest.MonkeyPatch) -> None:
    r = runner.invoke(app, ["models", "list", "--kind", "segmenter"])
    assert "offline mode is on: `auto` uses classical" in r.stderr
    monkeypatch.delenv("PRODUCTSTUDIO_OFFLINE")
    get_settings.cache_clear()
    r = runner.invoke(app, ["models", "list", "--kind", "segmenter"])
    assert "the first `run` or `cutout` downloads u2netp (4.6 MB)" in r.stderr


def test_models_pull_knows_every_listed_name(online: ModelServer) -> None:
    """`models pull NAME` for every name `models list` shows: a segmenter asks the server for
    its pinned release file (here: 404, one clear line); every other model says in one line
    why there is nothing to download."""
    from productstudio.models.inventory import list_models

    wanted = {}
    for row in list_models():
        r = runner.invoke(app, ["models", "pull", row.name])
        assert r.exit_code == 2, (row.name, r.output)
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
        entry = SEGMENTERS.get(row.name) if row.name in SEGMENTERS else None
        if entry is not None and entry.needs_weights:
            wanted[(entry.url or "").rsplit("/", 1)[-1]] = row.name
            assert f"cannot download '{row.name}'" in r.stderr and "HTTP 404" in r.stderr
        else:
            assert any(
                why in r.stderr
                for why in (
                    "needs no model file",
                    "no pinned download exists",
                    "has no file to download",
                    "own generators",
                )
            ), r.stderr
    assert sorted(online.names()) == sorted(wanted)
    assert {"u2net.onnx", "silueta.onnx", "u2netp.onnx"} <= set(wanted)
    r = runner.invoke(app, ["models", "pull", "nope"])
    assert r.exit_code == 2 and "unknown model 'nope'" in r.stderr


def test_models_pull_offline_refuses(model_server: ModelServer) -> None:
    r = runner.invoke(app, ["models", "pull", "u2net", "--url", f"{model_server.url}/u2net.onnx"])
    assert r.exit_code == 2 and "offline mode is on" in r.stderr
    assert model_server.requests == []


def test_models_pull_refuses_a_wrong_file(online: ModelServer) -> None:
    """`models pull u2netp --url` to a file that is not rembg's: a checksum error (exit 2),
    nothing kept."""
    online.files["other.onnx"] = b"\0" * 4_574_861
    r = runner.invoke(app, ["models", "pull", "u2netp", "--url", f"{online.url}/other.onnx"])
    assert r.exit_code == 2 and "has sha256" in r.stderr and "discarded" in r.stderr
    assert _cache_files() == []
