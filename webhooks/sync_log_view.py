"""What the app page shows of the real-time sync: the last change applied and the sync log (failures): QuickBooks
records that could not be written to Bitrix24 (sync_failures) and Bitrix24 contacts and companies that could not
become QuickBooks customers (their add events, received_events, workers/exports.py).

Words stored by the workers (connection.last_change["what"], workers/changes.py) become sentences here, in the
request's language; records are named by what an admin knows (the name, the QuickBooks kind and number).

The reasons of failed writes and exports are sentences the workers stored in English (sync_failures.reason,
received_events.last_error; workers/export_errors.py, workers/b24_writes.py); the templates show them in the
request's language with the `reason` filter (webhooks/reasons_view.py), the vendors' own words inside them as
they are.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from store.events import GAVE_UP, failed_add_count, failed_adds
from store.models import QboConnection
from store.sync_log import failure_count, failures

SYNC_LOG_ROWS = 50
RETRYABLE = ("Customer", "Invoice")  # what workers/change_apply.apply_record re-reads and re-applies
QBO_ID = re.compile(r"\d{1,32}", re.ASCII)  # QuickBooks ids are decimal digits (reference §1); the column holds 32
# Whole sentences (a translator may reorder them), filled in with `%` as gettext would: `record` is
# RECORD's phrase (any other kind: OTHER_RECORD's), with the record's name after it.
WHAT = {"created": _l("%(record)s was created in Bitrix24."),
        "updated": _l("%(record)s was updated in Bitrix24."),
        "stage": _l("%(record)s was updated in Bitrix24, in the stage of its QuickBooks status."),
        "deleted": _l("%(record)s was deleted in QuickBooks and moved to the Deleted stage in Bitrix24."),
        "removed": _l("%(record)s was deleted in QuickBooks and removed from Bitrix24."),
        "merged": _l("%(record)s took over a customer merged into it in QuickBooks; Bitrix24 follows the merge."),
        "unchanged": _l("%(record)s was checked: Bitrix24 already matched it.")}
CUSTOMER_DELETED = _l("%(record)s was deleted in QuickBooks; its Bitrix24 record is kept, no longer synced.")
CHANGED = _l("%(record)s was changed in Bitrix24.")
RECORD = {"Customer": _l("QuickBooks customer %(id)s"), "Invoice": _l("QuickBooks invoice %(id)s"),
          "Payment": _l("QuickBooks payment %(id)s")}
OTHER_RECORD = _l("QuickBooks record %(id)s")
KIND = {"Customer": "customer", "Invoice": "invoice", "Payment": "payment"}
B24_KINDS = ("contact", "company")  # what workers/exports.py exports (received_events.entity)
B24_ID = re.compile(r"[1-9]\d{0,31}", re.ASCII)  # a CRM record's ID; received_events.entity_id holds 32
# An export shows as failed from its third failed attempt: the first two come ~5 s and ~10 s after the event
# (workers/exports.py backoff), where a hiccup of either service is expected to pass; a refusal that stays
# (a QuickBooks validation Fault) reaches three within ~15 s.
EXPORT_FAILED_AFTER = 3


@dataclass(frozen=True)
class LastChange:
    """One sentence about the newest change applied, and when."""

    sentence: str
    at: datetime | None


def last_change(connection: QboConnection) -> LastChange | None:
    """The connection's last applied change as a sentence; None before the first one."""
    change = connection.last_change if isinstance(connection.last_change, dict) else None
    if not change:
        return None
    entity = str(change.get("entity") or "")
    record = (str(RECORD.get(entity, OTHER_RECORD)) % {"id": change.get("qbo_id") or ""}).strip()
    if change.get("name"):
        record += f" ({change['name']})"
    if entity == "Customer" and change.get("what") == "deleted":
        sentence = CUSTOMER_DELETED
    else:
        sentence = WHAT.get(str(change.get("what")), CHANGED)
    return LastChange(str(sentence) % {"record": record}, when(change.get("at")))


def when(value: Any) -> datetime | None:
    """An instant in UTC, to the second, for the page to write in its language (the `instant` filter,
    webhooks/i18n.py); None when missing or unreadable."""
    if not isinstance(value, datetime):
        try:
            value = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    # the store's instants are UTC; a naive one is taken as UTC too
    value = value.astimezone(timezone.utc) if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    return value.replace(microsecond=0)


def sync_log_view(session: Session, connection: QboConnection) -> dict[str, Any]:
    """The page's part for a connected portal: last change, the newest failures and their count."""
    rows = failures(session, connection.portal_id, limit=SYNC_LOG_ROWS)
    return {"last_change": last_change(connection), "sync_log_total": failure_count(session, connection.portal_id),
            "sync_log": [{"qbo_type": row.qbo_type, "qbo_id": row.qbo_id, "name": row.name,
                          "kind": KIND.get(row.qbo_type, row.qbo_type), "reason": row.reason,
                          "attempts": row.attempts, "last_at": when(row.last_at),
                          "retryable": row.qbo_type in RETRYABLE} for row in rows],
            **export_log_view(session, connection.portal_id)}


def export_log_view(session: Session, portal_id: int) -> dict[str, Any]:
    """The portal's CRM records that could not become QuickBooks customers (failed add events), newest first; a
    record failing for good is given up by workers/exports.py (PERMANENT) and tried again only by Retry.

    received_events keeps no name nor time of the last attempt: the row shows when the record was added."""
    rows = failed_adds(session, portal_id, EXPORT_FAILED_AFTER, SYNC_LOG_ROWS)
    return {"export_log_total": failed_add_count(session, portal_id, EXPORT_FAILED_AFTER),
            "export_log": [{"b24_type": row.entity, "b24_id": row.entity_id, "reason": row.last_error.removeprefix(GAVE_UP),
                            "given_up": row.last_error.startswith(GAVE_UP), "attempts": row.attempts,
                            "added_at": when(row.received_at)} for row in rows]}


def export_retry_target(form: Any) -> tuple[str, str] | None:
    """(b24_type, b24_id) of a failed export's Retry form, or None when either is not one we export."""
    b24_type, b24_id = form.get("b24_type", ""), form.get("b24_id", "")
    if b24_type not in B24_KINDS or B24_ID.fullmatch(b24_id) is None:
        return None
    return b24_type, b24_id


def retry_target(form: Any) -> tuple[str, str] | None:
    """(qbo_type, qbo_id) of a Retry form, or None when either is not one we retry."""
    qbo_type, qbo_id = form.get("qbo_type", ""), form.get("qbo_id", "")
    if qbo_type not in RETRYABLE or QBO_ID.fullmatch(qbo_id) is None:
        return None
    return qbo_type, qbo_id
