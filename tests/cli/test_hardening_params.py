"""Hostile parameters, settings and servers: every one ends as one clear line and exit
status 1 (a bad option value as click's usage error, status 2), never a traceback, and no
secret ever reaches the output."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from okr_pipeline.cli import main
from okr_pipeline.config import load_settings
from okr_pipeline.core.clock import days, instant
from okr_pipeline.core.redact import redact_text, redact_url
from okr_pipeline.features import closed_before, load_history
from okr_pipeline.sources.synthetic import generate_bundle
from okr_pipeline.warehouse.engine import open_warehouse

SECRET = "s3cret-pw"


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _refused(result: Result, *expected: str, code: int = 1) -> str:
    """The error line of a refused command, checked: exit code, one line, no traceback, no
    secret, nothing on stdout."""
    assert result.exit_code == code, result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    assert "Traceback" not in result.output and SECRET not in result.output
    assert result.stdout == ""
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: ")
    if code == 1:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for part in expected:
        assert part in line, line
    return line


# --- training: no future as-of, no labels from after the data ----------------------------------


def test_training_refuses_an_as_of_later_than_now():
    _refused(_invoke("train", "--as-of", "9999-12-31"), "later than now", "9999-12-31")
    _refused(_invoke("model", "update", "--as-of", "9999-12-31"), "later than now")
    in_an_hour = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    _refused(_invoke("train", "--as-of", in_an_hour), "later than now")


def test_labels_come_only_from_key_results_due_before_the_newest_check_in(tmp_path: Path):
    data_end = date(2026, 7, 1)
    generate_bundle(tmp_path / "bundle", seed=3, scale=0.1, as_of=data_end)
    assert _invoke("ingest", str(tmp_path / "bundle")).exit_code == 0
    with open_warehouse(load_settings()).connect() as conn:
        history = load_history(conn, 0.7)
    assert instant(history.data_until).date() <= data_end
    later = datetime(2026, 11, 30)  # past, but months after the data ends
    due_in_between = [
        kr.id
        for kr in history.key_results.values()
        if history.data_until < kr.end < days(later) and not kr.cancelled
    ]
    assert due_in_between, "the data should hold key results due after it ends"
    closed = set(closed_before(history, later))
    assert closed == set(closed_before(history, instant(history.data_until)))
    assert closed.isdisjoint(due_in_between) and len(closed) > 50

    # the features' attainment counts only those outcomes too
    ends = history.overall.ends
    assert ends and max(ends) < history.data_until


# --- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("[-1]", "above 0 and below 1"),
        ("[2, 3]", "above 0 and below 1"),
        ("[0, 0.5]", "above 0 and below 1"),
        ("[0.5, 1]", "above 0 and below 1"),
        ("[]", "at least one fraction"),
        ("[0.5, 0.5]", "strictly increasing"),
        ("[0.6, 0.3]", "strictly increasing"),
        ("[NaN]", "finite number"),
        ("abc", "must be JSON"),
        ("[0.5,", "must be JSON"),
    ],
)
def test_snapshot_fractions_are_validated(monkeypatch: pytest.MonkeyPatch, value, expected):
    monkeypatch.setenv("OKR_MODEL__SNAPSHOT_FRACTIONS", value)
    line = _refused(_invoke("config", "show"), "invalid configuration", expected)
    assert "model" in line


def test_valid_snapshot_fractions_are_kept(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OKR_MODEL__SNAPSHOT_FRACTIONS", "[0.25, 0.5, 0.75]")
    assert load_settings().model.snapshot_fractions == (0.25, 0.5, 0.75)


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("OKR_MODEL__PARAMS__LEARNING_RATE", "nan", "model.params.learning_rate"),
        ("OKR_MONITORING__DRIFT__PSI_ALERT", "inf", "monitoring.drift.psi_alert"),
        ("OKR_MONITORING__DRIFT__PSI_WARN", "0.5", "psi_warn must be below psi_alert"),
        ("OKR_STREAM__POLL_TIMEOUT_SECONDS", "nan", "stream.poll_timeout_seconds"),
        ("OKR_STREAM__PARK_TIMEOUT_SECONDS", "inf", "stream.park_timeout_seconds"),
        ("OKR_MODEL__ACHIEVEMENT_THRESHOLD", "nan", "model.achievement_threshold"),
        ("OKR_PATHS__RAW", "/etc", "paths.raw"),
        ("OKR_PATHS__RESULTS", "../../elsewhere", "paths.results"),
        ("OKR_STREAM__TOPICS__EVENTS", "not a topic", "stream.topics.events"),
        ("OKR_PIPELINES__ETL__SCHEDULE", "every day", "pipelines.etl.schedule"),
        ("OKR_API__HOST", " ", "api.host"),
        ("OKR_MONITORING__ALERTS__WEBHOOK_URL", "hooks.example.com/okr", "alerts.webhook_url"),
        ("OKR_MONITORING__ALERTS__WEBHOOK_URL", "", "monitoring.alerts.webhook_url"),
        ("OKR_WAREHOUSE__CONNECT_TIMEOUT_SECONDS", "0", "warehouse.connect_timeout_seconds"),
        ("OKR_WAREHOUSE__STATEMENT_TIMEOUT_SECONDS", "-1", "warehouse.statement_timeout_seconds"),
        ("OKR_WAREHOUSE__SQLITE_BUSY_TIMEOUT_MS", str(2**40), "warehouse.sqlite_busy_timeout_ms"),
    ],
)
def test_settings_out_of_range_name_their_key(
    monkeypatch: pytest.MonkeyPatch, variable, value, key
):
    monkeypatch.setenv(variable, value)
    _refused(_invoke("status"), "invalid configuration", key)


# --- secrets --------------------------------------------------------------------------------------


def test_config_show_redacts_every_password(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OKR_MODEL__TRACKING_URI", f"http://mlflow:{SECRET}@tracking:5000/")
    monkeypatch.setenv("OKR_WAREHOUSE__URL", f"postgresql+psycopg://app:{SECRET}@db:notaport/okr")
    monkeypatch.setenv("OKR_STREAM__SASL_PASSWORD", SECRET)
    result = _invoke("config", "show", "--json")
    assert result.exit_code == 0 and SECRET not in result.output
    shown = json.loads(result.stdout)
    assert shown["model"]["tracking_uri"] == "http://mlflow:***@tracking:5000/"
    assert shown["warehouse"]["url"] == "postgresql+psycopg://app:***@db:notaport/okr"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg:/u:{SECRET}@h/db",  # one slash: no URL parser splits it
        f"host=db password={SECRET} user=u",  # a libpq conninfo, not a URL
        f"postgresql://u:{SECRET}@h:port/db",
    ],
)
def test_config_show_hides_passwords_of_urls_that_do_not_parse(
    monkeypatch: pytest.MonkeyPatch, url: str
):
    monkeypatch.setenv("OKR_WAREHOUSE__URL", url)
    monkeypatch.setenv("OKR_MODEL__TRACKING_URI", url)
    for args in (["config", "show"], ["config", "show", "--json"]):
        result = _invoke(*args)
        assert result.exit_code == 0 and SECRET not in result.output


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"postgresql+psycopg://u:{SECRET}@host:notaport/db", "port that is not a number"),
        (f"postgresql+psycopg://u:{SECRET}:@@host/db", "percent-encode"),
        ("postgresql://u:p@ss@host/db", "percent-encode"),
        ("foo://x", "unsupported database 'foo'"),
        (f"mysql://u:{SECRET}@host/db", "not installed"),
        (f"not a url {SECRET}", "is not a database URL"),
    ],
)
def test_unusable_warehouse_urls_are_clear_and_never_echoed(
    monkeypatch: pytest.MonkeyPatch, url, expected
):
    monkeypatch.setenv("OKR_WAREHOUSE__URL", url)
    line = _refused(_invoke("status"), "warehouse.url", expected)
    assert "ss@host" not in line and "p@ss" not in line


def test_a_sqlite_warehouse_where_no_folder_can_be_made(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("OKR_WAREHOUSE__URL", f"sqlite:///{tmp_path / 'a-file' / 'w.db'}")
    _refused(_invoke("status"), "cannot create the warehouse folder", "a-file")


@pytest.mark.postgres
def test_a_percent_encoded_password_with_at_connects(
    monkeypatch: pytest.MonkeyPatch, postgres_url: str
):
    # the server trusts local connections: the password is ignored, the URL must still parse
    url = make_url(postgres_url).set(password="p@ss:w/rd")
    rendered = url.render_as_string(hide_password=False)
    assert "p%40ss%3Aw%2Frd" in rendered
    monkeypatch.setenv("OKR_WAREHOUSE__URL", rendered)
    result = _invoke("status", "--json")
    assert result.exit_code == 0, result.output
    assert "p%40ss" not in result.output and "p@ss" not in result.output


def test_mlflow_errors_never_show_the_tracking_password(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail now, not after backoff
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        monkeypatch.setenv("OKR_MODEL__TRACKING_URI", f"http://okr:{SECRET}@127.0.0.1:{port}")
        _refused(_invoke("model", "list"), f"MLflow at http://okr:***@127.0.0.1:{port}")


def test_redaction_of_urls_and_messages():
    assert redact_url("postgresql://u:p@ss@h/db") == "postgresql://u:***@h/db"
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert redact_url("sqlite:////tmp/w.db") == "sqlite:////tmp/w.db"
    assert redact_url("http://h/x?token=abc&y=1") == "http://h/x?token=***&y=1"
    assert redact_url("postgresql://u:pw@h/db?password=z") == "postgresql://u:***@h/db?password=***"
    assert redact_url("postgresql+psycopg:/u:pw@h/db") == "postgresql+psycopg:***@h/db"
    assert redact_url("host=db password=pw user=u") == "host=db password=*** user=u"
    assert redact_url("/var/lib/mlruns") == "/var/lib/mlruns"
    # an API key in the query (Google's `key`), not a parameter that merely starts with "key"
    assert redact_url("https://h/v1/a:signIn?key=AIza1") == "https://h/v1/a:signIn?key=***"
    assert (
        redact_url("http://h/x?keyResultId=3&api_key=z") == "http://h/x?keyResultId=3&api_key=***"
    )
    message = "API request to http://u:p%40ss@h/api failed (p@ss)"
    assert (
        redact_text(message, "http://u:p%40ss@h")
        == "API request to http://u:***@h/api failed (***)"
    )


# --- timeouts -------------------------------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port on which a server accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_server_that_never_answers_fails_within_the_connect_timeout(
    monkeypatch: pytest.MonkeyPatch, silent_server: int
):
    url = f"postgresql+psycopg://okr:{SECRET}@127.0.0.1:{silent_server}/okr"
    monkeypatch.setenv("OKR_WAREHOUSE__URL", url)
    monkeypatch.setenv("OKR_WAREHOUSE__CONNECT_TIMEOUT_SECONDS", "2")
    started = time.monotonic()
    result = _invoke("status")
    elapsed = time.monotonic() - started
    _refused(result, "cannot open the warehouse", "okr:***@127.0.0.1", "timeout")
    assert 1.5 < elapsed < 8, elapsed  # libpq waits at least 2 s; without a timeout: minutes


@pytest.mark.postgres
def test_statements_end_at_the_statement_timeout(
    monkeypatch: pytest.MonkeyPatch, postgres_url: str
):
    monkeypatch.setenv("OKR_WAREHOUSE__URL", postgres_url)
    monkeypatch.setenv("OKR_WAREHOUSE__STATEMENT_TIMEOUT_SECONDS", "0.3")
    engine = open_warehouse(load_settings())
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError, match="statement timeout"), engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(5)"))
        assert time.monotonic() - started < 3
    finally:
        engine.dispose()


# --- numeric options, as-of, output ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["produce", "--from", ".", "--rate", "nan"],
        ["produce", "--from", ".", "--rate", "inf"],
        ["generate", "--out", "x", "--scale", "inf"],
        ["generate", "--out", "x", "--scale", "nan"],
        ["generate", "--out", "x", "--scale", "1e305"],  # finite, but no bundle is that large
        ["consume", "--until-idle", "nan"],
        ["consume", "--until-idle", "inf"],
        ["simulate", "--duration", "nan"],
        ["simulate", "--rate", "-inf"],
    ],
)
def test_float_options_refuse_nan_and_infinity(args: list[str]):
    # an option value that cannot be used is click's usage error (status 2), like `--rate abc`
    _refused(_invoke(*args), "Invalid value for", code=2)


def test_a_finite_float_option_still_checks_its_range():
    _refused(_invoke("consume", "--until-idle", "-1"), "Invalid value for", code=2)


@pytest.mark.parametrize(
    "args",
    [
        ["key-results", "--as-of", "0001-01-01T00:00:00+14:00"],
        ["predict", "--as-of", "0001-01-01T00:00:00+14:00"],
        ["train", "--as-of", "9999-12-31T23:00:00-14:00"],
    ],
)
def test_an_as_of_out_of_range_is_a_clear_error(args: list[str]):
    _refused(_invoke(*args), "out of range")


@pytest.mark.parametrize("as_of", ["0001-01-01", "9999-12-31"])
def test_generate_refuses_an_as_of_its_periods_cannot_reach(tmp_path: Path, as_of: str):
    _refused(_invoke("generate", "--out", str(tmp_path / "b"), "--as-of", as_of), "year between")
    assert not (tmp_path / "b").exists()


def test_predict_output_onto_a_directory_or_under_a_file_is_a_clear_error(tmp_path: Path):
    _refused(_invoke("predict", "--output", str(tmp_path)), "is a directory")
    (tmp_path / "a-file").write_text("")
    under_a_file = tmp_path / "a-file" / "risks.json"
    _refused(_invoke("predict", "--output", str(under_a_file)), "cannot write --output")


def test_a_newer_schema_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, warehouse: Engine):
    with warehouse.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    monkeypatch.setenv("OKR_WAREHOUSE__URL", warehouse.url.render_as_string(hide_password=False))
    _refused(
        _invoke("status"), "made by a newer okr-pipeline (revision 9999); upgrade okr-pipeline"
    )


def _bundle(
    folder: Path, key_results: list[str], check_ins: list[tuple[str, str, str, float]]
) -> Path:
    """A bundle of objective O-1 with these key results (CSV lines: id, objective, title,
    metric type, start, target) and check-ins (id, key result, time, value)."""
    folder.mkdir()
    (folder / "objectives.csv").write_text(
        "objective_id,title,period_start,period_end\nO-1,Grow,2026-01-01,2026-03-31\n"
    )
    (folder / "key_results.csv").write_text(
        "key_result_id,objective_id,title,metric_type,start_value,target_value\n"
        + "".join(f"{line}\n" for line in key_results)
    )
    names = ("check_in_id", "key_result_id", "checked_in_at", "value")
    (folder / "check_ins.jsonl").write_text(
        "".join(json.dumps(dict(zip(names, row))) + "\n" for row in check_ins)
    )
    return folder


def test_a_check_in_at_the_end_of_time_stops_no_command(tmp_path: Path):
    """The newest check-in bounds the labels (History.data_until): at 9999-12-31 that day's end
    is past what a datetime holds."""
    bundle = _bundle(
        tmp_path / "far",
        ["KR-1,O-1,Far,number,0,10"],
        [("C-1", "KR-1", "9999-12-31T23:59:59Z", 5)],
    )
    assert json.loads(_invoke("ingest", str(bundle), "--json").stdout)["totals"]["stored"] == 3
    listed = _invoke("key-results", "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout)[0]["key_result_id"] == "KR-1"
    _refused(_invoke("train"), "for training")
    _refused(_invoke("predict"), "no champion model yet")


def test_json_output_is_valid_for_extreme_values(tmp_path: Path):
    bundle = _bundle(
        tmp_path / "huge",
        [
            "KR-NAN,O-1,Overflow to nan,number,-1e308,1e308",
            "KR-INF,O-1,Overflow to inf,number,0,1e-300",
        ],
        [
            ("C-1", "KR-NAN", "2026-02-01T00:00:00Z", 1e308),
            ("C-2", "KR-INF", "2026-02-01T00:00:00Z", 1e10),
        ],
    )
    ingested = _invoke("ingest", str(bundle), "--json")
    assert json.loads(ingested.stdout)["totals"]["stored"] == 5
    result = _invoke("key-results", "--as-of", "2026-02-15", "--json")
    assert result.exit_code == 0 and "NaN" not in result.stdout and "Infinity" not in result.stdout
    states = {s["key_result_id"]: s for s in json.loads(result.stdout)}
    assert states["KR-NAN"]["progress"] is None
    assert states["KR-INF"]["progress"] is None and states["KR-INF"]["score"] == 1.0
    assert states["KR-NAN"]["score"] is None  # NaN clipped stays NaN
