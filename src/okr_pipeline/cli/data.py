"""Commands about data: configuration, demo data, ingestion, the quarantine, status."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from okr_pipeline.asof import as_of_instant
from okr_pipeline.cli.app import (
    JSON_OPTION,
    FiniteFloatRange,
    emit,
    get_settings,
    get_warehouse,
    guarded,
    main,
    progress_bar,
)
from okr_pipeline.contract import ENTITIES, REASONS
from okr_pipeline.errors import InputError
from okr_pipeline.ingest import IngestReport
from okr_pipeline.ingest_files import ingest_loaded
from okr_pipeline.quarantine import list_quarantine, retry_quarantine
from okr_pipeline.sources.files import load_bundle
from okr_pipeline.warehouse.queries import key_result_states, warehouse_status

# --- config ------------------------------------------------------------------------------------


@main.group()
def config() -> None:
    """Inspect the effective configuration."""


@config.command("show")
@JSON_OPTION
@guarded
def config_show(as_json: bool) -> None:
    """Print the effective settings (file + OKR_* environment), secrets redacted."""
    emit(get_settings().redacted(), True, str)


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
    type=FiniteFloatRange(min=0.001, max=10_000),
    help="Size: 1 is about 2,000 key results.",
)
@click.option("--messy", is_flag=True, help="Inject violations of every contract rule.")
@click.option("--as-of", "as_of", help="The 'now' of the data (YYYY-MM-DD); default today.")
@JSON_OPTION
@guarded
def generate(
    out_dir: Path, seed: int, scale: float, messy: bool, as_of: str | None, as_json: bool
) -> None:
    """Write a realistic demo bundle (for demos and tests)."""
    from okr_pipeline.sources.synthetic import generate_bundle

    day = as_of_instant(as_of).date() if as_of else date.today()
    # the generated periods reach years around the as-of date: they must stay in 1..9999
    if not 1900 <= day.year <= 9000:
        raise InputError(f"--as-of {as_of!r}: demo data needs a year between 1900 and 9000")
    # about 30,000 rows per unit of scale: enough for a bar, not a promise
    with progress_bar(int(30_000 * scale), "generating") as progress:
        manifest = generate_bundle(
            out_dir, seed=seed, scale=scale, messy=messy, as_of=day, progress=progress
        )
    emit(
        {"out": str(out_dir), **manifest},
        as_json,
        lambda m: (
            f"wrote {sum(m['rows'].values())} rows to {m['out']}: "
            + ", ".join(f"{k} {v}" for k, v in m["rows"].items())
        ),
    )


# --- ingest ------------------------------------------------------------------------------------


def report_text(report: dict[str, Any]) -> str:
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


def ingest_path(path: Path) -> IngestReport:
    bundle = load_bundle(path)
    engine = get_warehouse()
    total = bundle.estimated_rows if sys.stderr.isatty() else 0
    with progress_bar(total, "ingesting") as progress:
        return ingest_loaded(engine, bundle, progress=progress, limits=get_settings().limits)


@main.command("ingest")
@click.argument("path", type=click.Path(path_type=Path))
@JSON_OPTION
@guarded
def ingest_command(path: Path, as_json: bool) -> None:
    """Ingest an export bundle directory or one entity file into the warehouse."""
    emit(ingest_path(path).as_dict(), as_json, report_text)


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
@guarded
def quarantine_list(
    reason: str | None, entity: str | None, include_resolved: bool, limit: int | None, as_json: bool
) -> None:
    """List quarantined rows (open ones unless --all)."""
    with get_warehouse().connect() as conn:
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

    emit(rows, as_json, human)


@quarantine_group.command("retry")
@JSON_OPTION
@guarded
def quarantine_retry(as_json: bool) -> None:
    """Validate open quarantined rows again; store those that now pass."""
    emit(retry_quarantine(get_warehouse()).as_dict(), as_json, report_text)


# --- status and queries ------------------------------------------------------------------------


@main.command()
@JSON_OPTION
@guarded
def status(as_json: bool) -> None:
    """Row counts per entity, open quarantine by reason, the last ingest runs."""
    with get_warehouse().connect() as conn:
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

    emit(data, as_json, human)


@main.command("key-results")
@click.option("--as-of", "as_of", help="YYYY-MM-DD (end of day) or ISO timestamp; default now.")
@click.option("--state", type=click.Choice(["open", "closed"]), help="Only open or closed ones.")
@JSON_OPTION
@guarded
def key_results_command(as_of: str | None, state: str | None, as_json: bool) -> None:
    """Key results as of a date: progress, score, open/closed and outcome."""
    moment = as_of_instant(as_of)
    settings = get_settings()
    with get_warehouse().connect() as conn:
        states = key_result_states(conn, moment, settings.model.achievement_threshold, state)
    emit(
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
