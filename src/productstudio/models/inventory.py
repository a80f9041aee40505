"""Every model ProductStudio can use, of every kind, and whether it is on this machine.

One list for ``productstudio models list`` (and the HTTP service): the registries'
backends (segmenters, upscalers, inpainters, style models, text detectors) with the file
discovery found, our own generator families and the trained generator folders the user
added, and the pretrained diffusers pipelines — added with ``models add`` or found in the
Hugging Face cache. Listing imports no torch unless the generator families are asked for.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from productstudio.errors import ProductStudioError
from productstudio.models.manage import ModelKind, ModelStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ModelRow:
    """One line of ``models list``.

    Attributes:
        kind: the model's kind.
        name: what ``--model`` takes.
        available: its weights are here (or it needs none).
        where: the file or folder, ``built in``, or what to do to get it.
        summary: one line about it.
        auto: what ``--model auto`` picks for this kind (or the default pipeline).
        source: ``built in``, ``found`` (discovery), ``added`` (models add), ``hf-cache``,
            ``missing`` or ``trainable``.
        origin: for a found file, the folder it came from (``PRODUCTSTUDIO_MODELS``,
            ``rembg (~/.u2net)``, ``cache (models pull)``, ``models add``).
        download_bytes: the size of the pinned download ``models pull`` fetches (None: none).
    """

    kind: ModelKind
    name: str
    available: bool
    where: str
    summary: str
    auto: bool = False
    source: str = ""
    origin: str = ""
    download_bytes: int | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = self.kind.value
        return d


def _registries() -> dict[ModelKind, Any]:
    from productstudio.models.inpainters import INPAINTERS
    from productstudio.models.segmenters import SEGMENTERS
    from productstudio.models.style import STYLE_MODELS
    from productstudio.models.text import TEXT_DETECTORS
    from productstudio.models.upscalers import UPSCALERS

    return {
        ModelKind.SEGMENTER: SEGMENTERS,
        ModelKind.UPSCALER: UPSCALERS,
        ModelKind.INPAINTER: INPAINTERS,
        ModelKind.STYLE: STYLE_MODELS,
        ModelKind.TEXT: TEXT_DETECTORS,
    }


def _backend_rows(kind: ModelKind, registry: Any) -> list[ModelRow]:
    from productstudio.models.discovery import available, model_folders, origin_of

    found = {e.name: p for e, p in available(registry)}
    best = next(iter(found), None)
    added = {m.backend: m for m in ModelStore().all() if m.backend}
    folders = model_folders()
    rows = []
    for name in sorted(registry.names(), key=lambda n: (-registry.get(n).rank, n)):
        e = registry.get(name)
        here = name in found
        origin = ""
        if not e.needs_weights:
            where, source = "built in", "built in"
        elif (path := found.get(name)) is not None:
            where = str(path)
            source = "added" if name in added and str(added[name].path) == where else "found"
            origin = origin_of(path, folders, name) or ""
        else:
            where, source = "-", "missing"
        pinned = e.size if e.url and e.sha256 else None
        rows.append(
            ModelRow(kind, name, here, where, e.summary, name == best, source, origin, pinned)
        )
    return rows


def _generator_rows() -> list[ModelRow]:
    rows: list[ModelRow] = []
    if importlib.util.find_spec("torch") is not None:
        from productstudio.models.generators import GENERATORS

        for name in GENERATORS.names():
            rows.append(
                ModelRow(
                    ModelKind.GENERATOR,
                    name,
                    True,
                    f"productstudio train {name}",
                    f"our own conditional {name} (trained here)",
                    source="trainable",
                )
            )
    for m in ModelStore().of_kind(ModelKind.GENERATOR):
        rows.append(
            ModelRow(
                ModelKind.GENERATOR,
                m.name,
                m.path.is_dir(),
                str(m.path),
                "trained generator folder",
                source="added",
            )
        )
    return rows


def _pipeline_rows() -> list[ModelRow]:
    from productstudio.models.pipelines.layout import cached_pipelines, inspect_folder
    from productstudio.models.pipelines.resolve import default_reference

    try:
        default = default_reference()
    except ProductStudioError as exc:
        log.warning("%s", exc)
        default = None
    rows: list[ModelRow] = []
    added = ModelStore().of_kind(ModelKind.PIPELINE)
    for m in added:
        here = m.path.exists()
        summary = f"{m.pipeline_class or 'diffusers pipeline'} ({m.format})"
        if m.repo_id:
            summary += f", {m.repo_id}"
        rows.append(
            ModelRow(
                ModelKind.PIPELINE,
                m.name,
                here,
                str(m.path) if here else f"{m.path} (gone)",
                summary,
                m.name == default,
                "added",
            )
        )
    added_paths = {str(m.path) for m in added}
    for repo_id, snap in cached_pipelines():
        if str(snap) in added_paths:
            continue
        try:
            src = inspect_folder(snap)
            ok, summary = True, f"{src.pipeline_class or 'diffusers pipeline'} (hf-cache)"
        except ProductStudioError as exc:
            ok, summary = False, f"incomplete: {exc}".split(". Expected")[0]
        rows.append(
            ModelRow(
                ModelKind.PIPELINE, repo_id, ok, str(snap), summary, repo_id == default, "hf-cache"
            )
        )
    return rows


def find_backend(name: str) -> tuple[ModelKind, Any] | None:
    """The registry entry called ``name`` in any backend kind (segmenters first), or None."""
    for kind, registry in _registries().items():
        if name in registry:
            return kind, registry.get(name)
    return None


def list_models(kinds: Iterable[ModelKind | str] | None = None) -> list[ModelRow]:
    """Rows for ``kinds`` (default: every kind), grouped by kind in :class:`ModelKind` order."""
    wanted = [ModelKind(k) for k in kinds] if kinds else list(ModelKind)
    regs = _registries()
    rows: list[ModelRow] = []
    for kind in ModelKind:
        if kind not in wanted:
            continue
        if kind in regs:
            rows += _backend_rows(kind, regs[kind])
        elif kind is ModelKind.GENERATOR:
            rows += _generator_rows()
        elif kind is ModelKind.PIPELINE:
            rows += _pipeline_rows()
    return rows


__all__ = ["ModelRow", "find_backend", "list_models"]
