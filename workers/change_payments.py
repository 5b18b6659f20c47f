"""Payments in the change feed: which invoices to re-sync so their paid / partially paid stages follow.

A payment names its invoices in Line[].LinkedTxn (TxnType "Invoice"; reference §5). What it applied to is
remembered in `payment_invoices`, because the change feed does not always say it again:
- a deleted payment comes back as a tombstone (`status: Deleted`, Id only; reference §2);
- an update may drop an invoice from the payment: that invoice's balance changed too;
- a voided payment zeroes its amounts and may clear its lines (UNCERTAIN; the QuickBooks sandbox's switch
  `void_payment_clears_lines` plays both readings): its remembered invoices are re-synced either way.
Whether QuickBooks also reports the invoices themselves as changed is not documented, so this does not rely
on it. The full sync remembers the payments named in its invoices' LinkedTxn (TxnType "Payment"), so a
payment made before the first sync is known too.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from store.models import PaymentInvoices
from store.upsert import insert_for


def invoices_of_payments(session: Session, portal_id: int, payments: list[dict[str, Any]]) -> set[str]:
    """The QuickBooks invoice ids these changed payments touch now or touched before; stores what each
    applies to now (a deleted payment's row goes)."""
    ids = [str(p["Id"]) for p in payments]
    stored = _stored(session, portal_id, ids)
    touched: set[str] = set()
    live: dict[str, set[str]] = {}
    gone: list[str] = []
    for payment in payments:
        payment_id = str(payment["Id"])
        touched |= stored.get(payment_id, set())
        if payment.get("status") == "Deleted":
            gone.append(payment_id)
            continue
        # live or voided: what it names now UNION what it named before (an update may drop an invoice)
        live[payment_id] = linked_invoices(payment)
        touched |= live[payment_id]
    if gone:
        session.execute(delete(PaymentInvoices).where(PaymentInvoices.portal_id == portal_id,
                                                      PaymentInvoices.payment_id.in_(sorted(set(gone)))))
    _store(session, portal_id, {k: v for k, v in live.items() if k not in gone}, replace=True)
    return touched


def linked_invoices(payment: Mapping[str, Any]) -> set[str]:
    """Line[].LinkedTxn[] with TxnType Invoice."""
    return {str(link["TxnId"]) for line in payment.get("Line") or [] for link in line.get("LinkedTxn") or []
            if link.get("TxnType") == "Invoice" and link.get("TxnId")}


def note_invoice_payments(seen: dict[str, set[str]], invoices: Iterable[Mapping[str, Any]]) -> None:
    """Collect payment id -> invoice ids from invoices' LinkedTxn (TxnType Payment), for `remember_payments`."""
    for invoice in invoices:
        for link in invoice.get("LinkedTxn") or []:
            if link.get("TxnType") == "Payment" and link.get("TxnId") and invoice.get("Id"):
                seen.setdefault(str(link["TxnId"]), set()).add(str(invoice["Id"]))


def remember_payments(session: Session, portal_id: int, seen: Mapping[str, set[str]]) -> None:
    """Add invoices to the payments' remembered sets (what an invoice says never removes anything)."""
    _store(session, portal_id, dict(seen), replace=False)


def _stored(session: Session, portal_id: int, payment_ids: Iterable[str]) -> dict[str, set[str]]:
    wanted = sorted(set(payment_ids))
    if not wanted:
        return {}
    rows = session.execute(select(PaymentInvoices.payment_id, PaymentInvoices.invoice_ids).where(
        PaymentInvoices.portal_id == portal_id, PaymentInvoices.payment_id.in_(wanted)))
    return {payment_id: {str(i) for i in invoice_ids or []} for payment_id, invoice_ids in rows}


def _store(session: Session, portal_id: int, sets: dict[str, set[str]], *, replace: bool) -> None:
    if not sets:
        return
    if not replace:  # merge with what is stored (a JSON list has no union in SQL we can share across dialects)
        stored = _stored(session, portal_id, sets)
        sets = {k: v | stored.get(k, set()) for k, v in sets.items()}
    rows = [{"portal_id": portal_id, "payment_id": k, "invoice_ids": sorted(v)} for k, v in sorted(sets.items())]
    statement = insert_for(session, PaymentInvoices).values(rows)
    session.execute(statement.on_conflict_do_update(index_elements=["portal_id", "payment_id"],
                                                    set_={"invoice_ids": statement.excluded.invoice_ids}))
