"""The QuickBooks sandbox's webhook sender, checked over real HTTP against a recording receiver."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest
from flask import Flask, Response, request
from quickbooks import QuickBooks

from sandbox.quickbooks.outbound import WebhookConfig, WebhookSender
from sandbox.server import serve_in_thread
from tests.support import wait_for

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"
TOKEN = "verifier-token-for-tests"
CHANGED_AT = "2025-09-08T20:52:31.657Z"
LEGACY_FIXTURES = [
    "java_sdk_legacy_eventNotifications.json",
    "dotnet_sdk_legacy_eventNotifications.json",
    "intuit_blog_2025-11-12_legacy_sample.json",
]
# Both Intuit CloudEvents samples (2025 blog, .NET SDK test) carry nine fractional digits.
CE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
CE_SOURCE = re.compile(r"^intuit\.[A-Za-z0-9+/]+=*$")


@dataclass
class Received:
    """One raw request as the receiver saw it."""

    body: bytes
    headers: dict[str, str]


class Receiver:
    """A webhook endpoint that records raw bodies and answers per `plan(n, body) -> (status, delay)`."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.plan: Callable[[int, bytes], tuple[int, float]] = lambda n, body: (200, 0.0)
        self.app = Flask("receiver")
        self.app.add_url_rule("/hook", view_func=self.hook, methods=["POST"])

    def hook(self) -> Response:
        """Record, then answer (slowly when the plan says so, to provoke the sender's timeout)."""
        body = request.get_data()
        with self.lock:
            self.received.append(Received(body, dict(request.headers)))
            count = len(self.received)
        status, delay = self.plan(count, body)
        if delay:
            self.release.wait(delay)
        return Response("", status=status)

    def bodies(self) -> list[bytes]:
        """Raw bodies received so far."""
        with self.lock:
            return [item.body for item in self.received]




@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    """A recording receiver served on loopback, and its hook URL."""
    endpoint = Receiver()
    server = serve_in_thread(endpoint.app)
    yield endpoint, f"{server.url}/hook"
    endpoint.release.set()
    server.stop()


@pytest.fixture
def make_sender(receiver: tuple[Receiver, str]) -> Iterator[Callable[..., WebhookSender]]:
    """Senders aimed at the receiver, with a fast retry schedule; stopped afterwards."""
    senders: list[WebhookSender] = []

    def make(**settings: object) -> WebhookSender:
        settings = {"url": receiver[1], "verifier_token": TOKEN, "retry_scale": 0.001, **settings}
        sender = WebhookSender(WebhookConfig(**settings))
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        sender.stop()


def assert_next_event_flows(sender: WebhookSender, endpoint: Receiver, realm_id: str, entity: str, entity_id: str,
                            earlier: list[list[str]]) -> None:
    """Once an event's attempts end (acknowledged or given up), the realm's next change is sent on its own."""
    sender.notify(realm_id, entity, entity_id, "Update", CHANGED_AT)
    assert sender.flush(10)
    assert [entity_ids(body) for body in endpoint.bodies()] == [*earlier, [entity_id]]


def shape(value: object) -> object:
    """Keys and value types, lists reduced to their distinct element shapes."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        distinct = {json.dumps(shape(item), sort_keys=True): shape(item) for item in value}
        return list(distinct.values())
    return type(value).__name__


def load_fixture(name: str) -> object:
    """A copied Intuit sample, parsed."""
    return json.loads((FIXTURES / name).read_bytes())


def entity_ids(body: bytes) -> list[str]:
    """Record ids in a body of either format, in body order."""
    payload = json.loads(body)
    if isinstance(payload, list):
        return [event["intuitentityid"] for event in payload]
    notes = payload["eventNotifications"]
    return [entity["id"] for note in notes for entity in note["dataChangeEvent"]["entities"]]


def quickbooks_client() -> QuickBooks:
    """python-quickbooks' client with a token already present, so construction does no refresh."""
    auth = type("AuthClient", (), {"environment": "sandbox", "access_token": "access", "client_id": "id",
                                   "refresh_token": "refresh"})()
    return QuickBooks(auth_client=auth, refresh_token="refresh", company_id="310687", minorversion=75,
                      verifier_token=TOKEN)


