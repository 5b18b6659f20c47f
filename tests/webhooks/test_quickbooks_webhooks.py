"""POST /webhooks/quickbooks through the real URL: Intuit's signed bodies in both formats are recorded once
and queue one pull per realm; every refusal (signature, size, type, shape) stores and queues nothing."""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from tests.services import postgres_schema
from tests.webhooks.qbo_hook_support import (CLOUDEVENT_SAMPLE, FIXTURES, REALM, Hook, cloudevent, cloudevents,
                                             hook, legacy, make_hook, migrated_db, sign, sqlite_hook)

OTHER_REALM = "1269959970"
__all__ = ["hook", "migrated_db"]  # fixtures


@pytest.fixture(params=["sqlite", "postgresql"])
def dual_hook(request, migrated_db, tmp_path) -> Iterator[Hook]:
    """The same app on SQLite (embedded) and on the real PostgreSQL."""
    if request.param == "sqlite":
        running = sqlite_hook(migrated_db, tmp_path)
        yield running
        running.sessions.kw["bind"].dispose()
        return
    with postgres_schema() as url:
        running = make_hook(url)
        running.connect(REALM)
        try:
            yield running
        finally:
            running.sessions.kw["bind"].dispose()


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# The captured bodies, byte for byte, and the blog's CloudEvents sample with a handled type (the captured
# CloudEvents are of Account and Class, which the sync ignores).
HANDLED_CLOUDEVENTS = json.dumps([{**CLOUDEVENT_SAMPLE, "type": "qbo.customer.created.v1",
                                   "intuitaccountid": REALM}]).encode()
DELIVERIES = {
    "java_sdk_legacy": (_fixture("java_sdk_legacy_eventNotifications.json"), "application/json",
                        {(REALM, "Customer", "1", "Create")}),
    "dotnet_sdk_legacy": (_fixture("dotnet_sdk_legacy_eventNotifications.json"), "application/json",
                          {(OTHER_REALM, "Customer", "43", "Create")}),
    "cloudevents": (HANDLED_CLOUDEVENTS, "application/cloudevents+json", {(REALM, "Customer", "1234", "Create")}),
    "cloudevents_charset": (HANDLED_CLOUDEVENTS, "application/cloudevents+json; charset=utf-8",
                            {(REALM, "Customer", "1234", "Create")}),
}


@pytest.mark.parametrize("name", sorted(DELIVERIES))
def test_signed_fixture_is_recorded_once_and_queues_one_pull(dual_hook, name):
    body, content_type, expected = DELIVERIES[name]
    dual_hook.connect(OTHER_REALM)
    first = dual_hook.post(body, content_type=content_type)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.get_json() == {"ok": True}
    rows = dual_hook.events()
    assert {(r.realm_id, r.entity, r.entity_id, r.operation) for r in rows} == expected
    assert all(r.source == "qbo" and r.portal_id is not None and r.occurred_at is not None for r in rows)
    assert [args[0] for args in dual_hook.pulls()] == [realm for realm, *_ in expected]
    again = dual_hook.post(body, content_type=content_type)  # Intuit's redelivery: same bytes
    assert again.status_code == 200
    assert len(dual_hook.events()) == len(rows)
    assert dual_hook.pulls() == []


def test_captured_ignored_entities_are_acknowledged_and_go_nowhere(hook):
    for name in ("intuit_blog_2025-11-12_cloudevents_sample.json", "dotnet_sdk_cloudevents_class_created.json",
                 "intuit_blog_2025-11-12_legacy_sample.json"):
        hook.connect("310687") if name.startswith("intuit_blog_2025-11-12_c") else None
        assert hook.post(_fixture(name)).status_code == 200, name
    assert hook.events() == [] and hook.pulls() == []
    assert hook.counted("Account.Create", "ignored") == 2
    assert hook.counted("Class.Create", "ignored") == 1


def test_the_pull_carries_the_realm_and_when_the_event_was_noticed(hook):
    hook.post(legacy(REALM, {"name": "Invoice", "id": "130", "operation": "Update"}))
    [(realm_id, noticed_at)] = hook.pulls()
    assert realm_id == REALM and isinstance(noticed_at, float)


TOO_BIG = 2 * 1024 * 1024 + 1


