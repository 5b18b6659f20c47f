"""Install through the sandbox portal, events, uninstall: given a portal, when Bitrix24 calls, then the store."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from clients.quickbooks_auth import QboApp, QboOAuth, QboTokens
from qb24.demo import connect_quickbooks
from store.db import make_engine, make_session_factory, transaction
from store.models import Link, QboConnection, ReceivedEvent, SyncRun
from tests.webhooks.stack_support import (b24_control, cipher, install_app, install_fields, installs,
                                          open_app_page, post_frame, read_portal, snapshot, wait_for)
from webhooks.bitrix24 import EVENTS, PLACEMENT_TITLE, PLACEMENTS


def _sessions(stack):
    return make_session_factory(make_engine(stack.settings.database_url))


def _delivered(stack, event: str, count: int = 1) -> list[dict]:
    def sent() -> list[dict]:
        records = b24_control(stack, f"events?event={event}", method="GET")
        done = [r for r in records if r["status"] is not None or r["error"]]
        return done if len(done) >= count else []
    return wait_for(sent, f"{event} delivered")


def test_install_stores_the_portal_and_binds_events_and_the_create_invoice_toolbars(stack, browser):
    member_id = stack.b24.default_member_id
    install_app(stack, browser, member_id)
    view = installs(stack)[stack.settings.b24_client_id]
    assert view["installed"] is True
    assert sorted((b["event"], b["handler"]) for b in view["events"]) == sorted(
        (e, stack.url + "/webhooks/bitrix24") for e in EVENTS)
    assert sorted((p["placement"], p["handler"], p["title"]) for p in view["placements"]) == sorted(
        (p, stack.url + "/placements/create-invoice", PLACEMENT_TITLE) for p in PLACEMENTS)
    # The toolbar item of the four cards Create Invoice serves (webhooks/placement.py), and nothing else.
    assert sorted(PLACEMENTS) == ["CRM_COMPANY_DETAIL_TOOLBAR", "CRM_CONTACT_DETAIL_TOOLBAR",
                                  "CRM_DEAL_DETAIL_TOOLBAR", "CRM_LEAD_DETAIL_TOOLBAR"]
    portal = read_portal(stack, member_id)
    assert portal.status == "installed" and portal.domain == stack.b24.default_portal.domain
    assert portal.client_endpoint == stack.b24.default_portal.url + "/rest/"
    assert portal.server_endpoint == stack.b24.oauth_url + "/rest/"
    assert cipher(stack).decrypt(portal.application_token_enc) == view["application_token"]
    assert portal.access_token_enc and portal.refresh_token_enc
    assert _delivered(stack, "ONAPPINSTALL")[0]["status"] == 200


def test_installer_twice_is_idempotent_and_reinstall_after_uninstall_takes_the_new_token(stack, browser):
    for _ in range(2):  # the installer reopened before installFinish: "already binded" is success
        response = post_frame(browser, stack.url + "/bitrix24/install", install_fields(stack))
        assert response.status_code == 200 and "BX24.installFinish()" in response.text
    view = installs(stack)[stack.settings.b24_client_id]
    assert len(view["events"]) == len(EVENTS) and len(view["placements"]) == len(PLACEMENTS)
    b24_control(stack, f"portals/{stack.b24.default_member_id}/install-finish",
                {"client_id": stack.settings.b24_client_id})
    _delivered(stack, "ONAPPINSTALL")  # the token the uninstall event is checked against
    b24_control(stack, f"portals/{stack.b24.default_member_id}/uninstall", {"client_id": stack.settings.b24_client_id})
    _delivered(stack, "ONAPPUNINSTALL")
    assert wait_for(lambda: read_portal(stack, stack.b24.default_member_id).status == "uninstalled", "uninstall")
    install_app(stack, browser, stack.b24.default_member_id)
    portal = read_portal(stack, stack.b24.default_member_id)
    new_token = installs(stack)[stack.settings.b24_client_id]["application_token"]
    assert portal.status == "installed" and cipher(stack).decrypt(portal.application_token_enc) == new_token


def test_installer_url_opened_after_install_hands_over_to_the_app_page(stack, browser):
    install_app(stack, browser, stack.b24.default_member_id)
    response = post_frame(browser, stack.url + "/bitrix24/install", install_fields(stack))
    assert response.status_code == 307
    assert response.headers["Location"].startswith("/bitrix24/app?DOMAIN=")


@pytest.mark.parametrize("origin", ["user", "robot"])
@pytest.mark.parametrize("kind,event,entity", [("contacts", "ONCRMCONTACTADD", "contact"),
                                                ("companies", "ONCRMCOMPANYADD", "company")])
def test_crm_add_event_is_recorded_once(stack, browser, kind, event, entity, origin):
    """A robot's change arrives without access_token, expires, expires_in, scope and user_id (DOCS
    api-reference/events/index.md § Authorization Tokens, reference §3.2): the application token alone
    authenticates it."""
    install_app(stack, browser, stack.b24.default_member_id)
    created = b24_control(stack, f"portals/{stack.b24.default_member_id}/seed",
                          {kind: [{"TITLE": "Acme", "NAME": "Ann"}], "origin": origin})[kind][0]
    record = _delivered(stack, event)[0]
    assert record["status"] == 200
    assert ("auth%5Baccess_token%5D=" in record["body"]) is (origin == "user")
    again = browser.post(record["url"], data=record["body"], timeout=10,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    with _sessions(stack)() as session:
        rows = session.scalars(select(ReceivedEvent)).all()
    assert [(r.source, r.entity, r.entity_id, r.operation) for r in rows] == [("b24", entity, str(created), "add")]


def test_unknown_event_is_logged_and_changes_nothing(stack, browser, caplog):
    install_app(stack, browser, stack.b24.default_member_id)
    token = installs(stack)[stack.settings.b24_client_id]["application_token"]
    before = snapshot(stack)
    with caplog.at_level(logging.INFO, logger="qb24.b24.events.unsupported"):
        response = browser.post(stack.url + "/webhooks/bitrix24", data={
            "event": "ONCRMDEALUPDATE", "data[FIELDS][ID]": "5", "ts": "1727018926",
            "auth[member_id]": stack.b24.default_member_id, "auth[application_token]": token})
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"
    assert [r.event for r in caplog.records if r.name == "qb24.b24.events.unsupported"] == ["ONCRMDEALUPDATE"]
    assert snapshot(stack) == before


def _connected_with_work(stack, browser) -> tuple[int, QboTokens]:
    """Install, connect QuickBooks, add a link and an active run; return the portal id and QBO tokens."""
    member_id = stack.b24.default_member_id
    install_app(stack, browser, member_id)
    connect_quickbooks(browser, stack.url, open_app_page(stack, browser, member_id))
    with transaction(_sessions(stack)) as session:
        connection = session.scalar(select(QboConnection))
        session.add(Link(portal_id=connection.portal_id, qbo_type="Customer", qbo_id="1", b24_type="contact",
                         b24_id="1"))
        session.add_all([SyncRun(portal_id=connection.portal_id, kind="full", status="running"),
                         SyncRun(portal_id=connection.portal_id, kind="full", status="done",
                                 finished_at=datetime.now(timezone.utc))])
        tokens = QboTokens(connection.realm_id, cipher(stack).decrypt(connection.access_token_enc),
                           cipher(stack).decrypt(connection.refresh_token_enc))
        return connection.portal_id, tokens


def _oauth(stack) -> QboOAuth:
    s = stack.settings
    return QboOAuth(QboApp(s.qbo_client_id, s.qbo_client_secret, s.qbo_redirect_uri, s.qbo_environment))


@pytest.mark.parametrize("clean", [False, True])
def test_uninstall_stops_work_and_drops_tokens_keeping_data_until_a_reinstall(stack, browser, clean):
    """Reference §1.4 and §2: a confirmed uninstall stops work and drops the Bitrix24 tokens; the data
    and QuickBooks grant stay (a refused refresh is no proof, webhooks/uninstall.py) until a reinstall
    reads whether Bitrix24 kept the app's options (kept unless CLEAN, §1.4). Before issue 8's review
    the uninstall revoked the grant, and deleted on the event's own CLEAN."""
    portal_id, qbo_tokens = _connected_with_work(stack, browser)
    b24_control(stack, f"portals/{stack.b24.default_member_id}/uninstall",
                {"client_id": stack.settings.b24_client_id, "clean": clean})
    assert _delivered(stack, "ONAPPUNINSTALL")[0]["status"] == 200
    portal = read_portal(stack, stack.b24.default_member_id)
    assert portal.status == "uninstalled" and portal.access_token_enc is None and portal.refresh_token_enc is None
    with _sessions(stack)() as session:
        connection = session.scalar(select(QboConnection))
        runs = sorted(session.scalars(select(SyncRun.status)).all())
        links = session.scalar(select(func.count()).select_from(Link))
    assert connection.status == "connected" and connection.refresh_token_enc is not None
    assert (runs, links) == (["cancelled", "done"], 1)
    _oauth(stack).refresh(qbo_tokens)  # the grant lives
    install_app(stack, browser, stack.b24.default_member_id)
    with _sessions(stack)() as session:
        connection = session.scalar(select(QboConnection))
        runs = sorted(session.scalars(select(SyncRun.status)).all())
        links = session.scalar(select(func.count()).select_from(Link))
    if clean:
        assert (connection, runs, links, read_portal(stack, stack.b24.default_member_id).settings) == (None, [], 0, {})
    else:
        assert connection.status == "connected" and (runs, links) == (["cancelled", "done"], 1)


