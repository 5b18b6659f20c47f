"""`make demo`, after the first sync: changes made in QuickBooks land in Bitrix24 on their own.

Each change is written through the QuickBooks sandbox's Accounting API with the app's stored tokens
(as another QuickBooks user or app would), the sandbox's webhook reaches /webhooks/quickbooks, the pull
task applies it, and the demo watches the portal through its REST API with the app's tokens until the
record shows it. Printed: what changed, where it landed (the kanban stage), and the measured time from
the QuickBooks write to the Bitrix24 change. The portal is watched through the Bitrix24 sandbox's control
API, which spends none of the portal's REST budget: polling REST ten times a second would itself slow
the app's writes (2 requests/s per portal, reference §8) and so the figures.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import requests

from clients.bitrix24 import Bitrix24Client
from clients.quickbooks import QuickBooksClient
from mappers.invoice_status import InvoiceStatus, invoice_status
from mappers.origin import invoice_xml_id, origin_id, originator_id
from qb24.stack import Stack

Echo = Callable[[str], None]
LAND_DEADLINE_S = 60.0  # the pull runs within seconds; a minute means something is stuck
POLL_S = 0.1
SMART_INVOICE = "smart_invoice"  # the demo's portal uses the new invoices (kanban /crm/type/31/kanban/)
LINE = {"DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}


def poll(check: Callable[[], Any], deadline: float) -> Any:
    """`check()` every POLL_S until it gives something (not None or empty) or the monotonic `deadline`
    passes (None then)."""
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(POLL_S)
    return None


@dataclass
class Landed:
    """One live change and what the portal showed for it."""

    what: str
    where: str
    stage_id: str | None
    latency_s: float

    def line(self) -> str:
        return f"  {self.what:<44} → {self.where:<40} in {self.latency_s:.2f} s"


class LiveDemo:
    """The QuickBooks writes and the portal watching of the live part."""

    def __init__(self, stack: Stack, realm_id: str) -> None:
        services = stack.app.extensions["qb24"]
        member_id = stack.b24.default_member_id
        self.realm_id = realm_id
        self.qbo: QuickBooksClient = services.quickbooks_client(realm_id)
        b24: Bitrix24Client = services.bitrix24_client(member_id)
        self.stages = {row["STATUS_ID"]: row["NAME"] for row in b24.call("crm.status.list").result}
        self.records_url = f"{stack.b24.control_url}/portals/{member_id}/records"

    def records(self, kind: str, **fields: str) -> list[dict]:
        """The portal's stored records of `kind` with these field values (sandbox control API)."""
        response = requests.get(f"{self.records_url}/{kind}", params=fields, timeout=10)
        response.raise_for_status()
        return response.json()

    def invoice_item(self, invoice_id: str) -> dict | None:
        """The portal's invoice for a QuickBooks invoice (None while there is none)."""
        rows = self.records(SMART_INVOICE, xmlId=invoice_xml_id(self.realm_id, invoice_id))
        return rows[0] if rows else None

    def customer_where(self, customer_id: str) -> str | None:
        """"company #id" or "contact #id" carrying the QuickBooks customer's origin, or None."""
        for entity in ("company", "contact"):
            rows = self.records(entity, ORIGINATOR_ID=originator_id(self.realm_id),
                                ORIGIN_ID=origin_id("Customer", customer_id))
            if rows:
                return f"{entity} #{rows[0]['ID']}"
        return None

    def watch(self, what: str, write: Callable[[], Any], landed: Callable[[], str | None]) -> Landed:
        """Make the QuickBooks write, then poll the portal until `landed` names where it shows."""
        started = time.monotonic()
        write()
        where = poll(landed, started + LAND_DEADLINE_S)
        if where is not None:
            return Landed(what, where, None, time.monotonic() - started)
        raise RuntimeError(f"{what}: not seen in Bitrix24 within {LAND_DEADLINE_S:.0f} s "
                           "(is the webhook reaching /webhooks/quickbooks and the worker running?)")

    def watch_invoice(self, what: str, invoice: dict[str, Any], write: Callable[[], Any]) -> Landed:
        """The write, then wait until the invoice's portal record appears, moves stage or goes.

        `invoice` is the QuickBooks invoice; for a new one an empty dict the write fills in."""
        before = self.invoice_item(invoice["Id"]) if invoice else None
        result = self.watch(what, write, lambda: self._moved(invoice["Id"], before))
        item = self.invoice_item(invoice["Id"])
        result.stage_id = item["stageId"] if item else None
        return result

    def _moved(self, invoice_id: str, before: dict | None) -> str | None:
        """Where the invoice is now, once it differs from `before` (None: not yet)."""
        item = self.invoice_item(invoice_id)
        if item is None:
            return "removed from Bitrix24" if before is not None else None
        if before is not None and item["stageId"] == before["stageId"]:
            return None
        return f"invoice #{item['id']}, stage {self.stages.get(item['stageId'], item['stageId'])!r}"


