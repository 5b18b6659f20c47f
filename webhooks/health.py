"""`GET /healthz`: 200 when the database, Redis and the Celery broker answer, else 503."""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from kombu import Connection
from sqlalchemy import text

from webhooks.runtime import runtime
from workers.celery_app import EMBEDDED_BROKER

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


def _broker_ok() -> bool:
    # The broker URL the workers use (workers.celery_app): Redis, or the in-memory transport.
    url = runtime().settings.redis_url or EMBEDDED_BROKER
    try:
        with Connection(url, connect_timeout=2, transport_options={"max_retries": 0}) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
        return True
    except Exception:
        log.warning("health.broker_unreachable", exc_info=True)
        return False


@health.get("/healthz")
def healthz():
    checks = {"database": _database_ok(), "redis": _redis_ok(), "broker": _broker_ok()}
    healthy = all(ok is not False for ok in checks.values())
    return jsonify({"status": "ok" if healthy else "unavailable", "checks": checks}), 200 if healthy else 503
