"""REST methods crm.contact.*, crm.company.*, crm.lead.*, crm.deal.*, crm.duplicate.findbycomm."""
from __future__ import annotations

from typing import Any

from sandbox.bitrix24 import classic as store
from sandbox.bitrix24 import comm_index, permissions
from sandbox.bitrix24.crm_store import (classic_fields, classic_id, dict_param, list_param, ordered, page,
                                        select_rows, start_of)
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
        if wanted and key not in store.ID_LISTS:
            out[key] = value
    return out


def _get(ctx: CallContext, kind: str, params: dict) -> dict:
    """`crm.<kind>.get`: all fields including multi-fields, values as strings; the read right is checked
    on the id before the record is looked up (permissions.py)."""
    record = ctx.portal.entities.get(kind, {}).get(classic_id(params))
    permissions.check_get(ctx.portal, ctx.user_id, kind, record)
    if record is None:
        raise classic("Not found")
    full = {"ID": record["ID"], **{k: v for k, v in record.items() if k != "ID" and k not in store.ID_LISTS}}
    return ok({k: v for k, v in full.items() if not (k in store.MULTI and not v)})


def _list(ctx: CallContext, kind: str, params: dict) -> dict:
    """`crm.<kind>.list`: filter, order, select, fixed 50-row pages."""
    filter_ = dict_param(params, "filter", True)
    order = dict_param(params, "order", True)
    permissions.check_list(ctx.portal, ctx.user_id, kind)
    rows = select_rows(ctx.portal.entities.get(kind, {}), filter_, _value, "ID")
    rows = permissions.readable(ctx.portal, ctx.user_id, kind, rows)
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


def _comm_values(params: dict) -> list[str]:
    """`values`: an array (a string is refused, DOCS tutorials search-by-phone-and-email.md); the first 20
    distinct non-empty strings are searched, the rest ignored without an error (CORE CCrmDuplicateRestProxy
    breaks its loop at 20; the docs say "Maximum number of values — 20" and list no error for more)."""
    raw = params.get("values")
    raw = list(raw.values()) if isinstance(raw, dict) else raw
    if not isinstance(raw, list) or not raw:
        raise classic("Communication values is not defined.")
    return [v for v in raw if isinstance(v, str) and v != ""]


def _entity_types(params: dict) -> tuple[str, ...]:
    """`entity_type` (LEAD, CONTACT, COMPANY); anything else unknown searches all three."""
    wanted = str(params.get("entity_type") or params.get("ENTITY_TYPE") or "").upper()
    if wanted == "DEAL":
        raise classic("Deal is not supported in current context.")
    return (wanted,) if wanted in ("LEAD", "CONTACT", "COMPANY") else ("LEAD", "CONTACT", "COMPANY")


def _one_value(ctx: CallContext, comm_type: str, value: str, types: tuple[str, ...]) -> list[tuple[str, int]]:
    """Up to 20 records holding one value, leads before contacts before companies (DOCS: "If 20 or more
    duplicates are found for one object, the other types are not returned")."""
    found = comm_index.holders(ctx.portal, comm_type, value)
    hits = [(t, i) for t in types for i in sorted(found.get(t.lower(), ()))]
    return hits[:20]


@method("crm.duplicate.findbycomm")
def duplicate_findbycomm(ctx: CallContext, params: dict) -> dict:
    """Ids per entity type with a matching EMAIL/PHONE; `[]` when none (a PHP empty array)."""
    comm_type = str(params.get("type") or params.get("TYPE") or "").upper()
    if comm_type not in ("EMAIL", "PHONE"):
        if not comm_type:
            raise classic("Communication type is not defined.")
        raise classic(f"Communication type '{comm_type}' is not supported in current context.")
    values, types = _comm_values(params), _entity_types(params)
    seen: list[str] = []
    for value in values:
        key = comm_index.normalized(comm_type, value)
        if key not in seen:
            seen.append(key)
        if len(seen) >= 20:
            break
    result: dict[str, list[int]] = {}
    for key in seen:
        for entity_type, record_id in _one_value(ctx, comm_type, key, types):
            ids = result.setdefault(entity_type, [])
            if record_id not in ids:
                ids.append(record_id)
    return ok(result or [])
