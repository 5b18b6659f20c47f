"""Reach the real Redis and PostgreSQL when they are there; skip (or fail, in CI) when not."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
import redis

# Redis databases of this test process, one per use below. A worker purges its database's queues first
# and takes every task queued there, so two processes must never share one: under pytest-xdist each
# worker process ("gw0", "gw1", ...) gets a set of its own. Run alone, the suite keeps the numbers it
# always used (the first, QB24_TEST_REDIS_URL's if set). Redis has 16 databases: three sets of five.
_REDIS_SERVER, _REDIS_DB = os.environ.get("QB24_TEST_REDIS_URL", "redis://127.0.0.1:6379/9").rsplit("/", 1)
_DATABASES = [(int(_REDIS_DB), 12, 13, 14, 15), (1, 2, 3, 4, 5), (6, 7, 8, 10, 11)]
_XDIST_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
if _XDIST_WORKER >= len(_DATABASES):
    raise RuntimeError(f"Redis databases for {len(_DATABASES)} pytest-xdist workers at most (-n {len(_DATABASES)})")
_SUITE_DB, _WORKER_DB, _PROCESS_DB, _EXPORT_DB, _CORPUS_DB = _DATABASES[_XDIST_WORKER]
REDIS_URL = f"{_REDIS_SERVER}/{_SUITE_DB}"
# For a test that runs a worker beside a Redis stack: the worker purges this database's queues first,
# so it takes no other test's tasks (tests of one process run one at a time).
WORKER_REDIS_URL = f"{_REDIS_SERVER}/{_WORKER_DB}"
# For a test that runs a `celery worker` process: other tests' queued tasks (their run ids, their
# schemas) stay theirs.
WORKER_PROCESS_REDIS_URL = f"{_REDIS_SERVER}/{_PROCESS_DB}"
# The Bitrix24 add-event export tests' own (tests/webhooks/b24_export_support.py, test_b24_add_event_refusals.py).
EXPORT_REDIS_URL = f"{_REDIS_SERVER}/{_EXPORT_DB}"
# The forged-request corpus's own (tests/security): its waits for revocations and exports need a database
# no other test's worker purges or takes from.
CORPUS_REDIS_URL = f"{_REDIS_SERVER}/{_CORPUS_DB}"
POSTGRES_URL = os.environ.get("QB24_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# .ci/run sets this: there a missing service is a failure, never a silent skip.
REQUIRED = os.environ.get("QB24_REQUIRE_SERVICES") == "1"


def unavailable(what: str, error: Exception) -> None:
    message = f"{what} unreachable: {error}"
    if REQUIRED:
        pytest.fail(message + " (QB24_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        unavailable("Redis", exc)
    return client


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema in the test database; yields a SQLAlchemy URL whose search_path is it."""
    schema = "qb24_" + uuid.uuid4().hex[:12]
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL", exc)
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            base = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
            yield f"{base}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
