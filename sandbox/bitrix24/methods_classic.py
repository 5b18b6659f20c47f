"""REST methods crm.contact.*, crm.company.*, crm.lead.*, crm.deal.*, crm.duplicate.findbycomm."""
from __future__ import annotations

import re
from typing import Any

from sandbox.bitrix24 import classic as store
from sandbox.bitrix24.crm_store import (classic_fields, classic_id, dict_param, list_param, matches, ordered,
                                        page, start_of)
from sandbox.bitrix24.errors import classic
from sandbox.bitrix24.registry import CallContext, method, ok


def _value(row: dict, field: str) -> Any:
    """A row's value for filtering; multi-fields filter by their VALUEs."""
    field = field.upper()
    if field in store.MULTI:
        return [e["VALUE"] for e in row.get(field) or []]
    return row.get(field)


def _select(row: dict, select: list, kind: str) -> dict:
    """Apply `select`: `*` = standard fields, `UF_*` = user fields, multi-fields only by name."""
    select = [str(s).upper() for s in select] or ["*", "UF_*"]
    out = {"ID": row["ID"]}
    for key, value in row.items():
        is_uf, is_multi = key.startswith("UF_"), key in store.MULTI
        wanted = (key in select or ("*" in select and not is_uf and not is_multi)
                  or ("UF_*" in select and is_uf))
        if wanted and key != "COMPANY_IDS":
            out[key] = value
    return out


def _get(ctx: CallContext, kind: str, params: dict) -> dict:
    """`crm.<kind>.get`: all fields including multi-fields, values as strings."""
    record = ctx.portal.entities.get(kind, {}).get(classic_id(params))
    if record is None:
        raise classic("Not found")
    full = {"ID": record["ID"], **{k: v for k, v in record.items() if k not in ("ID", "COMPANY_IDS")}}
    return ok({k: v for k, v in full.items() if not (k in store.MULTI and not v)})


def _list(ctx: CallContext, kind: str, params: dict) -> dict:
    """`crm.<kind>.list`: filter, order, select, fixed 50-row pages."""
    filter_ = dict_param(params, "filter", True)
    order = dict_param(params, "order", True)
    rows = [r for r in ctx.portal.entities.get(kind, {}).values() if matches(r, filter_, _value)]
    rows = ordered(rows, {k.upper(): v for k, v in order.items()}, _value, "ID")
    start = start_of(params)
    chunk, total, following = page(rows, start)
    select = list_param(params, "select", True)
    return ok([_select(r, select, kind) for r in chunk], next=following, total=total)


def _add(ctx: CallContext, kind: str, params: dict) -> dict:
    """`crm.<kind>.add` -> the new id as an int."""
    return ok(store.create(ctx.state, ctx.sender, ctx.portal, kind, classic_fields(params), ctx.user_id))


def _update(ctx: CallContext, kind: str, params: dict) -> dict:
    """`crm.<kind>.update` -> true; multi-field entries without ID are added."""
    entity_id = classic_id(params)
    store.update(ctx.state, ctx.sender, ctx.portal, kind, entity_id, classic_fields(params), ctx.user_id)
    return ok(True)


def _delete(ctx: CallContext, kind: str, params: dict) -> dict:
    """`crm.<kind>.delete` -> true."""
    store.delete(ctx.state, ctx.sender, ctx.portal, kind, classic_id(params), ctx.user_id)
    return ok(True)


def _register(kind: str) -> None:
    """Register the classic methods of one entity kind."""
    for verb, func in (("get", _get), ("list", _list), ("add", _add), ("update", _update),
                       ("delete", _delete)):
        method(f"crm.{kind}.{verb}")(lambda ctx, params, f=func: f(ctx, kind, params))
    method(f"crm.{kind}.fields")(lambda ctx, params: ok(store.fields_description(kind, ctx.portal)))


for _kind in ("contact", "company", "lead", "deal"):
    _register(_kind)


def _digits(value: str) -> str:
    """Phone digits, extension ignored (reference §5)."""
    return re.sub(r"\D", "", re.split(r"(?i)ext|#|,", value)[0])


@method("crm.duplicate.findbycomm")
def duplicate_findbycomm(ctx: CallContext, params: dict) -> dict:
    """Ids per entity type with a matching EMAIL/PHONE; `[]` when none (a PHP empty array)."""
    kind = str(params.get("type") or params.get("TYPE") or "").upper()
    if kind not in ("EMAIL", "PHONE"):
        raise classic("Communication type is not defined.")
    values = list_param(params, "values", True)
    if not values:
        raise classic("Communication values is not defined.")
    if len(values) > 20:
        raise classic("Too many communication values.")
    norm = (lambda v: str(v).strip().lower()) if kind == "EMAIL" else _digits
    wanted = {norm(v) for v in values}
    types = [str(params.get("entity_type")).upper()] if params.get("entity_type") else ["LEAD", "CONTACT", "COMPANY"]
    result: dict = {}
    for entity_type in types:
        rows = ctx.portal.entities.get(entity_type.lower(), {})
        hits = [i for i, r in sorted(rows.items()) if any(norm(e["VALUE"]) in wanted for e in r.get(kind) or [])]
        if hits:
            result[entity_type] = hits[:20]
    return ok(result or [])
