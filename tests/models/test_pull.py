"""models/pull and the first-run `auto` download: verified, atomic, resumable, concurrency-safe,
never in offline mode or when a model is found. Files come from a server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import threading
from pathlib import Path

import pytest

from model_server import ModelServer, closed_port, pin
from productstudio.errors import DownloadError, InvalidParamsError, WeightsChecksumError
from productstudio.models.discovery import OFFLINE, Pick, model_folders
from productstudio.models.pull import human_size, models_cache, pull
from productstudio.models.registry import BackendEntry
from productstudio.models.segmenters import (
    FIRST_RUN_MODEL,
    SEGMENTERS,
    OnnxSegmenter,
    PlainBackgroundRefined,
    resolve_segmenter,
)
from productstudio.settings import get_settings

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes: stands in for a model file


def _entry(data: bytes = PAYLOAD, size: int | None = len(PAYLOAD)) -> BackendEntry[object]:
    return BackendEntry(
        "m",
        "test model",
        lambda p: p,
        file_names=("m.onnx",),
        url="https://example.invalid/releases/m.onnx",
        sha256=hashlib.sha256(data).hexdigest(),
        size=size,
    )


def _left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_pull_stores_verified_file(online: ModelServer, tmp_path: Path) -> None:
    """The file name under PRODUCTSTUDIO_MODELS_URL is fetched, verified and renamed into
    place; progress ends at (size, size); a second pull makes no request."""
    online.files["m.onnx"] = PAYLOAD
    seen: list[tuple[int, int]] = []
    got = pull(_entry(), dest_dir=tmp_path, on_progress=lambda d, t: seen.append((d, t)))
    assert got == tmp_path / "m.onnx" and got.read_bytes() == PAYLOAD
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert _left(tmp_path) == ["m.onnx"]
    assert pull(_entry(), dest_dir=tmp_path) == got
    assert online.names() == ["m.onnx"]


def test_pull_wrong_hash_leaves_nothing(online: ModelServer, tmp_path: Path) -> None:
    """A tampered file of the right size is refused with a message naming the URL and the
    hashes; no file and no part file remains."""
    online.files["m.onnx"] = PAYLOAD[:-1] + b"!"
    with pytest.raises(WeightsChecksumError, match=r"sha256 .* expected .*discarded"):
        pull(_entry(), dest_dir=tmp_path)
    assert _left(tmp_path) == []


def test_pull_refuses_other_size_before_storing(online: ModelServer, tmp_path: Path) -> None:
    """A server offering another size than the pin is refused from its headers."""
    online.files["m.onnx"] = PAYLOAD + b"more"
    with pytest.raises(DownloadError, match=f"offers {len(PAYLOAD) + 4} bytes.*{len(PAYLOAD)}"):
        pull(_entry(), dest_dir=tmp_path)
    assert _left(tmp_path) == []


def test_pull_http_error_and_no_network(online: ModelServer, tmp_path: Path) -> None:
    online.status["m.onnx"] = 503
    with pytest.raises(DownloadError, match=r"cannot download 'm' from http.*HTTP 503"):
        pull(_entry(), dest_dir=tmp_path)
    dead = f"http://127.0.0.1:{closed_port()}/m.onnx"
    with pytest.raises(DownloadError, match=r"cannot reach 127\.0\.0\.1:\d+ .*refused"):
        pull(_entry(), url=dead, dest_dir=tmp_path)
    assert _left(tmp_path) == []


def test_pull_resumes_a_cut_transfer(online: ModelServer, tmp_path: Path) -> None:
    """A transfer cut after 40,000 bytes keeps only the hidden part file; the next pull asks
    for the rest with a Range request and ends with the verified file."""
    online.files["m.onnx"] = PAYLOAD
    online.cut_once["m.onnx"] = 40_000
    with pytest.raises(DownloadError, match="stopped after 40000 of 102400 bytes"):
        pull(_entry(), dest_dir=tmp_path)
    assert _left(tmp_path) == [".m.onnx.part"]
    assert pull(_entry(), dest_dir=tmp_path).read_bytes() == PAYLOAD
    assert online.requests == [("m.onnx", None), ("m.onnx", "bytes=40000-")]
    assert _left(tmp_path) == ["m.onnx"]


def test_pull_throws_away_a_stale_part(online: ModelServer, tmp_path: Path) -> None:
    """A part file from some other download does not verify when resumed: it is deleted and
    the file fetched once more from the start."""
    online.files["m.onnx"] = PAYLOAD
    (tmp_path / ".m.onnx.part").write_bytes(b"x" * 1000)
    assert pull(_entry(), dest_dir=tmp_path).read_bytes() == PAYLOAD
    assert online.requests == [("m.onnx", "bytes=1000-"), ("m.onnx", None)]
    assert _left(tmp_path) == ["m.onnx"]


def test_concurrent_pulls_download_once(
    online: ModelServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two pulls starting together: the second waits for the folder lock, then finds the
    verified file; the server sees one request."""
    online.files["m.onnx"] = PAYLOAD
    online.delay_s = 0.5
    results: list[Path] = []
    caplog.set_level(logging.WARNING, "productstudio.models.pull")

    def one() -> None:
        results.append(pull(_entry(), dest_dir=tmp_path))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [tmp_path / "m.onnx"] * 2
    assert online.names() == ["m.onnx"]
    assert "waiting for another process" in caplog.text
    assert _left(tmp_path) == ["m.onnx"]


