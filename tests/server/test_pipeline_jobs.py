"""AI scenes and text-to-image as async jobs (TestClient) on tiny in-process pipelines added
with ``models add``: submit → id, SSE progress in steps, the result with a settings .json per
image, product pixels kept exactly, the same pixels as the Python API, cancel mid-run, and
bad requests answered before anything is queued."""

from __future__ import annotations

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
from server_helpers import make_app, patched_env, segmenter, server_env

pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def env(
    tmp_module: Path, tiny_pipeline_folders: dict[str, Path]
) -> Iterator[tuple[TestClient, Path, dict[str, Path]]]:
    from productstudio.models.manage import ModelStore
    from productstudio.settings import get_settings

    root = tmp_module / "pipelines"
    folders = tiny_pipeline_folders
    extra = {"PRODUCTSTUDIO_MODELS_FILE": str(root / "models.json")}
    with patched_env({**server_env(), **extra}):
        get_settings.cache_clear()
        ModelStore().add("tiny-t2i", folders["t2i"], hash_files=False)
        ModelStore().add("tiny-inpaint", folders["inpaint"], hash_files=False)
        app = make_app(root / "data", job_concurrency=2)
        with TestClient(app) as c:
            yield c, root / "data", folders
    get_settings.cache_clear()


SCENE_FORM = {
    "scene": "marble-counter",
    "title": "Oat drink carton",
    "audience": "interests=pastel",
    "n": "2",
    "seed": "5",
    "steps": "2",
}
GENERATE_FORM = {
    "title": "red canvas sneaker",
    "n": "2",
    "seed": "3",
    "steps": "2",
    "width": "64",
    "height": "64",
}


@pytest.fixture(scope="module")
def submitted(env: Any, photo: bytes) -> dict[str, dict[str, Any]]:
    """A scene and a generate job, submitted together (two job processes run at once)."""
    c, _data, _folders = env
    scene = c.post("/v1/jobs/scene", files={"image": ("oat milk.jpg", photo)}, data=SCENE_FORM)
    generate = c.post("/v1/jobs/generate", data=GENERATE_FORM)
    assert scene.status_code == generate.status_code == 202, scene.text + generate.text
    return {"scene": scene.json(), "generate": generate.json()}


def _events(c: TestClient, job_id: str) -> list[dict[str, Any]]:
    seen = []
    with c.stream("GET", f"/v1/jobs/{job_id}/events") as s:
        for line in s.iter_lines():
            if line.startswith("data:"):
                seen.append(json.loads(line[5:]))
    return seen


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_pipelines_are_offered_by_name(env: Any) -> None:
    c, _data, _folders = env
    assert c.get("/v1/info").json()["pipelines"] == ["tiny-inpaint", "tiny-t2i"]
    schema = c.get("/openapi.json").json()["components"]["schemas"]
    assert schema["JobPipeline"]["enum"] == ["tiny-inpaint", "tiny-t2i"]
    assert "marble-counter" in schema["ScenePreset"]["enum"]


def test_scene_job_keeps_the_product_and_saves_settings(
    env: Any, submitted: dict[str, Any], photo: bytes
) -> None:
    """Two candidates around a real packshot: progress counts denoising steps up to n × steps;
    each PNG has its settings .json (prompt, seed, model); the cut-out's opaque pixels are in
    the scene bit for bit."""
    c, _data, _folders = env
    job = submitted["scene"]
    assert job["kind"] == "scene" and job["params"]["pipeline"] == "tiny-inpaint"
    seen = _events(c, job["id"])
    assert seen[-1]["status"] == "done", seen[-1]["message"]
    done = [e["progress"]["done"] for e in seen]
    assert done == sorted(done) and seen[-1]["progress"]["total"] == 4
    items = c.get(f"/v1/jobs/{job['id']}").json()["items"]
    assert [i["seed"] for i in items] == [5, 6]
    z = zipfile.ZipFile(io.BytesIO(c.get(f"/v1/jobs/{job['id']}/result").content))
    assert sorted(z.namelist()) == sorted(
        [i["output"] for i in items] + [i["settings"] for i in items] + ["report.json"]
    )
    record = json.loads(z.read(items[0]["settings"]))
    assert record["kind"] == "scene" and record["model_ref"] == "tiny-inpaint"
    assert record["seed"] == 5 and record["generation"]["steps"] == 2
    assert (
        "Oat drink carton" in record["prompt"]["prompt"] and "marble" in record["prompt"]["prompt"]
    )
    assert record["input"]["name"] == "0000_oat_milk.jpg"
    assert record["output"] == items[0]["output"] and record["product_pixels_changed"] == 0.0

    from productstudio import api
    from productstudio.models.pipelines.prompts import PromptBook
    from productstudio.models.pipelines.scene import SceneLayout, plan_canvas
    from productstudio.ops.canvas import place

    product = api.cut_out(photo, segmenter=segmenter()).image
    placed = place(
        product,
        plan_canvas(product, SceneLayout.from_preset(PromptBook.default().scene("marble-counter"))),
    )
    opaque = placed[..., 3] == 255
    assert opaque.sum() > 10_000
    for it in items:
        out = _png(c.get(f"/v1/jobs/{job['id']}/files/{it['output']}").content)
        assert out.shape == (*placed.shape[:2], 3)
        np.testing.assert_array_equal(out[opaque], placed[..., :3][opaque])
    first, second = (_png(z.read(i["output"])) for i in items)
    assert np.abs(first.astype(int) - second)[~opaque].mean() > 1  # two seeds, two scenes


