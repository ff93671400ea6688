"""Where alert notifications go: each channel switched on in `monitoring.alerts`.

- `log`: a line on the `okr_pipeline.monitoring.alerts` logger, INFO, WARNING or ERROR by severity.
- `jsonl`: one JSON object per notification appended to a file under the data directory.
- `webhook`: an HTTP POST of the alert's JSON. The body is signed: `X-OKR-Signature:
  sha256=<hex>` is the HMAC-SHA256, keyed with `webhook_secret`, of `<X-OKR-Timestamp>.<body>`
  (the timestamp header, Unix seconds, then a dot, then the exact bytes of the body), so a
  receiver can refuse replays of old bodies. `X-OKR-Delivery` is one id per notification, the
  same on each retry, for a receiver to drop duplicates. Connection errors, read timeouts and
  5xx answers are retried `webhook_retries` times with backoff; a webhook URL without a secret is
  a configuration error, and the secret never appears in a log or an error.
- `topic`: a message on `stream.topics.alerts`, keyed by the alert's fingerprint.

The warehouse's `alerts` table (`table`) is the alert store itself (`alerts.py`), written
whatever the channels do. A channel that fails is reported, not raised: the others still get the
notification, and a channel that failed once is not tried again by the same `Notifier` (a
webhook or broker that is down would otherwise cost its timeouts once per alert).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from okr_pipeline.config import Settings
from okr_pipeline.core import redact_text, redact_url
from okr_pipeline.errors import ConfigError, OkrError
from okr_pipeline.stream import EventLog, open_event_log

__all__ = ["CHANNELS", "SECRET_VARIABLE", "Notifier", "check_channels", "sign"]

CHANNELS = ("log", "jsonl", "webhook", "topic")
SECRET_VARIABLE = "OKR_MONITORING__ALERTS__WEBHOOK_SECRET"
RETRY_STATUSES = (500, 502, 503, 504)
MAX_BACKOFF_SECONDS = 30.0

log = logging.getLogger("okr_pipeline.monitoring.alerts")
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}


class DeliveryError(OkrError):
    """A channel could not take a notification; the message says why, without secrets."""


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The `X-OKR-Signature` value of a body sent at `timestamp`."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def check_channels(settings: Settings) -> None:
    """Refuse channel settings that cannot work (a ConfigError): a webhook without its secret."""
    config = settings.monitoring.alerts
    if config.webhook_url is not None and config.webhook_secret is None:
        raise ConfigError(
            f"monitoring.alerts.webhook_url is set but not its secret: set {SECRET_VARIABLE}"
        )


class Notifier:
    """The enabled channels for one batch of notifications; open them with `with`."""

    def __init__(self, settings: Settings) -> None:
        check_channels(settings)
        self.settings = settings
        config = settings.monitoring.alerts
        enabled = {
            "log": config.log,
            "jsonl": config.jsonl is not None,
            "webhook": config.webhook_url is not None,
            "topic": config.topic,
        }
        self.channels = tuple(name for name in CHANNELS if enabled[name])
        self._failed: dict[str, str] = {}  # channel -> its first failure in this batch
        self._session: requests.Session | None = None
        self._log: EventLog | None = None

    def send(
        self, document: Mapping[str, Any], key: str, only: Collection[str] | None = None
    ) -> dict[str, str]:
        """Deliver `document` (an alert's JSON) to every enabled channel, or to those of them in
        `only`; returns the channels that failed, each with why."""
        body = json.dumps(document, sort_keys=True, allow_nan=False).encode("utf-8")
        failures = {}
        for channel in self.channels:
            if only is not None and channel not in only:
                continue
            if channel in self._failed:
                failures[channel] = f"not tried after an earlier failure: {self._failed[channel]}"
                continue
            try:
                self._deliver(channel, document, key, body)
            except (OkrError, OSError) as exc:
                failures[channel] = self._failed[channel] = str(exc)
                log.warning("alert channel %s failed: %s", channel, exc)
        return failures

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._log is not None:
            event_log, self._log = self._log, None
            try:
                event_log.close()
            except OkrError as exc:  # everything sent was flushed already: only report it
                log.warning("closing the event log after alerts: %s", exc)

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _deliver(self, channel: str, document: Mapping[str, Any], key: str, body: bytes) -> None:
        if channel == "log":
            level = _LEVELS[str(document["severity"])]
            log.log(level, "alert %s %s: %s", document["condition"], document["subject"],
                    document["message"])  # fmt: skip
        elif channel == "jsonl":
            self._append(body)
        elif channel == "webhook":
            self._post(body)
        else:
            self._publish(key, body)

    def _append(self, body: bytes) -> None:
        relative = self.settings.monitoring.alerts.jsonl
        assert relative is not None  # only enabled with a path
        path = self.settings.data_dir / relative
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with Path(path).open("ab") as out:  # one write per line: lines never interleave
                out.write(body + b"\n")
        except OSError as exc:
            raise DeliveryError(f"cannot append to {path}: {exc.strerror}") from None

    def _post(self, body: bytes) -> None:
        config = self.settings.monitoring.alerts
        url, secret = config.webhook_url, config.webhook_secret
        assert url is not None and secret is not None  # checked in __init__
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-OKR-Timestamp": timestamp,
            "X-OKR-Signature": sign(secret.get_secret_value().encode(), timestamp, body),
            "X-OKR-Delivery": uuid.uuid4().hex,
        }
        try:
            answer = self._webhook().post(
                url, data=body, headers=headers, timeout=config.webhook_timeout_seconds
            )
        except requests.RequestException as exc:
            reason = redact_text(f"{type(exc).__name__}: {exc}", url)
            raise DeliveryError(f"webhook {redact_url(url)}: {reason}") from None
        if not answer.ok:
            raise DeliveryError(
                f"webhook {redact_url(url)} answered HTTP {answer.status_code} "
                f"after {config.webhook_retries} retries at most"
            )

    def _webhook(self) -> requests.Session:
        if self._session is None:
            config = self.settings.monitoring.alerts
            retries = config.webhook_retries
            retry = Retry(
                total=retries,
                connect=retries,
                read=retries,  # the receiver may have it already: X-OKR-Delivery tells
                status=retries,
                other=0,
                allowed_methods=frozenset({"POST"}),
                status_forcelist=RETRY_STATUSES,
                backoff_factor=config.webhook_backoff_seconds,
                backoff_max=MAX_BACKOFF_SECONDS,
                respect_retry_after_header=False,  # the run's time stays bounded by the settings
                raise_on_status=False,  # the last answer is kept and said in the error
            )
            session = requests.Session()
            session.mount("http://", HTTPAdapter(max_retries=retry))
            session.mount("https://", HTTPAdapter(max_retries=retry))
            self._session = session
        return self._session

    def _publish(self, key: str, body: bytes) -> None:
        topic = self.settings.stream.topics.alerts
        if self._log is None:
            event_log = open_event_log(self.settings)
            try:
                event_log.ensure_topics([topic])
            except OkrError:
                event_log.close()
                raise
            self._log = event_log
        self._log.produce(topic, [(key.encode("ascii"), body)])
        self._log.flush()
