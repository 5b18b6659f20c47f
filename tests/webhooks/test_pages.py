"""The framed app page against both sandboxes over HTTP: views, settings, stages, CSP, sync progress."""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from html import unescape
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from qb24.sandboxes import B24_SANDBOX_CLIENT_ID, start_b24_sandbox, start_qbo_sandbox
from qb24.stack import stack_settings
from store.crypto import TokenCipher
from store.db import migrate, transaction
from store.models import Portal, QboConnection, SyncRun, utcnow
from store.portals import ensure_portal
from tests.support import take_queued
from webhooks import create_app
from workers.celery_app import BULK_QUEUE
from workers.lease import LEASE_S
from workers.tasks import run_sync

STAGE_SELECT = re.compile(r'<select id="stage_(\w+)" name="stage_\w+"[^>]*>(.*?)</select>', re.S)
OPTION = re.compile(r'<option value="([^"]+)"\s*(selected)?>([^<]*)</option>')


@dataclass
class World:
    """One fresh portal in the Bitrix24 sandbox, our app on a fresh database, a test client."""

    b24: object
    qbo: object
    app: Flask
    client: FlaskClient
    member_id: str
    portal_url: str
    control: str

    @property
    def sessions(self):
        return self.app.extensions["qb24"].sessions

    def portal(self, session) -> Portal:
        return session.scalar(select(Portal).where(Portal.member_id == self.member_id))

    @property
    def application_token(self) -> str:
        """The install's application token as the portal knows it."""
        installs = requests.get(f"{self.control}/portals/{self.member_id}/installs", timeout=10).json()
        return installs[B24_SANDBOX_CLIENT_ID]["application_token"]

    def frame_fields(self) -> dict:
        """The POST the portal sends when it opens the app (control API: same fields as the page)."""
        return requests.post(f"{self.control}/portals/{self.member_id}/install",
                             json={"client_id": B24_SANDBOX_CLIENT_ID}, timeout=10).json()

    def open_app(self, fields: dict | None = None):
        fields = fields or self.frame_fields()
        return self.client.post("/bitrix24/app?" + urlencode(fields["query"]), data=fields["form"])

    def csrf(self) -> str:
        page = self.client.get("/bitrix24/app").get_data(as_text=True)
        return re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)

    def connect_quickbooks(self) -> None:
        """Follow the page's Log in link through the QuickBooks sandbox consent back to our callback."""
        page = self.client.get("/bitrix24/app").get_data(as_text=True)
        to_consent = self.client.post("/quickbooks/connect", data={"t": unescape(re.search(r'id="login-token"[^>]*value="([^"]+)"', page).group(1))})
        assert to_consent.status_code in (302, 303), to_consent.status_code
        consent = requests.get(to_consent.headers["Location"], allow_redirects=False, timeout=10)
        callback = urlsplit(consent.headers["Location"])  # auto-approve: straight back with a code
        done = self.client.get(f"{callback.path}?{callback.query}")
        assert done.status_code == 200, done.get_data(as_text=True)
        # The framed page's part: the consent tab posts it the ticket; it claims it with its session.
        ticket = unescape(re.search(r"data-ticket='([^']+)'", done.get_data(as_text=True)).group(1))
        finished = self.client.post("/quickbooks/connect/finish", data={"ticket": ticket},
                                    headers={"X-CSRF-Token": self.csrf(), "Accept": "application/json"})
        assert finished.status_code == 200 and finished.get_json() == {"connected": True}


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[tuple]:
    qbo, b24 = start_qbo_sandbox(auto_approve=True), start_b24_sandbox()
    yield qbo, b24
    qbo.stop()
    b24.stop()


@pytest.fixture
def world(sandboxes, database_url) -> Iterator[World]:
    """Each test on SQLite and on the real PostgreSQL (tests/conftest.py)."""
    qbo, b24 = sandboxes
    portal = b24.create_portal()
    migrate(database_url)
    app = create_app(stack_settings(qbo, b24, database_url, "http://localhost", QBO_SIGNUP_URL=qbo.url + "/signup/",
                                    B24_JS_URL=portal.url + "/api/v1/"))
    world = World(b24, qbo, app, app.test_client(), portal.member_id, portal.url, b24.control_url)
    requests.post(f"{b24.control_url}/portals/{portal.member_id}/install",
                  json={"client_id": B24_SANDBOX_CLIENT_ID, "handler_url": "http://localhost/bitrix24/app",
                        "finish": True}, timeout=10).raise_for_status()
    with transaction(world.sessions) as session:  # what the installer stored (its own tests cover it)
        ensure_portal(session, member_id=portal.member_id, domain=portal.domain,
                      client_endpoint=portal.url + "/rest/", server_endpoint=b24.oauth_url + "/rest/")
    yield world
    app.extensions["qb24"].close()  # the embedded worker, then the engine: before the schema is dropped


