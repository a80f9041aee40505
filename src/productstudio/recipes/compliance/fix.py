"""``check --fix``: make a failing image pass, and never make a rule worse.

Two ways to fix, chosen by what the image is:

* **An image already on the required plain background** (a finished main image whose fill is
  short, with specks on the background, the wrong size …): the product is taken exactly as the
  checker sees it (:func:`~productstudio.ops.plain_background.visible_mask`) — no segmenter, so
  no part of it can be cut away or washed out — and laid out again by the preset's recipe. The
  pixels kept are the original ones; specks away from the product are dropped.
* **Anything else** (a raw photo): the preset's whole recipe, cut-out included.

The fixed image is checked again, rule by rule; if any rule would end worse than before
(pass → warn/fail, warn → fail), the fix is refused and the original stays as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from productstudio.imaging.color import parse_color
from productstudio.imaging.io import LoadedImage, load_image
from productstudio.imaging.types import alpha_product_mask, to_uint8
from productstudio.ops.plain_background import border_is, visible_mask
from productstudio.recipes.compliance.check import check_loaded
from productstudio.recipes.compliance.report import ComplianceReport, Status

if TYPE_CHECKING:  # recipe.py imports this package: no runtime import
    from productstudio.recipes.recipe import Recipe
    from productstudio.recipes.steps.base import StepContext

_RANK = {Status.PASS: 0, Status.SKIP: 1, Status.WARN: 1, Status.FAIL: 2}


class FixMethod(StrEnum):
    """How :func:`fix_image` found the product."""

    PLAIN_BACKGROUND = "plain background"  # as the checker sees it, no segmenter
    RECIPE = "recipe"  # the preset's whole recipe, cut-out included


@dataclass(frozen=True)
class FixResult:
    """What :func:`fix_image` did.

    Attributes:
        data: the fixed file's bytes, or None when the fix was refused.
        suffix: file extension of ``data`` (``.jpg`` …).
        before, after: the reports of the original and of the candidate fix.
        worse: rules the candidate would have made worse (then ``data`` is None).
        method: how the product was found ("plain background" or "recipe").
        notes: the recipe's notes.
    """

    data: bytes | None
    suffix: str
    before: ComplianceReport
    after: ComplianceReport
    worse: tuple[str, ...]
    method: FixMethod
    notes: tuple[str, ...]


def worse_rules(before: ComplianceReport, after: ComplianceReport) -> tuple[str, ...]:
    """Rules whose verdict is worse in ``after`` than in ``before``."""
    old = {r.rule: _RANK[r.status] for r in before.results}
    return tuple(r.rule for r in after.results if _RANK[r.status] > old.get(r.rule, 0))


def product_layer(loaded: LoadedImage, color: str, tolerance: int = 8) -> np.ndarray | None:
    """The product of an image on a plain ``color`` background as an RGBA layer (alpha 255 on
    the visible product, 0 elsewhere), or None when the border is not that colour."""
    px = to_uint8(loaded.pixels)
    if alpha_product_mask(px) is not None:
        return None
    rgb = np.ascontiguousarray(px[..., :3])
    r, g, b = parse_color(color)[:3]
    if not border_is(rgb, (r, g, b), tolerance):
        return None
    mask = visible_mask(rgb, (r, g, b), tolerance)
    if not mask.any():
        return None
    return np.dstack([rgb, np.where(mask, 255, 0).astype(np.uint8)])


def fix_image(
    path: str | Path,
    recipe: Recipe,
    before: ComplianceReport,
    *,
    ctx: StepContext | None = None,
    segmenter: object | None = None,
) -> FixResult:
    """Fix ``path`` with ``recipe`` (a :class:`~productstudio.recipes.Recipe`) and judge it.

    Args:
        path: the image that failed.
        recipe: the preset or recipe whose rules it failed.
        before: its report.
        ctx: a :class:`~productstudio.recipes.StepContext` (segmenter choice …).
        segmenter: the segmenter the checker may need for the candidate's product mask.
    """
    from productstudio.recipes.steps.base import StepContext

    loaded = load_image(Path(path))
    bg = recipe.rules.background.color if recipe.rules.background is not None else None
    layer = product_layer(loaded, bg) if bg is not None else None
    c = ctx if ctx is not None else StepContext()
    res = recipe.apply(layer if layer is not None else loaded, c)
    data = res.encode_bytes()
    after = check_loaded(
        load_image(data, name=str(path)),
        recipe.rules,
        data=data,
        segmenter=segmenter,
        preset=recipe.name,
    )
    worse = worse_rules(before, after)
    return FixResult(
        None if worse else data,
        res.suffix,
        before,
        after,
        worse,
        FixMethod.PLAIN_BACKGROUND if layer is not None else FixMethod.RECIPE,
        tuple(res.notes),
    )


__all__ = ["FixMethod", "FixResult", "fix_image", "product_layer", "worse_rules"]
