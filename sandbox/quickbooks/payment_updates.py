"""Payment update: full (omitted writable fields NULLed) or sparse; lines re-applied to their invoices.

The Payment reference, as python-quickbooks 0.9.12 objects/payment.py quotes it: "A Payment can be updated
as a full update or a sparse update"; "Lines can be updated only ALL or NONE. To remove all lines, send an
empty Lines tag." An update that changes nothing keeps SyncToken and LastUpdatedTime and notifies nobody
(reference §11), however python-quickbooks dresses the body (writes.without_empties).
"""
from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from .payment_ledger import applied_amounts, shift_invoices
from .payments import (WRITABLE, invoice_links, applications, payer, payment_lines, payment_record,
                       validate_payment)
from .realm import Realm
from .writes import Change, current_record, require_id, stamp, unchanged, without_empties

# Kept from the stored payment: its identity and stamps, and the read-only LinkedTxn (a Deposit's link).
FROM_CURRENT = ("Id", "SyncToken", "MetaData", "LinkedTxn")


def _line_key(record: dict[str, Any]) -> list[tuple[float, str]]:
    """(amount, invoice Id) per invoice line: what a payment's lines say, whatever else they carry."""
    return [(amount, require_id(link.get("TxnId"), "LinkedTxn.TxnId"))
            for amount, link in invoice_links(record)]


def _lines(realm: Realm, source: dict[str, Any], current: dict[str, Any],
           customer: dict[str, Any]) -> list[dict[str, Any]]:
    """The stored lines after the update.

    The same lines for the same customer are kept as stored: their LineEx keeps the open balance each
    invoice had when the payment was first applied (a later payment on the invoice does not rewrite it).
    Other lines are checked like a create's, with what this payment applied counted as open again.
    """
    if _line_key(source) == _line_key(current) and customer["Id"] == current["CustomerRef"]["value"]:
        return copy.deepcopy(current.get("Line") or [])
    return payment_lines(applications(realm, source, customer, credit=applied_amounts(current)))


def update_payment(realm: Realm, body: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[Change]]:
    """POST /payment with an Id: the Payment is Updated and every invoice whose application moved, too."""
    validate_payment(body)
    current = current_record(realm, "Payment", body)
    given = {k: v for k, v in without_empties(body).items() if k in WRITABLE}
    source = {**copy.deepcopy(current), **given} if body.get("sparse") is True else given
    customer = payer(realm, source)
    record = payment_record(realm, source, customer, _lines(realm, source, current, customer), now)
    record.update({name: copy.deepcopy(current[name]) for name in FROM_CURRENT if name in current})
    if unchanged(current, record):
        return current, []
    stamp(record, now)
    realm.put("Payment", record)
    changes = [Change("Payment", record["Id"], "Update", record["MetaData"]["LastUpdatedTime"])]
    return record, changes + shift_invoices(realm, record, applied_amounts(current), applied_amounts(record),
                                            now, payers=[current["CustomerRef"]["value"]])