def _refusals() -> dict[str, tuple[int, dict]]:
    """name -> (status, keywords for Hook.post); each is a request that must change nothing."""
    good = legacy(REALM, {"name": "Customer", "id": "7", "operation": "Update"})
    cloud = cloudevents(cloudevent(REALM, "Invoice", "9", "Void"))
    padded = b"[" + b" " * TOO_BIG + b"]"
    return {
        "missing signature": (401, {"body": good, "signature": ""}),
        "signature of another token": (401, {"body": good, "signature": sign(good, "not-the-verifier")}),
        "signature not base64": (401, {"body": good, "signature": "%%%"}),
        "signature with non-ASCII": (401, {"body": good, "signature": "é" * 44}),
        "body changed by one byte": (401, {"body": good.replace(b'"7"', b'"8"'), "signature": sign(good)}),
        "cloudevents replayed with another id": (401, {"body": cloud.replace(b'"9"', b'"1"'),
                                                       "signature": sign(cloud)}),
        "signature in lower case": (401, {"body": good, "signature": sign(good).lower()}),
        "over 2 MB, signed": (413, {"body": padded}),
        "over 2 MB, unsigned": (413, {"body": padded, "signature": "x"}),
        "text/plain": (415, {"body": good, "content_type": "text/plain"}),
        "form encoded": (415, {"body": b"eventNotifications=1", "content_type": "application/x-www-form-urlencoded"}),
        "no content type": (415, {"body": good, "content_type": ""}),
        "not JSON": (400, {"body": b"{eventNotifications: [}"}),
        "not UTF-8": (400, {"body": b'{"eventNotifications": "\xff\xfe"}'}),
        "JSON scalar": (400, {"body": b"42"}),
        "object without eventNotifications": (400, {"body": b'{"events": []}'}),
        "eventNotifications not a list": (400, {"body": b'{"eventNotifications": {"realmId": "1"}}'}),
        "realmId not digits": (400, {"body": legacy("12a", {"name": "Customer", "id": "7", "operation": "Update"})}),
        "entity id 40 characters": (400, {"body": legacy(REALM, {"name": "Customer", "id": "9" * 40,
                                                                 "operation": "Update"})}),
        "entity without operation": (400, {"body": legacy(REALM, {"name": "Customer", "id": "7",
                                                                  "operation": None})}),
        "id as a number": (400, {"body": legacy(REALM, {"name": "Customer", "id": 7, "operation": "Update"})}),
        "one good entity and one bad": (400, {"body": legacy(REALM, {"name": "Customer", "id": "7", "operation": "Update"},
                                                             {"name": "Invoice", "id": "\x00", "operation": "Void"})}),
        "cloudevents array of strings": (400, {"body": b'["qbo.customer.created.v1"]'}),
        "cloudevent without intuitaccountid": (400, {"body": cloudevents({
            k: v for k, v in cloudevent(REALM, "Customer", "7", "Create").items() if k != "intuitaccountid"})}),
        "cloudevent without id": (400, {"body": cloudevents({
            k: v for k, v in cloudevent(REALM, "Customer", "7", "Create").items() if k != "id"})}),
        "cloudevent id with a NUL": (400, {"body": cloudevents(cloudevent(REALM, "Customer", "7", "Create",
                                                                          id="a\x00b"))}),
        "cloudevent merge deletedid as an object": (400, {"body": cloudevents(cloudevent(
            REALM, "Customer", "7", "Merge", data={"deletedid": {"id": "3"}}))}),
        "cloudevent data a list": (400, {"body": cloudevents(cloudevent(REALM, "Customer", "7", "Create", data=[]))}),
        "nested too deep": (400, {"body": b"[" * 100000 + b"]" * 100000}),
    }


REFUSALS = _refusals()


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusals_store_and_queue_nothing(hook, name):
    status, sent = REFUSALS[name]
    answer = hook.post(**sent)
    assert answer.status_code == status, answer.get_data(as_text=True)[:300]
    assert answer.get_json()["error"].startswith("qbo_") or status == 415
    assert hook.events() == []
    assert hook.pulls() == []


def test_refusals_on_postgresql_store_nothing(tmp_path):
    with postgres_schema() as url:
        running = make_hook(url)
        try:
            running.connect(REALM)
            for name in ("signature of another token", "over 2 MB, signed", "text/plain", "not JSON",
                         "entity id 40 characters", "cloudevent id with a NUL", "one good entity and one bad"):
                status, sent = REFUSALS[name]
                assert running.post(**sent).status_code == status, name
            assert running.events() == [] and running.pulls() == []
        finally:
            running.sessions.kw["bind"].dispose()


def test_a_body_between_1_and_2_mb_is_taken_here_only(hook):
    """The app's 1 MB limit stays for every other route."""
    entity = {"name": "Customer", "id": "7", "operation": "Update", "padding": "p" * 1000}
    body = legacy(REALM, *[entity] * 1500)
    assert 1024 * 1024 < len(body) < 2 * 1024 * 1024
    assert hook.post(body).status_code == 200
    assert len(hook.events()) == 1  # 1500 times the same change
    other = hook.client.post("/webhooks/bitrix24", data=body, headers={"Content-Type": "application/json"})
    assert other.status_code == 413


