"""Commands about the event stream: produce, simulate, consume; the log's status and
retention (`okr stream status`, `okr stream prune`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from okr_pipeline import jobs
from okr_pipeline.cli import app


@app.main.command("produce")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(path_type=Path),
    help="A bundle directory, an entity file, or an events JSON Lines file.",
)
@click.option(
    "--rate", type=app.FiniteFloatRange(min=0.1), help="At most this many events a second."
)
@app.JSON_OPTION
@app.guarded
def produce_command(source: Path, rate: float | None, as_json: bool) -> None:
    """Publish a bundle's rows (or an events file) as events on the events topic."""
    app.emit(
        jobs.produce_events(app.get_settings(), source, rate).as_dict(),
        as_json,
        lambda r: (
            f"published {r['published']} events ({r['events_per_second']}/s)"
            + (f"; {r['unreadable']} unreadable rows left out" if r["unreadable"] else "")
        ),
    )


@app.main.command("simulate")
@click.option(
    "--rate",
    default=5.0,
    show_default=True,
    type=app.FiniteFloatRange(min=0.1),
    help="Events a second.",
)
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many events.")
@click.option(
    "--duration", type=app.FiniteFloatRange(min=0.1), help="Stop after this many seconds."
)
@click.option("--seed", default=0, show_default=True)
@app.JSON_OPTION
@app.guarded
def simulate_command(
    rate: float, count: int | None, duration: float | None, seed: int, as_json: bool
) -> None:
    """Stream live check-ins and task updates for the open key results (until stopped)."""
    with app.stop_on_signals() as stop:
        result = jobs.simulate_activity(
            app.get_settings(), rate=rate, seed=seed, count=count, duration=duration, stop=stop
        )
    app.emit(result.as_dict(), as_json, lambda r: f"simulated {r['published']} events")


@app.main.command("consume")
@click.option("--group", help="Consumer group (default: stream.group).")
@click.option("--max-events", type=click.IntRange(min=1), help="Stop after this many messages.")
@click.option("--until-idle", type=app.FiniteFloatRange(min=0), help="Stop after this many idle s.")
@click.option("--no-rescore", is_flag=True, help="Do not re-score touched key results.")
@app.JSON_OPTION
@app.guarded
def consume_command(
    group: str | None,
    max_events: int | None,
    until_idle: float | None,
    no_rescore: bool,
    as_json: bool,
) -> None:
    """Events topic -> warehouse, exactly once in effect; dead letters to their topic."""
    with app.stop_on_signals() as stop:
        consumed = jobs.consume_events(
            app.get_settings(),
            group=group,
            max_events=max_events,
            until_idle=until_idle,
            rescore=not no_rescore,
            stop=stop,
            notify=app.notify,
        )
    app.emit(
        consumed.as_dict(),
        as_json,
        lambda r: (
            f"consumed {r['consumed']}: stored {r['stored']}, duplicates {r['duplicates']}, "
            f"dead-lettered {r['dead_lettered']} {r['by_reason'] or ''}; parked {r['parked']}; "
            f"{r['events_per_second']} events/s; lag {r['lag']}; live scores {r['live_scores']}"
        ),
    )


@app.main.group("stream")
def stream_group() -> None:
    """The event log's state and its retention."""


@stream_group.command("status")
@app.JSON_OPTION
@app.guarded
def stream_status_command(as_json: bool) -> None:
    """Per consumer group on the events topic: lag and oldest unconsumed event, per partition;
    and what the log holds."""
    app.emit(jobs.stream_status(app.get_settings()), as_json, _status_text)


@stream_group.command("prune")
@app.JSON_OPTION
@app.guarded
def stream_prune_command(as_json: bool) -> None:
    """Drop what `stream.retention` no longer keeps: old messages of the embedded log (never
    one a group has not committed), processed event ids, published dead letters."""
    app.emit(
        jobs.prune_stream(app.get_settings()).as_dict(),
        as_json,
        lambda r: (
            f"pruned {sum(r['log_messages'].values())} log messages, {r['processed_ids']} "
            f"processed event ids, {r['dead_letters']} dead letters in {r['seconds']} s"
        ),
    )


def _status_text(status: dict[str, Any]) -> str:
    log = status["log"]
    lines = [
        f"{status['topic']} ({status['backend']}): {log['messages']} messages, oldest kept "
        + _since(log["oldest_kept_at"], log["oldest_kept_age_seconds"])
    ]
    for group in status["groups"]:
        lines.append(
            f"group {group['group']}{'' if group['committed'] else ' (nothing committed)'}: "
            f"lag {group['lag']}, oldest unconsumed "
            + _since(group["oldest_unconsumed_at"], group["oldest_unconsumed_age_seconds"])
        )
        for part in group["partitions"]:
            committed = part["committed_offset"]
            lines.append(
                f"  [{part['partition']}] committed {'-' if committed is None else committed}, "
                f"lag {part['lag']}, oldest unconsumed "
                + _since(part["oldest_unconsumed_at"], part["oldest_unconsumed_age_seconds"])
            )
    return "\n".join(lines)


def _since(at: str | None, age_seconds: float | None) -> str:
    if at is None or age_seconds is None:
        return "none"
    for unit, seconds in (("d", 86400), ("h", 3600), ("min", 60)):
        if age_seconds >= 2 * seconds:
            return f"{at} UTC ({age_seconds / seconds:.1f} {unit} ago)"
    return f"{at} UTC ({age_seconds:.0f} s ago)"
