"""Directories: crm.status.list, crm.category.list, crm.persontype.list, crm.paysystem.list; portal defaults."""
from __future__ import annotations

from sandbox.bitrix24.crm_store import dict_param, matches, ordered
from sandbox.bitrix24.currency import DEFAULT_CURRENCIES, set_currencies
from sandbox.bitrix24.errors import RestError
from sandbox.bitrix24.registry import CallContext, method, ok
from sandbox.bitrix24.state import Portal

# CORE CCrmStatusInvoice: P is the only success, SORT >= D's is failure. N/S are the usual defaults.
_INVOICE_STATUS = [("N", "New", 10, None), ("S", "Sent", 20, None), ("P", "Paid", 130, "S"),
                   ("D", "Declined", 140, "F")]
# 3rd-party code shows :N :S :P :D as the Smart Invoice defaults (reference §6).
_SMART_STAGES = [("N", "New", 10, None), ("S", "Sent to client", 20, None), ("P", "Paid", 30, "S"),
                 ("D", "Unpaid", 40, "F")]
_DEAL_STAGES = [("NEW", "New", 10, None), ("WON", "Deal won", 60, "S"), ("LOSE", "Deal lost", 70, "F")]
_LEAD_STATUS = [("NEW", "Not processed", 10, None), ("CONVERTED", "Converted", 50, "S"),
                ("JUNK", "Junk lead", 60, "F")]
_EXTRA = {None: "process", "S": "success", "F": "failure"}
PERSON_TYPES = [{"ID": "1", "NAME": "CRM_COMPANY", "LID": "s1", "SORT": "100", "ACTIVE": "Y", "XML_ID": ""},
                {"ID": "2", "NAME": "CRM_CONTACT", "LID": "s1", "SORT": "200", "ACTIVE": "Y", "XML_ID": ""}]
PAY_SYSTEMS = [
    {"ID": "1", "NAME": "Bank transfer", "ACTIVE": "Y", "SORT": "100", "DESCRIPTION": "",
     "PERSON_TYPE_ID": "1", "ACTION_FILE": "bill", "HANDLER": "bill", "HANDLER_CODE": "bill",
     "HANDLER_NAME": "Invoice"},
    {"ID": "2", "NAME": "Cash", "ACTIVE": "Y", "SORT": "200", "DESCRIPTION": "",
     "PERSON_TYPE_ID": "2", "ACTION_FILE": "cash", "HANDLER": "cash", "HANDLER_CODE": "cash",
     "HANDLER_NAME": "Cash"}]


def _rows(portal: Portal, entity: str, stages: list, category: int | None, prefix: str) -> None:
    """Append one directory's rows in crm.status.list shape (strings, SEMANTICS, EXTRA)."""
    colors = ["#39A8EF", "#2FC6F6", "#7BD500", "#FF5752"]
    for i, (code, name, sort, semantics) in enumerate(stages):
        portal.statuses.append({
            "ID": str(portal.next_id("status", 100)), "ENTITY_ID": entity,
            "STATUS_ID": f"{prefix}{code}", "NAME": name, "NAME_INIT": name, "SORT": str(sort),
            "SYSTEM": "Y", "CATEGORY_ID": None if category is None else str(category),
            "COLOR": colors[i % 4], "SEMANTICS": semantics,
            "EXTRA": {"SEMANTICS": _EXTRA[semantics], "COLOR": colors[i % 4]}})


def seed_directories(portal: Portal, invoice_category_id: int) -> None:
    """Default pipelines, stages and currencies of a new portal; the Smart Invoice category id varies."""
    # The deal pipeline "General" is id 0 and, unlike added ones, has no originId/originatorId
    # (DOCS crm-category-list.md example, entityTypeId 2).
    portal.categories = [{"id": invoice_category_id, "name": "Invoices", "sort": 500,
                          "entityTypeId": 31, "isDefault": "Y"},
                         {"id": 0, "name": "General", "sort": 300, "entityTypeId": 2, "isDefault": "Y"}]
    set_currencies(portal, DEFAULT_CURRENCIES)
    _rows(portal, "INVOICE_STATUS", _INVOICE_STATUS, None, "")
    _rows(portal, f"SMART_INVOICE_STAGE_{invoice_category_id}", _SMART_STAGES, invoice_category_id,
          f"DT31_{invoice_category_id}:")
    _rows(portal, "DEAL_STAGE", _DEAL_STAGES, 0, "")
    _rows(portal, "STATUS", _LEAD_STATUS, None, "")


def add_smart_invoice_stage(portal: Portal, category_id: int, code: str, name: str, sort: int,
                            semantics: str | None) -> None:
    """Seed one extra stage (e.g. a custom `UC_xxxx`) into a Smart Invoice pipeline."""
    _rows(portal, f"SMART_INVOICE_STAGE_{category_id}", [(code, name, sort, semantics)], category_id,
          f"DT31_{category_id}:")


@method("crm.status.list")
def status_list(ctx: CallContext, params: dict) -> dict:
    """Directory rows filtered by ENTITY_ID etc.; not paged, `total` as documented."""
    filter_ = {k.upper(): v for k, v in dict_param(params, "filter", True).items()}
    order = dict_param(params, "order", True) or {"SORT": "ASC"}
    rows = [r for r in ctx.portal.statuses if matches(r, filter_, lambda row, f: row.get(f.upper()))]
    rows = ordered(rows, {k.upper(): v for k, v in order.items()}, lambda r, f: r.get(f), "ID")
    return ok(rows, total=len(rows))


def add_category(portal: Portal, entity_type_id: int, name: str, sort: int) -> dict:
    """Seed one more (non-default) pipeline of deals or Smart Invoices; its id follows the portal's."""
    category = {"id": portal.next_id("category", 20), "name": name, "sort": sort, "entityTypeId": entity_type_id,
                "isDefault": "N", "originId": "", "originatorId": ""}
    portal.categories.append(category)
    if entity_type_id == 31:
        _rows(portal, f"SMART_INVOICE_STAGE_{category['id']}", _SMART_STAGES, category["id"],
              f"DT31_{category['id']}:")
    return category


@method("crm.category.list")
def category_list(ctx: CallContext, params: dict) -> dict:
    """Pipelines of deals (2) or Smart Invoices (31): `{"categories":[…]}` plus `total`, by sort."""
    try:
        entity_type_id = int(str(params.get("entityTypeId")))
    except ValueError:
        raise RestError(400, "NOT_FOUND", "Smart process not found") from None
    if entity_type_id not in (2, 31):
        raise RestError(400, "NOT_FOUND", "Smart process not found")
    rows = sorted((c for c in ctx.portal.categories if c["entityTypeId"] == entity_type_id),
                  key=lambda c: (c["sort"], c["id"]))
    return ok({"categories": rows}, total=len(rows))


@method("crm.persontype.list")
def persontype_list(ctx: CallContext, params: dict) -> dict:
    """Payer types for old invoices (names CRM_COMPANY / CRM_CONTACT; UNCERTAIN on real portals)."""
    return ok(PERSON_TYPES)


@method("crm.paysystem.list")
def paysystem_list(ctx: CallContext, params: dict) -> dict:
    """Pay systems for old invoices."""
    return ok(PAY_SYSTEMS)
