"""REST methods crm.item.* (Smart Invoices, entityTypeId 31) and crm.item.productrow.*."""
from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from sandbox.bitrix24 import smart_invoice as store
from sandbox.bitrix24.crm_store import dict_param, list_param, matches, ordered, page, start_of
from sandbox.bitrix24.errors import RestError
from sandbox.bitrix24.registry import CallContext, method, ok

# Types a real portal serves through crm.item that this sandbox does not model.
_UNMODELLED = {1, 2, 3, 4, 7}


def _entity_type(params: dict) -> int:
    """Check `entityTypeId`: 31 works, 5 is ENTITY_TYPE_NOT_SUPPORTED, others NOT_FOUND."""
    raw = params.get("entityTypeId", params.get("ENTITY_TYPE_ID"))
    try:
        value = int(str(raw))
    except (TypeError, ValueError):
        raise RestError(400, "NOT_FOUND", "Smart process not found") from None
    if value == 5:
        raise RestError(400, "ENTITY_TYPE_NOT_SUPPORTED", "Entity type 5 is not supported")
    if value in _UNMODELLED:
        raise RestError(501, "SANDBOX_NOT_IMPLEMENTED", f"crm.item for entityTypeId {value} is not modelled")
    if value != store.ENTITY_TYPE_ID:
        raise RestError(400, "NOT_FOUND", "Smart process not found")
    return value


def _item_id(params: dict) -> int:
    """The integer `id` (engine controllers refuse non-integers with INVALID_ARG_VALUE)."""
    raw = params.get("id")
    try:
        return int(str(raw))
    except (TypeError, ValueError):
        raise RestError(400, "INVALID_ARG_VALUE",
                        f"Invalid value {raw} to match with parameter {{id}}. Should be value of type int.") from None


def _fields(params: dict) -> dict:
    """The `fields` object."""
    fields = params.get("fields")
    if not isinstance(fields, dict):
        raise RestError(400, "INVALID_ARG_VALUE", "Parameter 'fields' must be an object")
    return fields


@method("crm.item.add")
def item_add(ctx: CallContext, params: dict) -> dict:
    """`{"result":{"item":{…}}}`."""
    _entity_type(params)
    return ok({"item": store.create(ctx.state, ctx.sender, ctx.portal, _fields(params), ctx.user_id)})


@method("crm.item.get")
def item_get(ctx: CallContext, params: dict) -> dict:
    """`{"result":{"item":{…}}}` or 400 NOT_FOUND."""
    _entity_type(params)
    return ok({"item": store.get(ctx.portal, _item_id(params))})


@method("crm.item.update")
def item_update(ctx: CallContext, params: dict) -> dict:
    """`{"result":{"item":{…}}}`."""
    _entity_type(params)
    item = store.update(ctx.state, ctx.sender, ctx.portal, _item_id(params), _fields(params), ctx.user_id)
    return ok({"item": item})


@method("crm.item.delete")
def item_delete(ctx: CallContext, params: dict) -> dict:
    """`{"result":[]}` as documented."""
    _entity_type(params)
    store.delete(ctx.state, ctx.sender, ctx.portal, _item_id(params), ctx.user_id)
    return ok([])


@method("crm.item.fields")
def item_fields(ctx: CallContext, params: dict) -> dict:
    """The documented field description."""
    _entity_type(params)
    described = json.loads(resources.files("sandbox.bitrix24").joinpath(
        "data/smart_invoice_fields.json").read_text(encoding="utf-8"))
    fields = described["fields"]
    # The copied doc example came from a custom smart process; a Smart Invoice's stages are this directory.
    status_type = f"SMART_INVOICE_STAGE_{store.default_category(ctx.portal)}"
    for name in ("stageId", "previousStageId"):
        fields[name]["statusType"] = status_type
    for uf in ctx.portal.userfields.get(store.UF_ENTITY, []):
        fields[uf["FIELD_NAME"]] = _userfield(uf)
    return ok(described)


def _userfield(uf: dict) -> dict:
    """A portal's Smart Invoice user field as crm.item.fields lists it (isDynamic, UF_CRM_… upperName)."""
    name = uf["FIELD_NAME"]
    upper = name if name.isupper() else re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[a-zA-Z])(?=[0-9])", "_", name).upper()
    return {"type": uf["USER_TYPE_ID"], "isRequired": uf["MANDATORY"] == "Y", "isReadOnly": False,
            "isImmutable": False, "isMultiple": uf["MULTIPLE"] == "Y", "isDynamic": True,
            "title": name, "upperName": upper}


def _value(row: dict, field: str) -> Any:
    """Filter/order value of a field."""
    return row.get(field)


