"""Invoice body checks: properties, types, lines and references."""
from __future__ import annotations

import copy
from typing import Any

from . import faults
from .realm import Realm
from .writes import check_fields, check_types, money, ref_id, require_id, settle_defaults

STRING_FIELDS = ("DocNumber", "TxnDate", "DueDate", "ShipDate", "PrivateNote", "EmailStatus", "PrintStatus",
                 "TrackingNum", "GlobalTaxCalculation", "TransactionLocationType", "TxnSource")
BOOL_FIELDS = ("AllowIPNPayment", "AllowOnlinePayment", "AllowOnlineCreditCardPayment",
               "AllowOnlineACHPayment",
               "ApplyTaxAfterDiscount", "FreeFormAddress")
OBJECT_FIELDS = ("CustomerRef", "CustomerMemo", "BillEmail", "BillEmailCc", "BillEmailBcc", "BillAddr",
                 "ShipAddr", "ShipFromAddr", "SalesTermRef", "TxnTaxDetail", "ClassRef", "DepartmentRef",
                 "CurrencyRef", "ShipMethodRef", "DepositToAccountRef", "ProjectRef", "RecurDataRef",
                 "TaxExemptionRef")
NUMBER_FIELDS = ("ExchangeRate", "Deposit")
LIST_FIELDS = ("Line", "CustomField")
WRITABLE = STRING_FIELDS + BOOL_FIELDS + OBJECT_FIELDS + NUMBER_FIELDS + LIST_FIELDS
READ_ONLY = ("Id", "SyncToken", "MetaData", "domain", "sparse", "TotalAmt", "Balance", "HomeBalance",
             "HomeTotalAmt", "LinkedTxn", "DeliveryInfo", "InvoiceLink", "status", "TxnStatus",
             "AutoDocNumber")
LINE_TYPES = {"SalesItemLineDetail", "SubTotalLineDetail", "DiscountLineDetail", "DescriptionOnly",
              "GroupLineDetail"}
# The objects inside a line, and the references inside each detail: Jackson refuses any other JSON type with
# the 2010 check_types words (the detail classes of the Invoice reference's Line).
LINE_OBJECTS = ("SalesItemLineDetail", "SubTotalLineDetail", "DiscountLineDetail", "DescriptionLineDetail",
                "GroupLineDetail")
SALES_REFS = ("ItemRef", "TaxCodeRef", "ClassRef", "PriceLevelRef", "MarkupInfo", "TaxClassificationRef",
              "ItemAccountRef")
DISCOUNT_REFS = ("DiscountAccountRef", "ClassRef", "TaxCodeRef")
DATE_FIELDS = ("TxnDate", "DueDate", "ShipDate")
# python-quickbooks SalesItemLineDetail() defaults that mean "not set" (writes.settle_defaults).
SALES_DETAIL_DEFAULTS: dict[str, Any] = {"TaxInclusiveAmt": 0, "Qty": 0, "UnitPrice": 0}


def validate_invoice(body: dict[str, Any]) -> None:
    """Unknown properties (2010), wrong types (2010), malformed dates (2010)."""
    check_fields(body, "Invoice", WRITABLE + READ_ONLY)
    check_types(body, "Invoice", strings=STRING_FIELDS, bools=BOOL_FIELDS, objects=OBJECT_FIELDS,
                numbers=NUMBER_FIELDS, lists=LIST_FIELDS)
    _check_tax_detail(body.get("TxnTaxDetail"))
    for name in DATE_FIELDS:
        value = body.get(name)
        if value and not _is_date(str(value)):
            raise faults.unsupported_property("Invoice", f"Invalid date format for \"{name}\": {value}")


def _check_tax_detail(detail: dict[str, Any] | None) -> None:
    """2010 for a TxnTaxDetail whose code reference or tax lines have the wrong JSON type."""
    if detail is None:
        return
    check_types(detail, "TxnTaxDetail", objects=("TxnTaxCodeRef",), lists=("TaxLine",))
    for tax_line in detail.get("TaxLine") or []:
        if not isinstance(tax_line, dict):
            raise faults.unsupported_property("TxnTaxDetail",
                                              "Can not deserialize instance of Line out of non-object")
        check_types(tax_line, "Line", objects=("TaxLineDetail",), strings=("DetailType",))


def _is_date(text: str) -> bool:
    """yyyy-mm-dd."""
    parts = text.split("-")
    return len(parts) == 3 and all(p.isdigit() for p in parts) and len(parts[0]) == 4


def invoice_customer(realm: Realm, body: dict[str, Any]) -> dict[str, Any]:
    """The referenced, existing customer (2020 missing, 2030 bad id, 2500 unknown)."""
    customer_id = ref_id(body, "CustomerRef")
    customer = realm.get("Customer", customer_id)
    if customer is None:
        raise faults.invalid_reference("Names", customer_id)
    return customer


