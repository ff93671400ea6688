"""The as-of clock: instants up to which data counts (inclusive), UTC and naive like stored rows,
and the same instants as days since the epoch, the unit features and pace work in."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from okr_pipeline.errors import InputError

__all__ = ["as_of_instant", "days", "instant", "now_utc"]

EPOCH = datetime(1970, 1, 1)
DAY = 86400.0


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def as_of_instant(text: str | None) -> datetime:
    """`None` -> now; `YYYY-MM-DD` -> the end of that day; an ISO timestamp -> that instant."""
    if text is None:
        return now_utc()
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time.max)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"as-of {text!r} is neither a YYYY-MM-DD date nor an ISO 8601 timestamp"
        ) from None
    try:
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        raise InputError(f"as-of {text!r} is out of range in UTC") from None


def days(moment: datetime) -> float:
    return (moment - EPOCH).total_seconds() / DAY


def instant(days: float) -> datetime:
    """The instant `days` after the epoch, to the microsecond (the inverse of `days`)."""
    return EPOCH + timedelta(microseconds=round(days * DAY * 1e6))
