"""`make demo`: the Market app end to end on the embedded defaults, against the built-in sandboxes.

It serves the app on loopback beside both sandboxes, installs it into the Bitrix24 sandbox's
default portal through the portal's own install flow (installer POST → our /bitrix24/install →
BX24.installFinish), opens the app page the same way, logs in to QuickBooks through
/quickbooks/connect → consent → /quickbooks/callback → /quickbooks/connect/finish (as the framed
page does with the callback's ticket), reads the whole company through the service's QuickBooks
client with the stored tokens, presses Start sync (the full_sync task runs on the app's embedded
worker), prints its progress and report, then changes the company live through the QuickBooks API and
prints where each change landed in Bitrix24 and how long it took (qb24/demo_live.py), then goes the other
way (qb24/demo_b2q.py): turns on the export of new contacts, adds a contact on the portal's page and
shows its QuickBooks customer, uses Create Invoice on a deal, saves the invoice on QuickBooks' new-invoice
screen and shows it arrive in Bitrix24 linked to the deal; and keeps serving until Ctrl-C.
"""
from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from sqlalchemy import select

from clients.coordination import locks_for
from clients.quickbooks import QuickBooksClient
from clients.quickbooks_auth import QboApp, QboOAuth
from clients.quickbooks_limits import QboGate
from mappers.customer_kind import customer_kind
from mappers.invoice_status import InvoiceStatus, invoice_status
from qb24.demo_b2q import bitrix24_to_quickbooks
from qb24.demo_live import live_changes
from qb24.resync import describe
from qb24.stack import Stack, start_stack
from store.crypto import TokenCipher
from store.db import make_engine, make_session_factory
from store.models import QboConnection, SyncRun
from store.tokens import SqlRealmTokens
from workers.progress import report_lines
from workers.runs import ACTIVE_RUNS

Echo = Callable[[str], None]
DEADLINE_S = 15.0
SYNC_DEADLINE_S = 300.0
PROGRESS_POLL_S = 0.5  # the page polls every 2 s; the terminal can follow a little closer


def run_demo(database_url: str, echo: Echo = print, *, serve: bool = True, host: str = "127.0.0.1",
             port: int = 0, qbo_port: int = 0, b24_port: int = 0,
             visit: Callable[[Stack], object] | None = None) -> dict[str, object]:
    """Install, open, connect, read, run the first sync; print all; serve until Ctrl-C unless `serve` is False."""
    _fresh_sqlite(database_url)
    stack = start_stack(database_url, host=host, port=port, qbo_port=qbo_port, b24_port=b24_port)
    try:
        browser = requests.Session()
        summary = walk_admin_flow(stack, browser)
        print_company(summary, echo)
        summary["sync"] = first_sync(stack, browser, echo)
        summary["live"] = live_changes(stack, str(summary["realm_id"]), echo)
        summary["b2q"] = bitrix24_to_quickbooks(stack, browser, str(summary["realm_id"]), echo)
        print_where_to_look(summary, echo)
        if visit is not None:  # a look at the running stack before it stops (tests)
            summary["visit"] = visit(stack)
        if serve:
            echo("Serving until Ctrl-C.")
            _wait_for_interrupt()
    finally:
        stack.stop()
    return summary


def walk_admin_flow(stack: Stack, browser: requests.Session) -> dict[str, object]:
    """What an admin does, over HTTP as a browser would: install, open the app, log in to QuickBooks."""
    member_id = stack.b24.default_member_id
    install_app(stack, browser, member_id)
    page = open_app_page(stack, browser, member_id)
    connect_quickbooks(browser, stack.url, page)
    summary = read_company(stack)
    portal = stack.b24.default_portal
    summary["b24_portal"] = portal.url + "/"
    summary["app_page"] = f"{portal.url}/marketplace/app/{stack.settings.b24_client_id}/"
    summary["app_url"] = stack.url
    return summary


def b24_control(stack: Stack, path: str, payload: dict | None = None, method: str = "POST") -> Any:
    response = requests.request(method, f"{stack.b24.control_url}/{path}", json=payload, timeout=30)
    response.raise_for_status()
    return response.json()


def frame_post(browser: requests.Session, fields: dict) -> requests.Response:
    """The iframe POST the portal page submits (query in the URL, the rest form-encoded)."""
    url = f"{fields['handler_url']}?{urlencode(fields['query'])}"
    response = browser.post(url, data=fields["form"], timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"{url.split('?')[0]} answered HTTP {response.status_code}: {response.text[:300]}")
    return response


