"""The OKR backend's REST API pulled into an export bundle (contract sections 1 and 3).

`pull_bundle` signs in at the identity provider (Firebase Auth's email/password sign-in, whose
ID token goes with every request as `Authorization: Bearer`), then pulls each entity that has a
path in `rest.entity_paths` into `<entity>.jsonl`, in the contract's order (objectives, key
results, check-ins, milestones, tasks), and the plan-tasks endpoint last into `plan_tasks.json`
(one request: the array of weekly plans as received). The folder is then ingested like any
bundle.

Every request carries the headers `tenantId`, `companyId`, `userId` and the query
`planningPeriodId`, those that are configured. An entity endpoint answers with a JSON array of
rows (the only page) or with `{"data": [...], "next": ...}`: a `next` that is null, empty or
absent ends the pages; a URL (absolute, or a path from the root of the base URL's host, which it
must stay on) is asked as it is; anything else is a page token, sent back as the query `page`
with the first page's query. The first page is asked with `page_size` (if set) and, where a
cursor is known, `updated_since`.

Incremental pulls: an entity's cursor is the latest `updated_at` (`checked_in_at` for check-ins)
among the rows pulled, as the backend wrote it; milestones have neither, so they are pulled whole
every time. A pull only reports the cursors it would advance to (`Pulled.cursors`): they are
recorded by `okr_pipeline.ingest.commit_cursors` once the rows are stored, so rows that were
pulled but never stored are pulled again. A row that breaks the contract is written as it came:
the ingestion quarantines it.

Nothing is half-written: an entity's file is written under a temporary name and renamed once
its last page is in. A failure (after the retries) is a `PullError` naming the entity, the
endpoint and what happened; the entities pulled before it keep their files (its `pulled` lists
them, with their cursors), the failing one leaves none.

Bounds: urllib3's Retry retries failed connections, timeouts, 429 and 5xx (`retries`, with
`backoff_seconds` as backoff factor; a Retry-After is obeyed up to a minute); a body is read as
its pieces arrive, within `deadline_seconds` and `max_response_bytes`; an entity has at most
`max_pages` pages. A 401 signs in again, once per request; a 401 right after a fresh sign-in is
an error. No password, API key or token is in an error or a log line: urllib3's log lines, which
quote the sign-in URL with its key, are filtered while a pull runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, quote_plus, urlencode, urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from okr_pipeline.config import RestSource, Settings
from okr_pipeline.contract import ENTITY_ORDER
from okr_pipeline.core import now_utc, redact_url
from okr_pipeline.errors import ConfigError, InputError, SourceError

__all__ = ["CURSOR_FIELDS", "PullError", "Pulled", "pull_bundle", "source_name"]

log = logging.getLogger(__name__)

# the field an entity's cursor is taken from (milestones have none: always pulled whole)
CURSOR_FIELDS = {
    "objectives": "updated_at",
    "key_results": "updated_at",
    "check_ins": "checked_in_at",
    "tasks": "updated_at",
}
PLAN_TASKS = "plan_tasks"
RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_WAIT_SECONDS = 60  # the longest a backoff or a Retry-After waits
MAX_CURSOR_LENGTH = 64  # source_cursors.updated_since
_PIECE = 64 * 1024
_HIDDEN = "***"


@dataclass
class Pulled:
    """What a pull wrote into `folder`: rows per entity (`plan_tasks`: weekly plans), and the
    cursor each entity advances to once these rows are stored (entities that gave no row, and
    milestones, keep theirs)."""

    source: str  # the name the cursors are kept under (`source_name`)
    folder: Path
    pulled_at: datetime  # UTC, naive like stored timestamps: when the pull started
    rows: dict[str, int] = field(default_factory=dict)
    cursors: dict[str, str] = field(default_factory=dict)


class PullError(SourceError):
    """A pull failed; `pulled` holds the entities pulled completely before the failure: their
    files are in the folder and their rows may be stored (and their cursors committed)."""

    def __init__(self, message: str, pulled: Pulled) -> None:
        super().__init__(message)
        self.pulled = pulled


def source_name(rest: RestSource) -> str:
    """The name the warehouse keeps this source's cursors under: its base URL and the tenant,
    company, user and planning period it is pulled for (another of them starts without cursors).
    """
    ids = (
        ("tenantId", rest.tenant_id),
        ("companyId", rest.company_id),
        ("userId", rest.user_id),
        ("planningPeriodId", rest.planning_period_id),
    )
    query = urlencode([(name, value) for name, value in ids if value])
    name = redact_url(_base_url(rest)) + (f"?{query}" if query else "")
    if len(name) > 255:  # source_cursors.source: the start, and a digest of the whole
        name = f"{name[:238]}#{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    return name


def pull_bundle(
    settings: Settings, folder: Path, cursors: Mapping[str, str] | None = None
) -> Pulled:
    """Pull the configured endpoints into `folder` (created if missing; it must be empty), each
    entity from its cursor in `cursors` (entity -> the `updated_since` to send) if there is one.
    Raises ConfigError if no REST source is configured or its secrets are missing, InputError
    if the folder is not empty, PullError if the backend fails."""
    rest = settings.rest
    source = source_name(rest)
    secrets = _secrets(rest)
    _empty_folder(folder)
    pulled = Pulled(source=source, folder=folder, pulled_at=now_utc())
    cursors = cursors or {}
    with _Client(rest, *secrets) as client:
        for entity in ENTITY_ORDER:
            path = rest.entity_paths.get(entity)
            if path is None:
                continue
            try:
                rows, cursor = _pull_entity(client, entity, path, cursors.get(entity), folder)
            except SourceError as exc:
                raise PullError(f"REST source, {entity}: {exc}", pulled) from None
            pulled.rows[entity] = rows
            if cursor is not None:
                pulled.cursors[entity] = cursor
        if rest.plan_tasks_path is not None:
            try:
                pulled.rows[PLAN_TASKS] = _pull_plan_tasks(client, rest.plan_tasks_path, folder)
            except SourceError as exc:
                raise PullError(f"REST source, plan tasks: {exc}", pulled) from None
    return pulled


def _base_url(rest: RestSource) -> str:
    if rest.base_url is None:
        raise ConfigError("no REST source is configured: set rest.base_url (OKR_REST__BASE_URL)")
    return rest.base_url.rstrip("/")


def _secrets(rest: RestSource) -> tuple[str, str, str]:
    """The email, password and API key; all three are needed."""
    values = {"email": rest.email, "password": rest.password, "api_key": rest.api_key}
    missing = [f"OKR_REST__{name.upper()}" for name, value in values.items() if not value]
    if missing or rest.email is None or rest.password is None or rest.api_key is None:
        raise ConfigError(f"the REST source signs in with {', '.join(missing)}: set them")
    return (
        rest.email.get_secret_value(),
        rest.password.get_secret_value(),
        rest.api_key.get_secret_value(),
    )


def _empty_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if any(folder.iterdir()):
            raise InputError(f"{folder}: not empty; the REST source pulls into an empty folder")
    except OSError as exc:
        raise InputError(f"{folder}: cannot be used as a bundle folder: {exc.strerror}") from None


def _pull_entity(
    client: _Client, entity: str, path: str, since: str | None, folder: Path
) -> tuple[int, str | None]:
    """Pull all pages of an entity into `<entity>.jsonl`: (rows, the newest cursor value)."""
    cursor_field = CURSOR_FIELDS.get(entity)
    first_url = client.url(path)
    first_query = dict(client.query)
    if client.rest.page_size is not None:
        first_query["page_size"] = str(client.rest.page_size)
    if since is not None and cursor_field is not None:
        first_query["updated_since"] = since
    url, query = first_url, first_query
    rows = 0
    newest: tuple[datetime, str] | None = None
    with _written(folder / f"{entity}.jsonl") as out:
        for page in range(1, client.rest.max_pages + 1):
            what = f"GET {redact_url(url)}"
            data, following = _page(_json(client.get(url, query), what), what)
            for row in data:
                out.write(_line(row))
                if cursor_field is not None and isinstance(row, dict):
                    newest = _newer(newest, row.get(cursor_field))
            rows += len(data)
            log.debug("REST %s: page %d, %d rows", entity, page, len(data))
            if following is None:
                break
            url, query = client.next_page(first_url, first_query, following)
        else:
            raise SourceError(
                f"GET {redact_url(first_url)}: still a next page after {client.rest.max_pages} "
                "pages (rest.max_pages)"
            )
    log.info("REST %s: %d rows in %d pages", entity, rows, page)
    return rows, None if newest is None else newest[1]


def _pull_plan_tasks(client: _Client, path: str, folder: Path) -> int:
    """Pull the weekly plans into plan_tasks.json as received: how many there are."""
    url = client.url(path)
    body = client.get(url, client.query)
    document = _json(body, f"GET {redact_url(url)}")
    plans = document.get("data") if isinstance(document, dict) else document
    if not isinstance(plans, list):
        raise SourceError(
            f"GET {redact_url(url)}: expected a JSON array of weekly plans, or an object whose "
            "`data` holds one"
        )
    with _written(folder / "plan_tasks.json") as out:
        out.write(body)
    log.info("REST plan tasks: %d weekly plans", len(plans))
    return len(plans)


@contextmanager
def _written(path: Path) -> Iterator[IO[bytes]]:
    """A file written under a temporary name, renamed to `path` only if the block completes."""
    part = path.with_name(f".{path.name}.part")
    try:
        with part.open("wb") as out:
            yield out
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def _json(body: bytes, what: str) -> Any:
    # bytes that are not UTF-8 stay in the rows (as lone surrogates) for the ingestion to
    # quarantine as invalid_encoding, like those of a file
    try:
        return json.loads(body.decode("utf-8-sig", "surrogateescape"))
    except RecursionError:
        raise SourceError(f"{what}: answered with JSON nested too deeply to read") from None
    except ValueError as exc:  # JSONDecodeError, or an integer of more than 4,300 digits
        raise SourceError(f"{what}: answered with a body that is not JSON ({exc})") from None


def _page(document: Any, what: str) -> tuple[list[Any], str | None]:
    """The rows of a page and its `next` (None on the last page)."""
    if isinstance(document, list):
        return document, None
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise SourceError(
            f"{what}: expected a JSON array of rows, or an object whose `data` holds one"
        )
    following = document.get("next")
    if following is None or following == "":
        return document["data"], None
    if isinstance(following, bool) or not isinstance(following, str | int):
        raise SourceError(f"{what}: `next` must be a URL, a page token or null")
    return document["data"], str(following)


def _line(row: Any) -> bytes:
    try:
        return (json.dumps(row, ensure_ascii=False) + "\n").encode()
    except UnicodeEncodeError:  # a lone surrogate: escaped, the ingestion rejects the row
        return (json.dumps(row) + "\n").encode()


def _newer(newest: tuple[datetime, str] | None, value: Any) -> tuple[datetime, str] | None:
    """The later of `newest` and a row's cursor field (if it is a timestamp)."""
    if not isinstance(value, str) or len(value.strip()) > MAX_CURSOR_LENGTH:
        return newest
    try:
        moment = datetime.fromisoformat(value.strip())
        moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return newest  # not a timestamp: the ingestion quarantines the row
    return (moment, value.strip()) if newest is None or moment > newest[0] else newest


