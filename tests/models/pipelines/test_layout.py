"""Model folders on disk (no torch): clear errors naming the missing file, LFS pointers,
truncated safetensors, the Hugging Face cache, `models add` and sha256 verification."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from productstudio.errors import InvalidParamsError, WeightsChecksumError, WeightsNotFoundError
from productstudio.models.manage import ModelKind, ModelStore, valid_name
from productstudio.models.pipelines.layout import (
    EXPECTED_LAYOUT,
    SourceFormat,
    cached_pipelines,
    check_safetensors,
    find_in_hf_cache,
    hf_hub_cache,
    inspect_file,
    inspect_folder,
    verify_files,
)
from productstudio.models.pipelines.resolve import resolve_pipeline
from tiny_pipelines import fake_hf_cache


def _safetensors(path: Path, n: int = 4) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * (4 * n))


def make_folder(root: Path, *, in_channels: int = 4) -> Path:
    """A structurally complete SD-style folder with dummy weights (enough for layout checks)."""
    d = root / "sd"
    d.mkdir(parents=True)
    index = {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": "0.42.1",
        "scheduler": ["diffusers", "DDIMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "safety_checker": [None, None],
        "feature_extractor": [None, None],
    }
    (d / "model_index.json").write_text(json.dumps(index))
    (d / "scheduler").mkdir()
    (d / "scheduler" / "scheduler_config.json").write_text("{}")
    (d / "tokenizer").mkdir()
    (d / "tokenizer" / "vocab.json").write_text("{}")
    (d / "tokenizer" / "merges.txt").write_text("")
    for name, cfg, weights in (
        ("text_encoder", {}, "model.safetensors"),
        (
            "unet",
            {"in_channels": in_channels, "sample_size": 64},
            "diffusion_pytorch_model.safetensors",
        ),
        ("vae", {"block_out_channels": [1, 2, 3, 4]}, "diffusion_pytorch_model.safetensors"),
    ):
        (d / name).mkdir()
        (d / name / "config.json").write_text(json.dumps(cfg))
        _safetensors(d / name / weights)
    return d


def test_complete_folder_is_described(tmp_path: Path) -> None:
    src = inspect_folder(make_folder(tmp_path))
    assert src.format is SourceFormat.DIFFUSERS
    assert src.pipeline_class == "StableDiffusionPipeline"
    assert src.sample_size == 512 and not src.inpaint_only and src.variant is None
    assert set(src.components) == {"scheduler", "text_encoder", "tokenizer", "unet", "vae"}


def test_inpainting_checkpoint_is_recognised(tmp_path: Path) -> None:
    assert inspect_folder(make_folder(tmp_path, in_channels=9)).inpaint_only


def test_missing_weights_name_the_file_and_the_layout(tmp_path: Path) -> None:
    d = make_folder(tmp_path)
    (d / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(WeightsNotFoundError) as e:
        inspect_folder(d)
    msg = str(e.value)
    assert "unet/diffusion_pytorch_model.safetensors (or .bin)" in msg
    assert EXPECTED_LAYOUT in msg and str(d) in msg


def test_missing_component_folder_and_tokenizer(tmp_path: Path) -> None:
    d = make_folder(tmp_path)
    (d / "tokenizer" / "merges.txt").unlink()
    import shutil

    shutil.rmtree(d / "vae")
    with pytest.raises(WeightsNotFoundError) as e:
        inspect_folder(d)
    assert "vae/ (the AutoencoderKL component)" in str(e.value)
    assert "tokenizer/tokenizer.json (or vocab.json + merges.txt)" in str(e.value)


def test_no_model_index_points_at_a_checkpoint(tmp_path: Path) -> None:
    d = tmp_path / "ckpts"
    d.mkdir()
    _safetensors(d / "dreamshaper_8.safetensors")
    with pytest.raises(WeightsNotFoundError, match="model_index.json is missing") as e:
        inspect_folder(d)
    assert "dreamshaper_8.safetensors" in str(e.value) and "--config" in str(e.value)


def test_git_lfs_pointer_is_caught(tmp_path: Path) -> None:
    d = make_folder(tmp_path)
    (d / "vae" / "diffusion_pytorch_model.safetensors").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 334643268\n"
    )
    with pytest.raises(WeightsNotFoundError, match="git lfs pull"):
        inspect_folder(d)


def test_truncated_safetensors_is_caught(tmp_path: Path) -> None:
    f = tmp_path / "m.safetensors"
    _safetensors(f, n=100)
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(WeightsChecksumError, match="truncated"):
        check_safetensors(f)
    with pytest.raises(WeightsChecksumError):
        inspect_file(f)


def test_fp16_variant_only_folder(tmp_path: Path) -> None:
    d = make_folder(tmp_path)
    for name in ("unet", "vae"):
        w = d / name / "diffusion_pytorch_model.safetensors"
        w.rename(w.with_name("diffusion_pytorch_model.fp16.safetensors"))
    (d / "text_encoder" / "model.safetensors").rename(d / "text_encoder" / "model.fp16.safetensors")
    assert inspect_folder(d).variant == "fp16"


def test_single_file_with_config(tmp_path: Path) -> None:
    d = make_folder(tmp_path)
    f = tmp_path / "model.safetensors"
    _safetensors(f)
    src = inspect_file(f, config=d)
    assert src.format is SourceFormat.SINGLE_FILE and src.config == d
    assert src.pipeline_class == "StableDiffusionPipeline"
    with pytest.raises(WeightsNotFoundError, match="not a checkpoint file"):
        inspect_file(d / "model_index.json")


def test_hf_cache_is_found_and_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model in the HF cache resolves by repo id and by its cache folder, offline; verify
    checks every file against the blob name the hub gave it (sha256 or git sha1)."""
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    assert hf_hub_cache() == cache
    snap = fake_hf_cache(make_folder(tmp_path), cache, "acme/sd-mini")
    assert find_in_hf_cache("acme/sd-mini") == snap
    assert [r for r, _ in cached_pipelines()] == ["acme/sd-mini"]
    assert resolve_pipeline("acme/sd-mini").repo_id == "acme/sd-mini"
    assert inspect_folder(cache / "models--acme--sd-mini").path == snap
    checks = verify_files(snap)
    assert checks and all(c.ok for c in checks)
    assert {c.reference for c in checks} >= {"hf-cache blob (git)"}
    blob = (snap / "unet" / "config.json").resolve()
    blob.write_text('{"tampered": true}')
    bad = [c.name for c in verify_files(snap) if c.ok is False]
    assert bad == ["unet/config.json"]


