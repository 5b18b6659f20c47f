"""An index of contacts', companies' and leads' emails and phones for crm.duplicate.findbycomm.

Kept up to date by every classic create/update/delete (classic.py), so a portal of 20,000 records
answers a findbycomm in a batch without scanning every record. Values are normalized as Bitrix24's
duplicate criterion compares them (DuplicateCommunicationCriterion in CORE crm/lib/integrity): email
case-insensitively and trimmed; phone as its digits, the extension ignored (DOCS crm-duplicate-find-by-comm.md
"The search does not consider the phone extension").
"""
from __future__ import annotations

import re

from sandbox.bitrix24.state import Portal

KINDS = ("lead", "contact", "company")
_EXTENSION = re.compile(r"(?i)ext\.?|#|,|;|доб\.?")


def phone_digits(value: str) -> str:
    """A phone as the digits before any extension."""
    return re.sub(r"\D", "", _EXTENSION.split(value)[0])


def normalized(comm_type: str, value: str) -> str:
    """The form two communications of one type are compared in."""
    return value.strip().lower() if comm_type == "EMAIL" else phone_digits(value)


def _keys(record: dict) -> set[tuple[str, str]]:
    """(type, normalized value) of a record's EMAIL and PHONE entries."""
    return {(name, normalized(name, str(entry.get("VALUE") or ""))) for name in ("EMAIL", "PHONE")
            for entry in record.get(name) or []} - {("EMAIL", ""), ("PHONE", "")}


def drop(portal: Portal, kind: str, record_id: int) -> None:
    """Forget a record's communications."""
    for key in portal.comm_keys.pop((kind, record_id), ()):
        holders = portal.comm_index.get(key, {})
        holders.get(kind, set()).discard(record_id)


def put(portal: Portal, kind: str, record_id: int, record: dict) -> None:
    """(Re)index a record's communications after it was stored."""
    if kind not in KINDS:
        return
    drop(portal, kind, record_id)
    keys = _keys(record)
    portal.comm_keys[(kind, record_id)] = keys
    for key in keys:
        portal.comm_index.setdefault(key, {}).setdefault(kind, set()).add(record_id)


def holders(portal: Portal, comm_type: str, value: str) -> dict[str, set[int]]:
    """Kind -> ids of the records holding one communication value."""
    return portal.comm_index.get((comm_type, normalized(comm_type, value)), {})
