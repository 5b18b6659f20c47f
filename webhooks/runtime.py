"""What the web process shares across requests: settings, database sessions, Redis (workers/context.py)."""
from __future__ import annotations

from flask import current_app

from workers.context import Services

# The web side's name for the process's services; one class builds them for web and worker alike.
Runtime = Services


def runtime() -> Services:
    return current_app.extensions["qb24"]
