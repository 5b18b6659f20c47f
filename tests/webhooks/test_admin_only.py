"""Only a portal administrator manages the app: a non-admin who opens it gets a read-only page, every
state-changing route answers them 403 with the store unchanged, and their tokens never become the portal's."""
from __future__ import annotations

import logging
import re
from html import unescape

import pytest
import requests
from sqlalchemy import select

from qb24.demo import connect_quickbooks
from store.db import make_engine, make_session_factory, transaction
from store.models import QboConnection, SyncRun
from tests.webhooks.stack_support import (b24_control, cipher, documented_shape, install_app, installs,
                                          open_app_page, post_frame, read_portal, snapshot, wait_for)

ADMIN_ONLY = "Only a Bitrix24 administrator can change these settings"
CONTROLS = ('id="login"', 'id="login-token"', 'id="signup"', 'id="settings"', 'id="save-settings"',
            'id="start-sync"', 'id="logout"', 'action="/quickbooks/connect"', 'action="/quickbooks/disconnect"',
            'action="/bitrix24/app/settings"', 'action="/bitrix24/app/sync"', 'href="/bitrix24/app/logout"')
SETTINGS_FORM = {"use_new_invoice": "true", "customer_rule": "always_companies", "export_new_contacts": "on",
                 "stage_unsent": "DT31_5:N", "stage_sent": "DT31_5:S", "stage_partially_paid": "DT31_5:S",
                 "stage_paid": "DT31_5:P", "stage_overdue": "DT31_5:N", "stage_voided": "DT31_5:D",
                 "stage_deleted": "DT31_5:D"}


def _clerk(stack) -> int:
    """A non-admin user on the default portal (the sandbox's control API)."""
    user = b24_control(stack, f"portals/{stack.b24.default_member_id}/users", {"admin": False})
    assert user["admin"] is False
    return user["id"]


def _fields_for(stack, user_id: int, member_id: str | None = None) -> dict:
    """The frame POST the portal sends when `user_id` opens the app (or its installer)."""
    return b24_control(stack, f"portals/{member_id or stack.b24.default_member_id}/install",
                       {"client_id": stack.settings.b24_client_id, "user_id": user_id})


def _open_as(stack, session: requests.Session, user_id: int) -> tuple[requests.Response, dict]:
    fields = _fields_for(stack, user_id)
    assert fields["is_admin"] is (user_id == 1)
    return post_frame(session, stack.url + "/bitrix24/app", fields), fields


def _stored_b24_tokens(stack) -> tuple[str, str]:
    portal = read_portal(stack, stack.b24.default_member_id)
    return cipher(stack).decrypt(portal.access_token_enc), cipher(stack).decrypt(portal.refresh_token_enc)


def _csrf(page: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)


def _login_token(page: str) -> str:
    return unescape(re.search(r'id="login-token"[^>]*value="([^"]+)"', page).group(1))


def _read_only(page: str) -> None:
    assert ADMIN_ONLY in page
    assert not [control for control in CONTROLS if control in page]


@pytest.fixture
def installed(stack, browser):
    """The app installed by the portal's administrator (user 1), whose browser is `browser`."""
    install_app(stack, browser, stack.b24.default_member_id)
    return stack


def _connected(stack, admin: requests.Session) -> None:
    connect_quickbooks(admin, stack.url, open_app_page(stack, admin, stack.b24.default_member_id))


def _finished_run(stack) -> None:
    """A finished run with a report, as the sync engine leaves it."""
    factory = make_session_factory(make_engine(stack.settings.database_url))
    with transaction(factory) as session:
        portal_id = read_portal(stack, stack.b24.default_member_id).id
        session.add(SyncRun(portal_id=portal_id, kind="full", status="done",
                            counters={"imported": 7, "updated": 2, "skipped": 1, "failed": 0, "total": 10},
                            report={"customers": {"imported": 4, "updated": 2, "skipped": 1, "failed": 0},
                                    "invoices": {"imported": 3, "updated": 0, "skipped": 0, "failed": 0}}))


def test_a_non_admin_sees_a_read_only_page_and_stores_nothing(installed, browser):
    stack, clerk_id = installed, _clerk(installed)
    tokens, before = _stored_b24_tokens(stack), snapshot(stack)
    with requests.Session() as clerk:
        page, fields = _open_as(stack, clerk, clerk_id)
        assert page.status_code == 200, page.text[:300]
        _read_only(page.text)
        assert 'id="not-connected"' in page.text and "Not connected to QuickBooks" in page.text
        status = clerk.get(stack.url + "/bitrix24/app/status", timeout=10).json()
        assert status["connected"] is False and status["connect_token"] is None
    assert snapshot(stack) == before
    assert _stored_b24_tokens(stack) == tokens and fields["form"]["AUTH_ID"] not in tokens