def test_legacy_body_has_the_shape_of_intuits_samples(receiver, make_sender):
    endpoint, _ = receiver
    sender = make_sender(aggregation_seconds=0.2)
    sender.notify("310687", "Customer", "43", "Create", "2016-10-05T03:07:04.000Z")
    sender.notify("310687", "Invoice", "1037", "Update", "2016-10-05T03:09:04-07:00")
    assert sender.flush(10)
    [sent] = endpoint.received
    payload = json.loads(sent.body)
    for name in LEGACY_FIXTURES:
        assert shape(payload) == shape(load_fixture(name)), name
    java_entity = load_fixture(LEGACY_FIXTURES[0])["eventNotifications"][0]["dataChangeEvent"]["entities"][0]
    note = payload["eventNotifications"][0]
    assert note["realmId"] == "310687"
    assert [list(entity) for entity in note["dataChangeEvent"]["entities"]] == [list(java_entity)] * 2
    assert note["dataChangeEvent"]["entities"][1] == {
        "name": "Invoice", "id": "1037", "operation": "Update", "lastUpdated": "2016-10-05T03:09:04-07:00"}
    assert sent.headers["Content-Type"] == "application/json"


def test_cloudevents_body_has_the_shape_of_intuits_samples(receiver, make_sender):
    endpoint, _ = receiver
    sender = make_sender(format="cloudevents")
    sender.notify("310687", "Account", "1234", "Create", "2015-10-05T14:42:19-07:00")
    assert sender.flush(10)
    [sent] = endpoint.received
    payload = json.loads(sent.body)
    blog = load_fixture("intuit_blog_2025-11-12_cloudevents_sample.json")
    assert shape(payload) == shape(blog)
    assert list(payload[0]) == list(blog[0])
    dotnet = load_fixture("dotnet_sdk_cloudevents_class_created.json")[0]
    assert [key for key in payload[0] if key in dotnet] == list(dotnet)
    event = payload[0]
    assert uuid.UUID(event["id"]).version == 4
    assert CE_SOURCE.match(event["source"]) and CE_SOURCE.match(blog[0]["source"])
    assert CE_TIME.match(blog[0]["time"]) and event["time"] == "2015-10-05T21:42:19.000000000Z"
    assert (event["type"], event["intuitentityid"], event["intuitaccountid"]) == (
        "qbo.account.created.v1", "1234", "310687")
    assert sent.headers["Content-Type"] == "application/cloudevents+json"


def test_merge_void_and_emailed_in_both_formats(receiver, make_sender):
    endpoint, _ = receiver
    sender = make_sender(format="cloudevents", aggregation_seconds=0.2)
    sender.notify("1", "Customer", "5", "Merge", CHANGED_AT, deleted_id="27")
    sender.notify("1", "Invoice", "130", "Void", CHANGED_AT)
    sender.notify("1", "Invoice", "130", "Emailed", CHANGED_AT)
    assert sender.flush(10)
    events = json.loads(endpoint.received[0].body)
    assert [event["type"] for event in events] == [
        "qbo.customer.merged.v1", "qbo.invoice.voided.v1", "qbo.invoice.emailed.v1"]
    assert [event["data"] for event in events] == [{"deletedid": "27"}, {}, {}]
    sender.configure(format="legacy")
    sender.notify("1", "Customer", "5", "Merge", CHANGED_AT, deleted_id="27")
    assert sender.flush(10)
    entity = json.loads(endpoint.received[1].body)["eventNotifications"][0]["dataChangeEvent"]["entities"][0]
    assert entity == {"name": "Customer", "id": "5", "operation": "Merge",
                      "lastUpdated": CHANGED_AT, "deletedId": "27"}


