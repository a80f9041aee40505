"""INPAINTERS registry: classical, exemplar (ours) and ONNX (LaMa signature) backends."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from productstudio.errors import BackendError, InvalidParamsError, UnknownBackendError
from productstudio.models.inpainters import (
    INPAINTERS,
    ExemplarConfig,
    ExemplarInpainter,
    OnnxInpainter,
    exemplar_fill,
    load_inpainter,
)
from productstudio.settings import get_settings
from rgba_photos import real_rgba

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _stripes(h: int = 96, w: int = 128) -> np.ndarray:
    """A periodic texture: exemplar methods can continue it, diffusion cannot."""
    x = np.mgrid[0:h, 0:w][1]
    v = ((x // 6) % 2) * 180 + 40
    return np.dstack([v, v // 2 + 30, 255 - v]).astype(np.uint8)


def _hole(h: int = 96, w: int = 128) -> np.ndarray:
    m = np.zeros((h, w), np.float32)
    m[40:56, 50:80] = 1
    return m


def _mae(a: np.ndarray, b: np.ndarray, m: np.ndarray) -> float:
    return float(np.abs(a[m > 0].astype(int) - b[m > 0]).mean())


def test_registry_names_and_auto_without_weights() -> None:
    assert {"telea", "ns", "exemplar", "lama", "migan"} <= set(INPAINTERS.names())
    assert load_inpainter("auto").name == "telea"  # measured best classical (benchmarks)
    with pytest.raises(UnknownBackendError):
        load_inpainter("nope")


@pytest.mark.parametrize("name", ["telea", "ns", "exemplar"])
def test_backends_exact_outside_hole(name: str) -> None:
    img = np.dstack([_stripes(), np.full((96, 128), 200, np.uint8)])
    m = _hole()
    out = load_inpainter(name).inpaint(img, m, dilate=1)
    grown = cv2.dilate((m > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert out.shape == img.shape and out.dtype == img.dtype
    assert np.array_equal(out[~grown], img[~grown])
    assert np.array_equal(out[..., 3], img[..., 3])


def test_exemplar_continues_texture_better_than_telea() -> None:
    img, m = _stripes(), _hole()
    over = img.copy()
    over[m > 0] = 0
    ex = load_inpainter("exemplar").inpaint(over, m)
    te = load_inpainter("telea").inpaint(over, m)
    assert _mae(ex, img, m) < 0.5 * _mae(te, img, m)


def test_exemplar_is_deterministic_and_16bit_safe() -> None:
    img = _stripes().astype(np.uint16) * 257
    a = ExemplarInpainter().inpaint(img, _hole())
    b = ExemplarInpainter().inpaint(img, _hole())
    assert a.dtype == np.uint16 and np.array_equal(a, b)
    with pytest.raises(InvalidParamsError):
        ExemplarConfig(patch=4)


def test_exemplar_without_any_source_patch_falls_back() -> None:
    """A hole covering almost everything still returns a filled image."""
    img = np.random.default_rng(0).random((12, 12, 3)).astype(np.float32)
    hole = np.ones((12, 12), bool)
    hole[0, 0] = False
    out = exemplar_fill(img, hole)
    assert out.shape == img.shape and np.isfinite(out).all()


def test_real_photo_object_removal_from_a_box() -> None:
    """A drawn magenta box on a real photo is removed by every classical backend."""
    img = np.ascontiguousarray(real_rgba(long_side=256)[..., :3])
    m = np.zeros(img.shape[:2], np.float32)
    m[90:110, 60:120] = 1
    over = img.copy()
    over[m > 0] = (255, 0, 255)
    for name in ("telea", "exemplar"):
        out = load_inpainter(name).inpaint(over, m)
        assert _mae(out, img, m) < 0.35 * _mae(over, img, m), name


# -- ONNX plumbing with a tiny random-weight model of LaMa's signature -----------------


def _export_tiny(path: Path, fixed: int | None = None) -> object:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(4, 3, 3, padding=1)

        def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            pred = torch.sigmoid(self.conv(torch.cat([image * (1 - mask), mask], 1)))
            return image * (1 - mask) + pred * mask

    torch.manual_seed(0)
    model = Tiny().eval()
    s = fixed or 32
    args = (torch.rand(1, 3, s, s), torch.zeros(1, 1, s, s))
    dyn = (
        None
        if fixed
        else {"image": {2: "h", 3: "w"}, "mask": {2: "h", 3: "w"}, "output": {2: "h", 3: "w"}}
    )
    torch.onnx.export(
        model,
        args,
        str(path),
        input_names=["image", "mask"],
        output_names=["output"],
        dynamic_axes=dyn,
        opset_version=17,
        dynamo=False,
    )
    return model


def test_onnx_lama_signature_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Export → discovery (auto picks 'lama') → inpaint matches the torch model in the hole."""
    import torch

    model = _export_tiny(tmp_path / "lama_fp32.onnx")
    monkeypatch.setenv("PRODUCTSTUDIO_MODELS", str(tmp_path))
    get_settings.cache_clear()
    inp = load_inpainter("auto")
    assert isinstance(inp, OnnxInpainter) and inp.name == "lama"
    img = _stripes(40, 48)
    m = np.zeros((40, 48), np.float32)
    m[10:20, 10:30] = 1
    out = inp.inpaint(img, m, margin=100)  # whole image: margin covers it, 40x48 is a multiple of 8
    assert np.array_equal(out[m == 0], img[m == 0])
    with torch.no_grad():
        ref = (
            model(  # type: ignore[operator]
                torch.from_numpy(img.transpose(2, 0, 1)[None] / 255.0).float(),
                torch.from_numpy(m[None, None]),
            )[0]
            .numpy()
            .transpose(1, 2, 0)
        )
    ref8 = np.clip(np.rint(ref * 255), 0, 255).astype(np.uint8)
    assert np.abs(out[m > 0].astype(int) - ref8[m > 0]).max() <= 1


def test_onnx_fixed_size_model_is_resized_and_pasted(tmp_path: Path) -> None:
    _export_tiny(tmp_path / "lama.onnx", fixed=64)
    inp = load_inpainter(str(tmp_path / "lama.onnx"))
    assert inp.size.fixed == 64
    img = _stripes(150, 210)
    m = np.zeros((150, 210), np.float32)
    m[60:80, 40:170] = 1
    out = inp.inpaint(img, m)
    assert out.shape == img.shape and np.array_equal(out[m == 0], img[m == 0])


def test_onnx_wrong_signature_is_a_backend_error(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    net = torch.nn.Conv2d(3, 3, 1)
    p = tmp_path / "lama.onnx"
    torch.onnx.export(net, (torch.rand(1, 3, 8, 8),), str(p), input_names=["image"], dynamo=False)
    with pytest.raises(BackendError):
        OnnxInpainter("lama", p)
