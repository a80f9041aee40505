"""The ``cutout`` step: segmenter + refined alpha (or the input's own transparency)."""

from __future__ import annotations

import numpy as np

from productstudio.imaging.types import alpha_product_mask, as_mask, to_uint8
from productstudio.models.segmenters.confidence import judge_cutout
from productstudio.ops.cutout import CutoutParams, cutout_report
from productstudio.recipes.steps.base import StepContext, dataclass_model, register_step

_CutoutBase = dataclass_model(
    "_CutoutBase",
    CutoutParams,
    module=__name__,
    extra={"model": (str | None, None), "keep_alpha": (bool, True)},
)


class CutoutStep(_CutoutBase):  # type: ignore[misc,valid-type]
    """``cutout``: ``model`` (auto, a name or a path; default: the run's ``--model``),
    ``keep_alpha`` (an input that already has transparency is used as is), plus every
    :class:`~productstudio.ops.cutout.CutoutParams` field."""


@register_step("cutout", CutoutStep, summary="Cut the product out (segmenter + refined alpha)")
def cutout_step(ctx: StepContext, image: np.ndarray, params: CutoutStep) -> np.ndarray:
    img = to_uint8(image)
    if params.keep_alpha and alpha_product_mask(img) is not None:
        out = img.copy()
        ctx.confidence = None
        ctx.note("used the input's own transparency as the cut-out")
    else:
        if params.model is not None:
            ctx.choose_segmenter(params.model)
        seg = ctx.segmenter().segment(img)
        out, report = cutout_report(img, seg.mask, params.op())
        judged = judge_cutout(img, seg, as_mask(out[..., 3]), report)
        ctx.confidence = judged.confidence
        if judged.unsure:
            ctx.note(
                f"unsure cut-out ({seg.backend}, confidence {judged.confidence:.2f}): "
                + "; ".join(judged.reasons)
            )
    ctx.source_mask = out[..., 3].astype(np.float32) / 255.0
    ctx.product = out
    return out


__all__ = ["CutoutStep", "cutout_step"]
