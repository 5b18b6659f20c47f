"""Who may read which classic CRM record (contact, company, lead, deal): a simple model of CRM roles.

Real Bitrix24 gives each role a "Read" level per entity type: none, own records (the ones assigned to
the user), department, open, all (CRM access-permission settings). The sandbox keeps three of them per
user and kind — "all" (the default), "own" (ASSIGNED_BY_ID is the user) and "none" — set through
`POST /_sandbox/portals/<member_id>/users/<id>` with `{"crm_read": "own"}` or
`{"crm_read": {"deal": "own", "company": "none"}}`. Portal administrators read everything: the CRM's REST
layer checks role permissions only when `!CCrmPerms::IsAdmin()` (bitrix crm restservice.php).

What a refused read answers (DOCS crm-contact-get.md, crm-company-get.md, crm-lead-get.md, crm-deal-get.md,
"Error Handling"): HTTP 400, empty `error`, "Access denied". The core text carries a full stop
(`$errors[] = 'Access denied.'` in CCrmContactRestProxy::innerGet, which checks the permission on the id
before it looks the record up, so a user limited to own records is refused an id that does not exist too).
The binding methods answer `ACCESS_DENIED` "Access denied!" for the record (but a deal's to a user with no
deal right at all: '' "Access denied.") (crm-deal-contact-items-get.md,
crm-company-contact-items-get.md; 403 per crm-quote-contact-items-get.md and reference §8), and
crm.item.get 400 ACCESS_DENIED "You do not have permission to view this item" (crm-item-get.md).
Only reading is modelled: writes are not refused by these levels.
"""
from __future__ import annotations

from typing import Any, Iterable

from sandbox.bitrix24.errors import RestError, classic
from sandbox.bitrix24.state import Portal, User

KINDS = ("contact", "company", "lead", "deal")
LEVELS = ("all", "own", "none")


def read_level(portal: Portal, user_id: int, kind: str) -> str:
    """The user's read level for a kind; "all" for administrators and users the portal does not know."""
    user = portal.users.get(user_id)
    if user is None or user.admin:
        return "all"
    return user.crm_read.get(kind, "all")


def may_read(portal: Portal, user_id: int, kind: str, record: dict[str, Any] | None) -> bool:
    """Whether the user may read this record (None: an id with no record behind it)."""
    level = read_level(portal, user_id, kind)
    if level == "all":
        return True
    return level == "own" and record is not None and str(record.get("ASSIGNED_BY_ID")) == str(user_id)


def readable(portal: Portal, user_id: int, kind: str, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows a list shows this user (crm.<kind>.list and the list pages filter, they do not refuse)."""
    return [row for row in rows if may_read(portal, user_id, kind, row)]


def check_get(portal: Portal, user_id: int, kind: str, record: dict[str, Any] | None) -> None:
    """crm.<kind>.get: 400 "Access denied." before any "Not found"."""
    if not may_read(portal, user_id, kind, record):
        raise classic("Access denied.")


def check_list(portal: Portal, user_id: int, kind: str) -> None:
    """crm.<kind>.list: a user with no read right at all is refused (innerGetList checks id 0)."""
    if read_level(portal, user_id, kind) == "none":
        raise classic("Access denied.")


def check_bindings(portal: Portal, user_id: int, kind: str, record: dict[str, Any] | None) -> None:
    """crm.<kind>.contact.items.get: ACCESS_DENIED "Access denied!" for a record the user may not read; for
    deals a user with no read right at all gets 400 '' "Access denied." (crm-deal-contact-items-get.md lists
    both; crm-company-contact-items-get.md lists only ACCESS_DENIED)."""
    if kind == "deal":
        check_list(portal, user_id, kind)
    if not may_read(portal, user_id, kind, record):
        raise RestError(403, "ACCESS_DENIED", "Access denied!")


def set_read(user: User, raw: Any) -> None:
    """Apply `crm_read` from the control API: one level for every kind, or a level per kind."""
    if isinstance(raw, str):
        raw = {kind: raw for kind in KINDS}
    if not isinstance(raw, dict) or not all(k in KINDS and v in LEVELS for k, v in raw.items()):
        raise RestError(400, "INVALID_BODY", f"crm_read: one of {', '.join(LEVELS)}, or an object of "
                                             f"{', '.join(KINDS)} to one of them")
    user.crm_read.update(raw)
