"""An exemplar inpainter of our own: multi-scale PatchMatch with patch voting (no weights).

The hole is filled with texture copied from the rest of the crop, in the spirit of Wexler,
Shechtman & Irani (2007) "Space-time completion of video" and Barnes et al. (2009)
"PatchMatch", vectorised in numpy (every target patch is updated at once per step):

1. Build an image pyramid until the hole is a few pixels thick; fill the coarsest hole with
   Telea so the search starts from a smooth guess.
2. At each level, from coarse to fine, repeat: find for every patch that overlaps the hole
   its nearest known patch (PatchMatch: propagation from the four neighbours' matches plus a
   random search with a shrinking radius), then *vote*: every hole pixel becomes the weighted
   average of what the overlapping matched patches say it should be.
3. Upsample the result and the matches to the next level.

Known pixels are never changed. Deterministic for a given ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.models.inpainters.base import Inpainter, SizeRule
from productstudio.ops.inpaint import InpaintMethod, cv_inpaint

_NEIGHBOURS = ((0, 1), (0, -1), (1, 0), (-1, 0))


@dataclass(frozen=True, slots=True)
class ExemplarConfig:
    """Tuning of :class:`ExemplarInpainter`.

    Attributes:
        patch: patch side in px (odd).
        iterations: search+vote rounds per pyramid level (coarse levels get a few more).
        random_tries: random-search radii tried per round (radius halves each time).
        max_levels: at most this many pyramid levels below full size.
        seed: random seed of the search.
    """

    patch: int = 7
    iterations: int = 4
    random_tries: int = 6
    max_levels: int = 6
    seed: int = 0

    def __post_init__(self) -> None:
        if self.patch < 3 or self.patch % 2 == 0 or self.patch > 31:
            raise InvalidParamsError(f"ExemplarConfig.patch must be odd in 3..31, got {self.patch}")
        if not 1 <= self.iterations <= 50:
            raise InvalidParamsError("ExemplarConfig.iterations must be in 1..50")
        if not 0 <= self.random_tries <= 20:
            raise InvalidParamsError("ExemplarConfig.random_tries must be in 0..20")
        if not 0 <= self.max_levels <= 12:
            raise InvalidParamsError("ExemplarConfig.max_levels must be in 0..12")


def _telea(img: NDArray[np.float32], hole: NDArray[np.bool_]) -> NDArray[np.float32]:
    out: NDArray[np.float32] = cv_inpaint(img, hole, InpaintMethod.TELEA, 3)
    return out


class _Level:
    """One pyramid level's PatchMatch + voting state."""

    def __init__(self, hole: NDArray[np.bool_], cfg: ExemplarConfig) -> None:
        self.cfg = cfg
        self.hole = hole
        self.h, self.w = hole.shape
        p = cfg.patch
        self.r = r = p // 2
        touch = cv2.dilate(hole.astype(np.uint8), np.ones((p, p), np.uint8)) > 0
        valid = ~touch
        valid[:r] = False
        valid[self.h - r :] = False
        valid[:, :r] = False
        valid[:, self.w - r :] = False
        self.valid = valid
        self.ty, self.tx = np.nonzero(touch)
        dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
        self.dy = dy.ravel()
        self.dx = dx.ravel()

    def random_sources(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        vy, vx = np.nonzero(self.valid)
        idx = rng.integers(0, len(vy), n)
        return vy[idx], vx[idx]

    def init_nnf(
        self, prev: tuple[np.ndarray, np.ndarray] | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        ty, tx = self.ty, self.tx
        sy, sx = self.random_sources(len(ty), rng)
        if prev is not None:
            py, px = prev
            ph, pw = py.shape
            qy = np.clip(ty // 2, 0, ph - 1)
            qx = np.clip(tx // 2, 0, pw - 1)
            uy = np.clip(py[qy, qx] * 2 + ty % 2, 0, self.h - 1)
            ux = np.clip(px[qy, qx] * 2 + tx % 2, 0, self.w - 1)
            ok = self.valid[uy, ux]
            sy = np.where(ok, uy, sy)
            sx = np.where(ok, ux, sx)
        return sy, sx

    def cost(
        self, img: np.ndarray, tpatch: np.ndarray, sy: np.ndarray, sx: np.ndarray
    ) -> np.ndarray:
        src = img[sy[:, None] + self.dy, sx[:, None] + self.dx]
        d = src - tpatch
        return np.einsum("ijk,ijk->i", d, d)

    def run(
        self,
        img: NDArray[np.float32],
        nnf: tuple[np.ndarray, np.ndarray],
        iterations: int,
        rng: np.random.Generator,
    ) -> tuple[NDArray[np.float32], tuple[np.ndarray, np.ndarray]]:
        r, h, w = self.r, self.h, self.w
        ty, tx = self.ty, self.tx
        sy, sx = nnf
        my = np.tile(np.arange(h)[:, None], (1, w))
        mx = np.tile(np.arange(w)[None, :], (h, 1))
        hole = self.hole
        flat_hole = hole.ravel()
        img = img.copy()
        for _ in range(iterations):
            pad = np.pad(img, ((r, r), (r, r), (0, 0)), mode="edge")
            tpatch = pad[ty[:, None] + r + self.dy, tx[:, None] + r + self.dx]
            c = self.cost(img, tpatch, sy, sx)
            my[ty, tx] = sy
            mx[ty, tx] = sx
            for ddy, ddx in _NEIGHBOURS:
                ny = np.clip(ty - ddy, 0, h - 1)
                nx = np.clip(tx - ddx, 0, w - 1)
                cy = my[ny, nx] + ddy
                cx = mx[ny, nx] + ddx
                self._try(img, tpatch, c, sy, sx, cy, cx)
                my[ty, tx] = sy
                mx[ty, tx] = sx
            radius = max(h, w)
            for _t in range(self.cfg.random_tries):
                if radius < 1:
                    break
                cy = sy + rng.integers(-radius, radius + 1, len(sy))
                cx = sx + rng.integers(-radius, radius + 1, len(sx))
                self._try(img, tpatch, c, sy, sx, cy, cx)
                radius //= 2
            my[ty, tx] = sy
            mx[ty, tx] = sx
            # vote
            sigma2 = max(float(np.percentile(c, 75)), 1e-8)
            wgt = np.exp(-c / (2.0 * sigma2)).astype(np.float32) + 1e-6
            py = ty[:, None] + self.dy
            px = tx[:, None] + self.dx
            inside = (py >= 0) & (py < h) & (px >= 0) & (px < w)
            flat = np.where(inside, py * w + px, 0)
            use = inside & flat_hole[flat]
            idx = flat[use]
            vals = img[sy[:, None] + self.dy, sx[:, None] + self.dx][use]
            ww = np.broadcast_to(wgt[:, None], use.shape)[use]
            den = np.bincount(idx, weights=ww, minlength=h * w)
            hole_idx = np.flatnonzero(flat_hole & (den > 0))
            out = img.reshape(-1, 3)
            for ch in range(3):
                num = np.bincount(idx, weights=ww * vals[:, ch], minlength=h * w)
                out[hole_idx, ch] = (num[hole_idx] / den[hole_idx]).astype(np.float32)
            img = out.reshape(h, w, 3)
        return img, (my, mx)

    def _try(
        self,
        img: np.ndarray,
        tpatch: np.ndarray,
        c: np.ndarray,
        sy: np.ndarray,
        sx: np.ndarray,
        cy: np.ndarray,
        cx: np.ndarray,
    ) -> None:
        ok = (cy >= 0) & (cy < self.h) & (cx >= 0) & (cx < self.w)
        ok[ok] = self.valid[cy[ok], cx[ok]]
        ok &= (cy != sy) | (cx != sx)
        sel = np.flatnonzero(ok)
        if len(sel) == 0:
            return
        nc = self.cost(img, tpatch[sel], cy[sel], cx[sel])
        better = nc < c[sel]
        b = sel[better]
        c[b] = nc[better]
        sy[b] = cy[b]
        sx[b] = cx[b]


def exemplar_fill(
    img: NDArray[np.float32], hole: NDArray[np.bool_], cfg: ExemplarConfig | None = None
) -> NDArray[np.float32]:
    """Fill ``hole`` of a float32 (H, W, 3) image by multi-scale PatchMatch voting.

    Falls back to Telea when the crop has no whole known patch to copy from.
    """
    cfg = cfg or ExemplarConfig()
    rng = np.random.default_rng(cfg.seed)
    h, w = hole.shape
    dist = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
    thick = float(dist.max())
    levels = 0
    while (
        levels < cfg.max_levels
        and thick / 2**levels > 2.0
        and min(h, w) / 2 ** (levels + 1) >= 3 * cfg.patch
    ):
        levels += 1
    imgs: list[np.ndarray] = [img.astype(np.float32)]
    holes = [hole]
    for _ in range(levels):
        ph, pw = holes[-1].shape
        size = ((pw + 1) // 2, (ph + 1) // 2)
        imgs.append(cv2.resize(imgs[-1], size, interpolation=cv2.INTER_AREA))
        holes.append(
            cv2.resize(holes[-1].astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
        )
    cur: np.ndarray = _telea(imgs[-1], holes[-1])
    prev: tuple[np.ndarray, np.ndarray] | None = None
    for lvl in range(levels, -1, -1):
        known, hl = imgs[lvl], holes[lvl]
        if cur.shape[:2] != hl.shape:
            cur = cv2.resize(cur, (hl.shape[1], hl.shape[0]), interpolation=cv2.INTER_LINEAR)
        cur = np.where(hl[..., None], cur, known).astype(np.float32)
        level = _Level(hl, cfg)
        if not level.valid.any() or len(level.ty) == 0:
            cur = _telea(known, hl) if lvl == 0 else cur
            prev = None
            continue
        nnf = level.init_nnf(prev, rng)
        iters = cfg.iterations + (2 if lvl == levels else 0) + (1 if lvl > 0 else 0)
        cur, prev = level.run(cur, nnf, iters, rng)
    return np.where(hole[..., None], cur, img).astype(np.float32)


class ExemplarInpainter(Inpainter):
    """Multi-scale PatchMatch exemplar inpainting (no weights); see the module docstring."""

    name = "exemplar"
    size = SizeRule(max_side=1024)

    def __init__(self, config: ExemplarConfig | None = None) -> None:
        self.config = config or ExemplarConfig()

    def run(self, rgb: NDArray[np.float32], hole: NDArray[np.bool_]) -> NDArray[np.float32]:
        return exemplar_fill(rgb, hole, self.config)


__all__ = ["ExemplarConfig", "ExemplarInpainter", "exemplar_fill"]
