"""Bitrix24 as the projection of QuickBooks after real-time changes: every customer and invoice once,
field by field and stage by stage (the issue-9 checks in e2e_expect*.py), deleted invoices in their
stage, and nothing else carrying our origin markers."""
from __future__ import annotations

from collections import Counter
from datetime import date

from clients.bitrix24 import Bitrix24Client
from clients.quickbooks import QuickBooksClient
from mappers.invoice_status import InvoiceStatus
from mappers.origin import invoice_xml_id, originator_id
from tests.workers.e2e_b24 import Crm, read_crm, stages
from tests.workers.e2e_expect import (check_customer, check_person, expected_stages, is_company, person_contact,
                                      top_level)
from tests.workers.e2e_expect_invoice import check_invoice, view_of
from tests.workers.e2e_qbo import read_company

SMART = "smart_invoice"


def projection_problems(reader: Bitrix24Client, qbo: QuickBooksClient, *, deleted_invoices: set[str],
                        gone_customers: set[str], today: date) -> list[str]:
    """Every way the portal differs from the company (empty: it is the projection). `deleted_invoices`:
    invoices deleted in QuickBooks (kept in the deleted stage, the default on_invoice_delete);
    `gone_customers`: customers merged away (their CRM record stays, unlinked)."""
    customers, invoices = read_company(qbo)
    crm = read_crm(reader, SMART)
    realm_id = qbo.realm_id
    problems = _duplicates(crm, realm_id)
    records: dict[str, dict] = {}
    for customer in customers.values():
        if customer.get("ParentRef"):
            continue
        entity = "company" if is_company(customer) else "contact"
        found = crm.by_origin(entity, f"Customer:{customer['Id']}")
        if len(found) != 1:
            problems.append(f"Customer {customer['Id']} {customer['DisplayName']!r}: {len(found)} {entity} records")
            continue
        records[customer["Id"]] = found[0]
        problems += check_customer(crm, customer, realm_id, found[0])
        if entity == "company":
            problems += check_person(crm, customer, found[0])
    known = set(records) | gone_customers | {c for c in customers if customers[c].get("ParentRef")}
    problems += [f"CRM record {r['ID']} carries {r['ORIGIN_ID']} of no customer" for r in _ours(crm, realm_id)
                 if r["ORIGIN_ID"].split(":")[1] not in known]
    stage_for = expected_stages(stages(reader, SMART))
    for invoice in invoices.values():
        found = crm.invoices_by_xml_id(invoice_xml_id(realm_id, invoice["Id"]))
        if len(found) != 1:
            problems.append(f"Invoice {invoice['Id']}: {len(found)} in Bitrix24")
            continue
        links = _links(crm, customers, records, invoice)
        if links is not None:
            problems += check_invoice(view_of(found[0], SMART), invoice, today=today, stage_for=stage_for, **links)
    for invoice_id in deleted_invoices:
        found = crm.invoices_by_xml_id(invoice_xml_id(realm_id, invoice_id))
        stage = stage_for[InvoiceStatus.VOIDED]  # deleted and voided share the first failure stage (mappers/stages)
        if [i["stageId"] for i in found] != [stage]:
            problems.append(f"deleted Invoice {invoice_id}: {[i['stageId'] for i in found]}, expected [{stage}]")
    expected_xml = {invoice_xml_id(realm_id, i) for i in [*invoices, *deleted_invoices]}
    problems += [f"Bitrix24 invoice {i['id']} {i.get('xmlId')!r} is no QuickBooks invoice"
                 for i in crm.invoices.values() if i.get("xmlId") not in expected_xml]
    return problems


def _ours(crm: Crm, realm_id: str) -> list[dict]:
    return [r for r in [*crm.contacts.values(), *crm.companies.values()]
            if r.get("ORIGINATOR_ID") == originator_id(realm_id) and not r["ORIGIN_ID"].endswith(":person")]


def _duplicates(crm: Crm, realm_id: str) -> list[str]:
    origins = Counter(r.get("ORIGIN_ID") for r in [*crm.contacts.values(), *crm.companies.values()]
                      if r.get("ORIGINATOR_ID") == originator_id(realm_id))
    xml_ids = Counter(i.get("xmlId") for i in crm.invoices.values())
    return ([f"{n} CRM records carry {origin}" for origin, n in origins.items() if n > 1]
            + [f"{n} invoices carry {xml_id}" for xml_id, n in xml_ids.items() if n > 1])


def _links(crm: Crm, customers: dict[str, dict], records: dict[str, dict], invoice: dict) -> dict | None:
    """The CRM records the invoice must point at (its top-level customer's); None when that one is missing."""
    customer = customers[invoice["CustomerRef"]["value"]]
    top = top_level(customer["Id"], customers)
    record = records.get(top["Id"])
    if record is None:
        return None
    job_name = customer["DisplayName"] if customer is not top else None
    if is_company(top):
        person = person_contact(crm, top)
        return {"company_id": record["ID"], "contact_id": person["ID"] if person else "", "job_name": job_name}
    return {"company_id": "", "contact_id": record["ID"], "job_name": job_name}
