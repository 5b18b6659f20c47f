"""`make demo`'s job: install the app into the Bitrix24 sandbox through the portal's install flow,
connect QuickBooks through the app's own endpoints (the callback's ticket claimed by the page's
session), and read the whole sample company."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from html import unescape
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from mappers.invoice_status import InvoiceStatus
from mappers.stages import default_stage_map
from qb24.demo import run_demo
from sandbox.quickbooks.company import sample_company


@dataclass(frozen=True)
class DemoRun:
    database: Path
    summary: dict
    lines: list[str]


def _portal_pages(stack) -> dict[str, str]:
    """The sandbox portal's CRM pages as a person opens them, and its records through REST, while it runs."""
    portal = stack.b24.default_portal.url
    pages = {name: requests.get(f"{portal}{path}", timeout=30).text for name, path in (
        ("contacts", "/crm/contact/list/"), ("companies", "/crm/company/list/"), ("kanban", "/crm/type/31/kanban/"))}
    client = stack.app.extensions["qb24"].bitrix24_client(stack.b24.default_member_id)
    items = list(client.list_all("crm.item.list", {"entityTypeId": 31, "select": ["id", "title", "stageId"]}))
    companies = list(client.list_all("crm.company.list", {"select": ["ID", "TITLE"]}))
    stages = client.call("crm.status.list").result
    deal_pages = {deal["ID"]: requests.get(f"{portal}/crm/deal/details/{deal['ID']}/", timeout=30).text
                  for deal in client.list_all("crm.deal.list", {"select": ["ID"]})}
    return {**pages, "companies_page": pages["companies"], "items": items, "companies": companies,
            "stages": stages, "deal_pages": deal_pages}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> DemoRun:
    """One demo run (two sandboxes and the app) serves every assertion below."""
    database, lines = tmp_path_factory.mktemp("demo") / "demo.db", []
    summary = run_demo(f"sqlite:///{database}", echo=lines.append, serve=False, visit=_portal_pages)
    return DemoRun(database, summary, lines)


def test_demo_reads_the_whole_sample_company(demo):
    summary, lines = demo.summary, demo.lines
    company = sample_company(date.today())
    assert summary["customers"] == len(company.customers)
    assert summary["invoices"] == len(company.invoices) >= 40
    statuses = summary["invoice_statuses"]
    assert statuses[InvoiceStatus.DELETED.value] == len(company.deleted_invoices)
    assert all(statuses.get(status.value, 0) >= 5 for status in InvoiceStatus)
    assert lines[0].startswith("Connected QuickBooks company") and "over OAuth" in lines[0]
    assert demo.database.exists()
    assert lines[-2].startswith("Bitrix24 sandbox portal: http://127.0.0.1:")  # after the live changes
    assert lines[-1] == f"Open the app page in a browser: {summary['app_page']}"
    assert summary["app_page"].startswith(summary["b24_portal"] + "marketplace/app/")


def test_demo_leaves_an_installed_portal_and_a_connected_company(demo):
    summary = demo.summary
    engine = create_engine(f"sqlite:///{demo.database}")
    with engine.connect() as db:
        portal = db.execute(text("SELECT id, domain, status, access_token_enc, refresh_token_enc, "
                                 "application_token_enc, client_endpoint FROM portals")).one()
        connection = db.execute(text("SELECT portal_id, realm_id, company_name, status, refresh_token_enc "
                                     "FROM qbo_connections")).one()
        states = db.execute(text("SELECT count(*) FROM oauth_states")).scalar()
        pending = db.execute(text("SELECT count(*) FROM pending_connections")).scalar()
    engine.dispose()
    assert portal.status == "installed" and summary["b24_portal"] == f"http://{portal.domain}/"
    assert portal.client_endpoint == f"http://{portal.domain}/rest/"
    assert portal.access_token_enc and portal.refresh_token_enc and portal.application_token_enc
    assert (connection.portal_id, connection.realm_id, connection.status) == (portal.id, summary["realm_id"], "connected")
    assert connection.company_name == summary["company"] and connection.refresh_token_enc
    assert states == 0  # the consent's state was used up
    assert pending == 0  # the callback's ticket was claimed through /quickbooks/connect/finish


def test_demo_runs_the_first_sync_through_start_sync_and_prints_the_report(demo):
    lines, sync = demo.lines, demo.summary["sync"]
    start = lines.index("First sync started from the app page (Start sync → full_sync task → embedded worker):")
    assert lines[0].startswith("Connected QuickBooks company") and start > 0
    assert any(line.startswith("  customers ") or line.startswith("  invoices ") for line in lines[start + 1:])
    assert sync["status"] == "done"
    assert "Sync run 1 (full): done" in lines
    report = sync["report"]
    created = report["invoices"]["imported"]
    assert f"  invoices   created {created}  updated 0  unchanged 0  failed {report['invoices']['failed']}" in lines
    with create_engine(f"sqlite:///{demo.database}").connect() as db:
        assert db.execute(text("SELECT status FROM sync_runs")).scalars().all() == ["done"]


def test_demo_leaves_contacts_companies_and_the_invoice_kanban_in_the_portal(demo):
    visit = demo.summary["visit"]
    items, companies = visit["items"], visit["companies"]
    # the first sync's invoices, the one the live part created (a deleted one stays, on its stage) and
    # the one saved on QuickBooks' new-invoice screen for the deal
    assert len(items) == demo.summary["sync"]["report"]["invoices"]["imported"] + 2 > 2
    assert companies and all(company["TITLE"] in unescape(visit["companies_page"]) for company in companies)
    assert all(f"#{item['id']} " in visit["kanban"] for item in items)
    stages = {item["stageId"] for item in items}
    assert len(stages) >= 3  # statuses spread over the kanban's columns
    assert "<table" in visit["contacts"] and visit["contacts"].count("<tr") > 1
    assert any("Bitrix24 CRM pages: contacts" in line and "/crm/type/31/kanban/" in line for line in demo.lines)


