"""The app factory reads settings at build time, and /healthz reflects the real dependencies."""
from __future__ import annotations

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from config.settings import load_settings
from store.db import alembic_config, migrate
from tests.config.test_settings import VALID
from tests.services import REDIS_URL
from webhooks import create_app


def _client(tmp_path, *, migrated=True, **env):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}", **env}
    if migrated:
        migrate(env["DATABASE_URL"])
    return create_app(load_settings({**VALID, **env})).test_client()


def _revisions(database_url: str) -> tuple[str, str]:
    """The newest migration and the one before it, as the migration scripts say (not hard-coded)."""
    script = ScriptDirectory.from_config(alembic_config(database_url))
    newest = script.get_current_head()
    return newest, script.get_revision(newest).down_revision


def test_healthy_with_database_and_redis(tmp_path, redis):
    response = _client(tmp_path, REDIS_URL=REDIS_URL).get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok",
                                   "checks": {"database": True, "schema": True, "redis": True, "broker": True}}


def test_unreachable_redis_is_503(tmp_path):
    response = _client(tmp_path, REDIS_URL="redis://127.0.0.1:1/0").get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": True, "schema": True, "redis": False, "broker": False}


def test_unreachable_database_is_503(tmp_path):
    response = _client(tmp_path, migrated=False, DATABASE_URL="postgresql://nobody@127.0.0.1:1/none").get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] is False
    assert response.get_json()["checks"]["schema"] is None  # unknown: the database check says why


def test_factory_refuses_bad_settings(monkeypatch):
    monkeypatch.delenv("APP_BASE_URL", raising=False)
    with pytest.raises(Exception, match="APP_BASE_URL"):
        create_app()


def test_embedded_mode_checks_the_in_memory_broker(tmp_path):
    response = _client(tmp_path).get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": True, "schema": True, "redis": None, "broker": True}


def test_a_database_behind_the_newest_migration_is_503_until_migrated(database_url):
    """Issue 12: a schema one migration behind answered 200 while every request then failed with 500.
    The same app (no restart) turns healthy once `migrate` has run."""
    newest, older = _revisions(database_url)
    command.upgrade(alembic_config(database_url), older)
    client = create_app(load_settings({**VALID, "DATABASE_URL": database_url})).test_client()
    behind = client.get("/healthz")
    assert behind.status_code == 503
    assert behind.get_json()["status"] == "unavailable"
    assert behind.get_json()["checks"] == {"database": True, "schema": False, "redis": None, "broker": True}
    assert behind.get_json()["revision"] == {"current": [older], "newest": [newest]}
    migrate(database_url)
    healthy = client.get("/healthz")
    assert healthy.status_code == 200
    assert healthy.get_json() == {"status": "ok",
                                  "checks": {"database": True, "schema": True, "redis": None, "broker": True}}


def test_an_unmigrated_database_is_503(database_url):
    client = create_app(load_settings({**VALID, "DATABASE_URL": database_url})).test_client()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["schema"] is False
    assert response.get_json()["revision"]["current"] == []
