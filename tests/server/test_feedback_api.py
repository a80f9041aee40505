"""Click feedback over HTTP (TestClient): ``GET /v1/variants/choose`` gives what the Python
API gives; ``POST /v1/events`` records idempotently; bad events are clear 4xx answers that
store nothing; the API keys and per-key rate limit of the rest of the API apply."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from server_helpers import make_app, patched_env, server_env

from productstudio.personalize import UserContext, VariantRecord
from productstudio.personalize.store import FeedbackStore

FEATS = {"white": {}, "dark": {"bg_dark": 1.0}, "pastel": {"bg_pastel": 1.0}}
LIMIT = 40  # requests per minute and key
PG_URL = os.environ.get("PRODUCTSTUDIO_TEST_PG_URL")  # read before the env is isolated
#: one product per run: a PostgreSQL database outlives the test run
RUN = uuid.uuid4().hex[:8]
PRODUCT = f"shoe-{RUN}"


def eid(name: str) -> str:
    """An event id unique to this run."""
    return f"{name}-{RUN}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(
    request: pytest.FixtureRequest, tmp_module: Path
) -> Iterator[tuple[TestClient, FeedbackStore, dict[str, str], str]]:
    """An app that requires keys (two made beforehand), and the feedback store it uses — the
    server's own database, as by default (SQLite, or PostgreSQL when the CI gives one) —
    opened from the test for set-up and checks."""
    from productstudio.server.store import ServerStore

    data = tmp_module / f"fb-{request.param}"
    data.mkdir()
    if request.param == "sqlite":
        url = f"sqlite:///{data / 'server.sqlite'}"
    elif PG_URL is None:
        pytest.skip("PRODUCTSTUDIO_TEST_PG_URL not set (CI starts PostgreSQL)")
    else:
        url = PG_URL
    keys = ServerStore(url)
    key, _ = keys.add_key("shop")
    spare, _ = keys.add_key("spare")
    keys.close()
    fb = FeedbackStore(url)
    fb.add_variants([VariantRecord(PRODUCT, v, features=f) for v, f in FEATS.items()])
    with patched_env(server_env()):
        app = make_app(data, require_keys=True, rate_limit_per_minute=LIMIT, database_url=url)
        with TestClient(app) as c:
            yield c, fb, {"X-Api-Key": key}, spare
    fb.close()


def _counts(fb: FeedbackStore, *event_ids: str) -> tuple[Any, ...]:
    """This product's counters and impressions, and which of ``event_ids`` are stored."""
    from sqlalchemy import select

    t = fb.t["events"]
    with fb.engine.connect() as conn:
        stored = conn.execute(select(t.c.event_id).where(t.c.event_id.in_(event_ids))).all()
    return (
        [(r.segment, r.variant, r.impressions, r.clicks) for r in fb.stats(PRODUCT)],
        fb.impressions(PRODUCT).n,
        sorted(r[0] for r in stored),
    )


def test_choose_is_the_python_decision_and_records(env: Any) -> None:
    """Same decision id, seed and store state → the HTTP answer equals FeedbackStore.choose;
    record=true stores the impression (counted once, for the user's segment)."""
    c, fb, key, _ = env
    user = "user=u7,gender=women,interests=noir,basket=120"
    want = fb.choose(PRODUCT, UserContext.parse(user), decision_id=eid("d-http-1")).to_dict()
    r = c.get(
        "/v1/variants/choose",
        params={"product": PRODUCT, "user": user, "decision_id": eid("d-http-1"), "record": "true"},
        headers=key,
    )
    assert r.status_code == 200, r.text
    got = r.json()
    recorded = got.pop("recorded")
    assert got == want
    assert got["segment"] == "noir" and got["propensity"] == got["probabilities"][got["variant"]]
    assert recorded == {"event_id": eid("d-http-1"), "status": "recorded", "counted": True}
    row = [s for s in fb.stats(PRODUCT) if s.segment == "noir" and s.variant == got["variant"]]
    assert [(s.impressions, s.clicks) for s in row] == [(1, 0)]
    # another policy for this request only: uniform gives 1/K to each variant
    u = c.get(
        "/v1/variants/choose",
        params={"product": PRODUCT, "policy": "uniform"},
        headers=key,
    ).json()
    assert u["policy"] == "uniform" and u["probabilities"] == dict.fromkeys(FEATS, 1 / 3)


