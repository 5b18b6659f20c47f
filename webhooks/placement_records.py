"""Which CRM record a Create Invoice click bills, read with the clicking user's own token.

The user's token carries the user's CRM permissions (reference §1.1), so a record the user may not
read is refused by Bitrix24 itself: HTTP 400 with an empty `error` and "Access denied" (or "Not
found" for one that is gone; reference §5). The QuickBooks customer is created later with the realm's
stored tokens; Bitrix24 decides only who may look.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from clients.bitrix24 import Bitrix24Client
from clients.bitrix24_auth import InMemoryPortalTokens
from clients.bitrix24_errors import AccessDenied, NotFound
from webhooks.errors import PageError
from webhooks.frame_auth import FramePost
from webhooks.runtime import runtime

# The toolbar item of each card the app binds (reference §4); the record's type comes from the code.
CARD_KINDS = {"CRM_CONTACT_DETAIL_TOOLBAR": "contact", "CRM_COMPANY_DETAIL_TOOLBAR": "company",
              "CRM_LEAD_DETAIL_TOOLBAR": "lead", "CRM_DEAL_DETAIL_TOOLBAR": "deal"}
RECORD_ID = re.compile(r"[1-9][0-9]{0,17}")


class NoAccess(Exception):
    """Bitrix24 refused the user a record (no permission) or no longer has it."""

    def __init__(self, kind: str, record_id: str) -> None:
        super().__init__(f"{kind} {record_id}")
        self.kind, self.record_id = kind, record_id


class NoParty(Exception):
    """A deal with neither a company nor a contact: nobody to invoice."""


@dataclass(frozen=True)
class Billed:
    """The record whose QuickBooks customer the invoice goes to (contact, company or lead)."""

    b24_type: str
    record: dict[str, Any]

    @property
    def b24_id(self) -> str:
        return str(self.record["ID"])


def card_kind(placement: str) -> str:
    """contact | company | lead | deal for the four toolbar codes; 400 for anything else."""
    kind = CARD_KINDS.get(placement)
    if kind is None:
        raise PageError(400, _("Create QuickBooks invoice works from the toolbar of a contact, company, lead "
                               "or deal card only; this request came from somewhere else."))
    return kind


def record_id_of(options: dict) -> str:
    """The card's record id from PLACEMENT_OPTIONS: `ID` for these four cards, `ENTITY_ID` for others;
    the docs disagree between pages, so both are read (reference §4). A string of digits, else 400."""
    raw = options.get("ID", options.get("ENTITY_ID"))
    value = str(raw).strip() if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
    if not RECORD_ID.fullmatch(value):
        raise PageError(400, _("The card did not say which record it shows (PLACEMENT_OPTIONS has no numeric ID). "
                               "Reload the card and try again."))
    return value


def user_client(frame: FramePost) -> Bitrix24Client:
    """A REST client on the frame's own token (never stored), with the request path's short limits."""
    rt = runtime()
    return Bitrix24Client(frame.member_id, InMemoryPortalTokens(frame.auth), rt.b24_app(), rt.locks,
                          rt.b24_limiter, timeout=(2, 5), limit_wait=2.0, retry_budget=0.0)


def billed_record(client: Bitrix24Client, kind: str, record_id: str) -> Billed:
    """The contact, company or lead a click on `kind` #`record_id` bills (NoAccess, NoParty)."""
    record = read(client, kind, record_id)
    if kind in ("contact", "company"):
        return Billed(kind, record)
    party = _linked_party(record)
    if kind == "lead":
        # A lead linked to an existing company or contact invoices to it, not to a customer of its own.
        return Billed(party[0], read(client, *party)) if party else Billed("lead", record)
    party = party or _deal_contact(client, record_id)
    if party is None:
        raise NoParty(record_id)
    return Billed(party[0], read(client, *party))


def read(client: Bitrix24Client, kind: str, record_id: str) -> dict[str, Any]:
    """crm.<kind>.get as the user; a refusal or a missing record is NoAccess."""
    try:
        record = client.call(f"crm.{kind}.get", {"id": record_id}).result
    except (AccessDenied, NotFound):
        raise NoAccess(kind, record_id) from None
    if not isinstance(record, dict) or not record.get("ID"):
        raise NoAccess(kind, record_id)
    return record


def _linked_party(record: dict[str, Any]) -> tuple[str, str] | None:
    """The company, else the contact, a lead or deal names (classic fields: "0", "" or null is none)."""
    for key, kind in (("COMPANY_ID", "company"), ("CONTACT_ID", "contact")):
        value = str(record.get(key) or "").strip()
        if RECORD_ID.fullmatch(value):
            return kind, value
    return None


def _deal_contact(client: Bitrix24Client, deal_id: str) -> tuple[str, str] | None:
    """The deal's primary contact (else its first) from crm.deal.contact.items.get: CONTACT_ID on the
    deal is deprecated and holds only one of them. Rows are {CONTACT_ID, SORT, ROLE_ID, IS_PRIMARY: Y|N}
    (dev.1c-bitrix.ru rest_help/crm/cdeals/crm_deal_contact_items_get.php, crm_deal_contact_fields.php)."""
    try:
        rows = client.call("crm.deal.contact.items.get", {"id": deal_id}).result
    except (AccessDenied, NotFound):
        raise NoAccess("deal", deal_id) from None
    rows = [r for r in rows or [] if isinstance(r, dict) and RECORD_ID.fullmatch(str(r.get("CONTACT_ID") or ""))]
    rows.sort(key=lambda r: (r.get("IS_PRIMARY") != "Y", int(r.get("SORT") or 0)))
    return ("contact", str(rows[0]["CONTACT_ID"])) if rows else None
