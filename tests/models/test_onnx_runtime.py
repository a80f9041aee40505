"""models/onnx_runtime: the one session cache and run helper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from productstudio.errors import BackendError, WeightsNotFoundError
from productstudio.models.onnx_runtime import get_session, run


class _Session:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def run(self, outputs: list[str] | None, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        if self.fail:
            raise RuntimeError("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : bad rank")
        return [feed["x"] * 2]


def test_run_returns_outputs_and_types_errors() -> None:
    x = np.ones((1, 3), np.float32)
    assert np.array_equal(run(_Session(False), {"x": x}, model="m.onnx")[0], x * 2)
    with pytest.raises(BackendError, match=r'model "m.onnx" failed in onnxruntime: .*bad rank'):
        run(_Session(True), {"x": x}, model="m.onnx")


def test_missing_file_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFoundError, match="PRODUCTSTUDIO_MODELS"):
        get_session(tmp_path / "nope.onnx")
