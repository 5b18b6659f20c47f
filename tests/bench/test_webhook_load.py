"""bench/webhook_load.py drives the real server: gunicorn with 2 workers answers every signed delivery it
fires, and each one is recorded (a second-long run on SQLite; the figures come from PostgreSQL + Redis)."""
from __future__ import annotations

from sqlalchemy import func, select

from bench.webhook_load import gunicorn_app, measure_webhook, prepare_store, webhook_env
from store.db import make_engine
from store.models import ReceivedEvent

REALM = "9130350000000001"


def test_measure_webhook_under_gunicorn_records_every_request(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'bench.db'}"
    prepare_store(database_url, REALM)
    with gunicorn_app(webhook_env(database_url, None, "bench-verifier-token", "http://127.0.0.1")) as url:
        load = measure_webhook(url + "/webhooks/quickbooks", "bench-verifier-token", REALM, 1.0, 40, threads=2)
        refused = measure_webhook(url + "/webhooks/quickbooks", "not-the-verifier", REALM, 0.2, 20, threads=1)
    assert load.errors == 0 and load.requests == 40
    assert 0 < load.p50_ms <= load.p99_ms <= load.max_ms
    assert refused.errors == refused.requests == 4  # a 401 is an error, never a latency
    engine = make_engine(database_url)
    try:
        with engine.connect() as db:
            assert db.scalar(select(func.count()).select_from(ReceivedEvent)) == 40
    finally:
        engine.dispose()
