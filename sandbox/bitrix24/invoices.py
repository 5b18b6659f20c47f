"""Old invoices, crm.invoice.* (deprecated; entityTypeId 5): required fields, PRODUCT_ROWS."""
from __future__ import annotations

from typing import Any

from sandbox.bitrix24.crm_store import (check_required_userfields, classic_fields, classic_id, dict_param, list_param, now_iso, ordered,
                                        page, select_rows, start_of)
from sandbox.bitrix24.directory import PAY_SYSTEMS, PERSON_TYPES
from sandbox.bitrix24.errors import classic
from sandbox.bitrix24.events import EventSender, fire
from sandbox.bitrix24.registry import CallContext, method, ok
from sandbox.bitrix24.state import Portal, State
from sandbox.bitrix24.values import php_float

KIND = "invoice"
UF_ENTITY = "CRM_INVOICE"  # DOCS crm/outdated/invoice/crm-invoice-user-field-add.md: old invoices' own UFs
REQUIRED = ("ORDER_TOPIC", "PAY_SYSTEM_ID", "PERSON_TYPE_ID")
SCALARS = ["ACCOUNT_NUMBER", "ORDER_TOPIC", "STATUS_ID", "PAY_SYSTEM_ID", "PERSON_TYPE_ID",
           "UF_COMPANY_ID", "UF_CONTACT_ID", "UF_MYCOMPANY_ID", "UF_DEAL_ID", "DATE_BILL",
           "DATE_PAY_BEFORE", "RESPONSIBLE_ID", "COMMENTS", "USER_DESCRIPTION", "XML_ID",
           "PR_LOCATION", "CURRENCY", "PRICE", "TAX_VALUE", "PAYED", "DATE_INSERT", "DATE_UPDATE",
           "DATE_STATUS", "DATE_MARKED", "REASON_MARKED"]
_ROW_KEYS = ("PRICE", "DISCOUNT_PRICE", "PRODUCT_ID", "PRODUCT_NAME", "VAT_RATE", "VAT_INCLUDED",
             "MEASURE_CODE", "MEASURE_NAME", "QUANTITY")


def _str(value: Any) -> Any:
    """Strings everywhere, like every classic method."""
    return value if value is None or isinstance(value, (str, list, dict)) else str(value)


def _rows(portal: Portal, raw: Any) -> list[dict]:
    """PRODUCT_ROWS with new ids; PRICE total of the invoice follows from them."""
    raw = list(raw.values()) if isinstance(raw, dict) else raw
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise classic("PRODUCT_ROWS must be array.")
    return [{"ID": str(portal.next_id("invoice_row", 1)),
             **{k: _str(r.get(k)) for k in _ROW_KEYS}} for r in raw]


def _apply(portal: Portal, record: dict, fields: dict) -> None:
    """Write known fields, product rows and properties; recompute PRICE."""
    ufs = {uf["FIELD_NAME"] for uf in portal.userfields.get(UF_ENTITY, [])}
    for key, value in fields.items():
        if key in SCALARS and key not in ("PRICE", "DATE_INSERT", "DATE_UPDATE"):
            record[key] = _str(value)
        elif key in ufs:
            record[key] = value
    if "PRODUCT_ROWS" in fields:
        record["PRODUCT_ROWS"] = _rows(portal, fields["PRODUCT_ROWS"])
    if isinstance(fields.get("INVOICE_PROPERTIES"), dict):
        record["INVOICE_PROPERTIES"] = {k: _str(v) for k, v in fields["INVOICE_PROPERTIES"].items()}
    total = sum(php_float(r["PRICE"]) * (php_float(r["QUANTITY"]) if r["QUANTITY"] else 1.0)
                for r in record["PRODUCT_ROWS"])
    record["PRICE"] = f"{total:.2f}"
    missing = [k for k in REQUIRED if not record.get(k)]
    if missing:
        # CCrmInvoice::CheckFields words it per field; the exact text is not documented.
        raise classic("\n".join(f"The field \"{k}\" is required." for k in missing))
    if record["PERSON_TYPE_ID"] not in {p["ID"] for p in PERSON_TYPES}:
        raise classic("Invalid PERSON_TYPE_ID.")
    if record["PAY_SYSTEM_ID"] not in {p["ID"] for p in PAY_SYSTEMS}:
        raise classic("Invalid PAY_SYSTEM_ID.")
    # Reference §6: the old crm.invoice REST code skips the required-UF check unless the option is on.
    check_required_userfields(portal, UF_ENTITY, record)


def _fire(state: State, sender: EventSender, portal: Portal, name: str, invoice_id: int, user_id: int,
          origin: str) -> None:
    """Old-invoice events carry FIELDS[ID]; `origin` is who made the change (events.fire)."""
    fire(state, sender, portal, name, {"FIELDS": {"ID": str(invoice_id)}}, user_id, origin)


def create(state: State, sender: EventSender, portal: Portal, fields: dict, user_id: int = 1,
           origin: str = "user") -> int:
    """Add an invoice, fire ONCRMINVOICEADD and return its id."""
    now = now_iso()
    record = {k: None for k in SCALARS} | {"STATUS_ID": "N", "CURRENCY": "USD", "PAYED": "N",
                                          "DATE_INSERT": now, "DATE_UPDATE": now, "DATE_BILL": now,
                                          "RESPONSIBLE_ID": str(user_id), "PRODUCT_ROWS": [],
                                          "INVOICE_PROPERTIES": {}}
    _apply(portal, record, fields)
    new_id = portal.next_id(KIND)
    record["ID"] = str(new_id)
    record["ACCOUNT_NUMBER"] = record["ACCOUNT_NUMBER"] or str(new_id)
    portal.entities.setdefault(KIND, {})[new_id] = record
    _fire(state, sender, portal, "ONCRMINVOICEADD", new_id, user_id, origin)
    return new_id