def install_app(stack: Stack, browser: requests.Session, member_id: str) -> None:
    """Install through the portal: installer POST, BX24.installFinish(), then ONAPPINSTALL arrives."""
    client_id = stack.settings.b24_client_id
    fields = b24_control(stack, f"portals/{member_id}/install", {"client_id": client_id})
    installer = frame_post(browser, fields)
    if "BX24.installFinish()" not in installer.text:
        raise RuntimeError("the installer page does not finish the install")
    portal_url = stack.b24.info(member_id).url
    earlier = len(_sent(stack, member_id, "ONAPPINSTALL"))  # a reinstall's predecessor was delivered too
    browser.post(f"{portal_url}/marketplace/finish/{fields['app_sid']}", timeout=30).raise_for_status()
    _wait_delivered(stack, member_id, "ONAPPINSTALL", earlier)


def _sent(stack: Stack, member_id: str, event: str) -> list[dict]:
    return b24_control(stack, f"events?{urlencode({'member_id': member_id, 'event': event})}", method="GET")


def _wait_delivered(stack: Stack, member_id: str, event: str, earlier: int = 0) -> None:
    """Until a POST of `event` after the first `earlier` ones was answered 200 (it may come late, §1.2)."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if any(record.get("status") == 200 for record in _sent(stack, member_id, event)[earlier:]):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{event} was not delivered to the app within {DEADLINE_S:.0f} s")


def open_app_page(stack: Stack, browser: requests.Session, member_id: str) -> str:
    """Open the app as the portal does (same fields as its /marketplace/app/<client_id>/ page)."""
    fields = b24_control(stack, f"portals/{member_id}/install", {"client_id": stack.settings.b24_client_id})
    return frame_post(browser, fields).text


def connect_quickbooks(browser: requests.Session, app_url: str, page: str) -> str:
    """Log in as the app page does: its form → /quickbooks/connect → consent (auto-approve) →
    /quickbooks/callback, then the framed page's part: POST the callback's ticket to
    /quickbooks/connect/finish with the session cookie and CSRF token. The callback page's text."""
    match = re.search(r'id="login-token"[^>]*value="([^"]+)"', page)
    if match is None:
        raise RuntimeError("the app page shows no QuickBooks Log in form")
    response = browser.post(app_url + "/quickbooks/connect", data={"t": unescape(match.group(1))}, timeout=30)
    ticket = re.search(r"data-ticket='([^']+)'", response.text)
    if response.status_code != 200 or ticket is None:
        raise RuntimeError(f"QuickBooks consent failed (HTTP {response.status_code})")
    finished = finish_connect(browser, app_url, page, unescape(ticket.group(1)))
    if finished.status_code != 200:
        raise RuntimeError(f"finishing the QuickBooks connection failed (HTTP {finished.status_code})")
    return response.text


def finish_connect(browser: requests.Session, app_url: str, page: str, ticket: str) -> requests.Response:
    """What the app page's script does with the ticket its consent tab posts to it."""
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    headers = {"Accept": "application/json", "X-CSRF-Token": unescape(csrf.group(1)) if csrf else ""}
    return browser.post(app_url + "/quickbooks/connect/finish", data={"ticket": ticket}, headers=headers, timeout=30)


def read_company(stack: Stack) -> dict[str, object]:
    """Read every customer and invoice with the stored tokens."""
    settings = stack.settings
    engine = make_engine(settings.database_url)
    sessions, cipher = make_session_factory(engine), TokenCipher(settings.token_encryption_key)
    with sessions() as session:
        connection = session.scalar(select(QboConnection))
        realm_id = connection.realm_id
    oauth = QboOAuth(QboApp(settings.qbo_client_id, settings.qbo_client_secret, settings.qbo_redirect_uri,
                            settings.qbo_environment))
    client = QuickBooksClient(realm_id, tokens=SqlRealmTokens(sessions, cipher), oauth=oauth,
                              locks=locks_for(None), api_base=settings.qbo_api_base, gate=QboGate(None))
    company = client.company_info()
    customers = [c for _, page in client.query_pages("Customer", "Active IN (true, false)") for c in page]
    invoices = [i for _, page in client.query_pages("Invoice") for i in page]
    # Deleted invoices are gone from queries; change data capture still reports them (30 days).
    deleted = client.cdc(["Invoice"], datetime.now(timezone.utc) - timedelta(days=29)).tombstones("Invoice")
    engine.dispose()
    return summarize(company, realm_id, customers, invoices + deleted)