def stage_selects(html: str) -> dict[str, tuple[list[tuple[str, str]], str | None]]:
    """{status: ([(stage_id, name)], selected stage_id)} as rendered."""
    out = {}
    for status, body in STAGE_SELECT.findall(html):
        options = OPTION.findall(body)
        out[status] = ([(value, unescape(name)) for value, _, name in options],
                       next((value for value, chosen, _ in options if chosen), None))
    return out


REPORT_TABLE = re.compile(r'<table class="report" id="report-(\w+)" data-kind="\1">\s*<caption>([^<]*)</caption>(.*?)</table>', re.S)
OUTCOME_ROW = re.compile(r'<tr data-outcome="(\w+)"><th scope="row">([^<]*)</th><td>(\d+)</td></tr>')


def report_tables(html: str) -> dict[str, tuple[str, list[tuple[str, str, str]]]]:
    """{kind: (caption, [(outcome, label, count)])} of the report's tables as rendered."""
    return {kind: (unescape(caption), [(o, unescape(label), n) for o, label, n in OUTCOME_ROW.findall(body)])
            for kind, caption, body in REPORT_TABLE.findall(html)}


def test_portal_post_renders_not_connected_page_framed_by_the_portal_only(world):
    fields = world.frame_fields()
    response = world.open_app(fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Log in with QuickBooks" in html
    assert f'id="signup" href="{world.qbo.url}/signup"' in html
    # app.js opens this named tab from the click (so the consent tab has the page as its opener)
    # The form carries the page's language into the consent tab (webhooks/connect.py); the sandbox opens in en.
    assert 'action="/quickbooks/connect?LANG=en" target="qb24-consent" rel="opener"' in html and 'name="t"' in html
    assert 'data-finish-url="/quickbooks/connect/finish"' in html
    # Only the language sits in its URL; the link token never does (access logs, Referer).
    assert re.findall(r"/quickbooks/connect\?[^\"' ]*", html) == ["/quickbooks/connect?LANG=en"]
    csp = response.headers["Content-Security-Policy"]
    assert f"frame-ancestors {world.portal_url}" in csp and "X-Frame-Options" not in response.headers
    assert f"script-src 'self' {world.portal_url}" in csp
    assert f"form-action 'self' {world.qbo.url};" in csp  # Log in's POST redirects to the consent page
    for secret in (fields["form"]["AUTH_ID"], fields["form"]["REFRESH_ID"], world.application_token):
        assert secret not in html
    with world.sessions() as session:  # the fresh frame tokens are kept, encrypted
        row = world.portal(session)
        assert row.access_token_enc and fields["form"]["AUTH_ID"] not in row.access_token_enc
        cipher = TokenCipher(world.app.extensions["qb24"].settings.token_encryption_key)
        assert cipher.decrypt(row.access_token_enc) == fields["form"]["AUTH_ID"]
    status = world.client.get("/bitrix24/app/status").get_json()
    assert status | {"connect_token": None} == {"connected": False, "company_name": None, "realm_id": None,
                                                "connect_token": None, "install_confirmed": False}
    # renewed before it expires, and usable as the form's token
    assert world.client.post("/quickbooks/connect", data={"t": status["connect_token"]}).status_code == 302
    assert world.client.get("/quickbooks/connect?t=" + status["connect_token"]).status_code == 405


@pytest.mark.parametrize("method,path", [("GET", "/bitrix24/app"), ("GET", "/bitrix24/app/status"),
                                         ("GET", "/bitrix24/app/progress"), ("POST", "/bitrix24/app/settings"),
                                         ("POST", "/bitrix24/app/sync")])
def test_every_page_needs_the_session(world, method, path):
    response = world.client.open(path, method=method, data={"customer_rule": "always_contacts"})
    assert response.status_code == 401
    assert response.headers["Content-Security-Policy"].endswith("frame-ancestors 'none'")
    with world.sessions() as session:
        assert world.portal(session).settings == {}
        assert session.scalar(select(SyncRun)) is None


OPEN_IN_BITRIX24 = "This app works only inside your Bitrix24 portal. Open it there:"


def test_opened_outside_bitrix24_the_page_says_how_to_open_it(world):
    """No session cookie at all: the app was opened outside the portal (a bookmark, a pasted URL)."""
    response = world.client.get("/bitrix24/app")
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 401 and "<h1>Open this app from Bitrix24</h1>" in html
    assert OPEN_IN_BITRIX24 in html and "Applications (Market in newer Bitrix24) → Installed" in html
    assert "expired" not in html
    # a POST without Bitrix24's sign-in is malformed (400), and says the same
    posted = world.client.post("/bitrix24/app", data={"DOMAIN": "example.bitrix24.com"})
    assert posted.status_code == 400 and OPEN_IN_BITRIX24 in unescape(posted.get_data(as_text=True))
    assert world.client.post("/bitrix24/app", data={"member_id": world.member_id}).status_code == 400


def test_an_expired_or_refused_session_cookie_is_told_apart_from_none(world):
    world.open_app()
    assert world.client.get("/bitrix24/app").status_code == 200
    # Flask drops a cookie past its lifetime or signed with another key (tests/webhooks/test_session_lifetime.py)
    world.client.set_cookie("qb24_session", "eyJtZW1iZXJfaWQiOiJ4In0.forged.signature")
    expired = world.client.get("/bitrix24/app")
    text = unescape(expired.get_data(as_text=True))
    assert expired.status_code == 401 and "Your session has expired. Open the app again from Bitrix24." in text
    assert OPEN_IN_BITRIX24 not in text
    # In the portal's frame without the cookie: the browser did not keep it (third-party cookies blocked).
    world.client.delete_cookie("qb24_session")
    framed = world.client.get("/bitrix24/app", headers={"Sec-Fetch-Dest": "iframe"})
    assert framed.status_code == 401 and "may block third-party cookies" in framed.get_data(as_text=True)


def test_portal_that_did_not_install_is_refused(world, sandboxes):
    _, b24 = sandboxes
    stranger = b24.create_portal()
    fields = requests.post(f"{b24.control_url}/portals/{stranger.member_id}/install",
                           json={"client_id": B24_SANDBOX_CLIENT_ID, "handler_url": "http://localhost/bitrix24/app"},
                           timeout=10).json()
    response = world.client.post("/bitrix24/app?" + urlencode(fields["query"]), data=fields["form"])
    assert response.status_code == 403
    assert world.client.get("/bitrix24/app").status_code == 401  # no session was started
    with world.sessions() as session:
        assert session.scalar(select(Portal).where(Portal.member_id == stranger.member_id)) is None


def test_connected_page_lists_the_portals_real_stages_with_semantic_defaults(world):
    # A custom open stage between "Sent" and "Paid": partially paid should default to it.
    requests.post(f"{world.control}/portals/{world.member_id}/seed", timeout=10, json={
        "stages": [{"code": "UC_PART", "name": "Part paid", "sort": 25}]}).raise_for_status()
    world.open_app()
    world.connect_quickbooks()
    html = world.client.get("/bitrix24/app").get_data(as_text=True)
    with world.sessions() as session:
        connection = session.scalar(select(QboConnection))
        assert connection.status == "connected"
    assert connection.company_name and connection.company_name in unescape(html)
    assert f'<code id="realm-id">{connection.realm_id}</code>' in html
    selects = stage_selects(html)
    assert set(selects) == {"unsent", "sent", "partially_paid", "paid", "overdue", "voided", "deleted"}
    options, _ = selects["sent"]
    assert options == [("DT31_5:N", "New"), ("DT31_5:S", "Sent to client"), ("DT31_5:UC_PART", "Part paid"),
                       ("DT31_5:P", "Paid"), ("DT31_5:D", "Unpaid")]
    chosen = {status: selected for status, (_, selected) in selects.items()}
    assert chosen == {"unsent": "DT31_5:N", "sent": "DT31_5:S", "overdue": "DT31_5:S",
                      "partially_paid": "DT31_5:UC_PART", "paid": "DT31_5:P", "voided": "DT31_5:D",
                      "deleted": "DT31_5:D"}
    assert world.client.get("/bitrix24/app/status").get_json()["connected"] is True


def test_log_out_asks_first_and_only_the_confirmation_revokes(world):
    """Log out revokes QuickBooks access for the whole portal: the app page's Log out only opens a
    confirmation (no script needed, so it works in the frame); its button POSTs with the CSRF token."""
    world.open_app()
    world.connect_quickbooks()
    page = world.client.get("/bitrix24/app").get_data(as_text=True)
    assert 'id="logout" href="/bitrix24/app/logout"' in page
    assert 'action="/quickbooks/disconnect"' not in page  # nothing on the app page itself revokes
    asked = world.client.get("/bitrix24/app/logout")
    html = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Log out of QuickBooks?" in html
    assert asked.headers["Content-Security-Policy"].endswith(f"frame-ancestors {world.portal_url}")
    with world.sessions() as session:
        connection = session.scalar(select(QboConnection))
        assert connection.status == "connected"  # asking changed nothing
    assert connection.company_name in unescape(html) and "for everyone on this Bitrix24 portal" in html
    assert re.search(r'<form method="post" action="/quickbooks/disconnect">\s*<input type="hidden" '
                     r'name="csrf_token" value="' + re.escape(world.csrf()) + '">', html)
    assert 'id="logout-cancel" href="/bitrix24/app"' in html and 'id="logout-confirm"' in html
    # the confirmation's POST still needs the CSRF token
    assert world.client.post("/quickbooks/disconnect", data={"csrf_token": "forged"}).status_code == 403
    with world.sessions() as session:
        assert session.scalar(select(QboConnection)).status == "connected"
    done = world.client.post("/quickbooks/disconnect", data={"csrf_token": world.csrf()})
    assert done.status_code == 303
    with world.sessions() as session:
        assert session.scalar(select(QboConnection)).status == "disconnected"
    again = world.client.get("/bitrix24/app/logout")  # nothing left to confirm
    assert again.status_code == 303 and again.headers["Location"].endswith("/bitrix24/app")


def valid_form(csrf: str, **changes: str) -> dict:
    form = {"csrf_token": csrf, "use_new_invoice": "true", "customer_rule": "always_companies",
            "export_new_contacts": "on", "stage_unsent": "DT31_5:N", "stage_sent": "DT31_5:S",
            "stage_partially_paid": "DT31_5:S", "stage_paid": "DT31_5:P", "stage_overdue": "DT31_5:N",
            "stage_voided": "DT31_5:D", "stage_deleted": "DT31_5:D"}
    return {**form, **changes}


def test_saving_valid_settings_stores_them(world):
    world.open_app()
    world.connect_quickbooks()
    response = world.client.post("/bitrix24/app/settings", data=valid_form(world.csrf()))
    assert response.status_code == 303
    with world.sessions() as session:
        assert world.portal(session).settings == {
            "use_new_invoice": True, "customer_rule": "always_companies", "export_new_contacts": True,
            "on_invoice_delete": "stage",  # the form has no choice: the saved one (the default) stays
            "deal_link_hours": 24,  # likewise the deal window
            "stage_map": {"unsent": "DT31_5:N", "sent": "DT31_5:S", "partially_paid": "DT31_5:S",
                          "paid": "DT31_5:P", "overdue": "DT31_5:N", "voided": "DT31_5:D", "deleted": "DT31_5:D"}}
    page = world.client.get("/bitrix24/app").get_data(as_text=True)
    assert "Settings saved." in page
    assert stage_selects(page)["overdue"][1] == "DT31_5:N"
    assert 'value="always_companies" checked' in page


def test_bad_settings_are_refused_with_field_errors_and_nothing_saved(world):
    world.open_app()
    world.connect_quickbooks()
    response = world.client.post("/bitrix24/app/settings", data=valid_form(
        world.csrf(), customer_rule="sometimes", stage_sent="DT31_5:NOPE", export_new_contacts="maybe"))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="error-customer_rule"' in html and 'id="error-stage_sent"' in html
    assert 'id="error-export_new_contacts"' in html and 'id="error-stage_paid"' not in html
    assert "Nothing was saved" in html
    with world.sessions() as session:
        assert world.portal(session).settings == {}


def test_on_invoice_delete_is_stored_kept_and_validated(world):
    world.open_app()
    world.connect_quickbooks()
    assert world.client.post("/bitrix24/app/settings", data=valid_form(
        world.csrf(), on_invoice_delete="remove")).status_code == 303
    # a form without the choice keeps the stored one
    assert world.client.post("/bitrix24/app/settings", data=valid_form(world.csrf())).status_code == 303
    with world.sessions() as session:
        assert world.portal(session).settings["on_invoice_delete"] == "remove"
    response = world.client.post("/bitrix24/app/settings", data=valid_form(
        world.csrf(), on_invoice_delete="shred", customer_rule="by_company_name"))
    assert response.status_code == 400 and "Nothing was saved" in response.get_data(as_text=True)
    with world.sessions() as session:
        saved = world.portal(session).settings
    assert saved["on_invoice_delete"] == "remove" and saved["customer_rule"] == "always_companies"


def test_settings_need_the_csrf_token(world):
    world.open_app()
    world.connect_quickbooks()
    response = world.client.post("/bitrix24/app/settings", data=valid_form("forged"))
    assert response.status_code == 403
    # A refusal inside a session still shows in the portal's frame, and only there.
    assert response.headers["Content-Security-Policy"].endswith(f"frame-ancestors {world.portal_url}")
    with world.sessions() as session:
        assert world.portal(session).settings == {}


def test_switching_to_old_invoices_maps_their_own_stages(world):
    world.open_app()
    world.connect_quickbooks()
    response = world.client.post("/bitrix24/app/settings", data=valid_form(world.csrf(), use_new_invoice="false"))
    assert response.status_code == 303
    with world.sessions() as session:
        saved = world.portal(session).settings
    assert saved["use_new_invoice"] is False
    assert saved["stage_map"] == {"unsent": "N", "sent": "S", "overdue": "S", "partially_paid": "S",
                                  "paid": "P", "voided": "D", "deleted": "D"}
    options, _ = stage_selects(world.client.get("/bitrix24/app").get_data(as_text=True))["paid"]
    assert [value for value, _ in options] == ["N", "S", "P", "D"]


def _click(world, mode: str = "full") -> str:
    """Press Start sync (or Dry run) and return the page the redirect lands on."""
    response = world.client.post("/bitrix24/app/sync", data={"csrf_token": world.csrf(), "mode": mode},
                                 follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_start_sync_queues_one_run_and_progress_follows_it(world):
    # This app has no worker (tests/workers cover the embedded one): queued runs stay pending.
    world.open_app()
    assert world.client.post("/bitrix24/app/sync", data={"csrf_token": world.csrf()}).status_code == 409
    world.connect_quickbooks()
    assert world.client.get("/bitrix24/app/progress").get_json()["status"] == "none"
    assert 'data-status="none">No sync has run yet.<' in world.client.get("/bitrix24/app").get_data(as_text=True)
    page = _click(world)
    assert "Sync queued." in page and 'data-status="pending">The sync is waiting to start.<' in page
    for mode in ("full", "dry_run"):  # a second click while one is queued queues nothing
        assert "A sync is already queued or running for this portal" in _click(world, mode)
    with transaction(world.sessions) as session:
        runs = session.scalars(select(SyncRun)).all()
        assert [(r.kind, r.status) for r in runs] == [("full", "pending")]
        runs[0].status, runs[0].counters = "running", {"phase": "invoices", "total": 80, "done": 40, "imported": 30,
                                                       "updated": 5, "skipped": 3, "failed": 2, "rate": 12.46,
                                                       "eta_s": 3.2}
    assert world.client.get("/bitrix24/app/progress").get_json() | {"started_at": None} == {
        "run_id": runs[0].id, "kind": "full", "status": "running", "total": 80, "done": 40, "percent": 50,
        "phase": "invoices", "rate": 12.5, "eta_s": 3.2, "error": None,
        "counters": {"imported": 30, "updated": 5, "skipped": 3, "failed": 2, "placed": 0},
        "started_at": None, "finished_at": None, "status_text": "The sync is importing invoices."}
    page = world.client.get("/bitrix24/app").get_data(as_text=True)
    assert 'id="start-sync"\n      disabled' in page and re.search(r'id="dry-run"[^>]*disabled', page)
    assert 'data-status="running">The sync is importing invoices.<' in page
    assert re.search(r'id="progress-done">40 of 80<.*id="progress-rate">12.5 records/s<'
                     r'.*id="progress-eta">about 3 s left<', page, re.S)
    assert 'id="report"' not in page  # no report while a run is active
    with transaction(world.sessions) as session:
        run = session.scalar(select(SyncRun))
        run.status, run.finished_at, run.report = "done", datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc), {
            "customers": {"imported": 20, "updated": 1, "skipped": 0, "failed": 1, "matched": 2, "placed": 4},
            "invoices": {"imported": 10, "updated": 4, "skipped": 3, "failed": 2},
            "failures": [{"qbo_type": "Invoice", "qbo_id": "130", "name": "1037 <Amy's>",
                          "reason": "Currency EUR is not in this portal; add it in CRM settings."}],
            "failures_truncated": 2, "dry_run": False}
    page = world.client.get("/bitrix24/app").get_data(as_text=True)
    # a table per record kind, its rows the outcomes with their counts (issue 12 part 6)
    assert report_tables(page) == {
        "customers": ("Customers (Bitrix24 contacts and companies)",
                      [("imported", "Created", "20"), ("updated", "Updated", "1"), ("skipped", "Unchanged", "0"),
                       ("failed", "Failed", "1"),
                       ("matched", "Matched to an existing contact or company by email or phone", "2"),
                       ("placed", "Placed on parent", "4")]),
        "invoices": ("Invoices", [("imported", "Created", "10"), ("updated", "Updated", "4"),
                                  ("skipped", "Unchanged", "3"), ("failed", "Failed", "2")])}
    assert 'id="placed-note"' in page
    assert re.search(r'Records that failed \(3\)', page)
    assert ('<tr><th scope="row">Invoice 130</th><td>1037 &lt;Amy&#39;s&gt;</td>'
            '<td>Currency EUR is not in this portal; add it in CRM settings.</td></tr>') in page
    assert 'data-status="done">The sync finished at May 1, 2024, 9:30:00\u202fAM UTC.<' in page
    finished = world.client.get("/bitrix24/app/progress").get_json()
    assert (finished["percent"], finished["status"]) == (100, "done")
    assert finished["status_text"] == "The sync finished at May 1, 2024, 9:30:00\u202fAM UTC."
    assert 'id="start-sync"\n       name="mode"' in page  # enabled again


def test_a_queued_sync_can_be_cancelled_and_its_task_then_does_nothing(world):
    world.open_app()
    world.connect_quickbooks()
    page = _click(world)
    with world.sessions() as session:
        run_id = session.scalar(select(SyncRun.id))
    assert re.search(r'<input type="hidden" name="run_id" value="%d">\s*<button type="submit" class="button" '
                     r'id="cancel-sync">Cancel the queued sync</button>' % run_id, page)
    cancel = {"csrf_token": world.csrf(), "run_id": str(run_id)}
    for forged in ({**cancel, "csrf_token": "forged"}, {"run_id": str(run_id)}):  # CSRF-protected
        assert world.client.post("/bitrix24/app/sync/cancel", data=forged).status_code == 403
    for bad, status in (("x1", 400), ("", 400), ("١", 400), (str(run_id + 1000), 404)):
        assert world.client.post("/bitrix24/app/sync/cancel", data={**cancel, "run_id": bad}).status_code == status
    with world.sessions() as session:
        assert session.get(SyncRun, run_id).status == "pending"
    done = world.client.post("/bitrix24/app/sync/cancel", data=cancel, follow_redirects=True)
    page = done.get_data(as_text=True)
    assert done.status_code == 200 and "The queued sync was cancelled: it will not start." in page
    assert 'data-status="cancelled">The sync was cancelled.<' in page
    assert 'id="cancel-sync"' not in page and 'id="report"' not in page  # nothing ran: nothing to report
    assert re.search(r'id="start-sync"\s*name="mode"', page)  # a new sync can start at once
    # The worker still receives the queued task: it finds the run cancelled and starts nothing.
    assert _queued_runs(world) == [run_id]
    assert run_sync(world.app.extensions["qb24"], run_id) == "cancelled"
    with world.sessions() as session:
        run = session.get(SyncRun, run_id)
        assert run.status == "cancelled" and not run.counters and not run.cursor
    again = world.client.post("/bitrix24/app/sync/cancel", data=cancel, follow_redirects=True).get_data(as_text=True)
    assert "The sync had already ended, so there was nothing to cancel." in again


def test_a_sync_a_worker_has_begun_is_not_cancelled(world):
    world.open_app()
    world.connect_quickbooks()
    _click(world)
    with transaction(world.sessions) as session:  # the worker claims it between the page and the click
        run = session.scalar(select(SyncRun))
        run.status = "running"
    page = world.client.post("/bitrix24/app/sync/cancel", data={"csrf_token": world.csrf(), "run_id": str(run.id)},
                             follow_redirects=True).get_data(as_text=True)
    assert "The sync had already started, so it was not cancelled" in page and 'id="cancel-sync"' not in page
    with world.sessions() as session:
        assert session.get(SyncRun, run.id).status == "running"


def _active_run(world, status: str, *, age_s: float, heartbeat_age_s: float | None) -> int:
    """A run left active that long ago, its lease last renewed that long ago (None: never claimed)."""
    now = utcnow()
    with transaction(world.sessions) as session:
        run = SyncRun(portal_id=world.portal(session).id, kind="full", status=status,
                      started_at=now - timedelta(seconds=age_s),
                      heartbeat_at=None if heartbeat_age_s is None else now - timedelta(seconds=heartbeat_age_s))
        session.add(run)
    return run.id


def _queued_runs(world) -> list[int]:
    """The run ids waiting in the app's (in-memory) sync queue, taken off it: this app runs no worker."""
    return [args[0] for _, args in queued_tasks(world, BULK_QUEUE)]


def queued_tasks(world, queue_name: str) -> list[tuple[str, list]]:
    """(task name, args) of every message waiting in one of the app's (in-memory) queues, taken off it."""
    return [(name, list(args)) for name, args in take_queued(world.app.extensions["qb24"].celery, queue_name)]


@pytest.mark.parametrize("status, age_s, heartbeat_age_s", [
    ("running", 3600, LEASE_S + 5),   # its worker was killed: the lease lapsed, Redis redelivers in an hour
    ("pending", 120, None),           # the web process died between committing the run and queueing it
])
def test_start_sync_queues_again_a_run_no_process_holds(world, status, age_s, heartbeat_age_s):
    world.open_app()
    world.connect_quickbooks()
    run_id = _active_run(world, status, age_s=age_s, heartbeat_age_s=heartbeat_age_s)
    page = _click(world)
    assert "was left unfinished: it was queued again and resumes where it stopped" in page
    assert _queued_runs(world) == [run_id]
    with world.sessions() as session:
        assert [(r.id, r.status) for r in session.scalars(select(SyncRun))] == [(run_id, status)]


@pytest.mark.parametrize("status, age_s, heartbeat_age_s", [
    ("running", 3600, 5),    # a worker holds its lease
    ("pending", 5, None),    # just queued: its worker has not claimed it yet
])
def test_start_sync_refuses_while_a_run_is_live(world, status, age_s, heartbeat_age_s):
    world.open_app()
    world.connect_quickbooks()
    _active_run(world, status, age_s=age_s, heartbeat_age_s=heartbeat_age_s)
    assert "A sync is already queued or running for this portal" in _click(world)
    assert _queued_runs(world) == []


def test_dry_run_queues_a_dry_run_and_reports_what_would_change(world):
    world.open_app()
    world.connect_quickbooks()
    assert "Dry run queued: nothing is written to Bitrix24." in _click(world, "dry_run")
    with transaction(world.sessions) as session:
        run = session.scalar(select(SyncRun))
        assert (run.kind, run.status) == ("dry_run", "pending")
        run.status, run.report = "done", {
            "customers": {"imported": 29, "updated": 0, "skipped": 0, "failed": 0, "matched": 1},
            "invoices": {"imported": 40, "updated": 2, "skipped": 0, "failed": 0}, "failures": [],
            "failures_truncated": 0, "dry_run": True,
            "stage_moves": [{"qbo_id": "12", "doc_number": "1004", "from": "DT31_1:N", "to": "DT31_1:P"}]}
    page = world.client.get("/bitrix24/app").get_data(as_text=True)
    assert "Last run's report (dry run: nothing was written)</h3>" in page
    assert 'data-status="done">The dry run finished; nothing was written to Bitrix24.<' in page
    assert [label for _, label, _ in report_tables(page)["invoices"][1]][:2] == ["Would create", "Would update"]
    assert '<tr><th scope="row">1004</th><td>DT31_1:N</td><td>DT31_1:P</td></tr>' in page
    assert 'id="failures"' not in page


@pytest.mark.parametrize("status, kind, error, sentence", [
    ("failed", "full", "QuickBooks refused a request", "The sync stopped on an error at May 1, 2024, 9:30:00\u202fAM UTC."),
    ("cancelled", "full", None, "The sync was cancelled."),
    ("cancelled", "dry_run", None, "The dry run was cancelled."),
    ("running", "dry_run", None, "The dry run is starting: counting the records in QuickBooks."),
])
def test_the_run_state_reads_as_a_sentence(world, status, kind, error, sentence):
    world.open_app()
    world.connect_quickbooks()
    with transaction(world.sessions) as session:
        session.add(SyncRun(portal_id=world.portal(session).id, kind=kind, status=status, error=error,
                            finished_at=None if status == "running" else datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc)))
    page = world.client.get("/bitrix24/app").get_data(as_text=True)
    assert f'data-status="{status}">{sentence}<' in page
    assert (world.client.get("/bitrix24/app/progress").get_json()["status_text"], status) == (sentence, status)
    if error:
        assert f'id="run-error" role="alert">What stopped the last sync: {error}<' in page


