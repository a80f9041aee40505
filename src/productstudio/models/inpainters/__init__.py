"""Inpainters: fill a hole in an image, pixels outside the hole untouched.

Registered backends (``INPAINTERS``), best first for ``--model auto``:
``lama`` > ``migan`` (ONNX files the user has) > ``telea`` > ``ns`` (OpenCV, no weights) >
``exemplar`` (ours, no weights). On real photos Telea beats our exemplar inpainter by 0.5 dB
(object-sized holes) to 2.8 dB (text strokes) masked PSNR and is 25-40x faster
(``benchmarks/inpaint.py``), so ``auto`` prefers it; ``exemplar`` wins on regular textures
(stripes, weaves, tiles) and is there by name. ``diffusion`` runs a pretrained diffusers
model from local weights (``productstudio models add``); slow on a CPU, so also by name only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from productstudio.models.discovery import AUTO, load_backend
from productstudio.models.inpainters.base import Inpainter, SizeRule, default_margin
from productstudio.models.inpainters.classical import ClassicalInpainter
from productstudio.models.inpainters.diffusion import DiffusionInpainter, DiffusionInpainterConfig
from productstudio.models.inpainters.exemplar import (
    ExemplarConfig,
    ExemplarInpainter,
    exemplar_fill,
)
from productstudio.models.inpainters.onnx import OnnxInpainter
from productstudio.models.pipelines.resolve import HOW_TO_ADD, locate_inpaint_pipeline
from productstudio.models.registry import BackendEntry, Registry
from productstudio.ops.inpaint import InpaintMethod

INPAINTERS: Registry[BackendEntry[Inpainter]] = Registry("inpainter")


def _onnx(name: str) -> Callable[[Path | None], Inpainter]:
    def load(path: Path | None) -> Inpainter:
        assert path is not None
        return OnnxInpainter(name, path)

    return load


def _diffusion(_path: Path | None) -> Inpainter:
    from productstudio.models.pipelines.backend import DiffusersPipeline
    from productstudio.models.pipelines.options import Task

    return DiffusionInpainter(DiffusersPipeline.load(None, task=Task.INPAINT))


_ENTRIES: list[BackendEntry[Inpainter]] = [
    BackendEntry(
        "lama",
        "LaMa (ONNX, 512 px), big masks and textures",
        _onnx("lama"),
        file_names=("lama_fp32.onnx", "lama.onnx", "big-lama.onnx", "lama_large_512px.onnx"),
        rank=90,
    ),
    BackendEntry(
        "migan",
        "MI-GAN (ONNX pipeline, 512 px), fast",
        _onnx("migan"),
        file_names=("migan_pipeline_v2.onnx", "migan.onnx", "migan_512_places2.onnx"),
        rank=80,
    ),
    BackendEntry(
        "diffusion",
        "Pretrained diffusers inpainting from local weights (models add); slow on a CPU",
        _diffusion,
        rank=10,
        locate=locate_inpaint_pipeline,
        hint=HOW_TO_ADD,
    ),
    BackendEntry(
        "exemplar",
        "Multi-scale PatchMatch (ours), no weights; regular textures, slow",
        lambda _p: ExemplarInpainter(),
        rank=3,
    ),
    BackendEntry(
        "telea",
        "OpenCV Telea fast marching, no weights, fastest",
        lambda _p: ClassicalInpainter(InpaintMethod.TELEA),
        rank=20,
    ),
    BackendEntry(
        "ns",
        "OpenCV Navier-Stokes, no weights",
        lambda _p: ClassicalInpainter(InpaintMethod.NS),
        rank=5,
    ),
]
for _e in _ENTRIES:
    INPAINTERS.register(_e.name)(_e)


def load_inpainter(choice: str | Path = AUTO) -> Inpainter:
    """A ready inpainter for ``--model``: a registry name, ``auto`` or a path to an .onnx file."""
    return load_backend(INPAINTERS, choice)


__all__ = [
    "INPAINTERS",
    "ClassicalInpainter",
    "DiffusionInpainter",
    "DiffusionInpainterConfig",
    "ExemplarConfig",
    "ExemplarInpainter",
    "Inpainter",
    "OnnxInpainter",
    "SizeRule",
    "default_margin",
    "exemplar_fill",
    "load_inpainter",
]
