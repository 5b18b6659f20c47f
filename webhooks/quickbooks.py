"""`POST /webhooks/quickbooks`: QuickBooks change notifications (reference quickbooks-online.md §1).

In order: size (> 2 MB: 413), `intuit-signature` on the raw bytes (401), content type (415), shape (400);
none of these refusals stores or queues anything. Then each event of a handled entity, of a realm
connected to an installed portal, is recorded once and a change pull is queued for its realm in the
same transaction: if the broker does not take it, nothing is kept and the answer is 503, so Intuit
re-sends (a 200 without the pull queued would lose the change until the next reconciliation). The
request never calls QuickBooks or Bitrix24: the pull reads the records (workers/changes.py).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections import Counter
from functools import partial

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from store.events import record_events
from store.portals import portals_of_realms
from webhooks.errors import PageError
from webhooks.metrics import count_event
from webhooks.qbo_events import QboEvent, parse_notification
from webhooks.runtime import runtime
from workers.context import Services
from workers.pull_marker import queue_pull
from workers.tasks import EnqueueFailed, enqueue_pull

quickbooks = Blueprint("quickbooks", __name__)
log = logging.getLogger("qb24.qbo.webhook")
ENDPOINT, PATH = "quickbooks.notification", "/webhooks/quickbooks"
# The answer QuickBooks gets for every accepted delivery, built once (jsonify re-encodes it each time).
ACCEPTED = b'{"ok":true}\n'
# Intuit sets no size limit on legacy bodies ("2MB is a common default size limit", WHN) and sends up to
# ~1 MB of CloudEvents (§1.2): 2 MB here, above the app's 1 MB for every other route.
MAX_NOTIFICATION_BYTES = 2 * 1024 * 1024
# §1.2: CloudEvents may come as application/cloudevents+json (Intuit's content_type_fix); legacy is JSON.
CONTENT_TYPES = ("application/json", "application/cloudevents+json")


class NotificationRefused(PageError):
    """A notification refused with nothing stored or queued; `kind` names the check for the metrics.
    Its message is English, unmarked: Intuit's servers and the operator's logs read it (webhooks/i18n.py)."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(status, message)
        self.kind = kind


def read_notification() -> None:
    """Read this route's body, up to 2 MB, and check its signature before inputs.check_request looks at
    any query or form (app-wide hooks run in order; this one is registered first): unsigned bytes are
    never parsed (issue 10: the signature before anything else), and a form parse would consume the raw
    bytes the signature is over. A declared length over the limit is refused without reading."""
    if request.endpoint != ENDPOINT:
        return
    request.max_content_length = MAX_NOTIFICATION_BYTES
    try:
        body = request.get_data(cache=True)  # a chunked body is cut at the limit by werkzeug
    except RequestEntityTooLarge:
        raise NotificationRefused(413, "qbo_too_large", "The notification is larger than 2 MB.") from None
    check_signature(body, request.headers.get("intuit-signature", ""), runtime().settings.qbo_verifier_token)


@quickbooks.post(PATH)
def notification() -> Response:
    body = request.get_data(cache=True)  # read and its signature checked by read_notification
    if request.mimetype not in CONTENT_TYPES:
        raise NotificationRefused(415, "qbo_content_type",
                                  "A notification is application/json or application/cloudevents+json.")
    accept(runtime(), parse_notification(body))
    return Response(ACCEPTED, mimetype="application/json")


def check_signature(body: bytes, signature: str, verifier_token: str) -> None:
    """§1.3: base64(HMAC-SHA256(verifier token, raw body)), compared in constant time; 401 otherwise."""
    expected = base64.b64encode(hmac.new(verifier_token.encode(), body, hashlib.sha256).digest())
    # bytes on both sides: compare_digest refuses a str holding non-ASCII (a forged header may)
    if not signature or not hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace")):
        raise NotificationRefused(401, "qbo_signature", "The intuit-signature header does not match the body.")


def accept(services: Services, events: list[QboEvent]) -> None:
    """Record the handled events of connected realms and queue one pull per realm with news."""
    outcomes: Counter[tuple[str, str]] = Counter()
    handled = [event for event in events if event.handled]
    for event in events:
        if not event.handled:
            outcomes[_label(event), "ignored"] += 1
    if handled:
        try:
            _store(services, handled, outcomes)
        except EnqueueFailed:
            raise NotificationRefused(503, "qbo_enqueue", "The change could not be queued; "
                                                          "QuickBooks will send it again.") from None
    totals: Counter[str] = Counter()
    for (label, outcome), count in outcomes.items():
        count_event("qbo", label, outcome, count)
        totals[outcome] += count
    log.info("qbo.webhook.received", extra={"realm_id": ",".join(sorted({event.realm_id for event in events})),
                                            "events": len(events), **totals})


def _store(services: Services, events: list[QboEvent], outcomes: Counter[tuple[str, str]]) -> None:
    # Core on the pooled engine, no ORM session: this is the path Intuit's bursts hit (bench/webhook_load.py).
    with services.sessions.kw["bind"].begin() as connection:
        portals = portals_of_realms(connection, {event.realm_id for event in events})
        known = [event for event in events if event.realm_id in portals]
        for realm_id in sorted({event.realm_id for event in events} - set(portals)):
            log.info("qbo.webhook.unknown_realm", extra={"realm_id": realm_id})
        new = record_events(connection, "qbo", [_row(event, portals[event.realm_id]) for event in known])
        for realm_id in sorted({event.realm_id for event in known if event.dedupe_key in new}):
            # EnqueueFailed: all rolled back; a pull queued and not yet started covers these (pull_marker)
            queue_pull(services, realm_id, partial(enqueue_pull, services, realm_id, noticed_at=time.time()))
    for event in events:
        outcome = ("unknown_realm" if event.realm_id not in portals
                   else "accepted" if event.dedupe_key in new else "duplicate")
        new.discard(event.dedupe_key)  # the same event twice in one body: the second is a duplicate
        outcomes[_label(event), outcome] += 1


def _row(event: QboEvent, portal_id: int) -> dict:
    return {"dedupe_key": event.dedupe_key, "portal_id": portal_id, "realm_id": event.realm_id,
            "entity": event.entity, "entity_id": event.entity_id, "operation": event.operation,
            "occurred_at": event.occurred_at, "deleted_id": event.deleted_id if event.operation == "Merge" else None}


def _label(event: QboEvent) -> str:
    return f"{event.entity}.{event.operation}"


def init_app(app: Flask) -> None:
    """Before inputs.init_app: the size hook must run before the first read of the body."""
    app.before_request(read_notification)
    app.config.setdefault("SESSIONLESS_PATHS", set()).add(PATH)  # webhooks/session.py: no cookie session
    app.register_blueprint(quickbooks)
