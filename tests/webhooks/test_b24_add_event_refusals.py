"""Issue 11, first "done means": ONCRMCONTACTADD / ONCRMCOMPANYADD bodies of the real shape, posted
through the real URL (`POST /webhooks/bitrix24`) of the app with and without `auth[access_token]`, to
two installed portals. Genuine ones are recorded and queue their portal's export (`qb24.export_records`
on `realtime`, workers/exports.py); forged, cross-portal and malformed ones are refused
with nothing stored and nothing queued: every queue of the app's broker (Redis lists, or the embedded
in-memory queues with the embedded worker stopped) is read off after each request.

The bodies are the captured ONCRMCONTACTADD (reference bitrix24.md §3.2; fixtures/bitrix24/captured-bodies,
PHP bracket form encoding) with the portal's own values put in. A user's change carries the user's
`auth[access_token]`, `expires`, `expires_in`, `scope` and `user_id`; a robot's, workflow's or agent's
carries none of them (§3.2 "No tokens are sent"; DOCS api-reference/events/index.md § Authorization Tokens).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
import requests
from sqlalchemy import select

from qb24.stack import Stack
from store.db import make_engine, make_session_factory
from store.models import ReceivedEvent
from tests.services import EXPORT_REDIS_URL
from tests.support import take_queued
from tests.webhooks.stack_support import (application_token, install_app, install_fields, read_portal,
                                          running_stack, snapshot)
from workers import pull_marker
from workers.celery_app import BULK_QUEUE, DEFAULT_QUEUE, EXPORT_RECORDS, REALTIME_QUEUE
from workers.exports import marker_key

CAPTURED = (Path(__file__).parent / "fixtures" / "ONCRMCONTACTADD.form-urlencoded.txt").read_text().strip()
# The export tests' own Redis database (tests/services.py, one per pytest-xdist process): the suite's
# (REDIS_URL) holds other tests' messages.
OWN_REDIS_URL = EXPORT_REDIS_URL
USER_ONLY = ("auth[access_token]", "auth[expires]", "auth[expires_in]", "auth[scope]", "auth[user_id]")
FORM = "application/x-www-form-urlencoded"
ADD_EVENTS = {"ONCRMCONTACTADD": "contact", "ONCRMCOMPANYADD": "company"}
SENDERS = ("user", "robot")


@dataclass(frozen=True)
class Sender:
    """What Bitrix24 puts in an event of one portal (values from the sandbox, as the app received them)."""

    member_id: str
    domain: str
    client_endpoint: str
    server_endpoint: str
    app_token: str
    user_token: str  # a user's access token for this app (the installer POST's AUTH_ID)


@dataclass
class World:
    stack: Stack
    a: Sender
    b: Sender

    def queued(self) -> list[tuple[str, str, tuple]]:
        """(queue, task, args) of every message in every queue of the app's broker, taken off it. An export
        taken off also has its portal's marker taken, as the task does when it starts (workers/exports.py
        run_export): otherwise the next event of the portal would rightly queue nothing (one queued and
        not started is enough), and a refusal's "nothing queued" would prove nothing."""
        services = self.stack.app.extensions["qb24"]
        found = [(queue, *message) for queue in (REALTIME_QUEUE, DEFAULT_QUEUE, BULK_QUEUE)
                 for message in take_queued(services.celery, queue)]
        for _queue, task, args in found:
            if task == EXPORT_RECORDS:
                pull_marker.take(services, marker_key(services, args[0]), local=True)
        return found

    def events(self) -> list[ReceivedEvent]:
        engine = make_engine(self.stack.settings.database_url)
        try:
            with make_session_factory(engine)() as session:
                return list(session.scalars(select(ReceivedEvent).order_by(ReceivedEvent.id)))
        finally:
            engine.dispose()

    def post(self, body: str | bytes, content_type: str | None = FORM) -> requests.Response:
        headers = {"Content-Type": content_type} if content_type else {}
        return requests.post(self.stack.url + "/webhooks/bitrix24", data=body, headers=headers, timeout=30)


