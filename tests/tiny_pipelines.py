"""Helpers for the pretrained-pipeline tests: tiny diffusers folders, a single-file (LDM
layout) checkpoint of them, a fake Hugging Face cache, a socket tripwire, real cut-outs.

``PRODUCTSTUDIO_TEST_PIPELINE`` (a local diffusers folder, an added name or a cached hub id)
adds a real model to the tests that take ``pipeline_refs()``; it is read at import time
because the shared conftest clears ``PRODUCTSTUDIO_*`` variables for each test.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rgba_photos import real_rgba

REAL_PIPELINE = os.environ.get("PRODUCTSTUDIO_TEST_PIPELINE", "").strip() or None
#: steps and size used with a real model (seconds per step on a CPU at 512 px)
REAL_STEPS = int(os.environ.get("PRODUCTSTUDIO_TEST_PIPELINE_STEPS", "2"))


def pipeline_refs() -> list[str]:
    """``["tiny"]``, plus ``"real"`` when PRODUCTSTUDIO_TEST_PIPELINE is set."""
    return ["tiny", "real"] if REAL_PIPELINE else ["tiny"]


def make_tiny_folders(root: Path) -> dict[str, Path]:
    """Tiny SD-shaped pipelines saved as diffusers folders: ``t2i`` and ``inpaint``."""
    from productstudio.models.pipelines.tiny import TinyPipelineConfig, save_tiny_pipeline

    return {
        "t2i": save_tiny_pipeline(root / "tiny-t2i"),
        "inpaint": save_tiny_pipeline(root / "tiny-inpaint", TinyPipelineConfig(inpaint=True)),
    }


# -- single checkpoint file in the original (LDM) layout --------------------------------------
_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}


def _unet_key(k: str, lpb: int, n_up: int, up_has_attn: list[bool]) -> str:
    fixed = {
        "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2",
        "conv_in": "input_blocks.0.0",
        "conv_norm_out": "out.0",
        "conv_out": "out.2",
    }
    for a, b in fixed.items():
        if k.startswith(a + "."):
            return b + k[len(a) :]
    parts = k.split(".")

    def resnet_tail(rest: list[str]) -> str:
        name = rest[0]
        return ".".join([_RESNET.get(name, name), *rest[1:]])

    if parts[0] == "down_blocks":
        i = int(parts[1])
        if parts[2] == "downsamplers":
            return f"input_blocks.{1 + i * (lpb + 1) + lpb}.0.op." + ".".join(parts[5:])
        j = int(parts[3])
        idx = 1 + i * (lpb + 1) + j
        if parts[2] == "resnets":
            return f"input_blocks.{idx}.0." + resnet_tail(parts[4:])
        return f"input_blocks.{idx}.1." + ".".join(parts[4:])
    if parts[0] == "up_blocks":
        i = int(parts[1])
        if parts[2] == "upsamplers":
            sub = 2 if up_has_attn[i] else 1
            return f"output_blocks.{i * (lpb + 1) + lpb}.{sub}." + ".".join(parts[4:])
        j = int(parts[3])
        idx = i * (lpb + 1) + j
        if parts[2] == "resnets":
            return f"output_blocks.{idx}.0." + resnet_tail(parts[4:])
        return f"output_blocks.{idx}.1." + ".".join(parts[4:])
    if parts[0] == "mid_block":
        j = int(parts[2])
        if parts[1] == "attentions":
            return "middle_block.1." + ".".join(parts[3:])
        return f"middle_block.{2 * j}." + resnet_tail(parts[3:])
    raise KeyError(k)


def _vae_key(k: str, n_up: int) -> str:
    fixed = {
        "encoder.conv_norm_out": "encoder.norm_out",
        "decoder.conv_norm_out": "decoder.norm_out",
    }
    for a, b in fixed.items():
        if k.startswith(a + "."):
            return b + k[len(a) :]
    parts = k.split(".")
    attn = {
        "group_norm": "norm",
        "to_q": "q",
        "to_k": "k",
        "to_v": "v",
        "to_out": "proj_out",
    }
    if len(parts) > 2 and parts[1] == "down_blocks":
        i = int(parts[2])
        if parts[3] == "downsamplers":
            return f"encoder.down.{i}.downsample." + ".".join(parts[5:])
        rest = [p if p != "conv_shortcut" else "nin_shortcut" for p in parts[5:]]
        return f"encoder.down.{i}.block.{parts[4]}." + ".".join(rest)
    if len(parts) > 2 and parts[1] == "up_blocks":
        i = n_up - 1 - int(parts[2])
        if parts[3] == "upsamplers":
            return f"decoder.up.{i}.upsample." + ".".join(parts[5:])
        rest = [p if p != "conv_shortcut" else "nin_shortcut" for p in parts[5:]]
        return f"decoder.up.{i}.block.{parts[4]}." + ".".join(rest)
    if len(parts) > 2 and parts[1] == "mid_block":
        if parts[2] == "resnets":
            rest = [p if p != "conv_shortcut" else "nin_shortcut" for p in parts[4:]]
            return f"{parts[0]}.mid.block_{int(parts[3]) + 1}." + ".".join(rest)
        name = attn[parts[4]]
        tail = parts[6:] if parts[4] == "to_out" else parts[5:]
        return f"{parts[0]}.mid.attn_1.{name}." + ".".join(tail)
    return k


def save_ldm_checkpoint(folder: Path, path: Path) -> Path:
    """The diffusers folder's UNet, VAE and CLIP text encoder as ONE ``.safetensors`` file
    in the original Stable Diffusion (LDM) key layout, as A1111/ComfyUI users keep models."""
    import json

    from safetensors.torch import load_file, save_file

    ucfg = json.loads((folder / "unet" / "config.json").read_text())
    lpb = int(ucfg["layers_per_block"])
    up_has_attn = ["CrossAttn" in t for t in ucfg["up_block_types"]]
    n_up = len(ucfg["up_block_types"])
    vcfg = json.loads((folder / "vae" / "config.json").read_text())
    n_vae_up = len(vcfg["up_block_types"])
    out: dict[str, Any] = {}
    for k, v in load_file(str(folder / "unet" / "diffusion_pytorch_model.safetensors")).items():
        out["model.diffusion_model." + _unet_key(k, lpb, n_up, up_has_attn)] = v
    for k, v in load_file(str(folder / "vae" / "diffusion_pytorch_model.safetensors")).items():
        lk = _vae_key(k, n_vae_up)
        if ".mid.attn_1." in lk and lk.endswith("weight") and v.ndim == 2:
            v = v[:, :, None, None]  # LDM keeps the VAE attention as 1x1 convolutions
        out["first_stage_model." + lk] = v
    for k, v in load_file(str(folder / "text_encoder" / "model.safetensors")).items():
        key = k if k.startswith("text_model.") else "text_model." + k  # transformers 5 drops it
        out["cond_stage_model.transformer." + key] = v
    save_file({k: v.contiguous() for k, v in out.items()}, str(path))
    return path


# -- Hugging Face cache layout ------------------------------------------------------------------
def fake_hf_cache(folder: Path, cache: Path, repo_id: str, revision: str = "0" * 40) -> Path:
    """Lay ``folder`` out as the HF hub cache does (blobs named by their sha256 for big files
    and git sha1 for small ones, snapshot symlinks, refs/main); returns the snapshot."""
    import hashlib
    import shutil

    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / revision
    blobs = repo / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    for f in sorted(folder.rglob("*")):
        if not f.is_file():
            continue
        data = f.read_bytes()
        if len(data) > 10_000:
            name = hashlib.sha256(data).hexdigest()
        else:
            name = hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()
        shutil.copyfile(f, blobs / name)
        link = snap / f.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blobs / name, link.parent))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snap


# -- network tripwire -----------------------------------------------------------------------
_EVENTS: list[tuple[str, str]] = []
_ARMED = [False]
_HOOKED = [False]


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if _ARMED[0] and (event.startswith("socket.") or event == "urllib.Request"):
        _EVENTS.append((event, repr(args)[:200]))


@contextlib.contextmanager
def socket_tripwire() -> Iterator[list[tuple[str, str]]]:
    """Record every socket event (creation, connect, getaddrinfo …) and urllib request
    inside the block; the caller asserts the list is empty. Also switches off the
    hub libraries' offline flags, so only our own ``local_files_only`` keeps them local."""
    if not _HOOKED[0]:
        sys.addaudithook(_hook)
        _HOOKED[0] = True
    patched: list[tuple[Any, str, Any]] = []
    for mod_name in ("huggingface_hub.constants", "diffusers.utils.constants"):
        mod = sys.modules.get(mod_name)
        if mod is not None and hasattr(mod, "HF_HUB_OFFLINE"):
            patched.append((mod, "HF_HUB_OFFLINE", mod.HF_HUB_OFFLINE))
            mod.HF_HUB_OFFLINE = False
    old_env = os.environ.pop("HF_HUB_OFFLINE", None)
    _EVENTS.clear()
    _ARMED[0] = True
    try:
        yield _EVENTS
    finally:
        _ARMED[0] = False
        for mod, name, value in patched:
            setattr(mod, name, value)
        if old_env is not None:
            os.environ["HF_HUB_OFFLINE"] = old_env


