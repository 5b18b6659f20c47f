"""The sandbox's control API (tests/demo only) and the CDC limits it makes testable."""
from __future__ import annotations

import requests

from tests.sandbox.qbo_app_support import Api, Sandbox, assert_fault, connect


def test_reset_empty_seed_and_inspect(qbo: Sandbox) -> None:
    realm_id = qbo.reset(empty=True)
    empty = qbo.control("GET", f"realms/{realm_id}/entities/Customer")
    assert empty == {"Customer": [], "Deleted": []}
    seeded = qbo.control("POST", "seed", customers=12, invoices=5, seed=3)
    assert seeded["counts"]["Customer"] == 12 and seeded["counts"]["Invoice"] == 5
    again = qbo.control("POST", "seed", customers=12, invoices=5, seed=3)
    first = qbo.control("GET", f"realms/{realm_id}/entities/Customer")["Customer"]
    assert again == seeded and [c["DisplayName"] for c in first] == [
        c["DisplayName"] for c in qbo.control("GET", f"realms/{realm_id}/entities/Customer")["Customer"]]
    sample = qbo.control("POST", "seed", sample=True)
    assert sample["counts"]["Customer"] > 12
    assert qbo.control("GET", f"realms/{realm_id}/entities/CompanyInfo")["CompanyInfo"]["CompanyName"]


def test_realms_are_separate_companies(qbo: Sandbox) -> None:
    first = qbo.reset()
    second = qbo.control("POST", "realms", empty=True)["realm_id"]
    assert second != first
    assert qbo.control("GET", f"realms/{second}/entities/Customer")["Customer"] == []
    assert qbo.control("GET", f"realms/{first}/entities/Customer")["Customer"]
    assert requests.get(f"{qbo.url}/_sandbox/realms/nope/entities/Customer", timeout=5).status_code == 404


def test_control_rejects_bad_input(qbo: Sandbox) -> None:
    bad = (("settings", {"bogus": 1}), ("settings", {"latency_ms": "slow"}), ("apps", {"client_id": ""}),
           ("webhooks", {"format": "xml"}), ("webhooks", {"colour": "red"}),
           ("clock", {"advance_seconds": "x"}))
    for path, body in bad:
        response = requests.post(f"{qbo.url}/_sandbox/{path}", json=body, timeout=5)
        assert response.status_code == 400 and "error" in response.json(), (path, response.text)


def test_cdc_object_limit_and_window(qbo: Sandbox) -> None:
    realm_id = qbo.reset()
    client, _ = connect(qbo.url)
    api = Api(qbo.url, client.access_token, realm_id)
    since = qbo.control("POST", "clock", advance_seconds=1)["now"]
    for name in ("Limit A", "Limit B", "Limit C"):
        assert api.call("POST", "customer", body={"DisplayName": name}).status_code == 200
    qbo.control("POST", "settings", cdc_max_objects=2)
    try:
        assert_fault(api.call("GET", "cdc", entities="Customer", changedSince=since), 400, "500")
    finally:
        qbo.restore_settings("cdc_max_objects")
    body = api.call("GET", "cdc", entities="customer", changedSince=since).json()
    assert [c["DisplayName"] for c in body["CDCResponse"][0]["QueryResponse"][0]["Customer"]] == [
        "Limit A", "Limit B", "Limit C"]
    qbo.control("POST", "clock", advance_seconds=31 * 86400)
    client.refresh()
    late = Api(qbo.url, client.access_token, realm_id)
    error = assert_fault(late.call("GET", "cdc", entities="Customer", changedSince=since), 400, "500")
    assert "older than fixed days is not supported" in error["Detail"]


def test_company_switches_read_change_and_refuse(qbo: Sandbox) -> None:
    realm_id = qbo.reset(empty=True)
    assert qbo.control("GET", f"realms/{realm_id}/switches")["rename_on_deactivate"] is True
    changed = qbo.control("POST", f"realms/{realm_id}/switches", rename_on_deactivate=False)
    assert changed["rename_on_deactivate"] is False
    other = qbo.control("POST", "realms", empty=True)["realm_id"]
    assert qbo.control("GET", f"realms/{other}/switches")["rename_on_deactivate"] is True  # per company
    for body in ({"bogus": True}, {"rename_on_deactivate": "no"}):
        response = requests.post(f"{qbo.url}/_sandbox/realms/{realm_id}/switches", json=body, timeout=5)
        assert response.status_code == 400 and "error" in response.json()
    assert requests.get(f"{qbo.url}/_sandbox/realms/nope/switches", timeout=5).status_code == 400
