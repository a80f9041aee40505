"""What a local pretrained model looks like on disk, checked before torch is imported.

Three shapes are accepted (all read locally; nothing here opens a network connection):

* a **diffusers folder**: ``model_index.json`` plus one sub-folder per component, as
  ``save_pretrained`` writes and the Hugging Face Hub serves (SD 1.x/2.x, SDXL, SD3, Flux …);
* a **single checkpoint file** (``.safetensors``/``.ckpt``) as A1111/ComfyUI users keep them;
  its component configs come from a diffusers folder of the same family (``--config``), or
  from the Hugging Face cache when the matching config repo is there;
* a **Hugging Face cache** entry: ``~/.cache/huggingface/hub/models--org--name`` (or the
  repo id ``org/name``) resolves to its current snapshot, so models a user already
  downloaded are reused in place.

:func:`inspect_folder` / :func:`inspect_file` raise :class:`WeightsNotFoundError` naming the
missing file and the expected layout; they also catch Git LFS pointer files (a clone without
``git lfs pull``), truncated ``.safetensors`` downloads and broken links into the HF cache.

Example:
    >>> hf_repo_folder_name("runwayml/stable-diffusion-inpainting")
    'models--runwayml--stable-diffusion-inpainting'
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from productstudio.errors import WeightsChecksumError, WeightsNotFoundError

log = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
LFS_MAGIC = b"version https://git-lfs.github.com/spec"
_WEIGHT_STEMS = ("diffusion_pytorch_model", "model", "pytorch_model")
_WEIGHT_EXTS = (".safetensors", ".bin")
_TOKENIZER_SETS = (
    ("tokenizer.json",),
    ("vocab.json", "merges.txt"),
    ("spiece.model",),
    ("tokenizer.model",),
)
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")

EXPECTED_LAYOUT = """Expected a diffusers pipeline folder (as save_pretrained/a hub download make):
  model_index.json
  scheduler/scheduler_config.json
  text_encoder/config.json + model.safetensors (or pytorch_model.bin)
  tokenizer/tokenizer.json, or vocab.json + merges.txt
  unet/config.json + diffusion_pytorch_model.safetensors (or .bin)   (SD3/Flux: transformer/)
  vae/config.json + diffusion_pytorch_model.safetensors (or .bin)
