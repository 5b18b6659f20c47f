"""Customer merge through the sandbox's control API (QuickBooks' screen action; the API has none): what the
API, CDC and both webhook formats then show (sandbox/quickbooks/customer_merge.py cites the sources)."""
from __future__ import annotations

import json

import requests

from tests.sandbox.qbo_app_support import Api, Sandbox, assert_fault, connect

VERIFIER = "verifier-for-merge-tests"


def _merge(qbo: Sandbox, realm_id: str, **body: object) -> requests.Response:
    return requests.post(f"{qbo.url}/_sandbox/realms/{realm_id}/customers/merge", json=body, timeout=10)


def _connected(qbo: Sandbox, receiver, format: str) -> tuple[Api, str]:
    hook, url = receiver
    qbo.reset()
    qbo.control("POST", "webhooks", url=url, verifier_token=VERIFIER, format=format, aggregation_seconds=0)
    client, realm_id = connect(qbo.url)
    with hook.lock:
        hook.received.clear()
    return Api(qbo.url, client.access_token, realm_id), realm_id


def _owned(api: Api, entity: str, customer_id: str) -> dict[str, dict]:
    query = f"SELECT * FROM {entity} WHERE CustomerRef = '{customer_id}'"
    return {r["Id"]: r for r in api.call("GET", "query", query=query).json()["QueryResponse"].get(entity, [])}


def test_merge_moves_transactions_and_removes_the_merged_customer(qbo: Sandbox, receiver) -> None:
    api, realm_id = _connected(qbo, receiver, "cloudevents")
    invoices, payments = _owned(api, "Invoice", "3"), _owned(api, "Payment", "3")
    assert invoices and len(payments) == 2  # Cool Cars in the sample company
    before_into = api.call("GET", "customer/2").json()["Customer"]
    answer = _merge(qbo, realm_id, **{"from": "3", "into": "2"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["moved"] == {"Invoice": sorted(invoices, key=int), "Payment": sorted(payments, key=int)}
    assert_fault(api.call("GET", "customer/3"), 400, "610")
    survivor = api.call("GET", "customer/2").json()["Customer"]
    assert int(survivor["SyncToken"]) == int(before_into["SyncToken"]) + 1
    assert survivor["Balance"] == before_into["Balance"] + sum(i["Balance"] for i in invoices.values())
    moved = {**_owned(api, "Invoice", "2"), **_owned(api, "Payment", "2")}
    for old in [*invoices.values(), *payments.values()]:
        new = moved[old["Id"]]
        assert new["CustomerRef"] == {"value": "2", "name": survivor["DisplayName"]}
        assert int(new["SyncToken"]) == int(old["SyncToken"]) + 1
        assert new["MetaData"]["LastUpdatedTime"] > old["MetaData"]["LastUpdatedTime"]
    changed_at = survivor["MetaData"]["LastUpdatedTime"]
    cdc = api.call("GET", "cdc", entities="Customer", changedSince=changed_at).json()
    customers = cdc["CDCResponse"][0]["QueryResponse"][0]["Customer"]
    assert {"domain": "QBO", "status": "Deleted", "Id": "3",
            "MetaData": {"LastUpdatedTime": changed_at}} in customers
    hook, _ = receiver
    hits = hook.wait_for(lambda item: b"qbo.customer.merged.v1" in item[0])
    merged = [e for e in json.loads(hits[0][0]) if e["type"] == "qbo.customer.merged.v1"]
    assert [(e["intuitentityid"], e["data"]) for e in merged] == [("2", {"deletedid": "3"})]
    assert qbo.control("POST", "webhooks/flush", timeout=10)["flushed"] is True
    with hook.lock:
        events = [e for body, _ in hook.received for e in json.loads(body)]
    updated = {(e["type"], e["intuitentityid"]) for e in events if e["type"].endswith(".updated.v1")}
    assert updated == {*(("qbo.invoice.updated.v1", i) for i in invoices),
                       *(("qbo.payment.updated.v1", p) for p in payments)}


def test_legacy_merge_event_carries_deleted_id(qbo: Sandbox, receiver) -> None:
    api, realm_id = _connected(qbo, receiver, "legacy")
    assert _merge(qbo, realm_id, **{"from": 4, "into": 6}).status_code == 200  # ids as numbers too
    hook, _ = receiver
    hits = hook.wait_for(lambda item: b'"Merge"' in item[0])
    entities = [e for note in json.loads(hits[0][0])["eventNotifications"]
                for e in note["dataChangeEvent"]["entities"]]
    assert [(e["name"], e["id"], e["operation"], e["deletedId"]) for e in entities] == [("Customer", "6", "Merge", "4")]
    assert qbo.control("POST", "webhooks/flush", timeout=10)["flushed"] is True


def test_refused_merges_change_nothing(qbo: Sandbox, receiver) -> None:
    api, realm_id = _connected(qbo, receiver, "legacy")
    cases = [({"from": "3", "into": "3"}, "into itself"),
             ({"from": "7", "into": "8"}, "own sub-customer"),  # 8 is a sub-customer of 7
             ({"from": "75", "into": "1"}, "different currencies"),  # EUR into USD
             ({"from": "74", "into": "1"}, "has sub-customers"),
             ({"from": "3", "into": "999"}, "no customer 999"),
             ({"from": "3"}, "from and into"), ({"from": True, "into": "2"}, "from and into")]
    for body, reason in cases:
        answer = _merge(qbo, realm_id, **body)
        assert answer.status_code == 400 and reason in answer.json()["error"], (body, answer.text)
    assert _merge(qbo, "no-such-realm", **{"from": "3", "into": "2"}).status_code == 400
    assert api.call("GET", "customer/3").status_code == 200 and len(_owned(api, "Payment", "3")) == 2
    assert qbo.control("POST", "webhooks/flush", timeout=10)["flushed"] is True
    hook, _ = receiver
    with hook.lock:
        assert hook.received == []
