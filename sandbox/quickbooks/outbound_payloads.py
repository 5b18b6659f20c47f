"""Webhook bodies the QuickBooks sandbox sends: legacy eventNotifications and CloudEvents, plus signing."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sandbox.quickbooks.timefmt import cloudevents_time, parse_timestamp

# Stable per-sandbox stand-in for Intuit's opaque `source` (base64 of a SHA-256, like the samples'
# "intuit.dsnBgbse...=" in reference §1.2).
CLOUDEVENTS_SOURCE = "intuit.PgHLGpNygDC2jO4d0TOb+kwgd3EfSi5CsdqeFndbuaI="

# At most 100 events per CloudEvents delivery (reference §1.2, Intuit webinar Q&A).
CLOUDEVENTS_MAX_EVENTS = 100

LEGACY_CONTENT_TYPE = "application/json"
CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"

# Past-tense verbs of `type`. Only "created" and "merged" are Intuit-documented; the void verb is
# UNCERTAIN (reference §1.2: third-party code uses "voided", one connector "void"). We send "voided",
# the majority reading; the service's parser accepts both.
CLOUDEVENTS_VERBS = {
    "Create": "created",
    "Update": "updated",
    "Delete": "deleted",
    "Merge": "merged",
    "Void": "voided",
    "Emailed": "emailed",
}


@dataclass(frozen=True)
class ChangeEvent:
    """One entity change as the sandbox app reported it."""

    realm_id: str
    entity: str
    entity_id: str
    operation: str
    last_updated: str
    deleted_id: str | None
    noticed_at: datetime
    sequence: int
    changed_at: datetime | None = None


def serialize(payload: object) -> bytes:
    """Compact JSON bytes, as Intuit's SDK samples are; these exact bytes are signed and sent."""
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def sign(body: bytes, verifier_token: str) -> str:
    """The `intuit-signature` value: base64(HMAC-SHA256(verifier token, raw body)) (reference §1.3)."""
    digest = hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def legacy_entity(event: ChangeEvent) -> dict[str, str]:
    """One entry of dataChangeEvent.entities; key order as in Intuit's .NET and Java SDK samples."""
    entity = {
        "name": event.entity,
        "id": event.entity_id,
        "operation": event.operation,
        "lastUpdated": event.last_updated,
    }
    # deletedId exists in the .NET SDK Entity class and carries the merged-away record on Merge.
    if event.deleted_id is not None:
        entity["deletedId"] = event.deleted_id
    return entity


def legacy_body(realm_id: str, events: list[ChangeEvent]) -> dict:
    """An eventNotifications body for one realm (Intuit sends one realm per notification, WHN)."""
    entities = [legacy_entity(event) for event in events]
    return {"eventNotifications": [{"realmId": realm_id, "dataChangeEvent": {"entities": entities}}]}


def event_time(event: ChangeEvent) -> str:
    """`time`: the change's instant (≡ legacy lastUpdated, reference §1.2) in Intuit's nanosecond form."""
    moment = event.changed_at
    if moment is None:
        try:
            moment = parse_timestamp(event.last_updated)
        except ValueError:
            moment = event.noticed_at
    return cloudevents_time(moment)


def cloudevent(event: ChangeEvent) -> dict:
    """One CloudEvents entry; key order as in Intuit's 2025-11-12 announcement sample."""
    # Merge carries the merged-away id as lowercase `deletedid` (WHD "Understanding the data object").
    data = {"deletedid": event.deleted_id} if event.operation == "Merge" and event.deleted_id else {}
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": CLOUDEVENTS_SOURCE,
        "type": f"qbo.{event.entity.lower()}.{CLOUDEVENTS_VERBS[event.operation]}.v1",
        "datacontenttype": "application/json",
        "time": event_time(event),
        "intuitentityid": event.entity_id,
        "intuitaccountid": event.realm_id,
        "data": data,
    }


def cloudevents_chunks(events: list[ChangeEvent]) -> list[list[dict]]:
    """CloudEvents arrays of at most 100 events each, in the given order."""
    entries = [cloudevent(event) for event in events]
    return [entries[i:i + CLOUDEVENTS_MAX_EVENTS] for i in range(0, len(entries), CLOUDEVENTS_MAX_EVENTS)]
