"""Admin rights are re-checked with Bitrix24, not remembered (issue 8, item 3; DESIGN.md invariants:
"admin rights are re-checked, not remembered").

The session cookie used to carry the admin flag from the moment the app was opened for 8 hours.
Now every state-changing action asks Bitrix24 again (a verdict is believed for RECHECK_SECONDS),
and linking a QuickBooks company always asks. The question is `profile` with the user's own token
(DOCS common/users/profile.md: `ADMIN` "matches the result of user.admin", `ID` is the token's
user, and "if the user is inactive, the object is empty"); the sandbox demotes and terminates
users the way settings/system-user.md describes (sandbox/bitrix24/staff.py).
"""
from __future__ import annotations

import logging
import re
from html import unescape

import pytest
import requests
from sqlalchemy import select

from qb24.demo import connect_quickbooks, finish_connect
from store.db import make_engine, make_session_factory
from store.models import PendingConnection, Portal, QboConnection
from tests.webhooks.stack_support import (b24_control, install_app, post_frame, running_stack, snapshot,
                                          wait_for)
from webhooks import admins, create_app

SETTINGS_FORM = {"use_new_invoice": "true", "customer_rule": "always_companies", "export_new_contacts": "on",
                 "stage_unsent": "DT31_5:N", "stage_sent": "DT31_5:S", "stage_partially_paid": "DT31_5:S",
                 "stage_paid": "DT31_5:P", "stage_overdue": "DT31_5:N", "stage_voided": "DT31_5:D",
                 "stage_deleted": "DT31_5:D"}
READ_ONLY = "Only a Bitrix24 administrator can change these settings"


def _factory(stack):
    return make_session_factory(make_engine(stack.settings.database_url))


def _new_user(stack, admin: bool = True) -> int:
    return b24_control(stack, f"portals/{stack.b24.default_member_id}/users", {"admin": admin})["id"]


def _change_user(stack, user_id: int, **changes: object) -> None:
    b24_control(stack, f"portals/{stack.b24.default_member_id}/users/{user_id}", changes)


def _open_as(stack, browser: requests.Session, user_id: int) -> str:
    fields = b24_control(stack, f"portals/{stack.b24.default_member_id}/install",
                         {"client_id": stack.settings.b24_client_id, "user_id": user_id})
    page = post_frame(browser, stack.url + "/bitrix24/app", fields)
    assert page.status_code == 200 and READ_ONLY not in page.text, page.text[:300]
    return page.text


def _csrf(page: str) -> str:
    return unescape(re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1))


def _login_token(page: str) -> str:
    return unescape(re.search(r'id="login-token"[^>]*value="([^"]+)"', page).group(1))


def _consent(stack, browser: requests.Session, page: str) -> str:
    """Log in → consent (auto-approved) → callback; the ticket the callback hands the framed page."""
    callback = browser.post(stack.url + "/quickbooks/connect", data={"t": _login_token(page)}, timeout=30)
    assert callback.status_code == 200 and "data-ticket" in callback.text, callback.text[:300]
    return unescape(re.search(r"data-ticket='([^']+)'", callback.text).group(1))


def _connections(stack) -> list[tuple[str, str]]:
    with _factory(stack)() as session:
        return [(c.realm_id, c.status) for c in session.scalars(select(QboConnection))]


def _stored_settings(stack) -> dict:
    with _factory(stack)() as session:
        return dict(session.scalar(select(Portal)).settings or {})


def _save(stack, browser: requests.Session, page: str) -> requests.Response:
    form = {**SETTINGS_FORM, "csrf_token": _csrf(page)}
    return browser.post(stack.url + "/bitrix24/app/settings", data=form, allow_redirects=False, timeout=30)


def _actions(stack, browser: requests.Session, page: str) -> dict[str, requests.Response]:
    """Every state-changing request the page offers an administrator."""
    csrf = _csrf(page)
    return {
        "settings": _save(stack, browser, page),
        "sync": browser.post(stack.url + "/bitrix24/app/sync", data={"csrf_token": csrf},
                             allow_redirects=False),
        "disconnect": browser.post(stack.url + "/quickbooks/disconnect", data={"csrf_token": csrf},
                                   allow_redirects=False),
        "connect": browser.post(stack.url + "/quickbooks/connect", data={"t": _login_token(page)},
                                allow_redirects=False),
    }


def _until_read_only(stack, browser: requests.Session) -> None:
    """Poll the page (which changes nothing) until the verdict cached at opening has lapsed."""
    wait_for(lambda: READ_ONLY in browser.get(stack.url + "/bitrix24/app", timeout=30).text,
             "the cached admin verdict to lapse", timeout=15)


@pytest.fixture
def short_window(monkeypatch):
    """A one-second verdict window, so "after the window" needs no minute-long wait."""
    monkeypatch.setattr(admins, "RECHECK_SECONDS", 1)


def test_a_demoted_admin_cannot_link_a_company_even_within_the_window(dual_stack, browser):
    """The issue's scenario: demoted in Bitrix24, then connect → consent → finish with the old cookie."""
    stack = dual_stack
    install_app(stack, browser, stack.b24.default_member_id)
    second = _new_user(stack)
    with requests.Session() as demoted:
        page = _open_as(stack, demoted, second)
        _change_user(stack, second, admin=False)
        ticket = _consent(stack, demoted, page)  # starting a consent is cached; linking is not
        refused = finish_connect(demoted, stack.url, page, ticket)
    assert refused.status_code == 403, refused.text[:300]
    assert "administrator" in refused.json()["message"]
    assert _connections(stack) == []
    with _factory(stack)() as session:
        assert session.scalars(select(PendingConnection)).all() == []  # claimed and revoked, not left behind


