"""POST /events: one event or a batch onto the events topic, on the embedded log and on Kafka.
The answer counts the accepted and the rejected events and says why each was rejected; every
event lands on the topic as it came, keyed by its entity id; `okr consume` applies the accepted
ones and dead-letters the rejected ones with the reason the API gave (dead letters and the
dead-letter topic); an event whose parent has not arrived is accepted and parked."""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from contextlib import closing
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from api_calls import bearer, check_in_event, error_detail
from okr_pipeline import jobs
from okr_pipeline.api import create_app
from okr_pipeline.config import Settings
from okr_pipeline.stream import Message, open_event_log
from okr_pipeline.warehouse import ENTITY_TABLES, dead_letters, open_warehouse, parked_events

pytest_plugins = ["broker"]


@pytest.fixture(params=["sqlite", "kafka"])
def stream_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The demo's settings with topics of this test's own, on the embedded log or Kafka."""
    suffix = secrets.token_hex(4)
    topics = settings.stream.topics.model_copy(
        update={
            "events": f"events-{suffix}",
            "dead_letters": f"dlq-{suffix}",
            "alerts": f"alerts-{suffix}",
            "model_updates": f"updates-{suffix}",
        }
    )
    stream: dict[str, Any] = {"topics": topics, "poll_timeout_seconds": 0.3}
    if request.param == "kafka":
        stream |= {
            "backend": "kafka",
            "bootstrap_servers": request.getfixturevalue("tansu_broker"),
        }
    return settings.model_copy(update={"stream": settings.stream.model_copy(update=stream)})


def _a_key_result(settings: Settings) -> str:
    with open_warehouse(settings).connect() as conn:
        table = ENTITY_TABLES["key_results"]
        return str(conn.execute(select(table.c.key_result_id).limit(1)).scalar_one())


def _read(settings: Settings, topic: str, count: int) -> list[Message]:
    """The first `count` messages of a topic (a reader group of its own)."""
    with closing(open_event_log(settings)) as event_log:
        reader = event_log.consumer(f"reader-{secrets.token_hex(4)}", [topic])
        got: list[Message] = []
        deadline = time.monotonic() + 20
        while len(got) < count and time.monotonic() < deadline:
            got += reader.poll(count, 0.5)
        reader.close()
    return got


def _consume(settings: Settings) -> dict[str, Any]:
    idle = 3.0 if settings.stream.backend == "kafka" else 1.0
    return jobs.consume_events(settings, until_idle=idle, rescore=False).as_dict()


def _post(client: FlaskClient, token: str, body: Any) -> Any:
    return client.post("/api/v1/events", json=body, headers=bearer(token))


def _batch(kr_id: str) -> tuple[list[Any], list[tuple[int, str]]]:
    """A batch mixing good and bad events, and the (index, reason) of each bad one."""
    tag = secrets.token_hex(4)
    objective = {
        "event_id": f"o-{tag}",
        "event_type": "objective.upserted",
        "payload": {
            "objective_id": f"O-{tag}",
            "title": "Grow",
            "period_start": "2026-04-01",
            "period_end": "2026-06-30",
        },
    }
    key_result = {
        "event_id": f"k-{tag}",
        "event_type": "key_result.upserted",
        "payload": {
            "key_result_id": f"KR-{tag}",
            "objective_id": f"O-{tag}",
            "title": "Revenue",
            "metric_type": "number",
            "target_value": 10,
        },
    }
    bad_value = check_in_event(kr_id)
    bad_value["payload"]["value"] = "lots"
    bad_time = check_in_event(kr_id)
    bad_time["payload"]["checked_in_at"] = "yesterday"
    orphan = check_in_event(f"KR-nowhere-{tag}")
    surrogate = check_in_event(kr_id)
    surrogate["payload"]["note"] = "\ud800"
    deep: Any = "bottom"
    for _ in range(70):
        deep = {"in": deep}
    too_deep = check_in_event(kr_id)
    too_deep["payload"]["note"] = deep
    batch = [
        check_in_event(kr_id),  # 0
        objective,  # 1
        key_result,  # 2: its parent comes in the same batch
        check_in_event(f"KR-{tag}"),  # 3
        {"event_type": "check_in.recorded", "payload": {}},  # 4
        {"event_id": f"x-{tag}", "event_type": "check_in.deleted", "payload": {}},  # 5
        42,  # 6
        bad_value,  # 7
        bad_time,  # 8
        orphan,  # 9: accepted, parked until its key result comes
        surrogate,  # 10
        too_deep,  # 11
    ]
    rejected = [
        (4, "missing_field"),
        (5, "unknown_event_type"),
        (6, "malformed_event"),
        (7, "invalid_number"),
        (8, "invalid_timestamp"),
        (10, "invalid_encoding"),
        (11, "too_large"),
    ]
    return batch, rejected


def test_accepted_events_are_applied_and_rejected_ones_dead_lettered(
    stream_settings: Settings, tokens: Any
):
    settings = stream_settings
    client = create_app(settings).test_client()
    batch, rejected = _batch(_a_key_result(settings))
    answer = _post(client, tokens.editor, batch)
    assert answer.status_code == 202, answer.get_data(True)
    body = answer.get_json()
    assert body["topic"] == settings.stream.topics.events
    assert (body["accepted"], body["rejected"]) == (5, 7)
    assert [(r["index"], r["reason"]) for r in body["rejections"]] == rejected
    assert all(r["detail"] for r in body["rejections"])

    # all twelve on the topic as they came, keyed by their entity id
    messages = _read(settings, settings.stream.topics.events, len(batch))
    assert len(messages) == len(batch)
    by_key = {m.key: m for m in messages}
    for event in batch[:4]:
        entity_id = next(v for k, v in event["payload"].items() if k.endswith("_id"))
        assert json.loads(by_key[entity_id.encode()].value) == event

    summary = _consume(settings)
    # on Kafka a child keyed to another partition than its parent's may come first and wait
    assert summary["stored"] == 4 and summary["parked"] >= 1, summary
    assert summary["dead_lettered"] == 7
    assert summary["by_reason"] == dict(Counter(reason for _, reason in rejected))
    engine = open_warehouse(settings)
    check_ins = ENTITY_TABLES["check_ins"]
    stored_ids = {batch[i]["payload"]["check_in_id"] for i in (0, 3)}
    with engine.connect() as conn:
        found = set(
            conn.execute(
                select(check_ins.c.check_in_id).where(check_ins.c.check_in_id.in_(stored_ids))
            ).scalars()
        )
        letters = conn.execute(
            select(dead_letters.c.reason, dead_letters.c.topic, dead_letters.c.raw)
        ).all()
        parked = conn.execute(select(parked_events.c.event_id)).scalars().all()
    assert found == stored_ids
    assert Counter(r.reason for r in letters) == Counter(reason for _, reason in rejected)
    assert {r.topic for r in letters} == {settings.stream.topics.events}
    assert parked == [batch[9]["event_id"]]
    # the originals are kept with their reason, and sent on to the dead-letter topic
    assert json.loads(next(r.raw for r in letters if r.reason == "invalid_number")) == batch[7]
    letters_sent = _read(settings, settings.stream.topics.dead_letters, 7)
    assert Counter(json.loads(m.value)["reason"] for m in letters_sent) == Counter(
        reason for _, reason in rejected
    )


def test_one_event_and_the_same_event_again(client: FlaskClient, settings: Settings, tokens: Any):
    event = check_in_event(_a_key_result(settings))
    for _ in range(2):
        answer = _post(client, tokens.editor, event)
        assert answer.status_code == 202
        assert answer.get_json() == {
            "topic": settings.stream.topics.events,
            "accepted": 1,
            "rejected": 0,
            "rejections": [],
        }
    summary = _consume(settings)
    assert (summary["stored"], summary["duplicates"], summary["dead_lettered"]) == (1, 1, 0)


def test_more_events_than_the_cap_is_413_and_nothing_is_published(settings: Settings, tokens: Any):
    capped = settings.model_copy(update={"api": settings.api.model_copy(update={"events_max": 2})})
    client = create_app(capped).test_client()
    kr_id = _a_key_result(settings)
    detail = error_detail(
        _post(client, tokens.editor, [check_in_event(kr_id) for _ in range(3)]), 413, "too_large"
    )
    assert "api.events_max" in detail
    assert _consume(settings)["messages"] == 0


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("[]", "application/json"),
        ('"an event"', "application/json"),
        ("42", "application/json"),
        ("null", "application/json"),
        ("{oops", "application/json"),
        ("[" * 100_000 + "]" * 100_000, "application/json"),
        ('{"event_id": "e"}', "text/plain"),
        ("", "application/json"),
    ],
)
def test_a_body_that_is_no_event_or_batch_is_422(
    client: FlaskClient, tokens: Any, data: str, content_type: str
):
    response = client.post(
        "/api/v1/events", data=data, content_type=content_type, headers=bearer(tokens.editor)
    )
    error_detail(response, 422, "invalid_request")


def test_a_viewer_may_not_post_events(client: FlaskClient, settings: Settings, tokens: Any):
    response = _post(client, tokens.viewer, check_in_event(_a_key_result(settings)))
    error_detail(response, 403, "forbidden")
