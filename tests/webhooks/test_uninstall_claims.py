"""ONAPPUNINSTALL is a claim until Bitrix24 confirms it (issue 8, items 1 and 2), on SQLite and PostgreSQL.

Reference bitrix24.md §1.1: every user who opens the app receives APPLICATION_TOKEN, so it "proves only
someone in this portal"; §1.4: when ONAPPUNINSTALL arrives, "API access is already revoked"; §2: a
revoked grant's refresh answers invalid_grant (or, per DOCS settings/oauth/error-codes.md,
invalid_client "the app may not be installed" / PAYMENT_REQUIRED). A refused refresh also comes while the
app is installed (§2: an installer dismissed, a token unused for 180 days), so a confirmed claim only stops
work; data goes at a reinstall, when Bitrix24 shows the uninstall was CLEAN by having deleted the app's
options (§1.4, webhooks/kept_data.py).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext

import pytest
import requests
from sqlalchemy import func, select

from clients.quickbooks_auth import QboApp, QboOAuth, QboTokens
from clients.quickbooks_errors import AuthorizationRevoked
from qb24.demo import connect_quickbooks
from qb24.stack import Stack, start_stack
from store.db import make_engine, make_session_factory, transaction
from store.models import Link, QboConnection, SyncRun
from tests.services import WORKER_REDIS_URL, redis_client
from tests.webhooks.stack_support import (b24_control, cipher, documented_shape, install_app, install_fields,
                                          installs, open_app_page, post_frame, read_portal, realtime_worker,
                                          revocations_done, snapshot, wait_for)


@pytest.fixture
def stack(database_url) -> Iterator[Stack]:
    """The app beside both sandboxes on SQLite, and on PostgreSQL + Redis; pending claims retried at once."""
    extra = {}
    if database_url.startswith("postgresql"):
        redis_client().close()  # skips (or fails in CI) when Redis is not there
        extra["REDIS_URL"] = WORKER_REDIS_URL
    running = start_stack(database_url, B24_UNINSTALL_RETRY_S="0", **extra)
    with realtime_worker(running) if extra else nullcontext():  # revocations run on the worker
        yield running
    running.stop()
    running.app.extensions["qb24"].sessions.kw["bind"].dispose()  # before the PostgreSQL schema is dropped


def _sessions(stack: Stack):
    return make_session_factory(make_engine(stack.settings.database_url))


def _event(stack: Stack, form: dict) -> requests.Response:
    return requests.post(stack.url + "/webhooks/bitrix24", data=form, timeout=30)


def _delivered(stack: Stack, event: str) -> dict:
    """The sandbox's record of `event` once our answer to it is in."""
    def done() -> dict | None:
        records = b24_control(stack, f"events?event={event}", method="GET")
        return next((r for r in records if r["status"] is not None or r["error"]), None)
    return wait_for(done, f"{event} delivered", timeout=20)


def _work(stack: Stack) -> tuple[int, QboTokens]:
    """A link and a running sync for the connected portal; its QuickBooks tokens (to test the revoke)."""
    with transaction(_sessions(stack)) as session:
        connection = session.scalar(select(QboConnection))
        session.add(Link(portal_id=connection.portal_id, qbo_type="Customer", qbo_id="1", b24_type="contact",
                         b24_id="1"))
        session.add(SyncRun(portal_id=connection.portal_id, kind="full", status="running"))
        return connection.portal_id, QboTokens(connection.realm_id, cipher(stack).decrypt(connection.access_token_enc),
                                               cipher(stack).decrypt(connection.refresh_token_enc))


def _connected(stack: Stack, browser: requests.Session) -> QboTokens:
    member_id = stack.b24.default_member_id
    install_app(stack, browser, member_id)
    connect_quickbooks(browser, stack.url, open_app_page(stack, browser, member_id))
    return _work(stack)[1]


def _kept(stack: Stack) -> tuple[str | None, int]:
    """(connection status, link count) of the store."""
    with _sessions(stack)() as session:
        connection = session.scalar(select(QboConnection))
        return (connection.status if connection else None,
                session.scalar(select(func.count()).select_from(Link)))


def _revoked(stack: Stack, tokens: QboTokens) -> bool:
    s = stack.settings
    try:
        QboOAuth(QboApp(s.qbo_client_id, s.qbo_client_secret, s.qbo_redirect_uri, s.qbo_environment)).refresh(tokens)
    except AuthorizationRevoked:
        return True
    return False


def _uninstall(stack: Stack, clean: bool) -> None:
    b24_control(stack, f"portals/{stack.b24.default_member_id}/uninstall",
                {"client_id": stack.settings.b24_client_id, "clean": clean})


