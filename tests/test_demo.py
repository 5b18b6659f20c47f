"""`make demo`'s job: install the app into the Bitrix24 sandbox through the portal's install flow,
connect QuickBooks through the app's own endpoints (the callback's ticket claimed by the page's
session), and read the whole sample company."""
from __future__ import annotations

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
    return {**pages, "companies_page": pages["companies"], "items": items, "companies": companies, "stages": stages}


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
    # the first sync's invoices and the one the live part created (a deleted one stays, on its stage)
    assert len(items) == demo.summary["sync"]["report"]["invoices"]["imported"] + 1 > 1
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
