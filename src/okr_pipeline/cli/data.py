"""Commands about data: configuration, demo data, ingestion, the quarantine, status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from okr_pipeline import jobs
from okr_pipeline.cli import app
from okr_pipeline.contract import ENTITIES, REASONS

# --- config ------------------------------------------------------------------------------------


@app.main.group()
def config() -> None:
    """Inspect the effective configuration."""


@config.command("show")
@app.JSON_OPTION
@app.guarded
def config_show(as_json: bool) -> None:
    """Print the effective settings (file + OKR_* environment), secrets redacted."""
    app.emit(app.get_settings().redacted(), True, str)


# --- generate ----------------------------------------------------------------------------------


@app.main.command()
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
    type=app.FiniteFloatRange(min=0.001, max=10_000),
    help="Size: 1 is about 2,000 key results.",
)
@click.option("--messy", is_flag=True, help="Inject violations of every contract rule.")
@click.option("--as-of", "as_of", help="The 'now' of the data (YYYY-MM-DD); default today.")
@app.JSON_OPTION
@app.guarded
def generate(
    out_dir: Path, seed: int, scale: float, messy: bool, as_of: str | None, as_json: bool
) -> None:
    """Write a realistic demo bundle (for demos and tests)."""
    day = app.parse_as_of(as_of).date() if as_of else None
    manifest = jobs.generate_demo(
        out_dir, seed=seed, scale=scale, messy=messy, as_of=day, progress_bar=app.progress_bar
    )
    app.emit(
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


@app.main.command("ingest")
@click.argument("path", type=click.Path(path_type=Path))
@app.JSON_OPTION
@app.guarded
def ingest_command(path: Path, as_json: bool) -> None:
    """Ingest an export bundle directory or one entity file into the warehouse."""
    report = jobs.ingest_path(app.get_settings(), path, progress_bar=app.progress_bar)
    app.emit(report.as_dict(), as_json, report_text)


# --- quarantine --------------------------------------------------------------------------------


@app.main.group("quarantine")
def quarantine_group() -> None:
    """Rows rejected by the contract, with reason, origin and raw content."""


@quarantine_group.command("list")
@click.option("--reason", type=click.Choice(REASONS), help="Only this reason.")
@click.option("--entity", type=click.Choice(list(ENTITIES)), help="Only this entity.")
@click.option("--all", "include_resolved", is_flag=True, help="Include resolved rows.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many rows.")
@app.JSON_OPTION
@app.guarded
def quarantine_list(
    reason: str | None, entity: str | None, include_resolved: bool, limit: int | None, as_json: bool
) -> None:
    """List quarantined rows (open ones unless --all)."""
    rows = jobs.quarantined_rows(
        app.get_settings(),
        reason=reason,
        entity=entity,
        include_resolved=include_resolved,
        limit=limit,
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

    app.emit(rows, as_json, human)


@quarantine_group.command("retry")
@app.JSON_OPTION
@app.guarded
def quarantine_retry(as_json: bool) -> None:
    """Validate open quarantined rows again; store those that now pass."""
    app.emit(jobs.retry_quarantined(app.get_settings()).as_dict(), as_json, report_text)


# --- status and queries ------------------------------------------------------------------------


@app.main.command()
@app.JSON_OPTION
@app.guarded
def status(as_json: bool) -> None:
    """Row counts per entity, open quarantine by reason, the last ingest runs."""
    data = jobs.status(app.get_settings())

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

    app.emit(data, as_json, human)


@app.main.command("key-results")
@click.option("--as-of", "as_of", help="YYYY-MM-DD (end of day) or ISO timestamp; default now.")
@click.option("--state", type=click.Choice(["open", "closed"]), help="Only open or closed ones.")
@app.JSON_OPTION
@app.guarded
def key_results_command(as_of: str | None, state: str | None, as_json: bool) -> None:
    """Key results as of a date: progress, score, open/closed and outcome."""
    states = jobs.key_results(app.get_settings(), app.parse_as_of(as_of), state)
    app.emit(
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
