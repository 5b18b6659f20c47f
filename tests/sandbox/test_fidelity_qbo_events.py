"""Fidelity of change feeds: CDC with nothing changed, and the timestamp forms of webhook deliveries."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from quickbooks.cdc import change_data_capture
from quickbooks.objects.customer import Customer
from quickbooks.objects.invoice import Invoice

from mappers.qbo_time import parse_qbo_time
from tests.sandbox.qbo_app_support import Api, Receiver, Sandbox, connect, quickbooks

WEBHOOK_FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"
NO_COLON = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$")  # java_sdk_legacy_eventNotifications.json
UTC_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")  # intuit_blog_2025-11-12_legacy_sample
NANOS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")  # both CloudEvents samples


@pytest.fixture
def company(qbo: Sandbox) -> Iterator[tuple[Api, Any, str]]:
    """A fresh sample company: raw API, python-quickbooks, realm id."""
    qbo.reset()
    client, realm_id = connect(qbo.url)
    yield Api(qbo.url, client.access_token, realm_id), quickbooks(qbo.url, client, realm_id), realm_id


# --- CDC ------------------------------------------------------------------------------------------

def _cdc(api: Api, entities: str, since: str) -> list[dict[str, Any]]:
    response = api.call("GET", "cdc", entities=entities, changedSince=since)
    assert response.status_code == 200, response.text
    [cdc] = response.json()["CDCResponse"]
    return cdc["QueryResponse"]


@pytest.mark.parametrize("omit_unchanged", [False, True])
def test_nothing_changed_is_one_empty_object(company, qbo: Sandbox, omit_unchanged: bool) -> None:
    """python-quickbooks tests/unit/test_cdc.py: [Invoice, Customer], nothing changed → `[{}]`; the
    library then has neither attribute (reference §8)."""
    api, qb, realm_id = company
    qbo.control("POST", f"realms/{realm_id}/switches", cdc_omit_unchanged=omit_unchanged)
    since = qbo.control("POST", "clock", advance_seconds=1)["now"]
    assert _cdc(api, "Invoice,Customer", since) == [{}]
    assert _cdc(api, "Customer", since) == [{}]
    answer = change_data_capture([Invoice, Customer], since, qb=qb)
    assert not hasattr(answer, "Invoice") and not hasattr(answer, "Customer")


@pytest.mark.parametrize("omit_unchanged", [False, True])
def test_one_entity_changed_under_each_reading(company, qbo: Sandbox, omit_unchanged: bool) -> None:
    """Reference §2: one element per requested entity (default) or only the changed ones (switch,
    UNCERTAIN); python-quickbooks reads both the same way."""
    api, qb, realm_id = company
    qbo.control("POST", f"realms/{realm_id}/switches", cdc_omit_unchanged=omit_unchanged)
    since = qbo.control("POST", "clock", advance_seconds=1)["now"]
    api.call("POST", "customer", body={"Id": "2", "SyncToken": "0", "sparse": True, "Notes": "changed"})
    responses = _cdc(api, "Invoice,Customer", since)
    changed = {"Customer": responses[-1].get("Customer"), "startPosition": 1, "maxResults": 1}
    assert responses == ([changed] if omit_unchanged else [{}, changed])
    answer = change_data_capture([Invoice, Customer], since, qb=qb)
    assert [c.Id for c in answer.Customer] == ["2"] and not hasattr(answer, "Invoice")


# --- webhook timestamps --------------------------------------------------------------------------

def test_the_patterns_are_the_fixtures_forms() -> None:
    """Each pattern below is read off a real sample, so the sandbox is held to Intuit's own forms."""
    def entity_time(name: str) -> str:
        body = json.loads((WEBHOOK_FIXTURES / name).read_bytes())
        return body["eventNotifications"][0]["dataChangeEvent"]["entities"][0]["lastUpdated"]
    assert NO_COLON.match(entity_time("java_sdk_legacy_eventNotifications.json"))
    assert UTC_MILLIS.match(entity_time("intuit_blog_2025-11-12_legacy_sample.json"))
    assert UTC_MILLIS.match(entity_time("dotnet_sdk_legacy_eventNotifications.json"))
    for name in ("intuit_blog_2025-11-12_cloudevents_sample.json",
                 "dotnet_sdk_cloudevents_class_created.json"):
        assert NANOS.match(json.loads((WEBHOOK_FIXTURES / name).read_bytes())[0]["time"])


