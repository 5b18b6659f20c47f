"""Review findings on the event handler: who may set the application token, malformed payloads of an
authenticated sender, and what an unauthenticated sender can put into /metrics."""
from __future__ import annotations

import requests

from tests.webhooks.stack_support import (b24_control, cipher, install_app, install_fields, installs, read_portal,
                                          snapshot)


def _event(stack, form: dict) -> requests.Response:
    return requests.post(stack.url + "/webhooks/bitrix24", data=form, timeout=30)


def _app_token(stack) -> str:
    return installs(stack)[stack.settings.b24_client_id]["application_token"]


def test_a_portal_user_token_cannot_replace_the_application_token_of_an_installed_portal(stack, browser):
    member_id = stack.b24.default_member_id
    install_app(stack, browser, member_id)
    # Any user who opens the app (or a CRM card's toolbar widget) holds a genuine AUTH_ID for it.
    clerk = b24_control(stack, f"portals/{member_id}/users", {"admin": False})["id"]
    user_token = b24_control(stack, f"portals/{member_id}/install",
                             {"client_id": stack.settings.b24_client_id, "user_id": clerk})["form"]["AUTH_ID"]
    before = snapshot(stack)
    forged = {"event": "ONAPPINSTALL", "auth[member_id]": member_id, "auth[access_token]": user_token,
              "auth[application_token]": "chosen-by-the-user", "auth[server_endpoint]": stack.b24.oauth_url + "/rest/"}
    assert _event(stack, forged).status_code == 403
    assert snapshot(stack) == before
    wipe = {"event": "ONAPPUNINSTALL", "data[CLEAN]": "1", "auth[member_id]": member_id,
            "auth[application_token]": "chosen-by-the-user"}
    assert _event(stack, wipe).status_code == 401
    assert snapshot(stack) == before and read_portal(stack, member_id).status == "installed"


def test_a_redelivered_onappinstall_with_the_held_token_is_accepted(stack, browser):
    member_id = stack.b24.default_member_id
    install_app(stack, browser, member_id)
    token = _app_token(stack)
    again = {"event": "ONAPPINSTALL", "auth[member_id]": member_id,
             "auth[access_token]": install_fields(stack)["form"]["AUTH_ID"], "auth[application_token]": token,
             "auth[server_endpoint]": stack.b24.oauth_url + "/rest/"}
    assert _event(stack, again).status_code == 200
    assert cipher(stack).decrypt(read_portal(stack, member_id).application_token_enc) == token


def test_malformed_payloads_of_an_authenticated_sender_are_400_and_change_nothing(stack, browser):
    member_id = stack.b24.default_member_id
    install_app(stack, browser, member_id)
    auth = {"auth[member_id]": member_id, "auth[application_token]": _app_token(stack)}
    before = snapshot(stack)
    cases = [
        {"event": "ONCRMCONTACTADD", "data": "scalar", "ts": "1466439714"},
        {"event": "ONCRMCONTACTADD", "data[FIELDS]": "scalar", "ts": "1466439714"},
        {"event": "ONCRMCONTACTADD", "data[FIELDS][ID]": "7", "ts": "9" * 30},
        {"event": "ONCRMCONTACTADD", "data[FIELDS][ID]": "7", "ts": "\u00b2"},  # isdigit() but not int()
        {"event": "ONCRMCONTACTADD", "data[FIELDS][ID]": "7" * 40, "ts": "1466439714"},  # column is 32 wide
        {"event": "ONAPPUNINSTALL", "data": "scalar"},
    ]
    for case in cases:
        response = _event(stack, {**case, **auth})
        assert response.status_code == 400, (case, response.status_code, response.text[:200])
        assert response.json()["message"]
        assert snapshot(stack) == before


def test_refused_events_do_not_grow_the_metrics_without_bound(stack):
    for number in range(30):
        response = _event(stack, {"event": f"ONFORGED{number:04d}X", "auth[member_id]": "nobody"})
        assert response.status_code == 401
    metrics = requests.get(stack.url + "/metrics", timeout=10).text
    assert "ONFORGED" not in metrics
    assert 'qb24_events_total{event="other",outcome="refused",source="b24"} 30.0' in metrics
