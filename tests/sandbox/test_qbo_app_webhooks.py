"""Outbound webhooks fire after changes, signed, to a receiver started in the test, in both formats."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import requests
from quickbooks import QuickBooks

from tests.sandbox.qbo_app_support import Api, Sandbox, connect

VERIFIER = "verifier-for-tests"
LINE = {"Amount": 80.0, "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}


def _signed(body: bytes, headers: dict[str, str]) -> bool:
    expected = base64.b64encode(hmac.new(VERIFIER.encode(), body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(headers.get("Intuit-Signature", ""), expected)


def _entities(body: bytes) -> list[tuple[str, str, str, str]]:
    """(realmId, name, id, operation) of a legacy body."""
    return [(note["realmId"], e["name"], e["id"], e["operation"])
            for note in json.loads(body)["eventNotifications"] for e in note["dataChangeEvent"]["entities"]]


def test_legacy_notifications_are_signed_and_cover_each_operation(qbo: Sandbox, receiver) -> None:
    hook, url = receiver
    qbo.reset()
    qbo.control("POST", "webhooks", url=url, verifier_token=VERIFIER, format="legacy", aggregation_seconds=0)
    client, realm_id = connect(qbo.url)
    api = Api(qbo.url, client.access_token, realm_id)
    customer = api.call("POST", "customer", body={"DisplayName": "Hooked Co"}).json()["Customer"]
    invoice = api.call("POST", "invoice", body={"Line": [LINE],
                                                "CustomerRef": {"value": customer["Id"]}}).json()
    invoice_id = invoice["Invoice"]["Id"]
    api.call("POST", f"invoice/{invoice_id}/send", sendTo="ap@example.com")
    payment = api.call("POST", "payment", body={
        "CustomerRef": {"value": customer["Id"]}, "TotalAmt": 80.0,
        "Line": [{"Amount": 80.0, "LinkedTxn": [{"TxnId": invoice_id,
                                                 "TxnType": "Invoice"}]}]}).json()["Payment"]
    voidable = api.call("POST", "invoice", body={"Line": [LINE],
                                                 "CustomerRef": {"value": "1"}}).json()["Invoice"]
    api.call("POST", "invoice", body={"Id": voidable["Id"], "SyncToken": "0"}, operation="void")
    api.call("POST", "invoice", body={"Id": voidable["Id"], "SyncToken": "1"}, operation="delete")
    assert qbo.control("POST", "webhooks/flush", timeout=10)["flushed"] is True
    wanted = {(realm_id, "Customer", customer["Id"], "Create"), (realm_id, "Invoice", invoice_id, "Create"),
              (realm_id, "Invoice", invoice_id, "Emailed"), (realm_id, "Payment", payment["Id"], "Create"),
              (realm_id, "Invoice", invoice_id, "Update"), (realm_id, "Invoice", voidable["Id"], "Void"),
              (realm_id, "Invoice", voidable["Id"], "Delete")}
    hits = hook.wait_for(lambda item: b"eventNotifications" in item[0] and realm_id.encode() in item[0])
    seen = {entity for body, _ in hits for entity in _entities(body)}
    assert wanted <= seen
    assert all(_signed(body, headers) for body, headers in hits)
    assert all(QuickBooks(company_id=realm_id, minorversion=75).validate_webhook_signature(
        body.decode(), headers["Intuit-Signature"], VERIFIER) for body, headers in hits)
    log = qbo.control("GET", "webhooks/deliveries")["deliveries"]
    assert any(entry["acknowledged"] for entry in log)


def test_cloudevents_format_and_only_connected_realms(qbo: Sandbox, receiver) -> None:
    hook, url = receiver
    qbo.reset()
    qbo.control("POST", "webhooks", url=url, verifier_token=VERIFIER, format="cloudevents",
                aggregation_seconds=0)
    client, realm_id = connect(qbo.url)
    other_realm = qbo.control("POST", "realms")["realm_id"]
    qbo.control("POST", "apps", client_id="second-app", client_secret="s2", redirect_uris=[])
    qbo.control("POST", "settings", auto_approve_realm_id=other_realm)
    try:
        other_client, connected = connect(qbo.url, client_id="second-app", secret="s2")
    finally:
        qbo.control("POST", "settings", auto_approve_realm_id=None)
    assert connected == other_realm
    Api(qbo.url, other_client.access_token, other_realm).call("POST", "customer",
                                                              body={"DisplayName": "Elsewhere"})
    api = Api(qbo.url, client.access_token, realm_id)
    customer = api.call("POST", "customer", body={"Id": "1", "SyncToken": "0", "sparse": True, "Notes": "n"})
    assert customer.status_code == 200
    assert qbo.control("POST", "webhooks/flush", timeout=10)["flushed"] is True
    hits = hook.wait_for(lambda item: item[0].startswith(b"[") and b"qbo.customer.updated.v1" in item[0])
    body, headers = hits[-1]
    assert _signed(body, headers)
    events = json.loads(body)
    assert {(e["intuitaccountid"], e["intuitentityid"]) for e in events} == {(realm_id, "1")}
    assert all(e["specversion"] == "1.0" for e in events)
    with hook.lock:
        assert not any(other_realm.encode() in raw for raw, _ in hook.received)


def test_webhook_settings_are_checked_before_anything_changes(qbo: Sandbox) -> None:
    before = qbo.control("POST", "webhooks", copies=1)
    for bad in ({"copies": 0}, {"copies": 11}, {"copies": "3"}, {"copies": True}, {"out_of_order": "yes"},
                {"format": "xml"}, {"copied": 2}):
        response = requests.post(f"{qbo.url}/_sandbox/webhooks", json=bad, timeout=10)
        assert response.status_code == 400 and response.json()["error"], bad
    assert qbo.control("POST", "webhooks") == before
    assert qbo.control("POST", "webhooks", copies=3)["copies"] == 3
    assert qbo.control("POST", "webhooks", copies=1)["copies"] == 1