class _Hider(logging.Filter):
    """Secrets out of text, and out of the log records of the loggers it filters."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self.secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        forms = {secret, quote(secret, safe=""), quote_plus(secret), *self.secrets}
        self.secrets = sorted(filter(None, forms), key=len, reverse=True)  # longest first

    def hide(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, _HIDDEN)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = self.hide(message)
        if hidden != message:
            record.msg, record.args = hidden, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.hide(logging.Formatter().formatException(record.exc_info))
        return True


class _Client:
    """A session signed in at the backend, its requests retried and bounded."""

    def __init__(self, rest: RestSource, email: str, password: str, api_key: str) -> None:
        self.rest = rest
        self.base = _base_url(rest)
        self.email, self.password, self.api_key = email, password, api_key
        self.hider = _Hider(password, api_key)
        self.token: str | None = None
        self.token_until = 0.0  # monotonic time after which the token is taken as expired
        retry = Retry(
            total=rest.retries,
            connect=rest.retries,
            read=rest.retries,
            status=rest.retries,
            other=0,
            allowed_methods=frozenset({"GET", "POST"}),  # the sign-in too: it changes nothing
            status_forcelist=RETRY_STATUSES,
            backoff_factor=rest.backoff_seconds,
            backoff_max=MAX_WAIT_SECONDS,
            retry_after_max=MAX_WAIT_SECONDS,
            raise_on_status=False,  # the last answer is kept, and said in the error
        )
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # no compression: a body is counted and timed as it arrives, undecoded
        self.session.headers.update({"Accept": "application/json", "Accept-Encoding": "identity"})
        headers = (
            ("tenantId", rest.tenant_id),
            ("companyId", rest.company_id),
            ("userId", rest.user_id),
        )
        self.headers = {name: value for name, value in headers if value}
        period = rest.planning_period_id
        self.query = {"planningPeriodId": period} if period else {}  # every first page's
        self.loggers = [
            logging.getLogger(name)
            for name in list(logging.root.manager.loggerDict)
            if name.partition(".")[0] in ("urllib3", "requests")
        ]

    def __enter__(self) -> _Client:
        for logger in self.loggers:
            logger.addFilter(self.hider)
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()
        for logger in self.loggers:
            logger.removeFilter(self.hider)

    def url(self, path: str) -> str:
        return self.base + path

    def next_page(
        self, first_url: str, first_query: dict[str, str], following: str
    ) -> tuple[str, dict[str, str]]:
        """The URL and query of the page that `next` names."""
        if not following.startswith(("http://", "https://", "/")):
            return first_url, {**first_query, "page": following}
        url = urljoin(self.base, following)
        if urlsplit(url)[:2] != urlsplit(self.base)[:2]:  # the token would go there
            raise SourceError(
                f"GET {redact_url(first_url)}: refused a next page on another host than "
                f"rest.base_url ({redact_url(url)})"
            )
        return url, {}

    def get(self, url: str, query: dict[str, str]) -> bytes:
        """The body of a successful GET of `url` with the query `query`; a 401 signs in again
        once."""
        what = f"GET {redact_url(url)}"
        status = 0
        for fresh in (False, True):
            if fresh or self.token is None or time.monotonic() > self.token_until:
                self.sign_in()
            headers = {**self.headers, "Authorization": f"Bearer {self.token}"}
            status, body = self._exchange("GET", url, what, params=query, headers=headers)
            if status != 401:
                break
            log.info("%s: 401, signing in again", what)
        if status == 401:
            raise SourceError(f"{what}: 401 Unauthorized even right after a fresh sign-in")
        if not 200 <= status < 300:
            raise SourceError(f"{what}: HTTP {status}{self._retried(status)}")
        return body

    def sign_in(self) -> None:
        what = f"sign-in at {redact_url(self.rest.sign_in_url)}"
        status, body = self._exchange(
            "POST",
            self.rest.sign_in_url,
            what,
            params={"key": self.api_key},
            json={"email": self.email, "password": self.password, "returnSecureToken": True},
        )
        if not 200 <= status < 300:
            raise SourceError(f"{what}: refused, HTTP {status}{self._refusal(body)}")
        answer = _json(body, what)
        token = answer.get("idToken") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise SourceError(f"{what}: the answer holds no idToken")
        self.hider.add(token)
        self.token = token
        try:  # Firebase gives the lifetime in seconds, as a string; renewed a minute early
            lifetime = float(answer.get("expiresIn", "inf")) - 60
        except (TypeError, ValueError):
            lifetime = float("inf")
        self.token_until = time.monotonic() + lifetime
        log.debug("%s: signed in", what)

    def _exchange(self, method: str, url: str, what: str, **kwargs: Any) -> tuple[int, bytes]:
        """(status, body) of a request, retried by the adapter; a failure is a SourceError."""
        timeout = self.rest.timeout_seconds
        try:
            with self.session.request(
                method, url, timeout=(timeout, timeout), stream=True, **kwargs
            ) as response:
                return response.status_code, self._body(response, what)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise SourceError(f"{what}: {self._failure(exc)}") from None

    def _body(self, response: requests.Response, what: str) -> bytes:
        """The body as its pieces arrive: within the deadline and the size limit."""
        limit = self.rest.max_response_bytes
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise SourceError(f"{what}: answered with Content-Encoding {encoding!r}, not asked")
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            raise SourceError(f"{what}: {length} bytes, more than rest.max_response_bytes")
        deadline = time.monotonic() + self.rest.deadline_seconds
        pieces: list[bytes] = []
        size = 0
        while piece := response.raw.read1(_PIECE):
            size += len(piece)
            if size > limit:
                raise SourceError(f"{what}: more than rest.max_response_bytes ({limit} bytes)")
            if time.monotonic() > deadline:
                raise SourceError(
                    f"{what}: the answer did not end within rest.deadline_seconds "
                    f"({self.rest.deadline_seconds:g} s)"
                )
            pieces.append(piece)
        return b"".join(pieces)

    def _failure(self, exc: Exception) -> str:
        """What went wrong, without secrets (requests' messages quote the URL whole)."""
        reason: object = exc
        retried = ""
        inner = exc.args[0] if exc.args else None
        if isinstance(inner, urllib3.exceptions.MaxRetryError) and inner.reason is not None:
            reason = inner.reason  # the last failure, after the retries
            retried = f", after {self.rest.retries} retries" if self.rest.retries else ""
        if isinstance(reason, urllib3.exceptions.NewConnectionError):  # a TimeoutError too
            return f"cannot connect{retried}: {self.hider.hide(str(reason))}"
        if isinstance(reason, requests.Timeout | urllib3.exceptions.TimeoutError):
            seconds = self.rest.timeout_seconds
            return f"no answer within rest.timeout_seconds ({seconds:g} s){retried}"
        return f"{self.hider.hide(str(reason))}{retried}"

    def _retried(self, status: int) -> str:
        if status in RETRY_STATUSES and self.rest.retries:
            return f", after {self.rest.retries} retries"
        return ""

    def _refusal(self, body: bytes) -> str:
        """The identity provider's reason (Firebase: error.message, e.g. INVALID_PASSWORD)."""
        try:
            message = json.loads(body)["error"]["message"]
        except (ValueError, TypeError, KeyError, RecursionError):
            return ""
        return f": {self.hider.hide(message)[:200]}" if isinstance(message, str) else ""
