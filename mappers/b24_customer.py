"""Bitrix24 CRM contact, company or lead -> the body of a QuickBooks Customer create (issue 11).

The record is what crm.contact.get / crm.company.get / crm.lead.get answer (reference B §5): classic
UPPER_CASE fields with string values, multi-fields as [{ID, VALUE, VALUE_TYPE, TYPE_ID}], the deprecated
ADDRESS* fields. QuickBooks' rules (reference Q §4, §11): DisplayName ≤ 500 characters and unique across
customers, vendors and employees; no colon, tab or newline in any name part; CompanyName ≤ 100 characters;
PrimaryEmailAddr.Address must hold "@" and a "." after it.

The body is shaped so that the QuickBooks → Bitrix24 mapping (mappers/customer.py, rule by_company_name)
reads it back as the same kind of record: a contact's customer carries no CompanyName (one would make it
a company), a company's carries its TITLE as CompanyName.
"""
from __future__ import annotations

import re
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields

from mappers.errors import MappingError
from mappers.reasons import B24_MALFORMED, B24_NOT_AN_OBJECT, NOT_A_CUSTOMER_KIND, reason

__all__ = ["B24_TYPES", "MAX_DISPLAY_NAME", "check_record", "customer_body", "display_name", "numbered", "comm_keys"]

B24_TYPES = ("contact", "company", "lead")
MAX_DISPLAY_NAME = 500   # CUSTREF, reference Q §4 (the sandbox answers 2050 above it)
MAX_NAME_PART = 100      # GivenName/MiddleName/FamilyName: CUSTREF "max 100 chars"
MAX_COMPANY_NAME = 100   # reference Q §4
# QuickBooks joins a sub-customer's names with ":" into FullyQualifiedName ("Parent:Job"), so it refuses
# ":" (and tab, newline) in every name part (CUSTREF business rules, reference Q §11; the sandbox's 2170).
_BANNED = re.compile(r"[:\t\r\n]+")
# Typographic quotes are legal in a name, but QuickBooks' query lexer refuses them even inside a string
# literal (reference Q §3, quickbooks-ruby#309): a name holding one could never be looked up when a
# duplicate name (6240) is resolved, so they become their ASCII forms.
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Bitrix24 phone VALUE_TYPE -> the QuickBooks phone field (the inverse of mappers/customer._PHONES).
_PHONE_FIELDS = {"WORK": "PrimaryPhone", "MOBILE": "Mobile", "FAX": "Fax"}
_ADDRESS = (("ADDRESS", "Line1"), ("ADDRESS_2", "Line2"), ("ADDRESS_CITY", "City"),
            ("ADDRESS_POSTAL_CODE", "PostalCode"), ("ADDRESS_PROVINCE", "CountrySubDivisionCode"),
            ("ADDRESS_COUNTRY", "Country"))


class _Open(Schema):
    class Meta:
        unknown = INCLUDE


class _CommSchema(_Open):
    VALUE = fields.String(allow_none=True)
    VALUE_TYPE = fields.String(allow_none=True)


class CrmRecordSchema(_Open):
    """What the mapper reads of a classic CRM record; every other key is left alone."""

    ID = fields.Raw(required=True)  # a string in get answers; an int is accepted (crm.*.add answers ints)
    NAME = fields.String(allow_none=True)
    SECOND_NAME = fields.String(allow_none=True)
    LAST_NAME = fields.String(allow_none=True)
    TITLE = fields.String(allow_none=True)
    COMPANY_TITLE = fields.String(allow_none=True)
    EMAIL = fields.List(fields.Nested(_CommSchema), allow_none=True)
    PHONE = fields.List(fields.Nested(_CommSchema), allow_none=True)
    ADDRESS = fields.String(allow_none=True)
    ADDRESS_2 = fields.String(allow_none=True)
    ADDRESS_CITY = fields.String(allow_none=True)
    ADDRESS_POSTAL_CODE = fields.String(allow_none=True)
    ADDRESS_PROVINCE = fields.String(allow_none=True)
    ADDRESS_COUNTRY = fields.String(allow_none=True)


_SCHEMA = CrmRecordSchema()


