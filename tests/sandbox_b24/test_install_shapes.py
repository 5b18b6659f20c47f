"""Per-app switches: the installer POST's shape, the ONAPPINSTALL delay, the application's status letter."""
from __future__ import annotations

import time
from urllib.parse import parse_qsl

import pytest
import requests

from sandbox_b24.conftest import FIXTURES, Receiver
from tests.support import wait_for

DOCUMENTED_KEYS = ["AUTH_ID", "AUTH_EXPIRES", "REFRESH_ID", "SERVER_ENDPOINT", "APPLICATION_TOKEN",
                   "APPLICATION_SCOPE", "member_id", "status", "PLACEMENT", "PLACEMENT_OPTIONS"]


def _captured_keys() -> list[str]:
    body = (FIXTURES / "install_or_placement_DEFAULT.POST-body.form-urlencoded.txt").read_text()
    return [k for k, _ in parse_qsl(body)]


def _app(sb, client_id: str, **switches) -> None:
    requests.post(f"{sb.control_url}/apps", json={"client_id": client_id, "client_secret": "s"}, timeout=5)
    if switches:
        answer = requests.post(f"{sb.control_url}/apps/{client_id}/switches", json=switches, timeout=5)
        assert answer.status_code == 200, answer.text


def _install(sb, client_id: str, plan: str = "basic") -> tuple[dict, dict]:
    info = requests.post(f"{sb.control_url}/portals", json={"plan": plan}, timeout=5).json()
    fields = requests.post(f"{sb.control_url}/portals/{info['member_id']}/install",
                           json={"client_id": client_id, "handler_url": "http://127.0.0.1:9/app"}, timeout=5).json()
    return info, fields


def test_default_shape_is_the_captured_post_and_documented_is_a_switch(sb) -> None:
    """Both shapes occur (reference §1.1): captured fixture vs DOCS settings/oauth/simple-way.md."""
    _app(sb, "local.shape.captured")
    _app(sb, "local.shape.documented", installer_shape="documented")
    _, captured = _install(sb, "local.shape.captured")
    info, documented = _install(sb, "local.shape.documented")
    assert list(captured["form"]) == _captured_keys()
    assert list(documented["form"]) == DOCUMENTED_KEYS
    token = requests.get(f"{sb.control_url}/portals/{info['member_id']}/installs",
                         timeout=5).json()["local.shape.documented"]["application_token"]
    assert documented["form"]["APPLICATION_TOKEN"] == token
    assert documented["form"]["SERVER_ENDPOINT"] == sb.oauth_url + "/rest/"


@pytest.mark.parametrize("switches,letter", [({}, "L"), ({"status": "P"}, "P")])
def test_status_is_the_applications_not_the_portals_plan(sb, receiver: Receiver, switches, letter) -> None:
    """`status` is the application's (DOCS _includes/auth-params-in-events.md): the same letter in
    the frame POST, the token answer, both app.info answers and every event, on any plan."""
    client_id = f"local.status.{letter}"
    _app(sb, client_id, **switches)
    info, fields = _install(sb, client_id, plan="enterprise")
    rest, auth = f"{info['url']}/rest/", fields["form"]["AUTH_ID"]
    for event in ("ONAPPINSTALL", "ONCRMCONTACTADD", "ONAPPUNINSTALL"):
        requests.post(rest + "event.bind", json={"auth": auth, "event": event, "handler": receiver.url}, timeout=5)
    requests.post(f"{sb.control_url}/apps/{client_id}/switches", json={"install_event_delay": 0}, timeout=5)
    requests.post(f"{sb.control_url}/portals/{info['member_id']}/install-finish", json={"client_id": client_id})
    requests.post(rest + "crm.contact.add", json={"auth": auth, "fields": {"NAME": "S"}}, timeout=5)
    refreshed = requests.get(f"{sb.oauth_url}/oauth/token/", params={
        "grant_type": "refresh_token", "client_id": client_id, "client_secret": "s",
        "refresh_token": fields["form"]["REFRESH_ID"]}, timeout=5).json()
    server_info = requests.get(f"{sb.oauth_url}/rest/app.info", params={"auth": auth}, timeout=5).json()["result"]
    portal_info = requests.post(rest + "app.info", json={"auth": auth}, timeout=5).json()["result"]
    requests.post(f"{sb.control_url}/portals/{info['member_id']}/uninstall", json={"client_id": client_id})
    bodies = wait_for(lambda: receiver.bodies if len(receiver.bodies) >= 3 else None, "three events")
    letters = {dict(parse_qsl(b.decode()))["event"]: dict(parse_qsl(b.decode()))["auth[status]"] for b in bodies}
    assert letters == {"ONAPPINSTALL": letter, "ONCRMCONTACTADD": letter, "ONAPPUNINSTALL": letter}
    assert (fields["form"]["status"], refreshed["status"], server_info["install"]["status"],
            portal_info["STATUS"]) == (letter,) * 4


def test_onappinstall_arrives_after_the_delay_and_later_events_can_outrun_it(sb, receiver: Receiver) -> None:
    """"The event may arrive with a delay" (DOCS simple-way.md, reference §1.2): default 1 s."""
    _app(sb, "local.delay.default")
    assert requests.get(f"{sb.control_url}/apps/local.delay.default/switches",
                        timeout=5).json()["install_event_delay"] == 1.0
    info, fields = _install(sb, "local.delay.default")
    rest, auth = f"{info['url']}/rest/", fields["form"]["AUTH_ID"]
    for event in ("ONAPPINSTALL", "ONCRMCOMPANYADD"):
        requests.post(rest + "event.bind", json={"auth": auth, "event": event, "handler": receiver.url}, timeout=5)
    finished = time.monotonic()
    requests.post(f"{sb.control_url}/portals/{info['member_id']}/install-finish",
                  json={"client_id": "local.delay.default"}, timeout=5)
    requests.post(rest + "crm.company.add", json={"auth": auth, "fields": {"TITLE": "Early"}}, timeout=5)
    bodies = wait_for(lambda: receiver.bodies if len(receiver.bodies) >= 2 else None, "both events")
    assert time.monotonic() - finished >= 1.0
    assert [dict(parse_qsl(b.decode()))["event"] for b in bodies] == ["ONCRMCOMPANYADD", "ONAPPINSTALL"]


@pytest.mark.parametrize("switches", [{"bogus": 1}, {"installer_shape": "short"}, {"install_event_delay": -1},
                                      {"install_event_delay": "1"}, {"status": "X"}, {"installer_shape": ["x"]},
                                      {"robot_event_auth": {"a": 1}}])
def test_switches_refuse_unknown_names_and_bad_values(sb, switches) -> None:
    _app(sb, "local.switch.bad")
    answer = requests.post(f"{sb.control_url}/apps/local.switch.bad/switches", json=switches, timeout=5)
    assert answer.status_code == 400 and answer.json()["error"] == "ERROR_ARGUMENT"
    missing = requests.get(f"{sb.control_url}/apps/local.nope/switches", timeout=5)
    assert missing.status_code == 404
