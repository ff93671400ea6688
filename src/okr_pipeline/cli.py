"""The `okr` command: the output layer over the package (human text, or one JSON document)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from functools import wraps
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from okr_pipeline.asof import as_of_instant
from okr_pipeline.config import Settings, load_settings
from okr_pipeline.contract import ENTITIES, REASONS
from okr_pipeline.errors import OkrError
from okr_pipeline.ingest import IngestReport
from okr_pipeline.ingest_files import ingest_loaded
from okr_pipeline.quarantine import list_quarantine, retry_quarantine
from okr_pipeline.sources.files import load_bundle
from okr_pipeline.warehouse.engine import open_warehouse
from okr_pipeline.warehouse.queries import key_result_states, warehouse_status
from okr_pipeline.warehouse.tables import ENTITY_TABLES

log = logging.getLogger("okr_pipeline")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


def _emit(data: Any, as_json: bool, human: Callable[[Any], str]) -> None:
    click.echo(
        json.dumps(data, indent=2, ensure_ascii=False, default=str) if as_json else human(data)
    )


def _guarded(command: Callable[..., None]) -> Callable[..., None]:
    """Errors a user can cause end as one clear line on stderr and exit status 1."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except OkrError as exc:
            raise click.ClickException(str(exc)) from None
        except SQLAlchemyError as exc:
            raise click.ClickException(f"warehouse error: {getattr(exc, 'orig', exc)}") from None

    return run


def _settings() -> Settings:
    return click.get_current_context().ensure_object(dict).setdefault("settings", load_settings())


def _warehouse() -> Engine:
    return open_warehouse(_settings())


def _interactive() -> bool:
    return sys.stderr.isatty()


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal for large inputs; nothing otherwise."""
    if total < 20000 or not _interactive():
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log details to stderr.")
@click.version_option(package_name="okr-pipeline")
def main(verbose: bool) -> None:
    """okr-pipeline: early warning for OKR key results that will miss."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


# --- config ------------------------------------------------------------------------------------


@main.group()
def config() -> None:
    """Inspect the effective configuration."""


@config.command("show")
@JSON_OPTION
@_guarded
def config_show(as_json: bool) -> None:
    """Print the effective settings (file + OKR_* environment), secrets redacted."""
    _emit(_settings().redacted(), True, str)


# --- generate ----------------------------------------------------------------------------------


@main.command()
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory to write the bundle into.",
)
@click.option("--seed", default=0, show_default=True, help="Random seed.")
@click.option(
    "--scale",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.001),
    help="Size: 1 is about 2,000 key results.",
)
@click.option("--messy", is_flag=True, help="Inject violations of every contract rule.")
@click.option("--as-of", "as_of", help="The 'now' of the data (YYYY-MM-DD); default today.")
@JSON_OPTION
@_guarded
def generate(
    out_dir: Path, seed: int, scale: float, messy: bool, as_of: str | None, as_json: bool
) -> None:
    """Write a realistic demo bundle (for demos and tests)."""
    from okr_pipeline.sources.synthetic import generate_bundle

    day = as_of_instant(as_of).date() if as_of else date.today()
    # about 30,000 rows per unit of scale: enough for a bar, not a promise
    with _progress(int(30_000 * scale), "generating") as progress:
        manifest = generate_bundle(
            out_dir, seed=seed, scale=scale, messy=messy, as_of=day, progress=progress
        )
    _emit(
        {"out": str(out_dir), **manifest},
        as_json,
        lambda m: (
            f"wrote {sum(m['rows'].values())} rows to {m['out']}: "
            + ", ".join(f"{k} {v}" for k, v in m["rows"].items())
        ),
    )


# --- ingest ------------------------------------------------------------------------------------


def _report_text(report: dict[str, Any]) -> str:
    lines = [
        f"ingest run {report['run_id']}",
        f"{'entity':<12}{'read':>9}{'stored':>9}{'unchanged':>11}{'quarantined':>13}",
    ]
    for name, c in [*report["entities"].items(), ("total", report["totals"])]:
        lines.append(
            f"{name:<12}{c['read']:>9}{c['stored']:>9}{c['unchanged']:>11}{c['quarantined']:>13}"
        )
    if report["totals"]["by_reason"]:
        lines.append(
            "quarantined by reason: "
            + ", ".join(f"{k} {v}" for k, v in report["totals"]["by_reason"].items())
        )
    if report.get("resolved_from_quarantine"):
        lines.append(f"resolved from the quarantine: {report['resolved_from_quarantine']}")
    lines += [f"warning: {w}" for w in report["warnings"]]
    return "\n".join(lines)


def _ingest_path(path: Path) -> IngestReport:
    bundle = load_bundle(path)
    engine = _warehouse()
    total = bundle.estimated_rows if _interactive() else 0
    with _progress(total, "ingesting") as progress:
        return ingest_loaded(engine, bundle, progress=progress)


@main.command("ingest")
@click.argument("path", type=click.Path(path_type=Path))
@JSON_OPTION
@_guarded
def ingest_command(path: Path, as_json: bool) -> None:
    """Ingest an export bundle directory or one entity file into the warehouse."""
    _emit(_ingest_path(path).as_dict(), as_json, _report_text)


# --- quarantine --------------------------------------------------------------------------------


@main.group("quarantine")
def quarantine_group() -> None:
    """Rows rejected by the contract, with reason, origin and raw content."""


