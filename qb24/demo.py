"""`make demo`: the flow on the embedded defaults, against the built-in sandboxes.

Today it connects the QuickBooks sandbox through the same OAuth flow the service uses
(authorize → consent → redirect with code → token exchange), stores the encrypted tokens in
SQLite, and reads every customer and invoice through the service's QuickBooks client.
"""
from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

from clients.coordination import locks_for
from clients.quickbooks import QuickBooksClient
from clients.quickbooks_auth import QboApp, QboOAuth
from clients.quickbooks_limits import QboGate
from config.settings import Settings, load_settings
from mappers.customer_kind import customer_kind
from mappers.invoice_status import InvoiceStatus, invoice_status
from qb24.sandboxes import (QBO_SANDBOX_CLIENT_ID, QBO_SANDBOX_CLIENT_SECRET, QboSandbox, start_b24_sandbox,
                            start_qbo_sandbox)
from store.crypto import TokenCipher
from store.db import make_engine, make_session_factory, migrate, transaction
from store.portals import connect_realm, ensure_portal
from store.tokens import SqlRealmTokens

Echo = Callable[[str], None]
DEMO_APP_BASE_URL = "http://127.0.0.1:8000"


def demo_settings(qbo: QboSandbox, database_url: str) -> Settings:
    """The service's settings as a self-hoster would set them, pointed at the sandbox."""
    return load_settings({
        "APP_BASE_URL": DEMO_APP_BASE_URL,
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "TOKEN_ENCRYPTION_KEY": TokenCipher.generate_key(),
        "QBO_CLIENT_ID": QBO_SANDBOX_CLIENT_ID,
        "QBO_CLIENT_SECRET": QBO_SANDBOX_CLIENT_SECRET,
        "QBO_REDIRECT_URI": DEMO_APP_BASE_URL + "/quickbooks/callback",
        "QBO_ENVIRONMENT": qbo.discovery_url,
        "QBO_API_BASE": qbo.api_base,
        "QBO_VERIFIER_TOKEN": secrets.token_urlsafe(16),
        "B24_CLIENT_ID": "local.qb24sandbox.0000",
        "B24_CLIENT_SECRET": "qb24-b24-sandbox-secret",
    })


def authorize(oauth: QboOAuth) -> tuple[str, str]:
    """Walk the consent redirect as a browser would; return (code, realm_id) after checking state."""
    state = secrets.token_urlsafe(24)
    consent = requests.get(oauth.authorization_url(state), allow_redirects=False, timeout=30)
    if consent.status_code not in (302, 303):
        raise RuntimeError(f"consent did not redirect (HTTP {consent.status_code})")
    query = parse_qs(urlsplit(consent.headers["Location"]).query)
    if query.get("state") != [state]:
        raise RuntimeError("OAuth state mismatch")
    return query["code"][0], query["realmId"][0]


def run_demo(database_url: str, echo: Echo = print) -> dict[str, object]:
    """Connect the sandbox company and read it all; return the summary it prints."""
    _fresh_sqlite(database_url)
    qbo = start_qbo_sandbox(auto_approve=True)
    b24 = start_b24_sandbox()
    try:
        settings = demo_settings(qbo, database_url)
        migrate(settings.database_url)
        summary = connect_and_read(settings)
        summary["b24_portal"] = b24.default_portal.url + "/"
    finally:
        qbo.stop()
        b24.stop()
    print_summary(summary, echo)
    return summary


def connect_and_read(settings: Settings) -> dict[str, object]:
    engine = make_engine(settings.database_url)
    sessions, cipher = make_session_factory(engine), TokenCipher(settings.token_encryption_key)
    oauth = QboOAuth(QboApp(settings.qbo_client_id, settings.qbo_client_secret, settings.qbo_redirect_uri,
                            settings.qbo_environment))
    code, realm_id = authorize(oauth)
    tokens = oauth.exchange_code(code, realm_id)
    client = QuickBooksClient(realm_id, tokens=SqlRealmTokens(sessions, cipher), oauth=oauth,
                              locks=locks_for(None), api_base=settings.qbo_api_base, gate=QboGate(None))
    with transaction(sessions) as session:
        portal = ensure_portal(session, member_id="demo", domain="demo.invalid",
                               client_endpoint="http://demo.invalid/rest/", server_endpoint="http://demo.invalid/rest/")
        connect_realm(session, portal, tokens, cipher)
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


def print_summary(summary: dict, echo: Echo) -> None:
    echo(f"Connected QuickBooks company {summary['company']!r} (realm {summary['realm_id']}) over OAuth")
    echo(f"  customers: {summary['customers']}  " + _pairs(summary["customer_kinds"])
         + f"  inactive={summary['inactive_customers']}")
    echo(f"  invoices:  {summary['invoices']}  open balance {summary['open_balance']:.2f}")
    statuses = summary["invoice_statuses"]
    for status in InvoiceStatus:
        note = "  (CDC tombstones)" if status is InvoiceStatus.DELETED else ""
        echo(f"    {status.value:<15} {statuses.get(status.value, 0):>4}{note}")
    echo("  currencies: " + _pairs(summary["currencies"]))
    echo(f"Bitrix24 sandbox portal: {summary['b24_portal']}")


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
