"""QuickBooks Customer -> Bitrix24 contact or company (contract §3; docs/mapping.md)."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from mappers.comm import Comm
from mappers.customer_kind import (DELETED_SUFFIX, CustomerKind, customer_kind, job_name, parent_id,
                                   top_level_id)
from mappers.digest import content_hash
from mappers.errors import MappingError
from mappers.origin import origin_id, originator_id
from mappers.reasons import LINKED_TO_ODD_KIND, SUB_CUSTOMER, UNKNOWN_CUSTOMER_RULE, reason
from mappers.schemas import CustomerSchema, checked

__all__ = ["Comm", "CustomerRecord", "map_customer", "is_sub_customer", "clean_name", "job_name", "parent_id",
           "top_level_id", "CUSTOMER_RULES"]

CUSTOMER_RULES = ("by_company_name", "always_contacts", "always_companies")
INACTIVE_NOTE = "Inactive in QuickBooks"
_PHONES = (("PrimaryPhone", "WORK"), ("Mobile", "MOBILE"), ("AlternatePhone", "OTHER"), ("Fax", "FAX"))
_SCHEMA = CustomerSchema()
_KINDS = ("contact", "company")


@dataclass(frozen=True)
class CustomerRecord:
    """What one QuickBooks customer becomes in the CRM."""

    qbo_id: str
    entity: str                           # "contact" | "company" (Link.b24_type)
    fields: dict[str, Any]                # UPPER_SNAKE crm.contact/company fields, no multi-fields
    emails: tuple[Comm, ...]
    phones: tuple[Comm, ...]
    person: dict[str, Any] | None         # the person contact of a company customer (engine adds COMPANY_ID)
    content_hash: str
    webs: tuple[Comm, ...] = field(default=())  # WEB multi-field (WebAddr); an addition to the contract


def is_sub_customer(customer: dict[str, Any]) -> bool:
    """A job or project (Job, ParentRef, IsProject): not a CRM record of its own."""
    return customer_kind(customer) is CustomerKind.SUB_CUSTOMER


def map_customer(customer: dict[str, Any], *, realm_id: str, rule: str,
                 linked_as: str | None = None) -> CustomerRecord:
    """The CRM record for a top-level QuickBooks customer under the portal's customer rule.

    `linked_as`: the kind of the CRM record already linked to the customer ("contact" or "company"). A
    linked record keeps its kind whatever the rule: the rule decides only for customers not linked yet.
    So a company a user exported under "always contacts" stays that company (with its person contact),
    and a rule changed later never re-creates linked records as the other kind."""
    checked(_SCHEMA, customer, "customer")
    if rule not in CUSTOMER_RULES:
        raise MappingError(reason(UNKNOWN_CUSTOMER_RULE, rule=rule, rules=", ".join(CUSTOMER_RULES)))
    if linked_as not in (None, *_KINDS):
        raise MappingError(reason(LINKED_TO_ODD_KIND, id=customer["Id"], kind=linked_as))
    if is_sub_customer(customer):
        raise MappingError(reason(SUB_CUSTOMER, id=customer["Id"]))
    entity = linked_as or _entity(customer, rule)
    markers = {"ORIGINATOR_ID": originator_id(realm_id), "ORIGIN_ID": origin_id("Customer", customer["Id"])}
    main = _company_fields(customer) if entity == "company" else _contact_fields(customer)
    # Every field we own is present, blank when QuickBooks has no value, so that an update clears a
    # value removed in QuickBooks instead of leaving the old one behind.
    fields_ = {**main, **_address(customer.get("BillAddr")), "COMMENTS": _comments(customer, entity), **markers}
    person = _person(customer, realm_id) if entity == "company" else None
    emails, phones, webs = _emails(customer), _phones(customer), _webs(customer)
    digest = content_hash({"entity": entity, "fields": fields_, "emails": [asdict(c) for c in emails],
                           "phones": [asdict(c) for c in phones], "webs": [asdict(c) for c in webs],
                           "person": person})
    return CustomerRecord(qbo_id=customer["Id"], entity=entity, fields=fields_, emails=emails, phones=phones,
                          person=person, content_hash=digest, webs=webs)


def clean_name(name: str | None) -> str:
    """A QuickBooks name without the " (deleted)" QuickBooks appends to inactive records."""
    return DELETED_SUFFIX.sub("", (name or "").strip()).strip()


def _entity(customer: dict[str, Any], rule: str) -> str:
    if rule == "always_contacts":
        return "contact"
    if rule == "always_companies":
        return "company"
    return "company" if customer_kind(customer) is CustomerKind.COMPANY else "contact"


def _name_parts(customer: dict[str, Any]) -> dict[str, str]:
    return {"NAME": clean_name(customer.get("GivenName")), "SECOND_NAME": clean_name(customer.get("MiddleName")),
            "LAST_NAME": clean_name(customer.get("FamilyName"))}


def _contact_fields(customer: dict[str, Any]) -> dict[str, Any]:
    parts = _name_parts(customer)
    if parts["NAME"] or parts["LAST_NAME"]:
        return parts
    display = clean_name(customer["DisplayName"])
    if str(customer.get("CompanyName") or "").strip():
        # a business name under "always contacts": never split it into first/last
        return {**parts, "NAME": display}
    return {**parts, **_split_display(display)}


def _split_display(display: str) -> dict[str, str]:
    """"Doe, Jack" (QuickBooks' last-name-first habit) or "Jack Doe"; one word is a first name."""
    last, comma, first = display.partition(",")
    if comma and first.strip() and last.strip() and "," not in first:
        return {"NAME": first.strip(), "LAST_NAME": last.strip()}
    first, _, last = display.rpartition(" ")
    return {"NAME": first.strip(), "LAST_NAME": last} if first.strip() else {"NAME": last}


def _company_fields(customer: dict[str, Any]) -> dict[str, Any]:
    title = clean_name(customer.get("CompanyName")) or clean_name(customer["DisplayName"])
    result: dict[str, Any] = {"TITLE": title}
    currency = (customer.get("CurrencyRef") or {}).get("value")
    if currency:
        result["CURRENCY_ID"] = currency
    return result


def _person(customer: dict[str, Any], realm_id: str) -> dict[str, Any] | None:
    parts = _name_parts(customer)
    if not (parts["NAME"] or parts["LAST_NAME"]):
        return None
    return {**parts, "ORIGINATOR_ID": originator_id(realm_id),
            "ORIGIN_ID": origin_id("Customer", customer["Id"], "person")}


def _address(addr: dict[str, Any] | None) -> dict[str, str]:
    addr = addr or {}
    rest = ", ".join(str(addr[k]).strip() for k in ("Line2", "Line3", "Line4", "Line5") if addr.get(k))
    pairs = {"ADDRESS": addr.get("Line1"), "ADDRESS_2": rest, "ADDRESS_CITY": addr.get("City"),
             "ADDRESS_POSTAL_CODE": addr.get("PostalCode"),
             "ADDRESS_PROVINCE": addr.get("CountrySubDivisionCode"), "ADDRESS_COUNTRY": addr.get("Country")}
    return {key: str(value or "").strip() for key, value in pairs.items()}


def _one_line(addr: dict[str, Any] | None) -> str:
    keys = ("Line1", "Line2", "Line3", "Line4", "Line5", "City", "CountrySubDivisionCode", "PostalCode",
            "Country")
    return ", ".join(str(addr[k]).strip() for k in keys if addr and addr.get(k) and str(addr[k]).strip())


def _comments(customer: dict[str, Any], entity: str) -> str:
    lines = []
    if customer.get("Active") is False:
        lines.append(INACTIVE_NOTE)
    company = clean_name(customer.get("CompanyName"))
    if entity == "contact" and company and company != clean_name(customer["DisplayName"]):
        lines.append(f"Company: {company}")
    ship = _one_line(customer.get("ShipAddr"))
    if ship and ship != _one_line(customer.get("BillAddr")):
        lines.append(f"Shipping address: {ship}")
    if str(customer.get("Notes") or "").strip():
        lines.append(str(customer["Notes"]).strip())
    return "\n".join(lines)


def _emails(customer: dict[str, Any]) -> tuple[Comm, ...]:
    # QuickBooks accepts several addresses in one field, separated by commas (its invoice-email rule).
    raw = str((customer.get("PrimaryEmailAddr") or {}).get("Address") or "")
    return tuple(Comm(part.strip(), "WORK") for part in re.split(r"[,;]", raw) if part.strip())


def _phones(customer: dict[str, Any]) -> tuple[Comm, ...]:
    numbers = ((str((customer.get(key) or {}).get("FreeFormNumber") or "").strip(), kind)
               for key, kind in _PHONES)
    return tuple(Comm(number, kind) for number, kind in numbers if number)


def _webs(customer: dict[str, Any]) -> tuple[Comm, ...]:
    uri = str((customer.get("WebAddr") or {}).get("URI") or "").strip()
    return (Comm(uri, "WORK"),) if uri else ()