def invoice_lines(realm: Realm, body: dict[str, Any],
                  current: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Normalised lines (Ids, LineNum, item names, tax codes); the SubTotal line is rebuilt later.

    `current` are the stored invoice's lines: a line whose Id is one of theirs keeps it, any other
    line is new and gets the next Id after the highest in use (Invoice reference, Line.Id: "If Id is
    greater than zero and exists ... an update operation for a line item", otherwise "a create
    operation"; reference §11). A kept line keeps its stored LinkedTxn (real invoice 130's lines link
    Estimate 100, sandbox2023_invoices.jsonl): a client echoing the line must not unlink it.
    """
    lines = body.get("Line")
    if not lines:
        raise faults.required("Line")
    line_ids = _LineIds(current or [])
    result: list[dict[str, Any]] = []
    for line in lines:
        if not isinstance(line, dict):
            raise faults.unsupported_property("Line",
                                              "Can not deserialize instance of Line out of non-object")
        check_types(line, "Line", strings=("DetailType", "Description"), objects=LINE_OBJECTS,
                    lists=("LinkedTxn",))
        kind = line.get("DetailType")
        if not kind:
            raise faults.required("Line.DetailType")
        if kind not in LINE_TYPES:
            raise faults.unsupported_property("Line", f"Unrecognized DetailType \"{kind}\"")
        if kind == "SubTotalLineDetail":
            continue
        line_id, stored = line_ids.assign(line.get("Id"))
        result.append(_line(realm, line, kind, line_id, len(result) + 1, stored))
    if not result:
        raise faults.required("Line")
    return result


class _LineIds:
    """Line Ids of one write: existing ones kept once each, new ones counted on from the highest."""

    def __init__(self, current: list[dict[str, Any]]) -> None:
        self.free = {str(line["Id"]): line for line in current if str(line.get("Id", "")).isdigit()}
        self.last = max((int(line_id) for line_id in self.free), default=0)

    def assign(self, requested: Any) -> tuple[str, dict[str, Any] | None]:
        """The Id the line keeps (it exists and is not taken yet) with its stored line, else a new Id."""
        wanted = str(requested).strip() if isinstance(requested, (str, int)) else ""
        if wanted in self.free:
            return wanted, self.free.pop(wanted)
        self.last += 1
        return str(self.last), None


def _line(realm: Realm, line: dict[str, Any], kind: str, line_id: str, number: int,
          stored: dict[str, Any] | None) -> dict[str, Any]:
    """One item/discount/description line, checked and completed (`stored`: the line it updates)."""
    out = {k: v for k, v in line.items() if v is not None and k not in ("LinkedTxn",) and not
           (k == "Id" and not v)}
    out["Id"] = line_id
    out["LineNum"] = number
    if stored and stored.get("LinkedTxn"):
        out["LinkedTxn"] = copy.deepcopy(stored["LinkedTxn"])
    detail = line.get(kind) if kind != "DescriptionOnly" else line.get("DescriptionLineDetail")
    if kind == "SalesItemLineDetail":
        if not isinstance(detail, dict):
            raise faults.required("Line.SalesItemLineDetail")
        out[kind] = _sales_detail(realm, detail)
        out["Amount"] = _line_amount(line, out[kind])
        settle_defaults(out[kind], (stored or {}).get(kind), SALES_DETAIL_DEFAULTS)
    elif kind == "DiscountLineDetail":
        _check_discount(detail)
        out["Amount"] = money(line.get("Amount", 0), "Line", "Amount")
    elif "Amount" in line:
        out["Amount"] = money(line["Amount"], "Line", "Amount")
    return out


def _check_discount(detail: dict[str, Any] | None) -> None:
    """2010 for a discount detail whose flag, percent or references have the wrong type."""
    if detail is None:
        return
    check_types(detail, "DiscountLineDetail", bools=("PercentBased",), objects=DISCOUNT_REFS)
    if detail.get("DiscountPercent") is not None:
        money(detail["DiscountPercent"], "DiscountLineDetail", "DiscountPercent")


def _sales_detail(realm: Realm, detail: dict[str, Any]) -> dict[str, Any]:
    """ItemRef (default: the Services item, as QuickBooks does), name filled in, TaxCodeRef defaulted."""
    check_types(detail, "SalesItemLineDetail", objects=SALES_REFS, strings=("ServiceDate",))
    out = {k: v for k, v in detail.items() if v is not None}
    item_ref = detail.get("ItemRef") or {"value": "1"}
    item_id = require_id(item_ref.get("value"), "ItemRef.value")
    item = realm.get("Item", item_id)
    if item is None:
        raise faults.invalid_reference("Item", item_id)
    out["ItemRef"] = {"value": item_id, "name": item.get("Name", "")}
    for name in ("Qty", "UnitPrice"):
        if name in out:
            out[name] = money(out[name], "Line", name)
    if realm.switches.country == "US":
        # US lines are TAX or NON (invoice fixtures); other countries name a real TaxCode, no default.
        out.setdefault("TaxCodeRef", {"value": "NON"})
    return out


def _line_amount(line: dict[str, Any], detail: dict[str, Any]) -> float:
    """Amount as given, or Qty × UnitPrice; 2020 when neither is there."""
    if line.get("Amount") is not None:
        return money(line["Amount"], "Line", "Amount")
    if "Qty" in detail and "UnitPrice" in detail:
        return round(detail["Qty"] * detail["UnitPrice"], 2)
    raise faults.required("Line.Amount")
