"""Outbound events: captured-body compatibility, dropped before installFinish, no retries, install/uninstall."""
from __future__ import annotations

from urllib.parse import parse_qsl

import requests

from sandbox_b24.conftest import CLIENT_ID, FIXTURES, Portal, Receiver
from tests.support import wait_for


def _keys(body: bytes | str) -> list[str]:
    text = body.decode() if isinstance(body, bytes) else body
    return [k for k, _ in parse_qsl(text, keep_blank_values=True)]


def test_oncrmcontactadd_matches_the_captured_body(portal: Portal, receiver: Receiver) -> None:
    portal.call("event.bind", {"event": "ONCRMCONTACTADD", "handler": receiver.url})
    contact_id = portal.call("crm.contact.add", {"fields": {"NAME": "Ev"}}).json()["result"]
    body = wait_for(lambda: receiver.bodies)[0]
    captured = (FIXTURES / "ONCRMCONTACTADD.form-urlencoded.txt").read_text()
    assert _keys(body) == _keys(captured)  # same keys, same order, brackets percent-encoded
    assert b"data%5BFIELDS%5D%5BID%5D=" in body and b"auth%5Bscope%5D=crm%2Cplacement%2Cuser_brief" in body
    fields = dict(parse_qsl(body.decode()))
    assert fields["event"] == "ONCRMCONTACTADD" and fields["data[FIELDS][ID]"] == str(contact_id)
    assert fields["auth[member_id]"] == portal.member_id
    assert fields["auth[application_token]"] == portal.application_token
    assert "auth[refresh_token]" not in fields
    assert portal.call("profile", auth=fields["auth[access_token]"]).status_code == 200
    sent = requests.get(f"{portal.sb.control_url}/events", params={"member_id": portal.member_id}).json()
    assert [e["event"] for e in sent] == ["ONCRMCONTACTADD"]


def _sent(sb, member_id: str, event: str) -> list[dict]:
    return requests.get(f"{sb.control_url}/events", params={"member_id": member_id, "event": event}).json()


def test_events_before_install_finish_are_dropped_not_delivered_later(sb, receiver: Receiver) -> None:
    """DOCS settings/app-installation/installation-finish.md (reference §1.2): before installFinish
    "events will not be sent", even after a successful event.bind; a later installFinish does not
    deliver them."""
    info = requests.post(f"{sb.control_url}/portals", json={}).json()
    member_id = info["member_id"]
    install = requests.post(f"{sb.control_url}/portals/{member_id}/install",
                            json={"client_id": CLIENT_ID, "handler_url": "http://127.0.0.1:9/app"}).json()
    auth = install["form"]["AUTH_ID"]
    rest = f"{info['url']}/rest/"
    assert requests.post(rest + "app.info", json={"auth": auth}).json()["result"]["INSTALLED"] is False
    bound = requests.post(rest + "event.bind", json={"auth": auth, "event": "ONCRMCOMPANYADD",
                                                     "handler": receiver.url}).json()
    assert bound["result"] is True
    requests.post(rest + "crm.company.add", json={"auth": auth, "fields": {"TITLE": "Before"}})
    [dropped] = _sent(sb, member_id, "ONCRMCOMPANYADD")
    assert dropped["dropped"] is True and dropped["body"] == "" and dropped["url"] == receiver.url
    requests.post(f"{sb.control_url}/portals/{member_id}/install-finish", json={"client_id": CLIENT_ID})
    after = requests.post(rest + "crm.company.add", json={"auth": auth, "fields": {"TITLE": "After"}}).json()
    # One queue delivers in order: once the later event is answered, a released one would be in too.
    wait_for(lambda: [e for e in _sent(sb, member_id, "ONCRMCOMPANYADD") if e["status"] is not None])
    assert [dict(parse_qsl(b.decode()))["data[FIELDS][ID]"] for b in receiver.bodies] == [str(after["result"])]
    assert [e["dropped"] for e in _sent(sb, member_id, "ONCRMCOMPANYADD")] == [True, False]
    assert requests.post(rest + "app.info", json={"auth": auth}).json()["result"]["INSTALLED"] is True


