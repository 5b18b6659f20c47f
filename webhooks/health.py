"""`GET /healthz`: 200 when the database answers at the newest migration and Redis and the Celery
broker answer, else 503 (with the database's and the newest revision when it is behind)."""
from __future__ import annotations

import logging
import time
from functools import lru_cache
from weakref import WeakKeyDictionary

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, jsonify
from kombu import Connection
from sqlalchemy import Engine, text

from store.db import MIGRATIONS
from webhooks.runtime import runtime
from workers.celery_app import EMBEDDED_BROKER

health = Blueprint("health", __name__)
log = logging.getLogger("qb24.health")
# An "at the newest migration" answer is kept this long per process (probes come every few seconds
# from each gunicorn worker); a "behind" answer never is, so `qb24 migrate` turns /healthz 200 at once.
AT_HEAD_KEPT_S = 10.0
_at_head_until: WeakKeyDictionary[Engine, float] = WeakKeyDictionary()


def _database_ok() -> bool:
    try:
        with runtime().sessions() as session:
            session.execute(text("SELECT 1"))
        return True
    except Exception:  # any driver error means "not healthy"; the kind is logged, not leaked
        log.warning("health.database_unreachable", exc_info=True)
        return False


@lru_cache(maxsize=1)
def newest_revisions() -> tuple[str, ...]:
    """The heads of store/migrations: the code's newest schema, fixed for the life of the process."""
    return tuple(sorted(ScriptDirectory(str(MIGRATIONS)).get_heads()))


def _schema() -> tuple[bool | None, tuple[str, ...] | None]:
    """Whether the database is at the newest revision, and the revisions it is at (None: unreadable,
    which the database check reports)."""
    engine = runtime().sessions.kw["bind"]
    if _at_head_until.get(engine, 0.0) > time.monotonic():
        return True, newest_revisions()
    try:
        with engine.connect() as connection:  # an unmigrated database has no alembic_version: no heads
            current = tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
    except Exception:
        return None, None
    at_head = current == newest_revisions()
    if at_head:
        _at_head_until[engine] = time.monotonic() + AT_HEAD_KEPT_S
    else:
        log.warning("health.schema_behind", extra={"current": list(current), "newest": list(newest_revisions())})
    return at_head, current


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
    database = _database_ok()
    schema, current = _schema() if database else (None, None)
    checks = {"database": database, "schema": schema, "redis": _redis_ok(), "broker": _broker_ok()}
    healthy = all(ok is not False for ok in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    if schema is False:  # what `qb24 migrate` would do: the database's revision and the code's newest
        body["revision"] = {"current": list(current or ()), "newest": list(newest_revisions())}
    return jsonify(body), 200 if healthy else 503
