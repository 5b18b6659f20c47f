"""Reading a realm's changes since a moment: one change-data-capture call, or more when it overflows.

CDC answers every change since `changedSince` (no upper bound) and refuses a window holding more than
1,000 objects ("Server responses can handle a maximum of 1,000 objects. We suggest you query for shorter
time periods", reference §2). Since a window cannot end before now, "shorter" means: each entity on its
own, and for an entity still too big, its live records through the query endpoint (`MetaData.LastUpdatedTime
>= ...`, reference §3, paged forward in LastUpdatedTime order, 1,000 a page) plus its tombstones (which no
query returns) from the widest CDC window that fits, found by halving the window towards now. Tombstones
older than that window cannot be read at all: logged (`changes.tombstones_unread`); only a burst of more than
1,000 changes of one entity between two pulls gets there.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from clients.quickbooks import QuickBooksClient
from clients.quickbooks_errors import ValidationFailed
from mappers.qbo_time import parse_qbo_time

log = logging.getLogger("qb24.changes")
ENTITIES = ("Customer", "Invoice", "Payment")
CDC_DAYS = 30  # "CDC operations can track changes within the last 30 days" (reference §2)
MAX_HALVINGS = 12  # the window shrinks to 1/4096 of itself before tombstones are given up
WHERE = {"Customer": "Active IN (true, false)"}  # inactive customers too (reference §3: UNCERTAIN default)


@dataclass
class Changes:
    """What changed: records by entity (tombstones have status 'Deleted'), the next watermark, the calls made."""

    time: str
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: int = 0


def too_many(error: ValidationFailed) -> bool:
    """The CDC refusal of an oversized window (its words as the sandbox gives them; the real code is not
    captured publicly, so the text is what is matched: 'returns more than 1000 objects')."""
    text = f"{error} {error.detail}".lower()
    return "more than" in text and "object" in text


def read_changes(qbo: QuickBooksClient, since: datetime) -> Changes:
    """Every change of the handled entities since `since` (one call unless the window overflows)."""
    try:
        answer = qbo.cdc(list(ENTITIES), since)
        return Changes(answer.time, answer.changes, 1)
    except ValidationFailed as error:
        if not too_many(error):
            raise
    log.info("changes.cdc_overflow", extra={"realm_id": qbo.realm_id})
    changes = Changes(time="", calls=1)
    for entity in ENTITIES:
        _read_entity(qbo, entity, since, changes)
    return changes


def _read_entity(qbo: QuickBooksClient, entity: str, since: datetime, changes: Changes) -> None:
    now = datetime.now(timezone.utc)
    start, window = since, now - since
    for _ in range(MAX_HALVINGS + 1):
        try:
            answer = qbo.cdc([entity], start)
        except ValidationFailed as error:
            if not too_many(error):
                raise
            changes.calls += 1
            window /= 2
            start = now - window
            continue
        changes.calls += 1
        changes.time = _earliest(changes.time, answer.time)
        records = answer.changes.get(entity, [])
        if start == since:
            changes.records[entity] = records  # the entity alone fits: everything came
            return
        changes.records[entity] = [*_live_since(qbo, entity, since, changes), *records]
        log.warning("changes.tombstones_unread", extra={"realm_id": qbo.realm_id, "entity": entity,
                                                         "since": since.isoformat(), "read_from": start.isoformat()})
        return
    # not even the narrowest window fits: live records only, watermark from our own clock
    changes.time = _earliest(changes.time, now.isoformat())
    changes.records[entity] = _live_since(qbo, entity, since, changes)
    log.warning("changes.tombstones_unread", extra={"realm_id": qbo.realm_id, "entity": entity,
                                                     "since": since.isoformat(), "read_from": None})


def _live_since(qbo: QuickBooksClient, entity: str, since: datetime, changes: Changes) -> list[dict[str, Any]]:
    """The entity's live records changed since `since`, paged forward in LastUpdatedTime order."""
    stamp = since.astimezone(timezone.utc).isoformat(timespec="seconds")
    where = " AND ".join(filter(None, [WHERE.get(entity), f"MetaData.LastUpdatedTime >= '{stamp}'"]))
    records = []
    for _, page in qbo.query_pages(entity, where, order_by="MetaData.LastUpdatedTime"):
        changes.calls += 1
        records += page
    return records


def _earliest(current: str, new: str) -> str:
    """The watermark is the earliest server time of the answers combined (every one covered up to it)."""
    if not current:
        return new
    return current if parse_qbo_time(current) <= parse_qbo_time(new) else new


def read_by_ids(qbo: QuickBooksClient, entity: str, ids: set[str] | list[str]) -> list[dict[str, Any]]:
    """The live records of these ids (inactive customers too), one query per 1,000 ids."""
    wanted, found = sorted({str(i) for i in ids}), []
    for start in range(0, len(wanted), 1000):
        quoted = ", ".join(f"'{i}'" for i in wanted[start:start + 1000])
        where = " AND ".join(filter(None, [WHERE.get(entity), f"Id IN ({quoted})"]))
        found += qbo.query(f"SELECT * FROM {entity} WHERE {where} MAXRESULTS 1000")
    return found