def test_events_carry_the_user_who_made_the_change(sb, receiver: Receiver) -> None:
    """DOCS api-reference/events/index.md § Authorization Tokens: the tokens belong to the user who acted."""
    info = requests.post(f"{sb.control_url}/portals", json={}).json()
    member_id = info["member_id"]
    clerk = requests.post(f"{sb.control_url}/portals/{member_id}/users", json={"admin": False}).json()
    install = requests.post(f"{sb.control_url}/portals/{member_id}/install",
                            json={"client_id": CLIENT_ID, "handler_url": "http://127.0.0.1:9/app",
                                  "user_id": clerk["id"], "finish": True}).json()
    rest, auth = f"{info['url']}/rest/", install["form"]["AUTH_ID"]
    requests.post(rest + "event.bind", json={"auth": auth, "event": "ONCRMCOMPANYADD", "handler": receiver.url})
    requests.post(rest + "crm.company.add", json={"auth": auth, "fields": {"TITLE": "By the clerk"}})
    fields = dict(parse_qsl(wait_for(lambda: receiver.bodies)[0].decode()))
    assert fields["auth[user_id]"] == str(clerk["id"]) != "1"
    assert requests.post(rest + "profile", json={"auth": fields["auth[access_token]"]}).json()["result"]["ID"] == str(clerk["id"])


def test_failed_delivery_is_not_retried(portal: Portal, receiver: Receiver) -> None:
    receiver.status = 500
    portal.call("event.bind", {"event": "ONCRMCONTACTUPDATE", "handler": receiver.url})
    contact_id = portal.call("crm.contact.add", {"fields": {"NAME": "R"}}).json()["result"]
    portal.call("crm.contact.update", {"id": contact_id, "fields": {"NAME": "R1"}})
    portal.call("crm.contact.update", {"id": contact_id, "fields": {"NAME": "R2"}})
    events_url = f"{portal.sb.control_url}/events"

    def answered() -> list[dict] | None:
        # The receiver records a body before the sender reads its 500: wait for both answers.
        sent = requests.get(events_url, params={"member_id": portal.member_id}).json()
        return sent if len(sent) == 2 and all(e["status"] is not None for e in sent) else None

    sent = wait_for(answered, "both deliveries answered")
    assert [e["status"] for e in sent] == [500, 500]
    assert len(receiver.bodies) == 2  # one POST per change, the failures were not resent


def test_app_install_and_uninstall_events(sb, receiver: Receiver) -> None:
    client_id = "local.events.test"
    requests.post(f"{sb.control_url}/apps", json={"client_id": client_id, "client_secret": "s",
                                                  "install_event_url": receiver.url})
    info = requests.post(f"{sb.control_url}/portals", json={}).json()
    install = requests.post(f"{sb.control_url}/portals/{info['member_id']}/install",
                            json={"client_id": client_id, "handler_url": "http://127.0.0.1:9/app"}).json()
    requests.post(f"{info['url']}/rest/event.bind", json={"auth": install["form"]["AUTH_ID"],
                                                          "event": "ONAPPUNINSTALL", "handler": receiver.url})
    assert receiver.bodies == []
    requests.post(f"{sb.control_url}/portals/{info['member_id']}/install-finish", json={"client_id": client_id})
    fields = dict(parse_qsl(wait_for(lambda: receiver.bodies)[0].decode()))
    assert fields["event"] == "ONAPPINSTALL" and fields["data[INSTALLED]"] == "Y"
    token = requests.get(f"{sb.control_url}/portals/{info['member_id']}/installs").json()[client_id]["application_token"]
    assert fields["auth[refresh_token]"] and fields["auth[application_token]"] == token
    requests.post(f"{sb.control_url}/portals/{info['member_id']}/uninstall", json={"client_id": client_id, "clean": True})
    fields = dict(parse_qsl(wait_for(lambda: receiver.bodies[1:])[0].decode()))
    assert fields["event"] == "ONAPPUNINSTALL" and fields["data[CLEAN]"] == "1"
    assert "auth[access_token]" not in fields and "auth[refresh_token]" not in fields
    gone = requests.post(f"{info['url']}/rest/profile", json={"auth": install["form"]["AUTH_ID"]})
    assert gone.status_code == 401


def test_installer_fields_match_the_captured_install_post(portal: Portal) -> None:
    """Default shape = the real installer POST captured in the PHP SDK's tests (fixtures
    install_or_placement_DEFAULT.*): exactly its keys, in its order, no application token."""
    captured = _keys((FIXTURES / "install_or_placement_DEFAULT.POST-body.form-urlencoded.txt").read_text())
    assert list(portal.install["form"]) == captured
    assert portal.install["form"]["PLACEMENT"] == "DEFAULT"
    uri = (FIXTURES / "install_or_placement_DEFAULT.request-uri.txt").read_text()
    assert list(portal.install["query"]) == _keys(uri.split("?", 1)[1])
    assert portal.install["query"]["PROTOCOL"] == "0"
