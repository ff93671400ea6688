"""The `okr` command group and what its commands share: settings, the warehouse, output as
human text or one JSON document, clear errors, progress bars, stop signals."""

from __future__ import annotations

import json
import logging
import math
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from typing import TYPE_CHECKING, Any

import click

from okr_pipeline.errors import OkrError

if TYPE_CHECKING:
    from okr_pipeline.config import Settings

__all__ = [
    "AS_OF_OPTION",
    "JSON_OPTION",
    "FiniteFloatRange",
    "emit",
    "get_settings",
    "guarded",
    "main",
    "notify",
    "parse_as_of",
    "progress_bar",
    "stop_on_signals",
]

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
AS_OF_OPTION = click.option(
    "--as-of", "as_of", help="YYYY-MM-DD (end of day) or ISO timestamp; default now."
)


class FiniteFloatRange(click.FloatRange):
    """A float option within bounds that refuses NaN and infinity: NaN passes every bound (each
    comparison is false) and infinity passes a lower one, so `--until-idle nan` never stops."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        # click types FloatRange's base _NumberParamTypeBase twice, with different parameters
        number = click.types.FloatParamType.convert(self, value, param, ctx)  # type: ignore[arg-type]
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


def _finite(data: Any) -> Any:
    """`data` with NaN and infinity as None: JSON has no such numbers."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(value) for value in data]
    return data


def emit(data: Any, as_json: bool, human: Callable[[Any], str]) -> None:
    if as_json:
        text = json.dumps(_finite(data), indent=2, ensure_ascii=False, default=str, allow_nan=False)
    else:
        text = human(data)
    click.echo(text)


def guarded(command: Callable[..., None]) -> Callable[..., None]:
    """Errors a user can cause end as one clear line on stderr and exit status 1."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except OkrError as exc:
            raise click.ClickException(str(exc)) from None
        except Exception as exc:
            from sqlalchemy.exc import SQLAlchemyError  # not loaded for `okr --help`

            if isinstance(exc, SQLAlchemyError):
                orig = getattr(exc, "orig", exc)
                raise click.ClickException(f"warehouse error: {orig}") from None
            raise

    return run


def get_settings() -> Settings:
    """The settings, loaded once per command."""
    from okr_pipeline.config import load_settings  # pydantic: not loaded for `okr --help`

    held = click.get_current_context().ensure_object(dict)
    if "settings" not in held:
        held["settings"] = load_settings()
    return held["settings"]


def parse_as_of(text: str | None) -> datetime:
    """An --as-of value as an instant (see `as_of_instant`)."""
    from okr_pipeline.core import as_of_instant

    return as_of_instant(text)


def notify(note: str) -> None:
    """A note from a use case, on stderr: standard output holds the result."""
    click.echo(note, err=True)


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal for large inputs; nothing otherwise."""
    if total < 20000 or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT while the block runs: long-running commands finish
    their batch and stop. The previous handlers come back afterwards."""
    stop = threading.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in signals}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


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