def event_body(sender: Sender, event: str, entity_id: str | None, origin: str, **changes: str | None) -> str:
    """The captured body with `sender`'s values, in its field order; `changes` maps a field name (PHP
    brackets, as sent) to a new value, or to None to leave the field out."""
    values = {"event": event, "data[FIELDS][ID]": entity_id, "auth[member_id]": sender.member_id,
              "auth[application_token]": sender.app_token, "auth[domain]": sender.domain,
              "auth[client_endpoint]": sender.client_endpoint, "auth[server_endpoint]": sender.server_endpoint,
              "auth[access_token]": sender.user_token}
    if origin == "robot":
        values |= dict.fromkeys(USER_ONLY)
    values |= changes
    pairs = [(name, values.get(name, value)) for name, value in parse_qsl(CAPTURED, keep_blank_values=True)]
    pairs += [(name, value) for name, value in changes.items() if name not in dict(pairs)]
    return urlencode([(name, value) for name, value in pairs if value is not None])


def _sender(stack: Stack, member_id: str) -> Sender:
    portal = read_portal(stack, member_id)
    return Sender(member_id=member_id, domain=portal.domain, client_endpoint=portal.client_endpoint,
                  server_endpoint=portal.server_endpoint, app_token=application_token(stack, member_id),
                  user_token=install_fields(stack, member_id)["form"]["AUTH_ID"])


@pytest.fixture(scope="module", params=["sqlite", "postgresql+redis"])
def world(request, tmp_path_factory) -> Iterator[World]:
    """Portals A and B installed through the sandbox portal; no worker consumes the app's queues."""
    kind = request.param
    overrides = {"REDIS_URL": OWN_REDIS_URL} if kind != "sqlite" else {}
    with running_stack(kind, tmp_path_factory.mktemp(f"b24_add_{kind}"), **overrides) as stack:
        stack.app.extensions["qb24"].celery.stop_embedded_worker()  # SQLite: what is queued stays queued
        a, b = stack.b24.default_member_id, stack.b24.create_portal().member_id
        with requests.Session() as browser:
            install_app(stack, browser, a)
            install_app(stack, browser, b)
        running = World(stack, _sender(stack, a), _sender(stack, b))
        running.queued()  # whatever the setup queued, and (Redis) what an earlier run left
        yield running


@pytest.mark.parametrize("origin", SENDERS)
@pytest.mark.parametrize("event", sorted(ADD_EVENTS))
def test_a_genuine_add_event_of_either_portal_is_recorded_once_and_queued_for_export(world, event, origin):
    first = 134800 + 10 * sorted(ADD_EVENTS).index(event) + 2 * SENDERS.index(origin)  # a record per case
    for sender, entity_id in ((world.a, str(first)), (world.b, str(first + 1))):
        body = event_body(sender, event, entity_id, origin)
        assert ("auth%5Baccess_token%5D=" in body) is (origin == "user")
        answer = world.post(body)
        assert answer.status_code == 200, answer.text[:300]
        assert answer.json() == {"ok": True, "outcome": "recorded"}
        [row] = [r for r in world.events() if r.entity_id == entity_id]
        assert (row.source, row.entity, row.operation, row.handled_at) == ("b24", ADD_EVENTS[event], "add", None)
        portal_id = read_portal(world.stack, sender.member_id).id
        assert row.portal_id == portal_id
        assert world.queued() == [(REALTIME_QUEUE, EXPORT_RECORDS, (portal_id,))]  # for the export worker
        again = world.post(body)  # the same delivery again: one row, nothing more to do
        assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
        assert [r.id for r in world.events() if r.entity_id == entity_id] == [row.id]
        assert world.queued() == []