def test_a_non_admin_sees_the_company_progress_and_last_report(installed, browser):
    stack = installed
    _connected(stack, browser)
    _finished_run(stack)
    with requests.Session() as clerk:
        page = _open_as(stack, clerk, _clerk(stack))[0].text
        progress = clerk.get(stack.url + "/bitrix24/app/progress", timeout=10).json()
    _read_only(page)
    with make_session_factory(make_engine(stack.settings.database_url))() as session:
        connection = session.scalar(select(QboConnection))
    assert f'<code id="realm-id">{connection.realm_id}</code>' in page
    assert connection.company_name and connection.company_name in page
    assert 'id="sync-progress"' in page and 'id="report"' in page
    assert re.search(r'id="report-customers".*?<tr data-outcome="imported"><th scope="row">Created</th><td>4</td></tr>\s*'
                     r'<tr data-outcome="updated"><th scope="row">Updated</th><td>2</td></tr>', page, re.S)
    assert progress["status"] == "done" and progress["counters"]["imported"] == 7


def test_every_state_changing_route_is_403_for_a_non_admin(installed, browser):
    stack = installed
    admin_page = open_app_page(stack, browser, stack.b24.default_member_id)
    admin_token = _login_token(admin_page)  # link tokens live 10 minutes; consent states are single-use
    connect_quickbooks(browser, stack.url, admin_page)
    with requests.Session() as clerk:
        page = _open_as(stack, clerk, _clerk(stack))[0].text
        csrf = _csrf(page)
        before = snapshot(stack)
        attempts = {
            "settings": clerk.post(stack.url + "/bitrix24/app/settings", data={**SETTINGS_FORM, "csrf_token": csrf}),
            "sync": clerk.post(stack.url + "/bitrix24/app/sync", data={"csrf_token": csrf}),
            "disconnect": clerk.post(stack.url + "/quickbooks/disconnect", data={"csrf_token": csrf}),
            "logout_confirmation": clerk.get(stack.url + "/bitrix24/app/logout"),  # asks only admins
            "disconnect_json": clerk.post(stack.url + "/quickbooks/disconnect", data={"csrf_token": csrf},
                                          headers={"Accept": "application/json"}),
            "connect_without_token": clerk.post(stack.url + "/quickbooks/connect", data={"t": ""},
                                                allow_redirects=False),
            # Even an administrator's link token does not let a non-admin's browser start a consent.
            "connect_with_admins_token": clerk.post(stack.url + "/quickbooks/connect", data={"t": admin_token},
                                                    allow_redirects=False),
        }
        for name, response in attempts.items():
            assert response.status_code == 403, (name, response.status_code, response.text[:200])
            text = response.json()["message"] if name.endswith("_json") else response.text
            assert "Only a Bitrix24 administrator" in text, name
            assert snapshot(stack) == before, name


def test_a_non_admins_installer_post_is_403_and_stores_nothing(stack, browser):
    other = stack.b24.create_portal()
    clerk_id = b24_control(stack, f"portals/{other.member_id}/users", {"admin": False})["id"]
    fields = _fields_for(stack, clerk_id, other.member_id)
    assert installs(stack, other.member_id)[stack.settings.b24_client_id]["installed"] is False
    before = snapshot(stack)
    response = post_frame(browser, stack.url + "/bitrix24/install", fields)
    assert response.status_code == 403 and "Only a Bitrix24 administrator can install" in response.text
    assert snapshot(stack) == before and read_portal(stack, other.member_id) is None
    assert installs(stack, other.member_id)[stack.settings.b24_client_id]["events"] == []  # nothing bound
    install_app(stack, browser, other.member_id)  # the portal's administrator then installs it
    assert read_portal(stack, other.member_id).status == "installed"


def test_a_non_admin_cannot_plant_their_tokens_through_onappinstall(installed, browser):
    stack = installed
    tokens = _stored_b24_tokens(stack)
    documented_shape(stack)  # where every user's frame POST carries the application token
    fields = _fields_for(stack, _clerk(stack))
    form = fields["form"]
    response = requests.post(stack.url + "/webhooks/bitrix24", timeout=10, data={
        "event": "ONAPPINSTALL", "auth[member_id]": form["member_id"], "auth[access_token]": form["AUTH_ID"],
        "auth[refresh_token]": form["REFRESH_ID"], "auth[application_token]": form["APPLICATION_TOKEN"],
        "auth[server_endpoint]": form["SERVER_ENDPOINT"], "auth[expires_in]": "3600"})
    assert response.status_code == 403
    assert _stored_b24_tokens(stack) == tokens


