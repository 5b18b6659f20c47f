"""Helpers of the QuickBooks webhook tests: signed bodies in both of Intuit's shapes, an app on its own store,
and what a request left behind (received_events rows, pulls waiting in the realtime queue)."""
from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from config.settings import load_settings
from store.db import migrate, transaction
from store.models import Portal, QboConnection, ReceivedEvent
from tests.config.test_settings import VALID
from webhooks import create_app
from tests.support import take_queued
from workers.celery_app import PULL_CHANGES, REALTIME_QUEUE

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "qbo" / "webhooks"
VERIFIER = VALID["QBO_VERIFIER_TOKEN"]
REALM = "1185883450"  # the Java SDK sample's
URL = "/webhooks/quickbooks"
# The real samples (reference §1.1, §1.2), as templates whose values the tests change.
LEGACY_SAMPLE = json.loads((FIXTURES / "intuit_blog_2025-11-12_legacy_sample.json").read_text())
CLOUDEVENT_SAMPLE = json.loads((FIXTURES / "intuit_blog_2025-11-12_cloudevents_sample.json").read_text())[0]
VERBS = {"Create": "created", "Update": "updated", "Delete": "deleted", "Merge": "merged", "Void": "voided",
         "Emailed": "emailed"}


def sign(body: bytes, token: str = VERIFIER) -> str:
    return base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()


def legacy(realm_id: str, *entities: dict[str, Any]) -> bytes:
    """An eventNotifications body for one realm; each entity a dict of name, id, operation (+ extras)."""
    body = copy.deepcopy(LEGACY_SAMPLE)
    note = body["eventNotifications"][0]
    note["realmId"] = realm_id
    template = note["dataChangeEvent"]["entities"][0]
    note["dataChangeEvent"]["entities"] = [{**template, **entity} for entity in entities]
    return json.dumps(body).encode()


def cloudevent(realm_id: str, entity: str, entity_id: str, operation: str, **changes: Any) -> dict[str, Any]:
    """One CloudEvents entry (unique id) shaped like Intuit's sample."""
    verb = VERBS.get(operation, operation)
    return {**CLOUDEVENT_SAMPLE, "id": str(uuid.uuid4()), "type": f"qbo.{entity.lower()}.{verb}.v1",
            "intuitentityid": entity_id, "intuitaccountid": realm_id, "data": {}, **changes}


def cloudevents(*events: dict[str, Any]) -> bytes:
    return json.dumps(list(events)).encode()


@dataclass
class Hook:
    """Our app on a store of its own (no worker: queued pulls stay in the queue for the test to read)."""

    app: Flask
    client: FlaskClient

    @property
    def sessions(self):
        return self.app.extensions["qb24"].sessions

    def post(self, body: bytes, *, signature: str | None = None, content_type: str = "application/json",
             **headers: str):
        sent = {"Content-Type": content_type, **headers}
        if signature != "":
            sent["intuit-signature"] = signature or sign(body)
        return self.client.post(URL, data=body, headers=sent)

    def connect(self, realm_id: str, *, member_id: str | None = None, status: str = "connected",
                portal_status: str = "installed") -> int:
        """A portal linked to `realm_id`; its id."""
        with transaction(self.sessions) as session:
            portal = Portal(member_id=member_id or uuid.uuid4().hex, domain="example.bitrix24.com",
                            client_endpoint="https://example.bitrix24.com/rest/",
                            server_endpoint="https://oauth.bitrix.info/rest/", settings={}, status=portal_status)
            session.add(portal)
            session.flush()
            session.add(QboConnection(portal_id=portal.id, realm_id=realm_id, status=status))
            return portal.id

    def portal_of(self, realm_id: str) -> int | None:
        with self.sessions() as session:
            return session.scalar(select(QboConnection.portal_id).where(QboConnection.realm_id == realm_id))

    def events(self) -> list[ReceivedEvent]:
        with self.sessions() as session:
            return list(session.scalars(select(ReceivedEvent).order_by(ReceivedEvent.id)))

    def pulls(self) -> list[tuple]:
        """The PULL_CHANGES args waiting in the realtime queue, taken off it."""
        queued = take_queued(self.app.extensions["qb24"].celery, REALTIME_QUEUE)
        assert {name for name, _ in queued} <= {PULL_CHANGES}
        return [args for _, args in queued]

    def counted(self, event: str, outcome: str) -> float:
        sample = self.app.extensions["qb24_metrics"].registry.get_sample_value(
            "qb24_events_total", {"source": "qbo", "event": event, "outcome": outcome})
        return sample or 0.0


def make_hook(database_url: str, *, migrated: bool = False, **env: str) -> Hook:
    if not migrated:
        migrate(database_url)
    app = create_app(load_settings({**VALID, "DATABASE_URL": database_url, **env}))
    return Hook(app, app.test_client())


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory) -> Path:
    """One migrated SQLite file, copied for each test: migrating takes most of a second."""
    path = tmp_path_factory.mktemp("qbo_hook") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


def sqlite_hook(template: Path, tmp_path: Path, **env: str) -> Hook:
    if not (tmp_path / "hook.db").exists():
        shutil.copy(template, tmp_path / "hook.db")
    running = make_hook(f"sqlite:///{tmp_path / 'hook.db'}", migrated=True, **env)
    if running.portal_of(REALM) is None:
        running.connect(REALM)
    return running


@pytest.fixture
def hook(migrated_db, tmp_path) -> Iterator[Hook]:
    running = sqlite_hook(migrated_db, tmp_path)
    yield running
    running.sessions.kw["bind"].dispose()
