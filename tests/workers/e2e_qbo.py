"""The QuickBooks side of the end-to-end tests: invoices brought into every status through the API."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from clients.quickbooks import QuickBooksClient
from mappers.invoice_status import InvoiceStatus, invoice_status


@dataclass(frozen=True)
class Company:
    """What QuickBooks holds after the preparation: every customer, every live invoice, the acted-on ids."""

    customers: dict[str, dict[str, Any]]
    invoices: dict[str, dict[str, Any]]
    acted: dict[InvoiceStatus, str]   # status → the invoice id this harness put into it
    deleted: tuple[str, ...]          # ids deleted in QuickBooks (gone from queries)


def read_company(qbo: QuickBooksClient) -> tuple[dict[str, dict], dict[str, dict]]:
    """Every customer (active or not) and every live invoice, by Id."""
    customers = [c for _, page in qbo.query_pages("Customer", "Active IN (true, false)") for c in page]
    invoices = [i for _, page in qbo.query_pages("Invoice") for i in page]
    return {c["Id"]: c for c in customers}, {i["Id"]: i for i in invoices}


def bring_into_every_status(qbo: QuickBooksClient, today: date) -> Company:
    """Act on six unsent home-currency invoices: send, pay part, pay all, let fall due, void, delete."""
    _, invoices = read_company(qbo)
    unsent = sorted((i for i in invoices.values()
                     if _home_currency(i) and invoice_status(i, today) is InvoiceStatus.UNSENT),
                    key=lambda i: int(i["Id"]))
    assert len(unsent) >= 7, "the sample company has too few unsent invoices to act on"
    sent, partial, paid, overdue, voided, deleted = unsent[:6]
    qbo.send_invoice(sent["Id"], "billing@example.com")
    pay(qbo, partial, round(float(partial["Balance"]) / 2, 2))
    pay(qbo, paid, float(paid["Balance"]))
    qbo.sparse_update("Invoice", overdue["Id"], overdue["SyncToken"],
                      {"DueDate": (today - timedelta(days=3)).isoformat()})
    qbo.void_invoice(voided)
    qbo.delete_invoice(deleted)
    customers, invoices = read_company(qbo)
    acted = {InvoiceStatus.SENT: sent["Id"], InvoiceStatus.PARTIALLY_PAID: partial["Id"],
             InvoiceStatus.PAID: paid["Id"], InvoiceStatus.OVERDUE: overdue["Id"],
             InvoiceStatus.VOIDED: voided["Id"], InvoiceStatus.UNSENT: unsent[6]["Id"]}
    for status, invoice_id in acted.items():
        assert invoice_status(invoices[invoice_id], today) is status, (status, invoices[invoice_id])
    assert deleted["Id"] not in invoices
    return Company(customers, invoices, acted, (deleted["Id"],))


def _home_currency(invoice: dict[str, Any]) -> bool:
    # Without multicurrency QuickBooks omits CurrencyRef: the amount is in the home currency (USD here).
    return invoice.get("CurrencyRef", {}).get("value", "USD") == "USD"


def pay(qbo: QuickBooksClient, invoice: dict[str, Any], amount: float) -> dict[str, Any]:
    """A payment of `amount` applied to one invoice, in its customer's currency."""
    payment = {"CustomerRef": {"value": invoice["CustomerRef"]["value"]}, "TotalAmt": amount,
               "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]}
    return qbo.create("Payment", payment)


def change_contact_details(qbo: QuickBooksClient, customer_id: str, email: str, phone: str) -> dict[str, Any]:
    """A customer's primary email and phone changed in QuickBooks (sparse, so nothing else moves)."""
    customer = qbo.get("Customer", customer_id)
    changes = {"PrimaryEmailAddr": {"Address": email}, "PrimaryPhone": {"FreeFormNumber": phone}}
    return qbo.sparse_update("Customer", customer_id, customer["SyncToken"], changes)
