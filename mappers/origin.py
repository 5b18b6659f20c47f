"""QuickBooks origin markers on the CRM records we write (contract §1).

Bitrix24 has no idempotency key, so every record carries where it came from: a write that may have
happened before a crash is found again by its marker, and our own records are never exported back.
Contacts and companies use ORIGINATOR_ID/ORIGIN_ID; invoices have no such fields (reference §6) and
carry the marker in xmlId (Smart Invoices) or XML_ID (old invoices).
"""
from __future__ import annotations

import re

PREFIX = "qb24"
_XML_ID = re.compile(r"qb24:(?P<realm>[^:\s]+):Invoice:(?P<id>[^:\s]+)")
_ORIGIN = re.compile(r"(?P<type>[A-Za-z]+):(?P<id>[^:\s]+)(?::(?P<part>[a-z]+))?")


def originator_id(realm_id: str) -> str:
    """ORIGINATOR_ID of every record from this QuickBooks company."""
    return f"{PREFIX}:{realm_id}"


def origin_id(qbo_type: str, qbo_id: str, part: str | None = None) -> str:
    """ORIGIN_ID of one QuickBooks entity (`part` names a second record made from it, e.g. "person")."""
    return f"{qbo_type}:{qbo_id}:{part}" if part else f"{qbo_type}:{qbo_id}"


def invoice_xml_id(realm_id: str, qbo_id: str) -> str:
    """xmlId / XML_ID of an invoice: realm and id in one field, since invoices have no ORIGINATOR_ID."""
    return f"{PREFIX}:{realm_id}:Invoice:{qbo_id}"


def parse_xml_id(text: str | None) -> tuple[str, str] | None:
    """(realm_id, qbo_id) of an invoice marker, or None for a record that is not ours."""
    match = _XML_ID.fullmatch((text or "").strip())
    return (match["realm"], match["id"]) if match else None


def parse_origin(originator: str | None, origin: str | None) -> tuple[str, str, str, str | None] | None:
    """(realm_id, qbo_type, qbo_id, part) of a contact/company marker, or None when it is not ours."""
    head, _, realm_id = (originator or "").strip().partition(":")
    match = _ORIGIN.fullmatch((origin or "").strip())
    if head != PREFIX or not realm_id or ":" in realm_id or not match:
        return None
    return realm_id, match["type"], match["id"], match["part"]
