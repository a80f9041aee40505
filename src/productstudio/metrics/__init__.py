"""Layer: metrics — image quality (PSNR, SSIM, MS-SSIM, ΔE2000) and cut-out scores.

Heavy imports (torch, torchmetrics) happen inside the functions that need them.
"""

from productstudio.metrics.generation import (
    AttributeClassifier,
    FeatureNetwork,
    fid,
    kid,
    precision_recall,
)
from productstudio.metrics.quality import (
    MS_SSIM_MIN_SIDE,
    DeltaEStats,
    delta_e,
    grey_ssim,
    ms_ssim,
    psnr,
    ssim,
    structure_ssim,
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
    "AttributeClassifier",
    "BoundaryScores",
    "DeltaEStats",
    "FeatureNetwork",
    "MaskScores",
    "boundary_f",
    "boundary_scores",
    "delta_e",
    "evaluate_mask",
    "fid",
    "gradient_error",
    "grey_ssim",
    "iou",
    "kid",
    "mae",
    "ms_ssim",
    "mse",
    "precision_recall",
    "psnr",
    "sad",
    "ssim",
    "structure_ssim",
    "summarise",
]
