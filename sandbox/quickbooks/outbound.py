"""The QuickBooks sandbox's webhook sender: aggregates entity changes and POSTs them like Intuit does."""
from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, fields, replace
from datetime import datetime, timezone
from typing import Callable, Literal

from sandbox.quickbooks.outbound_delivery import Delivery, build_deliveries, post_delivery, retry_delay
from sandbox.quickbooks.outbound_payloads import CLOUDEVENTS_VERBS, ChangeEvent

log = logging.getLogger("qb24.sandbox.quickbooks.webhooks")

DELIVERY_LOG_LIMIT = 2000
IDLE_WAKE_SECONDS = 1.0


@dataclass
class WebhookConfig:
    """Where and how the sandbox delivers webhooks; changeable at run time through `configure`."""

    url: str | None = None
    verifier_token: str = "sandbox-verifier-token"
    format: Literal["legacy", "cloudevents"] = "legacy"
    aggregation_seconds: float = 0.0
    retry_scale: float = 1.0
    max_attempts: int = 10
    timeout_seconds: float = 3.0
    # Each acknowledged delivery is posted this many times in all, same bytes and event ids, as Intuit's
    # gateway re-sends a batch it already delivered (reference §1.2: "When our gateway retries a failed
    # batch, the same event id will be sent again"). `duplicate` is the older spelling of copies=2.
    copies: int = 1
    duplicate: bool = False
    # Events out of sequence (reference §1.4, WHB: "It's possible to receive events out of sequence"):
    # each batch is sent newer half first, and every body lists its events newest first.
    out_of_order: bool = False

    @property
    def total_copies(self) -> int:
        """How many times an acknowledged delivery is posted in all."""
        return max(self.copies, 2 if self.duplicate else 1)


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(timezone.utc)