def live_changes(stack: Stack, realm_id: str, echo: Echo) -> list[Landed]:
    """New customer, an invoice for it emailed, another paid in two payments, one voided, one deleted."""
    demo = LiveDemo(stack, realm_id)
    unpaid, voidable, deletable = open_invoices(demo.qbo)
    echo("Live changes made in QuickBooks now (its API, the app's tokens) and where they landed in Bitrix24:")
    results: list[Landed] = []

    def show(result: Landed) -> None:
        echo(result.line())
        results.append(result)

    customer: dict[str, Any] = {}
    name = "Live Demo Customer"  # each demo starts from a fresh sandbox company
    show(demo.watch(f"new customer {name!r}", lambda: customer.update(demo.qbo.create(
        "Customer", {"DisplayName": name, "CompanyName": name})), lambda: demo.customer_where(customer["Id"])))
    invoice: dict[str, Any] = {}
    body = {"CustomerRef": {"value": customer["Id"]}, "Line": [{**LINE, "Amount": 250.0}]}
    show(demo.watch_invoice("an invoice for that customer", invoice,
                            lambda: invoice.update(demo.qbo.create("Invoice", body))))
    show(demo.watch_invoice(f"invoice {invoice['DocNumber']} emailed", invoice,
                            lambda: demo.qbo.send_invoice(invoice["Id"], "billing@example.com")))
    total = float(unpaid["Balance"])
    first = round(total * 0.4, 2)
    show(demo.watch_invoice(f"invoice {unpaid['DocNumber']} paid {first:.2f} of {total:.2f}", unpaid,
                            lambda: _pay(demo.qbo, unpaid, first)))
    show(demo.watch_invoice(f"invoice {unpaid['DocNumber']} paid the other {total - first:.2f}", unpaid,
                            lambda: _pay(demo.qbo, unpaid, round(total - first, 2))))
    show(demo.watch_invoice(f"invoice {voidable['DocNumber']} voided", voidable,
                            lambda: demo.qbo.void_invoice(demo.qbo.get("Invoice", voidable["Id"]))))
    show(demo.watch_invoice(f"invoice {deletable['DocNumber']} deleted", deletable,
                            lambda: demo.qbo.delete_invoice(demo.qbo.get("Invoice", deletable["Id"]))))
    return results


def open_invoices(qbo: QuickBooksClient) -> tuple[dict, dict, dict]:
    """Three unsent invoices of the sample company with nothing paid yet (paying one in two steps moves it
    New → partly paid → paid; voiding or deleting one moves it too)."""
    today = date.today()
    found = [invoice for _, page in qbo.query_pages("Invoice") for invoice in page
             if invoice_status(invoice, today) is InvoiceStatus.UNSENT
             and float(invoice["Balance"]) == float(invoice["TotalAmt"]) > 0]
    if len(found) < 3:
        raise RuntimeError("the sample company has fewer than three unsent, unpaid invoices to change")
    return found[0], found[1], found[2]


def _pay(qbo: QuickBooksClient, invoice: dict, amount: float) -> dict:
    """A payment of `amount` by the invoice's customer, applied to it."""
    return qbo.create("Payment", {"CustomerRef": {"value": invoice["CustomerRef"]["value"]}, "TotalAmt": amount,
                                  "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"],
                                                                             "TxnType": "Invoice"}]}]})