def test_a_non_admin_cannot_plant_an_application_token_while_onappinstall_is_late(stack, browser):
    """Captured installer shape (no APPLICATION_TOKEN) with ONAPPINSTALL late (reference §1.1, §1.2):
    the gap before the real event must not let any user who opens the app choose the token."""
    member_id = stack.b24.default_member_id
    stack.b24.set_app_switches(stack.settings.b24_client_id, install_event_delay=3.0)
    install_app_unfinished = post_frame(browser, stack.url + "/bitrix24/install", _fields_for(stack, 1))
    assert install_app_unfinished.status_code == 200
    b24_control(stack, f"portals/{member_id}/install-finish", {"client_id": stack.settings.b24_client_id})
    form = _fields_for(stack, _clerk(stack))["form"]  # the clerk opens the app: a confirmable AUTH_ID
    response = requests.post(stack.url + "/webhooks/bitrix24", timeout=10, data={
        "event": "ONAPPINSTALL", "auth[member_id]": member_id, "auth[access_token]": form["AUTH_ID"],
        "auth[refresh_token]": form["REFRESH_ID"], "auth[application_token]": "chosen-by-the-clerk",
        "auth[expires_in]": "3600"})
    assert response.status_code == 403 and read_portal(stack, member_id).application_token_enc is None
    genuine = installs(stack)[stack.settings.b24_client_id]["application_token"]
    assert wait_for(lambda: read_portal(stack, member_id).application_token_enc, "the real ONAPPINSTALL")
    assert cipher(stack).decrypt(read_portal(stack, member_id).application_token_enc) == genuine


def test_when_the_admin_check_fails_the_user_is_not_an_admin_and_it_is_logged(installed, browser, caplog):
    """The opening asks `profile` (webhooks/admin_checks.py opening_right), no longer user.admin."""
    stack = installed
    tokens = _stored_b24_tokens(stack)
    b24_control(stack, f"portals/{stack.b24.default_member_id}/settings", {"error_rate": 1.0, "error_statuses": [500]})
    try:
        with caplog.at_level(logging.INFO), requests.Session() as admin:
            page, _ = _open_as(stack, admin, 1)
    finally:
        b24_control(stack, f"portals/{stack.b24.default_member_id}/settings", {"error_rate": 0.0})
    assert page.status_code == 200
    _read_only(page.text)
    failures = [r for r in caplog.records if r.getMessage() == "b24.admin.check_refused"]
    assert failures and failures[0].method == "profile" and failures[0].status == 500 and failures[0].code == "INTERNAL_SERVER_ERROR"
    assert _stored_b24_tokens(stack) == tokens


def test_an_admin_still_can_do_everything(installed, browser):
    stack = installed
    with requests.Session() as clerk:
        _open_as(stack, clerk, _clerk(stack))
    page, fields = _open_as(stack, browser, 1)
    assert ADMIN_ONLY not in page.text and 'id="login"' in page.text and 'id="signup"' in page.text
    assert _stored_b24_tokens(stack) == (fields["form"]["AUTH_ID"], fields["form"]["REFRESH_ID"])
    connect_quickbooks(browser, stack.url, page.text)
    page = browser.get(stack.url + "/bitrix24/app", timeout=10).text
    assert all(marker in page for marker in ('id="save-settings"', 'id="start-sync"', 'id="logout"'))
    csrf = _csrf(page)
    saved = browser.post(stack.url + "/bitrix24/app/settings", data={**SETTINGS_FORM, "csrf_token": csrf},
                         allow_redirects=False)
    assert saved.status_code == 303
    assert read_portal(stack, stack.b24.default_member_id).settings["customer_rule"] == "always_companies"
    assert browser.post(stack.url + "/bitrix24/app/sync", data={"csrf_token": csrf},
                        allow_redirects=False).status_code == 303
    assert browser.post(stack.url + "/quickbooks/disconnect", data={"csrf_token": csrf},
                        allow_redirects=False).status_code == 303
    factory = make_session_factory(make_engine(stack.settings.database_url))
    with factory() as session:
        assert session.scalar(select(QboConnection)).status == "disconnected"
        assert session.scalar(select(SyncRun)).status == "cancelled"
    page = browser.get(stack.url + "/bitrix24/app", timeout=10).text
    consent = browser.post(stack.url + "/quickbooks/connect", data={"t": _login_token(page)}, allow_redirects=False)
    assert consent.status_code == 302
