"""Who made a change decides an event's `auth`: a user (app call, incoming webhook) gets tokens, a robot,
workflow or agent none; an outgoing webhook always gets five keys (DOCS api-reference/events/index.md,
reference bitrix24.md §3.2)."""
from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
import requests

from sandbox_b24.conftest import CLIENT_ID, FIXTURES, Portal, Receiver, fixture_json
from tests.support import wait_for

# The captured ONCRMCONTACTADD (PHPSDK RemoteEventsFabricTest.php, reference §3.2) fixes the key order.
CAPTURED = [k for k, _ in parse_qsl((FIXTURES / "ONCRMCONTACTADD.form-urlencoded.txt").read_text())]
TOKEN_KEYS = {"auth[access_token]", "auth[expires]", "auth[expires_in]", "auth[scope]", "auth[user_id]"}


def _pairs(body: bytes) -> list[tuple[str, str]]:
    return parse_qsl(body.decode(), keep_blank_values=True)


def _auth_keys(body: bytes) -> list[str]:
    return [k for k, _ in _pairs(body) if k.startswith("auth[")]


def _bind(portal: Portal, receiver: Receiver, event: str = "ONCRMCONTACTADD") -> None:
    assert portal.call("event.bind", {"event": event, "handler": receiver.url}).json()["result"] is True


@pytest.mark.parametrize("origin", ["robot", "workflow", "agent"])
def test_a_change_without_a_user_sends_no_tokens(portal: Portal, receiver: Receiver, origin: str) -> None:
    """DOCS events/index.md § Authorization Tokens: a change made by an automation rule or workflow has
    no user, "tokens are not passed"; reference §3.2 names the missing keys."""
    _bind(portal, receiver)
    [contact_id] = portal.control("seed", {"contacts": [{"NAME": "Bot"}], "origin": origin}).json()["contacts"]
    body = wait_for(lambda: receiver.bodies)[0]
    keys = [k for k, _ in _pairs(body)]
    assert keys == [k for k in CAPTURED if k not in TOKEN_KEYS]  # the rest in the captured order
    fields = dict(_pairs(body))
    assert fields["data[FIELDS][ID]"] == str(contact_id) and fields["auth[member_id]"] == portal.member_id
    assert fields["auth[application_token]"] == portal.application_token


def test_a_robot_update_sends_no_tokens(portal: Portal, receiver: Receiver) -> None:
    """DOCS events/index.md § Authorization Tokens (ONCRMCONTACTUPDATE by a workflow)."""
    _bind(portal, receiver, "ONCRMCONTACTUPDATE")
    contact_id = portal.call("crm.contact.add", {"fields": {"NAME": "Wf"}}).json()["result"]
    answer = portal.control("update", {"kind": "contacts", "id": contact_id, "fields": {"NAME": "Wf2"},
                                       "origin": "workflow"})
    assert answer.status_code == 200
    body = wait_for(lambda: receiver.bodies)[0]
    assert dict(_pairs(body))["event"] == "ONCRMCONTACTUPDATE" and not TOKEN_KEYS & set(_auth_keys(body))
    assert portal.call("crm.contact.get", {"id": contact_id}).json()["result"]["NAME"] == "Wf2"


def test_the_user_zero_reading_keeps_scope_and_sends_user_id_0(portal: Portal, receiver: Receiver) -> None:
    """Switch robot_event_auth=user_zero: DOCS events/index.md "the user ID will be 0" and
    _includes/auth-params-in-events.md marks scope as always sent; still no token."""
    client_id = "local.robot.userzero"
    sb = portal.sb
    requests.post(f"{sb.control_url}/apps", json={"client_id": client_id, "client_secret": "s"})
    switched = requests.post(f"{sb.control_url}/apps/{client_id}/switches", json={"robot_event_auth": "user_zero"})
    assert switched.json()["robot_event_auth"] == "user_zero"
    install = portal.control("install", {"client_id": client_id, "handler_url": "http://127.0.0.1:9/b",
                                         "finish": True}).json()
    portal.call("event.bind", {"event": "ONCRMCOMPANYADD", "handler": receiver.url}, auth=install["form"]["AUTH_ID"])
    portal.control("seed", {"companies": [{"TITLE": "Robot Co"}], "origin": "robot"})
    body = wait_for(lambda: receiver.bodies)[0]
    assert _auth_keys(body) == [k for k in CAPTURED if k.startswith("auth[")
                                and k not in {"auth[access_token]", "auth[expires]", "auth[expires_in]"}]
    fields = dict(_pairs(body))
    assert fields["auth[user_id]"] == "0" and fields["auth[scope]"] == "crm,placement,user_brief"
    installs = requests.get(f"{sb.control_url}/portals/{portal.member_id}/installs").json()
    assert fields["auth[application_token]"] == installs[client_id]["application_token"]


