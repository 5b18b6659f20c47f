"""Classic CRM records (contact, company, lead, deal): storage, multi-fields, string output."""
from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from sandbox.bitrix24 import comm_index
from sandbox.bitrix24.crm_store import check_required_userfields, now_iso
from sandbox.bitrix24.errors import RestError, classic
from sandbox.bitrix24.events import EventSender, fire
from sandbox.bitrix24.state import Portal, State
from sandbox.bitrix24.userfields import label
from sandbox.bitrix24.values import number_text, php_float, php_int

MULTI = ("PHONE", "EMAIL", "WEB", "IM", "LINK")
_ADDRESS = ["ADDRESS", "ADDRESS_2", "ADDRESS_CITY", "ADDRESS_POSTAL_CODE", "ADDRESS_REGION",
            "ADDRESS_PROVINCE", "ADDRESS_COUNTRY", "ADDRESS_LOC_ADDR_ID"]
_UTM = ["UTM_SOURCE", "UTM_MEDIUM", "UTM_CAMPAIGN", "UTM_CONTENT", "UTM_TERM"]
_ORIGIN = ["ORIGINATOR_ID", "ORIGIN_ID", "ORIGIN_VERSION"]
_AUDIT = ["ASSIGNED_BY_ID", "CREATED_BY_ID", "MODIFY_BY_ID", "DATE_CREATE", "DATE_MODIFY", "OPENED"]
# Key sets follow the documented crm.contact.get / crm.company.get answers.
TEMPLATES: dict[str, list[str]] = {
    "contact": ["POST", "COMMENTS", "HONORIFIC", "NAME", "SECOND_NAME", "LAST_NAME", "PHOTO",
                "LEAD_ID", "TYPE_ID", "SOURCE_ID", "SOURCE_DESCRIPTION", "COMPANY_ID", "BIRTHDATE",
                "EXPORT", "HAS_PHONE", "HAS_EMAIL", "HAS_IMOL", *_AUDIT, *_ORIGIN, "FACE_ID",
                "LAST_ACTIVITY_TIME", *_ADDRESS, *_UTM, "LAST_ACTIVITY_BY"],
    "company": ["COMPANY_TYPE", "TITLE", "LOGO", "LEAD_ID", "HAS_PHONE", "HAS_EMAIL", "HAS_IMOL",
                "BANKING_DETAILS", "INDUSTRY", "REVENUE", "CURRENCY_ID", "EMPLOYEES", "COMMENTS",
                *_AUDIT, "IS_MY_COMPANY", *_ORIGIN, *_ADDRESS, "ADDRESS_COUNTRY_CODE",
                "ADDRESS_LEGAL", *["REG_" + a for a in _ADDRESS], "REG_ADDRESS_COUNTRY_CODE", *_UTM,
                "LAST_ACTIVITY_BY", "LAST_ACTIVITY_TIME", "LAST_COMMUNICATION_TIME"],
    "lead": ["TITLE", "HONORIFIC", "NAME", "SECOND_NAME", "LAST_NAME", "COMPANY_TITLE", "COMPANY_ID",
             "CONTACT_ID", "STATUS_ID", "SOURCE_ID", "OPPORTUNITY", "CURRENCY_ID", "COMMENTS",
             "HAS_PHONE", "HAS_EMAIL", "HAS_IMOL", *_AUDIT, *_ORIGIN, *_UTM],
    "deal": ["TITLE", "TYPE_ID", "CATEGORY_ID", "STAGE_ID", "PROBABILITY", "CURRENCY_ID",
             "OPPORTUNITY", "COMPANY_ID", "CONTACT_ID", "BEGINDATE", "CLOSEDATE", "CLOSED",
             "COMMENTS", *_AUDIT, *_ORIGIN, *_UTM],
}
DEFAULTS = {"contact": {"TYPE_ID": "CLIENT", "SOURCE_ID": "SELF", "EXPORT": "Y"},
            "company": {"COMPANY_TYPE": "CUSTOMER", "CURRENCY_ID": "USD", "REVENUE": "0",
                        "IS_MY_COMPANY": "N", "COMMENTS": ""},
            "lead": {"STATUS_ID": "NEW", "CURRENCY_ID": "USD", "OPPORTUNITY": "0.00"},
            "deal": {"CATEGORY_ID": "0", "STAGE_ID": "NEW", "CURRENCY_ID": "USD",
                     "OPPORTUNITY": "0.00", "CLOSED": "N", "TYPE_ID": "SALE"}}