def update(state: State, sender: EventSender, portal: Portal, invoice_id: int, fields: dict, user_id: int = 1,
           origin: str = "user") -> None:
    """Change an invoice: ONCRMINVOICEUPDATE, and ONCRMINVOICESETSTATUS when STATUS_ID changed."""
    record = _record(portal, invoice_id)
    candidate = {**record, "PRODUCT_ROWS": list(record["PRODUCT_ROWS"])}
    _apply(portal, candidate, fields)
    candidate["DATE_UPDATE"] = now_iso()
    status_changed = candidate["STATUS_ID"] != record["STATUS_ID"]
    record.update(candidate)
    _fire(state, sender, portal, "ONCRMINVOICEUPDATE", invoice_id, user_id, origin)
    if status_changed:
        _fire(state, sender, portal, "ONCRMINVOICESETSTATUS", invoice_id, user_id, origin)


def _record(portal: Portal, invoice_id: int) -> dict:
    """An invoice or the classic "Not found"."""
    record = portal.entities.get(KIND, {}).get(invoice_id)
    if record is None:
        raise classic("Not found")
    return record


@method("crm.invoice.add")
def invoice_add(ctx: CallContext, params: dict) -> dict:
    """Add an invoice -> its id (int)."""
    return ok(create(ctx.state, ctx.sender, ctx.portal, classic_fields(params), ctx.user_id))


@method("crm.invoice.get")
def invoice_get(ctx: CallContext, params: dict) -> dict:
    """The invoice with PRODUCT_ROWS and INVOICE_PROPERTIES."""
    record = _record(ctx.portal, classic_id(params))
    return ok({"ID": record["ID"], **{k: v for k, v in record.items() if k != "ID"}})


@method("crm.invoice.update")
def invoice_update(ctx: CallContext, params: dict) -> dict:
    """Update -> the id (CCrmInvoiceRestService returns the ID; UNCERTAIN vs `true`)."""
    invoice_id = classic_id(params)
    update(ctx.state, ctx.sender, ctx.portal, invoice_id, classic_fields(params), ctx.user_id)
    return ok(invoice_id)


@method("crm.invoice.delete")
def invoice_delete(ctx: CallContext, params: dict) -> dict:
    """Delete -> true."""
    invoice_id = classic_id(params)
    _record(ctx.portal, invoice_id)
    del ctx.portal.entities[KIND][invoice_id]
    _fire(ctx.state, ctx.sender, ctx.portal, "ONCRMINVOICEDELETE", invoice_id, ctx.user_id, "user")
    return ok(True)


@method("crm.invoice.list")
def invoice_list(ctx: CallContext, params: dict) -> dict:
    """Filter/order/select with 50-row pages; no PRODUCT_ROWS in lists."""
    filter_ = dict_param(params, "filter", True)
    value_of = lambda row, f: row.get(f.upper())  # noqa: E731
    rows = select_rows(ctx.portal.entities.get(KIND, {}), filter_, value_of, "ID")
    rows = ordered(rows, dict_param(params, "order", True), value_of, "ID")
    chunk, total, following = page(rows, start_of(params))
    select = [str(s).upper() for s in list_param(params, "select", True)]
    out = [{"ID": r["ID"], **{k: v for k, v in r.items() if k in SCALARS and (not select or "*" in select or k in select)}}
           for r in chunk]
    return ok(out, next=following, total=total)


_FIELD_TYPES = {"ID": "integer", "PRICE": "double", "TAX_VALUE": "double", "STATUS_ID": "crm_status",
                "PAY_SYSTEM_ID": "integer", "PERSON_TYPE_ID": "integer", "UF_COMPANY_ID": "integer",
                "UF_CONTACT_ID": "integer", "UF_MYCOMPANY_ID": "integer", "UF_DEAL_ID": "integer",
                "RESPONSIBLE_ID": "integer", "DATE_BILL": "date", "DATE_PAY_BEFORE": "date",
                "DATE_INSERT": "datetime", "DATE_UPDATE": "datetime", "DATE_STATUS": "datetime",
                "DATE_MARKED": "datetime", "PRODUCT_ROWS": "product_rows", "INVOICE_PROPERTIES": "object"}
_READ_ONLY = {"ID", "PRICE", "DATE_INSERT", "DATE_UPDATE", "DATE_STATUS"}


def _field(name: str) -> dict:
    """One classic field description; required flags as documented (reference §6), types our reading."""
    described = {"type": _FIELD_TYPES.get(name, "string"),
                 "isRequired": name in REQUIRED or name == "ACCOUNT_NUMBER",
                 "isReadOnly": name in _READ_ONLY, "isImmutable": False,
                 "isMultiple": name == "PRODUCT_ROWS", "isDynamic": False, "title": name}
    if name == "STATUS_ID":
        described["statusType"] = "INVOICE_STATUS"
    return described


@method("crm.invoice.fields")
def invoice_fields(ctx: CallContext, params: dict) -> dict:
    """ORDER_TOPIC, PAY_SYSTEM_ID, PERSON_TYPE_ID and ACCOUNT_NUMBER are marked required."""
    return ok({name: _field(name) for name in ["ID", *SCALARS, "PRODUCT_ROWS", "INVOICE_PROPERTIES"]})
