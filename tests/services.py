"""Reach the real Redis and PostgreSQL when they are there; skip (or fail, in CI) when not."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
import redis

REDIS_URL = os.environ.get("QB24_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
# For a test that runs a worker beside a Redis stack: the worker purges this database's queues first,
# so it takes no other test's tasks (tests run one at a time).
WORKER_REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/12"
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
