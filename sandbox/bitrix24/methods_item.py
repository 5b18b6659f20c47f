"""REST methods crm.item.* for Smart Invoices (31), contacts (3) and companies (4).

Every key of `fields`, `filter`, `order` and `select` goes through the type's FieldNames, so
UPPER_SNAKE and camelCase spellings mean the same field (item_keys.py); answers are camelCase.
"""
from __future__ import annotations

import json
from importlib import resources
from typing import Any

from sandbox.bitrix24 import classic_items, permissions, smart_invoice
from sandbox.bitrix24.crm_store import dict_param, list_param, ordered, page, start_of
from sandbox.bitrix24.errors import RestError
from sandbox.bitrix24.item_keys import FieldNames, wants_original_uf_names
from sandbox.bitrix24.item_types import ClassicType, ItemType, item_type
from sandbox.bitrix24.registry import CallContext, method, ok


def item_id(params: dict) -> int:
    """The integer `id` (engine controllers refuse non-integers with INVALID_ARG_VALUE)."""
    raw = params.get("id")
    try:
        return int(str(raw))
    except (TypeError, ValueError):
        raise RestError(400, "INVALID_ARG_VALUE",
                        f"Invalid value {raw} to match with parameter {{id}}. Should be value of type int.") from None


def _fields(params: dict, names: FieldNames) -> dict:
    """The `fields` object with storage keys (UPPER_SNAKE or camelCase accepted)."""
    fields = params.get("fields")
    if not isinstance(fields, dict):
        raise RestError(400, "INVALID_ARG_VALUE", "Parameter 'fields' must be an object")
    return names.fields(fields)


def _answer(ctx: CallContext, type_: ItemType, params: dict, row: dict) -> dict:
    """`{"item": …}` with the answer's field names."""
    return {"item": type_.names(ctx.portal).answer(row, wants_original_uf_names(params))}


@method("crm.item.add")
def item_add(ctx: CallContext, params: dict) -> dict:
    """`{"result":{"item":{…}}}`."""
    type_ = item_type(params)
    fields = _fields(params, type_.names(ctx.portal))
    return ok(_answer(ctx, type_, params, type_.create(ctx.state, ctx.sender, ctx.portal, fields, ctx.user_id)))


@method("crm.item.get")
def item_get(ctx: CallContext, params: dict) -> dict:
    """`{"result":{"item":{…}}}`, 400 NOT_FOUND, or 400 ACCESS_DENIED for a contact or company the user
    may not read (DOCS crm/universal/crm-item-get.md; the item is looked up first, then the right)."""
    type_ = item_type(params)
    row = type_.get(ctx.portal, item_id(params))
    if isinstance(type_, ClassicType) and not _readable(ctx, type_, row):
        raise RestError(400, "ACCESS_DENIED", "You do not have permission to view this item")
    return ok(_answer(ctx, type_, params, row))


def _readable(ctx: CallContext, type_: ClassicType, row: dict) -> bool:
    """The user's read right on the stored record behind a crm.item view (permissions.py)."""
    record = ctx.portal.entities.get(type_.kind, {}).get(int(row["id"]))
    return permissions.may_read(ctx.portal, ctx.user_id, type_.kind, record)


@method("crm.item.update")
def item_update(ctx: CallContext, params: dict) -> dict:
    """`{"result":{"item":{…}}}`."""
    type_ = item_type(params)
    target, fields = item_id(params), _fields(params, type_.names(ctx.portal))
    return ok(_answer(ctx, type_, params, type_.update(ctx.state, ctx.sender, ctx.portal, target, fields,
                                                       ctx.user_id)))


@method("crm.item.delete")
def item_delete(ctx: CallContext, params: dict) -> dict:
    """`{"result":[]}` as documented."""
    item_type(params).delete(ctx.state, ctx.sender, ctx.portal, item_id(params), ctx.user_id)
    return ok([])


def _userfield(uf: dict, public: str) -> dict:
    """A user field as crm.item.fields lists it (isDynamic, UF_CRM_… upperName)."""
    return {"type": uf["USER_TYPE_ID"], "isRequired": uf["MANDATORY"] == "Y", "isReadOnly": False,
            "isImmutable": False, "isMultiple": uf["MULTIPLE"] == "Y", "isDynamic": True,
            "title": public, "upperName": uf["FIELD_NAME"]}


def _standard_fields(ctx: CallContext, type_: ItemType) -> dict:
    """The documented description of a type's standard fields."""
    if isinstance(type_, ClassicType):
        return classic_items.describe(type_.kind)
    fields = json.loads(resources.files("sandbox.bitrix24").joinpath(
        "data/smart_invoice_fields.json").read_text(encoding="utf-8"))["fields"]
    # The copied doc example came from a custom smart process; a Smart Invoice's stages are this directory.
    for name in ("stageId", "previousStageId"):
        fields[name]["statusType"] = f"SMART_INVOICE_STAGE_{smart_invoice.default_category(ctx.portal)}"
    return fields


@method("crm.item.fields")
def item_fields(ctx: CallContext, params: dict) -> dict:
    """The documented field description plus the portal's user fields."""
    type_ = item_type(params)
    names, original = type_.names(ctx.portal), wants_original_uf_names(params)
    fields = _standard_fields(ctx, type_)
    for uf in ctx.portal.userfields.get(type_.uf_entity, []):
        public = names.public(uf["FIELD_NAME"], original)
        fields[public] = _userfield(uf, public)
    return ok({"fields": fields})


def _value(row: dict, field: str) -> Any:
    """Filter/order value of a field."""
    return row.get(field)


def _selected(row: dict, select: list[str]) -> dict:
    """Apply `select`: `*` is every field and `fm`; `fm` cannot be named (DOCS crm-item-list.md)."""
    if not select or "*" in select:
        return row
    return {k: v for k, v in row.items() if k == "id" or (k in select and k != "fm")}


@method("crm.item.list")
def item_list(ctx: CallContext, params: dict) -> dict:
    """`{"result":{"items":[…]},"total":N,"next":50}`."""
    type_ = item_type(params)
    names = type_.names(ctx.portal)
    filter_ = names.filter(dict_param(params, "filter", False))
    order = names.order(dict_param(params, "order", False))
    rows = type_.rows(ctx.portal, filter_)
    if isinstance(type_, ClassicType):
        rows = [row for row in rows if _readable(ctx, type_, row)]  # lists filter, they do not refuse
    rows = ordered(rows, order, _value, "id")
    chunk, total, following = page(rows, start_of(params))
    select, original = names.select(list_param(params, "select", False)), wants_original_uf_names(params)
    items = [names.answer(_selected(r, select), original) for r in chunk]
    return ok({"items": items}, total=total, next=following)

