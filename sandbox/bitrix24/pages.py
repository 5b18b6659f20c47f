"""Portal pages (placeholder until the HTML pages land)."""
from __future__ import annotations

from flask import Blueprint


def pages_blueprint(sb, portal) -> Blueprint:
    """Portal HTML pages."""
    return Blueprint("pages", __name__)