def test_after_the_window_a_demoted_admin_changes_nothing(dual_stack, browser, short_window):
    stack = dual_stack
    install_app(stack, browser, stack.b24.default_member_id)
    second = _new_user(stack)
    with requests.Session() as demoted:
        page = _open_as(stack, demoted, second)  # not connected yet: the page holds a Log in link token
        connect_quickbooks(browser, stack.url, _open_as(stack, browser, 1))
        _change_user(stack, second, admin=False)
        _until_read_only(stack, demoted)
        before = snapshot(stack)
        for name, response in _actions(stack, demoted, page).items():
            assert response.status_code == 403, (name, response.status_code, response.text[:200])
            assert READ_ONLY in response.text, name
    assert snapshot(stack) == before
    assert [status for _, status in _connections(stack)] == ["connected"]  # the grant was not revoked


@pytest.mark.parametrize("reading", ["still_valid", "refused"])
def test_after_the_window_a_terminated_admin_changes_nothing(dual_stack, browser, short_window, reading):
    """Terminated with integrations disabled (DOCS settings/system-user.md); both readings of what
    their tokens then do (sandbox switch fired_user_tokens): an empty profile, or 401."""
    stack = dual_stack
    stack.b24.set_app_switches(stack.settings.b24_client_id, fired_user_tokens=reading)
    _terminated_admin_cannot_save(stack, browser, integrations="disable")


def _terminated_admin_cannot_save(stack, browser, integrations: str) -> None:
    """An admin opens the app, is terminated in Bitrix24, and once the window is over cannot save."""
    install_app(stack, browser, stack.b24.default_member_id)
    second = _new_user(stack)
    with requests.Session() as fired:
        page = _open_as(stack, fired, second)
        _change_user(stack, second, active=False, integrations=integrations)
        _until_read_only(stack, fired)
        refused = _save(stack, fired, page)
    assert refused.status_code == 403 and _stored_settings(stack) == {}


def test_a_terminated_admin_whose_app_moved_to_a_system_user_changes_nothing(tmp_path, browser, short_window):
    """Integrations preserved: a Market app's tokens now act as a system-user clone with the same
    rights (DOCS settings/system-user.md), so user.admin would still say true; profile's ID does not."""
    with running_stack("sqlite", tmp_path, B24_CLIENT_ID="app.5f0e1b.qb24test") as stack:
        _terminated_admin_cannot_save(stack, browser, integrations="preserve")


def test_within_the_window_actions_ask_bitrix24_nothing_and_linking_asks_once(dual_stack, browser, caplog):
    """The cost: a verdict serves every action for RECHECK_SECONDS; connect/finish asks every time."""
    stack = dual_stack
    install_app(stack, browser, stack.b24.default_member_id)
    with caplog.at_level(logging.INFO, logger="qb24.b24.admins"):
        page = _open_as(stack, browser, 1)  # the opening's own user.admin verdict is the first one
        for _ in range(3):
            assert _save(stack, browser, page).status_code == 303
        asked_before_finish = [r for r in caplog.records if r.getMessage() == "b24.admin.asked"]
        assert finish_connect(browser, stack.url, page, _consent(stack, browser, page)).status_code == 200
        asked = [r for r in caplog.records if r.getMessage() == "b24.admin.asked"]
    assert asked_before_finish == []
    assert len(asked) == 1 and asked[0].fresh is True


@pytest.mark.parametrize("dual_stack", ["postgresql+redis"], indirect=True)
def test_a_refusal_seen_by_one_process_holds_in_every_process(dual_stack, browser):
    """With Redis the verdicts are shared: a second web process refuses at once, within the window."""
    stack = dual_stack
    install_app(stack, browser, stack.b24.default_member_id)
    second = _new_user(stack)
    with requests.Session() as demoted:
        page = _open_as(stack, demoted, second)
        _change_user(stack, second, admin=False)
        assert finish_connect(demoted, stack.url, page, _consent(stack, demoted, page)).status_code == 403
        other_process = create_app(stack.settings).test_client()
        other_process.set_cookie("qb24_session", demoted.cookies["qb24_session"], domain="localhost")
        refused = other_process.post("/bitrix24/app/settings",
                                     data={**SETTINGS_FORM, "csrf_token": _csrf(page)})
    assert refused.status_code == 403 and _stored_settings(stack) == {}


def test_after_its_frame_token_expired_a_session_is_checked_with_the_portals_tokens(dual_stack, browser,
                                                                                   short_window):
    """Frame tokens live an hour (reference §2); then the portal's stored tokens ask `profile`, and
    only when they are the same user's may the answer stand for the session (else: open the app again)."""
    stack = dual_stack
    install_app(stack, browser, stack.b24.default_member_id)
    second = _new_user(stack)
    first_page = _open_as(stack, browser, 1)
    with requests.Session() as latest:
        latest_page = _open_as(stack, latest, second)  # an administrator's open: the portal's tokens are theirs
        b24_control(stack, "expire-tokens", {"member_id": stack.b24.default_member_id})
        _until_read_only(stack, browser)
        refused = _save(stack, browser, first_page)
        assert refused.status_code == 403 and "Open the app again" in refused.text
        assert _save(stack, latest, latest_page).status_code == 303  # refreshed the portal's tokens, asked
    assert _save(stack, browser, _open_as(stack, browser, 1)).status_code == 303  # reopening is the remedy
