"""Smart Invoice records (crm.item, entityTypeId 31): storage with camelCase, numeric ids."""
from __future__ import annotations

import copy
import re
from datetime import date, timedelta
from typing import Any

from sandbox.bitrix24.crm_store import check_required_userfields, now_iso
from sandbox.bitrix24.errors import RestError
from sandbox.bitrix24.events import EventSender, fire
from sandbox.bitrix24.state import Portal, State
from sandbox.bitrix24.values import item_int, item_number

ENTITY_TYPE_ID = 31
KIND = "smart_invoice"
UF_ENTITY = "CRM_SMART_INVOICE"
_INT_FIELDS = {"companyId", "contactId", "mycompanyId", "assignedById", "webformId", "locationId",
               "parentId2", "parentId7", "categoryId"}
_TEXT_FIELDS = {"title", "xmlId", "accountNumber", "currencyId", "stageId", "sourceId",
                "sourceDescription", "comments", "opened", "isManualOpportunity", "begindate", "closedate"}
_NUM_FIELDS = {"opportunity", "taxValue"}
_LIST_FIELDS = {"contactIds", "observers"}
WRITABLE = _INT_FIELDS | _TEXT_FIELDS | _NUM_FIELDS | _LIST_FIELDS
_DATE_FIELDS = {"begindate", "closedate"}
_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:$|[T ])")


def categories(portal: Portal) -> list[dict]:
    """The portal's Smart Invoice pipelines."""
    return [c for c in portal.categories if c["entityTypeId"] == ENTITY_TYPE_ID]


def default_category(portal: Portal) -> int:
    """The id of the default Smart Invoice pipeline (differs between portals)."""
    return next(c["id"] for c in categories(portal) if c["isDefault"] == "Y")


def base_currency(portal: Portal) -> str:
    """The portal's base currency, a new invoice's default (crm_currency BASE = Y)."""
    return next((c["CURRENCY"] for c in portal.currencies if c["BASE"] == "Y"), "USD")


def stage_ids(portal: Portal, category_id: int) -> list[str]:
    """Stage ids of a Smart Invoice pipeline, in sort order."""
    entity = f"SMART_INVOICE_STAGE_{category_id}"
    rows = sorted((s for s in portal.statuses if s["ENTITY_ID"] == entity), key=lambda s: int(s["SORT"]))
    return [s["STATUS_ID"] for s in rows]


def semantic_of(portal: Portal, stage_id: str) -> str:
    """`stageSemanticId`: P in progress, S success, F failure."""
    row = next((s for s in portal.statuses if s["STATUS_ID"] == stage_id), None)
    return (row or {}).get("SEMANTICS") or "P"


def _coerce(field: str, value: Any) -> Any:
    """Check and convert one writable field."""
    if field in _INT_FIELDS:
        return item_int(value, field) if value not in (None, "") else 0
    if field in _NUM_FIELDS:
        return item_number(value, field)
    if field in _LIST_FIELDS:
        values = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else [value]
        return [item_int(v, field) for v in values if v not in (None, "")]
    if field in _DATE_FIELDS and _DAY.match(str(value or "")):
        # DOCS crm-item-get.md answers a date field as a date-time ("2024-06-18T02:00:00+02:00"), however
        # it was written; the sandbox's portal clock is UTC, as the defaults in _new_item.
        return f"{_DAY.match(str(value)).group(1)}T00:00:00+00:00"
    return None if value is None else str(value)


def _apply(portal: Portal, item: dict, fields: dict) -> None:
    """Write known fields; unknown fields are silently ignored (reference §6)."""
    ufs = set(userfield_names(portal))
    for field, value in fields.items():
        if field in WRITABLE:
            item[field] = _coerce(field, value)
        elif field in ufs:
            item[field] = value
    if "contactIds" in fields:
        item["contactId"] = item["contactIds"][0] if item["contactIds"] else 0
    elif "contactId" in fields:
        item["contactIds"] = [item["contactId"]] if item["contactId"] else []
    # CORE crm/lib/field/currencyid.php: a currency the portal does not have is not a valid value.
    if "currencyId" in fields and item["currencyId"] not in {c["CURRENCY"] for c in portal.currencies}:
        raise RestError(400, "CRM_FIELD_ERROR_VALUE_NOT_VALID", "Invalid value for field \"currencyId\"")
    if item["stageId"] not in stage_ids(portal, item["categoryId"]):
        raise RestError(400, "CRM_FIELD_ERROR_VALUE_NOT_VALID", f"Stage \"{item['stageId']}\" not found")
    item["stageSemanticId"] = semantic_of(portal, item["stageId"])