def test_required_custom_fields_notice(world):
    world.open_app()
    world.connect_quickbooks()
    assert 'id="required-fields-notice"' not in world.client.get("/bitrix24/app").get_data(as_text=True)
    requests.post(f"{world.control}/portals/{world.member_id}/seed", timeout=10, json={
        "userfields": [{"entity": "CRM_CONTACT", "FIELD_NAME": "UF_CRM_TAX_ID", "MANDATORY": "Y"},
                       {"entity": "CRM_COMPANY", "FIELD_NAME": "UF_CRM_OPTIONAL"}]}).raise_for_status()
    html = world.client.get("/bitrix24/app").get_data(as_text=True)
    notice = re.search(r'id="required-fields-notice".*?</p>', html, re.S).group(0)
    assert "contact: UF_CRM_TAX_ID" in notice and "UF_CRM_OPTIONAL" not in notice
    assert "CRM settings &rarr; Other &rarr; Market &rarr; Check required custom fields" in notice
    with transaction(world.sessions) as session:
        portal = world.portal(session)
        session.add(SyncRun(portal_id=portal.id, kind="full", status="failed",
                            error='CRM_FIELD_ERROR_REQUIRED: Field "UF_CRM_TAX_ID" is required.'))
    html = world.client.get("/bitrix24/app").get_data(as_text=True)
    assert re.search(r'id="required-fields-notice" role="alert">\s*The last sync was refused', html)