@pytest.mark.parametrize("format", ["legacy", "cloudevents"])
def test_signature_verifies_over_the_raw_bytes(receiver, make_sender, format):
    endpoint, _ = receiver
    sender = make_sender(format=format)
    sender.notify("310687", "Customer", "1", "Update", CHANGED_AT)
    assert sender.flush(10)
    [sent] = endpoint.received
    signature = sent.headers["Intuit-Signature"]
    expected = base64.b64encode(hmac.new(TOKEN.encode(), sent.body, hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(signature, expected)
    qb = quickbooks_client()
    assert qb.validate_webhook_signature(sent.body.decode("utf-8"), signature)
    assert not qb.validate_webhook_signature(sent.body.decode("utf-8"), signature, verifier_token="other")
    assert sender.deliveries()[0]["body"] == sent.body.decode("utf-8")


def test_changes_within_the_window_go_out_together_per_realm(receiver, make_sender):
    endpoint, _ = receiver
    sender = make_sender(aggregation_seconds=0.3)
    for realm_id, record_id in [("A", "1"), ("A", "2"), ("B", "3"), ("A", "4")]:
        sender.notify(realm_id, "Customer", record_id, "Update", CHANGED_AT)
    assert sender.flush(10)
    bodies = endpoint.bodies()
    by_realm = {json.loads(body)["eventNotifications"][0]["realmId"]: entity_ids(body) for body in bodies}
    assert len(endpoint.received) == 2
    assert by_realm == {"A": ["1", "2", "4"], "B": ["3"]}


def test_retry_after_500_resends_identical_bytes_and_stops_once_acknowledged(receiver, make_sender):
    endpoint, _ = receiver
    endpoint.plan = lambda n, body: (500 if n <= 2 else 200, 0.0)
    sender = make_sender(format="cloudevents")
    sender.notify("310687", "Invoice", "7", "Update", CHANGED_AT)
    assert sender.flush(10)
    assert len(endpoint.received) == 3 and len(set(endpoint.bodies())) == 1
    assert len({item.headers["Intuit-Signature"] for item in endpoint.received}) == 1
    log = sender.deliveries()
    assert [(entry["attempt"], entry["status"], entry["acknowledged"]) for entry in log] == [
        (1, 500, False), (2, 500, False), (3, 200, True)]
    assert len({entry["id"] for entry in log}) == 1
    assert_next_event_flows(sender, endpoint, "310687", "Invoice", "8", [["7"], ["7"], ["7"]])


def test_retry_after_timeout_resends_identical_bytes(receiver, make_sender):
    endpoint, _ = receiver
    endpoint.plan = lambda n, body: (200, 5.0 if n == 1 else 0.0)
    sender = make_sender(format="cloudevents", timeout_seconds=0.2)
    sender.notify("310687", "Invoice", "7", "Update", CHANGED_AT)
    assert sender.flush(10)
    first, second = endpoint.bodies()
    assert first == second
    log = sender.deliveries()
    assert [entry["status"] for entry in log] == [None, 200]
    assert "Timeout" in log[0]["error"] and log[1]["acknowledged"]


def test_unacknowledged_realm_holds_newer_events_other_realms_flow(receiver, make_sender):
    endpoint, _ = receiver
    failures = iter(range(3))
    endpoint.plan = lambda n, body: (500 if entity_ids(body) == ["1"] and next(failures, None) is not None
                                     else 200, 0.0)
    sender = make_sender(retry_scale=0.01)
    sender.notify("A", "Customer", "1", "Update", CHANGED_AT)
    wait_for(lambda: len(endpoint.received) >= 1)
    sender.notify("A", "Customer", "2", "Update", CHANGED_AT)
    sender.notify("B", "Customer", "9", "Update", CHANGED_AT)
    wait_for(lambda: [entity_ids(body) for body in endpoint.bodies()].count(["1"]) >= 2)
    sender.notify("A", "Customer", "3", "Update", CHANGED_AT)
    assert ["2"] not in [entity_ids(body) for body in endpoint.bodies()]
    assert sender.pending() >= 3
    assert sender.flush(10)
    order = [entity_ids(body) for body in endpoint.bodies()]
    last_failure = max(i for i, ids in enumerate(order) if ids == ["1"])
    assert order.count(["1"]) == 4 and order.count(["2", "3"]) == 1 and len(order) == 6
    assert order.index(["2", "3"]) > last_failure
    assert order.index(["9"]) < last_failure


def test_gives_up_after_max_attempts(receiver, make_sender):
    endpoint, _ = receiver
    endpoint.plan = lambda n, body: (500 if n <= 3 else 200, 0.0)
    sender = make_sender(max_attempts=3)
    sender.notify("A", "Customer", "1", "Update", CHANGED_AT)
    assert sender.flush(10)
    log = sender.deliveries()
    assert [(entry["attempt"], entry["gave_up"]) for entry in log] == [(1, False), (2, False), (3, True)]
    assert sender.pending() == 0
    assert_next_event_flows(sender, endpoint, "A", "Customer", "2", [["1"], ["1"], ["1"]])


def test_duplicate_mode_delivers_each_body_twice(receiver, make_sender):
    endpoint, _ = receiver
    sender = make_sender(format="cloudevents", duplicate=True)
    sender.notify("A", "Customer", "1", "Update", CHANGED_AT)
    assert sender.flush(10)
    first, second = endpoint.bodies()
    assert first == second and json.loads(first)[0]["id"] == json.loads(second)[0]["id"]
    assert [entry["duplicate"] for entry in sender.deliveries()] == [False, True]
    sender.notify("A", "Customer", "2", "Update", CHANGED_AT)
    assert sender.flush(10)
    assert [entity_ids(body) for body in endpoint.bodies()] == [["1"], ["1"], ["2"], ["2"]]


def test_copies_posts_each_acknowledged_body_that_many_times(receiver, make_sender):
    """Reference §1.2: the gateway re-sends a batch with the same event ids; copies=3 is three POSTs in all,
    the echoes only after the acknowledgement (a refused attempt is retried, not echoed)."""
    endpoint, _ = receiver
    endpoint.plan = lambda n, body: (500 if n == 1 else 200, 0.0)
    sender = make_sender(format="cloudevents", copies=3)
    sender.notify("A", "Customer", "1", "Update", CHANGED_AT)
    assert sender.flush(10)
    bodies = endpoint.bodies()
    assert len(bodies) == 4 and len(set(bodies)) == 1  # refused, acknowledged, two echoes: same bytes
    assert len({json.loads(body)[0]["id"] for body in bodies}) == 1
    assert [entry["duplicate"] for entry in sender.deliveries()] == [False, False, True, True]
    sender.configure(copies=1, duplicate=True)  # duplicate stays the spelling of copies=2
    sender.notify("A", "Customer", "2", "Update", CHANGED_AT)
    assert sender.flush(10)
    assert [entity_ids(body) for body in endpoint.bodies()[4:]] == [["2"], ["2"]]


def test_out_of_order_mode_reorders_within_and_across_deliveries(receiver, make_sender):
    """Reference §1.4 (WHB): "It's possible to receive events out of sequence": a batch's newer half is
    delivered first, and each body lists its events newest first."""
    endpoint, _ = receiver
    sender = make_sender(aggregation_seconds=0.3, out_of_order=True)
    for record_id in ["1", "2", "3"]:
        sender.notify("A", "Customer", record_id, "Update", CHANGED_AT)
    assert sender.flush(10)
    assert [entity_ids(body) for body in endpoint.bodies()] == [["3", "2"], ["1"]]
    sender.configure(format="cloudevents")
    for number in range(1, 151):
        sender.notify("A", "Customer", str(number), "Update", CHANGED_AT)
    assert sender.flush(10)
    chunks = [entity_ids(body) for body in endpoint.bodies()[2:]]
    assert chunks == [[str(n) for n in range(150, 75, -1)], [str(n) for n in range(75, 0, -1)]]


def test_cloudevents_batches_over_100_are_split_in_order(receiver, make_sender):
    endpoint, _ = receiver
    sender = make_sender(format="cloudevents", aggregation_seconds=0.3)
    for number in range(1, 251):
        sender.notify("A", "Customer", str(number), "Update", CHANGED_AT)
    assert sender.flush(10)
    chunks = [entity_ids(body) for body in endpoint.bodies()]
    assert [len(chunk) for chunk in chunks] == [100, 100, 50]
    assert [record_id for chunk in chunks for record_id in chunk] == [str(n) for n in range(1, 251)]
    ids = [event["id"] for body in endpoint.bodies() for event in json.loads(body)]
    assert len(set(ids)) == 250


def test_stop_is_prompt_even_with_a_post_in_flight(receiver, make_sender):
    endpoint, _ = receiver
    endpoint.plan = lambda n, body: (200, 5.0)
    sender = make_sender(timeout_seconds=5.0)
    sender.notify("A", "Customer", "1", "Update", CHANGED_AT)
    wait_for(lambda: len(endpoint.received) >= 1)
    started = time.monotonic()
    sender.stop()
    assert time.monotonic() - started < 0.5
    assert "qbo-webhook-sender" not in [thread.name for thread in threading.enumerate()]
    sender.notify("A", "Customer", "2", "Update", CHANGED_AT)
    assert sender.deliveries() == []


def test_notify_never_raises_and_disabled_sender_queues_nothing(receiver):
    _, url = receiver
    disabled = WebhookSender(WebhookConfig(url=None))
    disabled.notify("A", "Customer", "1", "Update", CHANGED_AT)
    assert disabled.pending() == 0
    broken_clock = WebhookSender(WebhookConfig(url=url), clock=lambda: 1 / 0)
    broken_clock.notify("A", "Customer", "1", "Update", CHANGED_AT)
    enabled = WebhookSender(WebhookConfig(url=url, aggregation_seconds=60))
    enabled.notify("A", "Customer", "1", "Explode", CHANGED_AT)
    assert enabled.pending() == 0
    enabled.notify("A", "Customer", "1", "Update", CHANGED_AT)
    assert enabled.pending() == 1
    enabled.stop()
    with pytest.raises(TypeError):
        enabled.configure(colour="blue")
