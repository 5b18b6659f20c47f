"""Payment delete and void: the payment goes (tombstone) or drops to zero; its invoices are reopened."""
from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from .company_totals import home_amounts
from .customer_tree import refresh_balances
from .realm import Realm
from .timefmt import meta_time
from .writes import Change, current_record, stamp


def _applied(payment: dict[str, Any]) -> dict[str, float]:
    """Amount applied per invoice Id, summed over the payment's lines."""
    applied: dict[str, float] = {}
    for line in payment.get("Line") or []:
        for link in line.get("LinkedTxn") or []:
            if link.get("TxnType") == "Invoice":
                invoice_id = str(link.get("TxnId"))
                applied[invoice_id] = applied.get(invoice_id, 0.0) + float(line.get("Amount") or 0)
    return applied


def _release(realm: Realm, payment: dict[str, Any], now: datetime, *, unlink: bool) -> list[Change]:
    """Give each linked invoice its applied amount back (never above TotalAmt); one Update per invoice.

    The balances of the payment's customer and of every reopened invoice's customer (a sub-customer's,
    when a parent paid it) are summed again.
    """
    changes = []
    owners = [payment["CustomerRef"]["value"]]
    for invoice_id, amount in _applied(payment).items():
        invoice = realm.get("Invoice", invoice_id)
        if invoice is None:
            continue  # deleted since the payment was applied: nothing left to reopen
        reopened = float(invoice.get("Balance", 0)) + amount
        invoice["Balance"] = round(min(reopened, float(invoice.get("TotalAmt", 0))), 2)
        invoice.update(home_amounts(invoice))  # HomeBalance follows Balance, as on payment create
        if unlink:
            invoice["LinkedTxn"] = [link for link in invoice.get("LinkedTxn") or []
                                    if not (link.get("TxnType") == "Payment"
                                            and str(link.get("TxnId")) == payment["Id"])]
        stamp(invoice, now)
        owners.append(invoice["CustomerRef"]["value"])
        changes.append(Change("Invoice", invoice_id, "Update", invoice["MetaData"]["LastUpdatedTime"]))
    refresh_balances(realm, owners, now)
    return changes


def delete_payment(realm: Realm, body: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[Change]]:
    """POST /payment?operation=delete → the `status: Deleted` stub; CDC then reports the tombstone."""
    payment = current_record(realm, "Payment", body)
    changes = _release(realm, payment, now, unlink=True)
    realm.bury("Payment", payment["Id"], meta_time(now))
    stub = {"domain": "QBO", "status": "Deleted", "Id": payment["Id"]}
    return stub, [Change("Payment", payment["Id"], "Delete", meta_time(now)), *changes]


def void_payment(realm: Realm, body: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[Change]]:
    """POST /payment?operation=update&include=void: amounts zeroed, "Voided" prepended to PrivateNote.

    Payment reference (quoted in Wish-Org/QuickBooksSharp#8): "The transaction remains active but all amounts
    and quantities are zeroed and the string, Voided, is injected into Payment.PrivateNote, prepended to
    existing text if present." Whether the lines stay (at 0) or are cleared is the company switch
    `void_payment_clears_lines`.
    """
    current = current_record(realm, "Payment", body)
    clears = realm.switches.void_payment_clears_lines
    changes = _release(realm, current, now, unlink=clears)
    record = copy.deepcopy(current)
    if clears:
        record["Line"] = []
    for line in record.get("Line") or []:
        line["Amount"] = 0
    record["TotalAmt"] = 0
    record["UnappliedAmt"] = 0
    note = record.get("PrivateNote")
    record["PrivateNote"] = f"Voided - {note}" if note else "Voided"
    stamp(record, now)
    realm.put("Payment", record)
    return record, [Change("Payment", record["Id"], "Void", record["MetaData"]["LastUpdatedTime"]), *changes]
