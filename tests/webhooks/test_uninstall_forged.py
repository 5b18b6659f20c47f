"""A clerk's forged ONAPPUNINSTALL changes nothing irreversible (issue 8, item 1 as reviewed).

Reference bitrix24.md §1.1: every opener's frame POST carries APPLICATION_TOKEN; §2: a refresh is
refused with invalid_grant while the app is installed too (the installing user dismissed — the
sandbox's `fired_user_tokens=refused` reading, DOCS settings/system-user.md); §1.4: Bitrix24 keeps
the app's options unless the uninstall was CLEAN, which is what a reinstall reads.
"""
from __future__ import annotations

from datetime import timedelta

import requests
from sqlalchemy import select

from store.db import transaction
from store.models import Portal, utcnow
from tests.webhooks.stack_support import (b24_control, documented_shape, install_app, install_fields, installs,
                                          post_frame, read_portal)
from tests.webhooks.test_uninstall_claims import (_connected, _event, _kept, _revoked, _sessions,
                                                  _uninstall, stack)

__all__ = ["stack"]  # the fixture, shared with test_uninstall_claims


def _clerk_fields(stack) -> dict:
    """A non-admin's documented frame POST fields (they carry APPLICATION_TOKEN, reference §1.1)."""
    member_id = stack.b24.default_member_id
    clerk = b24_control(stack, f"portals/{member_id}/users", {"admin": False})["id"]
    return b24_control(stack, f"portals/{member_id}/install", {"client_id": stack.settings.b24_client_id,
                                                               "user_id": clerk})


def _forge(stack, fields: dict, clean: str = "1") -> requests.Response:
    return _event(stack, {"event": "ONAPPUNINSTALL", "data[CLEAN]": clean,
                          "auth[member_id]": stack.b24.default_member_id,
                          "auth[application_token]": fields["form"]["APPLICATION_TOKEN"]})


def _dismiss_installer(stack) -> None:
    """User 1 installed the app and leaves; another administrator stays, the app stays installed."""
    member_id = stack.b24.default_member_id
    stack.b24.set_app_switches(stack.settings.b24_client_id, fired_user_tokens="refused")
    b24_control(stack, f"portals/{member_id}/users", {"admin": True})
    b24_control(stack, f"portals/{member_id}/users/1", {"active": False, "integrations": "disable"})


def test_a_clerks_claim_with_the_installer_dismissed_deletes_and_revokes_nothing(stack, browser):
    """The stored refresh token is refused (invalid_grant, §2) though the app is installed: work stops,
    links and the QuickBooks grant stay, and an administrator's reinstall finds the options kept."""
    documented_shape(stack)
    qbo_tokens = _connected(stack, browser)
    fields = _clerk_fields(stack)
    _dismiss_installer(stack)
    response = _forge(stack, fields)
    assert stack.settings.b24_client_id in installs(stack)
    # Nobody opened the app lately (no cached opener token refutes it): the claim stops work only.
    assert response.status_code == 200 and response.json()["outcome"] == "uninstalled"
    assert _kept(stack) == ("connected", 1) and not _revoked(stack, qbo_tokens)


def test_a_fresh_openers_token_refutes_a_refused_refresh(stack, browser):
    """The clerk opened the app (§1.1: that is how they hold the token): their frame token, cached,
    asks app.info, which says installed, so the claim is refused and work goes on."""
    documented_shape(stack)
    _connected(stack, browser)
    fields = _clerk_fields(stack)
    with requests.Session() as clerks_browser:
        assert post_frame(clerks_browser, stack.url + "/bitrix24/app", fields).status_code == 200
    _dismiss_installer(stack)
    response = _forge(stack, fields)
    assert response.status_code == 403 and response.json()["error"] == "event_auth"
    assert read_portal(stack, stack.b24.default_member_id).status == "installed"


def test_a_clerks_clean_claim_racing_a_keep_data_uninstall_keeps_the_data(stack, browser):
    """Bitrix24 revokes the tokens first and queues ONAPPUNINSTALL after (§1.4): a clerk's CLEAN=1
    claim gets there first, confirmed; the administrator chose to keep the data, and it is kept."""
    documented_shape(stack)
    qbo_tokens = _connected(stack, browser)
    fields = _clerk_fields(stack)
    assert _forge(stack, fields).status_code == 403  # while installed
    send, stack.b24.sender.enqueue = stack.b24.sender.enqueue, lambda record, delay=0.0: None
    _uninstall(stack, clean=False)  # the real event is still queued
    assert _forge(stack, fields).json()["outcome"] == "uninstalled"  # the clerk's next poll, CLEAN=1
    assert _kept(stack) == ("connected", 1) and not _revoked(stack, qbo_tokens)
    stack.b24.sender.enqueue = send
    install_app(stack, browser, stack.b24.default_member_id)
    assert _kept(stack) == ("connected", 1) and not _revoked(stack, qbo_tokens)


def test_a_claim_the_reinstall_could_not_settle_ends_with_the_new_tokens(stack, browser):
    """Bitrix24 unreachable for the old install's tokens (§8) when the reinstall comes: the claim is
    ended once the new tokens are stored, since it could never be confirmed after that."""
    member_id = stack.b24.default_member_id
    qbo_tokens = _connected(stack, browser)
    send, stack.b24.sender.enqueue = stack.b24.sender.enqueue, lambda record, delay=0.0: None
    _uninstall(stack, clean=False)  # its event is lost
    stack.b24.sender.enqueue = send
    with transaction(_sessions(stack)) as session:
        portal = session.scalar(select(Portal))
        portal.uninstall_claimed_at = portal.uninstall_checked_at = utcnow() - timedelta(minutes=5)
        portal.client_endpoint = "http://127.0.0.1:9/rest/"  # nothing listens: the old tokens get no answer
    # The installer POST alone: no event follows yet whose answer could ask about the claim again.
    assert post_frame(browser, stack.url + "/bitrix24/install", install_fields(stack)).status_code == 200
    portal = read_portal(stack, member_id)
    assert portal.status == "installed" and portal.uninstall_claimed_at is None
    assert _kept(stack) == ("connected", 1) and not _revoked(stack, qbo_tokens)
