"""Image encoders for the condition fusion: the small trained CNN or frozen EfficientNet-Lite0.

``ConditionConfig(use_image=True, image_encoder=...)`` adds one image token to the fusion:

* ``cnn`` — a small CNN trained with the generator (:class:`~.fusion.ImageEncoder`), fed the
  source photo's pixels;
* ``efficientnet-lite0`` — the frozen ImageNet EfficientNet-Lite0 from
  ``../shared/weights/features`` (ONNX, 1280-d global-average-pooled features). The network is
  frozen, so its features are **precomputed** once per photo with onnxruntime (same
  preprocessing as the FID/KID feature network: bilinear resize to 224 px, ImageNet mean/std)
  and cached on disk; a small MLP in the fusion projects them to a token.

Because the FID/KID scorer in :mod:`productstudio.metrics.generation` is the same
EfficientNet-Lite0 by default, a model conditioned on these features must be scored with
another network (the evaluation refuses otherwise; see ``docs/generators/README.md``).

This module is light (numpy, Pillow); onnxruntime is imported when features are computed.

Example:
    >>> ImageEncoderKind("cnn"), ImageEncoderKind("efficientnet-lite0").feature_dim
    (<ImageEncoderKind.CNN: 'cnn'>, 1280)
"""

from __future__ import annotations

import hashlib
import logging
from enum import StrEnum
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError, WeightsNotFoundError

log = logging.getLogger(__name__)

EFFICIENTNET_FILE = "efficientnet_lite0_imagenet.onnx"
#: sha256 of the staged export (``../shared/README.md``); conditioning features must come from it
EFFICIENTNET_SHA256 = "60d47b9ead9deec2f5685d7e375eb497faaa36fd1f1a15f9071467ef61d2a39f"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageEncoderKind(StrEnum):
    """Which network turns the source photo into the fusion's image token."""

    CNN = "cnn"
    EFFICIENTNET = "efficientnet-lite0"

    @property
    def feature_dim(self) -> int:
        """Width of precomputed features (0 = the encoder reads pixels)."""
        return 1280 if self is ImageEncoderKind.EFFICIENTNET else 0

    @property
    def network_name(self) -> str:
        """The feature-network name used in FID/KID results (``""`` for the trained CNN)."""
        return "efficientnet_lite0_imagenet" if self is ImageEncoderKind.EFFICIENTNET else ""


def find_weights(file_name: str = EFFICIENTNET_FILE) -> Path | None:
    """``file_name`` under PRODUCTSTUDIO_MODELS / the model folders, else in a
    ``shared/weights/features`` folder beside any parent of this package (development)."""
    from productstudio.models.discovery import search_dirs

    dirs = list(search_dirs())
    for parent in Path(__file__).resolve().parents:
        dirs.append(parent.parent / "shared" / "weights" / "features")
    for d in dirs:
        if (d / file_name).is_file():
            return d / file_name
        if d.is_dir() and d.name != "features":
            hits = list(d.rglob(file_name))
            if hits:
                return hits[0]
    return None


def onnx_image_features(
    path: str | Path,
    images: NDArray[np.uint8],
    *,
    input_size: int = 224,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    output: str = "features",
    batch_size: int = 64,
) -> NDArray[np.float32]:
    """(N, H, W, 3) uint8 → (N, D) float32 features of an ONNX image network.

    Each image is resized (bilinear) to ``input_size``², scaled to [0, 1] and normalised with
    ``mean``/``std``; ``output`` names the graph output to read.

    Raises:
        InvalidParamsError: ``images`` is not (N, H, W, 3) uint8.
        WeightsNotFoundError: no such file.
    """
    from PIL import Image as PILImage

    from productstudio.models.onnx_runtime import get_session

    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise InvalidParamsError(
            f"features: need (N, H, W, 3) uint8, got {images.shape} {images.dtype}"
        )
    sess = get_session(path)
    inp = sess.get_inputs()[0].name
    m = np.array(mean, np.float32)[:, None, None]
    s = np.array(std, np.float32)[:, None, None]
    out = []
    for i in range(0, len(images), batch_size):
        chunk = images[i : i + batch_size]
        x = np.stack(
            [
                np.asarray(
                    PILImage.fromarray(im).resize((input_size,) * 2, PILImage.Resampling.BILINEAR),
                    np.float32,
                ).transpose(2, 0, 1)
                / 255.0
                for im in chunk
            ]
        )
        x = (x - m) / s
        out.append(sess.run([output], {inp: x.astype(np.float32)})[0].reshape(len(chunk), -1))
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 1), np.float32)


class EfficientNetFeatures:
    """Frozen EfficientNet-Lite0 features for conditioning, cached per photo.

    ``__call__(images)`` returns (N, 1280) float32, cached as
    ``cache_dir/efficientnet_lite0_<hash of the pixels>.npz`` when a cache folder is given.

    Raises:
        WeightsNotFoundError: the ONNX file is missing or is not the staged export (its
            sha256 differs: a model trained on one network cannot use another's features).
    """

    name = "efficientnet_lite0_imagenet"
    dim = 1280

    def __init__(self, path: str | Path | None = None, cache_dir: str | Path | None = None) -> None:
        p = Path(path) if path is not None else find_weights(EFFICIENTNET_FILE)
        if p is None or not p.is_file():
            raise WeightsNotFoundError(
                f"{EFFICIENTNET_FILE} not found: put it under PRODUCTSTUDIO_MODELS "
                "(it is staged in ../shared/weights/features)"
            )
        digest = hashlib.sha256(p.read_bytes()).hexdigest()
        if digest != EFFICIENTNET_SHA256:
            raise WeightsNotFoundError(
                f"{p} has sha256 {digest[:12]}…, not the EfficientNet-Lite0 export the image "
                f"conditioning was built on ({EFFICIENTNET_SHA256[:12]}…): use the file from "
                "../shared/weights/features"
            )
        self.path = p
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None

    def __call__(self, images: NDArray[np.uint8]) -> NDArray[np.float32]:
        if len(images) == 0:
            return np.zeros((0, self.dim), np.float32)
        cache: Path | None = None
        if self.cache_dir is not None:
            key = hashlib.sha1(np.ascontiguousarray(images).tobytes()).hexdigest()[:16]
            cache = self.cache_dir / f"efficientnet_lite0_{key}.npz"
            if cache.is_file():
                with np.load(cache) as z:
                    return np.asarray(z["features"], np.float32)
        feats = onnx_image_features(self.path, images)
        if cache is not None:
            from productstudio.models.data import save_npz

            save_npz(cache, features=feats)
            log.info("cached EfficientNet-Lite0 features of %d photos in %s", len(images), cache)
        return feats


_EXTRACTORS: dict[str, EfficientNetFeatures] = {}


def get_image_features(kind: ImageEncoderKind | str) -> EfficientNetFeatures:
    """The process-wide frozen feature extractor for ``kind`` (loaded once).

    Raises:
        InvalidParamsError: ``kind`` reads pixels (the trained CNN has no frozen features).
    """
    k = ImageEncoderKind(kind)
    if k is not ImageEncoderKind.EFFICIENTNET:
        raise InvalidParamsError(f"image encoder '{k}' has no precomputed features")
    if k.value not in _EXTRACTORS:
        from productstudio.settings import get_settings

        _EXTRACTORS[k.value] = EfficientNetFeatures(
            cache_dir=get_settings().cache_dir / "image_features"
        )
    return _EXTRACTORS[k.value]
