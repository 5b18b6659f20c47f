"""The Celery app takes its broker from the settings and acks late."""
from __future__ import annotations

from config.settings import load_settings
from tests.config.test_settings import VALID
from workers.celery_app import make_celery


def test_broker_follows_settings():
    embedded = make_celery(load_settings(VALID))
    assert embedded.conf.broker_url == "memory://localhost//"
    production = make_celery(load_settings({**VALID, "REDIS_URL": "redis://127.0.0.1:6379/0"}))
    assert production.conf.broker_url == "redis://127.0.0.1:6379/0"
    assert production.conf.task_acks_late and production.conf.worker_prefetch_multiplier == 1


def test_worker_keeps_request_url_loggers_out_of_debug():
    import logging

    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    make_celery(load_settings(VALID))
    assert logging.getLogger("urllib3").getEffectiveLevel() >= logging.INFO
