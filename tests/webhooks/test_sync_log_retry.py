"""Issue 10 item 5, end to end: the first sync leaves invoices in currencies the portal lacks in the sync log;
the admin adds the currency in Bitrix24 and clicks Retry; the real task (RETRY_RECORD on the app's worker)
re-reads the invoice from the QuickBooks sandbox and writes it, and it leaves the log. Over HTTP on
PostgreSQL, and clicked in Chromium in the framed page (screenshots under tests/artifacts/sync_log/)."""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape
from pathlib import Path

import pytest
import requests

from qb24.demo import connect_quickbooks, first_sync, install_app, open_app_page
from qb24.sandboxes import B24_SANDBOX_CLIENT_ID
from qb24.stack import Stack, start_stack
from store.db import make_engine, make_session_factory
from store.models import QboConnection, SyncFailure
from tests.services import postgres_schema
from tests.support import chromium
from tests.webhooks.stack_support import b24_control, wait_for

ARTIFACTS = Path(__file__).parents[1] / "artifacts" / "sync_log"
FAST_PORTAL = {"speedup": 20, "reset_bucket": True}  # rate-limit realism is the bench's job


@contextmanager
def stack_with_worker(database_url: str) -> Iterator[Stack]:
    """The stack with the app's in-process worker (running_stack's Redis kind has no worker process)."""
    stack = start_stack(database_url)
    try:
        yield stack
    finally:
        stack.stop()
        stack.app.extensions["qb24"].sessions.kw["bind"].dispose()  # before a schema is dropped


@contextmanager
def first_synced(stack: Stack) -> Iterator[requests.Session]:
    """Install, connect the sample company, run the first sync from the page; the admin's browser session."""
    member_id = stack.b24.default_member_id
    b24_control(stack, f"portals/{member_id}/settings", FAST_PORTAL)
    with requests.Session() as browser:
        install_app(stack, browser, member_id)
        connect_quickbooks(browser, stack.url, open_app_page(stack, browser, member_id))
        assert first_sync(stack, browser, lambda *_: None)["status"] == "done"
        yield browser


def logged(stack: Stack) -> dict[tuple[str, str], SyncFailure]:
    engine = make_engine(stack.settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            return {(f.qbo_type, f.qbo_id): f for f in session.query(SyncFailure)}
    finally:
        engine.dispose()


def realm_of(stack: Stack) -> str:
    engine = make_engine(stack.settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            return session.query(QboConnection).one().realm_id
    finally:
        engine.dispose()


def lacking(stack: Stack) -> tuple[str, list[str]]:
    """The currency of the first logged invoice, and every logged invoice in it (from the reasons)."""
    failures = logged(stack)
    reasons = {key: re.search(r"no currency (\w{3})", f.reason) for key, f in failures.items()}
    currency = next(m.group(1) for m in reasons.values() if m)
    return currency, sorted(key[1] for key, m in reasons.items() if m and m.group(1) == currency)


def add_currency(stack: Stack, currency: str) -> None:
    """The admin adds the currency in Bitrix24 (CRM > Settings > Currencies)."""
    path = f"portals/{stack.b24.default_member_id}/currencies"
    have = b24_control(stack, path, method="GET")
    b24_control(stack, path, {"currencies": [*({k: c[k] for k in ("CURRENCY", "BASE", "AMOUNT")} for c in have),
                                             {"CURRENCY": currency, "AMOUNT": 1.3}]})


def invoices_in_bitrix24(stack: Stack) -> set[str]:
    client = stack.app.extensions["qb24"].bitrix24_client(stack.b24.default_member_id)
    return {str(item.get("xmlId")) for item in client.list_all("crm.item.list", {"entityTypeId": 31,
                                                                                 "select": ["id", "xmlId"]})}


def test_retry_writes_the_fixed_record_and_it_leaves_the_log(tmp_path):
    with postgres_schema() as url, stack_with_worker(url) as stack, first_synced(stack) as browser:
        currency, stuck = lacking(stack)
        page = browser.get(stack.url + "/bitrix24/app", timeout=30).text
        assert f'id="retry-Invoice-{stuck[0]}"' in page and "The portal has no currency " + currency in page
        add_currency(stack, currency)
        csrf = unescape(re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1))
        clicked = browser.post(stack.url + "/bitrix24/app/sync/retry", timeout=30,
                               data={"csrf_token": csrf, "qbo_type": "Invoice", "qbo_id": stuck[0]})
        assert clicked.status_code == 200 and "Retry queued: QuickBooks invoice " + stuck[0] in clicked.text
        wait_for(lambda: ("Invoice", stuck[0]) not in logged(stack), "the retried invoice to leave the log", 30)
        xml_id = f"qb24:{realm_of(stack)}:Invoice:{stuck[0]}"
        assert xml_id in invoices_in_bitrix24(stack)
        left = logged(stack)
        assert all(("Invoice", other) in left for other in stuck[1:])  # only the one clicked was retried
        page = browser.get(stack.url + "/bitrix24/app", timeout=30).text
        assert f'id="retry-Invoice-{stuck[0]}"' not in page
        assert f"{len(left)} QuickBooks record" in page
        assert re.search(rf'<b>Last change:</b> QuickBooks invoice {stuck[0]} \([^)]*\) was created in Bitrix24', page)


@pytest.mark.browser
def test_retry_clicked_in_the_framed_page(tmp_path):
    with (stack_with_worker(f"sqlite:///{tmp_path / 'qb24.db'}") as stack, first_synced(stack),
          chromium(viewport={"width": 1100, "height": 1200}) as context):
        currency, stuck = lacking(stack)
        add_currency(stack, currency)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{stack.b24.default_portal.url}/marketplace/app/{B24_SANDBOX_CLIENT_ID}/")
        frame = page.frame_locator("#appframe")
        row = frame.locator(f'tr[data-record="Invoice-{stuck[0]}"]')
        row.wait_for()
        assert currency in row.inner_text()
        shot(page, "01-sync-log")
        frame.locator(f"#retry-Invoice-{stuck[0]}").click()
        frame.locator("text=Retry queued").wait_for()
        wait_for(lambda: ("Invoice", stuck[0]) not in logged(stack), "the retried invoice to leave the log", 30)
        page.reload()
        frame.locator("#sync-log").wait_for()
        assert frame.locator(f'tr[data-record="Invoice-{stuck[0]}"]').count() == 0
        assert f"invoice {stuck[0]}" in frame.locator("#last-change").inner_text()
        shot(page, "02-retried")


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
