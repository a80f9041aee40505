"""The one onnxruntime helper: shared sessions (one per model file and thread count per
process) and :func:`run` (onnxruntime's untyped errors become a :class:`BackendError` that
names the model file)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from productstudio.errors import BackendError, WeightsNotFoundError, require

log = logging.getLogger(__name__)

_SESSIONS: dict[tuple[str, int], Any] = {}
_LOCK = threading.Lock()


def get_session(path: str | Path, threads: int | None = None) -> Any:
    """A cached ``onnxruntime.InferenceSession`` for ``path`` on the CPU.

    Args:
        path: the .onnx file.
        threads: intra-op threads (default: ``Settings.thread_count()``).

    Raises:
        WeightsNotFoundError: no such file. BackendError: onnxruntime cannot load it.
        MissingDependencyError: onnxruntime is not installed.
    """
    require("onnxruntime")  # a core dependency: the hint reinstalls productstudio
    import onnxruntime as ort

    from productstudio.settings import get_settings

    p = Path(path).expanduser()
    if not p.is_file():
        raise WeightsNotFoundError(
            f'model file "{p}" not found. Point --model at an existing .onnx file, or set '
            "PRODUCTSTUDIO_MODELS to the folder that holds it."
        )
    n = threads or get_settings().thread_count()
    key = (str(p.resolve()), n)
    with _LOCK:
        sess = _SESSIONS.get(key)
        if sess is None:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = n
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            try:
                sess = ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own untyped errors
                raise BackendError(f'onnxruntime cannot load "{p}": {exc}') from exc
            _SESSIONS[key] = sess
            log.debug("loaded ONNX session %s with %d threads", p, n)
    return sess


def run(
    session: Any,
    feed: Mapping[str, np.ndarray],
    *,
    model: str | Path,
    outputs: Sequence[str] | None = None,
) -> list[np.ndarray]:
    """``session.run(outputs, feed)``, with onnxruntime's errors as :class:`BackendError`.

    Args:
        session: an ``InferenceSession`` (:func:`get_session`).
        feed: input name → array.
        model: what the message names (the model file, or a backend name).
        outputs: output names (``None``: all of them).

    Raises:
        BackendError: ``'<kind> "<model>" failed: <onnxruntime's message>'``.
    """
    try:
        result = session.run(None if outputs is None else list(outputs), dict(feed))
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise BackendError(f'model "{model}" failed in onnxruntime: {exc}') from exc
    return list(result)


def clear_sessions() -> None:
    """Drop every cached session (tests, memory pressure)."""
    with _LOCK:
        _SESSIONS.clear()
