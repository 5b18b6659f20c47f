"""The app factory reads settings at build time, and /healthz reflects the real dependencies."""
from __future__ import annotations

import pytest

from config.settings import load_settings
from tests.config.test_settings import VALID
from tests.services import REDIS_URL
from webhooks import create_app


def _client(tmp_path, **env):
    settings = load_settings({**VALID, "DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}", **env})
    return create_app(settings).test_client()


def test_healthy_with_database_and_redis(tmp_path, redis):
    response = _client(tmp_path, REDIS_URL=REDIS_URL).get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": True, "redis": True, "broker": True}}


def test_unreachable_redis_is_503(tmp_path):
    response = _client(tmp_path, REDIS_URL="redis://127.0.0.1:1/0").get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": True, "redis": False, "broker": False}


def test_unreachable_database_is_503(tmp_path):
    response = _client(tmp_path, DATABASE_URL="postgresql://nobody@127.0.0.1:1/none").get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] is False


def test_factory_refuses_bad_settings(monkeypatch):
    monkeypatch.delenv("APP_BASE_URL", raising=False)
    with pytest.raises(Exception, match="APP_BASE_URL"):
        create_app()


def test_embedded_mode_checks_the_in_memory_broker(tmp_path):
    response = _client(tmp_path).get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": True, "redis": None, "broker": True}