UF_ENTITY = {"contact": "CRM_CONTACT", "company": "CRM_COMPANY", "lead": "CRM_LEAD", "deal": "CRM_DEAL"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Number columns are cast like PHP, never refused: CORE restservice.php `internalizeFields` passes scalar
# integer fields on, CCrm<Kind>::Add/Update cast them ((int), floatval). A link cast to 0 is no link; a
# user id cast to <= 0 is the caller on add and left unchanged on update (crm_company.php, crm_contact.php).
_LINKS = ("COMPANY_ID", "LEAD_ID", "CONTACT_ID")
_USERS = ("ASSIGNED_BY_ID", "CREATED_BY_ID", "MODIFY_BY_ID", "LAST_ACTIVITY_BY")
# Binding lists kept beside the single columns; crm.<kind>.get does not answer them (methods_classic).
ID_LISTS = ("COMPANY_IDS", "CONTACT_IDS")


def fields_description(kind: str, portal: Portal) -> dict:
    """`crm.<kind>.fields`: the documented description plus this portal's user fields."""
    if kind in ("contact", "company"):
        described = json.loads(resources.files("sandbox.bitrix24").joinpath(
            f"data/{kind}_fields.json").read_text(encoding="utf-8"))
    else:
        described = {"ID": {"type": "integer", "isRequired": False, "isReadOnly": True,
                            "isImmutable": False, "isMultiple": False, "isDynamic": False, "title": "ID"}}
        described.update({k: {"type": "string", "isRequired": False, "isReadOnly": False,
                              "isImmutable": False, "isMultiple": False, "isDynamic": False,
                              "title": k} for k in TEMPLATES[kind]})
    for uf in portal.userfields.get(UF_ENTITY[kind], []):
        described[uf["FIELD_NAME"]] = {
            "type": uf["USER_TYPE_ID"], "isRequired": uf["MANDATORY"] == "Y", "isReadOnly": False,
            "isImmutable": False, "isMultiple": uf["MULTIPLE"] == "Y", "isDynamic": True,
            "title": uf["FIELD_NAME"], "listLabel": label(uf, "LIST_COLUMN_LABEL") or uf["FIELD_NAME"],
            "formLabel": label(uf, "EDIT_FORM_LABEL") or uf["FIELD_NAME"]}
    return described


def _scalar(value: Any) -> Any:
    """Classic methods keep every scalar as a string."""
    if value is None or isinstance(value, (str, list, dict)):
        return value
    if isinstance(value, bool):
        return "Y" if value else "N"
    return str(value)


def _column(record: dict, key: str, value: Any) -> Any:
    """The stored value of one column: PHP casts for number columns, strings for the rest."""
    if key in _LINKS:
        link = php_int(value)
        return str(link) if link > 0 else None
    if key in _USERS:
        user = php_int(value)
        return str(user) if user > 0 else record.get(key)
    if key == "REVENUE":
        return None if value is None else number_text(php_float(value))
    if key in ID_LISTS:
        values = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else [value]
        return [n for n in (php_int(v) for v in values) if n > 0]
    return _scalar(value)


def _multi_entries(raw: Any) -> list[dict]:
    """Multi-field input as a list of dicts (PHP form bodies may give a keyed dict)."""
    if isinstance(raw, dict):
        raw = list(raw.values())
    if not isinstance(raw, list):
        raise classic("Multi-field value must be array.")
    return [e for e in raw if isinstance(e, dict)]


def _check_email(entry: dict) -> None:
    """Reference §5: an invalid email gives ERROR_CORE on add/update."""
    value = str(entry.get("VALUE") or "")
    if value and not _EMAIL.match(value):
        raise RestError(400, "ERROR_CORE", f"Invalid email address: {value}")


def apply_multi(portal: Portal, record: dict, name: str, raw: Any) -> None:
    """Entries without ID are added; with ID they change or, when DELETE/empty, go away."""
    current = record.setdefault(name, [])
    for entry in _multi_entries(raw):
        if name == "EMAIL":
            _check_email(entry)
        if "ID" not in entry or entry.get("ID") in ("", None):
            if entry.get("VALUE"):
                current.append({"ID": str(portal.next_id("fm", 100)),
                                "VALUE_TYPE": str(entry.get("VALUE_TYPE") or "WORK"),
                                "VALUE": str(entry["VALUE"]), "TYPE_ID": name})
            continue
        target = next((e for e in current if e["ID"] == str(entry["ID"])), None)
        if target is None:
            continue
        if entry.get("DELETE") == "Y" or not entry.get("VALUE"):
            current.remove(target)
        else:
            target["VALUE"] = str(entry["VALUE"])
            target["VALUE_TYPE"] = str(entry.get("VALUE_TYPE") or target["VALUE_TYPE"])
    record["HAS_PHONE"] = "Y" if record.get("PHONE") else "N"
    record["HAS_EMAIL"] = "Y" if record.get("EMAIL") else "N"


def _apply(portal: Portal, kind: str, record: dict, fields: dict) -> None:
    """Write the known and user fields; unknown ones are silently ignored (reference §5)."""
    known = set(TEMPLATES[kind]) | {uf["FIELD_NAME"] for uf in portal.userfields.get(UF_ENTITY[kind], [])}
    for key, value in fields.items():
        key = str(key).upper()
        if key in MULTI:
            apply_multi(portal, record, key, value)
        elif key in known or key.startswith("PARENT_ID_") or key == "COMPANY_IDS":
            record[key] = _column(record, key, value)
        elif kind == "deal" and key == "CONTACT_IDS":
            record[key] = _column(record, key, value)
    if kind == "deal":
        _bind_deal_contacts(record, {str(k).upper() for k in fields})


def _bind_deal_contacts(record: dict, given: set[str]) -> None:
    """CONTACT_IDS (DOCS crm-deal-add.md) binds several contacts, the first primary, which CONTACT_ID
    ("Deprecated") then shows; CONTACT_ID alone binds that one contact (the core's single-binding
    compatibility mode in CCrmDeal::Update)."""
    if "CONTACT_IDS" in given:
        ids = record.get("CONTACT_IDS") or []
        record["CONTACT_ID"] = str(ids[0]) if ids else None
    elif "CONTACT_ID" in given:
        record["CONTACT_IDS"] = [int(record["CONTACT_ID"])] if record.get("CONTACT_ID") else []


def _unbind_deals(portal: Portal, contact_id: int) -> None:
    """A deleted contact leaves every deal (CCrmContact::Delete → DealContactTable::unbindAllDeals); the next
    bound contact becomes the primary one (UNCERTAIN: the docs do not say which)."""
    for deal in portal.entities.get("deal", {}).values():
        bound = deal_contact_ids(deal)
        if contact_id in bound:
            deal["CONTACT_IDS"] = [n for n in bound if n != contact_id]
            deal["CONTACT_ID"] = str(deal["CONTACT_IDS"][0]) if deal["CONTACT_IDS"] else None


def deal_contact_ids(deal: dict) -> list[int]:
    """The deal's bound contacts, primary first."""
    if deal.get("CONTACT_IDS") is not None:
        return list(deal["CONTACT_IDS"])
    return [int(deal["CONTACT_ID"])] if deal.get("CONTACT_ID") else []


def create(state: State, sender: EventSender, portal: Portal, kind: str, fields: dict,
           user_id: int = 1, origin: str = "user") -> int:
    """Add a record, fire ON CRM <KIND> ADD, and return the new id."""
    now = now_iso()
    record: dict = {k: None for k in TEMPLATES[kind]}
    record.update(DEFAULTS[kind])
    for uf in portal.userfields.get(UF_ENTITY[kind], []):
        record[uf["FIELD_NAME"]] = "" if uf["USER_TYPE_ID"] == "string" else None
    record.update({"ASSIGNED_BY_ID": str(user_id), "CREATED_BY_ID": str(user_id),
                   "MODIFY_BY_ID": str(user_id), "DATE_CREATE": now, "DATE_MODIFY": now,
                   "OPENED": "Y", "HAS_PHONE": "N", "HAS_EMAIL": "N", "HAS_IMOL": "N"})
    if kind in ("contact", "company"):
        record.update({"LAST_ACTIVITY_BY": str(user_id), "LAST_ACTIVITY_TIME": now})
    _apply(portal, kind, record, fields)
    check_required_userfields(portal, UF_ENTITY[kind], record)
    new_id = portal.next_id(kind)
    record["ID"] = str(new_id)
    if kind == "deal" and not record.get("TITLE"):
        record["TITLE"] = f"Deal #{new_id}"
    portal.entities.setdefault(kind, {})[new_id] = record
    comm_index.put(portal, kind, new_id, record)
    fire(state, sender, portal, f"ONCRM{kind.upper()}ADD", {"FIELDS": {"ID": str(new_id)}}, user_id, origin)
    return new_id


def update(state: State, sender: EventSender, portal: Portal, kind: str, entity_id: int,
           fields: dict, user_id: int = 1, origin: str = "user") -> None:
    """Change a record and fire ON CRM <KIND> UPDATE."""
    record = portal.entities.get(kind, {}).get(entity_id)
    if record is None:
        raise classic("Not found")
    candidate = json.loads(json.dumps(record))
    _apply(portal, kind, candidate, fields)
    check_required_userfields(portal, UF_ENTITY[kind], candidate)
    candidate.update({"DATE_MODIFY": now_iso(), "MODIFY_BY_ID": str(user_id)})
    record.clear()
    record.update(candidate)
    comm_index.put(portal, kind, entity_id, record)
    fire(state, sender, portal, f"ONCRM{kind.upper()}UPDATE", {"FIELDS": {"ID": str(entity_id)}}, user_id,
         origin)


def delete(state: State, sender: EventSender, portal: Portal, kind: str, entity_id: int,
           user_id: int = 1) -> None:
    """Remove a record and fire ON CRM <KIND> DELETE."""
    if portal.entities.get(kind, {}).pop(entity_id, None) is None:
        raise classic("Not found")
    comm_index.drop(portal, kind, entity_id)
    if kind == "contact":
        _unbind_deals(portal, entity_id)
    fire(state, sender, portal, f"ONCRM{kind.upper()}DELETE", {"FIELDS": {"ID": str(entity_id)}}, user_id)
