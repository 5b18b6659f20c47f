"""Outbound webhooks: one WebhookSender per app, fed only with changes of realms connected to that app."""
from __future__ import annotations

from typing import Any, Iterable

from .outbound import WebhookConfig, WebhookSender
from .store import SandboxState
from .writes import Change

SETTING_NAMES = ("url", "verifier_token", "format", "aggregation_seconds", "retry_scale", "max_attempts",
                 "timeout_seconds", "duplicate", "out_of_order")


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

    def publish(self, realm_id: str, changes: Iterable[Change]) -> None:
        """Hand every change to the senders of apps connected to the realm (call outside the state lock)."""
        changes = list(changes)
        with self._state.lock:
            targets = [sender for client_id, sender in self.senders.items()
                       if self._state.grants.connected(client_id, realm_id)]
        for sender in targets:
            for change in changes:
                sender.notify(realm_id, change.entity, change.entity_id, change.operation,
                              change.last_updated)

    def stop(self) -> None:
        """Stop every sender thread."""
        for sender in list(self.senders.values()):
            sender.stop()
