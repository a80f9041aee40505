"""Hypothesis strategies shared by the op and loader tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

sizes = st.tuples(st.integers(1, 48), st.integers(1, 48))


@st.composite
def rgb_images(draw: st.DrawFn, min_side: int = 1, max_side: int = 48) -> np.ndarray:
    h = draw(st.integers(min_side, max_side))
    w = draw(st.integers(min_side, max_side))
    return draw(arrays(np.uint8, (h, w, 3)))


@st.composite
def rgba_images(draw: st.DrawFn, min_side: int = 1, max_side: int = 48) -> np.ndarray:
    """RGBA images whose alpha mixes exact 0, exact 255 and partial values."""
    h = draw(st.integers(min_side, max_side))
    w = draw(st.integers(min_side, max_side))
    rgb = draw(arrays(np.uint8, (h, w, 3)))
    alpha = draw(arrays(np.uint8, (h, w), elements=st.sampled_from([0, 255, 1, 128, 254])))
    return np.dstack([rgb, alpha])


@st.composite
def masks(draw: st.DrawFn, shape: tuple[int, int]) -> np.ndarray:
    return draw(arrays(np.float32, shape, elements=st.floats(0.0, 1.0, width=32)))


colors = st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
