"""Timestamps in the sample company's timezone, formatted like QuickBooks MetaData."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache

# Intuit's sample company ("Craig's Design and Landscaping") lives in Pacific time: every real
# fixture carries -07:00 in summer and -08:00 in winter.
STANDARD_OFFSET_HOURS = -8


def _nth_sunday(year: int, month: int, nth: int) -> date:
    """The nth Sunday of a month."""
    first = date(year, month, 1)
    return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (nth - 1))


@lru_cache(maxsize=64)
def _dst_window(year: int) -> tuple[datetime, datetime]:
    """US rule since 2007: DST from the 2nd Sunday of March to the 1st Sunday of November, 02:00."""
    start = datetime.combine(_nth_sunday(year, 3, 2), datetime.min.time()) + timedelta(hours=2)
    end = datetime.combine(_nth_sunday(year, 11, 1), datetime.min.time()) + timedelta(hours=2)
    return start, end


def is_pacific_dst(local: datetime) -> bool:
    """Whether Pacific daylight time applies at this wall-clock time."""
    start, end = _dst_window(local.year)
    return start <= local < end


def stamp(local: datetime) -> str:
    """Format a naive Pacific wall-clock time as QuickBooks does: 2015-07-24T10:35:08-07:00."""
    hours = STANDARD_OFFSET_HOURS + (1 if is_pacific_dst(local) else 0)
    return local.replace(microsecond=0).isoformat() + ("-07:00" if hours == -7 else "-08:00")


def parse_local(text: str) -> datetime:
    """The naive wall-clock part of a QuickBooks timestamp (the offset is dropped)."""
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")


def shift_stamp(text: str, days: int) -> str:
    """Move a QuickBooks timestamp by whole days, keeping the wall-clock time, re-deriving the offset."""
    return stamp(parse_local(text) + timedelta(days=days))


def at(day: date, seconds: int) -> datetime:
    """A wall-clock time on `day`, `seconds` after midnight."""
    return datetime.combine(day, datetime.min.time()) + timedelta(seconds=seconds)


class MonotonicClock:
    """Hands out strictly increasing wall-clock times, never earlier than the one asked for."""

    def __init__(self) -> None:
        self._last: datetime | None = None

    def next(self, wanted: datetime, step_seconds: int = 60) -> datetime:
        """The wanted time, or just after the previous one if that is later."""
        if self._last is not None and wanted <= self._last:
            wanted = self._last + timedelta(seconds=step_seconds)
        self._last = wanted
        return wanted