def test_pull_offline_and_unpinned(model_server: ModelServer, tmp_path: Path) -> None:
    """Offline mode (the test default) forbids `pull`; a weightless or unpinned entry says why
    and how to get the file."""
    model_server.files["m.onnx"] = PAYLOAD
    with pytest.raises(DownloadError, match="offline mode is on"):
        pull(_entry(), url=f"{model_server.url}/m.onnx", dest_dir=tmp_path)
    assert model_server.requests == []
    with pytest.raises(InvalidParamsError, match="needs no model file"):
        pull(SEGMENTERS.get("classical"), offline=False)
    bare: BackendEntry[object] = BackendEntry("x", "x", lambda p: p, file_names=("x.onnx",))
    with pytest.raises(InvalidParamsError, match="no pinned download exists for 'x'.*x.onnx"):
        pull(bare, offline=False)


def test_every_segmenter_has_a_pinned_download() -> None:
    """Every name `models list` shows is built in or has rembg's release URL, a sha256 and a
    size, so `models pull NAME` knows it."""
    for name in SEGMENTERS.names():
        e = SEGMENTERS.get(name)
        if not e.needs_weights:
            continue
        assert e.url and e.url.startswith(
            "https://github.com/danielgatis/rembg/releases/download/"
        ), name
        assert e.sha256 and re.fullmatch("[0-9a-f]{64}", e.sha256), name
        assert e.size and e.size > 1_000_000, name
    assert SEGMENTERS.get(FIRST_RUN_MODEL).size == 4_574_861
    assert human_size(4_574_861) == "4.6 MB"


