"""Commands about the event stream: produce, simulate, consume."""

from __future__ import annotations

from pathlib import Path

import click

from okr_pipeline.cli.app import (
    JSON_OPTION,
    FiniteFloatRange,
    emit,
    get_settings,
    get_warehouse,
    guarded,
    main,
    stop_on_signals,
)


@main.command("produce")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(path_type=Path),
    help="A bundle directory, an entity file, or an events JSON Lines file.",
)
@click.option("--rate", type=FiniteFloatRange(min=0.1), help="At most this many events a second.")
@JSON_OPTION
@guarded
def produce_command(source: Path, rate: float | None, as_json: bool) -> None:
    """Publish a bundle's rows (or an events file) as events on the events topic."""
    from okr_pipeline.stream.backends import open_event_log
    from okr_pipeline.stream.producer import events_from_path, publish

    settings = get_settings()
    messages, unreadable = events_from_path(source, settings.limits)
    event_log = open_event_log(settings)
    try:
        result = publish(
            event_log,
            settings.stream.topics.events,
            messages,
            rate=rate,
            batch_size=settings.stream.batch_size,
        )
    finally:
        event_log.close()
    result.unreadable = unreadable
    emit(
        result.as_dict(),
        as_json,
        lambda r: (
            f"published {r['published']} events ({r['events_per_second']}/s)"
            + (f"; {r['unreadable']} unreadable rows left out" if r["unreadable"] else "")
        ),
    )


@main.command("simulate")
@click.option(
    "--rate",
    default=5.0,
    show_default=True,
    type=FiniteFloatRange(min=0.1),
    help="Events a second.",
)
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many events.")
@click.option("--duration", type=FiniteFloatRange(min=0.1), help="Stop after this many seconds.")
@click.option("--seed", default=0, show_default=True)
@JSON_OPTION
@guarded
def simulate_command(
    rate: float, count: int | None, duration: float | None, seed: int, as_json: bool
) -> None:
    """Stream live check-ins and task updates for the open key results (until stopped)."""
    import itertools
    import time

    from okr_pipeline.features import load_history
    from okr_pipeline.stream.backends import open_event_log
    from okr_pipeline.stream.producer import publish
    from okr_pipeline.stream.simulator import live_events

    settings = get_settings()
    with get_warehouse().connect() as conn:
        history = load_history(conn, settings.model.achievement_threshold)
    events = live_events(history, seed)
    if count is not None:
        events = itertools.islice(events, count)
    if duration is not None:
        deadline = time.monotonic() + duration
        events = itertools.takewhile(lambda _: time.monotonic() < deadline, events)
    event_log = open_event_log(settings)
    try:
        with stop_on_signals() as stop:
            result = publish(
                event_log,
                settings.stream.topics.events,
                itertools.takewhile(lambda _: not stop.is_set(), events),
                rate=rate,
                batch_size=max(1, int(rate)),
            )
    finally:
        event_log.close()
    emit(result.as_dict(), as_json, lambda r: f"simulated {r['published']} events")


@main.command("consume")
@click.option("--group", help="Consumer group (default: stream.group).")
@click.option("--max-events", type=click.IntRange(min=1), help="Stop after this many messages.")
@click.option("--until-idle", type=FiniteFloatRange(min=0), help="Stop after this many idle s.")
@click.option("--no-rescore", is_flag=True, help="Do not re-score touched key results.")
@JSON_OPTION
@guarded
def consume_command(
    group: str | None,
    max_events: int | None,
    until_idle: float | None,
    no_rescore: bool,
    as_json: bool,
) -> None:
    """Events topic -> warehouse, exactly once in effect; dead letters to their topic."""
    from okr_pipeline.model.live_scores import LiveScores
    from okr_pipeline.stream.backends import open_event_log
    from okr_pipeline.stream.consumer import consume

    settings = get_settings()
    engine = get_warehouse()
    interval = settings.stream.rescore_interval_seconds
    live_scores = None if no_rescore else LiveScores(settings, engine, interval)
    event_log = open_event_log(settings)
    try:
        with stop_on_signals() as stop:
            summary = consume(
                settings,
                engine,
                event_log,
                group=group or settings.stream.group,
                max_events=max_events,
                until_idle=until_idle,
                stop=stop,
                live_scores=live_scores,
            )
    finally:
        event_log.close()
    emit(
        summary.as_dict() | {"live_scores": live_scores.state if live_scores else "not asked"},
        as_json,
        lambda r: (
            f"consumed {r['consumed']}: stored {r['stored']}, duplicates {r['duplicates']}, "
            f"dead-lettered {r['dead_lettered']} {r['by_reason'] or ''}; parked {r['parked']}; "
            f"{r['events_per_second']} events/s; lag {r['lag']}; live scores {r['live_scores']}"
        ),
    )