def test_a_non_admins_clean_uninstall_with_the_token_of_their_frame_post_changes_nothing(stack, browser):
    """Reference §1.1: the documented frame POST hands every user APPLICATION_TOKEN; Bitrix24 still
    answers app.info for the portal's stored tokens, so the claim is refused."""
    documented_shape(stack)
    member_id = stack.b24.default_member_id
    _connected(stack, browser)
    clerk = b24_control(stack, f"portals/{member_id}/users", {"admin": False})["id"]
    fields = b24_control(stack, f"portals/{member_id}/install",
                         {"client_id": stack.settings.b24_client_id, "user_id": clerk})
    with requests.Session() as clerks_browser:  # the clerk opens the app: the page is theirs to read
        assert post_frame(clerks_browser, stack.url + "/bitrix24/app", fields).status_code == 200
    before = snapshot(stack)
    forged = {"event": "ONAPPUNINSTALL", "data[LANGUAGE_ID]": "en", "data[CLEAN]": "1", "ts": "1466439714",
              "auth[domain]": fields["query"]["DOMAIN"], "auth[member_id]": member_id,
              "auth[application_token]": fields["form"]["APPLICATION_TOKEN"]}
    response = _event(stack, forged)
    assert response.status_code == 403 and response.json()["error"] == "event_auth"
    assert snapshot(stack) == before and read_portal(stack, member_id).status == "installed"


@pytest.mark.parametrize("how", ["portal_page", "control_api"])
@pytest.mark.parametrize("clean", [False, True])
def test_a_genuine_uninstall_stops_work_and_the_reinstall_applies_clean(stack, browser, clean, how):
    """DOCS on-app-uninstall.md, settings/app-uninstallation.md (reference §1.4): CLEAN is the user's
    choice, and Bitrix24 deletes the app's options only with it; the install's token is then spent, and
    a reinstall brings a new one (§1.4, §1.1)."""
    member_id, client_id = stack.b24.default_member_id, stack.settings.b24_client_id
    qbo_tokens = _connected(stack, browser)
    old_token = installs(stack)[client_id]["application_token"]
    if how == "portal_page":
        page = requests.post(f"{stack.b24.default_portal.url}/marketplace/app/{client_id}/uninstall/",
                             data={"clean": "Y"} if clean else {}, timeout=30)
        assert page.status_code == 200 and "id='uninstalled'" in page.text
    else:
        _uninstall(stack, clean)
    record = _delivered(stack, "ONAPPUNINSTALL")
    assert record["status"] == 200
    portal = read_portal(stack, member_id)
    assert portal.status == "uninstalled" and portal.application_token_enc is None
    assert portal.access_token_enc is None and portal.refresh_token_enc is None
    assert _kept(stack) == ("connected", 1) and not _revoked(stack, qbo_tokens)  # nothing irreversible yet
    before = snapshot(stack)
    contact = {"event": "ONCRMCONTACTADD", "data[FIELDS][ID]": "9", "ts": "1727018926",
               "auth[member_id]": member_id, "auth[application_token]": old_token}
    assert _event(stack, contact).status_code == 401 and snapshot(stack) == before
    install_app(stack, browser, member_id)  # the reinstall reads whether Bitrix24 kept the options
    assert _kept(stack) == ((None, 0) if clean else ("connected", 1))
    revocations_done(stack)  # the worker revokes what the reinstall queued
    assert _revoked(stack, qbo_tokens) is clean
    new_token = installs(stack)[client_id]["application_token"]
    assert new_token != old_token
    assert cipher(stack).decrypt(read_portal(stack, member_id).application_token_enc) == new_token
    assert _event(stack, {**contact, "auth[application_token]": new_token}).json()["outcome"] == "recorded"


