"""Done means: an admin's whole walk in Chromium through the sandbox portal's pages.

install -> app page -> Log in -> QuickBooks consent (clicked) -> the callback tab posts its ticket
to the framed page, which finishes the connection -> settings saved -> start sync with a
live progress bar -> Log out -> Log in again -> uninstall; after each step the page and the store
are checked, and a screenshot is saved under tests/artifacts/admin_flow/.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from qb24.demo import install_app, open_app_page
from qb24.sandboxes import B24_SANDBOX_CLIENT_ID
from qb24.stack import Stack as Running
from qb24.stack import start_stack
from sandbox.server import serve_in_thread
from store.db import transaction
from store.models import Link, PendingConnection, Portal, QboConnection, SyncRun
from tests.support import chromium, wait_for

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).parents[1] / "artifacts" / "admin_flow"


@dataclass
class Stack:
    """The running stack (qb24.stack, as the demo runs it) seen from the default portal."""

    running: Running
    member_id: str
    portal_url: str

    qbo = property(lambda self: self.running.qbo)
    b24 = property(lambda self: self.running.b24)
    app = property(lambda self: self.running.app)
    server = property(lambda self: self.running.server)

    def store(self, query: Callable) -> Any:
        with self.app.extensions["qb24"].sessions() as session:
            return query(session)

    def portal_row(self, session) -> Portal:
        return session.scalar(select(Portal).where(Portal.member_id == self.member_id))


@pytest.fixture
def stack(tmp_path) -> Iterator[Stack]:
    # auto_approve off: the test clicks the QuickBooks consent page like a person.
    running = start_stack(f"sqlite:///{tmp_path / 'qb24.db'}", auto_approve=False, worker=False)
    portal = running.b24.default_portal
    yield Stack(running, portal.member_id, portal.url)
    running.stop()


@pytest.fixture
def browser_page():
    with chromium(viewport={"width": 1100, "height": 900}) as context:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.csp_errors = []  # every frame's console: a blocked script or frame shows up here
        page.on("console", lambda m: "Content Security Policy" in m.text and page.csp_errors.append(m.text))
        yield page


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page, frame, step: str, s: Stack) -> str:
    """Click Log in in the framed app, approve on the QuickBooks sandbox consent page; the callback
    tab hands its ticket to the framed page by postMessage, whose session finishes and tells the tab,
    which then closes itself; the company name the app page shows."""
    consent = open_consent(page, frame, step)
    with consent.expect_event("close"):  # the tab closes itself once the app page has finished
        consent.click("button[value=connect]")
    assert "/quickbooks/callback?" in consent.url  # it was the callback's page that closed
    # Only the framed page's POST of the ticket links the realm (polling /status alone never would).
    frame.locator("#connected").wait_for()
    assert s.store(lambda db: db.scalars(select(PendingConnection)).all()) == []
    return frame.locator("#company-name").text_content()


def open_consent(page, frame, step: str):
    """Click Log in: the QuickBooks consent page opens in the named tab (the framed page its opener)."""
    link_token = frame.locator("#login-token").get_attribute("value")
    with page.context.expect_page() as opened:
        frame.locator("#login").click()
    consent = opened.value  # window.open("", name) from the click; the form then submits into it
    consent.wait_for_url("**/connect/oauth2?**")
    assert consent.locator("h1").text_content().startswith("Connect ")  # really the consent page
    assert link_token and link_token not in consent.url  # the link token stayed in the POST body
    shot(consent, f"{step}a-quickbooks-consent")
    return consent


def test_admin_flow_through_the_portal_pages(stack, browser_page) -> None:
    page, s = browser_page, stack
    frame = page.frame_locator("#appframe")

    # 1. Install from the portal's Applications page: installer iframe -> /bitrix24/install -> installFinish.
    page.goto(f"{s.portal_url}/marketplace/")
    page.fill("input[name=client_id]", B24_SANDBOX_CLIENT_ID)
    page.click("button[type=submit]")
    page.wait_for_url(f"{s.portal_url}/marketplace/app/{B24_SANDBOX_CLIENT_ID}/")
    frame.locator("#not-connected").wait_for()
    assert page.text_content("#install-state") == "installed"
    shot(page, "01-installed")
    installs = requests.get(f"{s.b24.control_url}/portals/{s.member_id}/installs", timeout=10).json()
    install = installs[B24_SANDBOX_CLIENT_ID]
    assert install["installed"] and {e["event"] for e in install["events"]} == {
        "ONAPPINSTALL", "ONCRMCONTACTADD", "ONCRMCOMPANYADD", "ONAPPUNINSTALL"}
    assert sorted(p["placement"] for p in install["placements"]) == [  # Create Invoice on the four cards
        "CRM_COMPANY_DETAIL_TOOLBAR", "CRM_CONTACT_DETAIL_TOOLBAR", "CRM_DEAL_DETAIL_TOOLBAR", "CRM_LEAD_DETAIL_TOOLBAR"]
    row = s.store(s.portal_row)
    assert row.status == "installed" and row.access_token_enc and row.refresh_token_enc
    # The captured installer POST carries no application token: ONAPPINSTALL brings it, late.
    assert wait_for(lambda: s.store(s.portal_row).application_token_enc, "ONAPPINSTALL's application token")

    # 2. Open the app page in the portal: the not-connected view.
    page.goto(f"{s.portal_url}/marketplace/app/{B24_SANDBOX_CLIENT_ID}/")
    frame.locator("#not-connected").wait_for()
    assert frame.locator("#login").text_content() == "Log in with QuickBooks"
    assert frame.locator("#signup").get_attribute("target") == "_blank"
    shot(page, "02-app-not-connected")

    # 3. Log in through the QuickBooks sandbox consent page (auto-approve is off: it is clicked). Declined
    # first: the tab closes itself and the app page says so; nothing is stored.
    consent = open_consent(page, frame, "03-declined-")
    with consent.expect_event("close"):
        consent.click("button[value=cancel]")
    frame.locator("#login-error", has_text="You declined the connection, so nothing was changed.").wait_for()
    assert s.store(lambda db: db.scalars(select(QboConnection)).all()) == []
    company = log_in(page, frame, "03", s)
    assert frame.locator("#company-name").text_content() == company
    connection = s.store(lambda db: db.scalar(select(QboConnection)))
    assert connection.status == "connected" and connection.refresh_token_enc and connection.company_name == company
    assert frame.locator("#realm-id").text_content() == connection.realm_id
    shot(page, "04-connected")
    portal_id = s.store(s.portal_row).id
    with transaction(s.app.extensions["qb24"].sessions) as db:  # a record the sync would have linked
        db.add(Link(portal_id=portal_id, qbo_type="Customer", qbo_id="58", b24_type="contact", b24_id="7"))

    # 4. Change and save the settings.
    frame.locator("input[name=customer_rule][value=always_contacts]").check()
    overdue = frame.locator("#stage_overdue")
    overdue.select_option(label="New")
    frame.locator("input[name=export_new_contacts]").check()
    frame.locator("#save-settings").click()
    frame.locator("text=Settings saved.").wait_for()
    shot(page, "05-settings-saved")
    saved = s.store(s.portal_row).settings
    assert saved["customer_rule"] == "always_contacts" and saved["export_new_contacts"] is True
    assert saved["use_new_invoice"] is True and saved["stage_map"]["overdue"].endswith(":N")
    assert saved["stage_map"]["sent"].endswith(":S") and saved["stage_map"]["paid"].endswith(":P")

    # 5. Start sync: a pending full run, which can be cancelled while no worker has begun it (this stack
    # runs none); started again, the progress bar follows the counters live.
    frame.locator("#start-sync").click()
    frame.locator("text=Sync queued.").wait_for()
    frame.locator("#progress-status[data-status=pending]", has_text="The sync is waiting to start.").wait_for()
    frame.locator("#cancel-sync").click()
    frame.locator("text=The queued sync was cancelled: it will not start.").wait_for()
    frame.locator("#progress-status[data-status=cancelled]", has_text="The sync was cancelled.").wait_for()
    shot(page, "06a-sync-cancelled")
    assert s.store(lambda db: db.scalar(select(SyncRun)).status) == "cancelled"
    assert frame.locator("#cancel-sync").count() == 0
    frame.locator("#start-sync").click()
    frame.locator("text=Sync queued.").wait_for()
    with transaction(s.app.extensions["qb24"].sessions) as db:
        run = db.scalar(select(SyncRun).where(SyncRun.status == "pending"))
        assert (run.kind, run.status) == ("full", "pending")
        run.status, run.counters = "running", {"imported": 12, "updated": 0, "skipped": 1, "failed": 0, "total": 26}
    frame.locator("#progress-status[data-status=running]", has_text="The sync is running.").wait_for()
    frame.locator("[data-counter=imported]", has_text="12").wait_for()
    assert frame.locator("#cancel-sync-form").is_hidden()  # begun: no longer cancellable
    assert frame.locator("#sync-progress").evaluate("bar => bar.value") == 50
    shot(page, "06-sync-progress")

    # 6. Log out asks first (it revokes access for the whole portal): Cancel changes nothing; then
    # the confirmation's button logs out: tokens gone, sync stopped, links kept.
    frame.locator("#logout").click()
    frame.locator("#logout-confirm").wait_for()
    shot(page, "07a-logout-confirmation")
    frame.locator("#logout-cancel").click()
    frame.locator("#connected").wait_for()
    assert s.store(lambda db: db.scalar(select(QboConnection))).status == "connected"
    frame.locator("#logout").click()
    frame.locator("#logout-confirm").click()
    frame.locator("#not-connected").wait_for()
    shot(page, "07-logged-out")
    connection = s.store(lambda db: db.scalar(select(QboConnection)))
    assert connection.status == "disconnected" and connection.refresh_token_enc is None
    assert [r.status for r in s.store(lambda db: db.scalars(select(SyncRun)).all())] == ["cancelled", "cancelled"]
    assert s.store(lambda db: len(db.scalars(select(Link)).all())) == 1

    # 7. Log in again: the same connection row comes back; links and settings are still there.
    assert log_in(page, frame, "08", s) == company
    again = s.store(lambda db: db.scalars(select(QboConnection)).all())
    assert [(c.id, c.status) for c in again] == [(connection.id, "connected")] and again[0].refresh_token_enc
    assert s.store(lambda db: len(db.scalars(select(Link)).all())) == 1
    assert s.store(s.portal_row).settings == saved
    assert frame.locator("#stage_overdue option:checked").text_content() == "New"
    shot(page, "09-reconnected")
    page.set_viewport_size({"width": 420, "height": 900})  # a narrow portal column: one field per row
    frame.locator("#stage_overdue").wait_for()
    shot(page, "09b-reconnected-narrow")
    page.set_viewport_size({"width": 1100, "height": 900})

    # 8. Uninstall from the portal page: ONAPPUNINSTALL reaches us, the portal's tokens are dropped.
    page.goto(f"{s.portal_url}/marketplace/app/{B24_SANDBOX_CLIENT_ID}/uninstall/")
    page.click("button")
    page.locator("#uninstalled").wait_for()
    shot(page, "10-uninstalled")
    row = wait_for(lambda: (r := s.store(s.portal_row)).status == "uninstalled" and r)
    assert row.access_token_enc is None and row.refresh_token_enc is None
    assert s.store(lambda db: len(db.scalars(select(Link)).all())) == 1  # no CLEAN: data kept
    response = page.goto(f"{s.server.url}/bitrix24/app")
    assert response.status == 401 and "not installed" in page.text_content("body")
    assert page.csp_errors == []


ATTACKER_PAGE = """<!doctype html><html><body>
<form method="post" action="{action}" target="qb24-consent" id="lure"><input type="hidden" name="t" value="{token}">
<button id="go" type="submit">Win a prize</button></form>
<script>
window.received = [];
window.addEventListener('message', function (e) {{ window.received.push(e.data); }});
document.getElementById('go').addEventListener('click', function () {{ window.open('', 'qb24-consent'); }});
</script></body></html>"""


def test_login_csrf_from_another_site_links_nothing(stack, browser_page) -> None:
    """An admin of their own portal lures a victim into submitting that portal's Log in form; the
    victim approves at QuickBooks: the callback tab's ticket is posted only to the app's origin, so
    the luring page (its opener) never receives it, and nothing is linked."""
    attacker_portal = stack.b24.create_portal()
    with requests.Session() as attacker:
        install_app(stack.running, attacker, attacker_portal.member_id)
        token = re.search(r'id="login-token"[^>]*value="([^"]+)"',
                          open_app_page(stack.running, attacker, attacker_portal.member_id)).group(1)
    lure = Flask("attacker")
    lure.get("/")(lambda: ATTACKER_PAGE.format(action=f"{stack.server.url}/quickbooks/connect", token=token))
    site = serve_in_thread(lure)
    try:
        page = browser_page
        page.goto(site.url + "/")
        with page.context.expect_page() as opened:
            page.click("#go")
        consent = opened.value
        consent.wait_for_url("**/connect/oauth2?**")
        consent.click("button[value=connect]")  # the victim, logged in at Intuit, approves
        consent.wait_for_url("**/quickbooks/callback?**")
        assert consent.locator("h1").text_content() == "Return to Bitrix24 to finish connecting"
        shot(consent, "03b-return-to-bitrix24-tab")  # no app page answers it here: the tab stays open
        assert consent.evaluate("window.opener !== null")  # the ticket was posted, to the app's origin only
        # Messages from one window to another arrive in order: once this probe is in, the ticket
        # (posted first, on load) would have been too.
        consent.evaluate("window.opener.postMessage('probe', '*')")
        page.wait_for_function("window.received.length > 0")
        assert page.evaluate("window.received") == ["probe"]
    finally:
        site.stop()
    assert stack.store(lambda db: db.scalars(select(QboConnection)).all()) == []
    pending = stack.store(lambda db: db.scalars(select(PendingConnection)).all())
    assert [row.portal_id for row in pending] == [stack.store(
        lambda db: db.scalar(select(Portal.id).where(Portal.member_id == attacker_portal.member_id)))]