def _install_late(stack, browser, shape: str, delay: float) -> None:
    """Installer POST in `shape`, installFinish, with ONAPPINSTALL `delay` seconds late; no waiting."""
    stack.b24.set_app_switches(stack.settings.b24_client_id, installer_shape=shape, install_event_delay=delay)
    response = post_frame(browser, stack.url + "/bitrix24/install", install_fields(stack))
    assert response.status_code == 200 and "BX24.installFinish()" in response.text
    b24_control(stack, f"portals/{stack.b24.default_member_id}/install-finish",
                {"client_id": stack.settings.b24_client_id})


@pytest.mark.parametrize("shape", ["captured", "documented"])
def test_both_installer_shapes_get_the_token_and_events_before_onappinstall_are_not_lost(stack, browser, shape):
    """Reference §1.1 (both POST shapes occur) and §1.2 (ONAPPINSTALL may arrive late): a user's
    contact made before the token arrives is still recorded (confirmed through app.info), and the
    token then authenticates the uninstall."""
    _install_late(stack, browser, shape, delay=5.0)
    member_id, sandbox_token = stack.b24.default_member_id, installs(stack)[stack.settings.b24_client_id][
        "application_token"]
    held = read_portal(stack, member_id).application_token_enc
    assert (held is None) if shape == "captured" else cipher(stack).decrypt(held) == sandbox_token
    created = b24_control(stack, f"portals/{member_id}/seed", {"contacts": [{"NAME": "Early"}]})["contacts"][0]
    record = _delivered(stack, "ONCRMCONTACTADD")[0]
    assert record["status"] == 200
    with _sessions(stack)() as session:
        assert [(r.entity, r.entity_id) for r in session.scalars(select(ReceivedEvent))] == [("contact", str(created))]
    install_event = _delivered(stack, "ONAPPINSTALL")[0]  # up to 10 s: the 5 s delay passes
    assert install_event["status"] == 200
    assert cipher(stack).decrypt(read_portal(stack, member_id).application_token_enc) == sandbox_token
    b24_control(stack, f"portals/{member_id}/uninstall", {"client_id": stack.settings.b24_client_id})
    assert _delivered(stack, "ONAPPUNINSTALL")[0]["status"] == 200
    assert read_portal(stack, member_id).status == "uninstalled"


