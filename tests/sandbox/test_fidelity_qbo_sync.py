"""Fidelity: what the sync will lean on — CDC, paging order, SyncToken, 429 envelopes, webhook retries."""
from __future__ import annotations

from typing import Iterator
from xml.etree import ElementTree

import pytest

from sandbox.quickbooks.outbound_delivery import retry_delay
from tests.sandbox.qbo_app_support import Api, Sandbox, assert_fault, connect


@pytest.fixture
def connected(qbo: Sandbox) -> Iterator[tuple[Api, str, object]]:
    realm_id = qbo.reset()
    client, _ = connect(qbo.url)
    yield Api(qbo.url, client.access_token, realm_id), realm_id, client
    qbo.restore_settings("rate_per_minute", "cdc_max_objects", "throttle_body")


def _cdc(api: Api, entities: str, since: str) -> dict:
    response = api.call("GET", "cdc", entities=entities, changedSince=since)
    assert response.status_code == 200, response.text
    return response.json()


def test_cdc_nothing_changed_is_one_empty_object_and_time_chains(connected, qbo: Sandbox) -> None:
    """`"QueryResponse":[{}]` when empty (test_cdc.py); the answer's `time` is a safe next changedSince."""
    api, _, _ = connected
    since = qbo.control("POST", "clock", advance_seconds=1)["now"]
    empty = _cdc(api, "Customer", since)
    assert empty["CDCResponse"] == [{"QueryResponse": [{}]}] and isinstance(empty["time"], str)
    created = api.call("POST", "customer", body={"DisplayName": "Chained"}).json()["Customer"]
    body = {"Id": created["Id"], "SyncToken": "0", "sparse": True, "Notes": "second write"}
    api.call("POST", "customer", body=body)
    found = _cdc(api, "Customer", empty["time"])["CDCResponse"][0]["QueryResponse"][0]["Customer"]
    assert [(c["Id"], c["SyncToken"], c["Notes"]) for c in found] == [(created["Id"], "1", "second write")]


def test_cdc_window_is_30_days_and_limit_is_inclusive(connected, qbo: Sandbox) -> None:
    """29 days back is still served; exactly `cdc_max_objects` objects are served, one more is refused."""
    api, realm_id, client = connected
    since = qbo.control("POST", "clock", advance_seconds=1)["now"]
    for name in ("Edge A", "Edge B"):
        assert api.call("POST", "customer", body={"DisplayName": name}).status_code == 200
    qbo.control("POST", "settings", cdc_max_objects=2)
    assert len(_cdc(api, "Customer", since)["CDCResponse"][0]["QueryResponse"][0]["Customer"]) == 2
    api.call("POST", "customer", body={"DisplayName": "Edge C"})
    assert_fault(api.call("GET", "cdc", entities="Customer", changedSince=since), 400, "500")
    qbo.control("POST", "settings", cdc_max_objects=1000)
    qbo.control("POST", "clock", advance_seconds=29 * 86400)
    client.refresh()
    late = Api(qbo.url, client.access_token, realm_id)
    assert len(_cdc(late, "Customer", since)["CDCResponse"][0]["QueryResponse"][0]["Customer"]) == 3


def _pages(api: Api, statement: str, size: int) -> list[list[str]]:
    pages, start = [], 1
    while True:
        body = api.call("GET", "query", query=f"{statement} STARTPOSITION {start} MAXRESULTS {size}").json()
        rows = body["QueryResponse"].get("Customer", [])
        if not rows:
            return pages
        pages.append([row["Id"] for row in rows])
        start += size


@pytest.mark.parametrize("order", ["", " ORDERBY Job", " ORDER BY Active DESC", " ORDERBY MetaData.CreateTime"])
def test_paging_with_ties_is_complete_and_disjoint(connected, order: str) -> None:
    """Pages of 7 over non-unique sort keys add up to the whole list, each record once, same order twice."""
    api, _, _ = connected
    statement = f"SELECT * FROM Customer{order}"
    pages = _pages(api, statement, 7)
    flat = [row for page in pages for row in page]
    count = api.call("GET", "query", query="SELECT COUNT(*) FROM Customer").json()["QueryResponse"]["totalCount"]
    assert len(flat) == len(set(flat)) == count
    assert _pages(api, statement, 7) == pages


