"""A QuickBooks invoice's status, derived from its fields (REST v3 has no status field).

The order of the rules matters and follows reference §5 "Deriving a CRM status": deleted and
voided first (a voided invoice also has Balance 0 and would look paid), then payment state,
then overdue, then whether it was sent.
"""
from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Any


class InvoiceStatus(str, Enum):
    UNSENT = "unsent"
    SENT = "sent"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    OVERDUE = "overdue"
    VOIDED = "voided"
    DELETED = "deleted"


def invoice_status(invoice: dict[str, Any], today: date) -> InvoiceStatus:
    """The status of a QuickBooks invoice (or CDC tombstone) as of `today` in the company's timezone."""
    if invoice.get("status") == "Deleted":
        return InvoiceStatus.DELETED
    total, balance = float(invoice.get("TotalAmt", 0)), float(invoice.get("Balance", 0))
    if _is_voided(invoice, total, balance):
        return InvoiceStatus.VOIDED
    if total > 0 and balance <= 0:
        return InvoiceStatus.PAID
    if 0 < balance < total:
        return InvoiceStatus.PARTIALLY_PAID
    due = invoice.get("DueDate")
    if balance > 0 and due and date.fromisoformat(due) < today:
        return InvoiceStatus.OVERDUE
    if invoice.get("EmailStatus") == "EmailSent" or invoice.get("DeliveryInfo"):
        return InvoiceStatus.SENT
    return InvoiceStatus.UNSENT


def _is_voided(invoice: dict[str, Any], total: float, balance: float) -> bool:
    # QuickBooks prepends "Voided" to PrivateNote and zeroes the amounts (reference §5 Void).
    return total == 0 and balance == 0 and str(invoice.get("PrivateNote", "")).startswith("Voided")