def _check_known(portal_row_keys: set[str], filter_: dict, order: dict) -> None:
    """Unknown filter/order fields are refused (reference §6)."""
    for key in filter_:
        if key == "logic" or key.isdigit():
            continue
        field = key.lstrip(">=<!@%")
        if field not in portal_row_keys:
            raise RestError(400, "INVALID_ARG_VALUE", f"Invalid filter: field '{field}' is not allowed in filter")
    for key in order:
        if key not in portal_row_keys:
            raise RestError(400, "INVALID_ARG_VALUE", f"Invalid order: field '{key}' is not allowed in order")


@method("crm.item.list")
def item_list(ctx: CallContext, params: dict) -> dict:
    """`{"result":{"items":[…]},"total":N,"next":50}`."""
    _entity_type(params)
    filter_, order = dict_param(params, "filter", False), dict_param(params, "order", False)
    known = set(store.WRITABLE) | set(store._new_item(ctx.portal, 1, store.default_category(ctx.portal)))
    _check_known(known, filter_, order)
    rows = [r for r in ctx.portal.entities.get(store.KIND, {}).values() if matches(r, filter_, _value)]
    rows = ordered(rows, order, _value, "id")
    chunk, total, following = page(rows, start_of(params))
    select = [str(s) for s in list_param(params, "select")]
    if select and "*" not in select:
        chunk = [{k: v for k, v in r.items() if k == "id" or k in select} for r in chunk]
    return ok({"items": chunk}, total=total, next=following)


def _owner(ctx: CallContext, params: dict) -> dict:
    """The Smart Invoice behind ownerType SI / ownerId."""
    if str(params.get("ownerType", "")).upper() != "SI":
        raise RestError(400, "INVALID_ARG_VALUE", "Only ownerType SI (Smart Invoice) is modelled")
    return store.get(ctx.portal, _item_id({"id": params.get("ownerId")}))


def _row(ctx: CallContext, owner_id: int, raw: dict, sort: int) -> dict:
    """A stored product row with the computed prices."""
    price, qty = float(raw.get("price") or 0), float(raw.get("quantity") or 1)
    tax_rate = None if raw.get("taxRate") in (None, "") else float(raw["taxRate"])
    return {"id": ctx.portal.next_id("product_row", 1), "ownerId": owner_id, "ownerType": "SI",
            "productId": int(raw.get("productId") or 0), "productName": str(raw.get("productName") or ""),
            "price": price, "priceAccount": price, "priceExclusive": price, "priceNetto": price,
            "priceBrutto": price, "quantity": qty, "discountTypeId": int(raw.get("discountTypeId") or 2),
            "discountRate": float(raw.get("discountRate") or 0), "discountSum": float(raw.get("discountSum") or 0),
            "taxRate": tax_rate, "taxIncluded": str(raw.get("taxIncluded") or "N"), "customized": "Y",
            "measureCode": int(raw.get("measureCode") or 796), "measureName": str(raw.get("measureName") or "pcs"),
            "sort": int(raw.get("sort") or sort), "type": 1}


@method("crm.item.productrow.set")
def productrow_set(ctx: CallContext, params: dict) -> dict:
    """Replace all rows; totals are recalculated (DOCS product-rows)."""
    item = _owner(ctx, params)
    raw_rows = params.get("productRows", [])
    raw_rows = list(raw_rows.values()) if isinstance(raw_rows, dict) else raw_rows
    if not isinstance(raw_rows, list) or not all(isinstance(r, dict) for r in raw_rows):
        raise RestError(400, "INVALID_ARG_VALUE", "Parameter 'productRows' must be an array of objects")
    rows = [_row(ctx, item["id"], r, (i + 1) * 10) for i, r in enumerate(raw_rows)]
    ctx.portal.entities.setdefault("product_rows", {})[item["id"]] = rows
    if item["isManualOpportunity"] != "Y":
        total = round(sum(r["price"] * r["quantity"] for r in rows), 2)
        store.update(ctx.state, ctx.sender, ctx.portal, item["id"], {"opportunity": total}, ctx.user_id)
    return ok({"productRows": rows})


@method("crm.item.productrow.list")
def productrow_list(ctx: CallContext, params: dict) -> dict:
    """Rows of one owner, selected by filter `=ownerType`/`=ownerId`."""
    filter_ = dict_param(params, "filter", False)
    owner = {"ownerType": filter_.get("=ownerType", filter_.get("ownerType")),
             "ownerId": filter_.get("=ownerId", filter_.get("ownerId"))}
    item = _owner(ctx, owner)
    return ok({"productRows": ctx.portal.entities.get("product_rows", {}).get(item["id"], [])})
