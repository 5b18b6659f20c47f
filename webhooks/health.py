"""`GET /healthz`: 200 when the database (and Redis, when configured) answer, else 503."""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text

from webhooks.runtime import runtime

health = Blueprint("health", __name__)
log = logging.getLogger("qb24.health")


def _database_ok() -> bool:
    try:
        with runtime().sessions() as session:
            session.execute(text("SELECT 1"))
        return True
    except Exception:  # any driver error means "not healthy"; the kind is logged, not leaked
        log.warning("health.database_unreachable", exc_info=True)
        return False


def _redis_ok() -> bool | None:
    client = runtime().redis
    if client is None:
        return None  # embedded mode: no Redis to check
    try:
        return bool(client.ping())
    except Exception:
        log.warning("health.redis_unreachable", exc_info=True)
        return False


@health.get("/healthz")
def healthz():
    checks = {"database": _database_ok(), "redis": _redis_ok()}
    healthy = all(ok is not False for ok in checks.values())
    return jsonify({"status": "ok" if healthy else "unavailable", "checks": checks}), 200 if healthy else 503
