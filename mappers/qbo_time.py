"""QuickBooks timestamps (webhooks, CDC, MetaData) as aware UTC datetimes.

QuickBooks writes one instant several ways (reference §1.1, §11): `2015-10-05T14:42:19-0700`
(Java SDK legacy webhook sample: offset without a colon), `2025-09-08T20:52:31.657Z` (Intuit's
2025 legacy sample), `2016-10-05T03:09:04.000Z` (.NET SDK sample), `2025-09-10T21:31:25.179851517Z`
(CloudEvents `time`: nanoseconds), `2015-12-23T12:56:06.196-08:00` (CDC `time`) and
`2015-10-07T11:43:20-07:00` (MetaData). Python's `datetime.fromisoformat` before 3.11 reads none of
the colon-less or nanosecond forms, so the grammar is spelled out here.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ["parse_qbo_time"]

_TIMESTAMP = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2})"
    r"(?:[.,](?P<fraction>\d{1,9}))?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})",
    re.ASCII,  # \d must not accept other scripts' digits
)
_MAX_OFFSET = timedelta(hours=18)  # ISO 8601 / java.time bound; anything wider is not a real offset


def parse_qbo_time(text: str) -> datetime:
    """The instant `text` names, in UTC; ValueError for anything that is not one of QuickBooks' forms.

    A timestamp without an offset is refused: QuickBooks always sends one, and guessing the
    company's timezone would silently shift the instant.
    """
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise ValueError(f"not a QuickBooks timestamp: {text!r}")
    try:
        local = datetime.fromisoformat(f"{match['date']}T{match['time']}")
    except ValueError:
        raise ValueError(f"not a calendar date-time: {text!r}") from None
    # Digits past microseconds (CloudEvents sends nanoseconds) are cut, never rounded up a second.
    micros = int((match["fraction"] or "").ljust(6, "0")[:6])
    zone = _zone(match["zone"], text)
    try:
        return local.replace(microsecond=micros, tzinfo=zone).astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"instant out of range: {text!r}") from None


def _zone(designator: str, text: str) -> timezone:
    """`Z`, `±HH:MM` or `±HHMM` as a fixed-offset timezone."""
    if designator == "Z":
        return timezone.utc
    digits = designator[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if minutes >= 60:
        raise ValueError(f"bad UTC offset in {text!r}")
    offset = timedelta(hours=hours, minutes=minutes)
    if offset > _MAX_OFFSET:
        raise ValueError(f"UTC offset out of range in {text!r}")
    return timezone(-offset if designator[0] == "-" else offset)