class WebhookSender:
    """Queues changes per realm and delivers them from one lazily started daemon thread."""

    def __init__(self, config: WebhookConfig, clock: Callable[[], datetime] | None = None) -> None:
        self._config = config
        self._clock = clock or utc_now
        self._cond = threading.Condition()
        self._queued: dict[str, list[ChangeEvent]] = {}
        self._window_started: dict[str, float] = {}
        self._outbox: list[Delivery] = []
        self._log: deque[dict] = deque(maxlen=DELIVERY_LOG_LIMIT)
        self._sequence = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def configure(self, **changes: object) -> None:
        """Change configuration fields at run time; unknown names raise TypeError."""
        unknown = set(changes) - {field.name for field in fields(WebhookConfig)}
        if unknown:
            raise TypeError(f"unknown webhook setting(s): {', '.join(sorted(unknown))}")
        with self._cond:
            self._config = replace(self._config, **changes)
            self._cond.notify_all()

    @property
    def config(self) -> WebhookConfig:
        """The current configuration (a snapshot)."""
        with self._cond:
            return replace(self._config)

    def notify(
        self, realm_id: str, entity: str, entity_id: str, operation: str, last_updated: str,
        deleted_id: str | None = None, changed_at: datetime | None = None,
    ) -> None:
        """Queue one entity change for delivery; never raises.

        `last_updated` is sent as given in legacy bodies; `changed_at` (else `last_updated`) is the
        instant CloudEvents `time` carries.
        """
        try:
            self._enqueue(realm_id, entity, entity_id, operation, last_updated, deleted_id, changed_at)
        except Exception:
            log.exception("qbo.sandbox.webhook.notify_failed", extra={"realm_id": realm_id, "entity": entity})

    def deliveries(self) -> list[dict]:
        """Every attempt so far (oldest first), as copies."""
        with self._cond:
            return [dict(entry, headers=dict(entry["headers"])) for entry in self._log]

    def pending(self) -> int:
        """Events not yet acknowledged (queued, waiting for a retry or in flight)."""
        with self._cond:
            return self._pending_count()

    def flush(self, timeout: float) -> bool:
        """Wait until nothing is queued or in flight; False if `timeout` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending_count() == 0, timeout=timeout)

    def stop(self) -> None:
        """End the sender thread now; attempts still in flight finish unrecorded, the rest is dropped."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)

    def _pending_count(self) -> int:
        """Events queued or in the outbox; caller holds the lock."""
        queued = sum(len(events) for events in self._queued.values())
        return queued + sum(delivery.event_count for delivery in self._outbox)

    def _enqueue(
        self, realm_id: str, entity: str, entity_id: str, operation: str, last_updated: str,
        deleted_id: str | None, changed_at: datetime | None,
    ) -> None:
        """Queue the change under the lock and wake the sender."""
        if operation not in CLOUDEVENTS_VERBS:
            extra = {"operation": operation, "entity": entity}
            log.error("qbo.sandbox.webhook.unknown_operation", extra=extra)
            return
        noticed_at = self._clock()
        with self._cond:
            # Intuit only notifies subscribed endpoints, and only about changes after subscribing.
            if self._stopped or self._config.url is None:
                return
            event = ChangeEvent(
                realm_id=realm_id, entity=entity, entity_id=entity_id, operation=operation,
                last_updated=last_updated, deleted_id=deleted_id, noticed_at=noticed_at,
                sequence=next(self._sequence), changed_at=changed_at,
            )
            self._queued.setdefault(realm_id, []).append(event)
            self._window_started.setdefault(realm_id, time.monotonic())
            self._start_thread()
            self._cond.notify_all()

    def _start_thread(self) -> None:
        """Start the sender thread on first use."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="qbo-webhook-sender", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        """Build due batches, start due attempts, sleep until the next deadline or a change."""
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                batch_wake = self._build_due(now)
                send_wake = self._dispatch_due(now)
                waits = [wake for wake in (batch_wake, send_wake, IDLE_WAKE_SECONDS) if wake is not None]
                self._cond.wait(timeout=max(min(waits), 0.0))

    def _blocked_realms(self) -> set[str]:
        """Realms with a delivery not yet acknowledged."""
        return {realm_id for delivery in self._outbox for realm_id in delivery.realm_ids}

    def _build_due(self, now: float) -> float | None:
        """Turn due, unblocked realm queues into deliveries; return seconds until the next window ends."""
        # "You may not receive subsequent events ... until you correctly acknowledge the first event"
        # (WHB): a realm with an unacknowledged delivery keeps collecting behind it.
        blocked = self._blocked_realms()
        window = self._config.aggregation_seconds
        ready, next_wake = {}, None
        for realm_id, events in self._queued.items():
            if realm_id in blocked:
                continue
            remaining = self._window_started[realm_id] + window - now
            if remaining <= 0:
                ready[realm_id] = events
            elif next_wake is None or remaining < next_wake:
                next_wake = remaining
        for realm_id in ready:
            del self._queued[realm_id]
            del self._window_started[realm_id]
        if ready:
            config = self._config
            built = build_deliveries(ready, config.format, config.verifier_token, config.out_of_order)
            self._outbox.extend(built)
        return next_wake

    def _dispatch_due(self, now: float) -> float | None:
        """Start attempts whose turn has come; return seconds until the next retry is due."""
        if self._config.url is None:
            return None
        busy: set[str] = set()
        next_wake = None
        for delivery in self._outbox:
            if not delivery.in_flight and not busy.intersection(delivery.realm_ids):
                remaining = delivery.next_at - now
                if remaining <= 0:
                    self._start_attempt(delivery)
                elif next_wake is None or remaining < next_wake:
                    next_wake = remaining
            busy.update(delivery.realm_ids)
        return next_wake

    def _start_attempt(self, delivery: Delivery) -> None:
        """POST the delivery from its own daemon thread so stop() never waits on the network."""
        delivery.in_flight = True
        config = self._config
        args = (delivery, config.url, config.timeout_seconds, config.total_copies)
        threading.Thread(target=self._attempt, args=args, name="qbo-webhook-post", daemon=True).start()

    def _attempt(self, delivery: Delivery, url: str, timeout: float, copies: int) -> None:
        """POST once; once acknowledged, post the same bytes `copies - 1` more times; record it all."""
        at = self._clock().isoformat()
        status, error = post_delivery(url, delivery, timeout)
        echoes = []
        if status == 200:
            # Intuit's gateway may re-send a batch it already delivered, same ids (reference §1.2).
            echoes = [(self._clock().isoformat(), *post_delivery(url, delivery, timeout))
                      for _ in range(copies - 1)]
        with self._cond:
            if self._stopped:
                return
            self._record(delivery, at, status, error)
            for echo in echoes:
                self._log_attempt(delivery, echo[0], echo[1], echo[2], duplicate=True)
            self._cond.notify_all()

    def _record(self, delivery: Delivery, at: str, status: int | None, error: str | None) -> None:
        """Apply an attempt's outcome: acknowledge, schedule a retry, or give up."""
        delivery.attempts += 1
        delivery.in_flight = False
        # Only HTTP 200 acknowledges (WHB: "fails to respond ... with an HTTP 200 status code").
        if status == 200:
            self._outbox.remove(delivery)
            self._log_attempt(delivery, at, status, error)
        elif delivery.attempts >= self._config.max_attempts:
            self._outbox.remove(delivery)
            self._log_attempt(delivery, at, status, error, gave_up=True)
            log.error("qbo.sandbox.webhook.gave_up", extra={"delivery_id": delivery.id, "status": status})
        else:
            delivery.next_at = time.monotonic() + retry_delay(delivery.attempts, self._config.retry_scale)
            self._log_attempt(delivery, at, status, error)
            log.info("qbo.sandbox.webhook.retry", extra={"delivery_id": delivery.id, "status": status})

    def _log_attempt(
        self, delivery: Delivery, at: str, status: int | None, error: str | None,
        duplicate: bool = False, gave_up: bool = False,
    ) -> None:
        """Append one attempt to the delivery log."""
        self._log.append({
            "id": delivery.id,
            "realm_ids": list(delivery.realm_ids),
            "body": delivery.body.decode("utf-8"),
            "headers": dict(delivery.headers),
            "status": status,
            "error": error,
            "attempt": delivery.attempts,
            "at": at,
            "acknowledged": status == 200,
            "duplicate": duplicate,
            "gave_up": gave_up,
        })
