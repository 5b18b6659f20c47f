"""OAuth server: grants, rotation, errors, app.info on the server, token expiry on portals."""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import parse_qsl

import pytest
import requests
from b24pysdk.api.responses.bitrix_app_info_response import B24AppInfoResult

from sandbox_b24.conftest import CLIENT_ID, CLIENT_SECRET, Portal

TOKEN_FIELDS = {"access_token", "client_endpoint", "domain", "expires", "expires_in", "member_id",
                "refresh_token", "scope", "server_endpoint", "status", "user_id"}


def _refresh(portal: Portal, refresh_token: str, secret: str = CLIENT_SECRET, method: str = "GET") -> requests.Response:
    params = {"grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": secret,
              "refresh_token": refresh_token}
    url = f"{portal.sb.oauth_url}/oauth/token/"
    return requests.get(url, params=params) if method == "GET" else requests.post(url, data=params)


def test_refresh_returns_documented_fields_and_rotates(portal: Portal) -> None:
    first = _refresh(portal, portal.refresh)
    assert first.status_code == 200
    body = first.json()
    assert set(body) == TOKEN_FIELDS
    assert body["expires_in"] == 3600 and body["member_id"] == portal.member_id
    assert body["client_endpoint"] == f"{portal.url}/rest/"
    assert body["domain"] == portal.sb.oauth_url.split("://")[1]  # the OAuth server's, not the portal's
    assert "application_token" not in body
    reused = _refresh(portal, portal.refresh)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    second = _refresh(portal, body["refresh_token"], method="POST")
    assert second.status_code == 200 and second.json()["access_token"] != body["access_token"]
    assert portal.call("profile", auth=second.json()["access_token"]).status_code == 200