def test_portal_that_refuses_the_stage_read_gets_a_notice_not_a_crash(world):
    world.open_app()
    world.connect_quickbooks()
    # Bitrix24 revokes the app's tokens (an uninstall whose event has not reached us yet).
    requests.post(f"{world.control}/portals/{world.member_id}/uninstall", timeout=10,
                  json={"client_id": B24_SANDBOX_CLIENT_ID}).raise_for_status()
    response = world.client.get("/bitrix24/app")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'id="crm-error" role="alert">Bitrix24 did not answer with your invoice stages\s*'
                     r'\(<code>\w+</code>\)', html)
    assert stage_selects(html)["paid"] == ([], None)


def b24_requests(caplog, member_id: str) -> list[str]:
    """The REST requests the app sent to the portal (the client logs `b24.call` once per HTTP POST)."""
    return [record.method for record in caplog.records
            if record.getMessage() == "b24.call" and getattr(record, "member_id", None) == member_id]


@pytest.mark.parametrize("use_new_invoice,expected", [
    ("true", ["batch", "crm.status.list"]),  # the default Smart Invoice category decides the stage list
    ("false", ["batch"]),
])
def test_rendering_the_settings_reads_the_portal_in_one_batch(world, caplog, use_new_invoice, expected):
    world.open_app()
    world.connect_quickbooks()
    form = valid_form(world.csrf(), use_new_invoice=use_new_invoice)
    assert world.client.post("/bitrix24/app/settings", data=form).status_code == 303
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="clients.bitrix24"):
        html = world.client.get("/bitrix24/app").get_data(as_text=True)
    assert b24_requests(caplog, world.member_id) == expected
    assert stage_selects(html)["paid"][1] == ("DT31_5:P" if use_new_invoice == "true" else "P")
