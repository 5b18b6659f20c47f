"""The per-app sandbox object, reachable from request handlers."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from .hooks import WebhookHub
from .store import SandboxState

EXTENSION_KEY = "qbo_sandbox"


@dataclass
class Sandbox:
    """State plus webhook hub of one app instance."""

    state: SandboxState
    hooks: WebhookHub


def sandbox() -> Sandbox:
    """The Sandbox of the current Flask app."""
    return current_app.extensions[EXTENSION_KEY]
