"""The per-app sandbox object, reachable from request handlers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from flask import current_app

from .hooks import WebhookHub
from .store import SandboxState
from .writes import Change

Writer = Callable[..., tuple[dict[str, Any], list[Change]]]

EXTENSION_KEY = "qbo_sandbox"


@dataclass
class Sandbox:
    """State plus webhook hub of one app instance."""

    state: SandboxState
    hooks: WebhookHub

    def write(self, realm_id: str, writer: Writer, *args: Any) -> dict[str, Any]:
        """Run a store write under the lock, then publish its changes to the webhook senders.

        The one write path: the Accounting API and the web screens (web.py) both come through here, so
        a record saved on a screen notifies webhooks and CDC exactly as an API write does.
        """
        with self.state.lock:
            realm = self.state.realms[realm_id]
            now = self.state.now()
            record, changes = writer(realm, *args, now)
        self.hooks.publish(realm_id, changes, at=now)
        return record


def sandbox() -> Sandbox:
    """The Sandbox of the current Flask app."""
    return current_app.extensions[EXTENSION_KEY]
