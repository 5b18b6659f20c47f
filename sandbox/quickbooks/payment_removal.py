"""Payment delete and void: the payment goes (tombstone) or drops to zero; its invoices are reopened."""
from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from .payment_ledger import applied_amounts, shift_invoices
from .realm import Realm
from .timefmt import meta_time
from .writes import Change, current_record, stamp


def _release(realm: Realm, payment: dict[str, Any], now: datetime, *, unlink: bool) -> list[Change]:
    """Give each invoice what the payment applied to it (payment_ledger.shift_invoices); `unlink` drops the
    invoices' LinkedTxn to the payment."""
    before = applied_amounts(payment)
    return shift_invoices(realm, payment, before, {}, now, linked=() if unlink else before)


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