@quarantine_group.command("list")
@click.option("--reason", type=click.Choice(REASONS), help="Only this reason.")
@click.option("--entity", type=click.Choice(list(ENTITIES)), help="Only this entity.")
@click.option("--all", "include_resolved", is_flag=True, help="Include resolved rows.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many rows.")
@JSON_OPTION
@_guarded
def quarantine_list(
    reason: str | None, entity: str | None, include_resolved: bool, limit: int | None, as_json: bool
) -> None:
    """List quarantined rows (open ones unless --all)."""
    with _warehouse().connect() as conn:
        rows = list_quarantine(
            conn, reason=reason, entity=entity, include_resolved=include_resolved, limit=limit
        )

    def human(items: list[dict[str, Any]]) -> str:
        if not items:
            return "the quarantine is empty"
        return "\n".join(
            f"#{r['id']} {r['entity']} {r['reason']}: {r['message']} "
            f"[{r['source']}{':' + str(r['line']) if r['line'] else ''}]"
            f"{' (resolved)' if r['resolved_at'] else ''}\n    {r['raw'].rstrip()[:200]}"
            for r in items
        )

    _emit(rows, as_json, human)


@quarantine_group.command("retry")
@JSON_OPTION
@_guarded
def quarantine_retry(as_json: bool) -> None:
    """Validate open quarantined rows again; store those that now pass."""
    _emit(retry_quarantine(_warehouse()).as_dict(), as_json, _report_text)


# --- status and queries ------------------------------------------------------------------------


@main.command()
@JSON_OPTION
@_guarded
def status(as_json: bool) -> None:
    """Row counts per entity, open quarantine by reason, the last ingest runs."""
    with _warehouse().connect() as conn:
        data = warehouse_status(conn)

    def human(d: dict[str, Any]) -> str:
        lines = [
            "rows: " + ", ".join(f"{k} {v}" for k, v in d["rows"].items()),
            f"quarantine (open): {d['quarantine']['open']}"
            + "".join(f"\n  {k}: {v}" for k, v in d["quarantine"]["by_reason"].items()),
            "last ingest runs:",
        ]
        for run in d["last_runs"]:
            totals = run["totals"] or {}
            lines.append(
                f"  {run['started_at']} {run['kind']:<16} {run['status']:<9} "
                f"read {totals.get('read', '-')} stored {totals.get('stored', '-')} "
                f"quarantined {totals.get('quarantined', '-')} {run['error'] or ''}"
            )
        return "\n".join(lines)

    _emit(data, as_json, human)


@main.command("key-results")
@click.option("--as-of", "as_of", help="YYYY-MM-DD (end of day) or ISO timestamp; default now.")
@click.option("--state", type=click.Choice(["open", "closed"]), help="Only open or closed ones.")
@JSON_OPTION
@_guarded
def key_results_command(as_of: str | None, state: str | None, as_json: bool) -> None:
    """Key results as of a date: progress, score, open/closed and outcome."""
    moment = as_of_instant(as_of)
    settings = _settings()
    with _warehouse().connect() as conn:
        states = key_result_states(conn, moment, settings.model.achievement_threshold, state)
    _emit(
        [s.as_dict() for s in states],
        as_json,
        lambda items: (
            "\n".join(
                f"{s['key_result_id']:<16} {s['state']:<7} due {s['due_date']} "
                f"score {s['score']:.2f}"
                f"{' ' + s['outcome'] if s['outcome'] else ''}"
                for s in items
            )
            or "no key results"
        ),
    )


# --- the main job ------------------------------------------------------------------------------


@main.command()
@JSON_OPTION
@_guarded
def up(as_json: bool) -> None:
    """The main job on this machine: demo data into an empty warehouse, ingest, summary."""
    from okr_pipeline.sources.synthetic import generate_bundle

    settings = _settings()
    engine = _warehouse()
    with engine.connect() as conn:
        empty = (
            conn.execute(
                select(func.count()).select_from(ENTITY_TABLES["key_results"])
            ).scalar_one()
            == 0
        )
    result: dict[str, Any] = {"data_dir": str(settings.data_dir)}
    if empty:
        demo = settings.path("raw") / "demo"
        click.echo(f"empty warehouse: generating demo data in {demo}", err=True)
        with _progress(30_000, "generating") as progress:
            generate_bundle(
                demo, seed=settings.model.random_seed, scale=1.0, messy=True, progress=progress
            )
        result["ingest"] = _ingest_path(demo).as_dict()
    with engine.connect() as conn:
        result["status"] = warehouse_status(conn)
        states = key_result_states(conn, as_of_instant(None), settings.model.achievement_threshold)
    outcomes = [s.outcome for s in states]
    result["key_results"] = {
        "open": sum(s.state == "open" for s in states),
        "closed": sum(s.state == "closed" for s in states),
        "achieved": outcomes.count("achieved"),
        "missed": outcomes.count("missed"),
    }

    def human(d: dict[str, Any]) -> str:
        parts = [_report_text(d["ingest"])] if "ingest" in d else []
        k = d["key_results"]
        parts.append(
            f"warehouse: {settings.warehouse_url.split('://')[0]} under {d['data_dir']}; "
            f"key results: {k['open']} open, {k['closed']} closed "
            f"({k['achieved']} achieved, {k['missed']} missed)"
        )
        return "\n".join(parts)

    _emit(result, as_json, human)
