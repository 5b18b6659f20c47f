"""Every CRM write a portal ran, with its millisecond time: what a latency measurement needs.

A record's DATE_MODIFY / updatedTime is second-granular (reference §5: ISO-8601 without fractions),
too coarse to tell a 300 ms change from a 900 ms one. Real Bitrix24 has nothing like this log; it is
the control API's measuring tap (GET /_sandbox/portals/<member_id>/writes?since=<seq>), like the
request counters beside it.
"""
from __future__ import annotations

import time
from typing import Any

from sandbox.bitrix24.state import Portal

WRITE_VERBS = ("add", "update", "set", "delete")
LOG_LIMIT = 200_000  # a bench's worth of writes; the oldest go first


def note_write(portal: Portal, method: str, params: dict, envelope: dict) -> None:
    """Log one successful write command (batch commands one by one) with the record it touched."""
    if method.rsplit(".", 1)[-1] not in WRITE_VERBS:
        return
    portal.write_seq += 1
    portal.write_log.append({"seq": portal.write_seq, "at": time.time(), "method": method,
                             "entity_type_id": _int(params.get("entityTypeId")),
                             "id": _record_id(method, params, envelope.get("result"))})
    if len(portal.write_log) > LOG_LIMIT:
        del portal.write_log[: len(portal.write_log) - LOG_LIMIT]


def writes_since(portal: Portal, since: int) -> list[dict[str, Any]]:
    """Logged writes with a sequence number above `since`, oldest first."""
    return [entry for entry in portal.write_log if entry["seq"] > since]


def _record_id(method: str, params: dict, result: Any) -> int | None:
    """The record a write touched: `id` of update/delete, `ownerId` of a product-row set, the new id of add."""
    for key in ("id", "ID", "ownerId"):
        if _int(params.get(key)) is not None:
            return _int(params[key])
    if isinstance(result, dict):  # crm.item.add answers {"item": {"id": ...}}
        return _int((result.get("item") or {}).get("id"))
    return _int(result)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