def test_invalid_client_is_401(portal: Portal) -> None:
    response = _refresh(portal, portal.refresh, secret="wrong")
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_authorization_code_grant(portal: Portal) -> None:
    code = portal.control("authorize", {"client_id": CLIENT_ID}).json()["code"]
    params = {"grant_type": "authorization_code", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code": code}
    response = requests.get(f"{portal.sb.oauth_url}/oauth/token/", params=params)
    assert response.status_code == 200 and set(response.json()) == TOKEN_FIELDS
    again = requests.get(f"{portal.sb.oauth_url}/oauth/token/", params=params)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_server_app_info_tells_the_tokens_owner(portal: Portal) -> None:
    """The OAuth server's app.info in the shape the official SDK parses (b24pysdk 1.3.2
    schemas/api.py B24AppInfoResultData, api/responses/bitrix_app_info_response.py), lower-case only."""
    response = requests.get(f"{portal.sb.oauth_url}/rest/app.info", params={"auth": portal.auth})
    result = response.json()["result"]
    assert set(result) == {"client_id", "scope", "expires", "install", "user_id"}
    assert set(result["install"]) == {"installed", "version", "status", "scope", "domain", "uri",
                                      "client_endpoint", "member_id", "member_type"}
    parsed = B24AppInfoResult.from_dict(result)  # raises on any missing key or wrong type
    assert parsed.client_id == CLIENT_ID and parsed.install.member_id == portal.member_id
    assert parsed.install.domain == portal.url.split("://")[1] and parsed.install.installed is True
    assert parsed.install.client_endpoint == portal.url + "/rest/" and parsed.user_id == 1
    assert parsed.expires.tzinfo is not None and parsed.expires > datetime.now(timezone.utc)
    bad = requests.get(f"{portal.sb.oauth_url}/rest/app.info", params={"auth": "nope"})
    assert bad.status_code == 401


def test_expired_token_then_refresh_works(portal: Portal) -> None:
    requests.post(f"{portal.sb.control_url}/expire-tokens", json={"member_id": portal.member_id})
    response = portal.call("crm.contact.list")
    assert response.status_code == 401
    assert response.json() == {"error": "expired_token", "error_description": "The access token provided has expired"}
    fresh = _refresh(portal, portal.refresh).json()["access_token"]
    assert portal.call("crm.contact.list", auth=fresh).status_code == 200


def test_token_lifetime_is_settable(sb, portal: Portal) -> None:
    requests.post(f"{sb.control_url}/settings", json={"token_lifetime": 60})
    try:
        assert _refresh(portal, portal.refresh).json()["expires_in"] == 60
    finally:
        requests.post(f"{sb.control_url}/settings", json={"token_lifetime": 3600})


def test_portal_authorize_page_redirects_with_a_code_the_server_exchanges(portal: Portal) -> None:
    client_id, secret = "local.authorize.test", "s3cret"
    requests.post(f"{portal.sb.control_url}/apps", json={"client_id": client_id, "client_secret": secret,
                                                        "redirect_uri": "http://127.0.0.1:9/back"})
    moved = requests.get(f"{portal.url}/oauth/authorize/", params={"client_id": client_id, "state": "xyz"},
                         allow_redirects=False)
    assert moved.status_code == 302
    target, _, query = moved.headers["Location"].partition("?")
    back = dict(parse_qsl(query))
    assert target == "http://127.0.0.1:9/back" and back["state"] == "xyz"
    assert back["member_id"] == portal.member_id and back["domain"] == portal.url.split("://")[1]
    params = {"grant_type": "authorization_code", "client_id": client_id, "client_secret": secret,
              "code": back["code"]}
    exchanged = requests.get(f"{portal.sb.oauth_url}/oauth/token/", params=params)
    assert exchanged.status_code == 200 and exchanged.json()["member_id"] == portal.member_id


@pytest.mark.parametrize("reading,status", [(None, 400), ("invalid_grant", 400), ("invalid_client", 401),
                                            ("PAYMENT_REQUIRED", 401)])
def test_refresh_after_uninstall_answers_the_apps_reading(sb, reading, status) -> None:
    """After an uninstall the app's tokens are revoked (reference §1.4). The refresh then fails with
    invalid_grant by default (RFC 6749 §5.2: a revoked grant), or, as the `uninstalled_refresh_error`
    switch says, invalid_client (DOCS settings/oauth/error-codes.md: "possibly the app is not installed
    in this Bitrix24") or PAYMENT_REQUIRED (reference §2: "… or app removed"; the page's example body).
    The error key is `error` beside `error_description`, like every OAuth error (reference §2)."""
    client_id = f"local.uninstalled.{reading or 'default'}"
    requests.post(f"{sb.control_url}/apps", json={"client_id": client_id, "client_secret": "s"}, timeout=5)
    if reading:
        switched = requests.post(f"{sb.control_url}/apps/{client_id}/switches",
                                 json={"uninstalled_refresh_error": reading}, timeout=5)
        assert switched.status_code == 200, switched.text
    member_id = requests.post(f"{sb.control_url}/portals", json={}, timeout=5).json()["member_id"]
    form = requests.post(f"{sb.control_url}/portals/{member_id}/install", timeout=5,
                         json={"client_id": client_id, "handler_url": "http://127.0.0.1:9/app", "finish": True}).json()["form"]
    params = {"grant_type": "refresh_token", "client_id": client_id, "client_secret": "s"}
    other = requests.get(f"{sb.oauth_url}/oauth/token/", params={**params, "refresh_token": "never-issued"}, timeout=5)
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"  # not revoked: unchanged
    requests.post(f"{sb.control_url}/portals/{member_id}/uninstall", json={"client_id": client_id}, timeout=5)
    answer = requests.get(f"{sb.oauth_url}/oauth/token/", params={**params, "refresh_token": form["REFRESH_ID"]},
                          timeout=5)
    assert answer.status_code == status
    assert answer.json() == {"error": reading or "invalid_grant", "error_description": answer.json()["error_description"]}
    assert requests.post(f"{sb.control_url}/apps/{client_id}/switches", json={"uninstalled_refresh_error": "x"},
                         timeout=5).status_code == 400
