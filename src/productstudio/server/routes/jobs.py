"""Async jobs: submit a batch (or sampling) → id; status, progress as Server-Sent Events,
the result zip and single outputs; cancel; delete. See :mod:`productstudio.server.jobs`."""

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse

from productstudio.server.context import AppContext, Caller, choice_enum, value
from productstudio.server.errors import ApiError
from productstudio.server.jobs import ITEMS, RESULT, job_dir, safe_name
from productstudio.server.routes.ops import parse_attrs
from productstudio.server.store import Job, JobKind, JobStatus

JobId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$", description="The job's id.")]
_NAME = re.compile(r"^[0-9]{4}_[A-Za-z0-9._-]{1,100}$")


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix="/v1/jobs", tags=["jobs"])
    Preset = choice_enum("JobPreset", ctx.presets)
    Segmenter = choice_enum("JobSegmenter", ["auto", *ctx.segmenters])
    s = ctx.settings

    def store() -> Any:
        assert ctx.store is not None
        return ctx.store

    def owned(job_id: str, caller: Caller) -> Job:
        job = store().get_job(job_id)
        if job is None or (caller.key_id and job.key_id != caller.key_id):
            raise ApiError(404, "not_found", f"No job {job_id} (it may have expired).")
        return job

    def describe(job: Job) -> dict[str, Any]:
        d = job.to_dict()
        d["links"] = {
            "self": f"/v1/jobs/{job.id}",
            "events": f"/v1/jobs/{job.id}/events",
            "result": f"/v1/jobs/{job.id}/result",
            "cancel": f"/v1/jobs/{job.id}/cancel",
        }
        items = job_dir(s.data_dir, job.id) / ITEMS
        if job.status is JobStatus.DONE and items.is_file():
            d["items"] = json.loads(items.read_text())
        return d

    async def stage(job: Job, uploads: list[tuple[str, str, UploadFile]]) -> None:
        """Check and write a job's uploads (``(field, file name, upload)``) into its
        ``inputs/`` folder. Staged first, queued last: a refused upload leaves no row in the
        queue and no file."""
        folder = job_dir(s.data_dir, job.id)
        ok = False
        try:
            inputs = folder / "inputs"
            inputs.mkdir(parents=True)
            for i, (field, name, up) in enumerate(uploads):
                data = await up.read(s.max_upload_bytes + 1)
                ctx.check_image(data, field)
                await asyncio.to_thread((inputs / safe_name(name, i)).write_bytes, data)
            ok = True
        finally:
            if not ok:
                shutil.rmtree(folder, ignore_errors=True)
                store().delete_job(job.id)

    def queued(job: Job) -> JSONResponse:
        assert ctx.runner is not None
        ctx.runner.wake()
        return JSONResponse(
            describe(job), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"}
        )

    @r.post("", status_code=202, summary="Submit a batch: photos through a preset")
    async def submit(
        request: Request,
        images: Annotated[list[UploadFile], File(description="One or many photos.")],
        preset: Annotated[Preset, Form()],  # type: ignore[valid-type]
        model: Annotated[Segmenter | None, Form()] = None,  # type: ignore[valid-type]
        check: Annotated[bool, Form(description="Check each output (text rule off).")] = True,
    ) -> JSONResponse:
        caller = await ctx.authenticate(request)
        if not 1 <= len(images) <= s.max_batch_files:
            raise ApiError(
                400, "invalid_parameters", f"Send 1 to {s.max_batch_files} images in 'images'."
            )
        job = store().create_job(
            JobKind.BATCH,
            {
                "preset": value(preset),
                "segmenter": value(model) if model is not None else s.segmenter,
                "check": check,
            },
            total=len(images),
            key_id=caller.key_id,
        )
        await stage(
            job,
            [
                (f"images[{i}] ({up.filename or 'unnamed'})", up.filename or "", up)
                for i, up in enumerate(images)
            ],
        )
        return queued(job)

    if ctx.generators:
        Generator = choice_enum("JobGenerator", sorted(ctx.generators))

        @r.post("/sample", status_code=202, summary="Submit a sampling job")
        async def submit_sample(
            request: Request,
            generator: Annotated[Generator, Form()],  # type: ignore[valid-type]
            title: Annotated[str, Form(max_length=300)] = "",
            attrs: Annotated[str, Form(max_length=2000)] = "{}",
            n: Annotated[int, Form(ge=1, le=1024)] = 16,
            seed: Annotated[int, Form(ge=0, le=2**31 - 1)] = 0,
        ) -> JSONResponse:
            caller = await ctx.authenticate(request)
            job = store().create_job(
                JobKind.SAMPLE,
                {
                    "generator": value(generator),
                    "generator_dir": str(ctx.generators[value(generator)]),
                    "title": title,
                    "attrs": parse_attrs(attrs),
                    "n": n,
                    "seed": seed,
                },
                total=n,
                key_id=caller.key_id,
            )
            return queued(job)

    if ctx.pipelines:
        _pipeline_routes(r, ctx, store, stage, queued)

    @r.get("", summary="Your jobs, newest first")
    async def list_jobs(request: Request) -> dict[str, Any]:
        caller = await ctx.authenticate(request)
        jobs = store().jobs(key_id=caller.key_id or None)
        return {"jobs": [describe(j) for j in jobs]}

    @r.get("/{job_id}", summary="Status and progress")
    async def status(request: Request, job_id: JobId) -> dict[str, Any]:
        caller = await ctx.authenticate(request)
        return describe(owned(job_id, caller))

    @r.get(
        "/{job_id}/events",
        summary="Progress as Server-Sent Events (event: progress … event: end)",
        response_class=StreamingResponse,
        responses={"200": {"content": {"text/event-stream": {}}}},
    )
    async def events(request: Request, job_id: JobId) -> StreamingResponse:
        caller = await ctx.authenticate(request)
        owned(job_id, caller)

        async def stream() -> AsyncIterator[str]:
            last = None
            idle = 0.0
            while True:
                job = await asyncio.to_thread(store().get_job, job_id)
                if job is None:
                    yield 'event: end\ndata: {"status": "deleted"}\n\n'
                    return
                d = describe(job)
                snap = json.dumps(d, sort_keys=True)
                if snap != last:
                    last, idle = snap, 0.0
                    yield f"event: progress\ndata: {snap}\n\n"
                if job.status.finished:
                    yield f"event: end\ndata: {snap}\n\n"
                    return
                await asyncio.sleep(0.3)
                idle += 0.3
                if idle >= 15:
                    idle = 0.0
                    yield ": keep-alive\n\n"

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @r.get(
        "/{job_id}/result",
        summary="The result zip (outputs + report.json)",
        response_class=FileResponse,
        responses={"200": {"content": {"application/zip": {}}}},
    )
    async def result(request: Request, job_id: JobId) -> Response:
        caller = await ctx.authenticate(request)
        job = owned(job_id, caller)
        path = job_dir(s.data_dir, job.id) / RESULT
        if job.status is not JobStatus.DONE or not path.is_file():
            raise ApiError(
                409, "not_ready", f"Job {job_id} is {job.status.value}: no result (yet)."
            )
        return FileResponse(path, media_type="application/zip", filename=f"{job_id}.zip")

    @r.get(
        "/{job_id}/files/{name}",
        summary="One output image of a finished job",
        response_class=FileResponse,
    )
    async def one_file(
        request: Request,
        job_id: JobId,
        name: Annotated[str, PathParam(max_length=120, pattern=r"^[0-9]{4}_[A-Za-z0-9._-]+$")],
    ) -> Response:
        caller = await ctx.authenticate(request)
        job = owned(job_id, caller)
        if not _NAME.match(name) or ".." in name:
            raise ApiError(404, "not_found", "No such output.")
        outputs = job_dir(s.data_dir, job.id) / "outputs"
        names = {p.name for p in outputs.iterdir()} if outputs.is_dir() else set()
        if job.status is not JobStatus.DONE or name not in names:
            raise ApiError(404, "not_found", f"No output '{name}' in job {job_id}.")
        return FileResponse(Path(outputs / name))

    @r.post("/{job_id}/cancel", summary="Cancel (files are deleted)")
    async def cancel(request: Request, job_id: JobId) -> dict[str, Any]:
        caller = await ctx.authenticate(request)
        job = owned(job_id, caller)
        assert ctx.runner is not None
        if not job.status.finished:
            await asyncio.to_thread(ctx.runner.cancel, job_id)
        return describe(owned(job_id, caller))

    @r.delete("/{job_id}", status_code=204, summary="Delete a job and its files")
    async def delete(request: Request, job_id: JobId) -> Response:
        caller = await ctx.authenticate(request)
        owned(job_id, caller)
        assert ctx.runner is not None
        await asyncio.to_thread(ctx.runner.delete, job_id)
        return Response(status_code=204)

    return r