def socket_is_watched() -> bool:
    """Self-check of the tripwire: opening a socket inside it is recorded."""
    with socket_tripwire() as events:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.close()
    return any(e[0] == "socket.__new__" for e in events)


# -- real product cut-outs --------------------------------------------------------------------
def bulky_product_name() -> str:
    """The product-like DIS5K photo whose object fills the most of the frame (no thin legs)."""
    from conftest import read_manifest

    rows = [r for r in read_manifest("data", "cutout", "manifest.csv") if r["product_like"] == "1"]
    return max(rows, key=lambda r: float(r["fg_fraction"]))["name"]


def real_cutouts(n: int = 3, long_side: int = 160) -> list[tuple[str, np.ndarray]]:
    """``n`` real product photos cut out with the shipped segmenter API (U²-Netp from
    ../shared/weights) plus DIS5K photos with their ground-truth masks; skips without data."""
    import csv

    from PIL import Image

    from conftest import shared_path
    from productstudio.models.segmenters import load_segmenter
    from productstudio.ops.cutout import cutout

    weights = shared_path("weights", "segmentation", "u2netp.onnx")
    products = shared_path("data", "products")
    seg = load_segmenter(weights)
    with (products / "metadata.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["source"] == "grocery-iconic"]
    out: list[tuple[str, np.ndarray]] = []
    for r in rows[: max(1, n - 1)]:
        img = Image.open(products / r["file"]).convert("RGB")
        s = long_side / max(img.size)
        img = img.resize((round(img.width * s), round(img.height * s)), Image.Resampling.LANCZOS)
        px = np.asarray(img)
        out.append((r["id"], cutout(px, seg.segment(px).mask)))
    solid = bulky_product_name()
    out.append((solid, real_rgba(solid, long_side=long_side)))
    return out[:n]
