"""QuickBooks Online sandbox (stands in for Intuit over HTTP; imports nothing from the service)."""
from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    """Import the app lazily so the package's helper modules load without the whole Flask app."""
    if name == "create_app":
        from .app import create_app
        return create_app
    raise AttributeError(name)
