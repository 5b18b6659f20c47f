"""The opening's admin verdict, the check's failures and its cost (review of issue 8, item 3).

Sources: DOCS common/users/profile.md ("If the user is inactive, the object is empty"; `ADMIN`
"matches the result of user.admin"); DOCS settings/system-user.md ("Terminate and preserve
integrations": the app works with a clone, EXTERNAL_AUTH_ID `rest_system`; "The user.get and
user.search methods do not return a system user"); DOCS api-reference/user/user-get.md (`ACTIVE`
"when set to true excludes dismissed users").
"""
from __future__ import annotations

import logging
import time

import pytest
import redis
import requests

from tests.webhooks.stack_support import b24_control, install_app, post_frame, read_portal, running_stack
from tests.webhooks.test_admin_recheck import (READ_ONLY, _change_user, _csrf, _new_user, _open_as, _save,
                                               _stored_settings)
from webhooks import admins

MARKET_APP = "app.5f0e1b.qb24test"  # a Market app: "preserve" moves its tokens (local apps: not supported)


def _portal_tokens(stack) -> tuple:
    portal = read_portal(stack, stack.b24.default_member_id)
    return portal.access_token_enc, portal.refresh_token_enc


@pytest.mark.parametrize("kind", ["sqlite", "postgresql+redis"])
@pytest.mark.parametrize("integrations", ["disable", "preserve"])
@pytest.mark.parametrize("reading", ["still_valid", "refused"])
def test_a_fired_admin_replaying_their_frame_post_is_no_admin(tmp_path, browser, kind, integrations, reading):
    """user.admin keeps saying true for a dismissed user (sandbox fired_user_tokens=still_valid) and for
    the system-user clone; the opening asks `profile` and `user.get` instead."""
    with running_stack(kind, tmp_path, B24_CLIENT_ID=MARKET_APP) as stack:
        stack.b24.set_app_switches(MARKET_APP, fired_user_tokens=reading)
        install_app(stack, browser, stack.b24.default_member_id)
        second = _new_user(stack)
        fields = b24_control(stack, f"portals/{stack.b24.default_member_id}/install",
                             {"client_id": MARKET_APP, "user_id": second})
        with requests.Session() as fired:
            assert READ_ONLY not in post_frame(fired, stack.url + "/bitrix24/app", fields).text
            _change_user(stack, second, active=False, integrations=integrations)
            tokens = _portal_tokens(stack)
            again = post_frame(fired, stack.url + "/bitrix24/app", fields)
            assert again.status_code == 401 or (again.status_code == 200 and READ_ONLY in again.text), \
                (again.status_code, again.text[:300])
            if again.status_code == 200:
                assert _save(stack, fired, again.text).status_code == 403
        assert _stored_settings(stack) == {}
        assert _portal_tokens(stack) == tokens


def _break_redis(stack) -> redis.ConnectionPool:
    rt = stack.app.extensions["qb24"]
    pool = rt.redis.connection_pool
    rt.redis.connection_pool = redis.ConnectionPool.from_url("redis://127.0.0.1:1/0")
    return pool


def test_redis_down_means_not_admin_never_500(tmp_path, browser):
    """The verdicts, the frame tokens and the portal client's limiter live in Redis; an outage is a
    "could not tell" (403 / read-only page), and opening the app still works."""
    with running_stack("postgresql+redis", tmp_path) as stack:
        install_app(stack, browser, stack.b24.default_member_id)
        page = _open_as(stack, browser, 1)
        pool = _break_redis(stack)
        try:
            assert browser.get(stack.url + "/bitrix24/app").status_code == 200
            assert browser.get(stack.url + "/bitrix24/app/status").status_code == 200
            refused = _save(stack, browser, page)
            assert refused.status_code == 403 and "did not confirm" in refused.text
            gone = browser.post(stack.url + "/quickbooks/disconnect", data={"csrf_token": _csrf(page)},
                                allow_redirects=False)
            assert gone.status_code == 403
            with requests.Session() as other:
                fields = b24_control(stack, f"portals/{stack.b24.default_member_id}/install",
                                     {"client_id": stack.settings.b24_client_id, "user_id": 1})
                opened = post_frame(other, stack.url + "/bitrix24/app", fields)
                assert opened.status_code == 200, opened.text[:300]
        finally:
            stack.app.extensions["qb24"].redis.connection_pool = pool
        assert _stored_settings(stack) == {}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql+redis"])
def test_a_dead_frame_token_costs_bitrix24_little(tmp_path, browser, caplog, monkeypatch, kind):
    """Polling /status asks nothing; a "could not tell" stands UNKNOWN_SECONDS; a refused frame
    token is forgotten, so the next check asks once (the portal's tokens), not twice."""
    monkeypatch.setattr(admins, "RECHECK_SECONDS", 1)
    monkeypatch.setattr(admins, "UNKNOWN_SECONDS", 3)
    with running_stack(kind, tmp_path) as stack:
        install_app(stack, browser, stack.b24.default_member_id)
        _open_as(stack, browser, 1)
        with requests.Session() as latest:
            _open_as(stack, latest, _new_user(stack))  # the portal's tokens are now another user's
        b24_control(stack, "expire-tokens", {"member_id": stack.b24.default_member_id})
        time.sleep(1.1)  # the opening's verdict (RECHECK_SECONDS=1) lapses: a TTL, not a race
        with caplog.at_level(logging.INFO, logger="qb24.b24.admins"):
            for _ in range(10):
                assert browser.get(stack.url + "/bitrix24/app/status").status_code == 200
            assert _asked(caplog) == []
            for _ in range(3):
                assert READ_ONLY in browser.get(stack.url + "/bitrix24/app").text
            assert _asked(caplog) == ["frame", "portal"]  # once; then the UNKNOWN verdict stands
            time.sleep(3.1)  # UNKNOWN_SECONDS lapses
            caplog.clear()
            assert READ_ONLY in browser.get(stack.url + "/bitrix24/app").text
            assert _asked(caplog) == ["portal"]  # the refused frame token was forgotten


def _asked(caplog) -> list[str]:
    return [r.via for r in caplog.records if r.getMessage() == "b24.admin.asked"]


def test_an_app_without_a_user_scope_still_knows_its_admins(tmp_path, browser, caplog):
    """`user.get` needs a user scope (`user_brief`); registered without one, profile's ADMIN stands
    (logged), instead of every administrator getting a read-only page (issue 8 review)."""
    with running_stack("sqlite", tmp_path) as stack:
        s = stack.settings
        stack.b24.register_app(s.b24_client_id, s.b24_client_secret, scope="crm,placement",
                               handler_url=s.app_base_url + "/bitrix24/install")
        install_app(stack, browser, stack.b24.default_member_id)
        with caplog.at_level(logging.WARNING, logger="qb24.b24.admins"):
            page = _open_as(stack, browser, 1)
        assert READ_ONLY not in page
        assert "b24.admin.user_get_out_of_scope" in [r.getMessage() for r in caplog.records]
