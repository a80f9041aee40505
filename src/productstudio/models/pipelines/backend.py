"""A pretrained diffusers pipeline, loaded from local files, serving three tasks.

:class:`DiffusersPipeline` loads one model (SD 1.x/2.x, SDXL, SD3, Flux … whatever diffusers
loads from a folder or a single checkpoint) once and runs text-to-image, image-to-image and
inpainting on the same weights (diffusers' ``AutoPipelineFor*.from_pipe`` shares the
components; nothing is loaded twice). An inpainting-only checkpoint (a UNet with 9 input
channels) also serves text-to-image and image-to-image, as inpainting of the whole canvas.

* Local only: ``local_files_only=True`` unless :attr:`LoadOptions.allow_hub`; a single
  checkpoint without a local config folder is refused *before* diffusers would fall back to
  downloading the configs.
* Device ``auto`` = CUDA, then MPS, then CPU; dtype ``auto`` = float16 on an accelerator,
  float32 on the CPU; optional model/sequential CPU offload, attention slicing, VAE tiling,
  scheduler choice.
* Every call takes a seed (a CPU ``torch.Generator``: the same seed gives the same image on
  the same device and settings), an ``on_progress(done, total)`` callback and a
  ``should_cancel()`` poll checked after every step (raises :class:`CancelledError`).
* One call at a time per instance (a lock); load one instance per worker process.

torch and diffusers are imported when a pipeline is loaded, never at module import.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from productstudio.errors import (
    BackendError,
    CancelledError,
    InvalidParamsError,
    ProductStudioError,
    WeightsNotFoundError,
    require,
)
from productstudio.imaging.types import as_mask, check_image, from_float, to_uint8
from productstudio.models.pipelines.layout import (
    ModelSource,
    SourceFormat,
    find_in_hf_cache,
    hf_hub_cache,
    inspect_folder,
)
from productstudio.models.pipelines.options import (
    SCHEDULER_CLASSES,
    Device,
    DType,
    GenerationParams,
    LoadOptions,
    Offload,
    SchedulerName,
    Task,
    round_to_multiple,
)

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


@dataclass(frozen=True, slots=True)
class Generated:
    """One generated image and how it was made.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        task: what was run (after an inpaint-only model's fallback, still the task asked).
        params: the exact parameters (with the seed used).
        seconds: wall time of the call (model already loaded).
        steps_run: denoising steps actually run (image-to-image runs ``steps × strength``).
        nsfw: the model's safety checker flagged the image (it comes back black).
    """

    image: NDArray[np.uint8]
    task: Task
    params: GenerationParams
    seconds: float
    steps_run: int
    nsfw: bool = False


def resolve_device(device: Device) -> str:
    """``auto`` → ``cuda``, ``mps`` or ``cpu``; an unavailable explicit choice is an error."""
    import torch

    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if device is Device.AUTO:
        return "cuda" if cuda else "mps" if mps else "cpu"
    if device is Device.CUDA and not cuda:
        raise InvalidParamsError(
            f"--device cuda: no CUDA device is available (torch {torch.__version__}); "
            "use --device auto or cpu"
        )
    if device is Device.MPS and not mps:
        raise InvalidParamsError("--device mps: Apple MPS is not available; use auto or cpu")
    return device.value


def resolve_dtype(dtype: DType, device: str) -> str:
    """``auto`` → float16 on CUDA/MPS, float32 on the CPU."""
    if dtype is DType.AUTO:
        return "float32" if device == "cpu" else "float16"
    if dtype is DType.FLOAT16 and device == "cpu":
        log.warning("float16 on the CPU is slow and some layers lack it; float32 is advised")
    return dtype.value


def _import_diffusers() -> Any:
    require("diffusers", "learn")
    require("transformers", "learn")
    import diffusers
    import transformers

    # the library reports progress through on_progress; no tqdm bars of its own on stderr
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    return diffusers


def _single_file_config(source: ModelSource, options: LoadOptions) -> str:
    """The config folder (or, with hub access, repo id) for a single checkpoint file."""
    if source.config is not None:
        return str(source.config)
    from diffusers.loaders.single_file_utils import (
        fetch_diffusers_config,
        load_single_file_checkpoint,
    )

    assert source.path is not None
    checkpoint = load_single_file_checkpoint(str(source.path), local_files_only=True)
    repo = str(fetch_diffusers_config(checkpoint)["pretrained_model_name_or_path"])
    del checkpoint
    snap = find_in_hf_cache(repo)
    if snap is not None:
        log.info("configs for %s from the HF cache: %s", source.path.name, snap)
        return str(snap)
    if options.allow_hub:
        return repo
    raise WeightsNotFoundError(
        f'"{source.path}" is a single checkpoint whose component configs (unet, vae, text '
        f"encoder…) come from the diffusers repo '{repo}', which is not on this machine. "
        f"Pass --config FOLDER: a diffusers folder of the same family (e.g. a download of "
        f"{repo}; only its config files are read), or --allow-download to fetch the configs."
    )


def _load_pipe(source: ModelSource, options: LoadOptions, torch_dtype: Any) -> Any:
    """The diffusers pipeline object for ``source`` (weights on the CPU)."""
    diffusers = _import_diffusers()
    kw: dict[str, Any] = {"dtype": torch_dtype, "local_files_only": not options.allow_hub}
    if not options.safety_checker and "safety_checker" in source.components:
        kw.update(safety_checker=None, requires_safety_checker=False)
    try:
        if source.format is SourceFormat.DIFFUSERS:
            assert source.path is not None
            if source.variant:
                kw["variant"] = source.variant
            cls = (
                getattr(diffusers, source.pipeline_class or "", None) or diffusers.DiffusionPipeline
            )
            return cls.from_pretrained(str(source.path), **kw)
        if source.format is SourceFormat.SINGLE_FILE:
            assert source.path is not None
            config = _single_file_config(source, options)
            cls_name = source.pipeline_class
            if cls_name is None:
                cfg_path = Path(config)
                if cfg_path.is_dir():
                    cls_name = inspect_folder(cfg_path, check_weights=False).pipeline_class
            cls = getattr(diffusers, cls_name or "", None) or diffusers.StableDiffusionPipeline
            if not hasattr(cls, "from_single_file"):
                raise BackendError(
                    f"{cls.__name__} cannot be loaded from a single checkpoint file in diffusers "
                    f"{diffusers.__version__}; use the model's diffusers folder instead"
                )
            return cls.from_single_file(str(source.path), config=config, **kw)
        assert source.repo_id is not None
        return diffusers.DiffusionPipeline.from_pretrained(
            source.repo_id, cache_dir=str(hf_hub_cache()), **kw
        )
    except ProductStudioError:
        raise
    except Exception as exc:  # diffusers/transformers raise many untyped errors when loading
        raise BackendError(
            f"cannot load the pipeline {source.label} with diffusers {diffusers.__version__}: {exc}"
        ) from exc


def _check_tokenizers(pipe: Any, label: str) -> None:
    """transformers 5 can hand back an empty 2-token tokenizer instead of failing."""
    for name in ("tokenizer", "tokenizer_2", "tokenizer_3"):
        tok = getattr(pipe, name, None)
        if tok is not None and len(tok) <= 2:
            raise BackendError(
                f"the {name} of {label} loaded empty ({len(tok)} tokens): its {name}/ folder "
                "lacks the vocabulary (tokenizer.json, or vocab.json + merges.txt)"
            )


def make_scheduler(pipe: Any, name: SchedulerName) -> Any:
    """A new scheduler of kind ``name`` from the pipeline's scheduler config."""
    diffusers = _import_diffusers()
    cls_name, extra = SCHEDULER_CLASSES[name]
    cls = getattr(diffusers, cls_name)
    return cls.from_config(pipe.scheduler.config, **extra)


@dataclass
class _State:
    pipes: dict[Task, Any] = field(default_factory=dict)
    active: Task | None = None


class DiffusersPipeline:
    """A loaded pretrained pipeline (see the module docstring).

    Build it with :meth:`load` (a reference or path), :meth:`from_source` (a checked
    :class:`ModelSource`) or :meth:`from_pipe` (a diffusers pipeline object already in memory,
    e.g. the tiny random-weight one of :mod:`.tiny`).
    """

    def __init__(
        self,
        pipe: Any,
        *,
        source: ModelSource | None,
        options: LoadOptions,
        device: str,
        dtype: str,
        inpaint_only: bool = False,
    ) -> None:
        self.base = pipe
        self.source = source
        self.options = options
        self.device = device
        self.dtype = dtype
        self.inpaint_only = inpaint_only
        self.offload = options.offload if device != "cpu" else Offload.NONE
        self._state = _State()
        self._lock = threading.Lock()

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        ref: str | Path | None = None,
        options: LoadOptions | None = None,
        *,
        task: Task | None = None,
    ) -> DiffusersPipeline:
        """Resolve ``ref`` (added name, path, cached hub id; ``None``: the default) and load it.

        Raises:
            WeightsNotFoundError: nothing found, or an incomplete folder (the file is named).
            BackendError: diffusers could not load it.
        """
        from productstudio.models.pipelines.resolve import resolve_pipeline

        opts = options or LoadOptions()
        src = resolve_pipeline(ref, config=opts.config, allow_hub=opts.allow_hub, task=task)
        return cls.from_source(src, opts)

    @classmethod
    def from_source(
        cls, source: ModelSource, options: LoadOptions | None = None
    ) -> DiffusersPipeline:
        """Load a checked :class:`ModelSource`."""
        import torch

        opts = options or LoadOptions()
        device = resolve_device(opts.device)
        dtype = resolve_dtype(opts.dtype, device)
        t0 = time.perf_counter()
        pipe = _load_pipe(source, opts, getattr(torch, dtype))
        log.info("loaded %s in %.1f s", source.label, time.perf_counter() - t0)
        return cls.from_pipe(pipe, opts, source=source, device=device, dtype=dtype)

    @classmethod
    def from_pipe(
        cls,
        pipe: Any,
        options: LoadOptions | None = None,
        *,
        source: ModelSource | None = None,
        device: str | None = None,
        dtype: str | None = None,
    ) -> DiffusersPipeline:
        """Wrap a diffusers pipeline object (its weights are converted to ``dtype``)."""
        import torch

        opts = options or LoadOptions()
        device = device or resolve_device(opts.device)
        dtype = dtype or resolve_dtype(opts.dtype, device)
        _check_tokenizers(pipe, source.label if source else type(pipe).__name__)
        if opts.scheduler is not SchedulerName.DEFAULT:
            pipe.scheduler = make_scheduler(pipe, opts.scheduler)
        denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
        in_ch = getattr(getattr(denoiser, "config", None), "in_channels", None)
        inpaint_only = bool(source.inpaint_only) if source else in_ch == 9
        if getattr(pipe, "dtype", None) != getattr(torch, dtype):
            pipe.to(dtype=getattr(torch, dtype))
        self = cls(
            pipe,
            source=source,
            options=opts,
            device=device,
            dtype=dtype,
            inpaint_only=inpaint_only,
        )
        if opts.offload is not Offload.NONE and device == "cpu":
            log.warning(
                "CPU offload needs an accelerator (CUDA/MPS); on the CPU the weights already "
                "live in RAM, so --offload %s is ignored",
                opts.offload.value,
            )
        return self

    # -- facts ----------------------------------------------------------------------------
    @property
    def native_size(self) -> int:
        """The model's native output side in px (512 for SD 1.5, 1024 for SDXL)."""
        if self.source is not None and self.source.sample_size:
            return int(self.source.sample_size)
        denoiser = getattr(self.base, "unet", None) or getattr(self.base, "transformer", None)
        sample = getattr(getattr(denoiser, "config", None), "sample_size", None)
        if isinstance(sample, list | tuple):
            sample = sample[0]
        scale = int(getattr(self.base, "vae_scale_factor", 8) or 8)
        return int(sample) * scale if isinstance(sample, int) else 512

    def describe(self) -> dict[str, Any]:
        """Everything about the loaded model that decides its output (saved beside outputs)."""
        import diffusers
        import torch

        return {
            "model": self.source.as_dict() if self.source else {"path": None, "format": "memory"},
            "pipeline_class": type(self.base).__name__,
            "scheduler": type(self.base.scheduler).__name__,
            "device": self.device,
            "dtype": self.dtype,
            "offload": self.offload.value,
            "load_options": self.options.as_dict(),
            "inpaint_only": self.inpaint_only,
            "versions": {"diffusers": diffusers.__version__, "torch": torch.__version__},
        }

    # -- task pipelines --------------------------------------------------------------------
    def _pipe_for(self, task: Task) -> Any:
        """The diffusers pipeline for ``task`` sharing the loaded components, ready on device."""
        st = self._state
        if task not in st.pipes:
            diffusers = _import_diffusers()
            auto = {
                Task.TEXT_TO_IMAGE: diffusers.AutoPipelineForText2Image,
                Task.IMAGE_TO_IMAGE: diffusers.AutoPipelineForImage2Image,
                Task.INPAINT: diffusers.AutoPipelineForInpainting,
            }[task]
            try:
                pipe = auto.from_pipe(self.base)
            except (ValueError, KeyError, TypeError) as exc:
                raise BackendError(
                    f"{type(self.base).__name__} has no {task.value} variant in diffusers: {exc}"
                ) from exc
            pipe.set_progress_bar_config(disable=True)
            st.pipes[task] = pipe
        pipe = st.pipes[task]
        if st.active is not task:
            self._place(pipe)
            st.active = task
        return pipe

    def _place(self, pipe: Any) -> None:
        if self.options.attention_slicing and hasattr(pipe, "enable_attention_slicing"):
            pipe.enable_attention_slicing()
        if self.options.vae_tiling and hasattr(getattr(pipe, "vae", None), "enable_tiling"):
            pipe.vae.enable_tiling()
        if self.offload is Offload.MODEL:
            pipe.enable_model_cpu_offload(device=self.device)
        elif self.offload is Offload.SEQUENTIAL:
            pipe.enable_sequential_cpu_offload(device=self.device)
        else:
            pipe.to(self.device)

    # -- calls ----------------------------------------------------------------------------
    def _size(self, params: GenerationParams, image: np.ndarray | None) -> tuple[int, int]:
        if params.width and params.height:
            return params.width, params.height
        if image is not None:
            h, w = image.shape[:2]
            ww = params.width or round_to_multiple(w)
            hh = params.height or round_to_multiple(h)
            return ww, hh
        n = round_to_multiple(self.native_size)
        return params.width or n, params.height or n

    def _run(
        self,
        task: Task,
        params: GenerationParams,
        kwargs: dict[str, Any],
        on_progress: ProgressFn | None,
        should_cancel: CancelFn | None,
    ) -> Generated:
        import torch

        if should_cancel is not None and should_cancel():
            raise CancelledError(f"{task.value} cancelled before it started")
        done = [0]

        def callback(pipe: Any, step: int, _t: Any, _kw: dict[str, Any]) -> dict[str, Any]:
            total = int(getattr(pipe, "num_timesteps", 0) or params.steps)
            done[0] = step + 1
            if on_progress is not None:
                on_progress(step + 1, total)
            if should_cancel is not None and should_cancel():
                raise CancelledError(
                    f"{task.value} cancelled after {step + 1} of {total} steps (nothing was saved)"
                )
            return {}

        with self._lock:
            pipe = self._pipe_for(task)
            generator = torch.Generator(device="cpu").manual_seed(params.seed)
            t0 = time.perf_counter()
            try:
                out = pipe(
                    prompt=params.prompt,
                    negative_prompt=params.negative or None,
                    num_inference_steps=params.steps,
                    guidance_scale=params.guidance,
                    generator=generator,
                    output_type="np",
                    callback_on_step_end=callback,
                    **kwargs,
                )
            except CancelledError:
                raise
            except (RuntimeError, ValueError, TypeError) as exc:
                if "out of memory" in str(exc).lower():
                    raise BackendError(
                        f"{task.value} ran out of memory on {self.device}: try --offload model, "
                        "--attention-slicing, a smaller size or --dtype float16"
                    ) from exc
                raise BackendError(f"{task.value} failed in diffusers: {exc}") from exc
            seconds = time.perf_counter() - t0
        images = np.asarray(out.images)
        nsfw_flags = getattr(out, "nsfw_content_detected", None) or [False]
        image = from_float(np.clip(images[0], 0.0, 1.0), np.uint8)
        if nsfw_flags[0]:
            log.warning("the model's safety checker blanked the image (seed %d)", params.seed)
        return Generated(
            image=np.ascontiguousarray(image[..., :3]).astype(np.uint8),
            task=task,
            params=params,
            seconds=seconds,
            steps_run=done[0],
            nsfw=bool(nsfw_flags[0]),
        )

    def text_to_image(
        self,
        params: GenerationParams,
        *,
        on_progress: ProgressFn | None = None,
        should_cancel: CancelFn | None = None,
    ) -> Generated:
        """Draw ``params.prompt`` at ``params.width`` x ``height`` (default: native size)."""
        w, h = self._size(params, None)
        if self.inpaint_only:
            canvas = np.full((h, w, 3), 127, np.uint8)
            full = np.ones((h, w), np.float32)
            res = self.inpaint(
                canvas,
                full,
                replace(params, width=w, height=h, strength=1.0),
                on_progress=on_progress,
                should_cancel=should_cancel,
            )
            return replace(res, task=Task.TEXT_TO_IMAGE)
        return self._run(
            Task.TEXT_TO_IMAGE,
            params,
            {"width": w, "height": h},
            on_progress,
            should_cancel,
        )

    def image_to_image(
        self,
        image: np.ndarray,
        params: GenerationParams,
        *,
        on_progress: ProgressFn | None = None,
        should_cancel: CancelFn | None = None,
    ) -> Generated:
        """A variation of ``image`` ((H, W, 3|4) uint8): ``params.strength`` 0.2 stays close,
        0.8 keeps only the composition. The output keeps the photo's aspect with its long side
        at the model's native size (multiples of 8), or is ``params.width`` x ``height``:
        diffusion models draw poorly far from their native resolution."""
        check_image(image)
        if params.width and params.height:
            w, h = params.width, params.height
        else:
            ih, iw = image.shape[:2]
            s = self.native_size / max(ih, iw)
            w, h = round_to_multiple(iw * s), round_to_multiple(ih * s)
        rgb = _resized(to_uint8(image)[..., :3], w, h)
        if self.inpaint_only:
            res = self.inpaint(
                rgb,
                np.ones((h, w), np.float32),
                replace(params, width=w, height=h),
                on_progress=on_progress,
                should_cancel=should_cancel,
            )
            return replace(res, task=Task.IMAGE_TO_IMAGE)
        from PIL import Image as PILImage

        return self._run(
            Task.IMAGE_TO_IMAGE,
            params,
            {"image": PILImage.fromarray(rgb), "strength": params.strength},
            on_progress,
            should_cancel,
        )

    def inpaint(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        params: GenerationParams,
        *,
        on_progress: ProgressFn | None = None,
        should_cancel: CancelFn | None = None,
    ) -> Generated:
        """Repaint where ``mask >= 0.5`` ((H, W) bool/uint8/float) of ``image`` ((H, W, 3|4)).

        This is plain diffusers inpainting: the whole output passes through the VAE, so
        pixels outside the mask change too. Callers that promise exact pixels paste them
        back (:func:`productstudio.ops.scene.composite_scene`, the ``diffusion`` inpainter).
        """
        check_image(image)
        m = as_mask(mask, shape=image.shape[:2])
        if not (m >= 0.5).any():
            raise InvalidParamsError("the inpainting mask is empty: nothing to repaint")
        w, h = self._size(params, image)
        rgb = _resized(to_uint8(image)[..., :3], w, h)
        m8: np.ndarray = (m >= 0.5).astype(np.uint8) * 255
        if m8.shape != (h, w):
            import cv2

            m8 = cv2.resize(m8, (w, h), interpolation=cv2.INTER_NEAREST)
        from PIL import Image as PILImage

        return self._run(
            Task.INPAINT,
            params,
            {
                "image": PILImage.fromarray(rgb),
                "mask_image": PILImage.fromarray(m8),
                "strength": params.strength,
                "width": w,
                "height": h,
            },
            on_progress,
            should_cancel,
        )


def _resized(rgb: NDArray[np.uint8], w: int, h: int) -> NDArray[np.uint8]:
    if rgb.shape[:2] == (h, w):
        return np.ascontiguousarray(rgb)
    import cv2

    interp = cv2.INTER_AREA if w * h < rgb.shape[0] * rgb.shape[1] else cv2.INTER_LANCZOS4
    return np.ascontiguousarray(cv2.resize(rgb, (w, h), interpolation=interp))


__all__ = [
    "CancelFn",
    "DiffusersPipeline",
    "Generated",
    "ProgressFn",
    "make_scheduler",
    "resolve_device",
    "resolve_dtype",
]
