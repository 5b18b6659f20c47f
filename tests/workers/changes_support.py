"""The change pull's test rig: a portal after its first sync, QuickBooks changed through the sandbox's API,
`run_pull` driven directly on the stack's own services (STYLE: tasks are not how logic is tested)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from store.db import transaction
from store.models import QboConnection
from tests.workers.e2e_b24 import Crm, read_crm
from tests.workers.e2e_support import World
from workers.changes import run_pull
from workers.context import Services


@dataclass
class Changed:
    """A synced world and the service objects the worker would use."""

    world: World

    @property
    def services(self) -> Services:
        return self.world.rig.stack.app.extensions["qb24"]

    @property
    def qbo(self):
        return self.world.qbo

    def pull(self, **options: Any) -> str:
        return run_pull(self.services, self.world.realm_id, **options)

    def connection(self) -> QboConnection:
        with self.world.rig.sessions() as session:
            return session.scalar(select(QboConnection))

    def update_connection(self, **values: Any) -> None:
        with transaction(self.world.rig.sessions) as session:
            connection = session.scalar(select(QboConnection))
            for name, value in values.items():
                setattr(connection, name, value)

    def qbo_requests(self) -> int:
        stats = self.world.rig.stack.qbo.control("stats", method="GET")
        return int(stats["requests_per_realm"].get(self.world.realm_id, 0))

    def crm(self) -> Crm:
        return read_crm(self.world.reader, self.world.target)

    def customer_record(self, crm: Crm, customer: dict) -> dict:
        entity = "company" if customer.get("CompanyName") else "contact"
        found = crm.by_origin(entity, f"Customer:{customer['Id']}")
        assert len(found) == 1, f"Customer {customer['Id']}: {len(found)} CRM records"
        return found[0]

    def invoice_record(self, crm: Crm, invoice_id: str) -> list[dict]:
        return crm.invoices_by_xml_id(f"qb24:{self.world.realm_id}:Invoice:{invoice_id}")


def new_customer(qbo, name: str, email: str) -> dict:
    return qbo.create("Customer", {"DisplayName": name, "GivenName": name.split()[0], "FamilyName": name.split()[-1],
                                   "PrimaryEmailAddr": {"Address": email}})


def new_invoice(qbo, customer_id: str, amount: float) -> dict:
    items = qbo.query("SELECT * FROM Item WHERE Type = 'Service' MAXRESULTS 1")
    return qbo.create("Invoice", {"CustomerRef": {"value": customer_id}, "Line": [{
        "Amount": amount, "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": items[0]["Id"]}, "Qty": 1, "UnitPrice": amount}}]})


def sync_log(changed: Changed) -> list[tuple[str, str, str]]:
    from store.sync_log import failures
    with changed.world.rig.sessions() as session:
        portal_id = changed.world.rig.portal().id
        return [(f.qbo_type, f.qbo_id, f.reason) for f in failures(session, portal_id)]
