"""Typed settings: configs/pipeline_config.json, overridden by OKR_* environment variables.

`OKR_DATA_DIR` roots every local path, so two runs with different data directories never touch
each other. Nested keys are overridden with a double underscore: `OKR_WAREHOUSE__URL`,
`OKR_MODEL__ACHIEVEMENT_THRESHOLD`. The file is found at `OKR_CONFIG`, else
`configs/pipeline_config.json` under the working directory; without one the defaults below apply.
"""

from __future__ import annotations

import json
import os
import re
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from okr_pipeline.core import redact_url
from okr_pipeline.errors import ConfigError

__all__ = [
    "REST_ENTITIES",
    "SPIKE_BASELINE_DAYS",
    "Limits",
    "RestSource",
    "Schedule",
    "Settings",
    "load_settings",
]

DEFAULT_CONFIG_FILE = Path("configs/pipeline_config.json")
_HTTP_URL = r"^https?://[^/?#\s]+[^\s]*$"


class _Section(BaseModel):
    # NaN passes every bound (each comparison is false) and infinity passes lower bounds
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Paths(_Section):
    raw: str = "raw"
    processed: str = "processed"
    final: str = "final"
    models: str = "models"
    results: str = "results"
    archive: str = "archive"

    @field_validator("*")
    @classmethod
    def _inside_data_dir(cls, value: str) -> str:
        # an absolute path or `..` would escape OKR_DATA_DIR, which must root every local path
        path = Path(value)
        if not value.strip() or path.is_absolute() or ".." in path.parts:
            raise ValueError("must be a non-empty path relative to data_dir, without '..'")
        return value


class Warehouse(_Section):
    url: str | None = None  # None: SQLite file under the data directory
    echo: bool = False
    sqlite_busy_timeout_ms: int = Field(30000, ge=0, le=2**31 - 1)  # SQLite takes a C int
    # PostgreSQL: how long to wait for a server to accept and answer a connection (libpq counts
    # whole seconds, at least 2), and the longest a statement may run (0: no limit).
    connect_timeout_seconds: int = Field(10, ge=1, le=3600)
    statement_timeout_seconds: float = Field(0.0, ge=0, le=86400)


class Ingest(_Section):
    batch_size: int = Field(5000, ge=1)


class Limits(_Section):
    """Bounds on input from outside (files, events): beyond them a row or message is rejected as
    `too_large`, never parsed further. Far above any real OKR data."""

    max_depth: int = Field(64, ge=2, le=512)  # nesting of JSON objects and arrays
    # digits of one JSON number; Python itself refuses integers of more than 4,300
    max_digits: int = Field(1000, ge=20, le=4300)
    max_raw_bytes: int = Field(1 << 20, ge=1024, le=1 << 30)  # one row or one message


TOPIC_NAME = r"^[A-Za-z0-9._-]{1,249}$"  # what Kafka accepts as a topic name


class Topics(_Section):
    events: str = Field("okr.events", pattern=TOPIC_NAME)
    dead_letters: str = Field("okr.events.dlq", pattern=TOPIC_NAME)
    alerts: str = Field("okr.alerts", pattern=TOPIC_NAME)
    model_updates: str = Field("okr.model-updates", pattern=TOPIC_NAME)


class Retention(_Section):
    """How long the stream's records are kept (null: for ever). `okr stream prune` applies it,
    and so does the consumer every `interval_minutes`."""

    # the embedded log (stream.backend sqlite), each topic: a message goes once it is older than
    # log_max_age_hours or beyond the newest log_max_messages of its partition, but never before
    # every group that committed on its partition has committed past it. Kafka: the broker's
    # retention.ms applies (see stream.broker_retention_hours)
    log_max_age_hours: float | None = Field(168.0, gt=0)
    log_max_messages: int | None = Field(None, ge=1)  # per partition
    # a redelivered event is a no-op while its id is kept: at least as long as a message can be
    # redelivered (the longer of log_max_age_hours and stream.broker_retention_hours)
    processed_ids_max_age_hours: float | None = Field(720.0, gt=0)
    # only dead letters already on the dead-letter topic go
    dead_letters_max_age_hours: float | None = Field(720.0, gt=0)
    dead_letters_max_count: int | None = Field(None, ge=1)
    interval_minutes: float | None = Field(10.0, gt=0)  # the consumer's pruning; null: never
    chunk_size: int = Field(5000, ge=1)  # rows deleted per transaction


