"""Bitrix24 multi-fields (EMAIL, PHONE, WEB) written in place (contract §4, reference §5).

On crm.contact/company.update an entry without ID is ADDED and the stored ones are kept, so a naive
re-sync appends a second copy of every email and phone. The planner below reuses stored rows by
their ID: unchanged values are left out, changed ones overwrite a stored row, surplus rows are
deleted, and only a value with no row left to reuse is added.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mappers.comm import Comm

_PHONE_CHARS = re.compile(r"[\d\s()+\-./]+(?:\s*(?:x|ext\.?|#)\s*\d+)?", re.IGNORECASE)


def normalized(value: str) -> str:
    """The comparison key: email casefolded and trimmed, phone digits only, a URL without scheme or slash."""
    text = (value or "").strip()
    if "@" in text:
        return text.casefold()
    if _PHONE_CHARS.fullmatch(text) and any(ch.isdigit() for ch in text):
        return "".join(ch for ch in text if ch.isdigit())
    return re.sub(r"^[a-z][a-z0-9+.-]*://", "", text.casefold()).rstrip("/")


def unique(desired: Sequence[Comm]) -> list[Comm]:
    """The desired values without blanks and without a second copy of the same normalized value."""
    seen: set[str] = set()
    kept = []
    for comm in desired:
        key = normalized(comm.value)
        if key and key not in seen:
            seen.add(key)
            kept.append(comm)
    return kept


def multifield_new(desired: Sequence[Comm]) -> list[dict[str, str]]:
    """The multi-field list for crm.contact/company.add."""
    return [{"VALUE": comm.value, "VALUE_TYPE": comm.value_type} for comm in unique(desired)]


def multifield_changes(stored: list[dict[str, Any]], desired: Sequence[Comm]) -> list[dict[str, Any]]:
    """The EMAIL/PHONE/WEB list for an update that turns `stored` into `desired`; [] when nothing changes."""
    wanted = unique(desired)
    rows = [row for row in stored if row.get("ID") not in (None, "")]
    by_key: dict[str, dict[str, Any]] = {}
    for row in rows:
        by_key.setdefault(normalized(str(row.get("VALUE") or "")), row)
    changes: list[dict[str, Any]] = []
    matched: set[str] = set()
    unplaced: list[Comm] = []
    for comm in wanted:
        row = by_key.get(normalized(comm.value))
        if row is None:
            unplaced.append(comm)
            continue
        matched.add(str(row["ID"]))
        if row.get("VALUE_TYPE") != comm.value_type:  # same value, new kind: fix the kind in place
            changes.append(_overwrite(row, comm))
    spare = [row for row in rows if str(row["ID"]) not in matched]
    for row, comm in zip(spare, unplaced):
        changes.append(_overwrite(row, comm))
    changes += [{"ID": row["ID"], "DELETE": "Y"} for row in spare[len(unplaced):]]
    changes += [{"VALUE": c.value, "VALUE_TYPE": c.value_type} for c in unplaced[len(spare):]]
    return changes


def _overwrite(row: dict[str, Any], comm: Comm) -> dict[str, Any]:
    return {"ID": row["ID"], "VALUE": comm.value, "VALUE_TYPE": comm.value_type}
