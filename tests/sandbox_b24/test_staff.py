"""A user's standing changes: an administrator demoted, an employee terminated with their
integrations disabled or preserved (DOCS settings/system-user.md, common/users/profile.md)."""
from __future__ import annotations

import pytest
import requests

from sandbox_b24.conftest import CLIENT_ID, CLIENT_SECRET, Portal


def _user(portal: Portal, admin: bool) -> dict:
    return portal.control("users", {"admin": admin, "name": "Ann", "last_name": "Admin"}).json()


def _auth_of(portal: Portal, user_id: int) -> dict:
    return portal.control("install", {"client_id": CLIENT_ID, "user_id": user_id}).json()["form"]


def _refresh(portal: Portal, refresh_token: str, client_id: str = CLIENT_ID,
             secret: str = CLIENT_SECRET) -> requests.Response:
    return requests.get(f"{portal.sb.oauth_url}/oauth/token/", timeout=10, params={
        "grant_type": "refresh_token", "client_id": client_id, "client_secret": secret,
        "refresh_token": refresh_token})


def _app_switch(portal: Portal, **changes: object) -> None:
    response = requests.post(f"{portal.sb.control_url}/apps/{CLIENT_ID}/switches", json=changes, timeout=10)
    assert response.status_code == 200, response.text


@pytest.fixture(autouse=True)
def _default_switch(portal: Portal):
    yield
    _app_switch(portal, fired_user_tokens="still_valid")  # the session-wide sandbox outlives each test


def test_a_demoted_administrator_is_no_longer_one_for_the_same_token(portal: Portal) -> None:
    admin = _user(portal, admin=True)
    auth = _auth_of(portal, admin["id"])["AUTH_ID"]
    assert portal.call("user.admin", auth=auth).json()["result"] is True
    changed = portal.control(f"users/{admin['id']}", {"admin": False})
    assert changed.status_code == 200 and changed.json()["admin"] is False
    # DOCS user-admin.md / profile.md: both answer for the token's user as they stand now.
    assert portal.call("user.admin", auth=auth).json()["result"] is False
    assert portal.call("profile", auth=auth).json()["result"]["ADMIN"] is False
    assert portal.control(f"users/{admin['id']}", {"admin": True}).json()["admin"] is True
    assert portal.call("user.admin", auth=auth).json()["result"] is True


def test_a_terminated_users_profile_is_empty_while_their_token_still_works(portal: Portal) -> None:
    """Default reading: DOCS profile.md "If the user is inactive, the object is empty"."""
    admin = _user(portal, admin=True)
    form = _auth_of(portal, admin["id"])
    fired = portal.control(f"users/{admin['id']}", {"active": False}).json()
    assert fired["active"] is False
    assert portal.call("profile", auth=form["AUTH_ID"]).json()["result"] == []
    assert portal.call("user.admin", auth=form["AUTH_ID"]).json()["result"] is True  # unchanged right
    assert _refresh(portal, form["REFRESH_ID"]).status_code == 200
    # A terminated employee cannot sign in, so no frame is issued for them any more.
    reopened = portal.control("install", {"client_id": CLIENT_ID, "user_id": admin["id"]})
    assert reopened.status_code == 403 and reopened.json()["error"] == "USER_INACTIVE"


def test_a_terminated_users_tokens_refused_reading(portal: Portal) -> None:
    """DOCS system-user.md "Terminate and disable integrations — ... applications stop working"."""
    _app_switch(portal, fired_user_tokens="refused")
    admin = _user(portal, admin=True)
    form = _auth_of(portal, admin["id"])
    portal.control(f"users/{admin['id']}", {"active": False, "integrations": "disable"})
    for method in ("profile", "user.admin"):
        answer = portal.call(method, auth=form["AUTH_ID"])
        assert answer.status_code == 401 and answer.json()["error"] == "NO_AUTH_FOUND"
    info = requests.post(f"{portal.sb.oauth_url}/rest/app.info.json", data={"auth": form["AUTH_ID"]},
                         timeout=10)
    assert info.status_code == 401
    refused = _refresh(portal, form["REFRESH_ID"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert portal.call("profile").json()["result"]["ID"] == "1"  # everyone else's tokens still work


def test_preserved_integrations_move_a_market_apps_tokens_to_a_system_user(portal: Portal) -> None:
    """DOCS system-user.md: a clone per application, NAME = the app's name, the same access groups;
    local applications are not transferred."""
    market = "app.5f0e1b.qb24test"
    requests.post(f"{portal.sb.control_url}/apps", json={"client_id": market, "client_secret": "s3",
                                                         "handler_url": "http://127.0.0.1:9/m"}, timeout=10)
    admin = _user(portal, admin=True)
    market_form = portal.control("install", {"client_id": market, "user_id": admin["id"]}).json()["form"]
    local_form = _auth_of(portal, admin["id"])
    portal.control(f"users/{admin['id']}", {"active": False, "integrations": "preserve"})
    moved = portal.call("profile", auth=market_form["AUTH_ID"]).json()["result"]
    assert moved["ID"] != str(admin["id"]) and moved["ADMIN"] is True
    assert portal.call("user.admin", auth=market_form["AUTH_ID"]).json()["result"] is True
    users = requests.get(f"{portal.sb.control_url}/portals/{portal.member_id}/users", timeout=10).json()
    clone = next(u for u in users if str(u["id"]) == moved["ID"])
    assert clone["system"] is True and clone["name"] == "qb24" and clone["last_name"] == ""
    assert _refresh(portal, market_form["REFRESH_ID"], market, "s3").json()["user_id"] == clone["id"]
    assert portal.call("profile", auth=local_form["AUTH_ID"]).json()["result"] == []  # not transferred


def test_bad_user_changes_are_400_or_404(portal: Portal) -> None:
    assert portal.control("users/99", {"admin": False}).status_code == 404
    assert portal.control("users/1", {"admin": "no"}).status_code == 400
    assert portal.control("users/1", {"active": False, "integrations": "keep"}).status_code == 400
    assert portal.control("users/1", {"rank": 3}).status_code == 400
    assert portal.call("user.admin").json()["result"] is True  # nothing changed


def test_the_fired_user_tokens_switch_takes_its_two_readings_only(portal: Portal) -> None:
    url = f"{portal.sb.control_url}/apps/{CLIENT_ID}/switches"
    assert requests.get(url, timeout=10).json()["fired_user_tokens"] == "still_valid"
    assert requests.post(url, json={"fired_user_tokens": "revoked"}, timeout=10).status_code == 400
    switched = requests.post(url, json={"fired_user_tokens": "refused"}, timeout=10).json()
    assert switched["fired_user_tokens"] == "refused"