def test_unknown_reference_is_explained(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFoundError, match="hub access is off"):
        resolve_pipeline("acme/not-here")
    with pytest.raises(WeightsNotFoundError, match="models add"):
        resolve_pipeline(None)
    assert resolve_pipeline("acme/not-here", allow_hub=True).format is SourceFormat.HUB


def test_models_add_list_verify_remove(tmp_path: Path) -> None:
    """add records kind, class and every file's sha256; verify catches a changed file."""
    d = make_folder(tmp_path)
    store = ModelStore()
    entry = store.add("SD-Mini", d)
    assert entry.name == "sd-mini" and entry.kind is ModelKind.PIPELINE
    assert entry.pipeline_class == "StableDiffusionPipeline"
    assert len(entry.files) == 10 and all(len(f["sha256"]) == 64 for f in entry.files.values())
    assert [m.name for m in ModelStore().of_kind(ModelKind.PIPELINE)] == ["sd-mini"]
    assert resolve_pipeline("sd-mini").path == d.resolve()
    assert all(c.ok for c in verify_files(entry.path, entry.files))
    (d / "unet" / "config.json").write_text('{"in_channels": 4, "sample_size": 96}')
    assert [c.name for c in verify_files(entry.path, entry.files) if c.ok is False] == [
        "unet/config.json"
    ]
    with pytest.raises(InvalidParamsError, match="already added"):
        store.add("sd-mini", d)
    assert store.remove("sd-mini") and not store.remove("sd-mini")


def test_models_add_refuses_bad_names_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidParamsError, match="cannot name a model"):
        valid_name("my model!")
    junk = tmp_path / "notes.txt"
    junk.write_text("x")
    with pytest.raises(InvalidParamsError, match="not a model"):
        ModelStore().add("notes", junk)
    with pytest.raises(InvalidParamsError, match="built-in"):
        ModelStore().add("telea", make_folder(tmp_path))


def test_added_onnx_file_feeds_its_backend(tmp_path: Path) -> None:
    """`models add lama FILE` makes the lama inpainter findable; discovery returns that file."""
    from productstudio.models.discovery import find_weights
    from productstudio.models.inpainters import INPAINTERS

    f = tmp_path / "downloads" / "big-lama-v2.onnx"
    f.parent.mkdir()
    f.write_bytes(b"onnx")
    entry = ModelStore().add("lama", f, hash_files=False)
    assert entry.kind is ModelKind.INPAINTER and entry.backend == "lama"
    assert find_weights(INPAINTERS.get("lama")) == f.resolve()


def test_models_file_that_is_not_json_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "models.json"
    bad.write_text("{oops")
    with pytest.raises(InvalidParamsError, match="not valid JSON"):
        ModelStore(bad).all()
