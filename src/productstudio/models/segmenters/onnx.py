"""Salient-object segmenters in ONNX, compatible with rembg's model files.

Everything known about one model lives in one :class:`OnnxModel` record in
:data:`ONNX_MODELS`: its name and summary, the file names that identify it on disk, its rank
for ``--model auto``, where ``models pull`` downloads it (URL + pinned sha256), and its
pre/post-processing (input size, normalisation, output activation). The registry entries in
:mod:`productstudio.models.segmenters` are built from these records. Sessions are cached per
process (:mod:`productstudio.models.onnx_runtime`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from productstudio.imaging.types import Mask, RGBImage
from productstudio.models.onnx_runtime import get_session, run
from productstudio.models.segmenters.base import Segmenter

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RELEASES = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/"


class Scale(StrEnum):
    """How pixel values are scaled before mean/std."""

    MAX = "max"  # divide by the image's maximum (rembg's convention for U²-Net/IS-Net)
    UNIT = "unit"  # divide by 255


class Activation(StrEnum):
    """How the first output becomes a probability."""

    MINMAX = "minmax"  # already sigmoid; stretch to [0, 1] per image (rembg)
    SIGMOID = "sigmoid"  # logits
    NONE = "none"


@dataclass(frozen=True, slots=True)
class OnnxModel:
    """One ONNX segmenter: identity, discovery, download and pre/post-processing.

    Attributes:
        name: registry name (``--model NAME``).
        summary: one line for ``models list``.
        file_names: file names that identify its weights on disk (first: the name
            ``models pull`` saves under).
        rank: higher is better; ``auto`` picks the best model whose file is found.
        size: square input size in px.
        mean, std: per-channel normalisation after scaling.
        scale: how pixel values are scaled before mean/std.
        activation: how the first output becomes a probability.
        release_file: the file's name in rembg's releases (``None``: no known download).
        sha256: the pinned checksum of that release file.
        size_bytes: its size (told to the user before a download; a server offering
            another size is refused before any byte is stored).
    """

    name: str
    summary: str
    file_names: tuple[str, ...]
    rank: int
    size: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    scale: Scale = Scale.MAX
    activation: Activation = Activation.MINMAX
    release_file: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None

    @property
    def url(self) -> str | None:
        """Where ``models pull`` downloads the file from (rembg's release), if known."""
        return RELEASES + self.release_file if self.release_file else None


#: Every rembg-compatible ONNX segmenter, best first (data rows: alike in shape by design).
#: Pins: rembg's source (``rembg/sessions/*.py``, 2.0.86) publishes an md5 per release file;
#: the sha256 and size of each file are the values that many independent public projects pin
#: for the same release asset, and each of them agrees with rembg's md5 where both are given
#: (docs/models.md lists the md5s). A download is kept only if its sha256 matches.
ONNX_MODELS: tuple[OnnxModel, ...] = (
    OnnxModel(
        "birefnet-general",
        "BiRefNet general (1024 px), best quality, slow",
        ("birefnet-general.onnx",),
        rank=90,
        size=1024,
        scale=Scale.UNIT,
        activation=Activation.SIGMOID,
        release_file="BiRefNet-general-epoch_244.onnx",
        sha256="58f621f00f5d756097615970a88a791584600dcf7c45b18a0a6267535a1ebd3c",
        size_bytes=972_666_916,
    ),
    OnnxModel(
        "isnet-general-use",
        "IS-Net general use (1024 px), high quality",
        ("isnet-general-use.onnx", "isnet_general_quint8.onnx", "isnet_general_use.onnx"),
        rank=80,
        size=1024,
        mean=(0.5, 0.5, 0.5),
        std=(1.0, 1.0, 1.0),
        release_file="isnet-general-use.onnx",
        sha256="60920e99c45464f2ba57bee2ad08c919a52bbf852739e96947fbb4358c0d964a",
        size_bytes=178_648_008,
    ),
    OnnxModel(
        "birefnet-general-lite",
        "BiRefNet lite (1024 px)",
        ("birefnet-general-lite.onnx",),
        rank=70,
        size=1024,
        scale=Scale.UNIT,
        activation=Activation.SIGMOID,
        release_file="BiRefNet-general-bb_swin_v1_tiny-epoch_232.onnx",
        sha256="5600024376f572a557870a5eb0afb1e5961636bef4e1e22132025467d0f03333",
        size_bytes=224_005_088,
    ),
    OnnxModel(
        "u2net",
        "U²-Net (320 px)",
        ("u2net.onnx",),
        rank=50,
        size=320,
        release_file="u2net.onnx",
        sha256="8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491",
        size_bytes=175_997_641,
    ),
    OnnxModel(
        "silueta",
        "Silueta, a small U²-Net (320 px)",
        ("silueta.onnx",),
        rank=40,
        size=320,
        release_file="silueta.onnx",
        sha256="75da6c8d2f8096ec743d071951be73b4a8bc7b3e51d9a6625d63644f90ffeedb",
        size_bytes=44_173_029,
    ),
    OnnxModel(
        "u2netp",
        "U²-Netp (320 px), fast",
        ("u2netp.onnx",),
        rank=30,
        size=320,
        release_file="u2netp.onnx",
        sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
        size_bytes=4_574_861,
    ),
)

#: The records by name.
MODELS: dict[str, OnnxModel] = {m.name: m for m in ONNX_MODELS}


class OnnxSegmenter(Segmenter):
    """A rembg-compatible ONNX segmenter.

    Args:
        model: its record, or a name in :data:`MODELS` (a custom model: a new record).
        path: the .onnx file.
    """

    def __init__(self, model: OnnxModel | str, path: str | Path) -> None:
        self.spec = MODELS[model] if isinstance(model, str) else model
        self.name = self.spec.name
        self.path = Path(path)
        self.session = get_session(self.path)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.output_name = self.session.get_outputs()[0].name

    def preprocess(self, rgb: RGBImage) -> np.ndarray:
        s = self.spec
        interp = cv2.INTER_AREA if max(rgb.shape[:2]) > s.size else cv2.INTER_CUBIC
        x: np.ndarray = cv2.resize(rgb, (s.size, s.size), interpolation=interp).astype(np.float32)
        if s.scale is Scale.MAX:
            x /= max(float(x.max()), 1e-6)
        else:
            x /= 255.0
        x = (x - np.asarray(s.mean, np.float32)) / np.asarray(s.std, np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

    def predict(self, rgb: RGBImage) -> Mask:
        feed = {self.input_name: self.preprocess(rgb)}
        out = run(self.session, feed, model=self.path, outputs=[self.output_name])[0]
        pred: np.ndarray = np.asarray(out, np.float32).reshape(out.shape[-2], out.shape[-1])
        act = self.spec.activation
        if act is Activation.SIGMOID:
            pred = (1.0 / (1.0 + np.exp(-pred))).astype(np.float32)
        elif act is Activation.MINMAX:
            lo, hi = float(pred.min()), float(pred.max())
            pred = (pred - lo) / max(hi - lo, 1e-6)
        h, w = rgb.shape[:2]
        prob = cv2.resize(pred, (w, h), interpolation=cv2.INTER_LINEAR)
        return np.clip(prob, 0.0, 1.0).astype(np.float32)
