"""The record-by-record baseline: what per-record automation platforms do, for the bench to beat.

A "new record" trigger lists the company, then each record is read on its own and written on its
own: one QuickBooks read per record, one Bitrix24 call per CRM record and one per invoice's product
rows, no batch, no duplicate search. The mapping is the project's own (mappers/), so the only
difference from the engine is how the requests are made.

The product rows of a Smart Invoice go in one crm.item.productrow.set call per invoice (Bitrix24
has no documented per-row add for crm.item, reference §5): one call fewer per row than a platform
adding row by row, so the ratios this baseline gives are, if anything, too kind to it.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from clients.bitrix24 import Bitrix24Client
from clients.bitrix24_errors import Bitrix24Error
from clients.quickbooks import QuickBooksClient
from mappers.customer import CustomerRecord, is_sub_customer, map_customer
from mappers.errors import MappingError
from mappers.invoice import PortalFacts, map_invoice
from mappers.multifield import multifield_new

SMART_INVOICE = 31


@dataclass
class BaselineTarget:
    """Where and how the baseline writes: the portal's settings and facts, the records to copy."""

    realm_id: str
    customer_rule: str
    invoice_target: str          # "smart_invoice" | "invoice"
    stage_map: dict[str, str]
    facts: PortalFacts
    max_customer_id: int | None  # a prefix of the company by Id (parents come before their jobs)
    today: date = field(default_factory=date.today)


@dataclass
class CrmParty:
    """The CRM records a top-level customer became."""

    company_id: str | None = None
    contact_id: str | None = None


@dataclass
class BaselineOutcome:
    counts: Counter = field(default_factory=Counter)   # customers / invoices written, failed
    failures: list[str] = field(default_factory=list)


def run_baseline(qbo: QuickBooksClient, b24: Bitrix24Client, target: BaselineTarget) -> BaselineOutcome:
    """Copy the customers (by Id prefix) and their invoices record by record."""
    outcome, parties, parents, names = BaselineOutcome(), {}, {}, {}
    for customer_id in _listed_ids(qbo, "Customer", "Active IN (true, false)", target):
        customer = qbo.get("Customer", customer_id)
        outcome.counts["customers_seen"] += 1
        names[customer_id] = customer.get("FullyQualifiedName") or customer.get("DisplayName", "")
        if is_sub_customer(customer):
            parents[customer_id] = customer["ParentRef"]["value"]
            continue
        _write_customer(b24, customer, target, parties, outcome)
    for invoice_id in _invoices_of(qbo, set(names), target):
        invoice = qbo.get("Invoice", invoice_id)
        outcome.counts["invoices_seen"] += 1
        owner = invoice["CustomerRef"]["value"]
        top = _top_ancestor(owner, parents)
        job = names.get(owner) if owner != top else None
        _write_invoice(b24, invoice, target, parties.get(top, CrmParty()), job, outcome)
    return outcome


def _listed_ids(qbo: QuickBooksClient, entity: str, where: str, target: BaselineTarget) -> list[str]:
    """The trigger's listing: every Id, in Id order, within the copied prefix."""
    ids = [record["Id"] for _, page in qbo.query_pages(entity, where) for record in page]
    limit = target.max_customer_id
    return sorted((i for i in ids if limit is None or int(i) <= limit), key=int)


def _invoices_of(qbo: QuickBooksClient, customer_ids: set[str], target: BaselineTarget) -> list[str]:
    """Ids of the invoices billed to the copied customers (the invoice trigger's listing)."""
    ids = [inv["Id"] for _, page in qbo.query_pages("Invoice") for inv in page
           if inv["CustomerRef"]["value"] in customer_ids]
    return sorted(ids, key=int)


def _top_ancestor(customer_id: str, parents: dict[str, str]) -> str:
    """Follow ParentRef up to the top-level customer (contract §3: jobs bill to it)."""
    seen = set()
    while customer_id in parents and customer_id not in seen:
        seen.add(customer_id)
        customer_id = parents[customer_id]
    return customer_id


def _write_customer(b24: Bitrix24Client, customer: dict, target: BaselineTarget,
                    parties: dict[str, CrmParty], outcome: BaselineOutcome) -> None:
    """One add per CRM record (and one more for a company's person)."""
    try:
        record = map_customer(customer, realm_id=target.realm_id, rule=target.customer_rule)
        new_id = str(b24.call(f"crm.{record.entity}.add", {"fields": _with_comms(record)}).result)
        party = CrmParty(company_id=new_id) if record.entity == "company" else CrmParty(contact_id=new_id)
        if record.person is not None:
            person = {**record.person, "COMPANY_ID": new_id}
            party.contact_id = str(b24.call("crm.contact.add", {"fields": person}).result)
        parties[record.qbo_id] = party
        outcome.counts["customers"] += 1
    except (MappingError, Bitrix24Error) as exc:
        outcome.counts["customers_failed"] += 1
        outcome.failures.append(f"Customer {customer.get('Id')}: {getattr(exc, 'reason', exc)}")


def _with_comms(record: CustomerRecord) -> dict[str, Any]:
    """The record's fields plus its emails and phones as new multi-field values."""
    fields = dict(record.fields)
    if record.emails:
        fields["EMAIL"] = multifield_new(record.emails)
    if record.phones:
        fields["PHONE"] = multifield_new(record.phones)
    return fields


def _write_invoice(b24: Bitrix24Client, invoice: dict, target: BaselineTarget, party: CrmParty,
                   job: str | None, outcome: BaselineOutcome) -> None:
    """One add per invoice, then (Smart Invoices) one call for its product rows."""
    try:
        record = map_invoice(invoice, realm_id=target.realm_id, target=target.invoice_target,
                             stage_map=target.stage_map, today=target.today, company_id=party.company_id,
                             contact_id=party.contact_id, facts=target.facts, job_name=job)
        if record.entity == "invoice":
            b24.call("crm.invoice.add", {"fields": record.fields})
        else:
            item = b24.call("crm.item.add", {"entityTypeId": SMART_INVOICE, "fields": record.fields}).result
            if record.product_rows:
                b24.call("crm.item.productrow.set", {"ownerType": "SI", "ownerId": item["item"]["id"],
                                                     "productRows": list(record.product_rows)})
        outcome.counts["invoices"] += 1
    except (MappingError, Bitrix24Error) as exc:
        outcome.counts["invoices_failed"] += 1
        outcome.failures.append(f"Invoice {invoice.get('Id')}: {getattr(exc, 'reason', exc)}")
