"""Salient-object segmenters in ONNX, compatible with rembg's model files.

Each model differs only in input size, normalisation and output activation; those live in
:class:`OnnxSpec`. Sessions are cached per process (:mod:`productstudio.models.onnx_runtime`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from productstudio.imaging.types import Mask, RGBImage
from productstudio.models.onnx_runtime import get_session
from productstudio.models.segmenters.base import Segmenter

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
class OnnxSpec:
    """Pre/post-processing of one ONNX segmentation model."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    scale: Scale = Scale.MAX
    activation: Activation = Activation.MINMAX


SPECS: dict[str, OnnxSpec] = {
    "u2netp": OnnxSpec(320, IMAGENET_MEAN, IMAGENET_STD),
    "u2net": OnnxSpec(320, IMAGENET_MEAN, IMAGENET_STD),
    "silueta": OnnxSpec(320, IMAGENET_MEAN, IMAGENET_STD),
    "isnet-general-use": OnnxSpec(1024, (0.5, 0.5, 0.5), (1.0, 1.0, 1.0)),
    "birefnet-general-lite": OnnxSpec(
        1024, IMAGENET_MEAN, IMAGENET_STD, Scale.UNIT, Activation.SIGMOID
    ),
    "birefnet-general": OnnxSpec(1024, IMAGENET_MEAN, IMAGENET_STD, Scale.UNIT, Activation.SIGMOID),
}


class OnnxSegmenter(Segmenter):
    """A rembg-compatible ONNX segmenter.

    Args:
        name: registry name (selects the :class:`OnnxSpec`).
        path: the .onnx file.
        spec: override the spec (custom models).
    """

    def __init__(self, name: str, path: str | Path, spec: OnnxSpec | None = None) -> None:
        self.name = name
        self.path = Path(path)
        self.spec = spec or SPECS[name]
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
        out = self.session.run([self.output_name], {self.input_name: self.preprocess(rgb)})[0]
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
