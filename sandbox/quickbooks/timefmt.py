"""Sandbox clock and QuickBooks timestamp formats."""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from typing import Callable

from .company_time import is_pacific_dst

# The sample company lives in US Pacific time (fixtures carry -07:00 in summer, -08:00 in winter);
# naive timestamps from clients are read in standard Pacific time.
COMPANY_TZ = timezone(timedelta(hours=-8))


def utc_now() -> datetime:
    """Wall-clock now, timezone-aware."""
    return datetime.now(timezone.utc)


class SandboxClock:
    """A clock that tests can move forward (control API `POST clock`)."""

    def __init__(self, source: Callable[[], datetime] | None = None) -> None:
        self._source = source or utc_now
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Current sandbox time (aware, UTC)."""
        with self._lock:
            offset = self._offset
        current = self._source()
        if current.tzinfo is None:
            current = current.replace(tzinfo=timezone.utc)
        return current + offset

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward and return the new now."""
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    def today(self) -> date:
        """Today in the company's timezone."""
        return company_local(self.now()).date()


def company_local(moment: datetime) -> datetime:
    """The moment in the company's Pacific time, DST included (aware)."""
    standard = moment.astimezone(COMPANY_TZ)
    summer = standard + timedelta(hours=1)
    if is_pacific_dst(summer.replace(tzinfo=None)):
        return summer.replace(tzinfo=timezone(timedelta(hours=-7)))
    return standard


def meta_time(moment: datetime) -> str:
    """MetaData timestamp: seconds precision with the company offset (2020-09-29T05:58:07-07:00)."""
    return company_local(moment).isoformat(timespec="seconds")


def response_time(moment: datetime) -> str:
    """Envelope `time`: milliseconds with the company offset (2020-09-29T05:58:07.300-07:00)."""
    return company_local(moment).isoformat(timespec="milliseconds")


def legacy_webhook_time(moment: datetime, utc_millis: bool) -> str:
    """Legacy `lastUpdated`: `2015-10-05T14:42:19-0700` (company time, no colon: Intuit's Java SDK sample)
    or `2025-09-08T20:52:31.657Z` (UTC milliseconds: Intuit's 2025-11-12 blog sample, .NET SDK test)."""
    if utc_millis:
        utc = moment.astimezone(timezone.utc)
        return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"
    return company_local(moment).strftime("%Y-%m-%dT%H:%M:%S%z")


def cloudevents_time(moment: datetime) -> str:
    """CloudEvents `time`: UTC with nine fractional digits (`2025-09-10T21:31:25.179851517Z`, Intuit's
    samples); the clock has microseconds, so the last three digits are zeros."""
    utc = moment.astimezone(timezone.utc)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}000Z"


def parse_timestamp(text: str) -> datetime:
    """Parse a QuickBooks timestamp leniently; a missing offset means company time."""
    cleaned = text.strip().replace(" ", "+") if "T" in text else text.strip()
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    if len(cleaned) >= 5 and cleaned[-5] in "+-" and cleaned[-3] != ":" and "T" in cleaned:
        cleaned = cleaned[:-2] + ":" + cleaned[-2:]
    parsed = datetime.fromisoformat(cleaned)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=COMPANY_TZ)
    return parsed
