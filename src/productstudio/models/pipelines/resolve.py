"""Turn ``--model`` for a pretrained pipeline into a checked local :class:`ModelSource`.

A reference is, in this order:

1. a name added with ``productstudio models add NAME PATH``;
2. a path: a diffusers folder, a ``models--org--name`` HF cache folder or a checkpoint file;
3. a hub repo id ``org/name`` found in the Hugging Face cache (used in place, offline);
4. with ``allow_hub`` only: a hub repo id that diffusers will download.

Without a reference, ``PRODUCTSTUDIO_PIPELINE`` is used, else the one pipeline that is
added or cached (for inpainting an inpainting model is preferred; for text-to-image a
text-to-image one).
"""

from __future__ import annotations

import logging
from pathlib import Path

from productstudio.errors import WeightsNotFoundError
from productstudio.models.manage import ModelKind, ModelStore
from productstudio.models.pipelines.layout import (
    ModelSource,
    SourceFormat,
    cached_pipelines,
    find_in_hf_cache,
    inspect_folder,
    inspect_path,
    is_repo_id,
)
from productstudio.models.pipelines.options import Task

log = logging.getLogger(__name__)

HOW_TO_ADD = (
    "Add a local diffusers model with `productstudio models add NAME PATH` (a folder with "
    "model_index.json, a Hugging Face cache folder, or a .safetensors checkpoint with "
    "--config), or set PRODUCTSTUDIO_PIPELINE to it."
)


def _candidates() -> list[tuple[str, str | None]]:
    """``(reference, pipeline_class)`` of every added and HF-cached pipeline."""
    out: list[tuple[str, str | None]] = [
        (m.name, m.pipeline_class) for m in ModelStore().of_kind(ModelKind.PIPELINE)
    ]
    added_paths = {str(m.path) for m in ModelStore().of_kind(ModelKind.PIPELINE)}
    for repo_id, snap in cached_pipelines():
        if str(snap) in added_paths:
            continue
        try:
            cls = inspect_folder(snap, check_weights=False).pipeline_class
        except WeightsNotFoundError:
            continue
        out.append((repo_id, cls))
    return out


def default_reference(task: Task | None = None) -> str | None:
    """The pipeline used when none is named (see the module docstring)."""
    from productstudio.settings import get_settings

    configured = get_settings().pipeline
    if configured:
        return configured
    cands = _candidates()
    if not cands:
        return None
    if task is Task.INPAINT:
        inpaint = [c for c in cands if c[1] and "Inpaint" in c[1]]
        if inpaint:
            return inpaint[0][0]
    elif task is not None:
        plain = [c for c in cands if not (c[1] and "Inpaint" in c[1])]
        if plain:
            return plain[0][0]
    return cands[0][0]


def resolve_pipeline(
    ref: str | Path | None = None,
    *,
    config: str | Path | None = None,
    allow_hub: bool = False,
    task: Task | None = None,
) -> ModelSource:
    """A checked :class:`ModelSource` for ``ref`` (see the module docstring).

    Raises:
        WeightsNotFoundError: nothing matches ``ref`` (or no pipeline is set up), or the
            folder is incomplete (the message names the missing file and the layout).
    """
    if ref is None or str(ref).strip() == "":
        ref = default_reference(task)
        if ref is None:
            raise WeightsNotFoundError(f"no diffusers pipeline is set up. {HOW_TO_ADD}")
        log.info("using pipeline %s", ref)
    text = str(ref)
    added = ModelStore().get(text) if "/" not in text and "\\" not in text else None
    if added is not None and added.kind is ModelKind.PIPELINE:
        if not (added.path.exists() or added.path.is_symlink()):
            raise WeightsNotFoundError(
                f"the pipeline '{added.name}' was added from \"{added.path}\", which no longer "
                f"exists. Add it again with `productstudio models add {added.name} NEW_PATH "
                "--replace`."
            )
        src = inspect_path(added.path, config=config or added.config)
        if added.repo_id and src.repo_id is None:
            from dataclasses import replace

            src = replace(src, repo_id=added.repo_id)
        return src
    path = Path(text).expanduser()
    if path.exists():
        return inspect_path(path, config=config)
    if is_repo_id(text):
        snap = find_in_hf_cache(text)
        if snap is not None:
            from dataclasses import replace

            return replace(inspect_folder(snap), repo_id=text)
        if allow_hub:
            return ModelSource(path=None, format=SourceFormat.HUB, repo_id=text)
        raise WeightsNotFoundError(
            f"'{text}' is not in the Hugging Face cache and hub access is off. Download it "
            "once (`huggingface-cli download " + text + "`) or pass --allow-download. " + HOW_TO_ADD
        )
    known = [c[0] for c in _candidates()]
    listed = f" Set up here: {', '.join(known)}." if known else ""
    raise WeightsNotFoundError(
        f"no pipeline '{text}': not an added name, an existing path or a cached hub id."
        f"{listed} {HOW_TO_ADD}"
    )


def locate_inpaint_pipeline() -> Path | None:
    """Where the default inpainting pipeline is (``None`` when none is set up)."""
    try:
        src = resolve_pipeline(None, task=Task.INPAINT)
    except WeightsNotFoundError:
        return None
    return src.path


__all__ = ["HOW_TO_ADD", "default_reference", "locate_inpaint_pipeline", "resolve_pipeline"]
