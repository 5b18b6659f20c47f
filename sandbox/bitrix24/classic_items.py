"""Contacts and companies seen through crm.item (entityTypeId 3 and 4): the classic records, camelCase.

crm.item serves the same records crm.contact.* / crm.company.* do (reference §5 "crm.item
equivalents"), with the object-fields.md names, JSON numbers for ids, and multi-fields in `fm`
(DOCS tutorials/crm/how-to-edit-crm-objects/how-to-change-email-or-phone.md).
"""
from __future__ import annotations

import re
from typing import Any

from sandbox.bitrix24 import classic
from sandbox.bitrix24.errors import RestError
from sandbox.bitrix24.events import EventSender
from sandbox.bitrix24.item_keys import camel_to_upper, upper_to_camel
from sandbox.bitrix24.state import Portal, State
from sandbox.bitrix24.values import item_int, item_number, real_number

KIND_BY_TYPE = {3: "contact", 4: "company"}
# object-fields.md names whose classic column is spelled differently.
_RENAMED = {"createdBy": "CREATED_BY_ID", "updatedBy": "MODIFY_BY_ID", "createdTime": "DATE_CREATE",
            "updatedTime": "DATE_MODIFY", "companyIds": "COMPANY_IDS"}
_RENAMED_BY_KIND = {"contact": _RENAMED, "company": {**_RENAMED, "typeId": "COMPANY_TYPE"}}
# Classic-only columns crm.item does not list for these types (object-fields.md § contact, company).
_CLASSIC_ONLY = re.compile(r"^(ADDRESS_(?!LEGAL$).+|REG_ADDRESS.*|FACE_ID|LAST_COMMUNICATION_TIME)$")
_INTEGERS = {"id", "companyId", "leadId", "assignedById", "createdBy", "updatedBy", "lastActivityBy"}
_READ_ONLY = {"id", "createdBy", "updatedBy", "createdTime", "updatedTime", "hasPhone", "hasEmail",
              "hasImol", "lastActivityBy", "lastActivityTime", "entityTypeId", "categoryId", "contactIds",
              "observers"}


def _columns(kind: str) -> dict[str, str]:
    """crm.item name -> classic column for one kind."""
    renamed = _RENAMED_BY_KIND[kind]
    by_column = {column: name for name, column in renamed.items()}
    columns = ["ID", *classic.TEMPLATES[kind], "COMPANY_IDS" if kind == "contact" else None]
    return {by_column.get(c) or upper_to_camel(c): c for c in columns if c and not _CLASSIC_ONLY.match(c)}


def standard(kind: str) -> list[str]:
    """The standard crm.item field names of a kind (plus the computed ones and `fm`)."""
    computed = ["categoryId", "observers", "entityTypeId", "fm"] + (["contactIds"] if kind == "company" else [])
    return [*_columns(kind), *computed]


def _typed(name: str, value: Any) -> Any:
    """crm.item answers ids as JSON numbers where classic methods answer strings (only real numbers convert)."""
    if name == "companyIds":
        values = value if isinstance(value, list) else [] if value in (None, "") else [value]
        return None if value is None else [int(n) for n in map(real_number, values) if n is not None]
    number = real_number(value) if name in _INTEGERS or name == "revenue" else None
    if number is None:
        return value
    return int(number) if name in _INTEGERS else float(number)


def _checked(name: str, value: Any) -> Any:
    """A written number field as a number, or CRM_FIELD_ERROR_VALUE_NOT_VALID (empty clears the field)."""
    if name == "companyIds":
        values = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else [value]
        return [item_int(v, name) for v in values if v not in (None, "")]
    if value in (None, "") or (name not in _INTEGERS and name != "revenue"):
        return value
    return item_int(value, name) if name in _INTEGERS else item_number(value, name)


def fm_of(record: dict) -> list[dict]:
    """The record's multi-fields as the `fm` array (numeric ids)."""
    entries = [e for name in classic.MULTI for e in record.get(name) or []]
    return [{"id": int(e["ID"]), "valueType": e["VALUE_TYPE"], "value": e["VALUE"], "typeId": e["TYPE_ID"]}
            for e in sorted(entries, key=lambda e: int(e["ID"]))]


def contacts_by_company(portal: Portal) -> dict[int, list[int]]:
    """Company id -> its contacts' ids (COMPANY_ID or COMPANY_IDS), built once for a whole list."""
    links: dict[int, list[int]] = {}
    for contact in portal.entities.get("contact", {}).values():
        companies = {int(contact["COMPANY_ID"])} if contact.get("COMPANY_ID") else set()
        for company_id in sorted(companies | set(contact.get("COMPANY_IDS") or [])):
            links.setdefault(company_id, []).append(int(contact["ID"]))
    return links