def _deliver(qbo: Sandbox, hook: Receiver, url: str, api: Api, fmt: str, note: str) -> tuple[Any, dict]:
    """Configure the format, change customer 3, return (the delivered entry, the updated record)."""
    with hook.lock:
        hook.received.clear()
    qbo.control("POST", "webhooks", url=url, verifier_token="v", format=fmt, aggregation_seconds=0)
    current = api.call("GET", "customer/3").json()["Customer"]
    body = {"Id": "3", "SyncToken": current["SyncToken"], "sparse": True, "Notes": note}
    record = api.call("POST", "customer", body=body).json()["Customer"]
    [(raw, _)] = hook.wait_for(lambda item: b'"3"' in item[0])
    assert qbo.control("POST", "webhooks/flush", timeout=10)["flushed"] is True
    payload = json.loads(raw)
    if fmt == "cloudevents":
        return payload[0]["time"], record
    return payload["eventNotifications"][0]["dataChangeEvent"]["entities"][0]["lastUpdated"], record


def _agrees_with(stamp: str, record: dict[str, Any]) -> None:
    """The event time falls in the second of the record's LastUpdatedTime (§1.2: time ≡ lastUpdated)."""
    event = parse_qbo_time(stamp)
    updated = parse_qbo_time(record["MetaData"]["LastUpdatedTime"])
    assert updated <= event < updated + timedelta(seconds=1)


@pytest.mark.parametrize(("utc_millis", "pattern"), [(False, NO_COLON), (True, UTC_MILLIS)])
def test_legacy_last_updated_uses_the_switched_real_form(company, qbo: Sandbox, receiver,
                                                         utc_millis: bool, pattern: re.Pattern[str]) -> None:
    api, _, realm_id = company
    hook, url = receiver
    switches = qbo.control("GET", f"realms/{realm_id}/switches")
    assert switches["webhook_time_utc_millis"] is False  # default: the colon-less form, harder to parse
    qbo.control("POST", f"realms/{realm_id}/switches", webhook_time_utc_millis=utc_millis)
    stamp, record = _deliver(qbo, hook, url, api, "legacy", f"legacy {utc_millis}")
    assert pattern.match(stamp), stamp
    _agrees_with(stamp, record)
    if not utc_millis:
        offset = record["MetaData"]["LastUpdatedTime"][-6:].replace(":", "")
        assert stamp.endswith(offset)  # company time, as the Java SDK sample's -0700


def test_cloudevents_time_has_nanoseconds_whatever_the_switch(company, qbo: Sandbox, receiver) -> None:
    api, _, realm_id = company
    hook, url = receiver
    for utc_millis in (False, True):
        qbo.control("POST", f"realms/{realm_id}/switches", webhook_time_utc_millis=utc_millis)
        stamp, record = _deliver(qbo, hook, url, api, "cloudevents", f"ce {utc_millis}")
        assert NANOS.match(stamp), stamp
        _agrees_with(stamp, record)
    qbo.control("POST", "webhooks", format="legacy")


def test_batch_items_carry_their_own_instant_like_single_writes(company, qbo: Sandbox, receiver) -> None:
    """A batch item's event time is its write's instant (sub-second part included), as a single write's."""
    api, _, _ = company
    hook, url = receiver
    with hook.lock:
        hook.received.clear()
    qbo.control("POST", "webhooks", url=url, verifier_token="v", format="cloudevents", aggregation_seconds=0)
    item = {"bId": "1", "operation": "update",
            "Customer": {"Id": "3", "SyncToken": "0", "sparse": True, "Notes": "batched"}}
    response = api.call("POST", "batch", body={"BatchItemRequest": [item]})
    record = response.json()["BatchItemResponse"][0]["Customer"]
    [(raw, _)] = hook.wait_for(lambda delivery: b'"3"' in delivery[0])
    assert qbo.control("POST", "webhooks/flush", timeout=10)["flushed"] is True
    stamp = json.loads(raw)[0]["time"]
    assert NANOS.match(stamp), stamp
    _agrees_with(stamp, record)
    # Without the write's instant the event fell back to LastUpdatedTime's whole second (.000000000Z); a
    # real clock reading lands on a whole microsecond-zero second once in a million runs.
    assert parse_qbo_time(stamp).microsecond != 0, stamp
    qbo.control("POST", "webhooks", format="legacy")