def test_demo_changes_quickbooks_live_and_each_change_lands_on_its_stage(demo):
    """After the first sync the demo writes to QuickBooks through its API; each change reaches Bitrix24
    through the sandbox's webhook, /webhooks/quickbooks and the pull, on the stage its status maps to."""
    lines, live = demo.lines, demo.summary["live"]
    start = lines.index("Live changes made in QuickBooks now (its API, the app's tokens) and where they landed in "
                        "Bitrix24:")
    assert lines[start + 1:start + 1 + len(live)] == [landed.line() for landed in live]
    whats = [landed.what for landed in live]
    assert whats[0].startswith("new customer 'Live Demo Customer") and live[0].where.startswith("company #")
    assert whats[1] == "an invoice for that customer"
    assert whats[2].startswith("invoice ") and whats[2].endswith(" emailed")
    assert " paid " in whats[3] and " of " in whats[3] and "paid the other" in whats[4]
    assert whats[5].endswith(" voided") and whats[6].endswith(" deleted")
    category = live[1].stage_id.split(":")[0].removeprefix("DT31_")
    rows = [row for row in demo.summary["visit"]["stages"] if row["ENTITY_ID"] == f"SMART_INVOICE_STAGE_{category}"]
    stage_map, names = default_stage_map(rows), {row["STATUS_ID"]: row["NAME"] for row in rows}
    expected = [InvoiceStatus.UNSENT, InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.PAID,
                InvoiceStatus.VOIDED, InvoiceStatus.DELETED]
    assert [landed.stage_id for landed in live[1:]] == [stage_map[status.value] for status in expected]
    assert all(f"stage {names[landed.stage_id]!r}" in landed.line() for landed in live[1:])
    assert all(0 < landed.latency_s < 30 for landed in live)


def test_demo_exports_a_new_contact_and_links_the_deal_s_invoice_to_the_deal(demo):
    """Bitrix24 → QuickBooks: export on in the settings form, a contact added on the portal's page becomes
    a QuickBooks customer, Create Invoice on a deal with it names that customer and links to QuickBooks'
    new-invoice screen, and the invoice saved there arrives in Bitrix24 linked to the deal, on the stage
    of an unsent invoice."""
    lines, b2q = demo.lines, demo.summary["b2q"]
    start = lines.index("Bitrix24 → QuickBooks now (the portal's pages, QuickBooks' new-invoice screen):")
    customer_id, deal_id, contact_id = b2q["customer_id"], b2q["deal_id"], b2q["contact_id"]
    assert lines[start + 1] == "  export of new contacts and companies turned on in the app's settings form"
    assert lines[start + 2] == b2q["exported"].line()
    assert b2q["exported"].what == f"new contact #{contact_id} 'Imogen Thistlewood'"
    assert b2q["exported"].where == f"QuickBooks customer #{customer_id} 'Imogen Thistlewood'"
    assert b2q["new_invoice_url"].startswith("http://127.0.0.1:")  # the QuickBooks sandbox's screen
    assert b2q["new_invoice_url"].endswith(f"/app/invoice?nameId={customer_id}")
    assert lines[start + 3] == (f"  Create Invoice on deal #{deal_id} 'Thistlewood garden redesign' → the page names "
                                f"'Imogen Thistlewood' and opens {b2q['new_invoice_url']} in a new tab")
    assert lines[start + 4] == b2q["invoice"].line()
    # where to see it: the deal's card, which lists the invoice
    deal_url = f"{demo.summary['b24_portal']}crm/deal/details/{deal_id}/"
    assert lines[start + 6] == f"  the deal, with the invoice saved in QuickBooks: {deal_url}"
    item = b2q["invoice_item"]
    assert (int(item["parentId2"]), int(item["contactId"])) == (deal_id, contact_id)
    assert f"invoice #{item['id']}, stage " in b2q["invoice"].where and b2q["invoice"].where.endswith(f"deal #{deal_id}")
    category = item["stageId"].split(":")[0].removeprefix("DT31_")
    rows = [row for row in demo.summary["visit"]["stages"] if row["ENTITY_ID"] == f"SMART_INVOICE_STAGE_{category}"]
    assert item["stageId"] == default_stage_map(rows)[InvoiceStatus.UNSENT.value]
    assert f"data-invoice-id='{item['id']}'" in demo.summary["visit"]["deal_pages"][str(deal_id)]
    assert 0 < b2q["exported"].latency_s < 30 and 0 < b2q["invoice"].latency_s < 30
    with create_engine(f"sqlite:///{demo.database}").connect() as db:
        settings = db.execute(text("SELECT settings FROM portals")).scalar()
        link = db.execute(text("SELECT qbo_id FROM links WHERE b24_type = 'contact' AND b24_id = :id"),
                          {"id": str(contact_id)}).scalar()
        requests_ = db.execute(text("SELECT deal_id, qbo_customer_id, invoice_qbo_id FROM deal_requests")).all()
    assert json.loads(settings)["export_new_contacts"] is True
    assert link == customer_id  # the export linked the contact both ways
    invoice_id = item["xmlId"].rsplit(":", 1)[1]
    assert [tuple(row) for row in requests_] == [(str(deal_id), customer_id, invoice_id)]