def test_events_are_idempotent_and_count_once(env: Any) -> None:
    c, fb, key, _ = env
    d = fb.choose(PRODUCT, UserContext.parse("interests=pastel"), decision_id=eid("d-ev-1"))
    imp = d.impression().to_dict()
    first = c.post("/v1/events", json=imp, headers=key)
    assert first.json() == {"event_id": eid("d-ev-1"), "status": "recorded", "counted": True}
    again = c.post("/v1/events", json=imp, headers=key)  # a retry of the same event
    assert again.status_code == 200
    assert again.json() == {"event_id": eid("d-ev-1"), "status": "duplicate", "counted": False}
    click = {"type": "click", "event_id": eid("c-ev-1"), "impression_id": eid("d-ev-1")}
    assert c.post("/v1/events", json=click, headers=key).json()["counted"] is True
    assert c.post("/v1/events", json=click, headers=key).json()["status"] == "duplicate"
    second = {"type": "click", "event_id": eid("c-ev-2"), "impression_id": eid("d-ev-1")}
    assert c.post("/v1/events", json=second, headers=key).json() == {
        "event_id": eid("c-ev-2"),
        "status": "recorded",
        "counted": False,  # only an impression's first click counts
    }
    (row,) = [s for s in fb.stats(PRODUCT) if s.segment == "pastel"]
    assert (row.variant, row.impressions, row.clicks) == (d.variant, 1, 1)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"type": "impression", "event_id": eid("bad-1"), "product": PRODUCT, "variant": "neon"}
            | {"propensity": 0.5},
            404,
            "unknown_variant",
        ),
        (
            {"type": "impression", "event_id": eid("bad-2"), "product": PRODUCT, "variant": "dark"},
            422,
            "missing_propensity",
        ),
        (
            {"type": "impression", "event_id": eid("bad-3"), "product": PRODUCT, "variant": "dark"}
            | {"propensity": 1.5},
            422,
            "missing_propensity",
        ),
        (
            {"type": "click", "event_id": eid("bad-4"), "impression_id": "nope"},
            404,
            "unknown_impression",
        ),
        ({"type": "click", "event_id": eid("bad-5")}, 422, "invalid"),
        ({"type": "click", "event_id": eid("bad-6"), "impression_id": "x", "colour": 1}, 422, None),
        ({"type": "view", "event_id": eid("bad-7")}, 422, None),
        ({"type": "click", "event_id": "bad 8" + RUN, "impression_id": "x"}, 422, "invalid"),
    ],
)
def test_bad_events_are_refused_and_store_nothing(
    env: Any, body: dict[str, Any], status: int, code: str | None
) -> None:
    c, fb, key, _ = env
    before = _counts(fb, body["event_id"])
    r = c.post("/v1/events", json=body, headers=key)
    assert r.status_code == status, r.text
    err = r.json()["errors"][0]
    assert err["code"] == (code or "invalid_parameters") and err["title"]
    assert _counts(fb, body["event_id"]) == before
    assert before[-1] == []


def test_duplicate_id_of_another_event_is_a_conflict(env: Any) -> None:
    c, fb, key, _ = env
    d = fb.choose(PRODUCT, UserContext.parse("interests=vivid"), decision_id=eid("d-dup-1"))
    assert c.post("/v1/events", json=d.impression().to_dict(), headers=key).status_code == 200
    before = _counts(fb, eid("d-dup-1"))
    assert before[-1] == [eid("d-dup-1")]
    other = {**d.impression().to_dict(), "variant": "white" if d.variant != "white" else "dark"}
    r = c.post("/v1/events", json=other, headers=key)
    assert r.status_code == 409
    assert r.json()["errors"][0]["code"] == "duplicate_id"
    assert "already used" in r.json()["errors"][0]["title"]
    assert _counts(fb, eid("d-dup-1")) == before
    bad = c.post("/v1/events", content=b"{not json", headers={**key, "Content-Type": "text/json"})
    assert bad.status_code == 422 and _counts(fb, eid("d-dup-1")) == before


def test_choose_errors(env: Any) -> None:
    c, _fb, key, _ = env
    r = c.get("/v1/variants/choose", params={"product": "no-such"}, headers=key)
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "unknown_product"
    bad_user = {"product": PRODUCT, "user": "age_band=7"}
    r = c.get("/v1/variants/choose", params=bad_user, headers=key)
    assert r.status_code == 422 and "age_band" in r.json()["errors"][0]["title"]
    r = c.get("/v1/variants/choose", params={"product": PRODUCT, "policy": "best"}, headers=key)
    assert r.status_code == 422 and "policy" in r.json()["errors"][0]["title"]
    r = c.get("/v1/variants/choose", params={"product": "a b"}, headers=key)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "invalid"


def test_keys_and_rate_limit_apply(env: Any) -> None:
    c, fb, _key, spare = env
    before = _counts(fb, eid("k-1"))
    assert c.get("/v1/variants/choose", params={"product": PRODUCT}).status_code == 403
    click = {"type": "click", "event_id": eid("k-1"), "impression_id": eid("d-ev-1")}
    r = c.post("/v1/events", json=click, headers={"X-Api-Key": "ps_wrong"})
    assert r.status_code == 403 and _counts(fb, eid("k-1")) == before
    statuses: list[int] = []
    while 429 not in statuses and len(statuses) < 3 * LIMIT:  # the bucket refills 1 per 1.5 s
        statuses.append(
            c.get(
                "/v1/variants/choose", params={"product": PRODUCT}, headers={"X-Api-Key": spare}
            ).status_code
        )
    assert statuses[0] == 200 and statuses[-1] == 429 and len(statuses) > LIMIT
    limited = c.post("/v1/events", json=click, headers={"X-Api-Key": spare})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert _counts(fb, eid("k-1")) == before and before[-1] == []


def test_feedback_store_setting() -> None:
    from productstudio.server.settings import load_settings

    s = load_settings(data_dir=Path("/srv/ps"))
    assert s.feedback_url() == s.store_url() == "sqlite:////srv/ps/server.sqlite"
    other = load_settings(feedback_store="postgresql+psycopg://fb@db/fb")
    assert other.feedback_url() == "postgresql+psycopg://fb@db/fb"