def _new_item(user_id: int, category_id: int, stage_id: str) -> dict:
    """A blank Smart Invoice with the documented defaults."""
    now, today = now_iso(), date.today()
    return {"id": 0, "xmlId": None, "title": "", "createdBy": user_id, "updatedBy": user_id,
            "movedBy": user_id, "createdTime": now, "updatedTime": now, "movedTime": now,
            "categoryId": category_id, "opened": "N", "previousStageId": "",
            "stageId": stage_id, "stageSemanticId": "P",
            "begindate": f"{today.isoformat()}T00:00:00+00:00",
            "closedate": f"{(today + timedelta(days=7)).isoformat()}T00:00:00+00:00",
            "companyId": 0, "contactId": 0, "opportunity": 0, "isManualOpportunity": "N",
            "taxValue": 0, "currencyId": "USD", "mycompanyId": 0, "sourceId": None,
            "sourceDescription": None, "webformId": 0, "assignedById": user_id, "accountNumber": "",
            "lastActivityBy": user_id, "lastActivityTime": now, "parentId2": 0, "parentId7": 0,
            "comments": None, "locationId": None, "observers": [], "contactIds": [],
            "entityTypeId": ENTITY_TYPE_ID}


STANDARD = tuple(_new_item(0, 0, ""))


def userfield_names(portal: Portal) -> list[str]:
    """The portal's Smart Invoice user field names (UPPER_CASE, as stored)."""
    return [uf["FIELD_NAME"] for uf in portal.userfields.get(UF_ENTITY, [])]


def view(portal: Portal, item: dict) -> dict:
    """A stored invoice with the portal's current user fields (null when never set)."""
    return {**{k: item[k] for k in STANDARD}, **{uf: item.get(uf) for uf in userfield_names(portal)}}


def _fire(state: State, sender: EventSender, portal: Portal, verb: str, item_id: int, user_id: int,
          origin: str) -> None:
    """ONCRMDYNAMICITEM<verb> with ENTITY_TYPE_ID 31; the `_31` suffixed name is UNCERTAIN, sent too."""
    data = {"FIELDS": {"ID": str(item_id), "ENTITY_TYPE_ID": str(ENTITY_TYPE_ID)}}
    for name in (f"ONCRMDYNAMICITEM{verb}", f"ONCRMDYNAMICITEM{verb}_{ENTITY_TYPE_ID}"):
        fire(state, sender, portal, name, data, user_id, origin)


def create(state: State, sender: EventSender, portal: Portal, fields: dict, user_id: int = 1,
           origin: str = "user") -> dict:
    """Add a Smart Invoice and fire ONCRMDYNAMICITEMADD (`origin`: who made it, events.fire)."""
    category_id = item_int(fields.get("categoryId") or default_category(portal), "categoryId")
    if not any(c["id"] == category_id for c in categories(portal)):
        raise RestError(400, "CRM_FIELD_ERROR_VALUE_NOT_VALID", "Category not found")
    item = _new_item(user_id, category_id, stage_ids(portal, category_id)[0])
    item["currencyId"] = base_currency(portal)
    _apply(portal, item, fields)
    check_required_userfields(portal, UF_ENTITY, item)
    item["id"] = portal.next_id(KIND)
    item["title"] = item["title"] or f"Invoice #{item['id']}"
    item["accountNumber"] = item["accountNumber"] or str(item["id"])
    portal.entities.setdefault(KIND, {})[item["id"]] = item
    _fire(state, sender, portal, "ADD", item["id"], user_id, origin)
    return item


def get(portal: Portal, item_id: int) -> dict:
    """One Smart Invoice or 400 NOT_FOUND."""
    item = portal.entities.get(KIND, {}).get(item_id)
    if item is None:
        raise RestError(400, "NOT_FOUND", "Element not found")
    return item


def update(state: State, sender: EventSender, portal: Portal, item_id: int, fields: dict,
           user_id: int = 1, origin: str = "user") -> dict:
    """Change a Smart Invoice (stage moves tracked) and fire ONCRMDYNAMICITEMUPDATE."""
    item = get(portal, item_id)
    candidate = copy.deepcopy(item)
    _apply(portal, candidate, fields)
    check_required_userfields(portal, UF_ENTITY, candidate)
    now = now_iso()
    if candidate["stageId"] != item["stageId"]:
        candidate.update({"previousStageId": item["stageId"], "movedTime": now, "movedBy": user_id})
    candidate.update({"updatedTime": now, "updatedBy": user_id})
    item.clear()
    item.update(candidate)
    _fire(state, sender, portal, "UPDATE", item_id, user_id, origin)
    return item


def delete(state: State, sender: EventSender, portal: Portal, item_id: int, user_id: int = 1) -> None:
    """Remove a Smart Invoice and its product rows."""
    get(portal, item_id)
    del portal.entities[KIND][item_id]
    portal.entities.get("product_rows", {}).pop(item_id, None)
    _fire(state, sender, portal, "DELETE", item_id, user_id, "user")
