"""Pretrained pipelines on tiny random-weight SD models built from configs (and on a real
local model when PRODUCTSTUDIO_TEST_PIPELINE names one): loading from a folder, a single
checkpoint and the HF cache; the three tasks; seeds; schedulers; progress; cancellation;
no network; the `diffusion` inpainter; product-exact scenes on real photos."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from productstudio.errors import (
    BackendError,
    CancelledError,
    InvalidParamsError,
    WeightsNotFoundError,
)
from productstudio.models.pipelines import (
    DiffusersPipeline,
    GenerationParams,
    LoadOptions,
    Offload,
    SchedulerName,
)
from productstudio.models.pipelines.options import SCHEDULER_CLASSES
from tiny_pipelines import (
    REAL_PIPELINE,
    REAL_STEPS,
    fake_hf_cache,
    make_tiny_folders,
    pipeline_refs,
    real_cutouts,
    save_ldm_checkpoint,
    socket_is_watched,
    socket_tripwire,
)

pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_tiny_folders(tmp_path_factory.mktemp("tiny"))


def _load(ref: str, folders: dict[str, Path], kind: str = "t2i") -> DiffusersPipeline:
    if ref == "tiny":
        return DiffusersPipeline.load(str(folders[kind]))
    assert REAL_PIPELINE is not None
    return DiffusersPipeline.load(REAL_PIPELINE, LoadOptions(safety_checker=False))


@pytest.fixture(scope="module", params=pipeline_refs())
def pipe(request: pytest.FixtureRequest, folders: dict[str, Path]) -> DiffusersPipeline:
    return _load(request.param, folders)


@pytest.fixture(scope="module")
def tiny(folders: dict[str, Path]) -> DiffusersPipeline:
    return DiffusersPipeline.load(str(folders["t2i"]))


@pytest.fixture(scope="module")
def tiny_inpaint(folders: dict[str, Path]) -> DiffusersPipeline:
    return DiffusersPipeline.load(str(folders["inpaint"]))


def _gp(pipe: DiffusersPipeline, **kw: object) -> GenerationParams:
    """Small, fast settings: the tiny model at 64 px; a real one at 256 px, few steps."""
    real = pipe.native_size > 64
    base: dict[str, object] = {
        "prompt": "red leather shoe",
        "steps": REAL_STEPS if real else 3,
        "width": 256 if real else 64,
        "height": 256 if real else 64,
    }
    base.update(kw)
    return GenerationParams(**base)  # type: ignore[arg-type]


def test_text_to_image_shape_seed_and_progress(pipe: DiffusersPipeline) -> None:
    """uint8 RGB at the asked size; the same seed gives the same bytes, another seed not;
    on_progress sees every step."""
    seen: list[tuple[int, int]] = []
    a = pipe.text_to_image(_gp(pipe, seed=1), on_progress=lambda d, t: seen.append((d, t)))
    p = _gp(pipe)
    assert a.image.dtype == np.uint8 and a.image.shape == (p.height, p.width, 3)
    assert seen == [(i + 1, p.steps) for i in range(p.steps)] and a.steps_run == p.steps
    assert np.array_equal(a.image, pipe.text_to_image(_gp(pipe, seed=1)).image)
    assert not np.array_equal(a.image, pipe.text_to_image(_gp(pipe, seed=2)).image)
    assert a.image.std() > 1.0  # not a blank picture


def test_image_to_image_native_size_and_strength_steps(tiny: DiffusersPipeline) -> None:
    """A 350x250 photo comes back at the model's native long side (64 px), aspect kept:
    64x48; strength 0.5 of 6 steps runs 3 of them."""
    photo = np.random.default_rng(0).integers(0, 256, (250, 350, 3), dtype=np.uint8)
    seen: list[tuple[int, int]] = []
    res = tiny.image_to_image(
        photo,
        GenerationParams(prompt="red shoe", steps=6, strength=0.5),
        on_progress=lambda d, t: seen.append((d, t)),
    )
    assert res.image.shape == (48, 64, 3)
    assert seen[-1] == (3, 3) and res.steps_run == 3


def test_inpaint_masks_of_any_dtype_agree(tiny: DiffusersPipeline) -> None:
    img = np.full((64, 64, 3), 128, np.uint8)
    m = np.zeros((64, 64), bool)
    m[16:48, 16:48] = True
    p = GenerationParams(prompt="shoe", steps=2, seed=3)
    outs = [tiny.inpaint(img, mk, p).image for mk in (m, m.astype(np.uint8) * 255, m * 0.9)]
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])
    with pytest.raises(InvalidParamsError, match="empty"):
        tiny.inpaint(img, np.zeros((64, 64)), p)
    with pytest.raises(InvalidParamsError, match="resize the mask"):
        tiny.inpaint(img, np.ones((32, 32)), p)


def test_inpainting_checkpoint_serves_every_task(tiny_inpaint: DiffusersPipeline) -> None:
    """A 9-channel (SD-inpainting-shaped) UNet also draws from text and makes variations."""
    assert tiny_inpaint.inpaint_only
    t2i = tiny_inpaint.text_to_image(GenerationParams(prompt="shoe", steps=2, width=72, height=56))
    assert t2i.image.shape == (56, 72, 3)
    var = tiny_inpaint.image_to_image(
        t2i.image, GenerationParams(prompt="shoe", steps=4, strength=0.5)
    )
    assert var.image.shape == (48, 64, 3) and var.steps_run == 2


def test_cancellation_before_and_during(tiny: DiffusersPipeline) -> None:
    with pytest.raises(CancelledError, match="before it started"):
        tiny.text_to_image(GenerationParams(prompt="x", steps=5), should_cancel=lambda: True)
    polls = [0]
    seen: list[int] = []

    def stop_after_two() -> bool:
        polls[0] += 1
        return polls[0] > 2  # poll 1 = before the start, 2 = after step 1, 3 = after step 2

    with pytest.raises(CancelledError, match="after 2 of 5 steps"):
        tiny.text_to_image(
            GenerationParams(prompt="x", steps=5),
            on_progress=lambda d, t: seen.append(d),
            should_cancel=stop_after_two,
        )
    assert seen == [1, 2]


@pytest.mark.parametrize("name", list(SCHEDULER_CLASSES))
def test_every_scheduler_runs(folders: dict[str, Path], name: SchedulerName) -> None:
    p = DiffusersPipeline.load(str(folders["t2i"]), LoadOptions(scheduler=name))
    assert type(p.base.scheduler).__name__ == SCHEDULER_CLASSES[name][0]
    assert p.text_to_image(GenerationParams(prompt="shoe", steps=6)).image.shape == (64, 64, 3)


def test_device_dtype_offload_on_this_machine(
    folders: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    import torch

    p = DiffusersPipeline.load(str(folders["t2i"]), LoadOptions(attention_slicing=True))
    expected = "cuda" if torch.cuda.is_available() else p.device
    assert p.device == expected and (p.dtype == "float32") == (p.device == "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidParamsError, match="no CUDA"):
            DiffusersPipeline.load(str(folders["t2i"]), LoadOptions(device="cuda"))  # type: ignore[arg-type]
        with caplog.at_level(logging.WARNING):
            off = DiffusersPipeline.load(str(folders["t2i"]), LoadOptions(offload=Offload.MODEL))
        assert off.offload is Offload.NONE and "offload" in caplog.text
    d = p.describe()
    assert d["model"]["format"] == "diffusers" and d["scheduler"] == "DDIMScheduler"
    assert d["load_options"]["attention_slicing"] is True


def test_folder_round_trip_gives_the_same_image(folders: dict[str, Path]) -> None:
    """The in-memory tiny pipeline and the one loaded from its saved folder agree exactly."""
    from productstudio.models.pipelines.tiny import tiny_pipeline

    p = GenerationParams(prompt="red shoe", steps=3, seed=4)
    mem = DiffusersPipeline.from_pipe(tiny_pipeline()).text_to_image(p).image
    disk = DiffusersPipeline.load(str(folders["t2i"])).text_to_image(p).image
    assert np.array_equal(mem, disk)


def test_an_empty_tokenizer_is_refused() -> None:
    """transformers 5 can build a 2-token tokenizer silently; loading refuses it."""
    from transformers import CLIPTokenizer

    from productstudio.models.pipelines.tiny import tiny_pipeline

    pipe = tiny_pipeline()
    pipe.tokenizer = CLIPTokenizer(vocab={"<|startoftext|>": 0, "<|endoftext|>": 1}, merges=[])
    with pytest.raises(BackendError, match="loaded empty"):
        DiffusersPipeline.from_pipe(pipe)


def test_single_checkpoint_file_loads_offline(folders: dict[str, Path], tmp_path: Path) -> None:
    """An SD checkpoint in the original (LDM) layout + a local config folder gives the very
    same weights as the diffusers folder; without a config it is refused before diffusers
    would fetch configs from the hub. No socket is opened either way."""
    ckpt = save_ldm_checkpoint(folders["t2i"], tmp_path / "tiny-sd15.safetensors")
    p = GenerationParams(prompt="red shoe", steps=3, seed=5)
    with socket_tripwire() as events:
        single = DiffusersPipeline.load(str(ckpt), LoadOptions(config=folders["t2i"]))
        img = single.text_to_image(p).image
        with pytest.raises(WeightsNotFoundError, match="--config FOLDER"):
            DiffusersPipeline.load(str(ckpt))
    assert events == []
    assert single.source is not None and single.source.format.value == "single-file"
    assert np.array_equal(img, DiffusersPipeline.load(str(folders["t2i"])).text_to_image(p).image)


def test_no_socket_is_opened(
    folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the hub libraries' offline flags switched OFF, loading (folder, HF cache id),
    all three tasks, a scene and a refused hub id open no socket at all."""
    from productstudio.models.pipelines.prompts import ProductInfo, PromptBook
    from productstudio.models.pipelines.scene import generate_scenes

    assert socket_is_watched()
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    fake_hf_cache(folders["inpaint"], cache, "acme/tiny-inpaint")
    product = np.zeros((40, 40, 4), np.uint8)
    product[10:30, 12:28] = (200, 40, 40, 255)
    with socket_tripwire() as events:
        a = DiffusersPipeline.load(str(folders["t2i"]))
        b = DiffusersPipeline.load("acme/tiny-inpaint")
        img = a.text_to_image(GenerationParams(prompt="shoe", steps=2)).image
        a.image_to_image(img, GenerationParams(prompt="shoe", steps=2, strength=0.5))
        b.inpaint(img, np.ones((64, 64)), GenerationParams(prompt="shoe", steps=2))
        prompt = PromptBook.default().build(ProductInfo(title="red box"), scene="studio-sweep")
        generate_scenes(b, product, prompt, GenerationParams(steps=2), native=64)
        with pytest.raises(WeightsNotFoundError):
            DiffusersPipeline.load("acme/not-downloaded")
    assert events == [], events
    assert b.source is not None and b.source.repo_id == "acme/tiny-inpaint"


