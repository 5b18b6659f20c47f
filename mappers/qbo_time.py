"""QuickBooks timestamps (webhooks, CDC, MetaData) as aware UTC datetimes.

QuickBooks writes one instant several ways (reference §1.1, §11): `2015-10-05T14:42:19-0700`
(Java SDK legacy webhook sample: offset without a colon), `2025-09-08T20:52:31.657Z` (Intuit's
2025 legacy sample), `2016-10-05T03:09:04.000Z` (.NET SDK sample), `2025-09-10T21:31:25.179851517Z`
(CloudEvents `time`: nanoseconds), `2015-12-23T12:56:06.196-08:00` (CDC `time`) and
`2015-10-07T11:43:20-07:00` (MetaData). Python 3.11's `datetime.fromisoformat` reads all of them
(digits past microseconds are cut, never rounded), but also much that QuickBooks never sends
(basic format, week dates, no offset): the pattern below admits only QuickBooks' forms.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["meta_time", "parse_qbo_time"]

_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"
    r"(?:[.,]\d{1,9})?"
    r"(?:Z|[+-]\d{2}:?[0-5]\d)",
    re.ASCII,  # \d must not accept other scripts' digits
)
_MAX_OFFSET = timedelta(hours=18)  # ISO 8601 / java.time bound; anything wider is not a real offset


def parse_qbo_time(text: str) -> datetime:
    """The instant `text` names, in UTC; ValueError for anything that is not one of QuickBooks' forms.

    A timestamp without an offset is refused: QuickBooks always sends one, and guessing the
    company's timezone would silently shift the instant.
    """
    if _TIMESTAMP.fullmatch(text) is None:
        raise ValueError(f"not a QuickBooks timestamp: {text!r}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a calendar date-time: {text!r}") from None
    if abs(moment.utcoffset() or timedelta(0)) > _MAX_OFFSET:
        raise ValueError(f"UTC offset out of range in {text!r}")
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"instant out of range: {text!r}") from None


def meta_time(record: dict[str, Any], field: str = "LastUpdatedTime") -> datetime | None:
    """A record's MetaData timestamp (LastUpdatedTime, CreateTime); None when it is missing or unreadable."""
    text = (record.get("MetaData") or {}).get(field)
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse_qbo_time(text)
    except ValueError:
        return None
