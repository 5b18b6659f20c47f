"""Fixtures shared by the whole suite: databases on both dialects, Redis, the sandboxes."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from store.crypto import TokenCipher
from store.db import make_engine, make_session_factory, migrate
from tests.services import postgres_schema, redis_client

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    """Each store test runs on SQLite and on the real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'qb24.db'}"
    else:
        with postgres_schema() as url:
            yield url


@pytest.fixture
def sessions(database_url) -> Iterator[sessionmaker[Session]]:
    migrate(database_url)
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def cipher() -> TokenCipher:
    return TokenCipher(TokenCipher.generate_key())


@pytest.fixture
def redis():
    client = redis_client()
    yield client
    client.close()