def test_generate_job_equals_the_python_api(env: Any, submitted: dict[str, Any]) -> None:
    """Text-to-image from a title through the job gives the pixels generate_images gives for
    the same pipeline, prompt and seeds."""
    c, _data, folders = env
    job = submitted["generate"]
    assert job["params"]["pipeline"] == "tiny-t2i"
    seen = _events(c, job["id"])
    assert seen[-1]["status"] == "done", seen[-1]["message"]
    items = c.get(f"/v1/jobs/{job['id']}").json()["items"]
    got = [_png(c.get(f"/v1/jobs/{job['id']}/files/{i['output']}").content) for i in items]

    from productstudio.models.pipelines.backend import DiffusersPipeline
    from productstudio.models.pipelines.generate import generate_images
    from productstudio.models.pipelines.options import GenerationParams
    from productstudio.models.pipelines.prompts import ProductInfo, PromptBook

    built = PromptBook.default().build(ProductInfo(title="red canvas sneaker"), template="packshot")
    pipe = DiffusersPipeline.load(folders["t2i"])
    want = generate_images(
        pipe, built, GenerationParams(steps=2, seed=3, width=64, height=64), count=2
    )
    assert [w.seed for w in want] == [i["seed"] for i in items] == [3, 4]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w.image)
    record = json.loads(c.get(f"/v1/jobs/{job['id']}/files/{items[1]['settings']}").content)
    assert record["kind"] == "generate" and record["task"] == "text-to-image"
    assert record["prompt"]["prompt"] == built.prompt


def test_cancel_a_running_job(env: Any, submitted: dict[str, Any], photo: bytes) -> None:
    """A long variations job is cancelled once its process runs: the process is killed, its
    files go, the stream ends cancelled."""
    c, data, _folders = env
    r = c.post(
        "/v1/jobs/generate",
        files={"image": ("p.jpg", photo)},
        data={"n": "64", "steps": "150", "pipeline": "tiny-inpaint", "strength": "1"},
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    deadline = time.monotonic() + 120
    while c.get(f"/v1/jobs/{job_id}").json()["status"] == "queued":
        assert time.monotonic() < deadline, "the job did not start"
        time.sleep(0.1)
    assert c.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "cancelled"
    assert not (data / "jobs" / job_id).exists()
    assert _events(c, job_id)[-1]["status"] == "cancelled"
    assert c.get(f"/v1/jobs/{job_id}/result").status_code == 409


def test_job_stops_between_denoising_steps(
    tmp_path: Path, tiny_pipeline_folders: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the job process: once the job's row says cancelled (after its first steps), the
    pipeline stops at the next step (the should_cancel poll) and nothing is written."""
    from productstudio.errors import CancelledError
    from productstudio.models.manage import ModelStore
    from productstudio.server import jobs
    from productstudio.server.store import JobKind, JobStatus, ServerStore

    ModelStore().add("tiny-t2i", tiny_pipeline_folders["t2i"], hash_files=False)
    store = ServerStore(f"sqlite:///{tmp_path / 'server.sqlite'}")
    params = {
        "pipeline": "tiny-t2i",
        "load": {},
        "prompt": {"prompt": "a mug", "negative_prompt": "", "template": "none"},
        "generation": {"steps": 40, "seed": 0, "width": 64, "height": 64},
        "n": 4,
    }
    store.create_job(JobKind.GENERATE, params, total=160)
    job = store.claim_next()
    assert job is not None
    (tmp_path / "job" / "inputs").mkdir(parents=True)
    seen: list[int] = []
    real = jobs._Steps.progress

    def progress(self: Any, done: int, total: int) -> None:
        seen.append(done)
        if done == 3:  # as the server's cancel does (then it kills the process)
            store.finish(job.id, JobStatus.CANCELLED, "cancelled")
        real(self, done, total)

    monkeypatch.setattr(jobs._Steps, "progress", progress)
    monkeypatch.setattr(jobs._Steps, "POLL_S", 0.0)
    monkeypatch.setattr(jobs._Steps, "WRITE_S", 1e9)  # only the poll can stop it
    with pytest.raises(CancelledError, match="cancelled after 3 of 40 steps"):
        jobs._run_generate(store, job, tmp_path / "job")
    assert max(seen) == 3 and not (tmp_path / "job" / "outputs").exists()
    store.close()


@pytest.mark.parametrize(
    ("path", "files", "form", "status", "word"),
    [
        ("scene", {}, {}, 422, "image"),
        ("scene", {"image": ("x.jpg", b"%PDF-1.4 not an image")}, {}, 415, "PDF"),
        ("scene", "photo", {"pipeline": "sd-huge"}, 422, "pipeline"),
        ("scene", "photo", {"audience": "mood=happy"}, 400, "mood"),
        ("scene", "photo", {"steps": "0"}, 422, "steps"),
        ("generate", {}, {}, 400, "nothing to draw"),
        ("generate", {}, {"prompt": "a mug", "width": "100"}, 422, "width"),
        ("generate", {}, {"prompt": "a mug", "style": "baroque"}, 422, "style"),
        ("generate", {}, {"title": "mug", "attrs": "season=summer"}, 400, "attrs"),
    ],
)
def test_bad_requests_queue_nothing(
    env: Any, photo: bytes, path: str, files: Any, form: dict[str, str], status: int, word: str
) -> None:
    c, data, _folders = env
    before = {j["id"] for j in c.get("/v1/jobs").json()["jobs"]}
    folders = set((data / "jobs").iterdir()) if (data / "jobs").is_dir() else set()
    up = {"image": ("p.jpg", photo)} if files == "photo" else files
    r = c.post(f"/v1/jobs/{path}", files=up or None, data=form)
    assert r.status_code == status, r.text
    assert word.lower() in r.json()["errors"][0]["title"].lower()
    assert {j["id"] for j in c.get("/v1/jobs").json()["jobs"]} == before
    after = set((data / "jobs").iterdir()) if (data / "jobs").is_dir() else set()
    assert after == folders