or a single checkpoint file (.safetensors/.ckpt) given with --config FOLDER (a diffusers folder
of the same family; only its config files are read)."""


class SourceFormat(StrEnum):
    """How a pretrained pipeline is stored."""

    DIFFUSERS = "diffusers"  # a folder with model_index.json
    SINGLE_FILE = "single-file"  # one .safetensors/.ckpt checkpoint
    HUB = "hub"  # a repo id that diffusers may download (only with allow_hub)


@dataclass(frozen=True, slots=True)
class ModelSource:
    """A checked, local pretrained pipeline.

    Attributes:
        path: the diffusers folder, or the checkpoint file (``None`` only for ``HUB``).
        format: see :class:`SourceFormat`.
        pipeline_class: ``_class_name`` of ``model_index.json`` (e.g.
            ``StableDiffusionInpaintPipeline``); for a single file, that of its config folder.
        variant: ``"fp16"`` when the folder holds only ``*.fp16.*`` weights.
        inpaint_only: the denoiser takes the masked image as extra input channels (an
            inpainting checkpoint such as SD 1.5-inpainting); text-to-image then runs as
            inpainting of an empty canvas.
        repo_id: the Hugging Face repo id when the model came from the HF cache or the hub.
        config: for a single file, the folder whose component configs describe it.
        components: component name → (library, class) from ``model_index.json``.
        sample_size: the model's native output side in px, when its configs tell it.
    """

    path: Path | None
    format: SourceFormat
    pipeline_class: str | None = None
    variant: str | None = None
    inpaint_only: bool = False
    repo_id: str | None = None
    config: Path | None = None
    components: dict[str, tuple[str, str]] = field(default_factory=dict)
    sample_size: int | None = None

    @property
    def label(self) -> str:
        """A short name for logs and saved settings."""
        if self.repo_id:
            return self.repo_id
        return str(self.path) if self.path is not None else "?"

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path) if self.path is not None else None,
            "format": self.format.value,
            "pipeline_class": self.pipeline_class,
            "variant": self.variant,
            "inpaint_only": self.inpaint_only,
            "repo_id": self.repo_id,
            "config": str(self.config) if self.config is not None else None,
        }


# -- Hugging Face cache -------------------------------------------------------------------
def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder, as huggingface_hub itself resolves it.

    ``HF_HUB_CACHE`` (or the older ``HUGGINGFACE_HUB_CACHE``), else ``$HF_HOME/hub``, else
    ``$XDG_CACHE_HOME/huggingface/hub``, else ``~/.cache/huggingface/hub``.
    """
    for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(key):
            return Path(os.environ[key]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def hf_repo_folder_name(repo_id: str) -> str:
    """``org/name`` → ``models--org--name`` (the cache's folder for a model repo)."""
    return "models--" + repo_id.replace("/", "--")


def is_repo_id(text: str) -> bool:
    """Whether ``text`` looks like a hub repo id (``org/name``) rather than a path."""
    return bool(_REPO_ID.match(text)) and not Path(text).expanduser().exists()


def _snapshot_of(repo_dir: Path) -> Path | None:
    """The snapshot folder ``refs/main`` points at, else the newest one."""
    snaps = repo_dir / "snapshots"
    if not snaps.is_dir():
        return None
    ref = repo_dir / "refs" / "main"
    if ref.is_file():
        rev = ref.read_text(encoding="utf-8").strip()
        if (snaps / rev).is_dir():
            return snaps / rev
    candidates = [p for p in snaps.iterdir() if p.is_dir()]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def find_in_hf_cache(repo_id: str, cache: Path | None = None) -> Path | None:
    """The local snapshot folder of ``repo_id`` in the HF cache, or ``None``."""
    repo_dir = (cache or hf_hub_cache()) / hf_repo_folder_name(repo_id)
    return _snapshot_of(repo_dir) if repo_dir.is_dir() else None


def cached_pipelines(cache: Path | None = None) -> list[tuple[str, Path]]:
    """``(repo_id, snapshot)`` of every diffusers pipeline in the HF cache, sorted by id."""
    root = cache or hf_hub_cache()
    if not root.is_dir():
        return []
    out: list[tuple[str, Path]] = []
    for d in sorted(root.glob("models--*")):
        snap = _snapshot_of(d)
        if snap is not None and (snap / "model_index.json").is_file():
            repo_id = d.name.removeprefix("models--").replace("--", "/", 1)
            out.append((repo_id, snap))
    return out


def snapshot_of_cache_folder(path: Path) -> tuple[str, Path] | None:
    """``(repo_id, snapshot)`` when ``path`` is a ``models--org--name`` cache folder."""
    if path.name.startswith("models--") and (path / "snapshots").is_dir():
        snap = _snapshot_of(path)
        if snap is not None:
            return path.name.removeprefix("models--").replace("--", "/", 1), snap
    return None


# -- file checks --------------------------------------------------------------------------
def _check_weight_file(path: Path, rel: str) -> None:
    """Raise when ``path`` is a broken link, an LFS pointer or a truncated safetensors file."""
    if path.is_symlink() and not path.exists():
        raise WeightsNotFoundError(
            f'"{rel}" is a broken link into the Hugging Face cache (the download did not '
            "finish): download the model again"
        )
    size = path.stat().st_size
    if size < 1024:
        with path.open("rb") as fh:
            head = fh.read(len(LFS_MAGIC))
        if head == LFS_MAGIC:
            raise WeightsNotFoundError(
                f'"{rel}" is a Git LFS pointer ({size} bytes), not the weights: the repository '
                "was cloned without Git LFS. Run `git lfs pull` in the model folder."
            )
    if path.suffix == ".safetensors":
        check_safetensors(path, rel)


def check_safetensors(path: Path, rel: str | None = None) -> None:
    """Raise :class:`WeightsChecksumError` when a ``.safetensors`` file is cut short.

    The format is an 8-byte little-endian header length, a JSON header giving every tensor's
    byte range, then the data; a complete file is exactly as long as its last range ends.
    """
    rel = rel or str(path)
    size = path.stat().st_size
    try:
        with path.open("rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            if n > size - 8 or n > 100_000_000:
                raise ValueError("header length beyond the end of the file")
            header = json.loads(fh.read(n))
    except (OSError, ValueError, struct.error) as exc:
        raise WeightsChecksumError(
            f'"{rel}" is not a readable .safetensors file ({exc}): download it again'
        ) from None
    end = max(
        (int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0
    )
    if size != 8 + n + end:
        raise WeightsChecksumError(
            f'"{rel}" is {size:,} bytes but its header describes {8 + n + end:,}: the file is '
            "truncated or damaged. Download it again."
        )


def _weights_of(folder: Path) -> tuple[list[Path], str | None]:
    """The weight files of one component folder and their variant (``fp16`` …)."""
    for ext in _WEIGHT_EXTS:
        for stem in _WEIGHT_STEMS:
            index = folder / f"{stem}{ext}.index.json"
            if index.is_file():
                data = json.loads(index.read_text(encoding="utf-8"))
                shards = sorted(set(data.get("weight_map", {}).values()))
                return [folder / s for s in shards], None
            if (folder / f"{stem}{ext}").exists() or (folder / f"{stem}{ext}").is_symlink():
                return [folder / f"{stem}{ext}"], None
    for p in sorted(folder.glob("*.*.safetensors")) + sorted(folder.glob("*.*.bin")):
        stem, variant = p.name.split(".")[0], p.name.split(".")[1]
        if stem in _WEIGHT_STEMS and not variant.startswith("index"):
            return [p], variant
    return [], None


def _component_kind(library: str, cls: str) -> str:
    if "Scheduler" in cls:
        return "scheduler"
    if "Tokenizer" in cls:
        return "tokenizer"
    if "ImageProcessor" in cls or "FeatureExtractor" in cls or "Processor" in cls:
        return "processor"
    return "model"


def _read_json(path: Path, rel: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WeightsNotFoundError(
            f'"{rel}" is not valid JSON ({exc}). {EXPECTED_LAYOUT}'
        ) from None
    if not isinstance(data, dict):
        raise WeightsNotFoundError(f'"{rel}" is not a JSON object. {EXPECTED_LAYOUT}')
    return data


def inspect_folder(path: str | Path, *, check_weights: bool = True) -> ModelSource:
    """Check a diffusers pipeline folder (or an HF cache folder) and describe it.

    Args:
        path: the folder with ``model_index.json``, or ``models--org--name`` in the HF cache.
        check_weights: also require every component's weight files (off for a folder used
            only as ``--config`` of a single checkpoint).

    Raises:
        WeightsNotFoundError: a missing folder or file, named, with the expected layout.
        WeightsChecksumError: a truncated or damaged weights file.
    """
    folder = Path(path).expanduser()
    repo_id: str | None = None
    if not folder.exists():
        raise WeightsNotFoundError(f'model folder "{folder}" does not exist')
    cached = snapshot_of_cache_folder(folder)
    if cached is not None:
        repo_id, folder = cached
    if not folder.is_dir():
        raise WeightsNotFoundError(f'"{folder}" is not a folder. {EXPECTED_LAYOUT}')
    index = folder / "model_index.json"
    if not index.is_file():
        ckpts = sorted(p.name for p in folder.iterdir() if p.suffix in CHECKPOINT_SUFFIXES)
        hint = (
            f" It holds the checkpoint file(s) {', '.join(ckpts)}: pass the file itself "
            "(with --config FOLDER)."
            if ckpts
            else ""
        )
        raise WeightsNotFoundError(
            f'"{folder}" is not a diffusers pipeline folder: model_index.json is missing.'
            f"{hint} {EXPECTED_LAYOUT}"
        )
    data = _read_json(index, f"{folder}/model_index.json")
    components: dict[str, tuple[str, str]] = {}
    for name, spec in data.items():
        if name.startswith("_") or not isinstance(spec, list) or len(spec) != 2:
            continue
        if spec[0] is None or spec[1] is None:
            continue
        components[name] = (str(spec[0]), str(spec[1]))
    if not components:
        raise WeightsNotFoundError(
            f'"{index}" lists no components (unet, vae, text_encoder …). {EXPECTED_LAYOUT}'
        )
    missing: list[str] = []
    variants: set[str] = set()
    for name, (library, cls) in components.items():
        sub = folder / name
        kind = _component_kind(library, cls)
        if not sub.is_dir():
            missing.append(f"{name}/ (the {cls} component)")
            continue
        if kind == "scheduler":
            if not (sub / "scheduler_config.json").is_file():
                missing.append(f"{name}/scheduler_config.json")
        elif kind == "tokenizer":
            if not any(all((sub / f).is_file() for f in s) for s in _TOKENIZER_SETS):
                missing.append(f"{name}/tokenizer.json (or vocab.json + merges.txt)")
        elif kind == "processor":
            if not (sub / "preprocessor_config.json").is_file():
                missing.append(f"{name}/preprocessor_config.json")
        else:
            if not (sub / "config.json").is_file():
                missing.append(f"{name}/config.json")
            if check_weights:
                files, variant = _weights_of(sub)
                if not files:
                    stem = "model" if library == "transformers" else "diffusion_pytorch_model"
                    missing.append(f"{name}/{stem}.safetensors (or .bin)")
                    continue
                if variant:
                    variants.add(variant)
                for f in files:
                    rel = f"{name}/{f.name}"
                    if not (f.exists() or f.is_symlink()):
                        missing.append(f"{rel} (a shard named in the index)")
                        continue
                    _check_weight_file(f, f"{folder}/{rel}")
    if missing:
        raise WeightsNotFoundError(
            f'incomplete model folder "{folder}": missing {"; ".join(missing)}. {EXPECTED_LAYOUT}'
        )
    denoiser = "unet" if "unet" in components else "transformer"
    in_ch, sample = _denoiser_config(folder / denoiser)
    vae_scale = _vae_scale(folder / "vae")
    return ModelSource(
        path=folder,
        format=SourceFormat.DIFFUSERS,
        pipeline_class=str(data.get("_class_name") or "") or None,
        variant=next(iter(sorted(variants))) if variants else None,
        inpaint_only=in_ch == 9,
        repo_id=repo_id,
        components=components,
        sample_size=sample * vae_scale if sample and vae_scale else None,
    )


def _denoiser_config(folder: Path) -> tuple[int | None, int | None]:
    cfg = folder / "config.json"
    if not cfg.is_file():
        return None, None
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    in_ch = data.get("in_channels")
    sample = data.get("sample_size")
    if isinstance(sample, list):
        sample = sample[0] if sample else None
    return (
        int(in_ch) if isinstance(in_ch, int) else None,
        int(sample) if isinstance(sample, int) else None,
    )


def _vae_scale(folder: Path) -> int | None:
    cfg = folder / "config.json"
    if not cfg.is_file():
        return None
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    blocks = data.get("block_out_channels")
    return 2 ** (len(blocks) - 1) if isinstance(blocks, list) and blocks else None


def inspect_file(path: str | Path, *, config: str | Path | None = None) -> ModelSource:
    """Check a single checkpoint file (and its ``config`` folder when given).

    Raises:
        WeightsNotFoundError: the file or config folder is missing, or is an LFS pointer.
        WeightsChecksumError: a truncated ``.safetensors`` file.
    """
    f = Path(path).expanduser()
    if not f.is_file():
        raise WeightsNotFoundError(f'checkpoint file "{f}" not found')
    if f.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise WeightsNotFoundError(
            f'"{f}" is not a checkpoint file (expected {", ".join(CHECKPOINT_SUFFIXES)}). '
            f"{EXPECTED_LAYOUT}"
        )
    _check_weight_file(f, str(f))
    cfg_source: ModelSource | None = None
    if config is not None:
        cfg_source = inspect_folder(config, check_weights=False)
    return ModelSource(
        path=f,
        format=SourceFormat.SINGLE_FILE,
        pipeline_class=cfg_source.pipeline_class if cfg_source else None,
        config=cfg_source.path if cfg_source else None,
        components=cfg_source.components if cfg_source else {},
        inpaint_only=cfg_source.inpaint_only if cfg_source else False,
        sample_size=cfg_source.sample_size if cfg_source else None,
    )


def inspect_path(path: str | Path, *, config: str | Path | None = None) -> ModelSource:
    """:func:`inspect_file` for a file, :func:`inspect_folder` for a folder."""
    p = Path(path).expanduser()
    if p.is_file():
        return inspect_file(p, config=config)
    return inspect_folder(p)


# -- checksums ----------------------------------------------------------------------------
def iter_files(path: Path) -> Iterator[tuple[str, Path]]:
    """``(relative name, path)`` of every file of a model (one for a single file), sorted."""
    if path.is_file():
        yield path.name, path
        return
    for root, dirs, files in os.walk(path, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            p = Path(root) / name
            yield p.relative_to(path).as_posix(), p


@dataclass(frozen=True, slots=True)
class FileCheck:
    """One file's verification: its size, sha256 and whether it matches the reference."""

    name: str
    size: int
    sha256: str
    ok: bool | None  # None: no reference to compare with
    reference: str = ""  # what it was compared with ("models add", "hf-cache blob")


def file_manifest(
    path: Path, on_progress: Callable[[int, int], None] | None = None
) -> dict[str, dict[str, Any]]:
    """``{relative name: {"size", "sha256"}}`` of every file of a model (sha256 of each)."""
    from productstudio.models.pull import sha256_of

    files = list(iter_files(path))
    total = sum(p.stat().st_size for _n, p in files)
    done = 0
    out: dict[str, dict[str, Any]] = {}
    for name, p in files:
        size = p.stat().st_size
        out[name] = {"size": size, "sha256": sha256_of(p)}
        done += size
        if on_progress:
            on_progress(done, total)
    return out


def _git_blob_sha1(path: Path) -> str:
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_files(
    path: Path,
    reference: dict[str, dict[str, Any]] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[FileCheck]:
    """sha256 of every file of a model, compared with ``reference`` (from ``models add``)
    or, for files in the HF cache, with the blob name the hub gave it (the sha256 of LFS
    files, the git blob sha1 of small ones). Files named in ``reference`` but gone are
    reported with size -1."""
    from productstudio.models.pull import sha256_of

    files = list(iter_files(path))
    total = sum(p.stat().st_size for _n, p in files if p.exists())
    done = 0
    out: list[FileCheck] = []
    for name, p in files:
        if not p.exists():
            out.append(FileCheck(name, -1, "", False, "broken link"))
            continue
        size = p.stat().st_size
        digest = sha256_of(p)
        done += size
        if on_progress:
            on_progress(done, total)
        if reference is not None and name in reference:
            ok = reference[name].get("sha256") == digest and reference[name].get("size") == size
            out.append(FileCheck(name, size, digest, ok, "models add"))
            continue
        blob = Path(os.path.realpath(p)).name
        if p.is_symlink() and re.fullmatch(r"[0-9a-f]{64}", blob):
            out.append(FileCheck(name, size, digest, blob == digest, "hf-cache blob (sha256)"))
        elif p.is_symlink() and re.fullmatch(r"[0-9a-f]{40}", blob):
            out.append(
                FileCheck(name, size, digest, _git_blob_sha1(p) == blob, "hf-cache blob (git)")
            )
        else:
            out.append(FileCheck(name, size, digest, None, "" if reference is None else "new"))
    for name in sorted(set(reference or {}) - {n for n, _p in files}):
        out.append(FileCheck(name, -1, "", False, "models add (file gone)"))
    return out


__all__ = [
    "CHECKPOINT_SUFFIXES",
    "EXPECTED_LAYOUT",
    "FileCheck",
    "ModelSource",
    "SourceFormat",
    "cached_pipelines",
    "check_safetensors",
    "file_manifest",
    "find_in_hf_cache",
    "hf_hub_cache",
    "hf_repo_folder_name",
    "inspect_file",
    "inspect_folder",
    "inspect_path",
    "is_repo_id",
    "iter_files",
    "snapshot_of_cache_folder",
    "verify_files",
]
