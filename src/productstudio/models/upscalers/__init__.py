"""Upscalers: super-resolution behind one registry.

Registered backends (``UPSCALERS``), best first for ``--model auto``:
``realesr-general-x4v3`` (ONNX) > ``espcn`` > ``fsrcnn`` > ``lapsrn`` > ``fsrcnn-small``
(OpenCV ``dnn_superres`` .pb files) > ``lanczos`` (the default, no weights) > ``bicubic``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from productstudio.models.discovery import AUTO, load_backend
from productstudio.models.registry import BackendEntry, Registry
from productstudio.models.upscalers.base import Upscaler
from productstudio.models.upscalers.classical import ResampleUpscaler
from productstudio.models.upscalers.dnn import DNN_MODELS, DnnSuperRes, dnn_file_names
from productstudio.models.upscalers.esrgan import OnnxUpscaler
from productstudio.ops.upscale import Resample

UPSCALERS: Registry[BackendEntry[Upscaler]] = Registry("upscaler")
DEFAULT_UPSCALER = "lanczos"


def _dnn(name: str) -> Callable[[Path | None], Upscaler]:
    def load(path: Path | None) -> Upscaler:
        assert path is not None
        return DnnSuperRes(name, path)

    return load


def _esrgan(path: Path | None) -> Upscaler:
    assert path is not None
    return OnnxUpscaler("realesr-general-x4v3", path, 4)


_DNN_INFO = {
    "espcn": ("ESPCN x2/x3/x4 (OpenCV dnn_superres), fast", 45),
    "fsrcnn": ("FSRCNN x2/x3/x4 (OpenCV dnn_superres), fast", 40),
    "lapsrn": ("LapSRN x2/x4/x8 (OpenCV dnn_superres), slow", 30),
    "fsrcnn-small": ("FSRCNN-small x2/x3/x4 (OpenCV dnn_superres), fastest", 20),
}

_ENTRIES: list[BackendEntry[Upscaler]] = [
    BackendEntry(
        "realesr-general-x4v3",
        "Real-ESRGAN general x4 v3 (ONNX): sharp, perceptual; lower PSNR than bicubic",
        _esrgan,
        file_names=("realesr-general-x4v3.onnx",),
        rank=60,
    ),
    *(
        BackendEntry(
            n, _DNN_INFO[n][0], _dnn(n), file_names=dnn_file_names(n), rank=_DNN_INFO[n][1]
        )
        for n in DNN_MODELS
    ),
    BackendEntry(
        "lanczos", "Lanczos resampling (default), no weights", lambda _p: ResampleUpscaler(), rank=5
    ),
    BackendEntry(
        "bicubic",
        "Bicubic resampling, no weights",
        lambda _p: ResampleUpscaler(Resample.BICUBIC),
        rank=1,
    ),
]
for _e in _ENTRIES:
    UPSCALERS.register(_e.name)(_e)


def load_upscaler(choice: str | Path = DEFAULT_UPSCALER) -> Upscaler:
    """A ready upscaler for ``--model``: a registry name, ``auto`` or a path to a weights file."""
    return load_backend(UPSCALERS, choice)


__all__ = [
    "AUTO",
    "DEFAULT_UPSCALER",
    "UPSCALERS",
    "DnnSuperRes",
    "OnnxUpscaler",
    "ResampleUpscaler",
    "Upscaler",
    "load_upscaler",
]
