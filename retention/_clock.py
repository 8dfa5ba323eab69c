"""Time helpers: every job takes an aware `now` so tests can travel in time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


def utc(now: datetime) -> datetime:
    """`now` in UTC; a naive datetime is refused, since its zone would be a guess."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (use datetime.now(UTC))")
    return now.astimezone(UTC)


def to_ms(now: datetime) -> int:
    """Milliseconds since the Unix epoch, the unit of every ts_ms column."""
    return int(utc(now).timestamp() * 1000)


def midnight(day: date) -> datetime:
    """The UTC instant `day` starts."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def horizon(now: datetime, days: int) -> datetime:
    """The instant before which data kept for `days` is past its retention."""
    return utc(now) - timedelta(days=days)
