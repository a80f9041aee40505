"""Classical segmenter on white products: white parts kept, holes and shadows not invented.

The white-on-white numbers of the whole studio set (59 objects x white / grey sweeps) are in
``benchmarks/classical.py``; these tests pin the behaviour on a few cases each.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import shared_path
from productstudio.imaging import ImageFormat, encode_image, load_image
from productstudio.metrics.segmentation import iou
from productstudio.models.segmenters import ClassicalSegmenter
from productstudio.models.segmenters.base import Segmenter
from productstudio.models.segmenters.classical import ClassicalConfig


def _sweep(
    size: int, rng: np.random.Generator, top: float = 248.0, drop: float = 16.0
) -> np.ndarray:
    """A white studio sweep: lighter at the top, a little vignetting (float32 RGB)."""
    y = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, size, dtype=np.float32)[None, :]
    base = (top - drop * y) * (1.0 - 0.2 * ((x - 0.5) ** 2 + (y - 0.5) ** 2))
    return np.repeat(base[..., None], 3, axis=2) + rng.uniform(-1.0, 1.0, 3).astype(np.float32)


def _shoot(
    bg: np.ndarray, obj: np.ndarray, alpha: np.ndarray, rng: np.random.Generator, shadow: bool
) -> np.ndarray:
    """Composite ``obj`` over ``bg`` with a soft contact shadow, sensor noise and JPEG."""
    size = bg.shape[0]
    if shadow:
        ys, xs = np.nonzero(alpha > 0.5)
        sh = np.zeros(alpha.shape, np.float32)
        foot = max(2, (ys.max() - ys.min()) // 12)
        sh[ys.max() - foot : ys.max() + foot, xs.min() : xs.max() + 1] = 1.0
        sh = cv2.GaussianBlur(sh, (0, 0), size / 32)
        bg = bg * (1.0 - 0.35 * (sh / (sh.max() + 1e-6)))[..., None]
    a = alpha[..., None]
    out = obj * a + bg * (1.0 - a) + rng.normal(0, 2.0, bg.shape).astype(np.float32)
    out8 = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return load_image(encode_image(out8, ImageFormat.JPEG, quality=90)).pixels


def _white_carton(seed: int = 0, size: int = 320) -> tuple[np.ndarray, np.ndarray]:
    """A white carton (lit front, shaded side, white cap) with one coloured label band on a
    white sweep, and its mask. The front is as white as the sweep behind it."""
    rng = np.random.default_rng(seed)
    bg = _sweep(size, rng)
    obj = np.zeros_like(bg)
    mask = np.zeros((size, size), np.uint8)
    x0, x1, x2, y0, y1 = 100, 190, 230, 90, 280
    front = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.int32)
    side = np.array([[x1, y0], [x2, y0 - 18], [x2, y1 - 18], [x1, y1]], np.int32)
    cap = np.array([[130, y0], [160, y0], [160, y0 - 22], [130, y0 - 22]], np.int32)
    for poly, grey in ((front, 250.0), (side, 226.0), (cap, 244.0)):
        cv2.fillPoly(mask, [poly], 255)
        cv2.fillPoly(obj, [poly], (grey, grey, grey - 1.0))
    obj[170:215, x0:x1] = (40.0, 120.0, 60.0)  # the label
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (3, 3), 0)
    return _shoot(bg, obj, alpha, rng, shadow=True), mask


def test_white_carton_on_white_sweep_is_kept_whole() -> None:
    """The white front, side and cap stay with the coloured label; the shadow does not.
    Measured: IoU 0.946 with the recovery, 0.662 without (the white front was lost)."""
    img, gt = _white_carton()
    seg = ClassicalSegmenter()
    out = seg.segment(img)
    assert iou(out.mask, gt) >= 0.93
    assert out.mask[120:160, 110:180].mean() > 0.95  # the white front above the label
    assert out.mask[295:, :].max() < 0.5  # the contact shadow below the carton
    assert seg.last_stats["recovered"] > 0.2
    off = ClassicalSegmenter(ClassicalConfig(white_parts=False)).segment(img)
    assert iou(off.mask, gt) < 0.8  # without the recovery the carton is cut (measured 0.662)


def _whitened(
    name: str, size: int = 400, seed: int = 0, white: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """A real DIS5K object (../shared) recoloured to near-white with its own shading (or in
    its own colours), on a white sweep with a contact shadow, and its ground-truth mask."""
    rng = np.random.default_rng(seed)
    photo = load_image(shared_path("data", "cutout", "images", f"{name}.jpg")).pixels
    gt = load_image(shared_path("data", "cutout", "masks", f"{name}.png")).pixels[..., 0]
    ys, xs = np.nonzero(gt > 127)
    crop = photo[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    m = gt[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    s = 0.7 * size / max(m.shape)
    wh = (max(1, round(m.shape[1] * s)), max(1, round(m.shape[0] * s)))
    crop = cv2.resize(crop, wh, interpolation=cv2.INTER_AREA)
    m = cv2.resize(m, wh, interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(crop.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    lab[..., 0] = 100.0 - 0.2 * (100.0 - lab[..., 0]) - np.linspace(0, 5, wh[0])[None, :]
    lab[..., 1:] *= 0.1
    white = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255.0 if white else crop.astype(np.float32)
    obj = np.zeros((size, size, 3), np.float32)
    alpha = np.zeros((size, size), np.float32)
    oy, ox = size - wh[1] - size // 10, (size - wh[0]) // 2
    obj[oy : oy + wh[1], ox : ox + wh[0]] = white
    alpha[oy : oy + wh[1], ox : ox + wh[0]] = m / 255.0
    img = _shoot(_sweep(size, rng), obj, alpha, rng, shadow=True)
    return img, (alpha > 0.5).astype(np.uint8) * 255


# IoU measured (white_parts on / off): bench 0.443 / 0.001, axe 0.714 / 0.001, deskchair
# 0.323 / 0.000 -- far from solved (thin slats and legs of near-white objects whose outline
# barely differs from the sweep), but no longer lost entirely; floors = measured - 0.05
WHITE_FLOORS = {
    "dis_te1_bench_22653754305": 0.38,
    "dis_te1_axe_45673228154": 0.66,
    "dis_te2_deskchair_4060650962": 0.27,
}


@pytest.mark.parametrize("name", sorted(WHITE_FLOORS))
def test_white_real_objects_on_white_sweep(name: str) -> None:
    """Real object shapes, whitened: part of the object is found (it was lost entirely)."""
    img, gt = _whitened(name)
    assert iou(ClassicalSegmenter().segment(img).mask, gt) >= WHITE_FLOORS[name]


@pytest.mark.parametrize("name", sorted(WHITE_FLOORS))
def test_recovery_does_not_hurt_coloured_objects(name: str) -> None:
    """The same real objects in their own colours on the white sweep: the recovery costs
    nothing (IoU with it at least that without it, within 0.005)."""
    img, gt = _whitened(name, white=False)
    on = iou(ClassicalSegmenter().segment(img).mask, gt)
    off = iou(ClassicalSegmenter(ClassicalConfig(white_parts=False)).segment(img).mask, gt)
    assert on >= off - 0.005


def test_ring_hole_stays_open() -> None:
    """A white ring on a white sweep: the ring is found, the background inside it is not.
    Measured IoU 0.70: the ring's shaded right side has the sweep's own grey (ΔE < 1) and is
    lost; the hole stays open."""
    rng = np.random.default_rng(3)
    size = 320
    bg = _sweep(size, rng)
    mask = np.zeros((size, size), np.uint8)
    cv2.circle(mask, (160, 170), 90, 255, -1)
    cv2.circle(mask, (160, 170), 45, 0, -1)
    _, xx = np.mgrid[0:size, 0:size]
    shade = 254.0 - 18.0 * (xx - 70) / 180.0  # lit from the left: brighter, then darker
    obj = np.repeat(shade[..., None], 3, axis=2).astype(np.float32)
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (3, 3), 0)
    img = _shoot(bg, obj, alpha, rng, shadow=False)
    out = ClassicalSegmenter().segment(img).mask
    assert iou(out, mask) >= 0.65
    assert out[150:190, 140:180].max() < 0.5


def test_shadow_on_coloured_background_not_added() -> None:
    """A dark product's soft shadow on a blue gradient stays background."""
    rng = np.random.default_rng(5)
    size = 320
    t = np.linspace(0, 1, size, dtype=np.float32)
    grad = (0.6 * t[None, :] + 0.4 * t[:, None])[..., None]
    bg = np.array([232.0, 240.0, 250.0]) * (1 - grad) + np.array([176.0, 198.0, 232.0]) * grad
    mask = np.zeros((size, size), np.uint8)
    cv2.rectangle(mask, (110, 80), (210, 250), 255, -1)
    obj = np.full((size, size, 3), (90.0, 60.0, 40.0), np.float32)
    alpha = mask.astype(np.float32) / 255.0
    img = _shoot(bg.astype(np.float32), obj, alpha, rng, shadow=True)
    out = ClassicalSegmenter().segment(img).mask
    assert iou(out, mask) >= 0.97
    assert out[262:, :].max() < 0.5


