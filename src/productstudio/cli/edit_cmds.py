"""Retouch and repair commands: recolour, adjust, erase, detect-text, erase-text, upscale, style.

Every command loads with :func:`load_image`, computes everything first and writes only
at the end (atomically), so a failure leaves no output file behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from productstudio.cli.app import app, err, handle_errors, out, progress_bar
from productstudio.errors import InvalidParamsError
from productstudio.imaging import load_image, save_image
from productstudio.imaging.types import Image, Mask, alpha_product_mask, as_mask
from productstudio.models.style.base import LookMethod
from productstudio.ops.adjust import WhiteBalance
from productstudio.ops.style import Region
from productstudio.ops.text import TextSelect


def _load(path: Path) -> Image:
    return load_image(path).pixels


def load_mask(path: Path, shape: tuple[int, int]) -> Mask:
    """A mask file as float32 (H, W): alpha when it has real transparency, else grey levels."""
    px = load_image(path).pixels
    own = alpha_product_mask(px)
    m = own if own is not None else as_mask(px[..., :3].max(axis=2))
    if m.shape != shape:
        raise InvalidParamsError(
            f'mask "{path}" is {m.shape[1]}x{m.shape[0]} but the image is {shape[1]}x{shape[0]}: '
            "export the mask at the image's size"
        )
    return m


def _product_mask(image: Image, mask: Path | None, model: str) -> Mask:
    if mask is not None:
        return load_mask(mask, image.shape[:2])
    own = alpha_product_mask(image)
    if own is not None:
        return own
    from productstudio.cli.main_cmds import pick_segmenter  # `auto` as for run/cutout

    seg = pick_segmenter(model).load().segment(image)
    if seg.unsure:
        err.print(f"warning: the product mask is unsure ({'; '.join(seg.notes)})")
    return seg.mask


def _palette_path(output: Path, color: str, index: int) -> Path:
    text = str(output)
    tag = color.lstrip("#").lower().replace(" ", "-")
    if "{" in text:
        return Path(text.format(color=tag, i=index))
    return output.with_name(f"{output.stem}_{tag}{output.suffix}")


@app.command("recolour")
@handle_errors
def recolour_cmd(
    image: Path = typer.Argument(..., help="Product photo or RGBA cut-out."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Output file (a pattern for --palette)."
    ),
    color: str | None = typer.Option(
        None, "--color", "-c", help="Target colour: #hex or CSS name."
    ),
    palette: str | None = typer.Option(
        None, "--palette", help="Comma-separated colours: one output per colour (OUT_<hex>.ext)."
    ),
    mask: Path | None = typer.Option(None, "--mask", help="Region to recolour (white = recolour)."),
    strength: float = typer.Option(1.0, "--strength", min=0.0, max=1.0),
    model: str = typer.Option(
        "auto", "--model", "-m", help="Segmenter when there is no mask/alpha."
    ),
) -> None:
    """Recolour the product, keeping shading, texture and highlights."""
    from productstudio.ops.recolour import RecolourParams, parse_palette, recolour

    if (color is None) == (palette is None):
        raise InvalidParamsError("give exactly one of --color or --palette")
    colours = parse_palette(palette) if palette is not None else [color or ""]
    params = [RecolourParams(color=c, strength=strength) for c in colours]
    img = _load(image)
    m = _product_mask(img, mask, model)
    results = [recolour(img, p, m) for p in params]
    paths = (
        [output]
        if palette is None
        else [_palette_path(output, c, i) for i, c in enumerate(colours)]
    )
    for res, path in zip(results, paths, strict=True):
        save_image(res, path)
        out.print(str(path))


@app.command("adjust")
@handle_errors
def adjust_cmd(
    image: Path = typer.Argument(..., help="Photo to adjust."),
    output: Path = typer.Option(..., "--output", "-o"),
    white_balance: WhiteBalance = typer.Option(
        WhiteBalance.NONE, "--white-balance", help="How to neutralise a colour cast."
    ),
    exposure: float = typer.Option(0.0, "--exposure", help="Exposure change in stops."),
    contrast: float = typer.Option(0.0, "--contrast", help="-1..1"),
    saturation: float = typer.Option(1.0, "--saturation", help="0..3 (1 = unchanged)"),
    sharpen: float = typer.Option(0.0, "--sharpen", help="0..3"),
    denoise: float = typer.Option(0.0, "--denoise", help="0..1"),
    spots: bool = typer.Option(False, "--spots", help="Also remove dust and small spots."),
    mask: Path | None = typer.Option(None, "--mask", help="Product mask (white = product)."),
) -> None:
    """Auto-adjust (default: fixes only what is off) or apply manual adjustments."""
    from productstudio import api
    from productstudio.ops.adjust import AdjustParams

    img = _load(image)
    m = load_mask(mask, img.shape[:2]) if mask is not None else None
    manual = AdjustParams(
        white_balance=white_balance,
        exposure_ev=exposure,
        contrast=contrast,
        saturation=saturation,
        sharpen=sharpen,
        denoise=denoise,
    )
    res = api.adjust(img, manual, mask=m, spots=spots)
    for n in res.notes:
        err.print(n)
    save_image(res.image, output)
    out.print(str(output))


@app.command("erase")
@handle_errors
def erase_cmd(
    image: Path = typer.Argument(..., help="Photo with something to remove."),
    output: Path = typer.Option(..., "--output", "-o"),
    mask: Path | None = typer.Option(None, "--mask", help="White = remove."),
    box: list[str] = typer.Option([], "--box", help="x,y,w,h to remove (repeatable)."),
    model: str = typer.Option("auto", "--model", "-m", help="Inpainter name, auto or .onnx path."),
    dilate: int = typer.Option(0, "--dilate", min=0, max=256, help="Grow the mask (px)."),
) -> None:
    """Remove an object or blemish given as a mask or boxes; nothing else changes."""
    from productstudio import api
    from productstudio.ops.inpaint import box_to_mask, parse_box

    img = _load(image)
    if mask is None and not box:
        raise InvalidParamsError("give --mask MASK or at least one --box x,y,w,h")
    m = load_mask(mask, img.shape[:2]) if mask is not None else np.zeros(img.shape[:2], np.float32)
    for b in box:
        m = np.maximum(m, box_to_mask(img.shape[:2], parse_box(b)))
    result = api.erase(img, m, inpainter=model, dilate=dilate)
    save_image(result, output)
    out.print(str(output))


@app.command("detect-text")
@handle_errors
def detect_text_cmd(
    image: Path = typer.Argument(..., help="Photo to scan for text."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
    model: str = typer.Option("auto", "--model", "-m", help="Text detector."),
) -> None:
    """List text in the photo and whether it looks overlaid (watermark) or printed."""
    from productstudio.models.text import find_text, load_text_detector

    img = _load(image)
    verdicts = find_text(img, load_text_detector(model))
    if as_json:
        out.print_json(json.dumps([v.to_dict() for v in verdicts]))
        return
    t = Table(title=f"{image}: {len(verdicts)} text boxes", title_justify="left")
    for col in ("bbox", "text", "kind", "score", "why"):
        t.add_column(col, overflow="fold")
    for v in verdicts:
        t.add_row(
            ",".join(str(x) for x in v.box.bbox),
            v.box.text,
            v.kind.value,
            f"{v.overlay_score:.2f}",
            "; ".join(v.reasons),
        )
    out.print(t)


@app.command("erase-text")
@handle_errors
def erase_text_cmd(
    image: Path = typer.Argument(..., help="Photo with overlaid text or a watermark."),
    output: Path = typer.Option(..., "--output", "-o"),
    select: TextSelect = typer.Option(
        TextSelect.OVERLAY, "--select", help="Which text to remove (packaging text is printed)."
    ),
    model: str = typer.Option("auto", "--model", "-m", help="Inpainter."),
    detector: str = typer.Option("auto", "--detector", help="Text detector."),
    dilate: int = typer.Option(2, "--dilate", min=0, max=32),
) -> None:
    """Remove overlaid text and watermarks; packaging text is kept unless --select all."""
    from productstudio import api
    from productstudio.models.text import EraseTextParams

    params = EraseTextParams(select=select, dilate=dilate)
    img = _load(image)
    res = api.erase_text(img, params, detector=detector, inpainter=model)
    save_image(res.image, output)
    kept = len(res.verdicts) - res.removed
    err.print(f"removed {res.removed} text box(es), kept {kept}")
    out.print(str(output))


@app.command("upscale")
@handle_errors
def upscale_cmd(
    image: Path = typer.Argument(..., help="Photo to enlarge."),
    output: Path = typer.Option(..., "--output", "-o"),
    scale: float = typer.Option(2.0, "--scale", "-s", help="Factor in (1, 16]."),
    model: str = typer.Option("lanczos", "--model", "-m", help="Upscaler name, auto or a path."),
) -> None:
    """Enlarge a photo (tiled for big images; alpha upscaled apart; 16-bit kept)."""
    from productstudio import api
    from productstudio.models.upscalers import load_upscaler

    if not 1.0 < scale <= 16.0:
        raise InvalidParamsError(f"--scale must be in (1, 16], got {scale}")
    img = load_image(image, keep_16bit=True).pixels
    up = load_upscaler(model)
    with progress_bar(f"upscale x{scale:g} ({up.name})", 1) as on_progress:
        result = api.upscale(img, scale, upscaler=up, on_progress=on_progress)
    save_image(result, output)
    h, w = img.shape[:2]
    err.print(
        f"upscaled {w}x{h} → {result.shape[1]}x{result.shape[0]} with {up.name}", highlight=False
    )
    out.print(str(output))


@app.command("style")
@handle_errors
def style_cmd(
    image: Path = typer.Argument(..., help="Photo to restyle."),
    output: Path = typer.Option(..., "--output", "-o"),
    reference: Path | None = typer.Option(None, "--reference", "-r", help="Reference photo."),
    style: int | None = typer.Option(None, "--style", help="Fixed style 0..25 (multistyle26)."),
    method: LookMethod = typer.Option(
        LookMethod.LAB_STATS, "--method", help="With --reference: how its look is transferred."
    ),
    region: Region = typer.Option(Region.BOTH, "--region", help="Where the look is applied."),
    strength: float = typer.Option(1.0, "--strength", min=0.0, max=1.0),
    mask: Path | None = typer.Option(None, "--mask", help="Product mask (white = product)."),
    model: str = typer.Option("auto", "--model", "-m", help="Segmenter for --region."),
) -> None:
    """A catalogue look from a reference photo, or one of 26 neural styles."""
    from productstudio import api

    if (reference is None) == (style is None):
        raise InvalidParamsError("give exactly one of --reference REF or --style N")
    img = _load(image)
    m = None if region is Region.BOTH else _product_mask(img, mask, model)
    result = api.style(
        img,
        reference=_load(reference) if reference is not None else None,
        style=style,
        method=method,
        region=region,
        strength=strength,
        mask=m,
    )
    save_image(result, output)
    out.print(str(output))
