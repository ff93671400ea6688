"""The REST source against a real HTTP server in a thread, playing both the identity provider's
sign-in and the OKR backend: pages, headers, incremental cursors, token renewal, retries, and
failures that leave complete files only and never show a secret."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from okr_pipeline import jobs
from okr_pipeline.config import REST_ENTITIES, Settings, load_settings
from okr_pipeline.contract import ENTITY_ORDER
from okr_pipeline.errors import ConfigError, InputError, SourceError
from okr_pipeline.ingest import commit_cursors, pull_rest_bundle, stored_cursors
from okr_pipeline.jobs.etl import landing_folder
from okr_pipeline.sources import PullError, pull_bundle, source_name
from okr_pipeline.warehouse import open_warehouse

EMAIL = "planner@example.com"
PASSWORD = "pass w0rd/&=S3cret"
API_KEY = "AIzaTest+Key/With=Odd&Chars"  # percent-encoded in the URL
PATHS = {
    "objectives": "/api/v1/objectives",
    "key_results": "/api/v1/key-results",
    "check_ins": "/api/v1/check-ins",
    "milestones": "/api/v1/milestones",
    "tasks": "/api/v1/tasks",
}
PLAN_TASKS = "/api/v1/plan-tasks"
IDS = {"tenantId": "tenant-1", "companyId": "company-2", "userId": "user-3"}

OBJECTIVES = [
    {
        "objective_id": f"O-{i}",
        "title": f"Objective {i}",
        "period_start": "2026-01-01",
        "period_end": "2026-03-31",
        "updated_at": f"2026-02-0{i}T10:00:00Z",
    }
    for i in (1, 2, 3)
]
KEY_RESULTS = [
    {
        "key_result_id": f"KR-{i}",
        "objective_id": "O-1",
        "title": f"Result {i}",
        "metric_type": "number",
        "target_value": 10,
        # the latest written with an offset: compared as instants, kept as written
        "updated_at": ["2026-02-05T09:00:00Z", "2026-02-05T12:30:00+02:00", "2026-02-04"][i - 1],
    }
    for i in (1, 2, 3)
]
CHECK_INS = [
    {"check_in_id": f"C-{i}", "key_result_id": "KR-1", "value": i, "confidence": 7}
    | {"checked_in_at": f"2026-02-1{i}T08:00:00Z"}
    for i in (1, 2, 3, 4)
]
MILESTONES = [{"milestone_id": "M-1", "key_result_id": "KR-2", "title": "Launch"}]
TASKS = [
    {"task_id": "T-1", "title": "Draft", "key_result_id": "KR-1", "status": "done"}
    | {"updated_at": "2026-02-20T10:00:00Z"},
    {"task_id": "T-2", "title": "Ship", "status": "todo", "updated_at": "2026-02-21T10:00:00Z"},
]
PLANS = [
    {
        "id": "wp-1",
        "description": "Week 7",
        "keyResultId": "KR-1",
        "tasks": [
            {
                "id": "wt-1",
                "task": "Pricing page",
                "status": "done",
                "planTask": [{"id": "d-1", "task": "Write copy", "status": "done"}],
            }
        ],
    }
]

Route = Callable[["_Handler", dict[str, str]], None]


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Backend:
    """The routes by path (each gets the handler and the query), what was asked, the tokens
    issued and those still valid."""

    routes: dict[str, Route] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    valid: set[str] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def asked(self, path: str) -> list[Call]:
        return [call for call in self.calls if call.path == path]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    backend: Backend

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _record(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        call = Call(self.command, parts.path, query, dict(self.headers.items()))
        self.backend.calls.append(call)
        return parts.path, query

    def send_json(self, value: Any, status: int = 200) -> None:
        self.send_body(json.dumps(value).encode(), status)

    def send_body(self, body: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # the identity provider's email/password sign-in
        path, query = self._record()
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        expected = {"email": EMAIL, "password": PASSWORD, "returnSecureToken": True}
        if path != "/signin" or query.get("key") != API_KEY or body != expected:
            self.send_json({"error": {"code": 400, "message": "INVALID_LOGIN_CREDENTIALS"}}, 400)
            return
        token = f"eyJ.token-{len(self.backend.tokens) + 1}.sig"
        self.backend.tokens.append(token)
        self.backend.valid.add(token)
        self.send_json({"idToken": token, "expiresIn": "3600", "refreshToken": "r"})

    def do_GET(self) -> None:
        path, query = self._record()
        authorization = self.headers.get("Authorization", "")
        if authorization.removeprefix("Bearer ") not in self.backend.valid:
            self.send_json({"error": "unauthorized"}, 401)
            return
        route = self.backend.routes.get(path)
        if route is None:
            self.send_json({"error": "not found"}, 404)
            return
        route(self, query)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout, deadline) closed the connection


@pytest.fixture
def backend() -> Iterator[Backend]:
    state = Backend()
    handler = type("Handler", (_Handler,), {"backend": state})
    server = _Server(("127.0.0.1", 0), handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    serve(state)
    yield state
    state.stop.set()
    server.shutdown()
    server.server_close()


def paged(rows: list[dict], per_page: int, style: str, cursor_field: str | None = None) -> Route:
    """Rows in pages of `per_page`, the next one named by `style`: a page token (`token`), a
    full URL (`url`) or a path from the host's root (`path`); with `updated_since`, only the
    rows whose `cursor_field` is not older."""

    def route(handler: _Handler, query: dict[str, str]) -> None:
        selected = rows
        if "updated_since" in query and cursor_field:
            since = _instant(query["updated_since"])
            selected = [row for row in rows if _instant(row[cursor_field]) >= since]
        page = int(query.get("page", query.get("p", "0")))
        data = selected[page * per_page : (page + 1) * per_page]
        following: str | None = None
        if (page + 1) * per_page < len(selected):
            path = urlsplit(handler.path).path
            following = {
                "token": str(page + 1),
                "url": f"{handler.backend.url}{path}?p={page + 1}&{_since(query)}",
                "path": f"{path}?p={page + 1}&{_since(query)}",
            }[style]
        handler.send_json({"data": data, "next": following})

    return route


def _since(query: dict[str, str]) -> str:
    return f"updated_since={query['updated_since']}" if "updated_since" in query else ""


def _instant(text: str) -> float:
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def serve(backend: Backend) -> None:
    """The normal backend: every entity, paged in each of the conventions, and plan tasks."""
    backend.routes.update(
        {
            PATHS["objectives"]: paged(OBJECTIVES, 2, "token", "updated_at"),
            PATHS["key_results"]: paged(KEY_RESULTS, 2, "url", "updated_at"),
            PATHS["check_ins"]: paged(CHECK_INS, 3, "path", "checked_in_at"),
            PATHS["milestones"]: lambda handler, query: handler.send_json(MILESTONES),
            PATHS["tasks"]: paged(TASKS, 5, "token", "updated_at"),
            PLAN_TASKS: lambda handler, query: handler.send_json({"data": PLANS}),
        }
    )


def rest_settings(backend: Backend, **rest: Any) -> Settings:
    """Settings for the test backend: small timeouts and backoff, secrets as from the
    environment (`_secrets_in_the_environment`)."""
    section = {
        "base_url": backend.url + "/",
        "sign_in_url": backend.url + "/signin",
        "tenant_id": IDS["tenantId"],
        "company_id": IDS["companyId"],
        "user_id": IDS["userId"],
        "planning_period_id": "2026-Q1",
        "plan_tasks_path": PLAN_TASKS,
        "entity_paths": PATHS,
        "timeout_seconds": 0.5,
        "deadline_seconds": 1.0,
        "retries": 2,
        "backoff_seconds": 0.01,
        "max_pages": 5,
        "page_size": 50,
    }
    return load_settings(rest=section | rest)


@pytest.fixture(autouse=True)
def _secrets_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKR_REST__EMAIL", EMAIL)
    monkeypatch.setenv("OKR_REST__PASSWORD", PASSWORD)
    monkeypatch.setenv("OKR_REST__API_KEY", API_KEY)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_pull_writes_a_bundle_that_ingests(backend: Backend, tmp_path: Path):
    settings = rest_settings(backend)
    folder = tmp_path / "pulled"
    pulled = pull_bundle(settings, folder)

    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{entity}.jsonl" for entity in PATHS] + ["plan_tasks.json"]
    )
    assert _jsonl(folder / "objectives.jsonl") == OBJECTIVES
    assert _jsonl(folder / "key_results.jsonl") == KEY_RESULTS
    assert _jsonl(folder / "check_ins.jsonl") == CHECK_INS
    assert _jsonl(folder / "milestones.jsonl") == MILESTONES
    assert _jsonl(folder / "tasks.jsonl") == TASKS
    assert json.loads((folder / "plan_tasks.json").read_text()) == {"data": PLANS}
    assert pulled.rows == {
        "objectives": 3,
        "key_results": 3,
        "check_ins": 4,
        "milestones": 1,
        "tasks": 2,
        "plan_tasks": 1,
    }
    assert pulled.cursors == {
        "objectives": "2026-02-03T10:00:00Z",
        "key_results": "2026-02-05T12:30:00+02:00",  # 10:30 UTC, after 09:00Z
        "check_ins": "2026-02-14T08:00:00Z",
        "tasks": "2026-02-21T10:00:00Z",
    }
    assert pulled.source == (
        f"{backend.url}?tenantId=tenant-1&companyId=company-2&userId=user-3"
        "&planningPeriodId=2026-Q1"
    )

    # each page of each convention was asked, with the headers, the bearer token and the query
    assert [c.query.get("page") for c in backend.asked(PATHS["objectives"])] == [None, "1"]
    assert [c.query.get("p") for c in backend.asked(PATHS["key_results"])] == [None, "1"]
    assert [c.query.get("p") for c in backend.asked(PATHS["check_ins"])] == [None, "1"]
    gets = [call for call in backend.calls if call.method == "GET"]
    assert len(gets) == 9
    (token,) = backend.tokens  # one sign-in for the whole pull
    for call in gets:
        assert {name: call.headers.get(name) for name in IDS} == IDS
        assert call.headers["Authorization"] == f"Bearer {token}"
    firsts = [call for call in gets if not {"page", "p"} & set(call.query)]
    assert len(firsts) == 6
    for call in firsts:
        assert call.query["planningPeriodId"] == "2026-Q1"
        assert "updated_since" not in call.query
        assert call.query.get("page_size") == ("50" if call.path != PLAN_TASKS else None)
    (sign_in,) = [call for call in backend.calls if call.method == "POST"]
    assert sign_in.query == {"key": API_KEY}

    report = jobs.ingest_path(settings, folder).as_dict()
    counts = {
        name: (c["read"], c["stored"], c["quarantined"]) for name, c in report["entities"].items()
    }
    assert counts == {
        "objectives": (3, 3, 0),
        "key_results": (3, 3, 0),
        "check_ins": (4, 4, 0),
        "milestones": (1, 1, 0),
        "tasks": (4, 4, 0),  # two from tasks.jsonl, a weekly and a daily one from the plans
    }


def test_incremental_pulls_advance_only_once_committed(backend: Backend, tmp_path: Path):
    settings = rest_settings(backend)
    engine = open_warehouse(settings)
    first = pull_rest_bundle(settings, engine, tmp_path / "one")
    jobs.ingest_path(settings, first.folder)

    # not committed: the next pull starts from scratch again
    again = pull_rest_bundle(settings, engine, tmp_path / "two")
    assert all("updated_since" not in call.query for call in backend.calls)
    assert again.cursors == first.cursors

    assert commit_cursors(engine, first) == 4
    assert stored_cursors(engine, first.source) == first.cursors
    backend.calls.clear()
    third = pull_rest_bundle(settings, engine, tmp_path / "three")
    sent = {
        entity: call.query.get("updated_since")
        for entity, path in PATHS.items()
        for call in backend.asked(path)[:1]
    }
    assert sent == {
        "objectives": "2026-02-03T10:00:00Z",
        "key_results": "2026-02-05T12:30:00+02:00",
        "check_ins": "2026-02-14T08:00:00Z",
        "milestones": None,  # no cursor field: always pulled whole
        "tasks": "2026-02-21T10:00:00Z",
    }
    # the backend answers rows at or after the cursor: the newest of each, stored already
    assert third.rows["objectives"] == 1 and third.rows["milestones"] == 1
    report = jobs.ingest_path(settings, third.folder).as_dict()
    assert report["totals"]["stored"] == 0
    assert report["totals"]["read"] == report["totals"]["unchanged"]

    # another tenant is another source: no cursors of its own yet
    other = rest_settings(backend, tenant_id="tenant-9")
    assert source_name(other.rest) != first.source
    assert stored_cursors(engine, source_name(other.rest)) == {}


def test_an_expired_token_signs_in_again(backend: Backend, tmp_path: Path):
    def expire_once(handler: _Handler, query: dict[str, str]) -> None:
        if len(backend.tokens) == 1:  # the token issued first has expired
            backend.valid.clear()
            handler.send_json({"error": "token expired"}, 401)
            return
        handler.send_json(KEY_RESULTS)

    backend.routes[PATHS["key_results"]] = expire_once
    pulled = pull_bundle(rest_settings(backend), tmp_path / "b")
    assert pulled.rows["key_results"] == 3
    assert len([c for c in backend.calls if c.method == "POST"]) == 2
    later = [c for c in backend.calls if c.path in (PATHS["check_ins"], PLAN_TASKS)]
    assert {c.headers["Authorization"] for c in later} == {f"Bearer {backend.tokens[1]}"}


def test_server_errors_are_retried(backend: Backend, tmp_path: Path):
    answers = iter([503, 500])

    def flaky(handler: _Handler, query: dict[str, str]) -> None:
        status = next(answers, 200)
        if status != 200:
            handler.send_json({"error": "busy"}, status)
            return
        handler.send_json(KEY_RESULTS)

    backend.routes[PATHS["key_results"]] = flaky
    pulled = pull_bundle(rest_settings(backend), tmp_path / "b")
    assert pulled.rows["key_results"] == 3
    assert len(backend.asked(PATHS["key_results"])) == 3


def _always(status: int, body: bytes = b'{"error": "x"}') -> Route:
    return lambda handler, query: handler.send_body(body, status)


def _sleep(handler: _Handler, query: dict[str, str]) -> None:
    handler.backend.stop.wait(3)  # longer than the timeout


def _drip(chunked: bool) -> Route:
    """A body that never ends, a byte at a time: in chunks, or until the connection closes."""

    def route(handler: _Handler, query: dict[str, str]) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Connection", "close")
        handler.end_headers()
        while not handler.backend.stop.wait(0.02):
            handler.wfile.write(b"1\r\n \r\n" if chunked else b" ")
            handler.wfile.flush()

    return route


def _next_forever(handler: _Handler, query: dict[str, str]) -> None:
    handler.send_json({"data": KEY_RESULTS[:1], "next": "more"})


def _unauthorized(handler: _Handler, query: dict[str, str]) -> None:
    handler.send_json({"error": "forbidden for this tenant"}, 401)


FAULTS = {
    "persistent-500": (_always(500), r"HTTP 500, after 2 retries", 3),
    "timeout": (_sleep, r"no answer within rest\.timeout_seconds \(0\.5 s\), after 2 retries", 3),
    "persistent-401": (_unauthorized, r"401 Unauthorized even right after a fresh sign-in", 2),
    "bad-json": (_always(200, b'{"data": [{"key_result_id": '), r"not JSON", 1),
    "not-rows": (_always(200, b'{"rows": []}'), r"an object whose `data` holds one", 1),
    "dripping-chunks": (_drip(True), r"did not end within rest\.deadline_seconds \(1 s\)", 1),
    "dripping-body": (_drip(False), r"did not end within rest\.deadline_seconds \(1 s\)", 1),
    "next-forever": (_next_forever, r"still a next page after 5 pages \(rest\.max_pages\)", 5),
    "too-large": (_always(200, b"[" + b" " * 4096 + b"]"), r"rest\.max_response_bytes", 1),
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_a_failure_keeps_only_complete_files_and_no_secret(
    backend: Backend, tmp_path: Path, caplog: pytest.LogCaptureFixture, fault: str
):
    route, message, asked = FAULTS[fault]
    backend.routes[PATHS["key_results"]] = route
    folder = tmp_path / "b"
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    with pytest.raises(PullError, match=message) as failure:
        pull_bundle(rest_settings(backend, max_response_bytes=1024), folder)
    assert time.monotonic() - started < 5

    error = str(failure.value)
    assert error.startswith(f"REST source, key_results: GET {backend.url}{PATHS['key_results']}")
    assert len(backend.asked(PATHS["key_results"])) == asked
    # the entity before it is complete and reported; the failing one and the rest left nothing
    assert sorted(p.name for p in folder.iterdir()) == ["objectives.jsonl"]
    assert _jsonl(folder / "objectives.jsonl") == OBJECTIVES
    assert failure.value.pulled.rows == {"objectives": 3}
    assert failure.value.pulled.cursors == {"objectives": "2026-02-03T10:00:00Z"}
    _no_secret_shown(backend, error, caplog)


def _no_secret_shown(backend: Backend, error: str, caplog: pytest.LogCaptureFixture) -> None:
    assert any(record.name.startswith("urllib3") for record in caplog.records)
    shown = [error, caplog.text, *(record.getMessage() for record in caplog.records)]
    secrets = [PASSWORD, API_KEY, "AIzaTest%2BKey%2FWith%3DOdd%26Chars", *backend.tokens]
    for text in shown:
        for secret in secrets:
            assert secret not in text


def test_plan_tasks_failing_keeps_every_entity(backend: Backend, tmp_path: Path):
    backend.routes[PLAN_TASKS] = _always(200, b'{"plans": []}')
    folder = tmp_path / "b"
    with pytest.raises(PullError, match=r"plan tasks: .*array of weekly plans") as failure:
        pull_bundle(rest_settings(backend), folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{e}.jsonl" for e in PATHS)
    assert set(failure.value.pulled.cursors) == {"objectives", "key_results", "check_ins", "tasks"}


def test_sign_in_failures_are_clear_and_hide_the_secrets(
    backend: Backend, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OKR_REST__PASSWORD", PASSWORD + "-wrong")
    with pytest.raises(PullError, match="refused, HTTP 400: INVALID_LOGIN_CREDENTIALS") as refused:
        pull_bundle(rest_settings(backend), tmp_path / "one")
    assert str(refused.value).startswith("REST source, objectives: sign-in at ")
    assert list((tmp_path / "one").iterdir()) == []
    _no_secret_shown(backend, str(refused.value), caplog)

    # nobody listens there: requests' own message and urllib3's retries quote the URL and key
    monkeypatch.setenv("OKR_REST__PASSWORD", PASSWORD)
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = closed.server_address[1]
    closed.server_close()
    settings = rest_settings(backend, sign_in_url=f"http://127.0.0.1:{port}/signin")
    with pytest.raises(PullError, match=r"cannot connect, after 2 retries") as unreachable:
        pull_bundle(settings, tmp_path / "two")
    assert any("/signin?key=*** " in record.getMessage() for record in caplog.records)
    _no_secret_shown(backend, str(unreachable.value), caplog)


def test_pages_stay_on_the_backend_host(backend: Backend, tmp_path: Path):
    def elsewhere(handler: _Handler, query: dict[str, str]) -> None:
        handler.send_json({"data": [], "next": "http://example.com/api/v1/objectives?p=1"})

    backend.routes[PATHS["objectives"]] = elsewhere
    with pytest.raises(PullError, match="refused a next page on another host"):
        pull_bundle(rest_settings(backend), tmp_path / "b")
    assert not any(call.query.get("p") for call in backend.calls)


def test_rows_breaking_the_contract_are_written_for_the_quarantine(
    backend: Backend, tmp_path: Path
):
    rows = [*OBJECTIVES[:1], {"objective_id": "O-9", "title": "\udcff"}, 7]
    backend.routes[PATHS["objectives"]] = lambda handler, query: handler.send_body(
        json.dumps(rows).replace('"\\udcff"', '"\xff"').encode("latin-1")  # a byte not UTF-8
    )
    settings = rest_settings(backend, entity_paths={"objectives": PATHS["objectives"]})
    pulled = pull_bundle(settings, tmp_path / "b")
    assert pulled.rows == {"objectives": 3, "plan_tasks": 1}
    report = jobs.ingest_path(settings, pulled.folder).as_dict()["entities"]["objectives"]
    assert (report["stored"], report["quarantined"]) == (1, 2)
    assert report["by_reason"] == {"invalid_encoding": 1, "malformed_row": 1}


def test_what_a_pull_needs_before_asking_anything(backend: Backend, tmp_path: Path, monkeypatch):
    with pytest.raises(ConfigError, match="OKR_REST__BASE_URL"):
        pull_bundle(load_settings(), tmp_path / "a")
    monkeypatch.delenv("OKR_REST__PASSWORD")
    monkeypatch.delenv("OKR_REST__API_KEY")
    with pytest.raises(ConfigError, match="OKR_REST__PASSWORD, OKR_REST__API_KEY"):
        pull_bundle(rest_settings(backend), tmp_path / "a")
    monkeypatch.setenv("OKR_REST__PASSWORD", PASSWORD)
    monkeypatch.setenv("OKR_REST__API_KEY", API_KEY)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "objectives.csv").write_text("objective_id\n")
    with pytest.raises(InputError, match="not empty"):
        pull_bundle(rest_settings(backend), tmp_path / "full")
    assert backend.calls == []
    assert issubclass(PullError, SourceError)


def test_rest_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    assert REST_ENTITIES == ENTITY_ORDER
    monkeypatch.setenv("OKR_REST__BASE_URL", "https://okr.example.com")
    monkeypatch.setenv("OKR_REST__ENTITY_PATHS", '{"check_ins": "/api/v1/check-ins"}')
    settings = load_settings()
    assert settings.rest.entity_paths == {"check_ins": "/api/v1/check-ins"}
    assert settings.rest.password is not None
    assert settings.rest.password.get_secret_value() == PASSWORD
    shown = json.dumps(settings.redacted())
    assert PASSWORD not in shown and API_KEY not in shown and EMAIL not in shown

    monkeypatch.setenv("OKR_REST__ENTITY_PATHS", '{"goals": "/api/v1/goals"}')
    with pytest.raises(ConfigError, match=r"rest\.entity_paths: .*unknown entities goals"):
        load_settings()
    monkeypatch.setenv("OKR_REST__ENTITY_PATHS", '{"tasks": "api/v1/tasks"}')
    with pytest.raises(ConfigError, match=r"rest\.entity_paths: .*must start with '/'"):
        load_settings()
    monkeypatch.delenv("OKR_REST__ENTITY_PATHS")
    monkeypatch.setenv("OKR_REST__BASE_URL", "okr.example.com")
    with pytest.raises(ConfigError, match=r"rest\.base_url"):
        load_settings()

    monkeypatch.delenv("OKR_REST__BASE_URL")
    for key in ("email", "password", "api_key"):
        path = tmp_path / f"{key}.json"
        path.write_text(json.dumps({"rest": {"base_url": "https://okr.example.com", key: "x"}}))
        monkeypatch.setenv("OKR_CONFIG", str(path))
        with pytest.raises(ConfigError, match=rf"rest\.{key} is a secret.*OKR_REST__{key.upper()}"):
            load_settings()


def test_the_etl_pipeline_pulls_and_commits_the_cursors_once_stored(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OKR_PIPELINES__ETL__RETRIES", "0")
    serve(backend)
    settings = rest_settings(backend)
    landed = landing_folder(settings) / "rest"  # a landed bundle may have any name
    landed.mkdir(parents=True)
    (landed / "milestones.jsonl").write_text(json.dumps(MILESTONES[0]) + "\n")
    run = jobs.run_pipeline(settings, "etl")
    assert run.status == "succeeded", run.error
    rest = run.tasks[0].output["rest"]
    assert rest["error"] is None and rest["rows"]["check_ins"] == 4
    loaded = run.tasks[2].output["loaded"]
    assert [(r["bundle"], Path(r["archived"]).name) for r in loaded] == [
        ("rest", "rest"),
        ("rest", "rest.2"),
    ]
    assert loaded[0]["entities"]["milestones"]["read"] == 1
    engine = open_warehouse(settings)
    assert stored_cursors(engine, rest["source"]) == rest["cursors"]

    # part-way: what was pulled is stored, its cursor advances, and the run fails saying why
    backend.calls.clear()
    backend.routes[PATHS["key_results"]] = _always(500)
    failed = jobs.run_pipeline(settings, "etl")
    assert failed.status == "failed" and failed.tasks[-1].task == "check"
    assert "the REST source stopped part-way (what it pulled is stored)" in (failed.error or "")
    assert [c.query.get("updated_since") for c in backend.asked(PATHS["objectives"])] == [
        rest["cursors"]["objectives"]
    ]
    (loaded,) = failed.tasks[2].output["loaded"]
    assert loaded["entities"]["objectives"]["read"] > 0  # the rows from the cursor on, again
    assert loaded["entities"]["objectives"]["stored"] == 0  # ... all unchanged
    assert loaded["entities"]["key_results"]["read"] == 0
