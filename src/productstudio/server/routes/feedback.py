"""Click feedback over HTTP: ``GET /v1/variants/choose`` and ``POST /v1/events``.

Thin over :class:`productstudio.personalize.FeedbackStore` (the same calls as the Python API
and ``productstudio feedback choose|record``): ``choose(product, user)`` answers the variant
to show and the exact probability it was chosen with; ``record(event)`` stores an impression,
click or conversion, idempotently by ``event_id``. The store lives in the server's own
database unless ``feedback_store`` names another (``ps_fb_*`` tables). A refused event stores
nothing: unknown variant or impression → 404, the id of a *different* event → 409, a missing
or invalid field (propensity included) → 422.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from productstudio.errors import EventError, InvalidParamsError
from productstudio.personalize.policies import PolicyKind
from productstudio.server.context import AppContext
from productstudio.server.errors import ApiError

#: EventError.reason → (HTTP status, error code)
EVENT_STATUS: dict[str, int] = {
    "unknown_variant": 404,
    "unknown_impression": 404,
    "duplicate_id": 409,
    "missing_propensity": 422,
    "invalid": 422,
}


def event_error(exc: EventError) -> ApiError:
    """The HTTP answer for a refused event (see :data:`EVENT_STATUS`)."""
    return ApiError(EVENT_STATUS.get(exc.reason, 422), exc.reason, str(exc))


class UserBody(BaseModel):
    """Who saw the image: the audience schema plus free features."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field("", max_length=128)
    age_band: str = Field("", max_length=16, description="18-24, 25-34, 35-49, 50+")
    gender: str = Field("", max_length=16, description="women, men, kids, any")
    interests: list[str] = Field(
        default_factory=list, max_length=2, description="noir, pastel, vivid, sport, …"
    )
    region: str = Field("", max_length=16, description="north, south, east, west")
    features: dict[str, float | str] = Field(
        default_factory=dict, description="Free user features (basket=120, device=mobile)."
    )


class EventBody(BaseModel):
    """One feedback event (the JSON of ``productstudio feedback record --file``)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["impression", "click", "conversion"]
    event_id: str = Field(
        ..., max_length=128, description="Your unique id; a retry resends the same event."
    )
    impression_id: str | None = Field(
        None, max_length=128, description="click/conversion: the impression's event_id."
    )
    product: str | None = Field(None, max_length=128, description="impression only")
    variant: str | None = Field(None, max_length=128, description="impression only")
    propensity: float | None = Field(
        None, description="impression only: the probability the variant was chosen with."
    )
    user: UserBody | None = None
    segment: str | None = Field(None, max_length=64)
    policy: str | None = Field(None, max_length=32)
    decision_id: str | None = Field(None, max_length=128)
    ts: float | None = Field(None, description="Seconds since the epoch (default: now).")


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix="/v1", tags=["feedback"])

    def store() -> Any:
        if ctx.feedback is None:
            raise ApiError(503, "feedback_unavailable", "The feedback store is not open.")
        return ctx.feedback

    @r.get(
        "/variants/choose",
        summary="Choose the image variant to show a user (and its propensity)",
        responses={
            "200": {"description": "The decision: variant, propensity, segment, probabilities."}
        },
    )
    async def choose(
        request: Request,
        product: Annotated[str, Query(min_length=1, max_length=128)],
        user: Annotated[
            str,
            Query(
                max_length=2000,
                description="user=u1,age_band=25-34,gender=women,interests=noir+sport,"
                "basket=120 (audience keys, then free features)",
            ),
        ] = "",
        policy: Annotated[
            PolicyKind | None, Query(description="Default: the store's configured policy.")
        ] = None,
        decision_id: Annotated[
            str | None,
            Query(max_length=128, description="Makes the decision reproducible."),
        ] = None,
        record: Annotated[
            bool, Query(description="Also record the impression (event id = decision id).")
        ] = False,
    ) -> dict[str, Any]:
        await ctx.authenticate(request)
        from productstudio.personalize import UserContext
        from productstudio.personalize.events import check_id

        fb = store()
        try:
            who = UserContext.parse(user)
        except InvalidParamsError as exc:
            raise ApiError(422, "invalid_parameters", f"'user': {exc}") from None

        def run() -> dict[str, Any]:
            try:
                check_id(product, "product")
                if not fb.variants(product, fresh=True):
                    raise ApiError(
                        404,
                        "unknown_product",
                        f"Product '{product}' has no variants in the feedback store; add them "
                        "with `productstudio feedback variants … --store` first.",
                    )
                p = fb.config().policy
                if policy is not None:
                    p = dataclasses.replace(p, kind=policy.value)
                d = fb.choose(product, who, policy=p, decision_id=decision_id)
                out: dict[str, Any] = d.to_dict()
                if record:
                    out["recorded"] = fb.record(d.impression()).to_dict()
                return out
            except EventError as exc:
                raise event_error(exc) from None

        result: dict[str, Any] = await asyncio.to_thread(run)
        return result

    @r.post(
        "/events",
        summary="Record an impression, click or conversion (idempotent by event_id)",
        responses={
            "200": {"description": '{"event_id", "status": "recorded"|"duplicate", "counted"}'},
            "404": {"description": "Unknown variant or impression: nothing was stored."},
            "409": {"description": "The event_id was used for a different event."},
            "422": {"description": "A missing or invalid field (e.g. propensity)."},
        },
    )
    async def record_event(request: Request, event: Annotated[EventBody, Body()]) -> dict[str, Any]:
        await ctx.authenticate(request)
        from productstudio.personalize import Event

        fb = store()
        body = event.model_dump(exclude_none=True)

        def run() -> dict[str, Any]:
            try:
                res: dict[str, Any] = fb.record(Event.from_dict(body)).to_dict()
            except EventError as exc:
                raise event_error(exc) from None
            return res

        result: dict[str, Any] = await asyncio.to_thread(run)
        return result

    return r


__all__ = ["EVENT_STATUS", "EventBody", "event_error", "router"]