# -- pretrained pipelines: scenes and text-to-image -------------------------------------------
MAX_STEPS = 150


def _pipeline_routes(
    r: APIRouter,
    ctx: AppContext,
    store: Callable[[], Any],
    stage: Callable[[Job, list[tuple[str, str, UploadFile]]], Awaitable[None]],
    queued: Callable[[Job], JSONResponse],
) -> None:
    """``POST /v1/jobs/scene`` and ``POST /v1/jobs/generate``: the pipelines added with
    ``productstudio models add``, by name; the prompt is built (and checked) at submit."""
    from productstudio.models.conditioning.audience import AudienceProfile
    from productstudio.models.pipelines.generate import generation_prompt
    from productstudio.models.pipelines.options import GenerationParams, LoadOptions
    from productstudio.models.pipelines.prompts import ProductInfo, PromptBook

    s = ctx.settings
    book = PromptBook.default()
    Pipeline = choice_enum("JobPipeline", sorted(ctx.pipelines))
    Scene = choice_enum("ScenePreset", book.scene_names())
    Style = choice_enum("PromptStyle", book.style_names())
    Template = choice_enum("PromptTemplate", book.template_names())
    Segmenter = choice_enum("SceneSegmenter", ["auto", *ctx.segmenters])
    names = book.scene_names()
    default_scene = "studio-sweep" if "studio-sweep" in names else names[0]
    load = LoadOptions(
        device=s.pipeline_device, dtype=s.pipeline_dtype, offload=s.pipeline_offload
    ).as_dict()

    def pick(choice: Any, inpaint: bool) -> str:
        if choice is not None:
            return value(choice)
        names = sorted(ctx.pipelines)
        preferred = [n for n in names if ("Inpaint" in ctx.pipelines[n]) == inpaint]
        return (preferred or names)[0]

    def product_info(
        title: str, category: str, colour: str, material: str, attrs: str
    ) -> ProductInfo | None:
        extra = tuple(parse_attrs(attrs).items())
        if not any((title, category, colour, material, extra)):
            return None
        return ProductInfo(title, category, colour, material, extra)

    def audience_of(text: str) -> AudienceProfile | None:
        return AudienceProfile.parse(text) if text else None

    Text = Annotated[str, Form(max_length=300)]
    Attrs = Annotated[
        str, Form(max_length=2000, description='JSON object, e.g. {"season": "summer"}')
    ]
    Audience = Annotated[
        str, Form(max_length=200, description="age_band=25-34,gender=women,interests=noir+sport")
    ]
    Steps = Annotated[int, Form(ge=1, le=MAX_STEPS)]
    Guidance = Annotated[float, Form(ge=0.0, le=30.0)]
    Seed = Annotated[int, Form(ge=0, le=2**31 - 1)]

    @r.post(
        "/scene", status_code=202, summary="Submit AI scenes around a product (pixels kept exact)"
    )
    async def submit_scene(
        request: Request,
        image: Annotated[UploadFile, File(description="Product photo, or an RGBA cut-out.")],
        pipeline: Annotated[Pipeline | None, Form()] = None,  # type: ignore[valid-type]
        scene: Annotated[Scene, Form()] = default_scene,  # type: ignore[valid-type]
        prompt: Annotated[str, Form(max_length=500, description="Scene text.")] = "",
        style: Annotated[Style | None, Form()] = None,  # type: ignore[valid-type]
        template: Annotated[Template, Form()] = "default",  # type: ignore[valid-type]
        audience: Audience = "",
        title: Text = "",
        category: Text = "",
        colour: Text = "",
        material: Text = "",
        attrs: Attrs = "{}",
        n: Annotated[int, Form(ge=1, le=16, description="Candidates (seeds).")] = 1,
        seed: Seed = 0,
        steps: Steps = 30,
        guidance: Guidance = 7.5,
        size: Annotated[int | None, Form(ge=64, le=4096, description="Canvas width.")] = None,
        shadow: Annotated[float | None, Form(ge=0.0, le=1.0, description="0 = none.")] = None,
        model: Annotated[Segmenter | None, Form()] = None,  # type: ignore[valid-type]
    ) -> JSONResponse:
        caller = await ctx.authenticate(request)
        built = book.build(
            product_info(title, category, colour, material, attrs),
            template=value(template),
            scene=value(scene),
            scene_text=prompt or None,
            style=value(style) if style is not None else None,
            audience=audience_of(audience),
        )
        gp = GenerationParams(steps=steps, guidance=guidance, seed=seed)
        job = store().create_job(
            JobKind.SCENE,
            {
                "pipeline": pick(pipeline, inpaint=True),
                "load": load,
                "prompt": built.as_dict(),
                "scene": value(scene),
                "generation": gp.as_dict(),
                "n": n,
                "size": size,
                "shadow": shadow,
                "segmenter": value(model) if model is not None else s.segmenter,
            },
            total=n * steps,
            key_id=caller.key_id,
        )
        await stage(job, [("image", image.filename or "", image)])
        return queued(job)

    @r.post("/generate", status_code=202, summary="Submit text-to-image or photo variations")
    async def submit_generate(
        request: Request,
        prompt: Annotated[str, Form(max_length=500, description="What to draw.")] = "",
        image: Annotated[
            UploadFile | None, File(description="A photo to make variations of.")
        ] = None,
        strength: Annotated[
            float, Form(ge=0.01, le=1.0, description="Variations: 0.2 close, 0.9 repaints.")
        ] = 0.6,
        pipeline: Annotated[Pipeline | None, Form()] = None,  # type: ignore[valid-type]
        title: Text = "",
        category: Text = "",
        colour: Text = "",
        material: Text = "",
        attrs: Attrs = "{}",
        audience: Audience = "",
        style: Annotated[Style | None, Form()] = None,  # type: ignore[valid-type]
        template: Annotated[Template, Form()] = "packshot",  # type: ignore[valid-type]
        scene: Annotated[Scene | None, Form()] = None,  # type: ignore[valid-type]
        n: Annotated[int, Form(ge=1, le=64)] = 1,
        seed: Seed = 0,
        steps: Steps = 30,
        guidance: Guidance = 7.5,
        width: Annotated[int | None, Form(ge=64, le=2048, multiple_of=8)] = None,
        height: Annotated[int | None, Form(ge=64, le=2048, multiple_of=8)] = None,
    ) -> JSONResponse:
        caller = await ctx.authenticate(request)
        built = generation_prompt(
            book,
            product_info(title, category, colour, material, attrs),
            text=prompt,
            template=value(template),
            scene=value(scene) if scene is not None else None,
            style=value(style) if style is not None else None,
            audience=audience_of(audience),
            variations=image is not None,
        )
        gp = GenerationParams(
            steps=steps,
            guidance=guidance,
            seed=seed,
            width=width,
            height=height,
            strength=strength if image is not None else 1.0,
        )
        job = store().create_job(
            JobKind.GENERATE,
            {
                "pipeline": pick(pipeline, inpaint=False),
                "load": load,
                "prompt": built.as_dict(),
                "generation": gp.as_dict(),
                "n": n,
            },
            total=n * steps,
            key_id=caller.key_id,
        )
        await stage(job, [("image", image.filename or "", image)] if image is not None else [])
        return queued(job)
