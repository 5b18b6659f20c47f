"""Portal users: user.admin, profile's ADMIN, admin-only methods, and frames issued for a given user."""
from __future__ import annotations

import json
import re
from html import unescape

import requests

from sandbox_b24.conftest import CLIENT_ID, CLIENT_SECRET, Portal


def _add_user(portal: Portal, admin: bool = False, **more: str) -> dict:
    response = portal.control("users", {"admin": admin, "name": "Ann", "last_name": "Clerk", **more})
    assert response.status_code == 200, response.text
    return response.json()


def _frame_for(portal: Portal, user_id: int) -> dict:
    response = portal.control("install", {"client_id": CLIENT_ID, "user_id": user_id})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_control_api_creates_a_non_admin_beside_the_admin(portal: Portal) -> None:
    clerk = _add_user(portal)
    assert clerk == {"id": 2, "admin": False, "name": "Ann", "last_name": "Clerk", "active": True, "system": False,
                     "crm_read": {}, "language": "en"}
    listed = requests.get(f"{portal.sb.control_url}/portals/{portal.member_id}/users", timeout=10).json()
    assert [(u["id"], u["admin"]) for u in listed] == [(1, True), (2, False)]
    assert _add_user(portal, admin=True)["id"] == 3


def test_user_admin_answers_for_the_tokens_user(portal: Portal) -> None:
    clerk = _add_user(portal)
    admin_answer = portal.call("user.admin")
    assert admin_answer.status_code == 200
    body = admin_answer.json()
    # DOCS user-admin.md: {"result": true, "time": {...}}, a plain boolean.
    assert body["result"] is True and {"start", "finish", "duration"} <= set(body["time"])
    clerk_auth = _frame_for(portal, clerk["id"])["form"]["AUTH_ID"]
    assert portal.call("user.admin", auth=clerk_auth).json()["result"] is False
    no_auth = requests.post(f"{portal.url}/rest/user.admin.json", json={}, timeout=10)
    assert no_auth.status_code == 401 and no_auth.json()["error"] == "NO_AUTH_FOUND"