def test_app_switches_default_to_bare_and_refuse_unknown_names_and_values(sb) -> None:
    """The harder reading is the default (common rules); bad input is a 400, not a silent no-op."""
    url = f"{sb.control_url}/apps/{CLIENT_ID}/switches"
    assert requests.get(url).json()["robot_event_auth"] == "bare"
    assert requests.post(url, json={"robot_event_auth": "tokens"}).status_code == 400
    assert requests.post(url, json={"no_such_switch": True}).status_code == 400
    assert requests.get(f"{sb.control_url}/apps/local.nobody/switches").status_code == 404
    assert requests.get(url).json()["robot_event_auth"] == "bare"


@pytest.mark.parametrize("via", ["app", "incoming_webhook"])
def test_user_writes_keep_the_full_auth_block(portal: Portal, receiver: Receiver, via: str) -> None:
    """A REST write by an app or an incoming webhook (/rest/<uid>/<code>/) is a user's change: the
    handler gets that user's tokens, as in the captured ONCRMCONTACTADD (reference §3.2)."""
    _bind(portal, receiver)
    if via == "app":
        portal.call("crm.contact.add", {"fields": {"NAME": "App"}})
    else:
        hook = portal.control("webhooks", {"user_id": 1}).json()["url"]
        requests.post(hook + "crm.contact.add.json", json={"fields": {"NAME": "Hook"}}, timeout=10)
    body = wait_for(lambda: receiver.bodies)[0]
    assert [k for k, _ in _pairs(body)] == CAPTURED
    fields = dict(_pairs(body))
    assert fields["auth[user_id]"] == "1"
    assert portal.call("profile", auth=fields["auth[access_token]"]).status_code == 200


@pytest.mark.parametrize("origin", ["user", "robot"])
def test_outgoing_webhooks_get_five_auth_keys_and_their_own_token(portal: Portal, receiver: Receiver,
                                                                  origin: str) -> None:
    """DOCS events/index.md § How to Subscribe to an Event via Webhook, fixture
    doc-examples/api-reference__events__index__02.json: only domain, client_endpoint, server_endpoint,
    member_id and the webhook's application_token, whoever made the change."""
    hook = portal.control("outgoing-webhooks", {"events": ["OnCrmContactAdd"], "handler": receiver.url}).json()
    assert hook["events"] == ["ONCRMCONTACTADD"] and hook["application_token"]
    if origin == "user":
        contact_id = portal.call("crm.contact.add", {"fields": {"NAME": "Out"}}).json()["result"]
    else:
        contact_id = portal.control("seed", {"contacts": [{"NAME": "Out"}], "origin": "robot"}).json()["contacts"][0]
    body = wait_for(lambda: receiver.bodies)[0]
    documented = fixture_json("api-reference__events__index__02.json")
    assert [k for k, _ in _pairs(body)] == (["event", "event_handler_id", "data[FIELDS][ID]", "ts"]
                                            + [f"auth[{k}]" for k in documented["auth"]])
    fields = dict(_pairs(body))
    assert fields["event_handler_id"] == str(hook["id"]) and fields["data[FIELDS][ID]"] == str(contact_id)
    assert fields["auth[application_token]"] == hook["application_token"]
    assert hook["application_token"] != portal.application_token
    assert fields["auth[client_endpoint]"] == f"{portal.url}/rest/"
    [sent] = requests.get(f"{portal.sb.control_url}/events", params={"member_id": portal.member_id}).json()
    assert sent["outgoing_id"] == hook["id"] and sent["client_id"] == ""