@settings(max_examples=12, deadline=None)
@given(
    top=st.floats(215.0, 255.0),
    drop=st.floats(0.0, 30.0),
    noise=st.floats(0.5, 3.0),
    quality=st.integers(70, 95),
    seed=st.integers(0, 2**16),
)
def test_empty_sweep_stays_empty(
    top: float, drop: float, noise: float, quality: int, seed: int
) -> None:
    """Property: on an empty sweep (any brightness, fall-off, noise, JPEG) nothing is found:
    the white-part recovery never turns the background itself into a product."""
    rng = np.random.default_rng(seed)
    bg = _sweep(160, rng, top=top, drop=drop) + rng.normal(0, noise, (160, 160, 3))
    img8 = np.clip(np.rint(bg), 0, 255).astype(np.uint8)
    img = load_image(encode_image(img8, ImageFormat.JPEG, quality=quality)).pixels
    seg = ClassicalSegmenter()
    assert seg.segment(img).mask.max() < 0.5


def test_recovery_off_and_with_prior_changes_nothing() -> None:
    """``white_parts=False`` and the learned-prior path (hybrid) do not run the recovery."""
    img, _ = _white_carton(seed=1)
    seg = ClassicalSegmenter(ClassicalConfig(white_parts=False))
    seg.segment(img)
    assert seg.last_stats["recovered"] == 0.0
    on = ClassicalSegmenter()
    prior = np.zeros(img.shape[:2], np.float32)
    prior[80:280, 100:230] = 1.0
    on.refine(img, on.prepare(img), prior=prior)
    assert on.last_stats["recovered"] == 0.0


