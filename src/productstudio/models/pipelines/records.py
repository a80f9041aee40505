"""Outputs with their settings: every generated image gets a JSON file beside it.

``out/scene-s3.png`` + ``out/scene-s3.json``: the JSON holds the built prompt and its parts,
the negative prompt, the seed, steps, guidance, size, scheduler, device, dtype, the model
(path, format, repo id, pipeline class), the layout and compositing settings, the input file
with its sha256, library versions and the time. :func:`replay_request` reads it back into the
arguments that make the same image again (same model, device and settings).

Both files are written atomically (temp file, then rename).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from productstudio.errors import InputError, InvalidParamsError
from productstudio.imaging.io import ImageFormat, save_image, write_atomic
from productstudio.models.pipelines.options import GenerationParams, LoadOptions, Task

RECORD_VERSION = 1


def sidecar_path(image_path: str | Path) -> Path:
    """``x.png`` → ``x.json``."""
    p = Path(image_path)
    return p.with_suffix(".json")


def save_with_record(
    image: np.ndarray,
    path: str | Path,
    record: dict[str, Any],
    *,
    quality: int = 95,
) -> tuple[Path, Path]:
    """Write ``image`` to ``path`` and ``record`` (plus the file names) beside it.

    Returns:
        ``(image_path, json_path)``.

    Raises:
        OutputError: the folder is not writable.
    """
    p = Path(path)
    fmt = ImageFormat.from_suffix(p)
    save_image(image, p, fmt=fmt, quality=quality)
    js = sidecar_path(p)
    write_atomic(sidecar_bytes(record, p.name), js)
    return p, js


def sidecar_bytes(record: dict[str, Any], output: str) -> bytes:
    """The settings file's contents for the image named ``output`` (UTF-8 JSON)."""
    body = {"record_version": RECORD_VERSION, "output": output, **record}
    return (json.dumps(body, indent=1, default=str) + "\n").encode()


def load_record(path: str | Path) -> dict[str, Any]:
    """Read a settings JSON written by :func:`save_with_record`.

    Raises:
        InputError: missing or not a settings file.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f'cannot read the settings file "{p}": {exc}', path=p) from None
    if not isinstance(data, dict) or "record_version" not in data or "generation" not in data:
        raise InputError(
            f'"{p}" is not a ProductStudio settings file (no record_version/generation keys): '
            "pass the .json written beside a generated image",
            path=p,
        )
    return data


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """What a settings file asks for again.

    Attributes:
        kind: ``generate`` or ``scene``.
        task: the pipeline task (generate) or ``inpaint`` (scene).
        params: the generation parameters, seed included.
        model: the model reference (the added name, else the path or repo id).
        load: the load options used.
        input: the input image path, when there was one (image-to-image, scene).
        input_sha256: its sha256 at the time (checked before replaying).
    """

    kind: str
    task: Task
    params: GenerationParams
    model: str | None
    load: LoadOptions
    input: Path | None
    input_sha256: str | None
    record: dict[str, Any]


def replay_request(record: dict[str, Any]) -> ReplayRequest:
    """The request that reproduces ``record`` (see :class:`ReplayRequest`).

    Raises:
        InvalidParamsError: the record misses the model or the generation settings.
    """
    try:
        params = GenerationParams.from_dict(record["generation"])
        pipe = record.get("pipeline") or {}
        model_info = pipe.get("model") or {}
        load = LoadOptions.from_dict(pipe.get("load_options") or {})
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidParamsError(f"the settings file is incomplete: {exc}") from None
    model = record.get("model_ref") or model_info.get("repo_id") or model_info.get("path")
    inp = record.get("input") or {}
    kind = str(record.get("kind", "generate"))
    default_task = Task.INPAINT if kind == "scene" else Task.TEXT_TO_IMAGE
    try:
        task = Task(record.get("task") or default_task)
    except ValueError:
        raise InvalidParamsError(f"unknown task {record.get('task')!r} in the settings") from None
    return ReplayRequest(
        kind=kind,
        task=task,
        params=params,
        model=str(model) if model else None,
        load=load,
        input=Path(inp["path"]) if inp.get("path") else None,
        input_sha256=inp.get("sha256"),
        record=record,
    )


__all__ = [
    "RECORD_VERSION",
    "ReplayRequest",
    "load_record",
    "replay_request",
    "save_with_record",
    "sidecar_bytes",
    "sidecar_path",
]