def test_profile_names_the_frames_user_and_its_admin_flag(portal: Portal) -> None:
    clerk = _add_user(portal)
    fields = _frame_for(portal, clerk["id"])
    assert fields["user_id"] == 2 and fields["is_admin"] is False
    profile = portal.call("profile", auth=fields["form"]["AUTH_ID"]).json()["result"]
    assert profile["ID"] == "2" and profile["ADMIN"] is False and profile["LAST_NAME"] == "Clerk"
    assert portal.call("profile").json()["result"]["ADMIN"] is True
    # A refresh keeps the token's user.
    refreshed = requests.get(f"{portal.sb.oauth_url}/oauth/token/", timeout=10, params={
        "grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "refresh_token": fields["form"]["REFRESH_ID"]}).json()
    assert refreshed["user_id"] == 2
    assert portal.call("user.admin", auth=refreshed["access_token"]).json()["result"] is False


def test_a_webhook_acts_as_its_user(portal: Portal) -> None:
    clerk = _add_user(portal)
    url = portal.control("webhooks", {"user_id": clerk["id"]}).json()["url"]
    assert requests.post(url + "user.admin", json={}, timeout=10).json()["result"] is False
    admin_url = portal.control("webhooks", {"user_id": 1}).json()["url"]
    assert requests.post(admin_url + "user.admin.json", json={}, timeout=10).json()["result"] is True


def test_admin_only_methods_refuse_a_non_admin(portal: Portal) -> None:
    clerk_auth = _frame_for(portal, _add_user(portal)["id"])["form"]["AUTH_ID"]
    refused = [
        portal.call("app.option.set", {"options": {"k": "v"}}, auth=clerk_auth),
        portal.call("placement.bind", {"PLACEMENT": "CRM_CONTACT_DETAIL_TOOLBAR", "HANDLER": "http://127.0.0.1:9/w",
                                       "TITLE": "t"}, auth=clerk_auth),
        portal.call("event.bind", {"event": "ONCRMCONTACTADD", "event_type": "offline"}, auth=clerk_auth),
    ]
    for response in refused:
        assert response.status_code == 403 and response.json()["error"] == "ACCESS_DENIED", response.text
    installs = requests.get(f"{portal.sb.control_url}/portals/{portal.member_id}/installs", timeout=10).json()
    assert installs[CLIENT_ID]["placements"] == [] and installs[CLIENT_ID]["options"] == {}
    online = portal.call("event.bind", {"event": "ONCRMCONTACTADD", "handler": "http://127.0.0.1:9/h"}, auth=clerk_auth)
    assert online.status_code == 200 and online.json()["result"] is True
    assert portal.call("app.option.set", {"options": {"k": "v"}}).json()["result"] is True  # the admin may


def test_fields_for_an_unknown_user_are_404_and_create_nothing(sb) -> None:
    member_id = requests.post(f"{sb.control_url}/portals", json={}, timeout=10).json()["member_id"]
    response = requests.post(f"{sb.control_url}/portals/{member_id}/install",
                             json={"client_id": CLIENT_ID, "handler_url": "http://127.0.0.1:9/app", "user_id": 9},
                             timeout=10)
    assert response.status_code == 404 and response.json()["error"] == "USER_NOT_FOUND"
    assert requests.get(f"{sb.control_url}/portals/{member_id}/installs", timeout=10).json() == {}


def _page_session(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="session">(.*?)</script>', html, re.S).group(1))


def test_the_app_page_opens_the_app_as_the_pages_user(portal: Portal) -> None:
    clerk = _add_user(portal)
    page = requests.get(f"{portal.url}/marketplace/app/{CLIENT_ID}/", params={"user_id": clerk["id"]}, timeout=10)
    session = _page_session(page.text)
    assert session["IS_ADMIN"] is False
    form_auth = unescape(re.search(r'name="AUTH_ID" value="([^"]+)"', page.text).group(1))
    assert form_auth == session["AUTH_ID"]
    assert portal.call("profile", auth=form_auth).json()["result"]["ID"] == "2"
    default = _page_session(requests.get(f"{portal.url}/marketplace/app/{CLIENT_ID}/", timeout=10).text)
    assert default["IS_ADMIN"] is True and portal.call("user.admin", auth=default["AUTH_ID"]).json()["result"] is True
    unknown = requests.get(f"{portal.url}/marketplace/app/{CLIENT_ID}/", params={"user_id": 77}, timeout=10)
    assert unknown.status_code == 404 and "No user 77" in unknown.text


def test_only_an_admin_installs_from_the_marketplace_page(sb) -> None:
    info = requests.post(f"{sb.control_url}/portals", json={}, timeout=10).json()
    clerk = requests.post(f"{sb.control_url}/portals/{info['member_id']}/users", json={}, timeout=10).json()
    form = {"client_id": CLIENT_ID, "handler_url": "http://127.0.0.1:9/app", "user_id": str(clerk["id"])}
    refused = requests.post(f"{info['url']}/marketplace/install/", data=form, timeout=10)
    assert refused.status_code == 403 and "Only an administrator" in refused.text
    assert requests.get(f"{sb.control_url}/portals/{info['member_id']}/installs", timeout=10).json() == {}
    accepted = requests.post(f"{info['url']}/marketplace/install/", data={**form, "user_id": "1"}, timeout=10)
    assert accepted.status_code == 200 and _page_session(accepted.text)["IS_ADMIN"] is True


def test_frames_carry_the_users_interface_language_as_lang(portal: Portal) -> None:
    """Reference bitrix24.md §3: LANG in the frame's query is the user's UI language."""
    assert _frame_for(portal, 1)["query"]["LANG"] == "en"
    german = _add_user(portal, admin=True, language="de")
    assert german["language"] == "de" and _frame_for(portal, german["id"])["query"]["LANG"] == "de"
    changed = requests.post(f"{portal.sb.control_url}/portals/{portal.member_id}/users/1", json={"language": "ua"},
                            timeout=10)
    assert changed.status_code == 200 and _frame_for(portal, 1)["query"]["LANG"] == "ua"
    for bad in ("German", "", 7):
        refused = requests.post(f"{portal.sb.control_url}/portals/{portal.member_id}/users/1", json={"language": bad},
                                timeout=10)
        assert refused.status_code == 400
    assert _frame_for(portal, 1)["query"]["LANG"] == "ua"  # a refused change changed nothing
