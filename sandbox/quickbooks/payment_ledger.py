"""What a payment does to the invoices it pays: their Balance, their LinkedTxn back to it, their customers.

Every payment write (create, update, delete, void) is "the payment applied X before, applies Y now": each
invoice's Balance moves by the difference, its LinkedTxn names the payment while a line of it is on the
invoice, and the customers' Balance/BalanceWithJobs are summed again (customer_tree).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from .company_totals import home_amounts
from .customer_tree import refresh_balances
from .realm import Realm
from .writes import Change, stamp


def applied_amounts(payment: dict[str, Any]) -> dict[str, float]:
    """Amount applied per invoice Id, summed over the payment's lines, in line order."""
    applied: dict[str, float] = {}
    for line in payment.get("Line") or []:
        for link in line.get("LinkedTxn") or []:
            if link.get("TxnType") == "Invoice":
                invoice_id = str(link.get("TxnId"))
                applied[invoice_id] = round(applied.get(invoice_id, 0.0) + float(line.get("Amount") or 0), 2)
    return applied


def shift_invoices(realm: Realm, payment: dict[str, Any], before: dict[str, float], after: dict[str, float],
                   now: datetime, *, linked: Iterable[str] | None = None,
                   payers: Iterable[str] = ()) -> list[Change]:
    """Move each invoice from `before` to `after` (amounts this payment applies to it); one Update each.

    `linked`: the invoices whose LinkedTxn keeps naming the payment (default: those in `after`). A Balance
    stays within 0..TotalAmt. An invoice neither moved nor re-linked is not touched; one deleted since the
    payment was applied is skipped. The payment's customer, `payers` (a previous customer) and every
    touched invoice's customer (a sub-customer's, when a parent paid it) get their balances summed again.
    """
    keep = set(after if linked is None else linked)
    owners = [payment["CustomerRef"]["value"], *payers]
    changes = []
    for invoice_id in dict.fromkeys([*before, *after]):
        invoice = realm.get("Invoice", invoice_id)
        if invoice is None:
            continue
        delta = round(after.get(invoice_id, 0.0) - before.get(invoice_id, 0.0), 2)
        relinked = _link(invoice, payment["Id"], invoice_id in keep)
        if not delta and not relinked:
            continue
        balance = float(invoice.get("Balance", 0)) - delta
        invoice["Balance"] = round(min(max(balance, 0.0), float(invoice.get("TotalAmt", 0))), 2)
        invoice.update(home_amounts(invoice))  # HomeBalance follows Balance on foreign-currency invoices
        stamp(invoice, now)
        owners.append(invoice["CustomerRef"]["value"])
        changes.append(Change("Invoice", invoice_id, "Update", invoice["MetaData"]["LastUpdatedTime"]))
    refresh_balances(realm, owners, now)
    return changes


def _link(invoice: dict[str, Any], payment_id: str, wanted: bool) -> bool:
    """Add or drop the invoice's LinkedTxn to the payment; whether that changed anything."""
    links = invoice.setdefault("LinkedTxn", [])
    others = [link for link in links
              if not (link.get("TxnType") == "Payment" and str(link.get("TxnId")) == payment_id)]
    linked = len(others) < len(links)
    if wanted and not linked:
        links.append({"TxnId": payment_id, "TxnType": "Payment"})
        return True
    if not wanted and linked:
        invoice["LinkedTxn"] = others
        return True
    return False