class Stream(_Section):
    backend: Literal["sqlite", "kafka"] = "sqlite"
    bootstrap_servers: str = Field("127.0.0.1:9092", pattern=r"\S")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    # only from the environment (OKR_STREAM__SASL_PASSWORD): a config file holding it is refused
    sasl_password: SecretStr | None = None
    partitions: int = Field(3, ge=1)
    replication_factor: int = Field(1, ge=1)
    batch_size: int = Field(20000, ge=1)  # a poll holds at most this many messages
    group: str = Field("okr-warehouse", min_length=1)  # the consumer group writing the warehouse
    poll_timeout_seconds: float = Field(1.0, gt=0)
    # Kafka: how soon a consumer that died (killed, its machine gone) loses its partitions to
    # the others of its group; brokers bound it (Kafka: 6 s to 30 min by default)
    session_timeout_seconds: float = Field(10.0, gt=0)
    # an event whose parent has not arrived waits this long (retried with every batch), then
    # goes to the dead-letter topic as unknown_reference
    park_timeout_seconds: float = Field(600.0, ge=0)
    rescore_interval_seconds: float = Field(30.0, ge=0)  # live re-scoring at most this often
    # set it to the topic's retention.ms on Kafka (null: retention.ms -1, kept for ever): a message
    # can be redelivered as long as the broker keeps it, so processed ids are kept at least as long
    broker_retention_hours: float | None = Field(168.0, gt=0)
    topics: Topics = Topics()
    retention: Retention = Retention()

    @model_validator(mode="after")
    def _processed_ids_outlive_redelivery(self) -> Stream:
        kept = self.retention.processed_ids_max_age_hours
        logs = (self.retention.log_max_age_hours, self.broker_retention_hours)
        if kept is None:
            return self
        if None in logs:
            raise ValueError(
                "retention.processed_ids_max_age_hours must be null (kept for ever) while "
                "retention.log_max_age_hours or broker_retention_hours is null: a message kept "
                "for ever can be redelivered at any time, and its event must stay a no-op"
            )
        longest = max(hours for hours in logs if hours is not None)
        if kept < longest:
            raise ValueError(
                f"retention.processed_ids_max_age_hours ({kept:g}) must be at least "
                f"{longest:g} hours, the longer of retention.log_max_age_hours and "
                "broker_retention_hours: an event redelivered after its id is pruned would be "
                "applied again"
            )
        return self


class Schedule(_Section):
    # cron, UTC: five fields, or six with seconds last (for tests and demos)
    schedule: str = Field("0 */6 * * *", min_length=1)
    retries: int = Field(2, ge=0, le=100)
    retry_delay_seconds: int | float = Field(300, ge=0, le=86400)  # whole seconds stay ints

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter  # loaded with the settings of a command that needs them

        if len(value.split()) not in (5, 6) or not croniter.is_valid(value):
            raise ValueError(
                "must be a cron expression: five fields (minute hour day month weekday), "
                "or six with seconds last"
            )
        return value


# Each pipeline's defaults as the defaults of its fields: OKR_PIPELINES__ETL__RETRIES alone
# overrides one field and keeps the others.
class EtlSchedule(Schedule):
    pass


class TrainingSchedule(Schedule):
    schedule: str = Field("0 0 * * *", min_length=1)
    retries: int = Field(1, ge=0, le=100)
    retry_delay_seconds: int | float = Field(600, ge=0, le=86400)


class MonitoringSchedule(Schedule):
    schedule: str = Field("0 */2 * * *", min_length=1)
    retry_delay_seconds: int | float = Field(120, ge=0, le=86400)


class Pipelines(_Section):
    etl: EtlSchedule = EtlSchedule()
    training: TrainingSchedule = TrainingSchedule()
    monitoring: MonitoringSchedule = MonitoringSchedule()


