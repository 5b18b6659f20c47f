"""QuickBooks webhook bodies (reference quickbooks-online.md §1): the legacy `eventNotifications` object and
the CloudEvents array, checked with marshmallow and normalised to QboEvents (the route is webhooks/quickbooks.py).

Only the fields the sync reads are checked, against the alphabet and length QuickBooks really sends and
the store's columns hold; every other key is left alone (Intuit adds fields, `unknown = INCLUDE`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from mappers.qbo_time import parse_qbo_time
from webhooks.errors import PageError

log = logging.getLogger("qb24.qbo.webhook")
# The entities the sync follows (issue 10); any other is counted `ignored` and goes no further.
HANDLED = {"customer": "Customer", "invoice": "Invoice", "payment": "Payment"}
# Intuit's webhook entities (reference §1.5, WH table): CloudEvents types write them in lower case, so their
# names are restored here, so that one change is counted under one label whichever format brought it.
INTUIT_ENTITIES = {name.lower(): name for name in (
    "Account", "Bill", "BillPayment", "Budget", "Class", "CreditMemo", "Currency", "Customer", "Department",
    "Deposit", "Employee", "Estimate", "Invoice", "Item", "JournalCode", "JournalEntry", "Payment",
    "PaymentMethod", "Preferences", "Purchase", "PurchaseOrder", "RefundReceipt", "SalesReceipt", "TaxAgency",
    "Term", "TimeActivity", "Transfer", "Vendor", "VendorCredit")}
# Legacy operations (WH table: Create, Update, Delete, Merge, Void, Emailed) and CloudEvents' past-tense
# verbs. Only "created" and "merged" are Intuit-documented; the void verb is UNCERTAIN (reference §1.2:
# most third-party code has "voided", one connector "void"), so both are read as Void.
OPERATIONS = {"create": "Create", "created": "Create", "update": "Update", "updated": "Update",
              "delete": "Delete", "deleted": "Delete", "merge": "Merge", "merged": "Merge",
              "void": "Void", "voided": "Void", "emailed": "Emailed"}
CLOUDEVENT_TYPE = re.compile(r"^qbo\.([a-z]+)\.([a-z]+)\.v(\d+)$", re.IGNORECASE)
# Realm ids are digits (inputs.py realmId, §7 redirect); record ids are QuickBooks' numeric strings,
# letters and '-' allowed for what was not captured. Widths are the store's (ReceivedEvent columns).
REALM_ID = validate.Regexp(r"^[0-9]{1,32}\Z")
RECORD_ID = validate.Regexp(r"^[A-Za-z0-9_-]{1,32}\Z")
ENTITY_NAME = validate.Regexp(r"^[A-Za-z]{1,32}\Z")
OPERATION_NAME = validate.Regexp(r"^[A-Za-z]{1,16}\Z")
EVENT_ID = validate.Regexp(r"^[\x21-\x7e]{1,255}\Z")  # a UUID in every sample; printable ASCII fits the key


class MalformedNotification(PageError):
    """A signed body that is not JSON in either of QuickBooks' shapes (400, nothing stored); its message is
    English, unmarked, as every answer to Intuit's servers (webhooks/i18n.py)."""

    kind = "qbo_malformed"


@dataclass(frozen=True)
class QboEvent:
    """One change QuickBooks notified, in one shape whichever format carried it."""

    realm_id: str
    entity: str  # Customer | Invoice | Payment as written here; other entities as QuickBooks named them
    entity_id: str
    operation: str  # Create | Update | Delete | Merge | Void | Emailed, or an unknown word as given
    occurred_at: datetime | None
    deleted_id: str | None  # Merge: the record merged away
    event_id: str | None  # CloudEvents `id`; legacy notifications carry none
    time_text: str | None = None  # legacy `lastUpdated` as sent: the key's time when it is unreadable

    @property
    def handled(self) -> bool:
        return self.entity in HANDLED.values()

    @property
    def dedupe_key(self) -> str:
        """Intuit re-sends a failed batch with the same ids (reference §1.2); a legacy entity is
        the same change when realm, record, operation, time and (Merge) the merged-away record all match.
        An unreadable time stands as a digest of its text (any characters; the redelivery's bytes are
        the same): were it left out, every later change of the record would be dropped as a duplicate.
        At most 32+32+32+16+32+32 characters and separators: within the column's 255."""
        if self.event_id:
            return self.event_id
        at = (self.occurred_at.isoformat() if self.occurred_at
              else _digest(self.time_text) if self.time_text else "")
        merged = f":{self.deleted_id}" if self.operation == "Merge" and self.deleted_id else ""
        return f"{self.realm_id}:{self.entity}:{self.entity_id}:{self.operation}:{at}{merged}"


