"""The dead-letter routes on letters the real consumer made from the embedded event log: listed
with their reasons; a retry applies them again, storing the one whose parent has arrived since
(its letter resolved) while those still refused keep their one letter, never a second, and
nothing is published to the dead-letter topic again."""

from __future__ import annotations

import json
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from api_calls import bearer
from okr_pipeline import jobs
from okr_pipeline.api import create_app
from okr_pipeline.config import Settings, load_settings
from okr_pipeline.stream import open_event_log
from okr_pipeline.stream.events import make_event

ORPHAN = {
    "check_in_id": "ci-dl1",
    "key_result_id": "kr-dl1",  # arrives later
    "checked_in_at": "2026-04-02T09:00:00Z",
    "value": 3,
}


@pytest.fixture
def stream_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The demo's settings where an event whose parent is missing is dead-lettered at once."""
    monkeypatch.setenv("OKR_STREAM__PARK_TIMEOUT_SECONDS", "0")
    return load_settings()


@pytest.fixture
def stream_client(stream_settings: Settings) -> FlaskClient:
    return create_app(stream_settings).test_client()


def _publish_and_consume(settings: Settings) -> None:
    known = jobs.key_results_page(
        settings, jobs.KeyResultFilters(as_of=datetime(2026, 5, 1)), limit=1
    )
    bad_number = {
        **ORPHAN,
        "check_in_id": "ci-dl2",
        "key_result_id": known.items[0]["key_result_id"],
    }
    messages = [
        (None, b"not json"),
        make_event("check_ins", {**bad_number, "value": "N/A"}),
        make_event("check_ins", ORPHAN),
    ]
    with closing(open_event_log(settings)) as event_log:
        event_log.ensure_topics([settings.stream.topics.events])
        event_log.produce(settings.stream.topics.events, messages)
        event_log.flush()
    consumed = jobs.consume_events(settings, until_idle=1, rescore=False)
    assert consumed.summary.dead_lettered == 3, consumed.summary.as_dict()


def _letters(client: FlaskClient, token: str, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/dead-letters?limit=500{query}", headers=bearer(token))
    assert response.status_code == 200, response.get_data(True)
    items: list[dict[str, Any]] = response.get_json()["items"]
    return items


def _retry(client: FlaskClient, token: str, query: str = "") -> dict[str, Any]:
    response = client.post(f"/api/v1/dead-letters/retry{query}", headers=bearer(token))
    assert response.status_code == 200, response.get_data(True)
    done: dict[str, Any] = response.get_json()
    return done


def _parents(folder: Path) -> Path:
    folder.mkdir()
    (folder / "objectives.csv").write_text(
        "objective_id,title,period_start,period_end\nobj-dl1,Late,2026-04-01,2026-06-30\n"
    )
    (folder / "key_results.csv").write_text(
        "key_result_id,objective_id,title,metric_type,target_value\n"
        "kr-dl1,obj-dl1,Arrivals,number,10\n"
    )
    return folder


def test_a_retry_stores_what_can_be_and_never_doubles_a_letter(
    stream_client: FlaskClient, stream_settings: Settings, tokens: Any, tmp_path: Path
):
    _publish_and_consume(stream_settings)
    letters = _letters(stream_client, tokens.viewer)
    by_reason = {letter["reason"]: letter for letter in letters}
    assert set(by_reason) == {"malformed_event", "invalid_number", "unknown_reference"}
    assert by_reason["malformed_event"]["event_id"] is None
    assert json.loads(by_reason["unknown_reference"]["raw"])["payload"] == ORPHAN
    assert all(letter["published_at"] and not letter["resolved"] for letter in letters)

    # nothing has changed: all three refused again, each keeping its one letter
    before = _retry(stream_client, tokens.editor)
    assert before == {
        "retried": 3,
        "stored": 0,
        "duplicates": 0,
        "still_dead": 3,
        "not_retryable": 0,
        "by_reason": {"invalid_number": 1, "malformed_event": 1, "unknown_reference": 1},
    }
    assert _letters(stream_client, tokens.viewer) == letters

    jobs.ingest_path(stream_settings, _parents(tmp_path / "parents"))
    only = _retry(stream_client, tokens.editor, "?reason=unknown_reference")
    assert (only["retried"], only["stored"], only["still_dead"]) == (1, 1, 0)
    record = jobs.key_result_record(stream_settings, "kr-dl1", datetime(2026, 5, 1))
    assert [c["check_in_id"] for c in record["check_ins"]] == ["ci-dl1"]

    still = _letters(stream_client, tokens.viewer)
    assert sorted(letter["reason"] for letter in still) == ["invalid_number", "malformed_event"]
    every = _letters(stream_client, tokens.viewer, "&resolved=true")
    assert [letter["id"] for letter in every] == [letter["id"] for letter in letters]
    resolved = next(letter for letter in every if letter["resolved"])
    assert resolved["id"] == by_reason["unknown_reference"]["id"]
    assert resolved["published_at"] == by_reason["unknown_reference"]["published_at"]

    again = _retry(stream_client, tokens.editor)
    assert (again["retried"], again["stored"], again["still_dead"]) == (2, 0, 2)
    assert len(_letters(stream_client, tokens.viewer, "&resolved=true")) == 3
    # a consumer after all this publishes no letter again: each was on the topic once
    jobs.consume_events(stream_settings, until_idle=0.5, rescore=False)
    assert _letters(stream_client, tokens.viewer, "&resolved=true") == every


def test_dead_letters_a_page_at_a_time(
    stream_client: FlaskClient, stream_settings: Settings, tokens: Any
):
    _publish_and_consume(stream_settings)
    every = _letters(stream_client, tokens.viewer)
    first = stream_client.get("/api/v1/dead-letters?limit=2", headers=bearer(tokens.viewer))
    page = first.get_json()
    assert page["items"] == every[:2] and page["next_cursor"]
    rest = stream_client.get(
        f"/api/v1/dead-letters?limit=2&cursor={page['next_cursor']}",
        headers=bearer(tokens.viewer),
    ).get_json()
    assert rest == {"items": every[2:], "next_cursor": None}
    filtered = _letters(stream_client, tokens.viewer, "&reason=malformed_event")
    assert [letter["id"] for letter in filtered] == [every[0]["id"]]