def _refusals() -> dict[str, tuple[int, dict]]:
    """name -> (status, how portal A's genuine body is changed): `fields` (event_body changes), `as_b`
    (portal B's values instead), `token_of` (that portal's application token), `json` (the fields as
    JSON), `content_type`."""
    return {
        "forged application token": (401, {"fields": {"auth[application_token]": "f" * 32}}),
        "missing application token": (401, {"fields": {"auth[application_token]": None}}),
        "empty application token": (401, {"fields": {"auth[application_token]": ""}}),
        "portal B's application token for portal A": (401, {"token_of": "b"}),
        "portal A's application token for portal B": (401, {"as_b": True, "token_of": "a"}),
        "unknown member_id with A's token": (401, {"fields": {"auth[member_id]": "0" * 32}}),
        "no member_id": (401, {"fields": {"auth[member_id]": None}}),
        "no data[FIELDS][ID]": (400, {"fields": {"data[FIELDS][ID]": None}}),
        "data[FIELDS][ID] not numeric": (400, {"fields": {"data[FIELDS][ID]": "134806a"}}),
        "data[FIELDS][ID] negative": (400, {"fields": {"data[FIELDS][ID]": "-5"}}),
        "data[FIELDS][ID] 40 digits": (400, {"fields": {"data[FIELDS][ID]": "9" * 40}}),
        "data a scalar": (400, {"fields": {"data[FIELDS][ID]": None, "data": "134806"}}),
        "data[FIELDS] a scalar": (400, {"fields": {"data[FIELDS][ID]": None, "data[FIELDS]": "134806"}}),
        "ts not a unix time": (400, {"fields": {"ts": "2024-09-22T16:08:46"}}),
        "ts a superscript digit": (400, {"fields": {"ts": "\u00b2"}}),
        "JSON body": (415, {"json": True, "content_type": "application/json"}),
        "form body sent as text/plain": (415, {"content_type": "text/plain"}),
        "form body without a content type": (415, {"content_type": None}),
        # A genuine token in a multipart body: Bitrix24 never sends one, so it is not one of its events.
        "genuine fields as multipart/form-data": (415, {"multipart": True}),
        "body over 1 MB": (413, {"fields": {"padding": "p" * (1024 * 1024)}}),
    }


REFUSALS = _refusals()


def _refused_request(world: World, name: str, event: str, origin: str) -> tuple[str | bytes, str | None]:
    change = REFUSALS[name][1]
    sender = world.b if change.get("as_b") else world.a
    fields = dict(change.get("fields", {}))
    if "token_of" in change:
        fields["auth[application_token]"] = getattr(world, change["token_of"]).app_token
    body: str | bytes = event_body(sender, event, "134999", origin, **fields)
    if change.get("json"):  # the same fields as Bitrix24's docs print them (JSON), which it never sends
        body = json.dumps({"event": event, "data": {"FIELDS": {"ID": "134999"}}, "ts": "1727018926",
                           "auth": {"member_id": sender.member_id, "application_token": sender.app_token,
                                    **({"access_token": sender.user_token} if origin == "user" else {})}})
    if change.get("multipart"):
        boundary = "qb24boundary"
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                 for k, v in parse_qsl(body if isinstance(body, str) else body.decode())]
        return "".join(parts) + f"--{boundary}--\r\n", f"multipart/form-data; boundary={boundary}"
    return body, change.get("content_type", FORM)


@pytest.mark.parametrize("origin", SENDERS)
@pytest.mark.parametrize("event", sorted(ADD_EVENTS))
@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_a_refused_add_event_stores_and_queues_nothing(world, name, event, origin):
    body, content_type = _refused_request(world, name, event, origin)
    before, recorded = snapshot(world.stack), [r.id for r in world.events()]
    answer = world.post(body, content_type)
    assert answer.status_code == REFUSALS[name][0], answer.text[:300]
    assert [r.id for r in world.events()] == recorded
    assert snapshot(world.stack) == before  # nor anything else, in any table
    assert world.queued() == []
