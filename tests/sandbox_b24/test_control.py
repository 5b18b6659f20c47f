"""The control API's reset: a fresh world behind the same OAuth listener."""
from __future__ import annotations

from typing import Iterator

import pytest
import requests

from sandbox.bitrix24 import Bitrix24Sandbox
from sandbox_b24.conftest import CLIENT_ID, CLIENT_SECRET


@pytest.fixture
def own_sb() -> Iterator[Bitrix24Sandbox]:
    """A sandbox of this test's own: reset would pull the shared one from under other tests."""
    sandbox = Bitrix24Sandbox().start()
    yield sandbox
    sandbox.stop()


def test_reset_forgets_portals_and_tokens_and_recreates_the_defaults(own_sb: Bitrix24Sandbox) -> None:
    control = own_sb.control_url
    before = requests.get(f"{control}/", timeout=10).json()
    extra = requests.post(f"{control}/portals", json={}, timeout=10).json()
    install = requests.post(f"{control}/portals/{extra['member_id']}/install",
                            json={"client_id": CLIENT_ID, "handler_url": "http://127.0.0.1:9/app", "finish": True},
                            timeout=10).json()
    after = requests.post(f"{control}/reset", json={}, timeout=10).json()
    assert after["oauth_url"] == before["oauth_url"] and after["default_client_id"] == CLIENT_ID
    assert [p["member_id"] for p in after["portals"]] == [after["default_member_id"]]
    assert after["default_member_id"] != before["default_member_id"]
    refresh = requests.get(f"{own_sb.oauth_url}/oauth/token/", timeout=10, params={
        "grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "refresh_token": install["form"]["REFRESH_ID"]})
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{extra['url']}/rest/profile.json", json={"auth": install["form"]["AUTH_ID"]}, timeout=5)
    fresh = requests.post(f"{control}/portals/{after['default_member_id']}/install",
                          json={"client_id": CLIENT_ID, "handler_url": "http://127.0.0.1:9/app", "finish": True},
                          timeout=10).json()
    profile = requests.post(f"{after['portals'][0]['url']}/rest/profile.json", json={"auth": fresh["form"]["AUTH_ID"]},
                            timeout=10)
    assert profile.status_code == 200 and profile.json()["result"]["ADMIN"] is True