def customer_body(b24_type: str, record: dict[str, Any], *, person: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Customer create body for a CRM record; `person` is a company's contact person (a contact record)."""
    check_record(b24_type, record)
    body: dict[str, Any] = {"DisplayName": display_name(b24_type, record)}
    named = person if b24_type == "company" else record  # a company's person names are its contact's
    company = _clean(record.get("TITLE") if b24_type == "company" else record.get("COMPANY_TITLE"))
    if company and b24_type != "contact":
        body["CompanyName"] = company[:MAX_COMPANY_NAME].strip()
    body.update(_name_parts(named) if named else {})
    email = next((value for value in _values(record, "EMAIL") if _EMAIL.fullmatch(value)), None)
    if email:
        body["PrimaryEmailAddr"] = {"Address": email}
    body.update(_phones(record))
    address = {qbo: _clean(record.get(crm)) for crm, qbo in _ADDRESS if _clean(record.get(crm))}
    if address:
        body["BillAddr"] = address
    return body


def display_name(b24_type: str, record: dict[str, Any]) -> str:
    """The DisplayName rule: contact NAME LAST_NAME; company TITLE; lead COMPANY_TITLE, else its person, else TITLE.

    A record with none of these falls back to its first email, then phone, then "<Kind> <ID>", so the
    name is never blank (QuickBooks requires one) and is the same on every retry.
    """
    person = " ".join(p for p in (_clean(record.get("NAME")), _clean(record.get("LAST_NAME"))) if p)
    if b24_type == "contact":
        choices = [person]
    elif b24_type == "company":
        choices = [_clean(record.get("TITLE"))]
    else:
        choices = [_clean(record.get("COMPANY_TITLE")), person, _clean(record.get("TITLE"))]
    choices += [_clean(value) for value in _values(record, "EMAIL")[:1] + _values(record, "PHONE")[:1]]
    name = next((c for c in choices if c), f"{b24_type.capitalize()} {record['ID']}")
    return name[:MAX_DISPLAY_NAME].strip()


def numbered(name: str, attempt: int) -> str:
    """The DisplayName of the `attempt`-th try: the name itself, then "<name> (2)", "<name> (3)", …

    The base is shortened so the suffix always fits in the 500 characters QuickBooks allows.
    """
    if attempt <= 1:
        return name
    suffix = f" ({attempt})"
    return name[:MAX_DISPLAY_NAME - len(suffix)].rstrip() + suffix


def comm_keys(record: dict[str, Any]) -> set[str]:
    """The record's emails and phones as comparison keys: email lower-cased, phone digits only."""
    keys = {value.casefold() for value in _values(record, "EMAIL")}
    keys |= {digits for digits in ("".join(ch for ch in v if ch.isdigit()) for v in _values(record, "PHONE"))
             if digits}
    return keys


def check_record(b24_type: str, record: Any) -> None:
    """MappingError unless the record is a CRM contact, company or lead the mapper can read."""
    if b24_type not in B24_TYPES:
        raise MappingError(reason(NOT_A_CUSTOMER_KIND, kind=b24_type, kinds=", ".join(B24_TYPES)))
    if not isinstance(record, dict):
        raise MappingError(reason(B24_NOT_AN_OBJECT, kind=b24_type, type=type(record).__name__))
    try:
        _SCHEMA.load(record)
    except ValidationError as error:
        bad = ", ".join(sorted(error.messages))
        raise MappingError(reason(B24_MALFORMED, kind=b24_type, id=record.get("ID", "?"), fields=bad)) from None


def _clean(value: Any) -> str:
    """A name without the characters QuickBooks refuses, typographic quotes made plain, spaces collapsed."""
    text = _BANNED.sub(" ", str(value or "")).translate(_QUOTES)
    return " ".join(text.split())


def _name_parts(record: dict[str, Any]) -> dict[str, str]:
    pairs = (("GivenName", "NAME"), ("MiddleName", "SECOND_NAME"), ("FamilyName", "LAST_NAME"))
    parts = {qbo: _clean(record.get(crm))[:MAX_NAME_PART].strip() for qbo, crm in pairs}
    return {key: value for key, value in parts.items() if value}


def _values(record: dict[str, Any], kind: str) -> list[str]:
    return [str(row.get("VALUE") or "").strip() for row in record.get(kind) or []
            if isinstance(row, dict) and str(row.get("VALUE") or "").strip()]


def _phones(record: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each phone to the QuickBooks field of its kind; a second of a kind, or HOME/OTHER/PAGER, fills
    PrimaryPhone if still free, else AlternatePhone; what finds no free field is left out."""
    chosen: dict[str, dict[str, str]] = {}
    rest = []
    for row in record.get("PHONE") or []:
        value = str(row.get("VALUE") or "").strip() if isinstance(row, dict) else ""
        target = _PHONE_FIELDS.get(str(row.get("VALUE_TYPE") or "").upper()) if value else None
        if target and target not in chosen:
            chosen[target] = {"FreeFormNumber": value}
        elif value:
            rest.append(value)
    for value in rest:
        free = next((f for f in ("PrimaryPhone", "AlternatePhone") if f not in chosen), None)
        if free:
            chosen[free] = {"FreeFormNumber": value}
    return chosen
