"""Outbound webhooks: one WebhookSender per app, fed only with changes of realms connected to that app."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from .outbound import WebhookConfig, WebhookSender
from .store import SandboxState
from .timefmt import legacy_webhook_time, parse_timestamp
from .writes import Change

SETTING_NAMES = ("url", "verifier_token", "format", "aggregation_seconds", "retry_scale", "max_attempts",
                 "timeout_seconds", "copies", "duplicate", "out_of_order")


class WebhookHub:
    """The app-level registry of senders (client_id → WebhookSender)."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state
        self.senders: dict[str, WebhookSender] = {}

    def configure(self, client_id: str, settings: dict[str, Any]) -> WebhookSender:
        """Create or reconfigure the sender of an app; unknown setting names raise TypeError."""
        unknown = set(settings) - set(SETTING_NAMES)
        if unknown:
            raise TypeError(f"unknown webhook setting(s): {', '.join(sorted(unknown))}")
        with self._state.lock:
            sender = self.senders.get(client_id)
            if sender is None:
                sender = WebhookSender(WebhookConfig(**settings), clock=self._state.clock.now)
                self.senders[client_id] = sender
                return sender
        sender.configure(**settings)
        return sender

    def publish(self, realm_id: str, changes: Iterable[Change], at: datetime | None = None) -> None:
        """Hand every change to the senders of apps connected to the realm (call outside the state lock).

        `at` is the write's instant: it gives the event times their sub-second part.
        """
        changes = list(changes)
        with self._state.lock:
            targets = [sender for client_id, sender in self.senders.items()
                       if self._state.grants.connected(client_id, realm_id)]
            realm = self._state.realm(realm_id)
            utc_millis = realm is not None and realm.switches.webhook_time_utc_millis
        for change in changes:
            moment = _event_moment(change.last_updated, at)
            last_updated = legacy_webhook_time(moment, utc_millis)
            for sender in targets:
                sender.notify(realm_id, change.entity, change.entity_id, change.operation, last_updated,
                              deleted_id=change.deleted_id, changed_at=moment)

    def stop(self) -> None:
        """Stop every sender thread."""
        for sender in list(self.senders.values()):
            sender.stop()


def _event_moment(last_updated: str, at: datetime | None) -> datetime:
    """The change's instant: the write's own clock reading when it falls in LastUpdatedTime's second
    (so the event agrees with the record to the second), else LastUpdatedTime itself."""
    stamped = parse_timestamp(last_updated)
    if at is not None and at.replace(microsecond=0) == stamped:
        return at
    return stamped
