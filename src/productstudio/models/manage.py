"""Models the user adds by hand: ``productstudio models add NAME PATH``.

The list lives in one JSON file (``Settings.models_file_path()``, by default
``~/.config/productstudio/models.json``), written atomically. Each entry records the model's
kind, where it is, and the size and sha256 of every file at the time it was added, so that
``models verify`` can later tell a damaged or changed file from a good one. Nothing is
copied: the model stays where the user keeps it (a diffusers folder, a checkpoint file, a
Hugging Face cache folder, an ONNX file, a folder of one of our own trained generators).

What can be added:

* a **pipeline**: a diffusers folder, a ``models--org--name`` HF cache folder, the repo id
  ``org/name`` of a model in the HF cache, or a single checkpoint file (with ``config``);
* a **generator**: a folder written by our own generators' ``save_pretrained``;
* an **ONNX file** for a registered backend (segmenter, upscaler, inpainter, style model):
  NAME is the backend's registry name (``models add lama ~/Downloads/big-lama.onnx``), or the
  file's name is one the backend knows; discovery then finds it like a file in
  ``PRODUCTSTUDIO_MODELS``.

Example:
    >>> ModelKind("pipeline"), valid_name("sd15-inpaint")
    (<ModelKind.PIPELINE: 'pipeline'>, 'sd15-inpaint')
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from productstudio.errors import InvalidParamsError, WeightsNotFoundError

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class ModelKind(StrEnum):
    """Every kind of model ProductStudio uses (``models list`` groups by it)."""

    SEGMENTER = "segmenter"
    UPSCALER = "upscaler"
    INPAINTER = "inpainter"
    STYLE = "style"
    TEXT = "text-detector"
    GENERATOR = "generator"
    PIPELINE = "pipeline"


@dataclass(frozen=True, slots=True)
class AddedModel:
    """One entry of the models file.

    Attributes:
        name: what the user calls it (``--model NAME``).
        kind: see :class:`ModelKind`.
        path: absolute path of the folder or file.
        format: ``diffusers``, ``single-file``, ``onnx`` or ``generator``.
        backend: for an ONNX file, the registry name of the backend it feeds.
        config: for a single checkpoint, the diffusers folder with its configs.
        repo_id: the Hugging Face repo id when it came from the HF cache.
        pipeline_class: ``_class_name`` from ``model_index.json``.
        added: UTC time it was added (ISO 8601).
        files: ``{relative name: {"size", "sha256"}}`` at the time it was added (empty when
            added with ``hash_files=False``).
    """

    name: str
    kind: ModelKind
    path: Path
    format: str
    backend: str | None = None
    config: Path | None = None
    repo_id: str | None = None
    pipeline_class: str | None = None
    added: str = ""
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = self.kind.value
        d["path"] = str(self.path)
        d["config"] = str(self.config) if self.config is not None else None
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AddedModel:
        return cls(
            name=str(data["name"]),
            kind=ModelKind(data["kind"]),
            path=Path(data["path"]),
            format=str(data.get("format", "")),
            backend=data.get("backend"),
            config=Path(data["config"]) if data.get("config") else None,
            repo_id=data.get("repo_id"),
            pipeline_class=data.get("pipeline_class"),
            added=str(data.get("added", "")),
            files=dict(data.get("files") or {}),
        )


def valid_name(name: str) -> str:
    """``name`` lower-cased, or InvalidParamsError when it cannot be a model name."""
    key = name.strip().lower()
    if not _NAME.match(key):
        raise InvalidParamsError(
            f"'{name}' cannot name a model: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. sd15-inpaint)"
        )
    return key


def _onnx_registries() -> dict[ModelKind, Any]:
    from productstudio.models.inpainters import INPAINTERS
    from productstudio.models.segmenters import SEGMENTERS
    from productstudio.models.style import STYLE_MODELS
    from productstudio.models.upscalers import UPSCALERS

    return {
        ModelKind.SEGMENTER: SEGMENTERS,
        ModelKind.UPSCALER: UPSCALERS,
        ModelKind.INPAINTER: INPAINTERS,
        ModelKind.STYLE: STYLE_MODELS,
    }


def _onnx_backend(name: str, path: Path) -> tuple[ModelKind, str]:
    """Which registered backend an ONNX (or OpenCV .pb) file feeds: by NAME, else by file."""
    regs = _onnx_registries()
    for kind, reg in regs.items():
        if name in reg and reg.get(name).file_names:
            return kind, name
    fname = path.name.lower()
    for kind, reg in regs.items():
        for n in reg.names():
            if fname in {f.lower() for f in reg.get(n).file_names}:
                return kind, n
    known = ", ".join(
        f"{k.value}: {', '.join(n for n in r.names() if r.get(n).file_names)}"
        for k, r in regs.items()
    )
    raise InvalidParamsError(
        f'cannot tell which backend "{path.name}" is for. Add it under the backend\'s name '
        f"(models add lama {path}). Backends that take a file: {known}"
    )


def detect(
    name: str, path: str | Path, *, config: str | Path | None = None
) -> tuple[ModelKind, dict[str, Any]]:
    """The kind of the model at ``path`` and the entry fields that describe it.

    Raises:
        WeightsNotFoundError: a missing path, or an incomplete pipeline folder (named).
        InvalidParamsError: a file or folder of no kind we know.
    """
    from productstudio.models.pipelines.layout import (
        CHECKPOINT_SUFFIXES,
        find_in_hf_cache,
        inspect_file,
        inspect_folder,
        is_repo_id,
    )

    text = str(path)
    p = Path(text).expanduser()
    if not p.exists() and is_repo_id(text):
        snap = find_in_hf_cache(text)
        if snap is None:
            raise WeightsNotFoundError(
                f"'{text}' is not a folder here and not in the Hugging Face cache. Download it "
                "first (e.g. `huggingface-cli download {text}`) or give its folder."
            )
        src = inspect_folder(snap)
        return ModelKind.PIPELINE, {
            "path": snap,
            "format": src.format.value,
            "repo_id": text,
            "pipeline_class": src.pipeline_class,
        }
    if not p.exists():
        raise WeightsNotFoundError(f'"{p}" does not exist')
    p = p.resolve()
    if p.is_dir():
        if (p / "model_index.json").is_file() or p.name.startswith("models--"):
            src = inspect_folder(p)
            assert src.path is not None
            return ModelKind.PIPELINE, {
                "path": src.path,
                "format": src.format.value,
                "repo_id": src.repo_id,
                "pipeline_class": src.pipeline_class,
            }
        cfg = p / "config.json"
        if cfg.is_file() and (p / "model.safetensors").is_file():
            try:
                family = json.loads(cfg.read_text(encoding="utf-8")).get("family")
            except (OSError, ValueError):
                family = None
            if family:
                return ModelKind.GENERATOR, {"path": p, "format": "generator"}
        inspect_folder(p)  # raises with the expected layout
    suffix = p.suffix.lower()
    if suffix in (".onnx", ".pb"):
        kind, backend = _onnx_backend(name, p)
        return kind, {"path": p, "format": "onnx", "backend": backend}
    if suffix in CHECKPOINT_SUFFIXES:
        src = inspect_file(p, config=config)
        return ModelKind.PIPELINE, {
            "path": p,
            "format": src.format.value,
            "config": src.config,
            "pipeline_class": src.pipeline_class,
        }
    raise InvalidParamsError(
        f'"{p}" is not a model ProductStudio knows: give a diffusers folder, a checkpoint '
        "(.safetensors/.ckpt), one of our generator folders, or an .onnx file"
    )


class ModelStore:
    """The models file: read on every call, written atomically.

    Args:
        path: the JSON file (default: ``Settings.models_file_path()``).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            from productstudio.settings import get_settings

            path = get_settings().models_file_path()
        self.path = Path(path)

    def _read(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {"version": FORMAT_VERSION, "models": {}}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidParamsError(
                f'the models file "{self.path}" is not valid JSON ({exc}): fix or delete it'
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
            raise InvalidParamsError(f'the models file "{self.path}" has no "models" object')
        return data

    def _write(self, data: dict[str, Any]) -> None:
        from productstudio.imaging.io import write_atomic

        write_atomic((json.dumps(data, indent=1, sort_keys=True) + "\n").encode(), self.path)

    def all(self) -> list[AddedModel]:
        """Every added model, sorted by name."""
        models = self._read()["models"]
        return [AddedModel.from_dict({**v, "name": k}) for k, v in sorted(models.items())]

    def get(self, name: str) -> AddedModel | None:
        entry = self._read()["models"].get(name.strip().lower())
        return AddedModel.from_dict({**entry, "name": name.strip().lower()}) if entry else None

    def of_kind(self, kind: ModelKind) -> list[AddedModel]:
        return [m for m in self.all() if m.kind is kind]

    def add(
        self,
        name: str,
        path: str | Path,
        *,
        config: str | Path | None = None,
        replace: bool = False,
        hash_files: bool = True,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> AddedModel:
        """Check the model at ``path``, hash its files and record it under ``name``.

        Raises:
            InvalidParamsError: a bad or taken name (unless ``replace``), an unknown kind.
            WeightsNotFoundError, WeightsChecksumError: an incomplete or damaged model.
        """
        key = valid_name(name)
        data = self._read()
        if key in data["models"] and not replace:
            raise InvalidParamsError(
                f"a model named '{key}' is already added ({data['models'][key]['path']}); "
                "pass --replace to point it elsewhere, or choose another name"
            )
        kind, fields = detect(key, path, config=config)
        if kind is ModelKind.PIPELINE or kind is ModelKind.GENERATOR:
            self._check_free(key)
        files: dict[str, dict[str, Any]] = {}
        if hash_files:
            from productstudio.models.pipelines.layout import file_manifest

            files = file_manifest(Path(fields["path"]), on_progress)
        entry = AddedModel(
            name=key,
            kind=kind,
            path=Path(fields["path"]),
            format=str(fields.get("format", "")),
            backend=fields.get("backend"),
            config=Path(fields["config"]) if fields.get("config") else None,
            repo_id=fields.get("repo_id"),
            pipeline_class=fields.get("pipeline_class"),
            added=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            files=files,
        )
        body = entry.as_dict()
        body.pop("name")
        data["models"][key] = body
        data["version"] = FORMAT_VERSION
        self._write(data)
        log.info("added %s %s (%s) → %s", kind.value, key, entry.format, entry.path)
        return entry

    @staticmethod
    def _check_free(key: str) -> None:
        """A pipeline/generator name must not shadow a registered backend name."""
        for kind, reg in _onnx_registries().items():
            if key in reg:
                raise InvalidParamsError(
                    f"'{key}' is the name of a built-in {kind.value}; choose another name"
                )

    def remove(self, name: str) -> bool:
        """Forget ``name`` (the files stay where they are); False when it was not added."""
        data = self._read()
        if data["models"].pop(name.strip().lower(), None) is None:
            return False
        self._write(data)
        return True


def added_file_for(backend: str) -> Path | None:
    """The file added for the ONNX backend ``backend`` (by its registry name), if any."""
    try:
        models = ModelStore().all()
    except InvalidParamsError as exc:
        log.warning("%s", exc)
        return None
    for m in models:
        if m.backend == backend and m.path.is_file():
            return m.path
    return None


__all__ = [
    "AddedModel",
    "ModelKind",
    "ModelStore",
    "added_file_for",
    "detect",
    "valid_name",
]