def test_control_changes_refuse_an_unknown_origin_kind_or_event(portal: Portal) -> None:
    """Bad control input is a 400 and changes nothing."""
    assert portal.control("seed", {"contacts": [{"NAME": "X"}], "origin": "cron"}).status_code == 400
    assert portal.control("update", {"kind": "invoices", "id": 1, "fields": {}}).status_code == 400
    assert portal.control("update", {"kind": "contacts", "id": "x", "fields": {}}).status_code == 400
    assert portal.control("outgoing-webhooks", {"events": ["ONNOTHING"], "handler": "http://x/"}).status_code == 400
    assert portal.call("crm.contact.list", {}).json()["total"] == 0


def test_a_robot_change_to_a_smart_invoice_sends_no_tokens(portal: Portal, receiver: Receiver) -> None:
    """DOCS events/index.md § Authorization Tokens holds for every CRM event: a robot-made Smart Invoice
    (ONCRMDYNAMICITEMADD/UPDATE, universal/events/on-crm-dynamic-item-*.md) carries no tokens either."""
    for event in ("ONCRMDYNAMICITEMADD", "ONCRMDYNAMICITEMUPDATE"):
        _bind(portal, receiver, event)
    [item_id] = portal.control("seed", {"smart_invoices": [{"title": "Bot"}], "origin": "robot"}).json()["smart_invoices"]
    answer = portal.control("update", {"kind": "smart_invoices", "id": item_id, "fields": {"title": "Bot 2"},
                                       "origin": "workflow"})
    assert answer.status_code == 200, answer.text
    bodies = wait_for(lambda: receiver.bodies[1:] and receiver.bodies)
    assert [dict(_pairs(b))["event"] for b in bodies] == ["ONCRMDYNAMICITEMADD", "ONCRMDYNAMICITEMUPDATE"]
    for body in bodies:
        fields = dict(_pairs(body))
        assert not TOKEN_KEYS & set(_auth_keys(body)) and fields["data[FIELDS][ENTITY_TYPE_ID]"] == "31"
        assert fields["data[FIELDS][ID]"] == str(item_id) and fields["auth[application_token]"] == portal.application_token
    got = portal.call("crm.item.get", {"entityTypeId": 31, "id": item_id}).json()["result"]["item"]
    assert got["title"] == "Bot 2"


def test_a_robot_change_to_an_old_invoice_sends_no_tokens(portal: Portal, receiver: Receiver) -> None:
    """The same for old invoices (ONCRMINVOICEADD/UPDATE/SETSTATUS, reference §6 events)."""
    for event in ("ONCRMINVOICEADD", "ONCRMINVOICEUPDATE", "ONCRMINVOICESETSTATUS"):
        _bind(portal, receiver, event)
    invoice = {"ORDER_TOPIC": "Bot", "PAY_SYSTEM_ID": "1", "PERSON_TYPE_ID": "1"}
    [invoice_id] = portal.control("seed", {"invoices": [invoice], "origin": "agent"}).json()["invoices"]
    answer = portal.control("update", {"kind": "invoices", "id": invoice_id, "fields": {"STATUS_ID": "P"},
                                       "origin": "robot"})
    assert answer.status_code == 200, answer.text
    bodies = wait_for(lambda: receiver.bodies[2:] and receiver.bodies)
    assert [dict(_pairs(b))["event"] for b in bodies] == ["ONCRMINVOICEADD", "ONCRMINVOICEUPDATE",
                                                          "ONCRMINVOICESETSTATUS"]
    assert all(not TOKEN_KEYS & set(_auth_keys(b)) for b in bodies)
    assert portal.call("crm.invoice.get", {"id": invoice_id}).json()["result"]["STATUS_ID"] == "P"