def test_stale_sync_token_on_invoice_is_5010_and_writes_nothing(connected) -> None:
    """An outdated SyncToken is 5010 (python-quickbooks #127) and the record keeps its state."""
    api, _, _ = connected
    invoice = api.call("GET", "query", query="SELECT * FROM Invoice MAXRESULTS 1").json()["QueryResponse"]["Invoice"][0]
    fresh = api.call("POST", "invoice", body={"Id": invoice["Id"], "SyncToken": invoice["SyncToken"],
                                               "sparse": True, "PrivateNote": "first"}).json()["Invoice"]
    stale = api.call("POST", "invoice", body={"Id": invoice["Id"], "SyncToken": invoice["SyncToken"],
                                               "sparse": True, "PrivateNote": "second"})
    assert_fault(stale, 400, "5010")
    now = api.call("GET", f"invoice/{invoice['Id']}").json()["Invoice"]
    assert (now["SyncToken"], now["PrivateNote"]) == (fresh["SyncToken"], "first")
    assert isinstance(now["SyncToken"], str) and isinstance(now["Id"], str)


@pytest.mark.parametrize("reading", ["xml", "fault", "gateway"])
def test_429_envelope_under_each_reading(connected, qbo: Sandbox, reading: str) -> None:
    """Reference §6 marks the 429 body UNCERTAIN; every reading carries the captured fields
    (intuit/QuickBooks-V3-PHP-SDK#54: type SERVICE, code 3001, Detail with two spaces)."""
    api, realm_id, _ = connected
    # Default: the captured fields as a JSON Fault (store.Settings; docs/architecture.md switch table).
    assert qbo.control("GET", "settings")["throttle_body"] == "fault"
    qbo.control("POST", "settings", rate_per_minute=1, throttle_body=reading)
    api.call("GET", "companyinfo/" + realm_id)
    throttled = api.call("GET", "companyinfo/" + realm_id)
    assert throttled.status_code == 429
    detail = "The request limit was reached.  Try again later"
    message = "message=ThrottleExceeded; errorCode=003001; statusCode=429"
    if reading == "xml":
        assert throttled.headers["Content-Type"] == "application/xml"
        root = ElementTree.fromstring(throttled.content)
        ns = {"q": "http://schema.intuit.com/finance/v3"}
        fault = root.find("q:Fault", ns)
        assert fault is not None and fault.get("type") == "SERVICE" and root.get("time")
        assert fault.find("q:Error", ns).get("code") == "3001"  # type: ignore[union-attr]
        assert [fault.findtext(f"q:Error/q:{tag}", namespaces=ns) for tag in ("Message", "Detail")] == [
            message, detail]
    elif reading == "fault":
        body = throttled.json()
        assert body["Fault"] == {"Error": [{"Message": message, "Detail": detail, "code": "3001"}],
                                 "type": "SERVICE"}
        assert isinstance(body["time"], str)
    else:
        body = throttled.json()
        assert body["fault"]["error"][0]["code"] == "3001" and body["fault"]["type"] == "SERVICE"
        assert (body["fault"]["error"][0]["message"], body["fault"]["error"][0]["detail"]) == (message, detail)
        assert isinstance(body["time"], int) and "Fault" not in body


def test_webhook_retry_schedule_is_intuits() -> None:
    """10 s, 20 s, 30 s, 5 min, 20 min, 2 h, 4 h, 6 h, then every 6 h (WHB, reference §1.4)."""
    expected = [10, 20, 30, 300, 1200, 7200, 14400, 21600, 21600, 21600]
    assert [retry_delay(n, 1.0) for n in range(1, 11)] == expected
    assert retry_delay(4, 0.01) == pytest.approx(3.0)