class _Open(Schema):
    class Meta:
        unknown = INCLUDE


class LegacyEntitySchema(_Open):
    name = fields.String(required=True, validate=ENTITY_NAME)
    id = fields.String(required=True, validate=RECORD_ID)
    operation = fields.String(required=True, validate=OPERATION_NAME)
    lastUpdated = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    deletedId = fields.String(load_default=None, allow_none=True, validate=RECORD_ID)  # .NET SDK Entity.cs


class DataChangeEventSchema(_Open):
    entities = fields.List(fields.Nested(LegacyEntitySchema), required=True)


class NotificationSchema(_Open):
    realmId = fields.String(required=True, validate=REALM_ID)
    dataChangeEvent = fields.Nested(DataChangeEventSchema, required=True)


class LegacyBodySchema(_Open):
    eventNotifications = fields.List(fields.Nested(NotificationSchema), required=True)


class CloudEventSchema(_Open):
    specversion = fields.String(required=True, validate=validate.Length(min=1, max=16))
    id = fields.String(required=True, validate=EVENT_ID)
    type = fields.String(required=True, validate=validate.Length(min=1, max=128))
    time = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    intuitentityid = fields.String(required=True, validate=RECORD_ID)
    intuitaccountid = fields.String(required=True, validate=REALM_ID)
    data = fields.Dict(load_default=None, allow_none=True)


LEGACY = LegacyBodySchema()
CLOUDEVENTS = CloudEventSchema(many=True)


def parse_notification(body: bytes) -> list[QboEvent]:
    """The events of a (signature-checked) body; MalformedNotification when it is neither shape."""
    try:
        payload = json.loads(body)
        if isinstance(payload, list):
            return [event for entry in CLOUDEVENTS.load(payload) if (event := from_cloudevent(entry))]
        if isinstance(payload, dict) and "eventNotifications" in payload:
            return [from_legacy(note["realmId"], entity) for note in LEGACY.load(payload)["eventNotifications"]
                    for entity in note["dataChangeEvent"]["entities"]]
    except (ValueError, ValidationError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError too
        raise MalformedNotification(400, _describe(error)) from None
    raise MalformedNotification(400, "The body is neither an eventNotifications object nor a CloudEvents array.")


def from_legacy(realm_id: str, entity: dict[str, Any]) -> QboEvent:
    return QboEvent(realm_id=realm_id, entity=_entity(entity["name"]), entity_id=entity["id"],
                    operation=_operation(entity["operation"]), occurred_at=_moment(entity["lastUpdated"]),
                    deleted_id=entity["deletedId"], event_id=None, time_text=entity["lastUpdated"])


def from_cloudevent(entry: dict[str, Any]) -> QboEvent | None:
    """The event, or None for a type that is not `qbo.<entity>.<verb>.v<n>` (logged, acknowledged: the
    sender is Intuit, signed, and a 400 would make it re-send the whole batch forever)."""
    found = CLOUDEVENT_TYPE.match(entry["type"])
    if found is None or len(found.group(1)) > 32 or len(found.group(2)) > 16:
        log.info("qbo.webhook.unknown_type", extra={"type": entry["type"][:128], "event_id": entry["id"]})
        return None
    data = entry["data"] or {}
    # Merge: `data.deletedid` in Intuit's sample (WHD), lowercase; the legacy spelling is accepted too.
    deleted_id = data.get("deletedid", data.get("deletedId"))
    if deleted_id is not None:
        RECORD_ID(deleted_id) if isinstance(deleted_id, str) else _refuse("data.deletedid is not a string")
    return QboEvent(realm_id=entry["intuitaccountid"], entity=_entity(found.group(1)),
                    entity_id=entry["intuitentityid"], operation=_operation(found.group(2)),
                    occurred_at=_moment(entry["time"]), deleted_id=deleted_id, event_id=entry["id"])


def _entity(name: str) -> str:
    return INTUIT_ENTITIES.get(name.lower()) or name[:1].upper() + name[1:]


def _operation(word: str) -> str:
    return OPERATIONS.get(word.lower(), word)  # an unknown word still asks for a pull


def _moment(text: str | None) -> datetime | None:
    """`lastUpdated` / `time` (§1.1: formats vary); unreadable is None, the change still gets pulled."""
    try:
        return parse_qbo_time(text) if text else None
    except ValueError:
        return None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _refuse(message: str) -> None:
    raise ValidationError(message)


def _describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return f"The body does not have the shape QuickBooks sends: {json.dumps(error.messages)[:300]}"
    return "The body is not valid JSON."
