"""Async jobs: submit a batch (or sampling) → id; status, progress as Server-Sent Events,
the result zip and single outputs; cancel; delete. See :mod:`productstudio.server.jobs`."""

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator
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
        folder = job_dir(s.data_dir, job.id)
        # staged first, queued last: a refused upload leaves no row in the queue, no file
        ok = False
        try:
            inputs = folder / "inputs"
            inputs.mkdir(parents=True)
            for i, up in enumerate(images):
                data = await up.read(s.max_upload_bytes + 1)
                ctx.check_image(data, f"images[{i}] ({up.filename or 'unnamed'})")
                await asyncio.to_thread(
                    (inputs / safe_name(up.filename or "", i)).write_bytes, data
                )
            ok = True
        finally:
            if not ok:
                shutil.rmtree(folder, ignore_errors=True)
                store().delete_job(job.id)
        assert ctx.runner is not None
        ctx.runner.wake()
        return JSONResponse(
            describe(job), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"}
        )

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
            assert ctx.runner is not None
            ctx.runner.wake()
            return JSONResponse(
                describe(job), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"}
            )

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
