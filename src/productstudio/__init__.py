"""ProductStudio: edit, generate, measure and check e-commerce product images.

The typed Python API lives in :mod:`productstudio.api` and is re-exported here; it is
imported on first use, so ``import productstudio`` stays light::

    import productstudio as ps

    cut = ps.cut_out("shoe.jpg")                       # RGBA + confidence
    ps.main_image("shoe.jpg", "amazon-main").save("shoe_main.jpg")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AdjustResult",
    "CutoutResult",
    "__version__",
    "adjust",
    "check",
    "compose",
    "cut_out",
    "erase",
    "erase_text",
    "main_image",
    "recolour",
    "sample",
    "style",
    "upscale",
]
#: the names loaded from :mod:`productstudio.api` on first use
_API = frozenset(__all__) - {"__version__"}

if TYPE_CHECKING:  # pragma: no cover
    from productstudio.api import (
        AdjustResult,
        CutoutResult,
        adjust,
        check,
        compose,
        cut_out,
        erase,
        erase_text,
        main_image,
        recolour,
        sample,
        style,
        upscale,
    )


def __getattr__(name: str) -> Any:
    """Load :mod:`productstudio.api` on first use of one of its names (PEP 562)."""
    if name in _API:
        from productstudio import api

        return getattr(api, name)
    raise AttributeError(f"module 'productstudio' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