def test_cache_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without PRODUCTSTUDIO_CACHE_DIR the cache is $XDG_CACHE_HOME/productstudio/models; a
    relative XDG_CACHE_HOME is ignored (XDG spec)."""
    monkeypatch.delenv("PRODUCTSTUDIO_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    get_settings.cache_clear()
    assert models_cache() == tmp_path / "xdg" / "productstudio" / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    get_settings.cache_clear()
    assert models_cache() == Path.home() / ".cache" / "productstudio" / "models"


def test_auto_offline_makes_no_request(
    online: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """offline=True or PRODUCTSTUDIO_OFFLINE=1: classical, no request, the reason names the
    command that fetches a model."""
    online.files["u2netp.onnx"] = PAYLOAD
    res = resolve_segmenter(offline=True)
    assert (res.entry.name, res.pick, res.cause) == ("classical", Pick.FALLBACK, OFFLINE)
    assert res.describe() == (
        "auto: classical (offline) — plain backgrounds only; run `productstudio models pull u2netp`"
    )
    assert res.problem is None and res.choice == "classical"
    monkeypatch.setenv("PRODUCTSTUDIO_OFFLINE", "1")
    get_settings.cache_clear()
    assert resolve_segmenter().pick is Pick.FALLBACK
    assert online.requests == []


def test_auto_failure_falls_back_once(online: ModelServer) -> None:
    """A failed first-run download falls back to classical with the cause, and is not retried
    by the next resolution in this process (one request, one notice)."""
    online.status["u2netp.onnx"] = 404
    notices: list[str] = []
    for _ in range(3):
        res = resolve_segmenter(on_notice=notices.append)
        assert res.entry.name == "classical" and res.pick is Pick.FALLBACK
    assert res.problem is not None and "HTTP 404" in res.problem
    assert "(download failed) — plain backgrounds only" in res.describe()
    assert online.names() == ["u2netp.onnx"] and len(notices) == 1


def test_auto_wrong_hash_keeps_nothing(online: ModelServer) -> None:
    online.files["u2netp.onnx"] = b"\0" * 4_574_861  # the pinned size, not the pinned bytes
    res = resolve_segmenter(on_notice=lambda m: None)
    assert res.pick is Pick.FALLBACK and res.problem and "sha256" in res.problem
    assert _left(models_cache()) == []


def test_auto_downloads_the_recommended_model_once(
    online: ModelServer, monkeypatch: pytest.MonkeyPatch, weights_dir: Path
) -> None:
    """No model anywhere: `auto` announces what it downloads (name, size, URL, folder), fetches
    it with progress, loads it; the next resolution finds it in the cache with no request."""
    data = (weights_dir / "segmentation" / "u2netp.onnx").read_bytes()
    pin(monkeypatch, "u2netp", data)
    online.files["u2netp.onnx"] = data
    notices: list[str] = []
    done: list[int] = []
    res = resolve_segmenter(on_notice=notices.append, on_progress=lambda d, t: done.append(d))
    target = models_cache() / "u2netp.onnx"
    assert (res.entry.name, res.pick, res.path) == ("u2netp", Pick.DOWNLOADED, target)
    assert res.describe() == f"auto: u2netp downloaded to {target}"
    assert len(notices) == 1
    assert re.search(
        rf"downloading .* u2netp \(4\.6 MB\) from {online.url}/u2netp\.onnx to .*models", notices[0]
    )
    assert done[-1] == len(data) and target.read_bytes() == data
    seg = res.load()
    assert isinstance(seg, PlainBackgroundRefined)
    assert isinstance(seg.base, OnnxSegmenter) and seg.base.path == target
    again = resolve_segmenter(on_notice=notices.append)
    assert (again.pick, again.path, again.origin) == (Pick.FOUND, target, "cache (models pull)")
    assert online.names() == ["u2netp.onnx"] and len(notices) == 1


def test_auto_found_model_is_never_downloaded(
    online: ModelServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, weights_dir: Path
) -> None:
    """A model in rembg's folder (U2NET_HOME) is used as found: no request, origin named."""
    home = Path(str(tmp_path / "u2net"))
    home.mkdir()
    shutil.copy(weights_dir / "segmentation" / "u2netp.onnx", home / "u2netp.onnx")
    monkeypatch.setenv("U2NET_HOME", str(home))
    res = resolve_segmenter()
    assert (res.entry.name, res.pick, res.origin) == ("u2netp", Pick.FOUND, "rembg (U2NET_HOME)")
    assert res.describe() == f"auto: u2netp from {home / 'u2netp.onnx'} (rembg (U2NET_HOME))"
    assert online.requests == []
    assert model_folders()[0].label == "rembg (U2NET_HOME)"
    assert res.load().name == "u2netp"
