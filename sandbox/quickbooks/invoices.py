"""Invoice writes: create, full/sparse update, delete, void, send."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from . import faults
from .company_totals import home_amounts
from .customer_tree import refresh_balances, refresh_customer_balance
from .invoice_lines import WRITABLE, invoice_customer, invoice_lines, validate_invoice
from .multicurrency import assign_transaction_currency
from .realm import Realm
from .sales_tax import settle_invoice_tax
from .timefmt import company_local, meta_time
from .writes import (Change, current_record, looks_like_email, require_id, settle_defaults, stamp, unchanged,
                     without_empties)

DEFAULTS: dict[str, Any] = {
    "AllowIPNPayment": False, "AllowOnlinePayment": False, "AllowOnlineCreditCardPayment": False,
    "AllowOnlineACHPayment": False, "CustomField": [{"DefinitionId": "1", "Name": "Crew #",
                                                     "Type": "StringType"}],
    "TxnTaxDetail": {"TotalTax": 0},
    "ApplyTaxAfterDiscount": False, "PrintStatus": "NeedToPrint", "EmailStatus": "NotSet"}
TERMS_DAYS = 30  # sample company's default term (Net 30): fixture TxnDate 2020-09-29 → DueDate 2020-10-29
# python-quickbooks Invoice() defaults that mean "not set" (writes.settle_defaults).
LIBRARY_DEFAULTS: dict[str, Any] = {"Deposit": 0, "FreeFormAddress": False}


def _given(body: dict[str, Any]) -> dict[str, Any]:
    """Writable properties with a value (python-quickbooks sends "" for unset strings, at any depth)."""
    return {k: v for k, v in without_empties(body).items() if k in WRITABLE and v is not None and v != ""}


def _tax_calculation(realm: Realm, record: dict[str, Any]) -> None:
    """GlobalTaxCalculation: "Not applicable to US companies; required for non-US companies", default
    TaxExcluded (Invoice reference). python-quickbooks sends TaxExcluded whatever the company."""
    if realm.switches.country == "US":
        record.pop("GlobalTaxCalculation", None)
    else:
        record.setdefault("GlobalTaxCalculation", "TaxExcluded")


def _complete(realm: Realm, record: dict[str, Any], body: dict[str, Any], now: datetime,
              current: dict[str, Any] | None = None) -> dict[str, Any]:
    """Resolve customer/currency/lines/dates, settle the tax and recompute the totals (`current`: the
    stored invoice, if any, whose line Ids persist)."""
    customer = invoice_customer(realm, record)
    assign_transaction_currency(realm, record, customer)
    settle_defaults(record, current or {}, LIBRARY_DEFAULTS)
    _tax_calculation(realm, record)
    record["Line"] = invoice_lines(realm, record, (current or {}).get("Line"))
    record["CustomerRef"] = {"value": customer["Id"], "name": customer.get("DisplayName", "")}
    for name in ("BillAddr", "ShipAddr"):
        if name not in record and name in customer:
            record[name] = copy.deepcopy(customer[name])
    record.setdefault("TxnDate", company_local(now).date().isoformat())
    if "DueDate" not in record:
        due = datetime.fromisoformat(record["TxnDate"]) + timedelta(days=TERMS_DAYS)
        record["DueDate"] = due.date().isoformat()
    if record.get("EmailStatus") == "NeedToSend" and not (record.get("BillEmail") or {}).get("Address"):
        raise faults.business_validation("Need to send is set but no email address was provided (BillEmail).")
    return settle_invoice_tax(realm, record, body)


def create_invoice(realm: Realm, body: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[Change]]:
    """POST /invoice without an Id."""
    validate_invoice(body)
    record: dict[str, Any] = {**copy.deepcopy(DEFAULTS), **_given(body), "domain": "QBO", "sparse": False,
                              "LinkedTxn": []}
    record["Balance"] = 0
    record["TotalAmt"] = 0
    record = _complete(realm, record, body, now)
    record.setdefault("DocNumber", realm.next_doc_number())
    record["Id"] = realm.next_id("Invoice")
    stamp(record, now, created=True)
    realm.put("Invoice", record)
    refresh_customer_balance(realm, record["CustomerRef"]["value"], now)
    return record, [Change("Invoice", record["Id"], "Create", record["MetaData"]["LastUpdatedTime"])]


def update_invoice(realm: Realm, body: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[Change]]:
    """POST /invoice with an Id: full update (omitted writable fields NULLed) unless `sparse: true`.

    An update that changes nothing keeps SyncToken and LastUpdatedTime and notifies nobody (reference §11).
    """
    validate_invoice(body)
    current = current_record(realm, "Invoice", body)
    if body.get("sparse") is True:
        record = {**copy.deepcopy(current), **_given(body)}  # Line, when given, is replaced wholesale
    else:
        record = {k: copy.deepcopy(v) for k, v in current.items() if k not in WRITABLE}
        record.update({**copy.deepcopy(DEFAULTS), **_given(body)})
    record = _complete(realm, record, body, now, current)
    record["sparse"] = False
    if unchanged(current, record):
        return current, []
    stamp(record, now)
    realm.put("Invoice", record)
    refresh_balances(realm, (current["CustomerRef"]["value"], record["CustomerRef"]["value"]), now)
    return record, [Change("Invoice", record["Id"], "Update", record["MetaData"]["LastUpdatedTime"])]


def delete_invoice(realm: Realm, body: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[Change]]:
    """POST /invoice?operation=delete → the `status: Deleted` stub of the real fixture."""
    current = current_record(realm, "Invoice", body)
    realm.bury("Invoice", current["Id"], meta_time(now))
    refresh_customer_balance(realm, current["CustomerRef"]["value"], now)
    stub = {"domain": "QBO", "status": "Deleted", "Id": current["Id"]}
    return stub, [Change("Invoice", current["Id"], "Delete", meta_time(now))]


def void_invoice(realm: Realm, body: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[Change]]:
    """POST /invoice?operation=void: amounts and quantities zeroed, "Voided" prepended to PrivateNote."""
    record = copy.deepcopy(current_record(realm, "Invoice", body))
    for line in record.get("Line", []):
        line["Amount"] = 0
        detail = line.get("SalesItemLineDetail")
        if isinstance(detail, dict) and "Qty" in detail:
            detail["Qty"] = 0
    record["TotalAmt"] = 0
    record["Balance"] = 0
    record["TxnTaxDetail"] = {"TotalTax": 0}
    note = record.get("PrivateNote")
    # API reference: "'Voided' is injected into Invoice.PrivateNote, prepended to existing text if present".
    record["PrivateNote"] = f"Voided - {note}" if note else "Voided"
    record = home_amounts(record)
    stamp(record, now)
    realm.put("Invoice", record)
    refresh_customer_balance(realm, record["CustomerRef"]["value"], now)
    return record, [Change("Invoice", record["Id"], "Void", record["MetaData"]["LastUpdatedTime"])]


def send_invoice(realm: Realm, invoice_id: str, send_to: str | None,
                 now: datetime) -> tuple[dict[str, Any], list[Change]]:
    """POST /invoice/<id>/send: EmailSent, DeliveryInfo, BillEmail ← sendTo."""
    current = realm.get("Invoice", require_id(invoice_id))
    if current is None:
        raise faults.not_found()
    record = copy.deepcopy(current)
    if send_to is not None:
        if not looks_like_email(send_to):
            raise faults.business_validation(f"Invalid Email Address format. Supplied value: {send_to}")
        record["BillEmail"] = {"Address": send_to}
    if not (record.get("BillEmail") or {}).get("Address"):
        raise faults.required("BillEmail")
    record["EmailStatus"] = "EmailSent"
    record["DeliveryInfo"] = {"DeliveryType": "Email", "DeliveryTime": meta_time(now)}
    stamp(record, now)
    realm.put("Invoice", record)
    return record, [Change("Invoice", record["Id"], "Emailed", record["MetaData"]["LastUpdatedTime"])]