def view(portal: Portal, kind: str, record: dict, entity_type_id: int,
         links: dict[int, list[int]] | None = None) -> dict:
    """One classic record as crm.item shows it (user fields keep their UPPER storage key)."""
    item = {name: _typed(name, record.get(column)) for name, column in _columns(kind).items()}
    item.update({"categoryId": 0, "observers": [], "entityTypeId": entity_type_id, "fm": fm_of(record)})
    if kind == "company":
        links = contacts_by_company(portal) if links is None else links
        item["contactIds"] = sorted(links.get(int(record["ID"]), []))
    for uf in portal.userfields.get(classic.UF_ENTITY[kind], []):
        item[uf["FIELD_NAME"]] = record.get(uf["FIELD_NAME"])
    return item


def _entry(raw: Any) -> dict | None:
    """One `fm` element with upper-cased keys (the controller converts nested keys too); None if unusable."""
    if not isinstance(raw, dict):
        return None
    entry = {camel_to_upper(str(k)): v for k, v in raw.items()}
    # DOCS how-to-change-email-or-phone.md: without typeId the element is silently skipped.
    return entry if str(entry.get("TYPE_ID") or "").upper() in classic.MULTI else None


def multi_changes(fm: Any, updating: bool) -> dict[str, list[dict]]:
    """`fm` as classic multi-field changes: an array adds; on update an object's keys pick the operation."""
    if isinstance(fm, list):
        fm = {f"n{i}": e for i, e in enumerate(fm)}
    if not isinstance(fm, dict):
        return {}  # a string is ignored without an error (how-to-change-email-or-phone.md § Key Considerations)
    changes: dict[str, list[dict]] = {}
    for key, raw in fm.items():
        entry = _entry(raw)
        if entry is None:
            continue
        change = {"VALUE": str(entry.get("VALUE") or "")}
        if updating and str(key).isdigit():
            change["ID"] = str(key)  # a known id changes the entry; an empty value deletes it
        elif not re.fullmatch(r"n\d+", str(key), re.IGNORECASE):
            continue
        # A new entry is WORK unless told; a changed one keeps its type (classic.apply_multi) unless told.
        if entry.get("VALUE_TYPE") or "ID" not in change:
            change["VALUE_TYPE"] = str(entry.get("VALUE_TYPE") or "WORK")
        changes.setdefault(str(entry["TYPE_ID"]).upper(), []).append(change)
    return changes


def classic_fields(kind: str, fields: dict, updating: bool) -> dict:
    """crm.item `fields` (storage keys) as classic columns; read-only fields are left out."""
    columns = _columns(kind)
    out: dict = {}
    for name, value in fields.items():
        if name == "fm":
            out.update(multi_changes(value, updating))
        elif name in columns and name not in _READ_ONLY:
            out[columns[name]] = _checked(name, value)
        elif name.startswith("UF_"):
            out[name] = value
    return out


def record(portal: Portal, kind: str, item_id: int) -> dict:
    """The classic record behind an item id or crm.item's NOT_FOUND."""
    found = portal.entities.get(kind, {}).get(item_id)
    if found is None:
        raise RestError(400, "NOT_FOUND", "Element not found")
    return found


def create(state: State, sender: EventSender, portal: Portal, kind: str, fields: dict, user_id: int) -> int:
    """Add a classic record from crm.item fields (fires ONCRM<KIND>ADD like crm.<kind>.add)."""
    return classic.create(state, sender, portal, kind, classic_fields(kind, fields, False), user_id)


def update(state: State, sender: EventSender, portal: Portal, kind: str, item_id: int, fields: dict,
           user_id: int) -> None:
    """Change a classic record from crm.item fields."""
    record(portal, kind, item_id)
    classic.update(state, sender, portal, kind, item_id, classic_fields(kind, fields, True), user_id)


def _type_of(name: str) -> str:
    """A crm.item.fields `type` for a contact/company field (object-fields.md types)."""
    special = {"fm": "crm_multifield", "companyId": "crm_company", "companyIds": "crm_company",
               "contactIds": "crm_contact", "revenue": "double", "birthdate": "date",
               "assignedById": "user", "createdBy": "user", "updatedBy": "user", "lastActivityBy": "user"}
    if name in special:
        return special[name]
    if name.endswith("Time"):
        return "datetime"
    return "integer" if name in _INTEGERS or name in ("categoryId", "entityTypeId") else "string"


def describe(kind: str) -> dict[str, dict]:
    """crm.item.fields for contacts or companies (user fields are added by the caller)."""
    multiple = {"fm", "companyIds", "contactIds", "observers"}
    return {name: {"type": _type_of(name), "isRequired": kind == "company" and name == "title",
                   "isReadOnly": name in _READ_ONLY, "isImmutable": False, "isMultiple": name in multiple,
                   "isDynamic": False, "title": name, "upperName": camel_to_upper(name)}
            for name in standard(kind)}
