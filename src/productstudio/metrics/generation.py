"""Generation metrics: FID, KID, k-NN precision/recall on a NAMED feature network, and an
attribute classifier for conditional accuracy.

FID/KID values depend on the feature network, so every result carries its name
(``efficientnet_lite0_imagenet`` by default — EfficientNet-Lite0 ONNX, 1280-d pooled features).
They are comparable only with numbers computed on the same network; an Inception ONNX from a
local path can be used instead (:meth:`FeatureNetwork.from_onnx`).

Example:
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=(200, 8))
    >>> round(fid(a, a), 6)
    0.0
    >>> bool(fid(a, a + 3.0) > 70)
    True
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError, WeightsNotFoundError
from productstudio.models.conditioning.image_features import (
    EFFICIENTNET_FILE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    find_weights,
    onnx_image_features,
)

log = logging.getLogger(__name__)


def _check_feats(a: NDArray[np.floating], b: NDArray[np.floating], min_n: int = 2) -> None:
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise InvalidParamsError(
            f"features must be (N, D) with the same D, got {a.shape} and {b.shape}"
        )
    if len(a) < min_n or len(b) < min_n:
        raise InvalidParamsError(
            f"need at least {min_n} feature rows per set, got {len(a)} and {len(b)}"
        )


def fid(a: NDArray[np.floating], b: NDArray[np.floating]) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D).

    ``‖μa−μb‖² + tr(Σa + Σb − 2(Σa Σb)^½)``; the trace of the square root comes from the
    singular values of ``Xa Xbᵀ`` when N ≤ D (exact, cheap) and from the eigenvalues of
    ``√Σa Σb √Σa`` otherwise. 0 for a set with itself.
    """
    _check_feats(a, b)
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu = a64.mean(0) - b64.mean(0)
    xa, xb = a64 - a64.mean(0), b64 - b64.mean(0)
    na, nb, d = len(a64), len(b64), a64.shape[1]
    tr_a, tr_b = float((xa * xa).sum()) / (na - 1), float((xb * xb).sum()) / (nb - 1)
    if min(na, nb) <= d:
        # Σa Σb shares its non-zero eigenvalues with (Xa Xbᵀ)(Xb Xaᵀ)/((na-1)(nb-1)), so
        # tr √(Σa Σb) is the nuclear norm of Xa Xbᵀ/√((na-1)(nb-1)): exact and cheap when N < D.
        m = xa @ xb.T / np.sqrt((na - 1) * (nb - 1))
        tr_sqrt = float(np.linalg.svd(m, compute_uv=False).sum())
    else:
        sa, sb = xa.T @ xa / (na - 1), xb.T @ xb / (nb - 1)
        w, v = np.linalg.eigh(sa)
        sqrt_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
        m = sqrt_a @ sb @ sqrt_a
        ev = np.linalg.eigvalsh((m + m.T) / 2)
        tr_sqrt = float(np.sqrt(np.clip(ev, 0, None)).sum())
    val = float(mu @ mu + tr_a + tr_b - 2 * tr_sqrt)
    return max(val, 0.0) if val > -1e-6 else val


