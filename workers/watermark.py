"""The change feed's watermark: the QuickBooks server time up to which every change has been applied.

Stored as QuickBooks wrote it (the CDC answer's `time`, reference §2: "store the response time as the next
changedSince"); the next pull asks for changes since it minus OVERLAP. The overlap covers a change that
QuickBooks stamped just before `time` but made visible just after, and clock skew between our clock (which
sets the watermark when a full run starts) and Intuit's. Re-read records cost no Bitrix24 call: their link
holds the same LastUpdatedTime and content hash. Kept short so that under a sustained 5 changes/s a pull
re-reads tens of records, not hundreds (a CDC answer holds at most 1,000 objects).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from mappers.qbo_time import parse_qbo_time
from store.models import QboConnection

OVERLAP = timedelta(seconds=15)
CDC_WINDOW = timedelta(days=30)  # "CDC operations can track changes within the last 30 days" (reference §2)
# A watermark this close to the window's edge starts a full resync instead: the pull's own overlap, a
# lookback and the time the pull takes must still fall inside the window.
RESYNC_MARGIN = timedelta(hours=1)


def watermark_of(connection: QboConnection) -> datetime | None:
    """The stored watermark as an aware datetime (None: no first sync yet, or unreadable)."""
    try:
        return parse_qbo_time(connection.cdc_watermark) if connection.cdc_watermark else None
    except ValueError:
        return None


def too_old(watermark: datetime, now: datetime | None = None) -> bool:
    """Whether CDC can no longer answer since this watermark (minus the overlap)."""
    now = now or datetime.now(timezone.utc)
    return watermark - OVERLAP < now - CDC_WINDOW + RESYNC_MARGIN


def mark_full_run_start(connection: QboConnection, started: datetime) -> None:
    """A full run starts: changes from its start on are the change feed's, so the watermark is set to the
    start minus the overlap when there is none (the first sync) or CDC could not read from it any more.
    A usable older watermark is kept: moving it forward would skip the deletions in between, which a full
    run never sees (it reads live records only); the pull after the run reads them, at worst re-reading
    records the run just wrote (skipped by their content hash)."""
    current = watermark_of(connection)
    if current is None or too_old(current, started):
        connection.cdc_watermark = (started.astimezone(timezone.utc) - OVERLAP).isoformat()