def test_diffusion_inpainter_keeps_every_pixel_outside_the_hole(folders: dict[str, Path]) -> None:
    """The `diffusion` backend of the inpainting registry: set up with `models add`, hole
    repainted, all other pixels of a real photo bit-identical."""
    from PIL import Image

    from conftest import shared_path
    from productstudio.models.discovery import resolve
    from productstudio.models.inpainters import INPAINTERS, load_inpainter
    from productstudio.models.manage import ModelStore

    with pytest.raises(WeightsNotFoundError, match="models add"):
        resolve(INPAINTERS, "diffusion")
    ModelStore().add("tiny-inpaint", folders["inpaint"], hash_files=False)
    first = sorted(shared_path("data", "backgrounds", "images").glob("nyu_*.jpg"))[0]
    photo = np.asarray(Image.open(first).convert("RGB").resize((160, 120)))
    hole = np.zeros((120, 160), bool)
    hole[40:80, 60:110] = True
    inp = load_inpainter("diffusion")
    out = inp.inpaint(photo, hole)
    assert out.shape == photo.shape and out.dtype == np.uint8
    assert np.array_equal(out[~hole], photo[~hole])
    assert (out[hole] != photo[hole]).any(axis=1).mean() > 0.5


@pytest.mark.parametrize("ref", pipeline_refs())
def test_scenes_keep_real_products_exact(ref: str, folders: dict[str, Path]) -> None:
    """On real photos cut out with the shipped segmenter: every alpha-255 product pixel of
    every candidate is bit-exact, candidates differ by seed, a seed reruns identically; plain
    diffusers inpainting of the same picture and mask changes product pixels."""
    from productstudio.models.pipelines.prompts import ProductInfo, PromptBook
    from productstudio.models.pipelines.scene import (
        SceneLayout,
        generate_scenes,
        scene_inputs,
    )
    from productstudio.ops.scene import SceneParams, changed_share

    pipe = _load(ref, folders, "inpaint")
    native = 64 if ref == "tiny" else 256
    steps = 2 if ref == "tiny" else REAL_STEPS
    book = PromptBook.default()
    for name, prod in real_cutouts(3):
        prompt = book.build(ProductInfo(title=name), scene="marble-counter")
        gp = GenerationParams(steps=steps, seed=7)
        res = generate_scenes(pipe, prod, prompt, gp, candidates=2, native=native,
                              layout=SceneLayout(fill=0.6))  # fmt: skip
        assert [r.seed for r in res] == [7, 8]
        for r in res:
            opaque = r.product[..., 3] == 255
            assert opaque.sum() > 1000
            assert np.array_equal(r.image[opaque], r.product[..., :3][opaque])
            assert r.record["product_pixels_changed"] == 0.0 and r.record["seed"] == r.seed
            assert r.record["prompt"]["prompt"] == prompt.prompt
            assert r.record["plan"]["scale"] == 1.0  # the product kept its own pixels
        assert not np.array_equal(res[0].background, res[1].background)
        again = generate_scenes(pipe, prod, prompt, gp.with_seed(8), native=native,
                                layout=SceneLayout(fill=0.6))[0]  # fmt: skip
        assert np.array_equal(again.image, res[1].image)
        # the baseline: plain inpainting of the same picture and mask at the model's size
        init, mask = scene_inputs(res[0].product, tuple(res[0].record["work_size"]), SceneParams())
        plain = pipe.inpaint(init, mask, gp.with_seed(7)).image
        kept = mask < 0.5
        assert changed_share(init, plain, kept) > 0.0
