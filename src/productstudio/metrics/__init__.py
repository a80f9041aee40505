"""Layer: metrics — image quality (PSNR, SSIM, MS-SSIM, ΔE2000) and cut-out scores.

Heavy imports (torch, torchmetrics) happen inside the functions that need them.
"""

from productstudio.metrics.quality import (
    MS_SSIM_MIN_SIDE,
    DeltaEStats,
    delta_e,
    ms_ssim,
    psnr,
    ssim,
)
from productstudio.metrics.segmentation import (
    BoundaryScores,
    MaskScores,
    boundary_f,
    boundary_scores,
    evaluate_mask,
    gradient_error,
    iou,
    mae,
    mse,
    sad,
    summarise,
)

__all__ = [
    "MS_SSIM_MIN_SIDE",
    "BoundaryScores",
    "DeltaEStats",
    "MaskScores",
    "boundary_f",
    "boundary_scores",
    "delta_e",
    "evaluate_mask",
    "gradient_error",
    "iou",
    "mae",
    "ms_ssim",
    "mse",
    "psnr",
    "sad",
    "ssim",
    "summarise",
]