class RiskThresholds(_Section):
    at_risk: float = Field(0.4, gt=0, lt=1)
    off_track: float = Field(0.7, gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> RiskThresholds:
        if self.at_risk >= self.off_track:
            raise ValueError("at_risk must be below off_track")
        return self


class SearchPoint(_Section):
    """One setting of the risk model tried by the search."""

    num_leaves: int = Field(ge=2, le=1024)
    min_child_samples: int = Field(ge=1)
    reg_lambda: float = Field(ge=0)


class ModelParams(_Section):
    """LightGBM settings of the risk model: those fixed, and the small search that chooses the
    rest by rolling folds over closed periods."""

    learning_rate: float = Field(0.05, gt=0, le=1)
    max_trees: int = Field(500, ge=1)  # early stopping on each fold chooses how many
    folds: int = Field(4, ge=1)  # the latest periods, each scored by the ones before it
    search: tuple[SearchPoint, ...] | None = Field(None, min_length=1)  # None: the model's own


class Model(_Section):
    achievement_threshold: float = Field(0.7, gt=0, le=1)
    registered_name: str = Field("okr-risk", pattern=r"\S")
    tracking_uri: str | None = None  # None: SQLite store and artifacts under the data directory
    random_seed: int = 42
    # points of a closed key result's period at which training snapshots are taken
    snapshot_fractions: tuple[float, ...] = (
        0.02,
        0.05,
        0.1,
        0.2,
        0.3,
        0.4,
        0.5,
        0.6,
        0.7,
        0.8,
        0.9,
        0.95,
    )  # from the first days, when a warning is worth most, to the last
    validation_share: float = Field(0.2, gt=0, lt=1)  # latest closed periods held out
    min_training_key_results: int = Field(50, ge=10)
    min_update_key_results: int = Field(10, ge=1)  # newly closed ones worth an update
    promotion_margin: float = Field(0.005, ge=0)  # of the early-weighted AUC
    # fewer validation key results, or missed ones, say too little to promote on
    min_validation_key_results: int = Field(100, ge=1)
    min_validation_misses: int = Field(20, ge=1)
    bootstrap_rounds: int = Field(200, ge=10)  # resamples of validation key results
    # live scores read only the touched key results again; the whole history (what needs every
    # key result: outcome records, confidence and surge sums) at most this often (0: each time)
    live_history_refresh_minutes: float = Field(60.0, ge=0)
    risk_thresholds: RiskThresholds = RiskThresholds()
    params: ModelParams = ModelParams()

    @field_validator("snapshot_fractions")
    @classmethod
    def _fractions_inside_the_period(cls, fractions: tuple[float, ...]) -> tuple[float, ...]:
        # 0 holds nothing yet and 1 (or more) is the outcome itself: a feature that leaks it
        if not fractions:
            raise ValueError("needs at least one fraction, e.g. [0.25, 0.5, 0.75]")
        if not all(0 < f < 1 for f in fractions):
            raise ValueError("each fraction must be above 0 and below 1")
        if any(a >= b for a, b in pairwise(fractions)):
            raise ValueError("fractions must be strictly increasing (sorted, no duplicates)")
        return fractions


class Quality(_Section):
    """Data-quality thresholds: beyond them, an alert."""

    min_completeness: float = Field(0.95, ge=0, le=1)  # share of rows with a required field
    max_checkin_age_days: float = Field(21.0, gt=0)  # freshness, per department and overall
    max_quarantine_share: float = Field(0.05, ge=0, le=1)  # of the rows read, per entity
    max_dead_letter_share: float = Field(0.05, ge=0, le=1)  # of the events consumed
    volume_tolerance: float = Field(0.5, gt=0)  # check-ins off the usual by more than this share
    window_days: int = Field(7, ge=1, le=366)  # the recent window: validity, duplicates, volume
    series_days: int = Field(28, ge=1, le=366)  # days of the quality-over-time series


class Drift(_Section):
    """Drift per feature between the champion's training snapshots and the open key results."""

    p_value: float = Field(0.01, gt=0, lt=1)  # a test below it: drifted (small samples)
    large_sample: int = Field(2000, ge=10)  # from this many rows on, a distance, not a test
    max_distance: float = Field(0.1, gt=0)  # Wasserstein (scaled) or Jensen-Shannon
    psi_warn: float = Field(0.1, gt=0)
    psi_alert: float = Field(0.2, gt=0)
    # of the features: the dataset alert; beyond the natural variation, an ordinary quarter
    # drifts 0 to 2 of the 35, one with two check-ins in three lost 4 or more (the cadence's)
    max_drifted_share: float = Field(0.1, gt=0, le=1)
    reference_periods: int = Field(4, ge=1, le=40)  # earlier periods the reference is taken from
    # drift goes beyond this many times the largest distance of one earlier period to the others
    # (with four periods, 1.5 let a quarter's own effect through: up to 10 features drifted)
    period_margin: float = Field(2.5, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Drift:
        if self.psi_warn >= self.psi_alert:
            raise ValueError("psi_warn must be below psi_alert")
        return self


class Performance(_Section):
    min_auc: float = Field(0.75, ge=0, le=1)  # realized or estimated
    max_brier: float = Field(0.25, gt=0, le=1)
    interval: float = Field(0.9, gt=0, lt=1)  # the confidence of the estimates' intervals


# a spike of dead letters (or quarantined rows) is the last 24 hours against the median day of
# these many before (monitoring.signals)
SPIKE_BASELINE_DAYS = 14


class Alerts(_Section):
    window_hours: float = Field(24.0, ge=0)  # one alert per condition and subject within it
    log: bool = True
    jsonl: str | None = None  # a JSON lines file, relative to data_dir; None: off
    webhook_url: str | None = Field(None, pattern=_HTTP_URL)  # None: off
    # only from the environment (OKR_MONITORING__ALERTS__WEBHOOK_SECRET): signs each POST
    webhook_secret: SecretStr | None = None
    webhook_retries: int = Field(3, ge=0, le=20)
    webhook_backoff_seconds: float = Field(0.5, ge=0, le=60)  # urllib3's backoff_factor
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=300)
    topic: bool = True  # stream.topics.alerts
    max_consumer_lag: int = Field(10000, ge=0)  # events not yet consumed
    # quarantined rows or dead letters of the last 24 hours: a spike above this many times the
    # median day of the 14 before, and at least spike_min_count
    spike_factor: float = Field(3.0, ge=1)
    spike_min_count: int = Field(20, ge=1)

    @field_validator("jsonl")
    @classmethod
    def _inside_data_dir(cls, value: str | None) -> str | None:
        return None if value is None else Paths._inside_data_dir(value)


class Monitoring(_Section):
    quality: Quality = Quality()
    drift: Drift = Drift()
    performance: Performance = Performance()
    alerts: Alerts = Alerts()


class Api(_Section):
    """The REST API (`okr serve`)."""

    host: str = Field("127.0.0.1", pattern=r"\S")
    port: int = Field(5001, ge=1, le=65535)
    workers: int = Field(2, ge=1, le=256)  # gunicorn worker processes
    # larger request bodies are refused with 413 (bundles are uploaded whole)
    max_body_bytes: int = Field(50 << 20, ge=1024, le=1 << 40)
    # origins allowed to call the API from a browser (CORS); none: closed
    cors_origins: list[str] = []
    # failed authentications (401) allowed per client address before 429; flask-limiter notation
    auth_failures_limit: str = "10 per minute"
    # where the limiter counts: "memory://" (per worker process) or a shared store such as
    # "redis://host:6379" for several workers or hosts
    limiter_storage: str = "memory://"
    # proxies in front of the app that set X-Forwarded-For and -Proto (nginx: 1). The client's
    # address is then the one the nearest proxy saw: a client cannot forge it, and the limiter
    # and the audit log see real clients. 0: the address of the connection
    proxies: int = Field(0, ge=0, le=5)
    page_size: int = Field(50, ge=1)  # items of a list page when `limit` is not given
    page_size_max: int = Field(500, ge=1)  # a larger `limit` is capped to it
    # POST /predict: feature rows per request; the champion's alias is looked at again (one
    # registry call) at most this often, so a promotion is served within it (0: every request)
    predict_max_rows: int = Field(10_000, ge=1)
    champion_check_seconds: float = Field(1.0, ge=0, le=3600)
    events_max: int = Field(10_000, ge=1)  # POST /events: events per request
    # POST /ingest: files in an upload (parts, or entries of a zip) and their total size
    # unpacked (a zip bomb is refused before a byte is written)
    upload_max_files: int = Field(100, ge=1, le=100_000)
    upload_max_bytes: int = Field(1 << 30, ge=1024, le=1 << 40)
    # signs the dashboard's session cookie; only from the environment (OKR_API__SECRET_KEY), at
    # least 32 characters. Unset: `okr serve` makes a random one per server (its workers share
    # it), so logins end when the server restarts
    secret_key: SecretStr | None = Field(None, min_length=32)
    # the session cookie is Secure (sent over https only) on requests that came over https;
    # true: always (behind a TLS proxy that does not say so in X-Forwarded-Proto)
    secure_cookies: bool = False

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            # an origin is scheme and host (and port), nothing else: a browser sends no path
            if not re.fullmatch(r"https?://[^/?#\s*]+", origin):
                raise ValueError(
                    f"{origin!r} is not an origin such as https://dashboard.example.com"
                )
        return origins

    @field_validator("auth_failures_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse_many  # flask-limiter's notation, read by its own parser

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(
                "must be a rate such as '10 per minute' or '5/second; 100/hour'"
            ) from None
        return value

    @field_validator("limiter_storage")
    @classmethod
    def _storage(cls, value: str) -> str:
        from limits.storage import SCHEMES

        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in SCHEMES:
            raise ValueError(
                f"must be a storage URI of flask-limiter ({', '.join(sorted(SCHEMES))}), "
                "e.g. memory:// or redis://host:6379"
            )
        return value

    @model_validator(mode="after")
    def _page_sizes(self) -> Api:
        if self.page_size > self.page_size_max:
            raise ValueError("page_size must not exceed page_size_max")
        return self


# the contract's entities (section 1), in the order they are ingested; config sits below the
# contract's layer, so they are named here too (a test keeps both the same)
REST_ENTITIES = ("objectives", "key_results", "check_ins", "milestones", "tasks")


class RestSource(_Section):
    """The OKR backend's REST API, pulled into a bundle (`okr_pipeline.sources.rest`). Its
    email, password and API key only from the environment: OKR_REST__EMAIL, OKR_REST__PASSWORD,
    OKR_REST__API_KEY (a config file holding them is refused)."""

    base_url: str | None = Field(None, pattern=_HTTP_URL)  # None: no REST source configured
    sign_in_url: str = Field(
        "https://identitytoolkit.googleapis.com/v1/accounts:signInWithPassword", pattern=_HTTP_URL
    )
    # the headers tenantId, companyId, userId and the query planningPeriodId, where set
    tenant_id: str | None = None
    company_id: str | None = None
    user_id: str | None = None
    planning_period_id: str | None = None
    plan_tasks_path: str | None = Field("/api/v1/plan-tasks", pattern=r"^/")  # None: not pulled
    # contract entity -> its endpoint's path; an entity without one is not pulled
    entity_paths: dict[str, str] = {}
    timeout_seconds: float = Field(30.0, gt=0, le=3600)  # to connect, and of silence when reading
    deadline_seconds: float = Field(300.0, gt=0, le=86400)  # for one response's whole body
    retries: int = Field(3, ge=0, le=20)  # of a request failing to connect, time out, 429 or 5xx
    backoff_seconds: float = Field(0.5, ge=0, le=60)  # urllib3's backoff_factor
    max_pages: int = Field(10_000, ge=1)  # of one entity
    max_response_bytes: int = Field(64 << 20, ge=1024, le=1 << 34)
    page_size: int | None = Field(500, ge=1)  # sent as `page_size`; None: not sent
    email: SecretStr | None = None
    password: SecretStr | None = None
    api_key: SecretStr | None = None

    @field_validator("entity_paths")
    @classmethod
    def _entity_paths(cls, paths: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(paths) - set(REST_ENTITIES))
        if unknown:
            raise ValueError(
                f"unknown entities {', '.join(unknown)}; the entities are "
                f"{', '.join(REST_ENTITIES)}"
            )
        if not all(path.startswith("/") for path in paths.values()):
            raise ValueError("each path must start with '/', e.g. /api/v1/objectives")
        return paths


# secrets that only the environment may hold, by their path of keys
_ENVIRONMENT_ONLY = (
    ("stream", "sasl_password"),
    ("rest", "email"),
    ("rest", "password"),
    ("rest", "api_key"),
    ("monitoring", "alerts", "webhook_secret"),
    ("api", "secret_key"),
)


class _JsonFileSource(PydanticBaseSettingsSource):
    """Reads the configuration file; environment variables take precedence over it."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the whole file

    def __call__(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8-sig"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {self.path}: {exc.strerror}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"config file {self.path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {self.path} must hold a JSON object")
        for keys in _ENVIRONMENT_ONLY:
            *sections, key = keys
            part: Any = data
            for section in sections:
                part = part.get(section) if isinstance(part, dict) else None
            if isinstance(part, dict) and key in part:
                raise ConfigError(
                    f"config file {self.path}: {'.'.join(keys)} is a secret; set it only in "
                    f"the environment (OKR_{'__'.join(keys).upper()})"
                )
        return data


class Settings(BaseSettings):
    """The effective configuration; immutable once loaded."""

    model_config = SettingsConfigDict(
        env_prefix="OKR_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    data_dir: Path = Path("data")
    paths: Paths = Paths()
    warehouse: Warehouse = Warehouse()
    ingest: Ingest = Ingest()
    limits: Limits = Limits()
    stream: Stream = Stream()
    pipelines: Pipelines = Pipelines()
    model: Model = Model()
    monitoring: Monitoring = Monitoring()
    api: Api = Api()
    rest: RestSource = RestSource()

    @model_validator(mode="after")
    def _stream_records_outlive_monitoring(self) -> Settings:
        # monitoring counts events stored and dead-lettered per day that far back: pruning them
        # sooner would show quiet days that were not, and spikes against them
        quality = self.monitoring.quality
        days = max(quality.window_days, quality.series_days, SPIKE_BASELINE_DAYS + 1)
        retention = self.stream.retention
        for name in ("processed_ids_max_age_hours", "dead_letters_max_age_hours"):
            hours = getattr(retention, name)
            if hours is not None and hours < days * 24:
                raise ValueError(
                    f"stream.retention.{name} ({hours:g}) must be at least {days * 24} hours: "
                    f"monitoring counts the stream's events of the last {days} days "
                    "(monitoring.quality.series_days and window_days, and "
                    f"{SPIKE_BASELINE_DAYS + 1} days for spikes)"
                )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _JsonFileSource(settings_cls, _config_path())

    def path(self, name: str) -> Path:
        """A data directory (raw, processed, final, models, results, archive) under data_dir."""
        return self.data_dir / getattr(self.paths, name)

    @property
    def warehouse_url(self) -> str:
        return self.warehouse.url or f"sqlite:///{self.data_dir / 'warehouse.db'}"

    @property
    def tracking_uri(self) -> str:
        return self.model.tracking_uri or f"sqlite:///{self.default_tracking_store}"

    @property
    def default_tracking_store(self) -> Path:
        """The SQLite tracking store used unless `model.tracking_uri` names another."""
        return self.data_dir.resolve() / "mlflow.db"

    def redacted(self) -> dict[str, Any]:
        """The settings as JSON-ready data with passwords hidden."""
        data = self.model_dump(mode="json")
        data["warehouse"]["url"] = redact_url(self.warehouse_url)
        data["model"]["tracking_uri"] = redact_url(self.tracking_uri)
        if self.rest.base_url:
            data["rest"]["base_url"] = redact_url(self.rest.base_url)
        data["rest"]["sign_in_url"] = redact_url(self.rest.sign_in_url)
        data["api"]["limiter_storage"] = redact_url(self.api.limiter_storage)
        data["config_file"] = str(_config_path()) if _config_path() else None
        return data


def _config_path() -> Path | None:
    explicit = os.environ.get("OKR_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"OKR_CONFIG names {path}, which is not a file")
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Load and validate the settings; a bad value is a ConfigError naming its key."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
    except SettingsError as exc:
        # an OKR_* variable for a list or a section that is not JSON; the message names the
        # section, never the value (it may be a secret)
        raise ConfigError(
            f"invalid configuration: {exc}; a list or object in an OKR_* variable must be JSON, "
            "e.g. OKR_MODEL__SNAPSHOT_FRACTIONS='[0.25, 0.5, 0.75]'"
        ) from None