# GroceryStoreDataset packshots (MIT) whose white caps/panels the colour model alone lost.
# No human masks exist: the reference is IS-Net's mask, which is itself half-transparent on
# the Tropicana cartons (issue 10 item 1). Agreement measured (recovery on / off): Tropicana
# apple 0.657 / 0.597, grapefruit 0.508 / 0.489, Yoggi 0.960 / 0.960, Alpro 0.893 / 0.862.
# The white front panels of the Tropicana cartons are still lost (no visible outline on a
# clipped-white background). Floors = measured - 0.05; the two the recovery changes most.
PACKSHOT_FLOORS = {
    "grocery_iconic_tropicana_apple_juice": 0.6,
    "grocery_iconic_alpro_blueberry_soyghurt": 0.84,
}


@pytest.fixture(scope="module")
def isnet() -> Segmenter:
    from productstudio.models.segmenters import load_segmenter

    weights = shared_path("weights", "segmentation", "isnet_general_quint8.onnx")
    return load_segmenter(str(weights))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PACKSHOT_FLOORS))
def test_white_packshots_agree_with_isnet(name: str, isnet: Segmenter) -> None:
    """Real white cartons on white: the classical cut-out agrees with IS-Net's."""
    img = load_image(shared_path("data", "text", "images", f"{name}.jpg")).pixels[..., :3]
    ref = isnet.segment(img).mask
    on = iou(ClassicalSegmenter().segment(img).mask, ref)
    off = iou(ClassicalSegmenter(ClassicalConfig(white_parts=False)).segment(img).mask, ref)
    assert on >= PACKSHOT_FLOORS[name]
    assert on >= off - 0.005  # the recovery never makes a packshot worse
