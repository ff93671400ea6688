"""Typed settings: the file, OKR_* overrides, data-dir rooting and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from okr_pipeline.config import DEFAULT_CONFIG_FILE, Settings, load_settings
from okr_pipeline.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_the_shipped_file_equals_the_defaults(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("OKR_DATA_DIR")
    from_file = load_settings()
    monkeypatch.chdir(REPO / "tests")  # no configs/ here: defaults only
    assert load_settings() == from_file
    assert (REPO / DEFAULT_CONFIG_FILE).is_file()


def test_environment_overrides_nested_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("OKR_MODEL__ACHIEVEMENT_THRESHOLD", "0.8")
    monkeypatch.setenv("OKR_STREAM__TOPICS__EVENTS", "custom.events")
    monkeypatch.setenv("OKR_API__PORT", "9000")
    settings = load_settings()
    assert settings.model.achievement_threshold == 0.8
    assert settings.stream.topics.events == "custom.events"
    assert settings.api.port == 9000


def test_data_dir_roots_every_local_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("OKR_DATA_DIR", str(tmp_path / "one"))
    one = load_settings()
    monkeypatch.setenv("OKR_DATA_DIR", str(tmp_path / "two"))
    two = load_settings()
    assert one.warehouse_url.endswith(f"{tmp_path}/one/warehouse.db")
    assert two.path("results") == tmp_path / "two" / "results"
    assert {one.path(n) for n in ("raw", "models")}.isdisjoint(
        {two.path(n) for n in ("raw", "models")}
    )


def test_config_file_from_okr_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"model": {"achievement_threshold": 0.6}}))
    monkeypatch.setenv("OKR_CONFIG", str(path))
    assert load_settings().model.achievement_threshold == 0.6
    monkeypatch.setenv("OKR_MODEL__ACHIEVEMENT_THRESHOLD", "0.9")  # the environment wins
    assert load_settings().model.achievement_threshold == 0.9


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ({"model": {"achievement_threshold": 2}}, "model.achievement_threshold"),
        ({"model": {"bogus": 1}}, "model.bogus"),
        ({"stream": {"backend": "redis"}}, "stream.backend"),
        ({"model": {"risk_thresholds": {"at_risk": 0.8, "off_track": 0.5}}}, "risk_thresholds"),
    ],
)
def test_bad_config_names_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content, key):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(content))
    monkeypatch.setenv("OKR_CONFIG", str(path))
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings()


def test_bad_environment_value_names_the_key(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OKR_API__PORT", "eighty")
    with pytest.raises(ConfigError, match=r"api\.port"):
        load_settings()


def test_unreadable_config_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("OKR_CONFIG", str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="not a file"):
        load_settings()
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    monkeypatch.setenv("OKR_CONFIG", str(broken))
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_settings()


def test_redacted_hides_passwords(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OKR_WAREHOUSE__URL", "postgresql+psycopg://app:s3cret@db/okr")
    data = load_settings().redacted()
    assert "s3cret" not in json.dumps(data)
    assert data["warehouse"]["url"] == "postgresql+psycopg://app:***@db/okr"


def test_settings_are_immutable():
    settings = Settings()
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error
        settings.data_dir = Path("elsewhere")  # type: ignore[misc]


def test_the_webhook_secret_comes_only_from_the_environment(tmp_path, monkeypatch):
    import json

    import pytest

    from okr_pipeline.config import load_settings
    from okr_pipeline.errors import ConfigError

    config = tmp_path / "config.json"
    config.write_text(json.dumps({"monitoring": {"alerts": {"webhook_secret": "s3cret"}}}))
    monkeypatch.setenv("OKR_CONFIG", str(config))
    with pytest.raises(ConfigError, match="OKR_MONITORING__ALERTS__WEBHOOK_SECRET") as refused:
        load_settings()
    assert "s3cret" not in str(refused.value)
    monkeypatch.delenv("OKR_CONFIG")
    monkeypatch.setenv("OKR_MONITORING__ALERTS__WEBHOOK_SECRET", "s3cret")
    assert load_settings().monitoring.alerts.webhook_secret.get_secret_value() == "s3cret"


def test_api_settings_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch):
    api = load_settings().api
    assert (api.host, api.port, api.workers) == ("127.0.0.1", 5001, 2)
    assert api.max_body_bytes == 50 * 1024 * 1024 and api.cors_origins == []
    assert (api.page_size, api.page_size_max) == (50, 500)
    assert api.proxies == 0  # no proxy trusted unless said: X-Forwarded-For is ignored
    monkeypatch.setenv("OKR_API__CORS_ORIGINS", '["https://dash.example.com:8443"]')
    monkeypatch.setenv("OKR_API__AUTH_FAILURES_LIMIT", "5/second; 100/hour")
    api = load_settings().api
    assert api.cors_origins == ["https://dash.example.com:8443"]
    assert api.auth_failures_limit == "5/second; 100/hour"


@pytest.mark.parametrize(
    ("name", "value", "key"),
    [
        ("OKR_API__AUTH_FAILURES_LIMIT", "ten a minute", "api.auth_failures_limit"),
        ("OKR_API__LIMITER_STORAGE", "ftp://host", "api.limiter_storage"),
        ("OKR_API__CORS_ORIGINS", '["https://dash.example.com/app"]', "api.cors_origins"),
        ("OKR_API__CORS_ORIGINS", '["*"]', "api.cors_origins"),
        ("OKR_API__PAGE_SIZE", "501", "page_size must not exceed page_size_max"),
        ("OKR_API__MAX_BODY_BYTES", "10", "api.max_body_bytes"),
        ("OKR_API__PROXIES", "-1", "api.proxies"),
    ],
)
def test_bad_api_settings_name_the_key(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, key: str
):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings()


def test_the_limiter_storage_password_is_redacted(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OKR_API__LIMITER_STORAGE", "redis://:s3cret@cache:6379/0")
    data = load_settings().redacted()
    assert "s3cret" not in json.dumps(data)
    assert data["api"]["limiter_storage"] == "redis://:***@cache:6379/0"
