"""QuickBooks changes made through the QuickBooks sandbox's API, as a company's admin makes them, each
noted with the time it was sent (the start of its end-to-end latency).

Injected faults (the sandbox's error_rate: 5xx and 429 before the write happens) are retried here, as
an admin presses Save again; the service never sees these calls.
"""
from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import requests

from clients.quickbooks import QuickBooksClient
from clients.quickbooks_errors import ServiceUnavailable, Throttled

TRANSIENT = (ServiceUnavailable, Throttled, requests.ConnectionError)


@dataclass(frozen=True)
class Change:
    what: str       # "customer.update", "payment.create", ...
    entity: str     # the QuickBooks record whose Bitrix24 twin must change: Customer | Invoice
    qbo_id: str
    at: float       # time.time() just before the successful write was sent


class Editor:
    """Edits one QuickBooks company; `changes` lists what it did, `calls` counts its API requests."""

    def __init__(self, qbo: QuickBooksClient, control: Callable[..., Any]) -> None:
        self.qbo, self.control = qbo, control
        self.calls = 0
        self.changes: list[Change] = []
        self._numbers = itertools.count(1)
        self._item: dict | None = None

    def _write(self, what: str, entity: str, qbo_id: str | None, write: Callable[[], dict]) -> dict:
        for attempt in range(40):
            self.calls += 1
            at = time.time()
            try:
                record = write()
            except TRANSIENT:
                time.sleep(0.05 * min(attempt + 1, 5))
                continue
            self.changes.append(Change(what, entity, qbo_id or record["Id"], at))
            return record
        raise RuntimeError(f"{what}: QuickBooks kept failing")

    def read(self, entity: str, qbo_id: str) -> dict:
        return self._reading(lambda: self.qbo.get(entity, qbo_id))

    def _reading(self, read: Callable[[], Any]) -> Any:
        for attempt in range(40):
            self.calls += 1
            try:
                return read()
            except TRANSIENT:
                time.sleep(0.05 * min(attempt + 1, 5))
        raise RuntimeError("QuickBooks kept failing a read")

    # -- customers --------------------------------------------------------------------------------

    def new_customer(self, company: bool = False) -> dict:
        n, tag = next(self._numbers), uuid.uuid4().hex[:6]
        fields = {"DisplayName": f"Realtime {tag} {n}", "GivenName": f"Rita{n}", "FamilyName": f"Tag{tag}",
                  "PrimaryEmailAddr": {"Address": f"rita.{tag}@example.com"},
                  "PrimaryPhone": {"FreeFormNumber": f"(415) 555-{1000 + n % 9000:04d}"},
                  "BillAddr": {"Line1": f"{n} Market St", "City": "San Francisco", "PostalCode": "94105",
                               "CountrySubDivisionCode": "CA", "Country": "USA"}}
        if company:
            fields["CompanyName"] = f"Realtime Works {tag}"
        rid = uuid.uuid4().hex  # the same requestid on a retry: QuickBooks replays instead of duplicating
        return self._write("customer.create", "Customer", None, lambda: self.qbo.create("Customer", fields,
                                                                                       request_id=rid))

    def update_customer(self, customer: dict) -> dict:
        n = next(self._numbers)
        fields = {"PrimaryPhone": {"FreeFormNumber": f"(650) 555-{n % 10000:04d}"},
                  "PrimaryEmailAddr": {"Address": f"changed{n}.{customer['Id']}@example.com"}}
        return self._write("customer.update", "Customer", customer["Id"], lambda: self.qbo.sparse_update(
            "Customer", customer["Id"], customer["SyncToken"], fields))

    def deactivate_customer(self, customer: dict) -> dict:
        return self._write("customer.deactivate", "Customer", customer["Id"],
                           lambda: self.qbo.deactivate_customer(customer))

    def merge_customers(self, merged_away: dict, survivor: dict) -> bool:
        """The sandbox's merge (QuickBooks does it in its UI only); False where the sandbox has none."""
        at = time.time()
        try:
            self.control(f"realms/{self.qbo.realm_id}/customers/merge",
                         {"from": merged_away["Id"], "into": survivor["Id"]})
        except requests.HTTPError as error:
            if error.response is not None and error.response.status_code in (404, 405):
                return False
            raise
        self.changes.append(Change("customer.merge", "Customer", survivor["Id"], at))
        return True

    # -- invoices ---------------------------------------------------------------------------------

    def item(self) -> dict:
        if self._item is None:
            services = self._reading(lambda: self.qbo.query("SELECT * FROM Item WHERE Type = 'Service' MAXRESULTS 1"))
            self._item = services[0]
        return self._item

    def new_invoice(self, customer_id: str, amount: float = 120.0) -> dict:
        item = self.item()
        line = {"Amount": amount, "DetailType": "SalesItemLineDetail", "Description": "Realtime work",
                "SalesItemLineDetail": {"ItemRef": {"value": item["Id"], "name": item["Name"]}, "Qty": 2,
                                        "UnitPrice": amount / 2}}
        fields = {"CustomerRef": {"value": customer_id}, "Line": [line], "PrivateNote": "created live"}
        rid = uuid.uuid4().hex
        return self._write("invoice.create", "Invoice", None, lambda: self.qbo.create("Invoice", fields,
                                                                                     request_id=rid))

    def update_invoice(self, invoice: dict) -> dict:
        n = next(self._numbers)
        fields = {"PrivateNote": f"note {n}", "CustomerMemo": {"value": f"memo {n}"}}
        return self._write("invoice.update", "Invoice", invoice["Id"], lambda: self.qbo.sparse_update(
            "Invoice", invoice["Id"], invoice["SyncToken"], fields))

    def send_invoice(self, invoice: dict) -> dict:
        return self._write("invoice.send", "Invoice", invoice["Id"],
                           lambda: self.qbo.send_invoice(invoice["Id"], "billing@example.com"))

    def void_invoice(self, invoice: dict) -> dict:
        return self._write("invoice.void", "Invoice", invoice["Id"], lambda: self.qbo.void_invoice(invoice))

    def delete_invoice(self, invoice: dict) -> dict:
        return self._write("invoice.delete", "Invoice", invoice["Id"], lambda: self.qbo.delete_invoice(invoice))

    # -- payments (the Bitrix24 twin that changes is the invoice's) -------------------------------

    def pay(self, invoice: dict, amount: float) -> dict:
        fields = {"CustomerRef": {"value": invoice["CustomerRef"]["value"]}, "TotalAmt": amount,
                  "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]}
        rid = uuid.uuid4().hex
        return self._write("payment.create", "Invoice", invoice["Id"],
                           lambda: self.qbo.create("Payment", fields, request_id=rid))

    def update_payment(self, payment: dict, invoice: dict, amount: float) -> dict:
        fields = {"TotalAmt": amount,
                  "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]}
        return self._write("payment.update", "Invoice", invoice["Id"], lambda: self.qbo.sparse_update(
            "Payment", payment["Id"], payment["SyncToken"], fields))

    def delete_payment(self, payment: dict, invoice: dict) -> dict:
        # The client has no payment delete (the service never deletes in QuickBooks): its generic
        # operation call is the same POST ?operation=delete the Payment reference documents.
        return self._write("payment.delete", "Invoice", invoice["Id"],
                           lambda: self.qbo._operation("Payment", payment, "delete"))  # noqa: SLF001