def test_a_chunked_body_over_2_mb_is_cut_at_the_limit(hook):
    padded = b"[" + b" " * TOO_BIG + b"]"
    # no Content-Length: the server says the stream ends by itself, as for Transfer-Encoding: chunked
    answer = hook.client.post("/webhooks/quickbooks", input_stream=io.BytesIO(padded),
                              environ_overrides={"wsgi.input_terminated": True},
                              headers={"Content-Type": "application/json", "intuit-signature": sign(padded)})
    assert answer.status_code == 413
    assert hook.events() == [] and hook.pulls() == []


def test_unknown_disconnected_and_uninstalled_realms_get_200_and_nothing_else(hook, caplog):
    hook.connect("4001", status="disconnected")
    hook.connect("4002", portal_status="uninstalled")
    caplog.set_level(logging.INFO, logger="qb24.qbo.webhook")
    for realm_id in ("999999", "4001", "4002"):
        assert hook.post(legacy(realm_id, {"name": "Customer", "id": "7", "operation": "Update"})).status_code == 200
        assert hook.post(cloudevents(cloudevent(realm_id, "Invoice", "7", "Void")),
                         content_type="application/cloudevents+json").status_code == 200
    assert hook.events() == [] and hook.pulls() == []
    logged = [r.realm_id for r in caplog.records if r.getMessage() == "qbo.webhook.unknown_realm"]
    assert sorted(set(logged)) == ["4001", "4002", "999999"]
    assert hook.counted("Customer.Update", "unknown_realm") == 3


def test_merge_keeps_the_merged_away_id_in_both_formats(hook):
    hook.post(legacy(REALM, {"name": "Customer", "id": "5", "operation": "Merge", "deletedId": "27"}))
    hook.post(cloudevents(cloudevent(REALM, "Customer", "6", "Merge", data={"deletedid": "28"}),
                          cloudevent(REALM, "Customer", "8", "Merge", data={"deletedId": "29"})),
              content_type="application/cloudevents+json")
    assert [(r.entity_id, r.operation, r.deleted_id, r.handled_at) for r in hook.events()] == [
        ("5", "Merge", "27", None), ("6", "Merge", "28", None), ("8", "Merge", "29", None)]


def test_multi_realm_cloudevents_delivery_routes_each_event_to_its_portal(hook):
    first_portal = hook.portal_of(REALM)
    second_portal = hook.connect("5002")
    body = cloudevents(cloudevent(REALM, "Customer", "1", "Update"), cloudevent("5002", "Invoice", "2", "Emailed"),
                       cloudevent("5003", "Invoice", "3", "Create"), cloudevent(REALM, "Payment", "4", "Create"))
    assert hook.post(body, content_type="application/cloudevents+json").status_code == 200
    assert sorted((r.portal_id, r.realm_id, r.entity, r.entity_id) for r in hook.events()) == [
        (first_portal, REALM, "Customer", "1"), (first_portal, REALM, "Payment", "4"),
        (second_portal, "5002", "Invoice", "2")]
    assert sorted(args[0] for args in hook.pulls()) == [REALM, "5002"]  # one per realm, none for 5003


def test_an_event_twice_in_one_body_is_one_row_and_counted_duplicate(hook):
    twice = cloudevent(REALM, "Invoice", "11", "Update")
    assert hook.post(cloudevents(twice, twice)).status_code == 200
    assert len(hook.events()) == 1 and len(hook.pulls()) == 1
    assert hook.counted("Invoice.Update", "accepted") == 1
    assert hook.counted("Invoice.Update", "duplicate") == 1


def test_an_unreadable_time_still_records_the_event(hook):
    hook.post(legacy(REALM, {"name": "Invoice", "id": "12", "operation": "Update", "lastUpdated": "yesterday"}))
    [row] = hook.events()
    assert row.occurred_at is None and len(hook.pulls()) == 1


def test_a_batch_mixing_seen_and_new_events_records_only_the_new(dual_hook):
    seen = cloudevent(REALM, "Invoice", "21", "Update")
    dual_hook.post(cloudevents(seen))
    dual_hook.pulls()
    fresh = [cloudevent(REALM, "Invoice", str(n), "Update") for n in range(22, 25)]
    assert dual_hook.post(cloudevents(fresh[0], seen, *fresh[1:])).status_code == 200
    assert [r.entity_id for r in dual_hook.events()] == ["21", "22", "23", "24"]
    assert len(dual_hook.pulls()) == 1
    assert dual_hook.counted("Invoice.Update", "duplicate") == 1