def _poly_mmd2_unbiased(x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = len(x), len(y)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kid(
    a: NDArray[np.floating],
    b: NDArray[np.floating],
    *,
    subsets: int = 50,
    subset_size: int = 200,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD² with the cubic polynomial kernel, averaged over
    random subsets. Returns ``(mean, std)``; the estimator is unbiased, so two samples of the same
    distribution give values scattered around 0 (they can be negative)."""
    _check_feats(a, b)
    if subsets < 1:
        raise InvalidParamsError(f"kid: subsets must be >= 1, got {subsets}")
    rng = np.random.default_rng(seed)
    k = min(subset_size, len(a), len(b))
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    vals = [
        _poly_mmd2_unbiased(
            a64[rng.choice(len(a64), k, replace=False)], b64[rng.choice(len(b64), k, replace=False)]
        )
        for _ in range(subsets)
    ]
    return float(np.mean(vals)), float(np.std(vals))


def _pairwise(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.clip(d, 0, None))


def precision_recall(
    real: NDArray[np.floating], fake: NDArray[np.floating], k: int = 3
) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN balls.

    Precision = share of fake features inside some real feature's k-NN ball; recall = share of
    real features inside some fake feature's ball. Both in [0, 1].
    """
    _check_feats(real, fake, min_n=k + 1)
    r, f = np.asarray(real, np.float64), np.asarray(fake, np.float64)

    def radii(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.sort(_pairwise(x, x), axis=1)[:, k]  # column 0 is the point itself

    rr, rf = radii(r), radii(f)
    d_fr = _pairwise(f, r)
    precision = float((d_fr <= rr[None, :]).any(1).mean())
    recall = float((rf[None, :] >= d_fr.T).any(1).mean())
    return precision, recall


class FeatureExtractor(Protocol):
    """What scores FID/KID: a name (stored with every result) and images → (N, D) features."""

    name: str

    def __call__(self, images: NDArray[np.uint8]) -> NDArray[np.float32]: ...


@dataclass
class FeatureNetwork:
    """An ONNX image feature extractor with a name (the name goes into every FID/KID result)."""

    name: str
    path: Path
    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    output: str = "features"
    batch_size: int = 64

    @classmethod
    def efficientnet_lite0(cls, path: str | Path | None = None) -> FeatureNetwork:
        """EfficientNet-Lite0 from ``path``, PRODUCTSTUDIO_MODELS or ``../shared/weights``.

        Raises:
            WeightsNotFoundError: the ONNX file is nowhere to be found.
        """
        p = Path(path) if path is not None else find_weights(EFFICIENTNET_FILE)
        if p is None or not p.is_file():
            raise WeightsNotFoundError(
                f"{EFFICIENTNET_FILE} not found: pass its path or put it under PRODUCTSTUDIO_MODELS"
            )
        return cls("efficientnet_lite0_imagenet", p)

    @classmethod
    def from_onnx(
        cls,
        path: str | Path,
        *,
        name: str | None = None,
        input_size: int = 299,
        output: str | None = None,
    ) -> FeatureNetwork:
        """Any ONNX feature network (e.g. an Inception-v3 pool3 export the user has locally)."""
        p = Path(path)
        if not p.is_file():
            raise WeightsNotFoundError(f"feature network {p} not found")
        from productstudio.models.onnx_runtime import get_session

        outs = [o.name for o in get_session(p).get_outputs()]
        return cls(name or p.stem, p, input_size=input_size, output=output or outs[0])

    def __call__(self, images: NDArray[np.uint8]) -> NDArray[np.float32]:
        """(N, H, W, 3) uint8 → (N, D) float32 features (bilinear resize to the input size)."""
        return onnx_image_features(
            self.path,
            images,
            input_size=self.input_size,
            mean=self.mean,
            std=self.std,
            output=self.output,
            batch_size=self.batch_size,
        )


class AttributeClassifier:
    """Softmax regression on frozen features, trained on real photos of the train split.

    ``fit(features, labels)`` with integer labels (−1 = unknown, ignored); ``predict``;
    ``accuracy(features, labels)``. Deterministic (full-batch L-BFGS from zeros).
    """

    def __init__(self, l2: float = 1e-3, steps: int = 200) -> None:
        self.l2 = l2
        self.steps = steps
        self.mean: NDArray[np.float32] | None = None
        self.std: NDArray[np.float32] | None = None
        self.weights: Any = None
        self.n_classes = 0

    def fit(
        self, features: NDArray[np.floating], labels: NDArray[np.integer]
    ) -> AttributeClassifier:
        import torch

        keep = labels >= 0
        x = np.asarray(features, np.float32)[keep]
        y = np.asarray(labels)[keep]
        if len(x) == 0:
            raise InvalidParamsError("AttributeClassifier.fit: no labelled rows")
        self.mean, self.std = x.mean(0), x.std(0) + 1e-6
        xt = torch.from_numpy((x - self.mean) / self.std)
        yt = torch.from_numpy(y.astype(np.int64))
        self.n_classes = int(y.max()) + 1
        w = torch.zeros(x.shape[1] + 1, self.n_classes, requires_grad=True)
        opt = torch.optim.LBFGS(
            [w], lr=0.5, max_iter=self.steps, history_size=20, line_search_fn="strong_wolfe"
        )
        ones = torch.ones(len(xt), 1)

        def closure() -> torch.Tensor:
            opt.zero_grad()
            logits = torch.cat([xt, ones], 1) @ w
            loss = torch.nn.functional.cross_entropy(logits, yt) + self.l2 * (w[:-1] ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        self.weights = w.detach().numpy()
        return self

    def predict(self, features: NDArray[np.floating]) -> NDArray[np.int64]:
        if self.weights is None or self.mean is None or self.std is None:
            raise InvalidParamsError("AttributeClassifier: call fit first")
        x = (np.asarray(features, np.float32) - self.mean) / self.std
        logits = np.concatenate([x, np.ones((len(x), 1), np.float32)], 1) @ self.weights
        return np.asarray(logits.argmax(1), np.int64)

    def accuracy(self, features: NDArray[np.floating], labels: NDArray[np.integer]) -> float:
        keep = np.asarray(labels) >= 0
        if not keep.any():
            return float("nan")
        return float((self.predict(np.asarray(features)[keep]) == np.asarray(labels)[keep]).mean())


class PixelAttributeClassifier:
    """A small CNN trained here on the real train-split pixels, one softmax head per attribute.

    The feature-probe :class:`AttributeClassifier` sees ImageNet features that react to texture and
    sharpness; this one learns from the 64 px product photos themselves, so blurry but
    on-category samples are judged by their shape and colour. ``fit(images, {name: labels})``
    with uint8 (N, S, S, 3) images and integer labels (−1 = unknown, ignored). Deterministic for a
    seed (single-threaded CPU).
    """

    def __init__(
        self, epochs: int = 8, batch_size: int = 64, lr: float = 2e-3, seed: int = 0
    ) -> None:
        if epochs < 1 or batch_size < 1 or lr <= 0:
            raise InvalidParamsError("PixelAttributeClassifier: epochs, batch_size, lr must be > 0")
        self.epochs, self.batch_size, self.lr, self.seed = epochs, batch_size, lr, seed
        self.net: Any = None
        self.names: tuple[str, ...] = ()

    def fit(
        self, images: NDArray[np.uint8], labels: Mapping[str, NDArray[np.integer]]
    ) -> PixelAttributeClassifier:
        import torch
        from torch import nn

        if not labels or any(len(v) != len(images) for v in labels.values()):
            raise InvalidParamsError("PixelAttributeClassifier.fit: one label per image needed")
        torch.manual_seed(self.seed)
        self.names = tuple(labels)
        sizes = [max(int(np.max(v)) + 1, 1) for v in labels.values()]
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in (32, 64, 128, 128):
            layers += [nn.Conv2d(c_in, c_out, 3, 2, 1), nn.GroupNorm(8, c_out), nn.SiLU()]
            c_in = c_out
        body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2))
        self.net = nn.ModuleDict(
            {"body": body, "heads": nn.ModuleList(nn.Linear(c_in, n) for n in sizes)}
        )
        from productstudio.models.generators.base import from_uint8

        x = from_uint8(images)
        ys = [torch.from_numpy(np.asarray(v, np.int64)) for v in labels.values()]
        opt = torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=1e-4)
        g = torch.Generator().manual_seed(self.seed)
        steps = self.epochs * max(1, len(x) // self.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, self.lr, total_steps=steps)
        self.net.train()
        for _ in range(steps):
            idx = torch.randint(0, len(x), (self.batch_size,), generator=g)
            xb = x[idx]
            flip = torch.rand(len(idx), generator=g) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            h = self.net["body"](xb)
            loss = sum(
                nn.functional.cross_entropy(head(h), y[idx], ignore_index=-1)
                for head, y in zip(self.net["heads"], ys, strict=True)
                if bool((y[idx] >= 0).any())
            )
            opt.zero_grad(set_to_none=True)
            if isinstance(loss, torch.Tensor):
                loss.backward()
                opt.step()
            sched.step()
        self.net.eval()
        return self

    def features(self, images: NDArray[np.uint8]) -> NDArray[np.float32]:
        """(N, S, S, 3) uint8 → (N, 128) pooled features of the CNN body (before the heads)."""
        import torch

        from productstudio.models.generators.base import from_uint8

        if self.net is None:
            raise InvalidParamsError("PixelAttributeClassifier: call fit first")
        with torch.no_grad():
            out = [
                self.net["body"](from_uint8(images[i : i + 256])).numpy()
                for i in range(0, len(images), 256)
            ]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 128), np.float32)

    def predict(self, images: NDArray[np.uint8]) -> dict[str, NDArray[np.int64]]:
        import torch

        from productstudio.models.generators.base import from_uint8

        if self.net is None:
            raise InvalidParamsError("PixelAttributeClassifier: call fit first")
        outs: dict[str, list[NDArray[np.int64]]] = {n: [] for n in self.names}
        with torch.no_grad():
            for i in range(0, len(images), 256):
                h = self.net["body"](from_uint8(images[i : i + 256]))
                for n, head in zip(self.names, self.net["heads"], strict=True):
                    outs[n].append(head(h).argmax(1).numpy().astype(np.int64))
        return {n: np.concatenate(v) if v else np.zeros(0, np.int64) for n, v in outs.items()}

    def accuracy(
        self, images: NDArray[np.uint8], labels: Mapping[str, NDArray[np.integer]]
    ) -> dict[str, float]:
        pred = self.predict(images)
        acc = {}
        for n, y in labels.items():
            keep = np.asarray(y) >= 0
            acc[n] = float((pred[n][keep] == np.asarray(y)[keep]).mean()) if keep.any() else np.nan
        return acc


class PixelCNNFeatures:
    """A FID/KID feature network that no generator saw: the body of a
    :class:`PixelAttributeClassifier` trained here on the real train photos (128-d).

    Used to score models whose conditioning uses the default scorer (EfficientNet-Lite0), where
    FID/KID on that network would reward copying its features. Values are comparable only
    between rows scored by the same trained CNN (same train split, seed and epochs).
    """

    def __init__(self, classifier: PixelAttributeClassifier, name: str = "pixel_cnn_real_train"):
        if classifier.net is None:
            raise InvalidParamsError("PixelCNNFeatures: the classifier is not fitted")
        self.classifier = classifier
        self.name = name

    def __call__(self, images: NDArray[np.uint8]) -> NDArray[np.float32]:
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise InvalidParamsError(
                f"features: need (N, H, W, 3) uint8, got {images.shape} {images.dtype}"
            )
        return self.classifier.features(images)