def test_an_early_event_with_a_token_for_another_portal_is_refused(stack, browser):
    _install_late(stack, browser, "captured", delay=30.0)
    other = stack.b24.create_portal()
    foreign = b24_control(stack, f"portals/{other.member_id}/install", {"client_id": stack.settings.b24_client_id})
    before = snapshot(stack)
    response = browser.post(stack.url + "/webhooks/bitrix24", timeout=10, data={
        "event": "ONCRMCONTACTADD", "data[FIELDS][ID]": "7", "ts": "1727018926",
        "auth[access_token]": foreign["form"]["AUTH_ID"], "auth[member_id]": stack.b24.default_member_id,
        "auth[application_token]": "guess"})
    assert response.status_code == 403 and snapshot(stack) == before


def test_a_reinstall_whose_uninstall_event_was_lost_takes_the_new_token(stack, browser):
    """Bitrix24 never resends an event: the service missed ONAPPUNINSTALL, so it still holds the old
    install's token when the admin reinstalls in the captured shape (no token in the POST); the new
    install's ONAPPINSTALL, an administrator's, replaces it, and events then authenticate."""
    member_id, client_id = stack.b24.default_member_id, stack.settings.b24_client_id
    install_app(stack, browser, member_id)
    old = installs(stack)[client_id]["application_token"]
    install = stack.b24.state.portals[member_id].installs[client_id]
    with stack.b24.state.lock:  # the service was down when Bitrix24 sent ONAPPUNINSTALL
        install.events = [b for b in install.events if b.event != "ONAPPUNINSTALL"]
    b24_control(stack, f"portals/{member_id}/uninstall", {"client_id": client_id})
    assert read_portal(stack, member_id).status == "installed"  # it never heard
    install_app(stack, browser, member_id)  # waits for the new ONAPPINSTALL's 200
    new = installs(stack)[client_id]["application_token"]
    assert new != old and cipher(stack).decrypt(read_portal(stack, member_id).application_token_enc) == new
    b24_control(stack, f"portals/{member_id}/uninstall", {"client_id": client_id})
    assert _delivered(stack, "ONAPPUNINSTALL")[0]["status"] == 200
    assert read_portal(stack, member_id).status == "uninstalled"