def test_a_replayed_clean_uninstall_after_a_kept_data_uninstall_deletes_nothing(stack, browser):
    """Bitrix24 sends ONAPPUNINSTALL once (reference §3: no retries); a second one is a replay."""
    qbo_tokens = _connected(stack, browser)
    _uninstall(stack, clean=False)
    record = _delivered(stack, "ONAPPUNINSTALL")
    assert record["status"] == 200 and "data%5BCLEAN%5D=0" in record["body"]
    before = snapshot(stack)
    replay = requests.post(record["url"], data=record["body"].replace("data%5BCLEAN%5D=0", "data%5BCLEAN%5D=1"),
                           headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
    assert replay.status_code == 401
    assert snapshot(stack) == before and _kept(stack) == ("connected", 1)
    install_app(stack, browser, stack.b24.default_member_id)
    assert _kept(stack) == ("connected", 1) and not _revoked(stack, qbo_tokens)


def test_an_uninstall_before_the_late_onappinstall_stops_the_portal_and_keeps_its_data(stack, browser):
    """Captured installer shape (no APPLICATION_TOKEN, reference §1.1) and ONAPPINSTALL late (§1.2):
    the uninstall's token matches nothing held, Bitrix24 confirms it, so the portal stops; its data and
    QuickBooks grant stay until a reinstall."""
    member_id, client_id = stack.b24.default_member_id, stack.settings.b24_client_id
    stack.b24.set_app_switches(client_id, installer_shape="captured", install_event_delay=60)
    assert post_frame(browser, stack.url + "/bitrix24/install", install_fields(stack)).status_code == 200
    b24_control(stack, f"portals/{member_id}/install-finish", {"client_id": client_id})
    connect_quickbooks(browser, stack.url, open_app_page(stack, browser, member_id))
    _, qbo_tokens = _work(stack)
    assert read_portal(stack, member_id).application_token_enc is None  # ONAPPINSTALL has not come
    _uninstall(stack, clean=True)
    record = _delivered(stack, "ONAPPUNINSTALL")
    assert record["status"] == 200
    portal = read_portal(stack, member_id)
    assert portal.status == "uninstalled" and portal.refresh_token_enc is None
    assert _kept(stack) == ("connected", 1) and not _revoked(stack, qbo_tokens)


def test_bitrix24_unreachable_during_the_uninstall_holds_the_claim_until_the_reinstall(stack, browser):
    """Bitrix24 never resends an event and sends none after an uninstall (reference §3): a claim it
    cannot confirm (its REST answers 500, §8) is held, with nothing irreversible done, until the
    reinstall settles it and reads that the uninstall was CLEAN (options deleted, §1.4)."""
    member_id = stack.b24.default_member_id
    qbo_tokens = _connected(stack, browser)
    b24_control(stack, f"portals/{member_id}/settings", {"error_rate": 1.0, "error_statuses": [500]})
    _uninstall(stack, clean=True)
    record = _delivered(stack, "ONAPPUNINSTALL")
    assert record["status"] == 202
    portal = read_portal(stack, member_id)
    assert portal.status == "installed" and portal.uninstall_claimed_at is not None
    assert _kept(stack) == ("connected", 1) and not _revoked(stack, qbo_tokens)
    b24_control(stack, f"portals/{member_id}/settings", {"error_rate": 0.0})
    install_app(stack, browser, member_id)  # no event came meanwhile: the reinstall settles the claim
    portal = read_portal(stack, member_id)
    assert portal.status == "installed" and portal.uninstall_claimed_at is None
    revocations_done(stack)
    assert _kept(stack) == (None, 0) and _revoked(stack, qbo_tokens)


def test_a_reinstall_settles_a_pending_uninstall_first(stack, browser):
    """The installer finds the old install's claim pending: the old tokens decide it before the new ones
    are stored (reference §1.4: a reinstall gets a new application token); CLEAN=0 kept the options."""
    member_id, client_id = stack.b24.default_member_id, stack.settings.b24_client_id
    qbo_tokens = _connected(stack, browser)
    b24_control(stack, f"portals/{member_id}/settings", {"error_rate": 1.0, "error_statuses": [500]})
    _uninstall(stack, clean=False)
    assert _delivered(stack, "ONAPPUNINSTALL")["status"] == 202
    b24_control(stack, f"portals/{member_id}/settings", {"error_rate": 0.0})
    install_app(stack, browser, member_id)
    portal = read_portal(stack, member_id)
    assert portal.status == "installed" and portal.uninstall_claimed_at is None
    assert cipher(stack).decrypt(portal.application_token_enc) == installs(stack)[client_id]["application_token"]
    assert _kept(stack) == ("connected", 1) and not _revoked(stack, qbo_tokens)


@pytest.mark.parametrize("answer", ["invalid_client", "PAYMENT_REQUIRED"])
def test_a_refresh_refused_for_the_app_stops_the_portal_but_deletes_nothing(stack, browser, answer):
    """DOCS settings/oauth/error-codes.md: invalid_client "the app may not be installed", PAYMENT_REQUIRED
    a lapsed period (reference §2): neither proves anything, so work stops and everything is kept; the
    reinstall then finds the options deleted (CLEAN, §1.4) and deletes the data."""
    stack.b24.set_app_switches(stack.settings.b24_client_id, uninstalled_refresh_error=answer)
    member_id = stack.b24.default_member_id
    qbo_tokens = _connected(stack, browser)
    _uninstall(stack, clean=True)
    assert _delivered(stack, "ONAPPUNINSTALL")["status"] == 200
    assert read_portal(stack, member_id).status == "uninstalled"
    assert _kept(stack) == ("connected", 1) and not _revoked(stack, qbo_tokens)
    install_app(stack, browser, member_id)
    revocations_done(stack)
    assert _kept(stack) == (None, 0) and _revoked(stack, qbo_tokens)