def summarize(company: dict, realm_id: str, customers: list[dict], invoices: list[dict]) -> dict[str, object]:
    today = date.today()
    return {
        "company": company.get("CompanyName"), "realm_id": realm_id,
        "customers": len(customers),
        "customer_kinds": dict(Counter(customer_kind(c).value for c in customers)),
        "inactive_customers": sum(1 for c in customers if c.get("Active") is False),
        "invoices": sum(1 for i in invoices if i.get("status") != "Deleted"),
        "invoice_statuses": {s.value: n for s, n in Counter(invoice_status(i, today) for i in invoices).items()},
        "currencies": dict(Counter(_currency(i) for i in invoices if i.get("status") != "Deleted")),
        "open_balance": round(sum(float(i.get("Balance", 0)) for i in invoices), 2),
    }


def first_sync(stack: Stack, browser: requests.Session, echo: Echo) -> dict[str, Any]:
    """Press Start sync on the app page, follow its progress endpoint as the page does, print the report.

    The real path: the page queues the full_sync task, the app's embedded worker runs the engine."""
    page = browser.get(stack.url + "/bitrix24/app", timeout=30).text
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    started = browser.post(stack.url + "/bitrix24/app/sync", timeout=30,
                           data={"csrf_token": unescape(csrf.group(1)) if csrf else "", "mode": "full"})
    if started.status_code != 200 or "Sync queued." not in started.text:
        raise RuntimeError(f"Start sync was not accepted (HTTP {started.status_code})")
    echo("First sync started from the app page (Start sync → full_sync task → embedded worker):")
    progress = _follow_progress(stack, browser, echo)
    engine = make_engine(stack.settings.database_url)
    with make_session_factory(engine)() as session:
        run = session.get(SyncRun, progress["run_id"])
    engine.dispose()
    for line in report_lines(run):
        echo(line)
    return {"status": run.status, "report": run.report}


def _follow_progress(stack: Stack, browser: requests.Session, echo: Echo) -> dict[str, Any]:
    """Poll /bitrix24/app/progress until the run is over, echoing each change."""
    deadline, last = time.monotonic() + SYNC_DEADLINE_S, None
    while time.monotonic() < deadline:
        progress = browser.get(stack.url + "/bitrix24/app/progress", timeout=30).json()
        line = "  " + describe(progress)
        if line != last:
            echo(line)
            last = line
        if progress["status"] not in ACTIVE_RUNS:
            return progress
        time.sleep(PROGRESS_POLL_S)
    raise RuntimeError(f"the first sync did not finish within {SYNC_DEADLINE_S:.0f} s")


def print_company(summary: dict, echo: Echo) -> None:
    echo(f"Connected QuickBooks company {summary['company']!r} (realm {summary['realm_id']}) over OAuth "
         "through the app's /quickbooks/connect")
    echo(f"  customers: {summary['customers']}  " + _pairs(summary["customer_kinds"])
         + f"  inactive={summary['inactive_customers']}")
    echo(f"  invoices:  {summary['invoices']}  open balance {summary['open_balance']:.2f}")
    statuses = summary["invoice_statuses"]
    for status in InvoiceStatus:
        note = "  (CDC tombstones)" if status is InvoiceStatus.DELETED else ""
        echo(f"    {status.value:<15} {statuses.get(status.value, 0):>4}{note}")
    echo("  currencies: " + _pairs(summary["currencies"]))


def print_where_to_look(summary: dict, echo: Echo) -> None:
    portal = summary["b24_portal"]
    echo(f"Bitrix24 CRM pages: contacts {portal}crm/contact/list/  companies {portal}crm/company/list/  "
         f"invoice kanban {portal}crm/type/31/kanban/")
    if "b2q" in summary:
        deal_id = summary["b2q"]["deal_id"]
        echo(f"  the deal, with the invoice saved in QuickBooks: {portal}crm/deal/details/{deal_id}/")
    echo(f"App served at {summary['app_url']} (installed into the Bitrix24 sandbox, QuickBooks connected)")
    echo(f"Bitrix24 sandbox portal: {summary['b24_portal']}")
    echo(f"Open the app page in a browser: {summary['app_page']}")


def _currency(invoice: dict) -> str:
    # Without multicurrency QuickBooks omits CurrencyRef: the amount is in the home currency.
    return invoice.get("CurrencyRef", {}).get("value", "home")


def _pairs(counts: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(counts.items()))


def _fresh_sqlite(database_url: str) -> None:
    # The demo starts from nothing each run: the sandbox is new, so old tokens would be stale.
    if database_url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(database_url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)


def _wait_for_interrupt() -> None:
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
