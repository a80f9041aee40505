"""Real clients against a live server on 127.0.0.1: the ``removebg`` package from PyPI (only its
base URL patched), schemathesis fuzzing every operation of the OpenAPI (0 server errors), and
API keys with a per-key rate limit."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from PIL import Image
from server_helpers import live_server, make_app, patched_env, server_env


@pytest.fixture(scope="module")
def base_url(tmp_module: Path) -> Iterator[str]:
    with patched_env(server_env()):
        app = make_app(tmp_module / "data", queue_size=8)
        with live_server(app) as url:
            yield url


def test_removebg_client_library(
    base_url: str, photo_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """brilam's ``removebg`` (PyPI) writes a transparent PNG cut-out from a file and from
    base64, and surfaces our SSRF refusal of a loopback URL as an HTTP 400."""
    removebg = pytest.importorskip("removebg")
    import requests
    from removebg import removebg as module

    monkeypatch.setattr(module, "API_ENDPOINT", f"{base_url}/v1.0/removebg")
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "carton.jpg"
    src.write_bytes(photo_path.read_bytes())
    client = removebg.RemoveBg("any-key", str(tmp_path / "errors.log"))
    client.remove_background_from_img_file(str(src), size="regular")
    out = np.asarray(Image.open(f"{src}_no_bg.png"))
    assert out.shape[2] == 4
    assert out[1, 1, 3] == 0 and out[out.shape[0] // 2, out.shape[1] // 2, 3] == 255
    client.remove_background_from_base64_img(
        base64.b64encode(src.read_bytes()).decode(), new_file_name="b64.png"
    )
    b64 = np.asarray(Image.open(tmp_path / "b64.png"))
    np.testing.assert_array_equal(b64, out)
    with pytest.raises(requests.HTTPError) as ei:
        client.remove_background_from_img_url(f"{base_url}/v1/info")
    assert ei.value.response.status_code == 400
    assert ei.value.response.json()["errors"][0]["code"] in ("url_disabled", "url_refused")


def test_docs_removebg_example(
    base_url: str, photo_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/examples/removebg_client.py (shown in the README) works as written."""
    import runpy
    import sys

    pytest.importorskip("removebg")
    from removebg import removebg as module

    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "removebg_client.py"
    src = tmp_path / "shoe.jpg"
    src.write_bytes(photo_path.read_bytes())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["removebg_client.py", base_url, str(src)])
    monkeypatch.setattr(module, "API_ENDPOINT", module.API_ENDPOINT)  # restored afterwards
    runpy.run_path(str(example), run_name="__main__")
    out = np.asarray(Image.open(f"{src}_no_bg.png"))
    assert out.shape == (*np.asarray(Image.open(src)).shape[:2], 4) and out[0, 0, 3] == 0


def test_schemathesis_finds_no_server_error(base_url: str) -> None:
    """Every operation of the published OpenAPI, with valid and invalid generated input
    (bounded: 6 examples per operation and mode), answers below 500."""
    import schemathesis
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    calls = {"n": 0}
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 20

    def fuzz(op: Any, mode: Any) -> None:
        @settings(
            max_examples=6,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            calls["n"] += 1
            response = case.call(base_url=base_url, timeout=60)
            if response.status_code >= 500:
                failures.append(
                    f"{op.label} [{mode.value}] -> {response.status_code}: {response.text[:200]}"
                )

        try:
            run()
        except Unsatisfiable:  # nothing to make invalid (an operation without inputs)
            assert mode is GenerationMode.NEGATIVE

    for op in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(op, mode)
    assert failures == []
    assert calls["n"] > 10 * len(operations)


@pytest.fixture(scope="module")
def keyed(tmp_module: Path) -> Iterator[tuple[str, str, Any]]:
    """A server that requires keys, with one key made beforehand, 3 requests a minute."""
    from productstudio.server.store import ServerStore

    data = tmp_module / "keyed"
    data.mkdir()
    store = ServerStore(f"sqlite:///{data / 'server.sqlite'}")
    key, _ = store.add_key("shop")
    with patched_env(server_env()):
        app = make_app(data, require_keys=True, rate_limit_per_minute=3)
        with live_server(app) as url:
            yield url, key, store
    store.close()


def test_keys_and_rate_limit(keyed: tuple[str, str, Any]) -> None:
    url, key, store = keyed
    with httpx.Client(base_url=url, timeout=30) as c:
        missing = c.get("/v1.0/account")
        assert missing.status_code == 403 and "X-Api-Key" in missing.json()["errors"][0]["title"]
        wrong = c.get("/v1.0/account", headers={"X-Api-Key": "ps_wrong"})
        assert wrong.status_code == 403
        ok = c.get("/v1.0/account", headers={"X-Api-Key": key})
        assert ok.status_code == 200, ok.text
        assert ok.json()["data"]["attributes"]["productstudio"]["key"] == "shop"
        assert c.get("/v1/health").status_code == 200  # liveness needs no key
        statuses = [c.get("/v1/info", headers={"X-Api-Key": key}).status_code for _ in range(3)]
        assert statuses[-1] == 429
        limited = c.get("/v1/info", headers={"X-Api-Key": key})
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["errors"][0]["code"] == "rate_limit_exceeded"
    (row,) = store.list_keys()
    assert row.calls >= 2
    assert key not in Path(store.url.removeprefix("sqlite:///")).read_bytes().decode("latin1")
    store.revoke_key(row.id)
    with httpx.Client(base_url=url, timeout=30) as c:
        assert c.get("/v1.0/account", headers={"X-Api-Key": key}).status_code == 403


def test_client_gone_frees_the_slot(base_url: str, store_photo: bytes) -> None:
    """A client that hangs up during a long request: the server notices, kills the worker
    running it (a fresh one replaces it) and the next request is served."""
    with httpx.Client(base_url=base_url, timeout=30) as c:
        info = c.get("/v1/info").json()
        if "realesr-general-x4v3" not in info["upscalers"]:
            pytest.skip("Real-ESRGAN weights not found")
        before = c.get("/v1/health").json()["queue"]["workers_replaced"]
    with pytest.raises(httpx.TimeoutException), httpx.Client(base_url=base_url, timeout=1.0) as c:
        c.post(
            "/v1/upscale",
            files={"image": ("s.jpg", store_photo)},
            data={"scale": "4", "model": "realesr-general-x4v3"},
        )
    with httpx.Client(base_url=base_url, timeout=60) as c:
        deadline = time.monotonic() + 30
        while c.get("/v1/health").json()["queue"]["workers_replaced"] == before:
            assert time.monotonic() < deadline, "the abandoned request kept its worker"
            time.sleep(0.2)
        assert c.get("/v1/health").json()["queue"]["running"] == 0
        ok = c.post("/v1/adjust", files={"image": ("s.jpg", store_photo)})
        assert ok.status_code == 200
