"""Signed webhook deliveries: building them from queued changes, posting one attempt, the retry schedule."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import requests

from sandbox.quickbooks.outbound_payloads import (
    CLOUDEVENTS_CONTENT_TYPE,
    LEGACY_CONTENT_TYPE,
    ChangeEvent,
    cloudevents_chunks,
    legacy_body,
    serialize,
    sign,
)

# Intuit's redelivery schedule after a non-200 or no answer within 3 s (reference §1.4, WHB):
# 10 s, 20 s, 30 s, 5 min, 20 min, 2 h, 4 h, 6 h, then every 6 h.
RETRY_SCHEDULE_SECONDS = (10.0, 20.0, 30.0, 300.0, 1200.0, 7200.0, 14400.0, 21600.0)


@dataclass
class Delivery:
    """One body, signed once; every retry re-sends exactly these bytes and headers."""

    id: str
    realm_ids: list[str]
    body: bytes
    headers: dict[str, str]
    event_count: int
    attempts: int = 0
    next_at: float = 0.0
    in_flight: bool = False


def retry_delay(failed_attempts: int, scale: float) -> float:
    """Seconds to wait after the n-th failed attempt, Intuit's schedule times `scale`."""
    index = min(failed_attempts, len(RETRY_SCHEDULE_SECONDS)) - 1
    return RETRY_SCHEDULE_SECONDS[max(index, 0)] * scale


def new_delivery(
    payload: object, realm_ids: list[str], count: int, content_type: str, token: str
) -> Delivery:
    """Serialize once and sign those exact bytes."""
    body = serialize(payload)
    headers = {"Content-Type": content_type, "intuit-signature": sign(body, token)}
    return Delivery(id=str(uuid.uuid4()), realm_ids=realm_ids, body=body, headers=headers, event_count=count)


def legacy_deliveries(ready: dict[str, list[ChangeEvent]], token: str) -> list[Delivery]:
    """One eventNotifications POST per realm, all of that realm's events in it (no count limit, WHN)."""
    return [
        new_delivery(legacy_body(realm_id, events), [realm_id], len(events), LEGACY_CONTENT_TYPE, token)
        for realm_id, events in ready.items()
    ]


def cloudevents_deliveries(events: list[ChangeEvent], token: str) -> list[Delivery]:
    """CloudEvents arrays of at most 100 events, in the given order; one array may span realms (§1.2)."""
    deliveries = []
    for chunk in cloudevents_chunks(events):
        realm_ids = list(dict.fromkeys(entry["intuitaccountid"] for entry in chunk))
        deliveries.append(new_delivery(chunk, realm_ids, len(chunk), CLOUDEVENTS_CONTENT_TYPE, token))
    return deliveries


def _halves(ready: dict[str, list[ChangeEvent]]) -> list[dict[str, list[ChangeEvent]]]:
    """Every realm's newer half of events, then the older half (out-of-order sending)."""
    newer = {realm_id: events[len(events) // 2:] for realm_id, events in ready.items()}
    older = {realm_id: events[:len(events) // 2] for realm_id, events in ready.items() if len(events) > 1}
    return [newer, older] if older else [newer]


def build_deliveries(
    ready: dict[str, list[ChangeEvent]], format: str, token: str, reverse: bool
) -> list[Delivery]:
    """Deliveries for the realms whose queued changes are due, in sending order.

    `reverse` (out-of-order mode) sends each batch's newer half before its older half, and lists the
    events of every body newest first, so order is broken both across deliveries and within one (the
    realm's next delivery still waits for the acknowledgement of the one before, reference §1.4).
    """
    deliveries = []
    for part in _halves(ready) if reverse else [ready]:
        if format == "cloudevents":
            events = sorted((event for batch in part.values() for event in batch),
                            key=lambda event: event.sequence, reverse=reverse)
            deliveries += cloudevents_deliveries(events, token)
        else:
            if reverse:
                part = {realm_id: list(reversed(events)) for realm_id, events in reversed(part.items())}
            deliveries += legacy_deliveries(part, token)
    return deliveries


def post_delivery(url: str, delivery: Delivery, timeout: float) -> tuple[int | None, str | None]:
    """POST the delivery's bytes once; (status, error) where error says why it was not received."""
    try:
        response = requests.post(
            url, data=delivery.body, headers=delivery.headers, timeout=timeout, allow_redirects=False
        )
    except requests.RequestException as error:
        return None, f"{type(error).__name__}: {error}"
    response.close()
    return response.status_code, None
