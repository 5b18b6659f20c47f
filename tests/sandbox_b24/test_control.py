"""The control API: reset (a fresh world behind the same OAuth listener), refusals of malformed calls."""
from __future__ import annotations

import threading
from typing import Iterator
from urllib.parse import parse_qsl

import pytest
import requests

from sandbox.bitrix24 import Bitrix24Sandbox
from sandbox_b24.conftest import CLIENT_ID, CLIENT_SECRET, Portal, Receiver
from tests.support import wait_for


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


# (path under the portal or "/"-rooted, body): each is a 400 with the error body, and changes nothing.
_BAD_CALLS = [
    (f"/apps/{CLIENT_ID}/switches", [1]), (f"/apps/{CLIENT_ID}/switches", "abc"),
    ("/apps", {"client_id": "local.x", "client_secret": "s", "colour": "red"}), ("/apps", {"client_id": "local.y"}),
    ("/settings", {"token_lifetime": "soon"}), ("/portals", {"invoice_category_id": "x"}), ("/portals", {"plan": [1]}),
    ("seed", {"userfields": [{"FIELD_NAME": "UF_CRM_X"}]}), ("seed", {"userfields": [{"entity": "CRM_CONTACT"}]}),
    ("seed", {"categories": [{"entity_type_id": 3}]}), ("seed", {"categories": [{"name": "no type"}]}),
    ("seed", {"categories": [{"entity_type_id": 2, "sort": "high"}]}), ("seed", {"stages": [{"name": "no code"}]}),
    ("seed", {"contacts": "abc"}), ("seed", {"contacts": ["abc"]}), ("seed", {"contact": [{"NAME": "typo"}]}),
    ("seed", {"contacts": [{"NAME": "Bad", "EMAIL": [{"VALUE": "not-an-email"}]}]}),
    ("seed", {"smart_invoices": [{"stageId": "DT31_5:NOPE"}]}),
    ("outgoing-webhooks", {"events": 5, "handler": "http://x/"}),
    ("outgoing-webhooks", {"events": "ONCRMCONTACTADD", "handler": "http://x/"}),
    ("outgoing-webhooks", {"events": ["ONCRMCONTACTADD"], "handler": 5}),
    ("currencies", {"currencies": [{"CURRENCY": "GBP", "AMOUNT": "abc"}]}), ("currencies", {"currencies": ["GBP"]}),
    ("currencies", {"currencies": "GBP"}), ("settings", {"drain_rate": "fast"}), ("settings", {"bucket_size": None}),
    ("webhooks", {"user_id": "x"}), ("webhooks", {"scope": ["crm"]}), ("install", {"client_id": ["x"]}),
    ("update", {"kind": "contacts", "id": 1, "fields": "NAME"}),
]


@pytest.mark.parametrize(("path", "body"), _BAD_CALLS, ids=[f"{p}-{i}" for i, (p, _) in enumerate(_BAD_CALLS)])
def test_bad_control_calls_are_400_and_change_nothing(portal: Portal, path: str, body: object) -> None:
    """A malformed control call is refused whole: a seed is checked (and tried on a copy) before anything is
    created, so a bad last entry leaves no pipeline, user field or record of the good ones behind."""
    portal.control("seed", {"contacts": [{"NAME": "Kept"}]})
    url = f"{portal.sb.control_url}{path}" if path.startswith("/") else \
        f"{portal.sb.control_url}/portals/{portal.member_id}/{path}"
    if path == "seed":
        body = {"categories": [{"entity_type_id": 2, "name": "Good"}], "companies": [{"TITLE": "Good"}],
                "userfields": [{"entity": "CRM_CONTACT", "FIELD_NAME": "UF_CRM_GOOD"}], **body}
    before = _snapshot(portal)
    response = requests.post(url, json=body, timeout=10)
    assert response.status_code == 400, response.text
    assert isinstance(response.json()["error"], str) and response.json()["error_description"]
    assert _snapshot(portal) == before


def _snapshot(portal: Portal) -> dict:
    """What a refused control call must not have changed."""
    control = portal.sb.control_url
    call = lambda method, payload=None: portal.call(method, payload).json()["result"]  # noqa: E731
    return {"switches": requests.get(f"{control}/apps/{CLIENT_ID}/switches", timeout=10).json(),
            "portals": len(requests.get(f"{control}/", timeout=10).json()["portals"]),
            "contacts": call("crm.contact.list"), "companies": call("crm.company.list"),
            "categories": call("crm.category.list", {"entityTypeId": 2}), "uf": call("crm.contact.userfield.list"),
            "invoices": call("crm.item.list", {"entityTypeId": 31}),
            "currencies": call("crm.currency.list"), "events": len(requests.get(f"{control}/events", timeout=10).json())}


def _install_delayed(control: str, member_id: str, receiver: Receiver) -> None:
    """An app whose ONAPPINSTALL goes to `receiver` half a second after installFinish."""
    requests.post(f"{control}/apps", json={"client_id": "local.delayed", "client_secret": "s",
                                           "install_event_url": receiver.url}, timeout=10)
    requests.post(f"{control}/apps/local.delayed/switches", json={"install_event_delay": 0.5}, timeout=10)
    requests.post(f"{control}/portals/{member_id}/install", json={"client_id": "local.delayed", "finish": True,
                                                                 "handler_url": "http://127.0.0.1:9/"}, timeout=10)


def test_reset_cancels_an_onappinstall_still_waiting_for_its_delay(own_sb: Bitrix24Sandbox, receiver: Receiver) -> None:
    """After /_sandbox/reset no event of the forgotten world arrives. The same delayed install on the fresh
    default portal is the witness: had the first timer survived, its POST would have come first."""
    control = own_sb.control_url
    _install_delayed(control, own_sb.default_member_id, receiver)
    fresh = requests.post(f"{control}/reset", json={}, timeout=10).json()["default_member_id"]
    _install_delayed(control, fresh, receiver)
    first = wait_for(lambda: receiver.bodies, "the fresh portal's ONAPPINSTALL")[0]
    assert dict(parse_qsl(first.decode()))["auth[member_id]"] == fresh and len(receiver.bodies) == 1


def test_stop_cancels_pending_delayed_events(receiver: Receiver) -> None:
    """Stopping the sandbox leaves no timer thread behind to fire into a stopped sender."""
    sandbox = Bitrix24Sandbox().start()
    _install_delayed(sandbox.control_url, sandbox.default_member_id, receiver)
    timers = [t for t in threading.enumerate() if t.name == sandbox.sender.timer_name]
    assert len(timers) == 1 and timers[0].is_alive()
    sandbox.stop()
    wait_for(lambda: not timers[0].is_alive(), "the cancelled timer to end", timeout=2)
    assert receiver.bodies == []
